// logs/http.h (internal): helpers the Loki API handlers share: Loki's error responses,
// time, range and step parameters, sample JSON, the stream selection of labels/series.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/services.h"
#include "logs/logs.h"
#include "server/server.h"

namespace pharos::logs {

inline constexpr uint64_t kMaxLimit = 5000;  // Loki's max_entries_limit_per_query default
inline constexpr int64_t kMaxQueryLengthNs = int64_t{721} * 3600 * 1'000'000'000;
inline constexpr int64_t kMaxPoints = 11'000;  // per series of a range query

/// Loki's errors: plain text with the status code.
server::Response LokiError(int status, std::string_view message);
/// RFC 3339, nanoseconds (16 to 19 digits) or seconds with a fraction.
Result<int64_t> ParseLokiTime(std::string_view text);

struct Range {
  int64_t start_ns, end_ns;
};
/// `start` and `end`: the last hour by default.
Status ParseRange(const server::Request& req, Range& range);
/// Loki's max_query_length (721h) over a range, refused with Loki's text.
Status CheckQueryLength(const Range& range);
/// A log query's `limit` (`fallback` when absent): a positive integer up to kMaxLimit,
/// refused with Loki's texts.
Result<uint64_t> ParseLimit(const server::Request& req, uint64_t fallback);
void AppendStatsJson(std::string& out, uint64_t lines, uint64_t bytes, double seconds);
/// Seconds with up to millisecond precision, as Loki prints sample times.
void AppendSampleTime(std::string& out, int64_t ns);
void AppendSample(std::string& out, int64_t ns, double v);
/// The HTTP status of a query error.
int StatusFor(const Status& s);
/// A range query's step: a duration ("15s") or seconds ("15", "0.5").
Result<int64_t> ParseStep(std::string_view text);
/// A range request's step in nanoseconds: its `step`, else (end - start) / 250 in whole
/// seconds and at least 1 s; refused with Loki's text past kMaxPoints points per series.
Result<int64_t> RangeStep(const server::Request& req, const Range& range);
/// The matchers of `query` or each match[], none when absent.
Status SelectorParams(const server::Request& req, std::vector<std::vector<model::Matcher>>& sets);
/// The streams the request's selectors match in its range, sorted, each once.
Result<std::vector<model::Labels>> MatchingStreams(const server::Request& req, Store& store);
void StringList(server::Response& resp, const std::vector<std::string>& items);
/// A log query's streams as Loki's JSON array: [{"stream":{...},"values":[["<ns>","line"]]}];
/// with `categorize`, each value gains {"structuredMetadata":{...},"parsed":{...}}.
void AppendStreamsJson(std::string& out, const std::vector<logql::Stream>& streams,
                       bool categorize);

/// Wraps a handler that needs the log store: 503 with Retry-After until it is published.
template <typename Fn>
auto WhenStoreReady(const Services& services, Fn fn) {
  return server::WhenReady<Store>(services, "the log store is recovering; retry shortly",
                                  std::move(fn));
}

/// /loki/api/v1/index/stats, index/volume, index/volume_range, detected_labels and
/// status/buildinfo.
void RegisterIndexRoutes(server::Router& router, const Services& services);
/// /loki/api/v1/tail (tail.cc).
void RegisterTailRoute(server::Router& router, const Services& services);

}  // namespace pharos::logs
