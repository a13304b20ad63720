// Evaluation of LogQL queries. Every sample expression is evaluated once for all steps:
// a vector is a set of series with one slot per step, so binary operators match label
// sets and aggregations group series once per query rather than once per step.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <re2/re2.h>

#include "common/units.h"
#include "logql/logql.h"
#include "logql/pipeline.h"

namespace pharos::logql {
namespace {

constexpr double kNs = 1e9;

struct StepSeries {
  model::Labels labels;
  std::vector<double> v;
  std::vector<uint8_t> has;
};

struct Value {
  bool scalar = false;
  bool ordered = false;  // by sort() / sort_desc(): keep the series order

  double scalar_value = 0;
  std::vector<StepSeries> series;
};

std::string Key(const model::Labels& labels) {
  std::string k;
  for (const model::Label& l : labels) {
    k += l.name;
    k += '\xff';
    k += l.value;
    k += '\xff';
  }
  return k;
}

model::Labels Grouped(const model::Labels& labels, const Grouping& g) {
  model::Labels out;
  for (const model::Label& l : labels) {
    bool listed = std::find(g.labels.begin(), g.labels.end(), l.name) != g.labels.end();
    if (listed != g.without) out.push_back(l);
  }
  return out;
}

bool HasError(const model::Labels& labels) {
  return std::any_of(labels.begin(), labels.end(), [](const model::Label& l) {
    return l.name == kErrorLabel && !l.value.empty();
  });
}

Status PipelineError(const model::Labels& labels) {
  std::string err;
  for (const model::Label& l : labels) {
    if (l.name == kErrorLabel) err = l.value;
  }
  return FailedPrecondition(fmt::format(
      "pipeline error: '{}' for series: '{}'.\nUse a label filter to intentionally skip this "
      "error. (e.g | __error__!=\"{}\").\nTo skip all potential errors you can match empty "
      "errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | "
      "unwrap latency | __error__=\"\" )",
      err, model::FormatLabels(labels), err));
}

// Runs `stages` over one line; false when a stage drops it.
bool RunStages(const std::vector<StagePtr>& stages, int64_t ts, Line& line, LabelsBuilder& lbs) {
  for (const StagePtr& s : stages) {
    if (!s->Process(ts, line, lbs)) return false;
  }
  return true;
}

double Quantile(double q, std::vector<double>& values) {
  if (values.empty()) return std::nan("");
  if (q < 0) return -HUGE_VAL;
  if (q > 1) return HUGE_VAL;
  std::sort(values.begin(), values.end(),
            [](double a, double b) { return a < b || (std::isnan(a) && !std::isnan(b)); });
  double n = static_cast<double>(values.size());
  double rank = q * (n - 1);
  size_t lower = static_cast<size_t>(std::max(0.0, std::floor(rank)));
  size_t upper = std::min(values.size() - 1, lower + 1);
  double weight = rank - std::floor(rank);
  return values[lower] * (1 - weight) + values[upper] * weight;
}

struct TimedSample {
  int64_t t;
  double v;
};

// Prometheus's extrapolated rate over a counter, with Loki's "one sample gives 0".
double RateCounter(std::span<const TimedSample> s, int64_t range_start, int64_t range_end,
                   int64_t range_ns) {
  if (s.size() < 2) return 0;
  double result = s.back().v - s.front().v;
  double last = 0;
  for (const TimedSample& x : s) {
    if (x.v < last) result += last;
    last = x.v;
  }
  double to_start = static_cast<double>(s.front().t - range_start) / kNs;
  double to_end = static_cast<double>(range_end - s.back().t) / kNs;
  double sampled = static_cast<double>(s.back().t - s.front().t) / kNs;
  double average = sampled / static_cast<double>(s.size() - 1);
  double threshold = average * 1.1;
  double interval = sampled;
  if (to_start >= threshold) to_start = average / 2;
  if (result > 0 && s.front().v >= 0) {
    double to_zero = sampled * (s.front().v / result);
    if (to_zero < to_start) to_start = to_zero;
  }
  interval += to_start;
  if (to_end >= threshold) to_end = average / 2;
  interval += to_end;
  double factor = interval / sampled / (static_cast<double>(range_ns) / kNs);
  return result * factor;
}

double ApplyRange(const RangeExpr& r, std::span<const TimedSample> s, int64_t window_end) {
  double range_s = static_cast<double>(r.range_ns) / kNs;
  switch (r.op) {
    case RangeOp::kCountOverTime: return static_cast<double>(s.size());
    case RangeOp::kRate:
    case RangeOp::kBytesRate: {
      double sum = 0;
      for (const TimedSample& x : s) sum += x.v;
      return sum / range_s;
    }
    case RangeOp::kBytesOverTime:
    case RangeOp::kSumOverTime: {
      double sum = 0;
      for (const TimedSample& x : s) sum += x.v;
      return sum;
    }
    case RangeOp::kAvgOverTime: {
      double mean = 0, count = 0;
      for (const TimedSample& x : s) {
        ++count;
        if (std::isinf(mean)) {
          if (std::isinf(x.v) && (mean > 0) == (x.v > 0)) continue;
          if (!std::isinf(x.v) && !std::isnan(x.v)) continue;
        }
        mean += x.v / count - mean / count;
      }
      return mean;
    }
    case RangeOp::kMinOverTime:
    case RangeOp::kMaxOverTime: {
      bool max = r.op == RangeOp::kMaxOverTime;
      double m = s.front().v;
      for (const TimedSample& x : s) {
        if ((max ? x.v > m : x.v < m) || std::isnan(m)) m = x.v;
      }
      return m;
    }
    case RangeOp::kStdvarOverTime:
    case RangeOp::kStddevOverTime: {
      double aux = 0, count = 0, mean = 0;
      for (const TimedSample& x : s) {
        ++count;
        double delta = x.v - mean;
        mean += delta / count;
        aux += delta * (x.v - mean);
      }
      double var = aux / count;
      return r.op == RangeOp::kStddevOverTime ? std::sqrt(var) : var;
    }
    case RangeOp::kQuantileOverTime: {
      std::vector<double> values;
      values.reserve(s.size());
      for (const TimedSample& x : s) values.push_back(x.v);
      return Quantile(r.param, values);
    }
    case RangeOp::kFirstOverTime: return s.front().v;
    case RangeOp::kLastOverTime: return s.back().v;
    case RangeOp::kRateCounter:
      return RateCounter(s, window_end - r.range_ns, window_end, r.range_ns);
    case RangeOp::kAbsentOverTime: return 1;
  }
  return 0;
}

class Evaluator {
 public:
  Evaluator(Source& source, const EngineOptions& options, const QueryParams& params)
      : source_(source), options_(options), params_(params) {
    if (params.instant || params.step_ns <= 0) {
      n_ = 1;
      step_ = 1;
      start_ = params.instant ? params.end_ns : params.start_ns;
    } else {
      start_ = params.start_ns;
      step_ = params.step_ns;
      n_ = static_cast<int>((params.end_ns - params.start_ns) / params.step_ns) + 1;
    }
    deadline_ = std::chrono::steady_clock::now() + options.timeout;
  }

