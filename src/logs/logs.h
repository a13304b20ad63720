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
//     GET/POST /loki/api/v1/query_range log queries (a stream selector and line filters):
//                                       start, end, limit (100), direction (backward)
//     GET/POST /loki/api/v1/query       the same at one instant (time, limit, direction)
//     GET /loki/api/v1/labels, /loki/api/v1/label/<name>/values, /loki/api/v1/series
//                                       start, end (the last hour by default), query/match[]
//   in Loki's JSON shapes (nanosecond timestamps as strings). Errors are Loki's: plain
//   text with the status code.
// - LogQL today: a stream selector and any number of line filters (|=, !=, |~, !~); every
//   other stage and metric queries are refused with a message naming them.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "colstore/colstore.h"
#include "common/services.h"
#include "model/model.h"
#include "selfmon/metrics.h"
#include "server/server.h"

namespace re2 {
class RE2;
}

namespace pharos::logs {

struct Options {
  std::string dir;
  Env* env = DefaultEnv();
  Duration retention = std::chrono::hours(24 * 15);
  uint64_t max_bytes = 0;
  colstore::Limits limits;
};

/// The log store; as a model::LogsSink it takes OTLP logs (HTTP and gRPC), mapped as
/// Loki 3's OTLP endpoint maps them: the resource attributes Loki indexes by default
/// (service.name, service.namespace, service.instance.id, deployment.environment, cloud and
/// k8s names) become stream labels with '.' as '_' (service_name="unknown_service" when
/// absent); the line is the body (a string as it is, other values as JSON); severity_text,
/// trace_id and span_id (hex), the scope's name and version, every other resource
/// attribute and every log attribute become structured metadata (names with '.' as '_').
class Store : public model::LogsSink {
 public:
  static Result<std::unique_ptr<Store>> Open(const Options& options, selfmon::Registry& registry);
  colstore::Store& records() { return *records_; }
  Status Close() { return records_->Close(); }
  Status AppendOtlpLogs(std::span<const model::ResourceLogs> logs,
                        model::LogsAppendResult& result) override;

 private:
  std::unique_ptr<colstore::Store> records_;
};

void RegisterRoutes(server::Router& router, const Services& services, selfmon::Registry& registry);

// ---- LogQL ----

struct LineFilter {
  enum class Op { kContains, kNotContains, kRegex, kNotRegex };
  Op op = Op::kContains;
  std::string text;
  std::shared_ptr<const re2::RE2> re;  // for the regex ops
  bool Matches(std::string_view line) const;
};

struct LogQuery {
  std::vector<model::Matcher> selector;
  std::vector<LineFilter> filters;
};

/// Parses `{selector} |= "a" != "b" |~ "c"`; errors name the position and what was found.
Result<LogQuery> ParseLogQuery(std::string_view text);

}  // namespace pharos::logs
