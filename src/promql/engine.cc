// The engine's entry points and the evaluation of selectors, subqueries and the tree.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "common/strings.h"
#include "promql/eval.h"

namespace pharos::promql {

// ---- helpers ----

std::string LabelsKey(const model::Labels& labels) {
  std::string key;
  for (const model::Label& l : labels) {
    key += l.name;
    key += '\xff';
    key += l.value;
    key += '\xfe';
  }
  return key;
}

bool ValidLabelName(std::string_view name) { return !name.empty() && IsValidUtf8(name); }

void DropName(model::Labels& labels) {
  // __type__ and __unit__ (Prometheus's type-and-unit labels) describe the metric name and
  // go with it.
  std::erase_if(labels, [](const model::Label& l) {
    return l.name == "__name__" || l.name == "__type__" || l.name == "__unit__";
  });
}

const std::string* GetLabel(const model::Labels& labels, std::string_view name) {
  for (const model::Label& l : labels) {
    if (l.name == name) return &l.value;
  }
  return nullptr;
}

void SetLabel(model::Labels& labels, std::string_view name, std::string_view value) {
  auto it = std::lower_bound(labels.begin(), labels.end(), name,
                             [](const model::Label& l, std::string_view n) { return l.name < n; });
  if (it != labels.end() && it->name == name) {
    if (value.empty()) {
      labels.erase(it);
    } else {
      it->value = std::string(value);
    }
    return;
  }
  if (!value.empty()) labels.insert(it, model::Label{std::string(name), std::string(value)});
}

std::string MetricName(const model::Labels& labels) {
  const std::string* n = GetLabel(labels, "__name__");
  return n ? *n : "";
}

Series MakeSeries(model::Labels labels, int steps) {
  Series s;
  s.labels = std::move(labels);
  s.v.assign(steps, 0);
  s.has.assign(steps, 0);
  return s;
}

void DropEmptySeries(std::vector<Series>& series) {
  std::erase_if(series, [](const Series& s) {
    return std::find(s.has.begin(), s.has.end(), 1) == s.has.end();
  });
}

double KahanSum(const double* values, size_t n) {
  double sum = 0;
  double c = 0;
  for (size_t i = 0; i < n; ++i) KahanAdd(values[i], sum, c);
  return std::isinf(sum) ? sum : sum + c;
}

double Quantile(double phi, std::vector<double>& values) {
  if (values.empty() || std::isnan(phi)) return NAN;
  if (phi < 0) return -INFINITY;
  if (phi > 1) return INFINITY;
  // NaN sorts first, as Go's sort.Float64s puts it.
  std::sort(values.begin(), values.end(),
            [](double a, double b) { return (std::isnan(a) && !std::isnan(b)) || a < b; });
  double n = static_cast<double>(values.size());
  double rank = phi * (n - 1);
  double lower = std::max(0.0, std::floor(rank));
  double upper = std::min(n - 1, lower + 1);
  double weight = rank - std::floor(rank);
  return values[static_cast<size_t>(lower)] * (1 - weight) +
         values[static_cast<size_t>(upper)] * weight;
}

// ---- QueryContext ----

Status QueryContext::CheckDeadline() const {
  if (std::chrono::steady_clock::now() > deadline) {
    return DeadlineExceeded("query timed out in query execution");
  }
  return Status::Ok();
}

Status QueryContext::CountSeries(uint64_t& loaded) const {
  ++loaded;
  if (max_series > 0 && loaded > max_series) {
    return ResourceExhausted(fmt::format(
        "the query selects more than {} series, the limit of query.max_series", max_series));
  }
  // A long select stops at the deadline, not after it.
  if (loaded % 64 == 0) return CheckDeadline();
  return Status::Ok();
}

Status QueryContext::AddSamples(uint64_t n) {
  samples_loaded += n;
  samples_in_use += n;
  peak_samples = std::max(peak_samples, samples_in_use);
  if (samples_in_use > max_samples) {
    return ResourceExhausted(
        "query processing would load too many samples into memory in query execution");
  }
  return Status::Ok();
}

void QueryContext::Warn(const Expr& at, std::string message) {
  std::string s = fmt::format("PromQL warning: {} ({})", message, LineCol(query, at.pos.start));
  if (std::find(warnings.begin(), warnings.end(), s) == warnings.end()) warnings.push_back(s);
}

void QueryContext::Info(const Expr& at, std::string message) {
  std::string s = fmt::format("PromQL info: {} ({})", message, LineCol(query, at.pos.start));
  if (std::find(infos.begin(), infos.end(), s) == infos.end()) infos.push_back(s);
}

// ---- Evaluator ----

Evaluator::Evaluator(QueryContext& ctx, int64_t start, int64_t end, int64_t step)
    : ctx_(ctx), start_(start), end_(end), step_(step > 0 ? step : 1) {
  n_ = static_cast<int>((end - start) / step_) + 1;
}

std::vector<int64_t> Evaluator::SelectorTimes(const TimeModifiers& time) const {
  std::vector<int64_t> times(n_);
  for (int i = 0; i < n_; ++i) {
    int64_t t = time.at != AtKind::kNone ? time.at_ms : Ts(i);
    times[i] = t - time.offset_ms;
  }
  return times;
}

Result<int64_t> ResolveDuration(const Expr& e, const QueryContext& ctx) {
  double seconds = 0;
  switch (e.kind) {
    case NodeKind::kNumber: seconds = static_cast<const NumberLiteral&>(e).value; break;
    case NodeKind::kParen: return ResolveDuration(*static_cast<const ParenExpr&>(e).expr, ctx);
    case NodeKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      Result<int64_t> v = ResolveDuration(*u.expr, ctx);
      if (!v.ok()) return v;
      return u.negate ? -*v : *v;
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      Result<int64_t> l = ResolveDuration(*b.lhs, ctx);
      Result<int64_t> r = ResolveDuration(*b.rhs, ctx);
      if (!l.ok()) return l;
      if (!r.ok()) return r;
      seconds = ApplyDurationOp(b.op, *l / 1000.0, *r / 1000.0);
      break;
    }
    case NodeKind::kDurationCall: {
      const auto& c = static_cast<const DurationCall&>(e);
      if (c.name == "step") return ctx.query_step;
      if (c.name == "range") return ctx.query_end - ctx.query_start;
      Result<int64_t> a = ResolveDuration(*c.args[0], ctx);
      Result<int64_t> b = ResolveDuration(*c.args[1], ctx);
      if (!a.ok()) return a;
      if (!b.ok()) return b;
      return c.name == "min_of" ? std::min(*a, *b) : std::max(*a, *b);
    }
    default: return InvalidArgument("invalid duration expression");
  }
  if (std::isnan(seconds) || std::isinf(seconds) || std::abs(seconds) > kMaxDurationSeconds) {
    return InvalidArgument("duration out of range");
  }
  return static_cast<int64_t>(std::llround(seconds * 1000.0));
}