  int steps() const { return n_; }
  int64_t Ts(int i) const { return start_ + static_cast<int64_t>(i) * step_; }
  QueryStats& stats() { return stats_; }

  // Counts a line read against max_bytes_read, then checks the deadline now and then.
  Status Read(std::string_view line) {
    ++stats_.lines_read;
    stats_.bytes_read += line.size();
    if (options_.max_bytes_read && stats_.bytes_read > options_.max_bytes_read) {
      return ResourceExhausted(fmt::format(
          "the query would read too many bytes (query: more than {}, limit: {}); consider adding "
          "more specific stream selectors or reduce the time range of the query",
          HumanBytes(options_.max_bytes_read), HumanBytes(options_.max_bytes_read)));
    }
    return CheckDeadline();
  }

  // Go humanize's SI bytes, as Loki prints limits ("1.5 GB").
  static std::string HumanBytes(uint64_t bytes) {
    static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    auto v = static_cast<double>(bytes);
    size_t u = 0;
    while (v >= 1000 && u + 1 < std::size(kUnits)) {
      v /= 1000;
      ++u;
    }
    return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[u]);
  }

  Status CheckDeadline() {
    if (++ticks_ % 4096 != 0) return Status::Ok();
    if (std::chrono::steady_clock::now() > deadline_)
      return DeadlineExceeded("context deadline exceeded: the query ran past its timeout");
    return Status::Ok();
  }

  Result<Value> Eval(const Expr& e) {
    switch (e.kind) {
      case NodeKind::kLiteral: {
        Value v;
        v.scalar = true;
        v.scalar_value = static_cast<const LiteralExpr&>(e).value;
        return v;
      }
      case NodeKind::kVectorLiteral: {
        Value v;
        StepSeries s;
        s.v.assign(n_, static_cast<const VectorLiteralExpr&>(e).value);
        s.has.assign(n_, 1);
        v.series.push_back(std::move(s));
        return v;
      }
      case NodeKind::kRange: return EvalRange(static_cast<const RangeExpr&>(e));
      case NodeKind::kVector: return EvalVector(static_cast<const VectorExpr&>(e));
      case NodeKind::kBinary: return EvalBinary(static_cast<const BinaryExpr&>(e));
      case NodeKind::kLabelReplace:
        return EvalLabelReplace(static_cast<const LabelReplaceExpr&>(e));
      case NodeKind::kLog: return InvalidArgument("a log query has no sample value");
    }
    return InvalidArgument("unknown expression");
  }

