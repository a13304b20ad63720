// logs: Pharos's log store (a colstore of log lines) and Loki's HTTP API on it.
//
// Contract:
// - Store::Open opens (or creates) the log store under Options::dir; its records are log
//   lines: the stream's labels, a time in nanoseconds, the column "line" and, per
//   structured-metadata entry, a column of that name. OTLP logs arrive through
//   Store::AppendOtlpLogs (see the class). Acknowledged pushes survive kill -9
//   (colstore's contract).
// - RegisterRoutes serves, once a logs::Store is published in `services` (503 before):
//     POST /loki/api/v1/push            Loki's JSON push (gzip as Content-Encoding); 204;
//                                       400 naming the stream and the reason; 503 when the
//                                       WAL fails (write scope)
//     GET/POST /loki/api/v1/query_range LogQL (see logql.h): log queries answer "streams"
//                                       (start, end, limit 100, direction backward); metric
//                                       queries "matrix" (step: a duration or seconds,
//                                       default (end-start)/250 and at least 1s)
//     GET/POST /loki/api/v1/query       at one instant (time): metric queries answer
//                                       "vector" or "scalar"; log queries cover the hour
//                                       before `time`
//     GET /loki/api/v1/labels, /loki/api/v1/label/<name>/values, /loki/api/v1/series
//                                       start, end (the last hour by default), query/match[]
//     GET/POST /loki/api/v1/index/stats, index/volume, index/volume_range, detected_labels,
//              detected_fields          from the lines in the range (no separate index);
//                                       fields from the newest lines (structured metadata,
//                                       json, logfmt) with type and cardinality
//     GET/POST /loki/api/v1/patterns    the lines of a stream selector's streams in the range
//                                       mined into patterns (Drain, patterns.h; at most a
//                                       million lines read), with counts per step
//     GET/POST /loki/api/v1/format_query the query in canonical form (logql::FormatQuery)
//     GET /loki/api/v1/tail             a WebSocket: the history since `start` (`limit`
//                                       lines), then each acknowledged line the query keeps
//                                       ({"streams":[...],"dropped_entries":...} frames);
//                                       delay_for <= 5 s, 10 tails at once, 1 h each
//     GET /loki/api/v1/status/buildinfo the Loki version whose API Pharos follows
//   in Loki's JSON shapes (nanosecond timestamps as strings). Errors are Loki's: plain
//   text with the status code.
// - Query limits are Loki's defaults: 5000 lines per log query (max_entries_limit), 500
//   series (max_query_series), 11,000 points per series, 30 days per query
//   (max_query_length 721h), a 1-minute timeout, and Options::max_query_bytes_read (off
//   by default, as in Loki); each refusal is a 400 naming the limit.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "colstore/colstore.h"
#include "common/services.h"
#include "logql/logql.h"
#include "model/model.h"
#include "selfmon/metrics.h"
#include "server/server.h"