Result<std::unique_ptr<tsdb::SeriesSet>> Evaluator::Select(const VectorSelector& vs, int64_t mint,
                                                           int64_t maxt, int64_t range_ms) {
  std::unique_ptr<tsdb::Querier> q = ctx_.db->Query(mint, maxt);
  tsdb::SelectHints hints;
  hints.step_ms = step_;
  hints.range_ms = range_ms;
  return q->SelectSeries(vs.matchers, hints);
}

Result<Value> Evaluator::EvalVectorSelector(const VectorSelector& vs, bool want_timestamps,
                                            const SeriesSink* sink) {
  if (vs.smoothed && !want_timestamps) return EvalSmoothedSelector(vs);
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());
  std::vector<int64_t> times = SelectorTimes(vs.time);
  int64_t tmin = *std::min_element(times.begin(), times.end());
  int64_t tmax = *std::max_element(times.begin(), times.end());
  Result<std::unique_ptr<tsdb::SeriesSet>> set =
      Select(vs, tmin - ctx_.lookback_ms + 1 - ctx_.left_edge, tmax, 0);
  if (!set.ok()) return set.status();
  tsdb::SeriesSet& series = **set;
  Value out;
  out.type = ValueType::kVector;
  uint64_t selected = 0;
  while (series.Next()) {
    PHAROS_RETURN_IF_ERROR(ctx_.CountSeries(selected));
    const std::vector<tsdb::Sample>& samples = series.samples();
    // The series' raw samples are held only while its steps are filled in.
    PHAROS_RETURN_IF_ERROR(ctx_.AddSamples(samples.size()));
    ctx_.samples_in_use -= samples.size();
    Series s = MakeSeries(series.labels(), n_);
    size_t j = 0;
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      int64_t t = times[i];
      if (i > 0 && times[i] == times[i - 1]) {
        s.v[i] = s.v[i - 1];
        s.has[i] = s.has[i - 1];
        continue;
      }
      while (j < samples.size() && samples[j].t <= t) ++j;
      if (j == 0) continue;
      const tsdb::Sample& last = samples[j - 1];
      if (last.t <= t - ctx_.lookback_ms - ctx_.left_edge || tsdb::IsStaleNaN(last.v)) continue;
      s.v[i] = want_timestamps ? static_cast<double>(last.t) / 1000.0 : last.v;
      s.has[i] = 1;
      any = true;
    }
    if (!any) continue;
    PHAROS_RETURN_IF_ERROR(Emit(std::move(s), sink, out));
  }
  PHAROS_RETURN_IF_ERROR(series.status());
  return out;
}