  Result<std::vector<Stream>> EvalLog(const LogExpr& e) {
    const LogSelector& sel = e.selector;
    struct Kept {
      int64_t ts;
      uint64_t seq;
      std::string line;
      model::Labels labels;
      model::Labels metadata;  // categorized only
      model::Labels parsed;
    };
    std::vector<Kept> kept;
    uint64_t limit = params_.limit == 0 ? options_.max_entries : params_.limit;
    auto better = [&](const Kept& a, const Kept& b) {
      if (a.ts != b.ts) return params_.backward ? a.ts > b.ts : a.ts < b.ts;
      return a.seq < b.seq;
    };
    LabelsBuilder lbs;
    uint64_t seq = 0;
    // An ordered source hands lines newest (or oldest) first: the first `limit` kept are
    // the answer, and the walk stops there.
    const bool ordered = source_.Ordered();
    const Status enough(StatusCode::kCancelled, "limit reached");
    Status s = source_.Select(sel, params_.start_ns, params_.end_ns - 1, {true, params_.backward},
                              [&](const model::Labels& stream, const LogEntry& entry) -> Status {
                                if (Status d = Read(entry.line); !d.ok()) return d;
                                lbs.Reset(stream, entry.metadata);
                                Line line{entry.line, {}};
                                if (!RunStages(sel.stages, entry.ts_ns, line, lbs))
                                  return Status::Ok();
                                Kept k{entry.ts_ns, seq++, std::string(line.view), {}, {}, {}};
                                if (params_.categorize_labels) {
                                  lbs.BuildCategorized(k.labels, k.metadata, k.parsed);
                                } else {
                                  k.labels = lbs.Build();
                                }
                                kept.push_back(std::move(k));
                                if (ordered && kept.size() >= limit) return enough;
                                if (kept.size() >= 2 * limit + 1024) {
                                  std::nth_element(kept.begin(),
                                                   kept.begin() + static_cast<ptrdiff_t>(limit),
                                                   kept.end(), better);
                                  kept.resize(limit);
                                }
                                return Status::Ok();
                              });
    if (!s.ok() && !(ordered && s.code() == enough.code() && s.message() == enough.message()))
      return s;
    std::sort(kept.begin(), kept.end(), better);
    if (kept.size() > limit) kept.resize(limit);
    std::vector<Stream> streams;
    std::unordered_map<std::string, size_t> index;
    for (Kept& k : kept) {
      std::string key = Key(k.labels);
      auto [it, inserted] = index.emplace(key, streams.size());
      if (inserted) streams.push_back({std::move(k.labels), {}});
      streams[it->second].entries.push_back(
          {k.ts, std::move(k.line), std::move(k.metadata), std::move(k.parsed)});
    }
    return streams;
  }

 private:
  // ---- range aggregations ----

  // count_over_time and rate of a bare selector, from the source's counts when it keeps
  // them. Empty when it does not.
  Result<std::optional<Value>> CountRange(const RangeExpr& r) {
    std::vector<Source::Window> windows(static_cast<size_t>(n_));
    for (int i = 0; i < n_; ++i) {
      int64_t end = Ts(i) - r.offset_ns;
      windows[static_cast<size_t>(i)] = {end - r.range_ns + 1, end};
    }
    std::vector<StepSeries> series;
    std::unordered_map<std::string, size_t> index;
    Result<bool> counted =
        source_.Count(r.selector.matchers, windows,
                      [&](const model::Labels& stream, std::span<const uint64_t> counts) -> Status {
                        if (Status d = CheckDeadline(); !d.ok()) return d;
                        model::Labels labels = r.grouping ? Grouped(stream, *r.grouping) : stream;
                        auto [it, inserted] = index.emplace(Key(labels), series.size());
                        if (inserted) {
                          if (series.size() >= options_.max_series) return MaxSeries();
                          StepSeries ss;
                          ss.labels = std::move(labels);
                          ss.v.assign(n_, 0);
                          ss.has.assign(n_, 0);
                          series.push_back(std::move(ss));
                        }
                        StepSeries& ss = series[it->second];
                        for (size_t i = 0; i < counts.size(); ++i) {
                          ss.v[i] += static_cast<double>(counts[i]);
                          ss.has[i] |= counts[i] > 0;
                        }
                        return Status::Ok();
                      });
    if (!counted.ok()) return counted.status();
    if (!*counted) return std::optional<Value>();
    Value out;
    const double range_s = static_cast<double>(r.range_ns) / kNs;
    for (StepSeries& ss : series) {
      if (std::none_of(ss.has.begin(), ss.has.end(), [](uint8_t h) { return h != 0; })) continue;
      if (r.op == RangeOp::kRate) {
        for (double& v : ss.v) v /= range_s;
      }
      out.series.push_back(std::move(ss));
    }
    return std::optional<Value>(std::move(out));
  }

