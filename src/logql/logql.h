// logql: the LogQL language (Loki 3.x): parser, log pipelines and the evaluation of log
// and metric queries over any source of log lines.
//
// Contract:
// - ParseExpr() never throws and bounds its recursion (queries nested deeper than 128
//   levels are refused). Errors are InvalidArgument with Loki's texts where Loki's tests
//   check them ("syntax error: unexpected ...", "invalid aggregation count_over_time with
//   unwrap", "grouping not allowed for rate aggregation", ...). Regexes, templates, IP
//   ranges, patterns and JSON paths are checked at parse time.
// - Engine::Query evaluates a parsed query against a Source:
//     log queries   -> streams: the newest (backward) or oldest (forward) `limit` lines in
//                      [start, end), each stream labelled by the labels its pipeline left;
//     metric queries -> a vector (instant) or a matrix (range) in Loki's semantics: a range
//                      [R] at time T covers (T-R, T]; series labels are the stream labels,
//                      structured metadata and extracted labels after the pipeline; a
//                      sample carrying __error__ fails the query with Loki's pipeline error.
//   Literal-only queries give a scalar.
// - Limits: max_series (per result), max_entries (lines a log query returns), timeout,
//   max_bytes_read (line bytes read, checked as they are read); each refusal is
//   ResourceExhausted / DeadlineExceeded with Loki's message.
// - The engine is thread-safe; a query holds at most one sample per (series, line) of the
//   selected range plus the result.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "logql/ast.h"

namespace pharos::logql {

Result<ExprPtr> ParseExpr(std::string_view query);

/// One stored line as a Source hands it to the engine.
struct LogEntry {
  int64_t ts_ns = 0;
  std::string_view line;
  std::span<const model::Label> metadata;
};

using EntryVisitor = std::function<Status(const model::Labels& stream, const LogEntry& entry)>;

/// Where queries read lines from (the log store, or the test driver's memory).
class Source {
 public:
  virtual ~Source() = default;
  /// How the engine wants lines: in time order (log queries, which stop at their limit)
  /// or in any order (metric queries, which group them).
  struct Order {
    bool by_time = true;
    bool backward = false;  // newest first
    bool need_line = true;  // false: LogEntry::line may be empty (counting needs no text)
  };
  /// Visits every line in [mint_ns, maxt_ns] of every stream matching `selector.matchers`:
  /// in time order (newest first when `order.backward`) if Ordered() and `order.by_time`,
  /// else in any order. `selector.required_substrings` may be used to skip lines that lack
  /// one. A visitor's error stops the walk and is returned.
  virtual Status Select(const LogSelector& selector, int64_t mint_ns, int64_t maxt_ns, Order order,
                        const EntryVisitor& visit) = 0;
  /// True when Select keeps time order, so a log query can stop at its limit.
  virtual bool Ordered() const { return false; }

  /// A time range, both ends inclusive.
  struct Window {
    int64_t mint_ns;
    int64_t maxt_ns;
  };
  /// counts[i]: the stream's lines in windows[i].
  using CountVisitor =
      std::function<Status(const model::Labels& stream, std::span<const uint64_t> counts)>;
  /// Counts the lines of every stream matching `matchers` in each window (sorted: each
  /// one's ends at least the previous one's), for metric queries that only count, without
  /// reading lines where the source keeps counts. A stream may be visited more than once
  /// (the engine adds up by labels). Returns false when the source cannot (the engine
  /// then reads the lines through Select).
  virtual Result<bool> Count(std::span<const model::Matcher> matchers,
                             std::span<const Window> windows, const CountVisitor& visit) {
    (void)matchers, (void)windows, (void)visit;
    return false;
  }
};

struct EngineOptions {
  uint64_t max_series = 500;    // Loki's max_query_series
  uint64_t max_entries = 5000;  // Loki's max_entries_limit_per_query
  std::chrono::milliseconds timeout{std::chrono::minutes(1)};
  /// Loki's max_query_bytes_read: a query that reads more line bytes is refused as soon as
  /// it crosses the limit. 0: no limit.
  uint64_t max_bytes_read = 0;
};

struct QueryParams {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  int64_t step_ns = 0;  // range queries
  bool instant = false;
  uint64_t limit = 100;  // log queries
  bool backward = true;
  /// Log queries: group lines by their stream labels and report structured metadata and
  /// parsed labels per entry (Loki's "categorize-labels" encoding, which Grafana asks for).
  bool categorize_labels = false;
};

struct Sample {
  int64_t t_ns;
  double v;
};

struct Series {
  model::Labels labels;
  std::vector<Sample> samples;
};

struct StreamEntry {
  int64_t ts_ns;
  std::string line;
  // With QueryParams::categorize_labels: the entry's own labels by where they came from
  // (the stream's labels are then only those of the stream).
  model::Labels structured_metadata;
  model::Labels parsed;
};

struct Stream {
  model::Labels labels;
  std::vector<StreamEntry> entries;
};

enum class ResultType { kStreams, kVector, kMatrix, kScalar };
const char* ResultTypeName(ResultType type);  // "streams", "vector", "matrix", "scalar"

struct QueryStats {
  uint64_t lines_read = 0;
  uint64_t bytes_read = 0;
};

struct QueryResult {
  ResultType type = ResultType::kStreams;
  std::vector<Stream> streams;
  std::vector<Series> series;  // vector: one sample each; matrix: many
  double scalar = 0;
  int64_t scalar_t_ns = 0;
  QueryStats stats;
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {}) : options_(options) {}
  Result<QueryResult> Query(Source& source, const Expr& expr, const QueryParams& params) const;
  Result<QueryResult> Query(Source& source, std::string_view query,
                            const QueryParams& params) const;

 private:
  EngineOptions options_;
};

/// The query in canonical form (Loki's /format_query): matchers `{a="b", c=~"d"}`, strings
/// in Go's double quotes, one space between the parts of a pipeline, `by (...)` after the
/// aggregation's name. A query of at most 100 characters stays on one line; a longer one is
/// broken at its structure (arguments, pipeline stages, binary operands), two spaces per
/// level. The text parses back to the same query, and formatting it again changes nothing.
std::string FormatQuery(const Expr& expr);
/// The same from text; errors are ParseExpr's.
Result<std::string> FormatQuery(std::string_view query);

// ---- conversions, as Go and Loki do them ----

/// go-humanize's ParseBytes; errors carry its text.
Result<double> ParseHumanBytes(std::string_view text);
/// Go's strconv.ParseFloat(text, 64); errors carry its text.
Result<double> ParseGoFloat(std::string_view text);
/// A Go string literal "..." with its escapes, for templates and queries.
Result<std::string> UnquoteGo(std::string_view quoted);

}  // namespace pharos::logql
