// Functions over range vectors: one value per series and window (t - range, t].
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <span>

#include "promql/eval.h"

namespace pharos::promql {
namespace {

using Samples = std::span<const tsdb::Sample>;

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

// Prometheus's extrapolation for rate(), increase() and delta().
std::optional<double> ExtrapolatedRate(Samples s, int64_t range_start, int64_t range_end,
                                       int64_t range_ms, bool counter, bool rate) {
  if (s.size() < 2) return std::nullopt;
  double result = s.back().v - s.front().v;
  if (counter) {
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i].v < s[i - 1].v) result += s[i - 1].v;
    }
  }
  double to_start = Seconds(s.front().t - range_start);
  double to_end = Seconds(range_end - s.back().t);
  double sampled = Seconds(s.back().t - s.front().t);
  double avg_between = sampled / static_cast<double>(s.size() - 1);
  double threshold = avg_between * 1.1;
  if (to_start >= threshold) to_start = avg_between / 2;
  if (counter) {
    double to_zero = to_start;
    if (result > 0 && s.front().v >= 0) to_zero = sampled * (s.front().v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  if (to_end >= threshold) to_end = avg_between / 2;
  double factor = (sampled + to_start + to_end) / sampled;
  if (rate) factor /= Seconds(range_ms);
  return result * factor;
}

void LinearRegression(Samples s, int64_t intercept_time, double& slope, double& intercept) {
  double n = 0, sum_x = 0, c_x = 0, sum_y = 0, c_y = 0, sum_xy = 0, c_xy = 0, sum_x2 = 0, c_x2 = 0;
  double init_y = s.front().v;
  bool const_y = true;
  for (size_t i = 0; i < s.size(); ++i) {
    if (const_y && i > 0 && s[i].v != init_y) const_y = false;
    n += 1;
    double x = Seconds(s[i].t - intercept_time);
    KahanAdd(x, sum_x, c_x);
    KahanAdd(s[i].v, sum_y, c_y);
    KahanAdd(x * s[i].v, sum_xy, c_xy);
    KahanAdd(x * x, sum_x2, c_x2);
  }
  if (const_y) {
    if (std::isinf(init_y)) {
      slope = intercept = NAN;
    } else {
      slope = 0;
      intercept = init_y;
    }
    return;
  }
  sum_x += c_x;
  sum_y += c_y;
  sum_xy += c_xy;
  sum_x2 += c_x2;
  double cov_xy = sum_xy - sum_x * sum_y / n;
  double var_x = sum_x2 - sum_x * sum_x / n;
  slope = cov_xy / var_x;
  intercept = sum_y / n - slope * sum_x / n;
}

double AvgOverTime(Samples s) {
  MeanAccumulator mean;
  for (const tsdb::Sample& smp : s) mean.Add(smp.v);
  return mean.Value();
}

double VarianceOverTime(Samples s) {
  double count = 0, mean = 0, c_mean = 0, aux = 0, c_aux = 0;
  for (const tsdb::Sample& smp : s) {
    ++count;
    double delta = smp.v - (mean + c_mean);
    KahanAdd(delta / count, mean, c_mean);
    KahanAdd(delta * (smp.v - (mean + c_mean)), aux, c_aux);
  }
  return (aux + c_aux) / count;
}

// The labels absent() and absent_over_time() give their result: the selector's equality
// matchers, except __name__ and labels matched twice.
model::Labels AbsentLabels(const Expr* arg) {
  model::Labels out;
  while (arg != nullptr && arg->kind == NodeKind::kParen) {
    arg = static_cast<const ParenExpr*>(arg)->expr.get();
  }
  const VectorSelector* vs = nullptr;
  if (arg != nullptr && arg->kind == NodeKind::kVectorSelector) {
    vs = static_cast<const VectorSelector*>(arg);
  } else if (arg != nullptr && arg->kind == NodeKind::kMatrixSelector) {
    vs = static_cast<const MatrixSelector*>(arg)->selector.get();
  }
  if (vs == nullptr) return out;
  std::vector<std::string> dup;
  for (const model::Matcher& m : vs->matchers) {
    if (m.name() == "__name__") continue;
    if (m.type() == model::MatchType::kEqual && GetLabel(out, m.name()) == nullptr &&
        std::find(dup.begin(), dup.end(), m.name()) == dup.end()) {
      SetLabel(out, m.name(), m.value());
    } else if (GetLabel(out, m.name()) != nullptr) {
      SetLabel(out, m.name(), "");
      dup.push_back(m.name());
    }
  }
  return out;
}

// What a range function needs besides a series' samples: read-only, so that the read pool
// can run it for several series at once.
struct RangeStepArgs {
  FuncId id;
  const std::vector<int64_t>* times;  // evaluation time of each step
  int64_t range;
  int64_t left_edge;
  const std::vector<std::vector<double>>* scalars;  // scalar arguments, one value a step
  int64_t start;
  int64_t step;
};

// Range function `a.id` over one series' samples (ascending, no staleness markers) at
// every step: (step index, value) into `out` for the steps with a value. False for a
// function that is not one of these.
bool RangeSteps(const RangeStepArgs& a, std::span<const tsdb::Sample> all,
                std::vector<double>& scratch, std::vector<tsdb::Sample>& out) {
  out.clear();
  const std::vector<int64_t>& times = *a.times;
  const std::vector<std::vector<double>>& scalars = *a.scalars;
  size_t lo = 0;
  size_t hi = 0;
  for (int i = 0; i < static_cast<int>(times.size()); ++i) {
    int64_t t = times[i];
    if (i > 0 && times[i] < times[i - 1]) {
      lo = hi = 0;  // times only go backwards with odd @ use; restart the scan
    }
    while (hi < all.size() && all[hi].t <= t) ++hi;
    while (lo < hi && all[lo].t <= t - a.range - a.left_edge) ++lo;
    if (lo >= hi) continue;
    Samples w(all.data() + lo, hi - lo);
    std::optional<double> r;
    switch (a.id) {
      case FuncId::kRate: r = ExtrapolatedRate(w, t - a.range, t, a.range, true, true); break;
      case FuncId::kIncrease: r = ExtrapolatedRate(w, t - a.range, t, a.range, true, false); break;
      case FuncId::kDelta: r = ExtrapolatedRate(w, t - a.range, t, a.range, false, false); break;
      case FuncId::kIrate:
      case FuncId::kIdelta: {
        if (w.size() < 2) break;
        const tsdb::Sample& last = w[w.size() - 1];
        const tsdb::Sample& prev = w[w.size() - 2];
        double d = a.id == FuncId::kIrate && last.v < prev.v ? last.v : last.v - prev.v;
        double dt = Seconds(last.t - prev.t);
        if (dt == 0) break;
        r = a.id == FuncId::kIrate ? d / dt : d;
        break;
      }
      case FuncId::kDeriv: {
        if (w.size() < 2) break;
        double slope, intercept;
        LinearRegression(w, w.front().t, slope, intercept);
        r = slope;
        break;
      }
      case FuncId::kPredictLinear: {
        if (w.size() < 2) break;
        double slope, intercept;
        LinearRegression(w, a.start + static_cast<int64_t>(i) * a.step, slope, intercept);
        r = slope * scalars[1][i] + intercept;
        break;
      }
      case FuncId::kChanges: {
        double changes = 0;
        for (size_t k = 1; k < w.size(); ++k) {
          double cur = w[k].v, prev = w[k - 1].v;
          if (cur != prev && !(std::isnan(cur) && std::isnan(prev))) ++changes;
        }
        r = changes;
        break;
      }
      case FuncId::kResets: {
        double resets = 0;
        for (size_t k = 1; k < w.size(); ++k) {
          if (w[k].v < w[k - 1].v) ++resets;
        }
        r = resets;
        break;
      }
      case FuncId::kPresentOverTime: r = 1; break;
      case FuncId::kCountOverTime: r = static_cast<double>(w.size()); break;
      case FuncId::kSumOverTime: {
        double sum = 0, comp = 0;
        for (const tsdb::Sample& smp : w) KahanAdd(smp.v, sum, comp);
        r = std::isinf(sum) ? sum : sum + comp;
        break;
      }
      case FuncId::kAvgOverTime: r = AvgOverTime(w); break;
      case FuncId::kMinOverTime:
      case FuncId::kMaxOverTime: {
        double m = w.front().v;
        for (const tsdb::Sample& smp : w) {
          bool better = a.id == FuncId::kMaxOverTime ? smp.v > m : smp.v < m;
          if (better || std::isnan(m)) m = smp.v;
        }
        r = m;
        break;
      }
      case FuncId::kTsOfMinOverTime:
      case FuncId::kTsOfMaxOverTime: {
        double m = w.front().v;
        int64_t at = w.front().t;
        for (const tsdb::Sample& smp : w) {
          bool better = a.id == FuncId::kTsOfMaxOverTime ? smp.v >= m : smp.v <= m;
          if (better || std::isnan(m)) {
            m = smp.v;
            at = smp.t;
          }
        }
        r = Seconds(at);
        break;
      }
      case FuncId::kLastOverTime: r = w.back().v; break;
      case FuncId::kFirstOverTime: r = w.front().v; break;
      case FuncId::kTsOfLastOverTime: r = Seconds(w.back().t); break;
      case FuncId::kTsOfFirstOverTime: r = Seconds(w.front().t); break;
      case FuncId::kQuantileOverTime: {
        scratch.clear();
        for (const tsdb::Sample& smp : w) scratch.push_back(smp.v);
        r = Quantile(scalars[0][i], scratch);
        break;
      }
      case FuncId::kStddevOverTime: r = std::sqrt(VarianceOverTime(w)); break;
      case FuncId::kStdvarOverTime: r = VarianceOverTime(w); break;
      case FuncId::kMadOverTime: {
        scratch.clear();
        for (const tsdb::Sample& smp : w) scratch.push_back(smp.v);
        if (std::any_of(scratch.begin(), scratch.end(), [](double x) { return std::isnan(x); })) {
          r = NAN;
          break;
        }
        double median = Quantile(0.5, scratch);
        for (double& x : scratch) x = std::abs(x - median);
        r = Quantile(0.5, scratch);
        break;
      }
      case FuncId::kDoubleExponentialSmoothing: {
        if (w.size() < 2) break;
        double sf = scalars[1][i];
        double tf = scalars[2][i];
        double s0 = 0, s1 = w[0].v, b = w[1].v - w[0].v;
        for (size_t k = 1; k < w.size(); ++k) {
          double x = sf * w[k].v;
          if (k - 1 != 0) b = tf * (s1 - s0) + (1 - tf) * b;
          double y = (1 - sf) * (s1 + b);
          s0 = s1;
          s1 = x + y;
        }
        r = s1;
        break;
      }
      default: return false;
    }
    if (r) out.push_back(tsdb::Sample{i, *r});
  }
  return true;
}

}  // namespace