  Result<Value> EvalRange(const RangeExpr& r) {
    if (r.selector.stages.empty() && !r.unwrap &&
        (r.op == RangeOp::kCountOverTime || r.op == RangeOp::kRate)) {
      Result<std::optional<Value>> counted = CountRange(r);
      if (!counted.ok()) return counted.status();
      if (counted->has_value()) return std::move(**counted);
    }
    int64_t first_end = Ts(0) - r.offset_ns;
    int64_t last_end = Ts(n_ - 1) - r.offset_ns;
    int64_t mint = first_end - r.range_ns + 1;
    struct Collected {
      model::Labels labels;
      std::vector<TimedSample> samples;
    };
    std::vector<Collected> series;
    std::unordered_map<std::string, size_t> index;
    LabelsBuilder lbs;
    const LogSelector& sel = r.selector;
    // When every stage only filters lines, a line without structured metadata has its
    // stream's labels: its series is looked up once per stream, not built per line.
    const bool labels_fixed =
        !r.unwrap && std::all_of(sel.stages.begin(), sel.stages.end(),
                                 [](const StagePtr& st) { return st->IsLineFilter(); });
    std::unordered_map<const model::Labels*, size_t> by_stream;
    const bool bytes = r.op == RangeOp::kBytesOverTime || r.op == RangeOp::kBytesRate;
    // Counting lines needs no text when no stage reads it.
    const bool need_line = !sel.stages.empty() || r.unwrap ||
                           !(r.op == RangeOp::kCountOverTime || r.op == RangeOp::kRate ||
                             r.op == RangeOp::kAbsentOverTime);
    Status s = source_.Select(
        sel, mint, last_end, {false, false, need_line},
        [&](const model::Labels& stream, const LogEntry& entry) -> Status {
          if (Status d = Read(entry.line); !d.ok()) return d;
          if (labels_fixed && entry.metadata.empty()) {
            Line line{entry.line, {}};
            if (!RunStages(sel.stages, entry.ts_ns, line, lbs)) return Status::Ok();
            auto it = by_stream.find(&stream);
            if (it == by_stream.end()) {
              model::Labels labels = r.grouping ? Grouped(stream, *r.grouping) : stream;
              auto [at, inserted] = index.emplace(Key(labels), series.size());
              if (inserted) {
                if (series.size() >= options_.max_series && r.op != RangeOp::kAbsentOverTime)
                  return MaxSeries();
                series.push_back({std::move(labels), {}});
              }
              it = by_stream.emplace(&stream, at->second).first;
            }
            series[it->second].samples.push_back(
                {entry.ts_ns, bytes ? static_cast<double>(line.view.size()) : 1.0});
            return Status::Ok();
          }
          lbs.Reset(stream, entry.metadata);
          Line line{entry.line, {}};
          if (!RunStages(sel.stages, entry.ts_ns, line, lbs)) return Status::Ok();
          double value = 1;
          if (r.unwrap) {
            const std::string* text = lbs.Get(r.unwrap->label);
            if (text == nullptr || text->empty()) return Status::Ok();
            Result<double> v =
                r.unwrap->conversion == UnwrapConversion::kFloat   ? ParseGoFloat(*text)
                : r.unwrap->conversion == UnwrapConversion::kBytes ? ParseHumanBytes(*text)
                                                                   : ParseGoDuration(*text);
            if (v.ok()) {
              value = *v;
            } else {
              value = 0;
              lbs.SetErr("SampleExtractionErr", v.status().message());
            }
            if (!RunStages(r.unwrap->post_filters, entry.ts_ns, line, lbs)) return Status::Ok();
            lbs.Delete(r.unwrap->label);
          } else if (bytes) {
            value = static_cast<double>(line.view.size());
          }
          model::Labels labels = lbs.Build();
          if (r.grouping && !lbs.HasErr()) labels = Grouped(labels, *r.grouping);
          std::string key = Key(labels);
          auto [it, inserted] = index.emplace(std::move(key), series.size());
          if (inserted) {
            if (series.size() >= options_.max_series && r.op != RangeOp::kAbsentOverTime)
              return MaxSeries();
            series.push_back({std::move(labels), {}});
          }
          series[it->second].samples.push_back({entry.ts_ns, value});
          return Status::Ok();
        });
    if (!s.ok()) return s;

    Value out;
    if (r.op == RangeOp::kAbsentOverTime) return Absent(r, series);
    for (Collected& c : series) {
      std::stable_sort(c.samples.begin(), c.samples.end(),
                       [](const TimedSample& a, const TimedSample& b) { return a.t < b.t; });
      StepSeries ss;
      ss.v.assign(n_, 0);
      ss.has.assign(n_, 0);
      bool any = false;
      for (int i = 0; i < n_; ++i) {
        int64_t end = Ts(i) - r.offset_ns;
        int64_t begin = end - r.range_ns;  // exclusive
        auto lo = std::upper_bound(c.samples.begin(), c.samples.end(), begin,
                                   [](int64_t t, const TimedSample& x) { return t < x.t; });
        auto hi = std::upper_bound(c.samples.begin(), c.samples.end(), end,
                                   [](int64_t t, const TimedSample& x) { return t < x.t; });
        if (lo == hi) continue;
        if (HasError(c.labels)) return PipelineError(c.labels);
        ss.v[i] = ApplyRange(r, std::span(&*lo, static_cast<size_t>(hi - lo)), end);
        ss.has[i] = 1;
        any = true;
      }
      if (!any) continue;
      ss.labels = std::move(c.labels);
      out.series.push_back(std::move(ss));
    }
    return out;
  }

