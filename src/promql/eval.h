// promql/eval.h (internal): the evaluator. Every expression is evaluated once for all
// steps of a query: an instant vector becomes series with one slot per step (dense values
// plus a presence flag), so binary operators match label sets and aggregations group
// series once per query instead of once per step.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "promql/functions.h"
#include "promql/promql.h"

namespace pharos::promql {

struct Series {
  model::Labels labels;
  std::vector<double> v;     // one per step
  std::vector<uint8_t> has;  // 1 where the series has a value at that step
  bool drop_name = false;    // delayed __name__ removal, as Prometheus 3 does
};

struct RangeSeries {
  model::Labels labels;
  std::vector<tsdb::Sample> samples;  // ascending, no staleness markers
  bool drop_name = false;
};

struct Value {
  ValueType type = ValueType::kNone;
  std::vector<double> scalar;    // kScalar: one per step
  std::string str;               // kString
  std::vector<Series> vec;       // kVector
  std::vector<RangeSeries> mat;  // kMatrix (an instant query's range-vector result)
};

/// State shared by the evaluators of one query (a subquery has its own evaluator).
struct QueryContext {
  tsdb::Db* db = nullptr;
  std::string_view query;
  int64_t lookback_ms = 0;
  // 1 with Prometheus 2's windows, which include their left edge: [t - range, t].
  int64_t left_edge = 0;
  int64_t default_subquery_step_ms = 0;
  uint64_t max_samples = 0;
  uint64_t max_series = 0;      // per selector; 0: no limit
  uint64_t samples_loaded = 0;  // total, for statistics
  uint64_t samples_in_use = 0;  // currently held in selector results
  uint64_t peak_samples = 0;    // the most ever held at once
  std::chrono::steady_clock::time_point deadline;
  int64_t query_start = 0;  // ms, for @ start() and range()
  int64_t query_end = 0;
  int64_t query_step = 0;
  std::vector<std::string> warnings;
  std::vector<std::string> infos;

  Status CheckDeadline() const;
  Status AddSamples(uint64_t n);
  /// Counts one more series a selector loaded into `loaded` (refused past max_series) and
  /// checks the deadline every few series.
  Status CountSeries(uint64_t& loaded) const;
  void Warn(const Expr& at, std::string message);
  void Info(const Expr& at, std::string message);
};

/// A range-vector argument: a matrix selector's samples, streamed from the store a series
/// at a time, or a subquery's points, with the evaluation time of each step (after @ and
/// offset) and the window length. Read it with Evaluator::NextRangeSeries.
struct RangeArg {
  std::vector<int64_t> times;
  int64_t range = 0;
  const VectorSelector* selector = nullptr;  // for matrix selectors
  std::unique_ptr<tsdb::SeriesSet> set;      // a matrix selector's series
  std::vector<RangeSeries> series;           // a subquery's series
  size_t next = 0;                           // into `series`
  uint64_t selected = 0;                     // series read from `set`
  uint64_t held = 0;                         // samples of the current series, counted in use
  bool transformed = false;  // `set` hands out a function's per-step results, not samples
};

/// Takes each finished series of a streaming node (a vector selector, a range function)
/// instead of the node's result, so an aggregation folds series as they are read and never
/// holds its whole input.
using SeriesSink = std::function<Status(Series&&)>;

/// A duration expression with step() or range(), in milliseconds.
Result<int64_t> ResolveDuration(const Expr& e, const QueryContext& ctx);

class Evaluator {
 public:
  Evaluator(QueryContext& ctx, int64_t start, int64_t end, int64_t step);

  /// Evaluates `e` for every step; a result above the sample limit is an error.
  Result<Value> Eval(const Expr& e);

  int steps() const { return n_; }
  int64_t Ts(int i) const { return start_ + static_cast<int64_t>(i) * step_; }

 private:
  friend class CallEvaluator;

  Result<Value> EvalNode(const Expr& e);
  // Evaluates `e`; when it streams (a selector or a range function, through parentheses),
  // its series go to `sink` and the result holds none of them.
  Result<Value> EvalStreaming(const Expr& e, const SeriesSink& sink);
  // A finished series: counted, then folded into `sink` or kept in `out`.
  Status Emit(Series&& s, const SeriesSink* sink, Value& out);
  // Evaluation times of a selector or subquery at each step, after @ and offset.
  std::vector<int64_t> SelectorTimes(const TimeModifiers& time) const;

