// The experimental `anchored` and `smoothed` range modifiers and the `smoothed` instant
// selector (Prometheus 3 behind promql-extended-range-selectors).
//
// anchored: the window (t - range, t] plus the newest sample at or before its start
//   (within the lookback delta) as the anchor; no extrapolation. Needs a sample inside.
// smoothed: the values at both window edges are interpolated from the samples around
//   them (counter-aware for rate and increase: across a reset the counter restarts at 0);
//   no extrapolation. An instant selector interpolates its value at t.
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <span>

#include "promql/eval.h"

namespace pharos::promql {
namespace {

using Samples = std::span<const tsdb::Sample>;

double Interpolate(const tsdb::Sample& a, const tsdb::Sample& b, int64_t t, bool counter) {
  double frac = static_cast<double>(t - a.t) / static_cast<double>(b.t - a.t);
  if (counter && b.v < a.v) return b.v * frac;  // a reset: the counter restarts at zero
  return a.v + (b.v - a.v) * frac;
}

// Increase along a sequence of values, adding back what each reset took away.
double CounterIncrease(const std::vector<double>& seq) {
  double result = seq.back() - seq.front();
  for (size_t i = 1; i < seq.size(); ++i) {
    if (seq[i] < seq[i - 1]) result += seq[i - 1];
  }
  return result;
}

}  // namespace

Result<Value> Evaluator::EvalSmoothedSelector(const VectorSelector& vs) {
  std::vector<int64_t> times = SelectorTimes(vs.time);
  Result<std::vector<RangeSeries>> data =
      SelectRange(vs, ctx_.lookback_ms, times, ctx_.lookback_ms);
  if (!data.ok()) return data.status();
  Value out;
  out.type = ValueType::kVector;
  for (RangeSeries& rs : *data) {
    Series s = MakeSeries(std::move(rs.labels), n_);
    const std::vector<tsdb::Sample>& all = rs.samples;
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      int64_t t = times[i];
      auto next = std::upper_bound(all.begin(), all.end(), t,
                                   [](int64_t x, const tsdb::Sample& smp) { return x < smp.t; });
      if (next == all.begin()) continue;
      const tsdb::Sample& prev = *(next - 1);
      if (prev.t <= t - ctx_.lookback_ms) continue;
      if (prev.t == t || next == all.end() || next->t > t + ctx_.lookback_ms) {
        s.v[i] = prev.v;
      } else {
        s.v[i] = Interpolate(prev, *next, t, /*counter=*/false);
      }
      s.has[i] = 1;
      any = true;
    }
    if (any) out.vec.push_back(std::move(s));
  }
  return out;
}

Result<Value> Evaluator::EvalExtendedRange(const CallExpr& c, const VectorSelector& vs,
                                           int64_t range, const std::vector<int64_t>& times) {
  FuncId id = c.func->id;
  std::string_view name = FunctionName(c);
  if (vs.smoothed && id != FuncId::kDelta && id != FuncId::kIncrease && id != FuncId::kRate) {
    return FailedPrecondition(fmt::format(
        "smoothed modifier can only be used with: delta, increase, rate - not with {}", name));
  }
  if (vs.anchored && id != FuncId::kChanges && id != FuncId::kDelta && id != FuncId::kIncrease &&
      id != FuncId::kRate && id != FuncId::kResets) {
    return FailedPrecondition(fmt::format(
        "anchored modifier can only be used with: changes, delta, increase, rate, resets - not "
        "with {}",
        name));
  }
  int64_t lookback = ctx_.lookback_ms;
  Result<std::vector<RangeSeries>> data =
      SelectRange(vs, range + lookback, times, vs.smoothed ? lookback : 0);
  if (!data.ok()) return data.status();
  bool counter = id == FuncId::kIncrease || id == FuncId::kRate;
  Value out;
  out.type = ValueType::kVector;
  std::vector<double> seq;
  for (RangeSeries& rs : *data) {
    Series s = MakeSeries(std::move(rs.labels), n_);
    s.drop_name = true;
    const std::vector<tsdb::Sample>& all = rs.samples;
    bool any = false;
    for (int i = 0; i < n_; ++i) {
      int64_t end = times[i];
      int64_t start = end - range;
      auto by_time = [](const tsdb::Sample& smp, int64_t x) { return smp.t <= x; };
      // [first, last) are the samples in (start, end].
      auto first = std::partition_point(
          all.begin(), all.end(), [&](const tsdb::Sample& smp) { return by_time(smp, start); });
      auto last = std::partition_point(first, all.end(),
                                       [&](const tsdb::Sample& smp) { return by_time(smp, end); });
      const tsdb::Sample* before =
          first != all.begin() && (first - 1)->t > start - lookback ? &*(first - 1) : nullptr;
      seq.clear();
      if (vs.anchored) {
        if (first == last) continue;
        if (before != nullptr) seq.push_back(before->v);
        for (auto it = first; it != last; ++it) seq.push_back(it->v);
      } else {
        const tsdb::Sample* after =
            last != all.end() && last->t <= end + lookback ? &*last : nullptr;
        if (first == last) {
          if (before == nullptr || after == nullptr) continue;
          seq.push_back(Interpolate(*before, *after, start, counter));
          seq.push_back(Interpolate(*before, *after, end, counter));
        } else {
          seq.push_back(before ? Interpolate(*before, *first, start, counter) : first->v);
          for (auto it = first; it != last; ++it) seq.push_back(it->v);
          seq.push_back(after ? Interpolate(*(last - 1), *after, end, counter) : (last - 1)->v);
        }
      }
      double v = 0;
      switch (id) {
        case FuncId::kIncrease: v = CounterIncrease(seq); break;
        case FuncId::kRate: v = CounterIncrease(seq) / (static_cast<double>(range) / 1000.0); break;
        case FuncId::kDelta: v = seq.back() - seq.front(); break;
        case FuncId::kChanges:
          for (size_t k = 1; k < seq.size(); ++k) {
            if (seq[k] != seq[k - 1] && !(std::isnan(seq[k]) && std::isnan(seq[k - 1]))) ++v;
          }
          break;
        case FuncId::kResets:
          for (size_t k = 1; k < seq.size(); ++k) {
            if (seq[k] < seq[k - 1]) ++v;
          }
          break;
        default: break;
      }
      s.v[i] = v;
      s.has[i] = 1;
      any = true;
    }
    if (any) out.vec.push_back(std::move(s));
  }
  return out;
}

}  // namespace pharos::promql