  template <typename C>
  Result<Value> Absent(const RangeExpr& r, const std::vector<C>& series) {
    StepSeries ss;
    ss.v.assign(n_, 1);
    ss.has.assign(n_, 1);
    for (const C& c : series) {
      std::vector<int64_t> times;
      for (const TimedSample& x : c.samples) times.push_back(x.t);
      std::sort(times.begin(), times.end());
      for (int i = 0; i < n_; ++i) {
        int64_t end = Ts(i) - r.offset_ns;
        auto lo = std::upper_bound(times.begin(), times.end(), end - r.range_ns);
        if (lo != times.end() && *lo <= end) ss.has[i] = 0;
      }
    }
    Value out;
    if (std::none_of(ss.has.begin(), ss.has.end(), [](uint8_t h) { return h != 0; })) return out;
    // The labels absent() gives: the selector's equality matchers, a repeated name dropped.
    std::vector<std::string> repeated;
    for (const model::Matcher& m : r.selector.matchers) {
      if (m.type() != model::MatchType::kEqual) continue;
      bool dup = false;
      for (const model::Label& l : ss.labels) dup |= l.name == m.name();
      if (dup) {
        repeated.push_back(m.name());
      } else {
        ss.labels.push_back({m.name(), m.value()});
      }
    }
    std::erase_if(ss.labels, [&](const model::Label& l) {
      return std::find(repeated.begin(), repeated.end(), l.name) != repeated.end();
    });
    model::SortLabels(ss.labels);
    out.series.push_back(std::move(ss));
    return out;
  }

  Status MaxSeries() const {
    return ResourceExhausted(fmt::format(
        "maximum number of series ({}) reached for a single query; consider reducing query "
        "cardinality by adding more filters",
        options_.max_series));
  }

  // ---- vector aggregations ----

  Result<Value> EvalVector(const VectorExpr& v) {
    if (v.op == VectorOp::kApproxTopk && !params_.instant)
      return InvalidArgument("approx_topk is only supported on instant queries");
    Result<Value> inner = Eval(*v.expr);
    if (!inner.ok()) return inner;
    std::vector<StepSeries>& in = inner->series;
    if (v.op == VectorOp::kSort || v.op == VectorOp::kSortDesc) {
      // By the value at the first step; NaN last in both directions.
      bool desc = v.op == VectorOp::kSortDesc;
      std::stable_sort(in.begin(), in.end(), [&](const StepSeries& a, const StepSeries& b) {
        double x = a.v[0], y = b.v[0];
        if (std::isnan(x) || !a.has[0]) return false;
        if (std::isnan(y) || !b.has[0]) return true;
        return desc ? x > y : x < y;
      });
      inner->ordered = true;
      return std::move(inner).value();
    }
    bool selects =
        v.op == VectorOp::kTopk || v.op == VectorOp::kBottomk || v.op == VectorOp::kApproxTopk;
    // Groups, each with the series in it.
    std::vector<std::vector<size_t>> groups;
    std::vector<model::Labels> group_labels;
    std::unordered_map<std::string, size_t> index;
    for (size_t k = 0; k < in.size(); ++k) {
      model::Labels g = v.grouping ? Grouped(in[k].labels, *v.grouping) : model::Labels();
      auto [it, inserted] = index.emplace(Key(g), groups.size());
      if (inserted) {
        groups.emplace_back();
        group_labels.push_back(std::move(g));
      }
      groups[it->second].push_back(k);
    }
    Value out;
    if (selects) {
      bool top = v.op != VectorOp::kBottomk;
      std::vector<StepSeries> result(in.size());
      for (size_t k = 0; k < in.size(); ++k) {
        result[k].labels = in[k].labels;
        result[k].v.assign(n_, 0);
        result[k].has.assign(n_, 0);
      }
      std::vector<size_t> present;
      for (const std::vector<size_t>& g : groups) {
        for (int i = 0; i < n_; ++i) {
          present.clear();
          for (size_t k : g) {
            if (in[k].has[i]) present.push_back(k);
          }
          auto before = [&](size_t a, size_t b) {
            double x = in[a].v[i], y = in[b].v[i];
            if (std::isnan(x)) return false;
            if (std::isnan(y)) return true;
            return top ? x > y : x < y;
          };
          size_t keep = std::min<size_t>(static_cast<size_t>(v.param), present.size());
          std::partial_sort(present.begin(), present.begin() + static_cast<ptrdiff_t>(keep),
                            present.end(), before);
          for (size_t j = 0; j < keep; ++j) {
            result[present[j]].v[i] = in[present[j]].v[i];
            result[present[j]].has[i] = 1;
          }
        }
      }
      for (StepSeries& s : result) {
        if (std::any_of(s.has.begin(), s.has.end(), [](uint8_t h) { return h != 0; }))
          out.series.push_back(std::move(s));
      }
      return out;
    }
    for (size_t gi = 0; gi < groups.size(); ++gi) {
      StepSeries s;
      s.labels = group_labels[gi];
      s.v.assign(n_, 0);
      s.has.assign(n_, 0);
      for (int i = 0; i < n_; ++i) {
        double value = 0, mean = 0, count = 0;
        bool first = true;
        for (size_t k : groups[gi]) {
          if (!in[k].has[i]) continue;
          double x = in[k].v[i];
          ++count;
          switch (v.op) {
            case VectorOp::kSum: value += x; break;
            case VectorOp::kCount: value = count; break;
            case VectorOp::kMin:
              if (first || x < value || std::isnan(value)) value = x;
              break;
            case VectorOp::kMax:
              if (first || x > value || std::isnan(value)) value = x;
              break;
            case VectorOp::kAvg:
              if (std::isinf(mean)) {
                if (std::isinf(x) && (mean > 0) == (x > 0)) break;
                if (!std::isinf(x) && !std::isnan(x)) break;
              }
              mean += x / count - mean / count;
              break;
            case VectorOp::kStddev:
            case VectorOp::kStdvar: {
              double delta = x - mean;
              mean += delta / count;
              value += delta * (x - mean);
              break;
            }
            default: break;
          }
          first = false;
        }
        if (count == 0) continue;
        if (v.op == VectorOp::kAvg) value = mean;
        if (v.op == VectorOp::kStdvar) value /= count;
        if (v.op == VectorOp::kStddev) value = std::sqrt(value / count);
        s.v[i] = value;
        s.has[i] = 1;
      }
      out.series.push_back(std::move(s));
    }
    return out;
  }

