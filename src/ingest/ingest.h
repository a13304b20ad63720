// ingest: receivers that decode wire formats into TSDB appends.
//
// Contract: decoders are pure functions over a request body (already decoded from its
// Content-Encoding by the server) that fill reusable output structures with views into
// the body; they never allocate per label and reject malformed input with InvalidArgument
// naming the field. RegisterRoutes() adds the HTTP endpoints; their handlers are
// thread-safe and answer as the protocol they speak expects (remote_write: 204, 400 with
// the reasons, 415, 429/503 with Retry-After).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/services.h"
#include "common/status.h"
#include "model/model.h"
#include "selfmon/metrics.h"
#include "server/server.h"

namespace pharos::ingest {

/// A decoded batch: flat label and sample arrays and the series that slice them.
struct DecodedBatch {
  std::vector<model::LabelView> labels;
  std::vector<model::Sample> samples;
  std::vector<model::SeriesInput> series;
  uint64_t histograms = 0;  // native histogram samples seen (not stored yet)
  uint64_t exemplars = 0;
  uint64_t metadata = 0;

  void Clear();
  /// Gives back the memory of a huge request (kept for ordinary ones, which reuse it).
  void Trim();
  /// Builds `series` spans once the flat arrays stop growing.
  void Seal();
  // Offsets per series while decoding: label begin/end, sample begin/end.
  struct Range {
    uint32_t label_begin, label_end, sample_begin, sample_end;
  };
  std::vector<Range> ranges;
};

/// Decodes a Prometheus remote_write 1.0 WriteRequest (protobuf, after snappy).
Status DecodeWriteRequest(std::string_view body, DecodedBatch& out);

/// Decodes an OTLP ExportTraceServiceRequest (protobuf, or OTLP JSON with `json`): every
/// field of FIELDS.md section 3 kept as it arrived (ids unchecked: the store validates).
Status DecodeOtlpTraces(std::string_view body, bool json, std::vector<model::ResourceSpans>& out);

/// Decodes Zipkin v2 JSON (an array of spans) into OTLP's model as the OpenTelemetry
/// Collector's zipkin receiver maps it (see zipkin.cc), grouped by local service.
Status DecodeZipkinSpans(std::string_view body, std::vector<model::ResourceSpans>& out);

/// Text exposition formats.
enum class TextFormat {
  kPrometheus,   // text/plain; version=0.0.4: lenient, comments and blank lines allowed
  kOpenMetrics,  // application/openmetrics-text; version=1.0.0: strict, ends with # EOF
};

enum class MetricType {
  kUnknown,
  kCounter,
  kGauge,
  kHistogram,
  kGaugeHistogram,
  kSummary,
  kInfo,
  kStateSet
};

struct FamilyMetadata {
  std::string name;
  MetricType type = MetricType::kUnknown;
  std::string help;
  std::string unit;
};

/// A parsed exposition: every sample as one series of `batch` (labels include __name__),
/// plus the metadata of each family. Unescaped label values live in `storage`.
struct TextBatch {
  DecodedBatch batch;
  std::vector<FamilyMetadata> families;
  std::vector<std::unique_ptr<std::string>> storage;
  uint64_t exemplars = 0;
  void Clear();
};

/// Parses a text exposition. Samples without a timestamp get `default_timestamp_ms`.
/// Errors name the line. OpenMetrics syntax (line forms, metadata, labels, numbers,
/// exemplars, # EOF) is always enforced; with `strict` the semantic rules of the 1.0
/// specification are too (family grouping and name clashes, per-type suffixes and value
/// rules, histogram consistency, timestamp order, where exemplars may appear). Scrapes and
/// imports are not strict, as Prometheus's own parser is not: real exporters publish
/// negative histogram sums and the like.
Status ParseText(std::string_view text, TextFormat format, int64_t default_timestamp_ms,
                 TextBatch& out, bool strict = false);

/// The format a Content-Type names (OpenMetrics for application/openmetrics-text).
TextFormat TextFormatFor(std::string_view content_type);

struct Options {
  /// Concurrent write requests beyond this get 429 with Retry-After.
  uint32_t max_concurrent_writes = 64;
};

/// The HTTP receivers and what they share: one set of ingest metrics, one cap on
/// concurrent writes across every endpoint and listener, and one table of running totals
/// that turns OTLP delta points into cumulative series whichever listener they arrive on.
/// Create one per server and register its routes on every router that serves them; the
/// handlers keep the shared state alive. Writes go to the model::MetricsSink published in
/// `services` (which must outlive the receivers); until there is one they get 503 with
/// Retry-After.
class Receivers {
 public:
  Receivers(const Services& services, selfmon::Registry& registry, const Options& options);

  /// POST /api/v1/write (remote_write 1.0), POST /api/v1/import/prometheus (text
  /// formats; `timestamp` gives samples without one a time) and POST /api/v2/spans
  /// (Zipkin v2 JSON; 202).
  void RegisterRoutes(server::Router& router) const;
  /// POST /v1/metrics, /v1/logs and /v1/traces (OTLP/HTTP, protobuf or JSON by Content-Type,
  /// answered in the same encoding with partial success).
  void RegisterOtlpRoutes(server::Router& router) const;

  /// What became of one OTLP metrics export, whatever carried it (HTTP or gRPC).
  struct ExportOutcome {
    enum class Kind {
      kStored,       // stored, maybe with some points rejected (partial success)
      kInvalid,      // undecodable: can never be accepted
      kNotReady,     // storage still recovering: retry shortly
      kBusy,         // over the cap on concurrent writes: retry later
      kUnavailable,  // storage refused the write (WAL error): retry
    };
    Kind kind = Kind::kStored;
    uint64_t rejected = 0;  // points not stored, with kStored
    std::string message;    // why, for every kind but a clean kStored
  };
  /// Decodes an ExportMetricsServiceRequest (protobuf, or OTLP JSON with `json`),
  /// translates it to Prometheus series and appends them; counts it as protocol "otlp".
  /// Blocks on the WAL: call it where blocking is allowed. Thread-safe.
  ExportOutcome ExportOtlpMetrics(std::string_view body, bool json) const;
  /// The same for an ExportLogsServiceRequest, written to the model::LogsSink published in
  /// the services (kNotReady until there is one); counted as protocol "otlp_logs".
  ExportOutcome ExportOtlpLogs(std::string_view body, bool json) const;
  /// The same for an ExportTraceServiceRequest, written to the model::SpansSink published in
  /// the services; counted as protocol "otlp_traces".
  ExportOutcome ExportOtlpTraces(std::string_view body, bool json) const;
  /// The same for Zipkin v2 JSON spans (DecodeZipkinSpans); counted as protocol "zipkin".
  ExportOutcome ExportZipkin(std::string_view body) const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace pharos::ingest
