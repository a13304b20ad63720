// promql: the PromQL language: parser, canonical printer and evaluation engine over the
// metrics store, with the semantics of Prometheus 3.x.
//
// Contract:
// - ParseExpr() never throws and never recurses without bound: errors are InvalidArgument
//   with Prometheus's "line:col: parse error: ..." text; queries nested deeper than 200
//   levels are refused.
// - Engine::Instant/Range evaluate against a tsdb::Db. Errors map onto Prometheus's
//   errorType: InvalidArgument = bad_data (parse, bad parameters), FailedPrecondition =
//   execution (evaluation errors such as duplicate series), ResourceExhausted = execution
//   (the sample limit), DeadlineExceeded = timeout, Cancelled = canceled. A query never
//   holds more than max_samples samples in memory at once: selectors stream series from
//   the store and count each series' samples as they load it, so the limit stops a query
//   before the samples are held, not after. A query never runs past its deadline by more
//   than one step of work or a few series of a select.
// - At most max_concurrent_queries evaluate at once; later ones wait in line, and the wait
//   counts against their timeout.
// - The engine is thread-safe; each query has its own evaluation state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "promql/ast.h"
#include "tsdb/tsdb.h"

namespace pharos::promql {

/// Parses a PromQL expression.
Result<ExprPtr> ParseExpr(std::string_view query);

/// Parses a series selector into matchers. A bare metric name becomes __name__="name".
/// At least one matcher must not match the empty string, as Prometheus requires.
Result<std::vector<model::Matcher>> ParseSeriesSelector(std::string_view text);

/// Durations, offsets and @ timestamps beyond this (about 292 years, Go's time.Duration
/// range) are refused, so that time arithmetic in milliseconds cannot overflow.
inline constexpr double kMaxDurationSeconds = 9'223'372'036.0;

/// A float as PromQL literals and Prometheus's JSON print it ("NaN", "+Inf", "0.5").
std::string FormatFloat(double v);

/// Folds a constant duration expression into seconds; false when it needs step()/range().
bool FoldDuration(const Expr& expr, double& seconds);
double ApplyDurationOp(BinOp op, double lhs, double rhs);

struct EngineOptions {
  int64_t lookback_delta_ms = int64_t{5} * 60 * 1000;
  int64_t default_subquery_step_ms = int64_t{60} * 1000;
  uint64_t max_samples = 50'000'000;
  /// Series one selector may fetch from the store (0: no limit).
  uint64_t max_series = 1'000'000;
  std::chrono::milliseconds timeout{std::chrono::minutes(2)};
  int max_concurrent_queries = 20;
  /// Prometheus 2.x windows: range selectors and the lookback delta include a sample at
  /// their left edge ([t - range, t]); Prometheus 3 and the default exclude it.
  bool prometheus2_windows = false;
};

struct Point {
  int64_t t;  // ms
  double v;
};

struct SeriesResult {
  model::Labels labels;
  std::vector<Point> points;
};

struct QueryResult {
  ValueType type = ValueType::kNone;  // scalar, string, instant vector or range vector
  int64_t t = 0;                      // the evaluation time of scalar and string results
  double scalar = 0;
  std::string string_value;
  /// kVector: one point per series, in the order the query produced them (sort(), topk()).
  /// kMatrix: points ascending in time; series sorted by labels for range queries.
  std::vector<SeriesResult> series;
  std::vector<std::string> warnings;  // "PromQL warning: ... (1:5)"
  std::vector<std::string> infos;     // "PromQL info: ..."
  uint64_t samples_loaded = 0;
  /// The most samples the query held at once (never above max_samples).
  uint64_t peak_samples = 0;
};

/// Per-query overrides of the engine options (the HTTP API's timeout= parameter).
struct QueryParams {
  std::chrono::milliseconds timeout{0};  // 0: the engine's
  int64_t lookback_delta_ms = 0;         // 0: the engine's
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});

  /// The query evaluated at one time (ms), as /api/v1/query.
  Result<QueryResult> Instant(tsdb::Db& db, std::string_view query, int64_t time_ms,
                              const QueryParams& params = {});
  /// The query evaluated at start, start+step, ... <= end (ms), as /api/v1/query_range.
  /// Scalars come back as one series without labels; range-vector queries are refused.
  Result<QueryResult> Range(tsdb::Db& db, std::string_view query, int64_t start_ms, int64_t end_ms,
                            int64_t step_ms, const QueryParams& params = {});

  const EngineOptions& options() const { return options_; }
  /// Queries evaluating now, and waiting for a slot.
  int active_queries() const;
  int queued_queries() const;

 private:
  Result<QueryResult> Run(tsdb::Db& db, std::string_view query, int64_t start_ms, int64_t end_ms,
                          int64_t step_ms, bool range, const QueryParams& params);

  EngineOptions options_;
  mutable Mutex mu_;
  std::condition_variable slot_free_;
  int active_ PHAROS_GUARDED_BY(mu_) = 0;
  int queued_ PHAROS_GUARDED_BY(mu_) = 0;
};

}  // namespace pharos::promql