  // ---- binary operators ----

  static bool Compare(BinOp op, double a, double b) {
    switch (op) {
      case BinOp::kEq: return a == b;
      case BinOp::kNeq: return a != b;
      case BinOp::kGt: return a > b;
      case BinOp::kGte: return a >= b;
      case BinOp::kLt: return a < b;
      case BinOp::kLte: return a <= b;
      default: return false;
    }
  }

  // One sample of `lhs op rhs`; false when a comparison filters it out.
  static bool Combine(const BinaryExpr& b, double lhs, double rhs, double keep, double& out) {
    if (IsComparison(b.op)) {
      bool holds = Compare(b.op, lhs, rhs);
      if (b.return_bool) {
        out = holds ? 1 : 0;
        return true;
      }
      out = keep;
      return holds;
    }
    out = ApplyScalar(b.op, lhs, rhs, false);
    return true;
  }

  Result<Value> EvalBinary(const BinaryExpr& b) {
    Result<Value> l = Eval(*b.lhs);
    if (!l.ok()) return l;
    Result<Value> r = Eval(*b.rhs);
    if (!r.ok()) return r;
    if (l->scalar && r->scalar) {
      Value v;
      v.scalar = true;
      v.scalar_value = ApplyScalar(b.op, l->scalar_value, r->scalar_value, true);
      return v;
    }
    if (l->scalar || r->scalar) {
      bool scalar_left = l->scalar;
      double k = scalar_left ? l->scalar_value : r->scalar_value;
      Value v = scalar_left ? std::move(r).value() : std::move(l).value();
      for (StepSeries& s : v.series) {
        for (int i = 0; i < n_; ++i) {
          if (!s.has[i]) continue;
          double x = s.v[i];
          double out;
          bool kept = scalar_left ? Combine(b, k, x, x, out) : Combine(b, x, k, x, out);
          s.v[i] = out;
          s.has[i] = kept ? 1 : 0;
        }
      }
      std::erase_if(v.series, [](const StepSeries& s) {
        return std::none_of(s.has.begin(), s.has.end(), [](uint8_t h) { return h != 0; });
      });
      return v;
    }
    return VectorBinary(b, std::move(l).value(), std::move(r).value());
  }

  static std::string Signature(const model::Labels& labels, const VectorMatching& m) {
    std::string k;
    for (const model::Label& l : labels) {
      bool listed = std::find(m.labels.begin(), m.labels.end(), l.name) != m.labels.end();
      if (listed != m.on) continue;
      k += l.name;
      k += '\xff';
      k += l.value;
      k += '\xff';
    }
    return k;
  }