namespace pharos::logs {

/// The column that holds a record's log line (the rest are structured metadata).
inline constexpr char kLineColumn[] = "line";

/// The structured metadata a line's detected level goes in (Loki 3's discover_log_levels).
inline constexpr char kDetectedLevel[] = "detected_level";
/// A label or metadata name from any key: every character outside [a-zA-Z0-9_] becomes
/// '_', and a leading digit gets a '_' before it, as Loki's OTLP translation does.
std::string LabelName(std::string_view key);

/// Whether a stream names its lines' level itself (a label level, lvl or severity in any
/// case): its lines get no detected_level.
bool StreamNamesLevel(std::span<const model::LabelView> stream);
/// The level to store as detected_level for a line of a stream that does not name it: ""
/// when the line already carries detected_level; else from a level field of its metadata
/// (level, lvl, severity in any case, severity_text), else a level field in the line's
/// first 512 bytes (`level=warn`, `"level":"warn"`), else the first level word there
/// (error, WARN, Info, ...). Always one of trace, debug, info, warn, error, critical,
/// fatal, or "" when none is found.
std::string_view DetectLevel(std::span<const colstore::Column> columns);

/// Loki's push limits (see config::LogsConfig).
struct PushLimits {
  uint64_t max_line_size = 256 * 1024;
  uint64_t ingestion_rate = 64ULL << 20;  // bytes per second
  uint64_t ingestion_burst = 256ULL << 20;
  Duration max_age = std::chrono::hours(24 * 7);  // 0: any age
  Duration grace = std::chrono::minutes(10);
};

struct Options {
  std::string dir;
  Env* env = DefaultEnv();
  Duration retention = std::chrono::hours(24 * 15);
  uint64_t max_bytes = 0;
  colstore::Limits limits;
  uint64_t head_max_bytes = 64ULL << 20;
  PushLimits push;
  /// Loki's max_query_bytes_read: line bytes a query may read (0: no limit).
  uint64_t max_query_bytes_read = 0;
  /// Loki 3's discover_log_levels: see DetectLevel.
  bool discover_log_levels = true;
  /// How often the store cuts an old head, merges segments and applies retention.
  Duration maintenance_interval = std::chrono::seconds(10);
  std::function<int64_t()> now_ns;  // the clock; the wall clock when empty
};

/// One stream of a write: views of labels and of each line's columns ("line" first).
struct IngestStream {
  std::vector<model::LabelView> labels;
  std::vector<colstore::RecordInput> records;
};

struct IngestResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::vector<std::string> errors;  // the first few refusals, each naming stream and limit
  int retry_after_s = 0;            // set when the whole write was refused by the rate limit
};

/// The log store; as a model::LogsSink it takes OTLP logs (HTTP and gRPC), mapped as
/// Loki 3's OTLP endpoint maps them: the resource attributes Loki indexes by default
/// (service.name, service.namespace, service.instance.id, deployment.environment, cloud and
/// k8s names) become stream labels with '.' as '_' (service_name="unknown_service" when
/// absent); the line is the body (a string as it is, other values as JSON); severity_text,
/// trace_id and span_id (hex), the scope's name and version, every other resource
/// attribute and every log attribute become structured metadata (names with '.' as '_').
class TailHub;  // tail.h: live tails of acknowledged writes

class Store : public model::LogsSink {
 public:
  static Result<std::unique_ptr<Store>> Open(const Options& options, selfmon::Registry& registry);
  ~Store() override;
  colstore::Store& records() { return *records_; }
  TailHub& tails() { return *tails_; }
  uint64_t max_query_bytes_read() const { return max_query_bytes_read_; }
  Status Close() { return records_->Close(); }
  Status AppendOtlpLogs(std::span<const model::ResourceLogs> logs,
                        model::LogsAppendResult& result) override;

  /// Writes lines under Loki's push limits: a line longer than max_line_size, older than
  /// max_age or further ahead than grace is refused by name (the others are kept); invalid
  /// UTF-8 in a line or a metadata value becomes U+FFFD (counted). When the write would
  /// exceed the ingestion rate, all of it is refused: ResourceExhausted with Loki's text
  /// and retry_after_s. Unavailable when the WAL fails. With Options::discover_log_levels,
  /// a kept line gets the metadata detected_level (DetectLevel) when one is found.
  Status Ingest(std::span<IngestStream> streams, IngestResult& result);

 private:
  struct Gate;
  std::shared_ptr<TailHub> tails_;
  std::unique_ptr<colstore::Store> records_;
  std::unique_ptr<Gate> gate_;
  uint64_t max_query_bytes_read_ = 0;
};

void RegisterRoutes(server::Router& router, const Services& services, selfmon::Registry& registry);

/// The log store as a LogQL source (lines in time order; required substrings pushed down).
class StoreSource : public logql::Source {
 public:
  explicit StoreSource(colstore::Store& store) : store_(store) {}
  Status Select(const logql::LogSelector& selector, int64_t mint_ns, int64_t maxt_ns, Order order,
                const logql::EntryVisitor& visit) override;
  bool Ordered() const override { return true; }
  /// From the store's block counts: only blocks across a window's edge are read.
  Result<bool> Count(std::span<const model::Matcher> matchers, std::span<const Window> windows,
                     const CountVisitor& visit) override;

 private:
  colstore::Store& store_;
};

}  // namespace pharos::logs