model::Labels AbsentLabelsFor(const Expr* arg) { return AbsentLabels(arg); }

Result<Value> Evaluator::EvalRangeCall(const CallExpr& c, const SeriesSink* sink) {
  FuncId id = c.func->id;
  // The range-vector argument and scalar parameters.
  size_t matrix_arg = id == FuncId::kQuantileOverTime ? 1 : 0;
  std::vector<std::vector<double>> scalars(c.args.size());
  for (size_t i = 0; i < c.args.size(); ++i) {
    if (i == matrix_arg) continue;
    Result<Value> v = Eval(*c.args[i]);
    if (!v.ok()) return v;
    scalars[i] = std::move(v->scalar);
  }
  Result<RangeArg> range_arg = EvalRangeArg(*c.args[matrix_arg]);
  if (!range_arg.ok()) return range_arg.status();
  const std::vector<int64_t>& times = range_arg->times;
  int64_t range = range_arg->range;
  const VectorSelector* selector = range_arg->selector;
  if (selector != nullptr && (selector->anchored || selector->smoothed)) {
    return EvalExtendedRange(c, *selector, range, times);
  }
  PHAROS_RETURN_IF_ERROR(ctx_.CheckDeadline());

  if (id == FuncId::kQuantileOverTime) {
    for (double phi : scalars[0]) {
      if (std::isnan(phi) || phi < 0 || phi > 1) {
        ctx_.Warn(*c.args[0], fmt::format("quantile value should be between 0 and 1, got {}",
                                          FormatFloat(phi)));
        break;
      }
    }
  }
  if (id == FuncId::kDoubleExponentialSmoothing) {
    for (int i = 0; i < n_; ++i) {
      double sf = scalars[1][i];
      double tf = scalars[2][i];
      if (!(sf > 0 && sf < 1)) {
        return FailedPrecondition(
            fmt::format("invalid smoothing factor. Expected: 0 < sf < 1, got: {:f}", sf));
      }
      if (!(tf > 0 && tf < 1)) {
        return FailedPrecondition(
            fmt::format("invalid trend factor. Expected: 0 < tf < 1, got: {:f}", tf));
      }
    }
  }
  bool counter_fn = id == FuncId::kRate || id == FuncId::kIncrease || id == FuncId::kIrate;
  auto warn_not_counter = [&](const RangeSeries& rs) {
    std::string name = MetricName(rs.labels);
    if (!name.empty() && !name.ends_with("_total") && !name.ends_with("_sum") &&
        !name.ends_with("_count") && !name.ends_with("_bucket")) {
      ctx_.Info(*c.args[matrix_arg],
                fmt::format("metric might not be a counter, name does not end in "
                            "_total/_sum/_count/_bucket: \"{}\"",
                            name));
    }
  };

  Value out;
  out.type = ValueType::kVector;
  // Series stream in one at a time; only the current one's samples are in memory.
  RangeSeries rs;
  auto next = [&]() { return NextRangeSeries(*range_arg, rs, /*keep=*/false); };

  if (id == FuncId::kAbsentOverTime) {
    std::vector<char> present(n_, 0);
    while (true) {
      Result<bool> more = next();
      if (!more.ok()) return more.status();
      if (!*more) break;
      for (int i = 0; i < n_; ++i) {
        if (present[i]) continue;
        int64_t t = times[i];
        auto it = std::upper_bound(rs.samples.begin(), rs.samples.end(), t - range - ctx_.left_edge,
                                   [](int64_t x, const tsdb::Sample& smp) { return x < smp.t; });
        if (it != rs.samples.end() && it->t <= t) present[i] = 1;
      }
    }
    Series s = MakeSeries(AbsentLabels(c.args[matrix_arg].get()), n_);
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      if (present[i]) continue;
      s.v[i] = 1;
      s.has[i] = 1;
      any = true;
    }
    if (any) out.vec.push_back(std::move(s));
    return out;
  }

  bool keeps_name = id == FuncId::kLastOverTime || id == FuncId::kFirstOverTime;
  RangeStepArgs step_args{id, &times, range, ctx_.left_edge, &scalars, start_, step_};
  // A matrix selector's series get their windows computed where they are decoded (on the
  // read pool for a large select); the query thread only places the results.
  if (range_arg->set) {
    range_arg->set->SetTransform([step_args](std::vector<tsdb::Sample>& samples) {
      thread_local std::vector<double> scratch;
      thread_local std::vector<tsdb::Sample> steps;
      std::erase_if(samples, [](const tsdb::Sample& s) { return tsdb::IsStaleNaN(s.v); });
      RangeSteps(step_args, samples, scratch, steps);
      samples.swap(steps);
    });
    range_arg->transformed = true;
  }
  std::vector<double> scratch;
  std::vector<tsdb::Sample> steps;
  // A function RangeSteps does not know fails here, before a series is read (a guard: the
  // parser makes only range functions range calls).
  tsdb::Sample probe{times.front(), 0};
  if (!RangeSteps(step_args, std::span(&probe, 1), scratch, steps)) {
    return Internal(fmt::format("function {} is not a range function", c.func->name));
  }
  while (true) {
    Result<bool> more = next();
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (counter_fn) warn_not_counter(rs);
    if (!range_arg->transformed) {
      RangeSteps(step_args, rs.samples, scratch, steps);
      rs.samples.swap(steps);
    }
    if (rs.samples.empty()) continue;
    Series s = MakeSeries(std::move(rs.labels), n_);
    s.drop_name = keeps_name ? rs.drop_name : true;
    for (const tsdb::Sample& step : rs.samples) {
      s.v[step.t] = step.v;
      s.has[step.t] = 1;
    }
    PHAROS_RETURN_IF_ERROR(Emit(std::move(s), sink, out));
  }
  return out;
}

}  // namespace pharos::promql