  Result<Value> VectorBinary(const BinaryExpr& b, Value lhs, Value rhs) {
    const VectorMatching& m = b.matching;
    std::vector<std::string> lsig, rsig;
    for (const StepSeries& s : lhs.series) lsig.push_back(Signature(s.labels, m));
    for (const StepSeries& s : rhs.series) rsig.push_back(Signature(s.labels, m));
    Value out;
    std::unordered_map<std::string, size_t> out_index;
    auto emit = [&](model::Labels labels, int i, double value) -> size_t {
      std::string key = Key(labels);
      auto [it, inserted] = out_index.emplace(std::move(key), out.series.size());
      if (inserted) {
        StepSeries s;
        s.labels = std::move(labels);
        s.v.assign(n_, 0);
        s.has.assign(n_, 0);
        out.series.push_back(std::move(s));
      }
      StepSeries& s = out.series[it->second];
      s.v[i] = value;
      s.has[i] = 1;
      return it->second;
    };

    if (IsSetOperator(b.op)) {
      for (int i = 0; i < n_; ++i) {
        std::unordered_map<std::string, int> right;
        for (size_t k = 0; k < rhs.series.size(); ++k) {
          if (rhs.series[k].has[i]) right[rsig[k]] = 1;
        }
        std::unordered_map<std::string, int> left;
        for (size_t k = 0; k < lhs.series.size(); ++k) {
          if (!lhs.series[k].has[i]) continue;
          left[lsig[k]] = 1;
          bool matched = right.contains(lsig[k]);
          if (b.op == BinOp::kOr || (b.op == BinOp::kAnd) == matched)
            emit(lhs.series[k].labels, i, lhs.series[k].v[i]);
        }
        if (b.op == BinOp::kOr) {
          for (size_t k = 0; k < rhs.series.size(); ++k) {
            if (rhs.series[k].has[i] && !left.contains(rsig[k]))
              emit(rhs.series[k].labels, i, rhs.series[k].v[i]);
          }
        }
      }
      return out;
    }

    bool swapped = m.card == Cardinality::kOneToMany;
    const Value& many = swapped ? rhs : lhs;
    const Value& one = swapped ? lhs : rhs;
    const std::vector<std::string>& many_sig = swapped ? rsig : lsig;
    const std::vector<std::string>& one_sig = swapped ? lsig : rsig;
    for (int i = 0; i < n_; ++i) {
      std::unordered_map<std::string, size_t> one_by_sig;
      for (size_t k = 0; k < one.series.size(); ++k) {
        if (!one.series[k].has[i]) continue;
        if (!one_by_sig.emplace(one_sig[k], k).second)
          return FailedPrecondition(fmt::format(
              "found duplicate series on the {} hand-side of the operation: {};many-to-many "
              "matching not allowed: matching labels must be unique on one side",
              swapped ? "left" : "right", model::FormatLabels(one.series[k].labels)));
      }
      std::unordered_map<std::string, int> matched;
      std::unordered_map<std::string, int> inserted;
      for (size_t k = 0; k < many.series.size(); ++k) {
        if (!many.series[k].has[i]) continue;
        auto it = one_by_sig.find(many_sig[k]);
        if (it == one_by_sig.end()) continue;
        if (m.card == Cardinality::kOneToOne && !matched.emplace(many_sig[k], 1).second)
          return FailedPrecondition(
              "multiple matches for labels: many-to-one matching must be explicit "
              "(group_left/group_right)");
        const StepSeries& ms = many.series[k];
        const StepSeries& os = one.series[it->second];
        double lv = swapped ? os.v[i] : ms.v[i];
        double rv = swapped ? ms.v[i] : os.v[i];
        double value;
        if (!Combine(b, lv, rv, lv, value)) continue;
        model::Labels labels = ResultLabels(ms.labels, os.labels, m);
        if (m.card != Cardinality::kOneToOne && !inserted.emplace(Key(labels), 1).second)
          return FailedPrecondition(
              "multiple matches for labels: grouping labels must ensure unique matches");
        emit(std::move(labels), i, value);
      }
    }
    return out;
  }

  static model::Labels ResultLabels(const model::Labels& many, const model::Labels& one,
                                    const VectorMatching& m) {
    model::Labels out;
    if (m.card == Cardinality::kOneToOne) {
      for (const model::Label& l : many) {
        bool listed = std::find(m.labels.begin(), m.labels.end(), l.name) != m.labels.end();
        if (listed == m.on) out.push_back(l);
      }
      return out;
    }
    out = many;
    for (const std::string& name : m.include) {
      std::erase_if(out, [&](const model::Label& l) { return l.name == name; });
      for (const model::Label& l : one) {
        if (l.name == name && !l.value.empty()) out.push_back(l);
      }
    }
    model::SortLabels(out);
    return out;
  }