Status Evaluator::OpenRangeSelector(const VectorSelector& vs, int64_t range_ms,
                                    const std::vector<int64_t>& times, int64_t after_ms,
                                    RangeArg& arg) {
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());
  int64_t tmin = *std::min_element(times.begin(), times.end());
  int64_t tmax = *std::max_element(times.begin(), times.end());
  Result<std::unique_ptr<tsdb::SeriesSet>> set =
      Select(vs, tmin - range_ms + 1 - ctx_.left_edge, tmax + after_ms, range_ms);
  if (!set.ok()) return set.status();
  arg.set = std::move(*set);
  return Status::Ok();
}

Result<bool> Evaluator::NextRangeSeries(RangeArg& arg, RangeSeries& out, bool keep) {
  // The previous series' samples are given back unless the caller kept them.
  ctx_.samples_in_use -= arg.held;
  arg.held = 0;
  if (!arg.set) {
    if (arg.next >= arg.series.size()) return false;
    out = std::move(arg.series[arg.next++]);
    return true;
  }
  while (arg.set->Next()) {
    PHAROS_RETURN_IF_ERROR(ctx_.CountSeries(arg.selected));
    out.labels = arg.set->labels();
    out.drop_name = false;
    arg.set->SwapSamples(out.samples);
    // A transformed set has dropped the staleness markers and computed the steps; its
    // series count by the samples read for them.
    uint64_t loaded = arg.set->loaded();
    if (!arg.transformed) {
      std::erase_if(out.samples, [](const tsdb::Sample& s) { return tsdb::IsStaleNaN(s.v); });
      if (out.samples.empty()) continue;
      loaded = out.samples.size();
    }
    PHAROS_RETURN_IF_ERROR(ctx_.AddSamples(loaded));
    if (!keep) arg.held = loaded;
    return true;
  }
  PHAROS_RETURN_IF_ERROR(arg.set->status());
  return false;
}

Result<std::vector<RangeSeries>> Evaluator::SelectRange(const VectorSelector& vs, int64_t range_ms,
                                                        const std::vector<int64_t>& times,
                                                        int64_t after_ms) {
  RangeArg arg;
  PHAROS_RETURN_IF_ERROR(OpenRangeSelector(vs, range_ms, times, after_ms, arg));
  std::vector<RangeSeries> out;
  RangeSeries rs;
  while (true) {
    Result<bool> more = NextRangeSeries(arg, rs, /*keep=*/true);
    if (!more.ok()) return more.status();
    if (!*more) break;
    out.push_back(std::move(rs));
  }
  return out;
}

Result<std::vector<RangeSeries>> Evaluator::EvalSubqueryRange(const SubqueryExpr& sq,
                                                              const std::vector<int64_t>& times) {
  int64_t range = sq.range_ms;
  int64_t step = sq.step_ms > 0 ? sq.step_ms : ctx_.default_subquery_step_ms;
  int64_t tmin = *std::min_element(times.begin(), times.end());
  int64_t tmax = *std::max_element(times.begin(), times.end());
  // The first step-aligned timestamp at or after the earliest window start.
  int64_t first = tmin - range;
  int64_t aligned = step * (first / step);
  if (aligned < first) aligned += step;
  std::vector<RangeSeries> out;
  if (aligned > tmax) return out;
  if ((tmax - aligned) / step >= static_cast<int64_t>(ctx_.max_samples)) {
    return ResourceExhausted(
        "query processing would load too many samples into memory in query execution");
  }
  Evaluator inner(ctx_, aligned, tmax, step);
  Result<Value> v = inner.Eval(*sq.expr);
  if (!v.ok()) return v.status();
  for (Series& s : v->vec) {
    RangeSeries rs;
    rs.labels = std::move(s.labels);
    rs.drop_name = s.drop_name;
    for (int i = 0; i < inner.steps(); ++i) {
      if (s.has[i]) rs.samples.push_back({inner.Ts(i), s.v[i]});
    }
    if (!rs.samples.empty()) out.push_back(std::move(rs));
  }
  return out;
}