  Result<std::unique_ptr<tsdb::SeriesSet>> Select(const VectorSelector& vs, int64_t mint,
                                                  int64_t maxt, int64_t range_ms);
  Result<Value> EvalVectorSelector(const VectorSelector& vs, bool want_timestamps,
                                   const SeriesSink* sink = nullptr);
  // Opens `arg.set` on the samples in (min(times) - range, max(times) + after].
  Status OpenRangeSelector(const VectorSelector& vs, int64_t range_ms,
                           const std::vector<int64_t>& times, int64_t after_ms, RangeArg& arg);
  // The next series of `arg` into `out`; false at the end. Its samples count against the
  // limit until the next call, or for the rest of the query when `keep`.
  Result<bool> NextRangeSeries(RangeArg& arg, RangeSeries& out, bool keep);
  // Every series of a range selector at once (the experimental modifiers, extended.cc).
  Result<std::vector<RangeSeries>> SelectRange(const VectorSelector& vs, int64_t range_ms,
                                               const std::vector<int64_t>& times,
                                               int64_t after_ms = 0);
  // Experimental `smoothed` and `anchored` modifiers (extended.cc).
  Result<Value> EvalSmoothedSelector(const VectorSelector& vs);
  Result<Value> EvalExtendedRange(const CallExpr& c, const VectorSelector& vs, int64_t range,
                                  const std::vector<int64_t>& times);
  Result<std::vector<RangeSeries>> EvalSubqueryRange(const SubqueryExpr& sq,
                                                     const std::vector<int64_t>& times);
  Result<RangeArg> EvalRangeArg(const Expr& e);
  Result<Value> EvalMatrixResult(const Expr& e);
  Result<Value> EvalBinary(const BinaryExpr& b);
  Result<Value> EvalVectorBinary(const BinaryExpr& b, Value lhs, Value rhs);
  Result<Value> EvalAggregate(const AggregateExpr& a);
  Result<Value> EvalStreamingAggregate(const AggregateExpr& a);
  // `sink`, from EvalStreaming, is passed on to range functions, which stream.
  Result<Value> EvalCall(const CallExpr& c, const SeriesSink* sink = nullptr);
  Result<Value> EvalRangeCall(const CallExpr& c, const SeriesSink* sink = nullptr);
  Result<Value> EvalClassicHistogram(const CallExpr& c, std::vector<Value>& args);
  Result<Value> EvalInfo(const CallExpr& c);
  // The time at which each step's samples of `e` were read: step times shifted by the @
  // and offset modifiers on the way down to its selector (info() reads info series then).
  std::vector<int64_t> ReferenceTimes(const Expr& e) const;

  QueryContext& ctx_;
  // Set by EvalStreaming for the next node evaluated, which takes it (so nested
  // evaluations never see it).
  const SeriesSink* sink_ = nullptr;
  int64_t start_;
  int64_t end_;
  int64_t step_;
  int n_;
};

// Shared helpers.
std::string LabelsKey(const model::Labels& labels);
void DropName(model::Labels& labels);
const std::string* GetLabel(const model::Labels& labels, std::string_view name);
void SetLabel(model::Labels& labels, std::string_view name, std::string_view value);
std::string MetricName(const model::Labels& labels);
Series MakeSeries(model::Labels labels, int steps);
/// Removes series without a value at any step.
void DropEmptySeries(std::vector<Series>& series);
double KahanSum(const double* values, size_t n);
/// A label name Prometheus 3 accepts: non-empty valid UTF-8.
bool ValidLabelName(std::string_view name);
/// The labels absent() gives: the equality matchers of a selector argument.
model::Labels AbsentLabelsFor(const Expr* arg);
/// Neumaier's compensated addition, as Prometheus's kahanSumInc.
inline void KahanAdd(double inc, double& sum, double& c) {
  double t = sum + inc;
  if (std::isinf(t)) {
    c = 0;
  } else if (std::abs(sum) >= std::abs(inc)) {
    c += (sum - t) + inc;
  } else {
    c += (inc - t) + sum;
  }
  sum = t;
}

/// The mean as Prometheus computes avg and avg_over_time: a compensated sum, switching to
/// an incremental mean once the sum would overflow.
class MeanAccumulator {
 public:
  void Add(double v) {
    ++count_;
    if (!incremental_) {
      double sum = sum_;
      double c = c_;
      KahanAdd(v, sum, c);
      if (!std::isinf(sum) || count_ == 1 || std::isinf(v)) {
        sum_ = sum;
        c_ = c;
        return;
      }
      incremental_ = true;
      mean_ = sum_ / (count_ - 1);
      c_ /= count_ - 1;
    }
    double q = (count_ - 1) / count_;
    double mean = q * mean_;
    double c = q * c_;
    KahanAdd(v / count_, mean, c);
    mean_ = mean;
    c_ = c;
  }
  double Value() const {
    if (incremental_) return mean_ + c_;
    if (std::isinf(sum_)) return sum_;
    return sum_ / count_ + c_ / count_;
  }

 private:
  double count_ = 0;
  double sum_ = 0;
  double c_ = 0;
  double mean_ = 0;
  bool incremental_ = false;
};
/// Prometheus's quantile: linear interpolation; phi < 0 gives -Inf, > 1 +Inf.
double Quantile(double phi, std::vector<double>& values);

}  // namespace pharos::promql