  Result<Value> EvalLabelReplace(const LabelReplaceExpr& lr) {
    Result<Value> inner = Eval(*lr.expr);
    if (!inner.ok()) return inner;
    Value out;
    std::unordered_map<std::string, size_t> index;
    for (StepSeries& s : inner->series) {
      std::string src;
      for (const model::Label& l : s.labels) {
        if (l.name == lr.src) src = l.value;
      }
      std::string value;
      int groups = lr.re->NumberOfCapturingGroups() + 1;
      std::vector<re2::StringPiece> match(static_cast<size_t>(groups));
      if (lr.re->Match(src, 0, src.size(), RE2::ANCHOR_BOTH, match.data(), groups)) {
        // Go's Expand: $1, ${1} and $name.
        const std::string& t = lr.replacement;
        for (size_t k = 0; k < t.size(); ++k) {
          if (t[k] != '$' || k + 1 >= t.size()) {
            value += t[k];
            continue;
          }
          size_t j = k + 1;
          bool brace = t[j] == '{';
          if (brace) ++j;
          size_t e = j;
          while (e < t.size() && (std::isalnum(static_cast<unsigned char>(t[e])) || t[e] == '_'))
            ++e;
          std::string name = t.substr(j, e - j);
          if (brace && (e >= t.size() || t[e] != '}')) {
            value += t[k];
            continue;
          }
          if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit)) {
            size_t g = std::stoul(name);
            if (g < match.size()) value += match[g];
          } else {
            auto it = lr.re->NamedCapturingGroups().find(name);
            if (it != lr.re->NamedCapturingGroups().end()) value += match[it->second];
          }
          k = brace ? e : e - 1;
        }
        std::erase_if(s.labels, [&](const model::Label& l) { return l.name == lr.dst; });
        if (!value.empty()) s.labels.push_back({lr.dst, value});
        model::SortLabels(s.labels);
      }
      auto [it, inserted] = index.emplace(Key(s.labels), out.series.size());
      if (!inserted)
        return FailedPrecondition("vector cannot contain metrics with the same labelset");
      out.series.push_back(std::move(s));
    }
    return out;
  }

  Source& source_;
  const EngineOptions& options_;
  const QueryParams& params_;
  int64_t start_ = 0;
  int64_t step_ = 1;
  int n_ = 1;
  std::chrono::steady_clock::time_point deadline_;
  uint64_t ticks_ = 0;
  QueryStats stats_;
};

}  // namespace

const char* ResultTypeName(ResultType type) {
  switch (type) {
    case ResultType::kStreams: return "streams";
    case ResultType::kVector: return "vector";
    case ResultType::kMatrix: return "matrix";
    case ResultType::kScalar: return "scalar";
  }
  return "?";
}

Result<QueryResult> Engine::Query(Source& source, std::string_view query,
                                  const QueryParams& params) const {
  Result<ExprPtr> expr = ParseExpr(query);
  if (!expr.ok()) return expr.status();
  return Query(source, **expr, params);
}

Result<QueryResult> Engine::Query(Source& source, const Expr& expr,
                                  const QueryParams& params) const {
  if (!params.instant && expr.kind != NodeKind::kLog && params.step_ns <= 0)
    return InvalidArgument("zero or negative query resolution step widths are not accepted");
  if (params.end_ns < params.start_ns)
    return InvalidArgument("the end of the range is before its start");
  Evaluator ev(source, options_, params);
  QueryResult result;
  if (expr.kind == NodeKind::kLog) {
    if (params.limit > options_.max_entries)
      return InvalidArgument(
          fmt::format("max entries limit per query exceeded, limit > "
                      "max_entries_limit_per_query ({} > {})",
                      params.limit, options_.max_entries));
    Result<std::vector<Stream>> streams = ev.EvalLog(static_cast<const LogExpr&>(expr));
    if (!streams.ok()) return streams.status();
    result.type = ResultType::kStreams;
    result.streams = std::move(streams).value();
    result.stats = ev.stats();
    return result;
  }
  Result<Value> v = ev.Eval(expr);
  if (!v.ok()) return v.status();
  result.stats = ev.stats();
  if (v->scalar) {
    if (params.instant) {
      result.type = ResultType::kScalar;
      result.scalar = v->scalar_value;
      result.scalar_t_ns = ev.Ts(0);
      return result;
    }
    StepSeries s;
    s.v.assign(ev.steps(), v->scalar_value);
    s.has.assign(ev.steps(), 1);
    v->series.push_back(std::move(s));
  }
  if (v->series.size() > options_.max_series)
    return ResourceExhausted(fmt::format(
        "maximum number of series ({}) reached for a single query; consider reducing query "
        "cardinality by adding more filters",
        options_.max_series));
  result.type = params.instant ? ResultType::kVector : ResultType::kMatrix;
  bool sorted = v->ordered;
  for (StepSeries& s : v->series) {
    Series out;
    out.labels = std::move(s.labels);
    for (int i = 0; i < ev.steps(); ++i) {
      if (s.has[i]) out.samples.push_back({ev.Ts(i), s.v[i]});
    }
    if (!out.samples.empty()) result.series.push_back(std::move(out));
  }
  if (!sorted) {
    std::sort(result.series.begin(), result.series.end(), [](const Series& a, const Series& b) {
      return model::LabelsLess(a.labels, b.labels);
    });
  }
  return result;
}

}  // namespace pharos::logql