Result<RangeArg> Evaluator::EvalRangeArg(const Expr& e) {
  const Expr* node = &e;
  while (node->kind == NodeKind::kParen) node = static_cast<const ParenExpr*>(node)->expr.get();
  RangeArg arg;
  if (node->kind == NodeKind::kMatrixSelector) {
    const auto& ms = static_cast<const MatrixSelector&>(*node);
    arg.selector = ms.selector.get();
    arg.range = ms.range_ms;
    arg.times = SelectorTimes(ms.selector->time);
    // anchored/smoothed selectors read around the window themselves (extended.cc).
    if (!ms.selector->anchored && !ms.selector->smoothed) {
      PHAROS_RETURN_IF_ERROR(OpenRangeSelector(*ms.selector, arg.range, arg.times, 0, arg));
    }
  } else {
    const auto& sq = static_cast<const SubqueryExpr&>(*node);
    arg.range = sq.range_ms;
    arg.times = SelectorTimes(sq.time);
    Result<std::vector<RangeSeries>> series = EvalSubqueryRange(sq, arg.times);
    if (!series.ok()) return series.status();
    arg.series = std::move(*series);
  }
  return arg;
}

// An instant query whose result is a range vector: the raw samples of each window.
Result<Value> Evaluator::EvalMatrixResult(const Expr& e) {
  Result<RangeArg> arg = EvalRangeArg(e);
  if (!arg.ok()) return arg.status();
  Value out;
  out.type = ValueType::kMatrix;
  int64_t t = arg->times.back();
  RangeSeries rs;
  while (true) {
    Result<bool> more = NextRangeSeries(*arg, rs, /*keep=*/true);
    if (!more.ok()) return more.status();
    if (!*more) break;
    std::erase_if(rs.samples, [&](const tsdb::Sample& s) {
      return s.t <= t - arg->range - ctx_.left_edge || s.t > t;
    });
    if (!rs.samples.empty()) out.mat.push_back(std::move(rs));
  }
  return out;
}

Result<Value> Evaluator::Eval(const Expr& e) {
  Result<Value> v = EvalNode(e);
  // Every node's result is bounded: series times steps held at once.
  if (v.ok() && v->type == ValueType::kVector &&
      v->vec.size() * static_cast<uint64_t>(n_) > ctx_.max_samples) {
    return ResourceExhausted(
        "query processing would load too many samples into memory in query execution");
  }
  return v;
}

Status Evaluator::Emit(Series&& s, const SeriesSink* sink, Value& out) {
  PHAROS_RETURN_IF_ERROR(ctx_.AddSamples(n_));
  if (sink == nullptr) {
    out.vec.push_back(std::move(s));
    return Status::Ok();
  }
  PHAROS_RETURN_IF_ERROR((*sink)(std::move(s)));
  ctx_.samples_in_use -= n_;  // folded: no longer held
  return Status::Ok();
}

Result<Value> Evaluator::EvalStreaming(const Expr& e, const SeriesSink& sink) {
  sink_ = &sink;
  Result<Value> v = Eval(e);
  sink_ = nullptr;
  return v;
}

Result<Value> Evaluator::EvalNode(const Expr& e) {
  const SeriesSink* sink = std::exchange(sink_, nullptr);
  switch (e.kind) {
    case NodeKind::kNumber: {
      Value v;
      v.type = ValueType::kScalar;
      v.scalar.assign(n_, static_cast<const NumberLiteral&>(e).value);
      return v;
    }
    case NodeKind::kString: {
      Value v;
      v.type = ValueType::kString;
      v.str = static_cast<const StringLiteral&>(e).value;
      return v;
    }
    case NodeKind::kVectorSelector:
      return EvalVectorSelector(static_cast<const VectorSelector&>(e), false, sink);
    case NodeKind::kMatrixSelector:
    case NodeKind::kSubquery: return EvalMatrixResult(e);
    case NodeKind::kParen:
      sink_ = sink;
      return Eval(*static_cast<const ParenExpr&>(e).expr);  // also (x[5m]) at the top
    case NodeKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      Result<Value> v = Eval(*u.expr);
      if (!v.ok() || !u.negate) return v;
      for (double& x : v->scalar) x = -x;
      for (Series& s : v->vec) {
        for (double& x : s.v) x = -x;
        s.drop_name = true;
      }
      return v;
    }
    case NodeKind::kBinary: return EvalBinary(static_cast<const BinaryExpr&>(e));
    case NodeKind::kAggregate: return EvalAggregate(static_cast<const AggregateExpr&>(e));
    case NodeKind::kCall: return EvalCall(static_cast<const CallExpr&>(e), sink);
    case NodeKind::kDurationCall: break;
  }
  return Internal("unexpected expression node");
}

// ---- Engine ----

namespace {

// Resolves what depends on the query but not on the step, once: `@ start()` / `@ end()`
// and duration expressions with step() or range() in ranges, subquery steps and offsets.
Status PrepareTree(Expr& e, const QueryContext& ctx) {
  Status status;
  auto resolve = [&](std::shared_ptr<Expr>& expr, int64_t& ms) {
    if (!expr || !status.ok()) return;
    Result<int64_t> v = ResolveDuration(*expr, ctx);
    if (!v.ok()) {
      status = v.status();
      return;
    }
    ms = *v;
    expr.reset();
  };
  auto time = [&](TimeModifiers& t) {
    if (t.at == AtKind::kStart) t.at_ms = ctx.query_start;
    if (t.at == AtKind::kEnd) t.at_ms = ctx.query_end;
    resolve(t.offset_expr, t.offset_ms);
  };
  switch (e.kind) {
    case NodeKind::kVectorSelector: time(static_cast<VectorSelector&>(e).time); break;
    case NodeKind::kMatrixSelector: {
      auto& ms = static_cast<MatrixSelector&>(e);
      resolve(ms.range_expr, ms.range_ms);
      break;
    }
    case NodeKind::kSubquery: {
      auto& sq = static_cast<SubqueryExpr&>(e);
      time(sq.time);
      resolve(sq.range_expr, sq.range_ms);
      resolve(sq.step_expr, sq.step_ms);
      break;
    }
    default: break;
  }
  ForEachChild(e, [&](Expr& child) {
    if (status.ok()) status = PrepareTree(child, ctx);
  });
  return status;
}

}  // namespace

Engine::Engine(EngineOptions options) : options_(options) {}

int Engine::active_queries() const {
  MutexLock lock(mu_);
  return active_;
}

int Engine::queued_queries() const {
  MutexLock lock(mu_);
  return queued_;
}

Result<QueryResult> Engine::Instant(tsdb::Db& db, std::string_view query, int64_t time_ms,
                                    const QueryParams& params) {
  return Run(db, query, time_ms, time_ms, 0, false, params);
}

Result<QueryResult> Engine::Range(tsdb::Db& db, std::string_view query, int64_t start_ms,
                                  int64_t end_ms, int64_t step_ms, const QueryParams& params) {
  if (step_ms <= 0) {
    return InvalidArgument(
        "zero or negative query resolution step widths are not accepted. "
        "Try a positive integer");
  }
  if (end_ms < start_ms) return InvalidArgument("end timestamp must not be before start time");
  if ((end_ms - start_ms) / step_ms >= static_cast<int64_t>(options_.max_samples)) {
    return ResourceExhausted(
        "query processing would load too many samples into memory in query execution");
  }
  return Run(db, query, start_ms, end_ms, step_ms, true, params);
}

Result<QueryResult> Engine::Run(tsdb::Db& db, std::string_view query, int64_t start_ms,
                                int64_t end_ms, int64_t step_ms, bool range,
                                const QueryParams& params) {
  constexpr double kMaxMs = kMaxDurationSeconds * 1000;
  if (std::abs(static_cast<double>(start_ms)) > kMaxMs ||
      std::abs(static_cast<double>(end_ms)) > kMaxMs) {
    return InvalidArgument("query time out of range (more than 292 years from 1970)");
  }
  Result<ExprPtr> parsed = ParseExpr(query);
  if (!parsed.ok()) return parsed.status();
  Expr& root = **parsed;
  ValueType type = TypeOf(root);
  if (range && type != ValueType::kScalar && type != ValueType::kVector) {
    return InvalidArgument(fmt::format(
        "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
        ValueTypeName(type)));
  }
  std::chrono::milliseconds timeout =
      params.timeout.count() > 0 ? std::min(params.timeout, options_.timeout) : options_.timeout;
  auto deadline = std::chrono::steady_clock::now() + timeout;

  // Wait for a slot among the concurrent queries.
  {
    MutexLock lock(mu_);
    ++queued_;
    bool got = true;
    while (got && active_ >= options_.max_concurrent_queries) {
      got = slot_free_.wait_until(lock.native(), deadline) == std::cv_status::no_timeout ||
            active_ < options_.max_concurrent_queries;
    }
    --queued_;
    if (!got) return DeadlineExceeded("query timed out in query queue");
    ++active_;
  }
  struct Release {
    Engine* e;
    ~Release() {
      MutexLock lock(e->mu_);
      --e->active_;
      e->slot_free_.notify_one();
    }
  } release{this};

  QueryContext ctx;
  ctx.db = &db;
  ctx.query = query;
  ctx.lookback_ms =
      params.lookback_delta_ms > 0 ? params.lookback_delta_ms : options_.lookback_delta_ms;
  ctx.default_subquery_step_ms = options_.default_subquery_step_ms;
  ctx.max_samples = options_.max_samples;
  ctx.max_series = options_.max_series;
  ctx.left_edge = options_.prometheus2_windows ? 1 : 0;
  ctx.deadline = deadline;
  ctx.query_start = start_ms;
  ctx.query_end = end_ms;
  ctx.query_step = range ? step_ms : 0;
  PHAROS_RETURN_IF_ERROR(PrepareTree(root, ctx));
  Evaluator ev(ctx, start_ms, end_ms, range ? step_ms : 1);
  Result<Value> value = ev.Eval(root);
  if (!value.ok()) return value.status();

  QueryResult result;
  result.t = end_ms;
  result.warnings = std::move(ctx.warnings);
  result.infos = std::move(ctx.infos);
  result.samples_loaded = ctx.samples_loaded;
  result.peak_samples = ctx.peak_samples;
  Value& v = *value;
  switch (v.type) {
    case ValueType::kScalar:
      if (range) {
        result.type = ValueType::kMatrix;
        SeriesResult s;
        for (int i = 0; i < ev.steps(); ++i) s.points.push_back({ev.Ts(i), v.scalar[i]});
        result.series.push_back(std::move(s));
      } else {
        result.type = ValueType::kScalar;
        result.scalar = v.scalar.empty() ? 0 : v.scalar[0];
      }
      return result;
    case ValueType::kString:
      result.type = ValueType::kString;
      result.string_value = v.str;
      return result;
    case ValueType::kMatrix:
      result.type = ValueType::kMatrix;
      for (RangeSeries& rs : v.mat) {
        if (rs.drop_name) DropName(rs.labels);
        SeriesResult s;
        s.labels = std::move(rs.labels);
        for (const tsdb::Sample& smp : rs.samples) s.points.push_back({smp.t, smp.v});
        result.series.push_back(std::move(s));
      }
      return result;
    case ValueType::kVector: {
      // Delayed __name__ removal, then series that now share labels must not overlap.
      std::unordered_map<std::string, size_t> index;
      std::vector<Series> merged;
      merged.reserve(v.vec.size());
      for (Series& s : v.vec) {
        if (s.drop_name) DropName(s.labels);
        std::string key = LabelsKey(s.labels);
        auto [it, inserted] = index.emplace(key, merged.size());
        if (inserted) {
          merged.push_back(std::move(s));
          continue;
        }
        Series& into = merged[it->second];
        for (int i = 0; i < ev.steps(); ++i) {
          if (!s.has[i]) continue;
          if (into.has[i]) {
            return FailedPrecondition("vector cannot contain metrics with the same labelset");
          }
          into.has[i] = 1;
          into.v[i] = s.v[i];
        }
      }
      result.type = range ? ValueType::kMatrix : ValueType::kVector;
      for (Series& s : merged) {
        SeriesResult out;
        for (int i = 0; i < ev.steps(); ++i) {
          if (s.has[i]) out.points.push_back({ev.Ts(i), s.v[i]});
        }
        if (out.points.empty()) continue;
        out.labels = std::move(s.labels);
        result.series.push_back(std::move(out));
      }
      if (range) {
        std::sort(result.series.begin(), result.series.end(),
                  [](const SeriesResult& a, const SeriesResult& b) {
                    return model::LabelsLess(a.labels, b.labels);
                  });
      }
      return result;
    }
    default: return Internal("query produced no value");
  }
}

}  // namespace pharos::promql
