// traces: Pharos's trace store (a colstore of spans) and the Jaeger and Tempo query APIs on
// it.
//
// Contract:
// - Store::Open opens (or creates) the trace store under Options::dir. Spans arrive as OTLP
//   (model::SpansSink, from OTLP/HTTP and gRPC) and are kept with every field of FIELDS.md
//   section 3: a span is a record of the stream {service_name, span_name, span_kind} at
//   its start time, with its ids, duration, status and scope as columns, each scalar
//   attribute as a typed column `span.<key>` or `resource.<key>`, and whatever has no
//   column (events, links, attributes holding bools, bytes, arrays or maps, scope
//   attributes, dropped counts of resource and scope) as one OTLP-encoded column. Reading a
//   span back gives the span that arrived (attributes in another order).
// - A span is refused, counted (pharos_traces_refused_total{reason}) and named in the
//   result, never silently dropped, when its trace id is not 16 bytes or all zero, its span
//   id not 8 bytes or all zero, its parent id neither empty nor 8 bytes, it has no start
//   time, or it is over Limits. Acknowledged spans survive kill -9 (colstore's contract).
// - FindTrace reads only the blocks whose filter may hold the trace id (the trace-id
//   index); Search scans newest first and stops at its limit of traces.
// - RegisterRoutes serves, once a traces::Store is published in `services` (503 before),
//   with the read scope:
//     Jaeger's query API (what the Jaeger UI and Grafana's Jaeger data source call), in
//     Jaeger's JSON ({"data":...,"total":...,"limit":0,"offset":0,"errors":null}):
//       GET /api/services, /api/services/{service}/operations, /api/operations
//       GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=
//           &lookback=&limit=   (start and end in microseconds, durations in Go's syntax)
//       GET /api/traces/{id}, /api/dependencies?endTs=&lookback= (milliseconds)
//     Tempo's (Grafana's Tempo data source):
//       GET /api/traces/{id}    with Accept: application/protobuf, Tempo's Trace message;
//                               otherwise Jaeger's JSON (the Jaeger UI shares the path)
//       GET /api/v2/traces/{id} {"trace":{"resourceSpans":[...]}} in OTLP JSON, or
//                               TraceByIDResponse in protobuf by Accept
//       GET /api/search     TraceQL in `q` (docs/traceql-compat.md) or the older `tags`
//                           (logfmt), minDuration, maxDuration; start and end in Unix
//                           seconds (the last hour by default), limit (20), spss (3)
//       GET /api/search/tags, /api/v2/search/tags, /api/search/tag/{tag}/values,
//           /api/v2/search/tag/{tag}/values   from the newest 10,000 spans in the range
//       GET /api/echo, /api/status/buildinfo
// - MetricsGenerator (in front of the store as the published model::SpansSink) turns every
//   span into span metrics and service graph series in the metrics store (see the class).
// - Every method is safe for concurrent use.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "colstore/colstore.h"
#include "common/mutex.h"
#include "common/services.h"
#include "common/status.h"
#include "model/model.h"
#include "selfmon/metrics.h"
#include "server/server.h"

namespace re2 {
class RE2;
}

namespace pharos::traces {

/// The labels of a span's stream.
inline constexpr char kServiceLabel[] = "service_name";
inline constexpr char kNameLabel[] = "span_name";
inline constexpr char kKindLabel[] = "span_kind";

/// Jaeger's name of an OTLP span kind ("server", "client", "producer", "consumer",
/// "internal"; "unspecified" for 0 and for numbers OTLP does not define).
std::string_view KindName(int32_t kind);

struct Limits {
  uint32_t max_attributes_per_span = 128;    // the OpenTelemetry SDKs' default limit
  uint32_t max_attribute_bytes = 64 * 1024;  // a key and its value
  uint32_t max_span_bytes = 1 << 20;         // everything a span stores
  uint64_t max_streams = 100'000;            // services x operations x kinds in the head
};

struct Options {
  std::string dir;
  Env* env = DefaultEnv();
  Duration retention = std::chrono::hours(24 * 15);
  uint64_t max_bytes = 0;  // 0: no size limit
  uint64_t head_max_bytes = 64ULL << 20;
  /// How often the store cuts an old head, merges segments and applies retention.
  Duration maintenance_interval = std::chrono::seconds(10);
  Limits limits;
  std::function<int64_t()> now_ns;  // the clock; the wall clock when empty
};

/// A trace as stored: its spans grouped by resource and scope, each group's spans in start
/// order.
struct Trace {
  std::vector<model::ResourceSpans> groups;
  uint64_t spans = 0;
  int64_t start_ns = 0;  // the earliest start
  int64_t end_ns = 0;    // the latest end
};

struct SearchQuery {
  std::string service;    // "": any
  std::string operation;  // "": any
  std::string span_kind;  // "": any (KindName's words)
  /// Each must hold on one span: a span or resource attribute whose value prints as this
  /// text, or error=true|false, span.kind, otel.status_code (OK, ERROR, UNSET) and
  /// otel.status_description, as Jaeger shows OTLP spans.
  std::vector<std::pair<std::string, std::string>> tags;
  int64_t min_duration_ns = 0;  // 0: no bound
  int64_t max_duration_ns = 0;  // 0: no bound
  int64_t mint_ns = INT64_MIN;
  int64_t maxt_ns = INT64_MAX;
  size_t limit = 20;  // traces
};

struct Operation {
  std::string name;
  std::string span_kind;  // KindName's words
};

class Store : public model::SpansSink {
 public:
  static Result<std::unique_ptr<Store>> Open(const Options& options, selfmon::Registry& registry);
  ~Store() override;

  Status AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                         model::RecordsAppendResult& result) override;

  /// The spans of the trace `trace_id` (16 raw bytes) that start in [mint_ns, maxt_ns]; a
  /// trace without any has no groups.
  Result<Trace> FindTrace(std::string_view trace_id, int64_t mint_ns = INT64_MIN,
                          int64_t maxt_ns = INT64_MAX);
  /// The ids (raw) of up to `limit` traces with a span that matches, the trace of the newest
  /// such span first.
  Result<std::vector<std::string>> Search(const SearchQuery& query);
  /// Decodes the spans that start in [mint_ns, maxt_ns] in the streams matching `streams`,
  /// newest first, until `visit` returns false.
  Status ScanSpans(std::span<const model::Matcher> streams, int64_t mint_ns, int64_t maxt_ns,
                   const std::function<bool(const model::Resource&, const model::Span&)>& visit);
  /// Services with spans in the range, sorted.
  Result<std::vector<std::string>> Services(int64_t mint_ns = INT64_MIN,
                                            int64_t maxt_ns = INT64_MAX);
  /// A service's operations (span names and kinds) with spans in the range, sorted.
  Result<std::vector<Operation>> Operations(std::string_view service, int64_t mint_ns = INT64_MIN,
                                            int64_t maxt_ns = INT64_MAX);
  /// Calls between services in [mint_ns, maxt_ns]: (parent service, child service) ->
  /// calls, from spans whose parent span is in the range and of another service. Reads at
  /// most `max_spans` spans (ResourceExhausted beyond, naming the limit).
  Result<std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>>> Dependencies(
      int64_t mint_ns, int64_t maxt_ns, uint64_t max_spans = 5'000'000);

  int64_t NowNs() const;
  colstore::Store& spans() { return *spans_; }
  Status Close() { return spans_->Close(); }

 private:
  struct Counters;
  Store() = default;
  Options options_;
  std::unique_ptr<Counters> counters_;
  std::unique_ptr<colstore::Store> spans_;
};

/// What MetricsGenerator computes and how often it writes.
struct GeneratorOptions {
  /// How often the series are written to the metrics store (0: never; tests call Flush).
  Duration flush_interval = std::chrono::seconds(15);
  /// Histogram bounds in seconds: the spanmetrics connector's defaults.
  std::vector<double> buckets = {0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2,
                                 0.4,   0.8,   1,     1.4,   2,    5,    10,  15};
  /// Span metric series (service x span name x kind x status) kept; more are dropped.
  size_t max_series = 10'000;
  /// Service graph: how long a client or server span waits for its other half, and how
  /// many may wait at once (Tempo's metrics-generator defaults).
  Duration edge_wait = std::chrono::seconds(10);
  size_t max_pending_edges = 10'000;
  std::function<int64_t()> now_ns;  // the clock; the wall clock when empty
};

/// Span metrics and the service graph, computed from every span as it arrives (before any
/// sampling drops it), then passed on to `next` (the store). Every flush_interval it writes
/// cumulative series to the model::MetricsSink published in `services`:
/// - as the OpenTelemetry Collector's spanmetrics connector names them:
///   traces_span_metrics_calls_total and traces_span_metrics_duration_seconds (a
///   histogram: _bucket with le, _sum, _count) by service_name, span_name, span_kind
///   (SPAN_KIND_SERVER ...) and status_code (STATUS_CODE_ERROR ...);
/// - as Tempo's metrics-generator names the service graph: traces_service_graph_request_total,
///   traces_service_graph_request_failed_total and the histograms
///   traces_service_graph_request_client_seconds and ..._server_seconds by client and server
///   (and connection_type="messaging_system" for producer and consumer), one request per
///   client (producer) span whose server (consumer) child arrives within edge_wait.
/// Each flush also leaves, for each span metric series that counted spans since the last
/// one, its slowest span (trace_id and span_id) as an exemplar on the duration bucket it
/// fell in, in the model::ExemplarSink published in `services` (when there is one), so a
/// latency panel links to a trace. Memory is bounded by max_series and max_pending_edges;
/// what they drop is counted (pharos_traces_generator_dropped_total{reason}). Thread-safe.
class MetricsGenerator : public model::SpansSink {
 public:
  MetricsGenerator(const Services& services, selfmon::Registry& registry, GeneratorOptions options,
                   model::SpansSink& next);
  ~MetricsGenerator() override;
  Status AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                         model::RecordsAppendResult& result) override;
  /// Counts the spans (AppendOtlpSpans does, then passes them on).
  void Observe(std::span<const model::ResourceSpans> spans);
  /// Writes every series now (and expires edges waiting longer than edge_wait).
  Status Flush();

 private:
  struct Histogram {
    std::vector<uint64_t> counts;  // per bucket, +Inf last
    double sum = 0;
    uint64_t count = 0;
    void Observe(double seconds, std::span<const double> bounds);
  };
  struct Pick {  // the slowest span of a series since the last flush: its exemplar
    bool set = false;
    double seconds = 0;
    int64_t t_ms = 0;
    std::string trace_id, span_id;  // hex
  };
  struct SpanSeries {
    std::string service, name, kind, status;
    Histogram duration;
    Pick exemplar;
  };
  struct Half {  // a client or server span waiting for the other
    std::string service;
    double seconds;
    bool failed;
    bool client;
    bool messaging;
    int64_t seen_ns;
  };
  struct Edge {
    std::string client, server;
    bool messaging = false;
    uint64_t requests = 0, failed = 0;
    Histogram client_seconds, server_seconds;
  };
  int64_t NowNs() const;

  const Services& services_;
  GeneratorOptions options_;
  model::SpansSink& next_;
  selfmon::Family<selfmon::Counter>& dropped_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ PHAROS_GUARDED_BY(mu_) = false;
  std::map<std::string, SpanSeries> calls_ PHAROS_GUARDED_BY(mu_);
  std::unordered_map<std::string, Half> pending_ PHAROS_GUARDED_BY(mu_);
  std::map<std::string, Edge> edges_ PHAROS_GUARDED_BY(mu_);
  std::thread flusher_;
};

/// One tail sampling policy, as the OpenTelemetry Collector's tail_sampling processor
/// configures it (`type` and the section of that name).
struct SamplingPolicy {
  enum class Type {
    kAlwaysSample,
    kLatency,
    kStatusCode,
    kStringAttribute,
    kNumericAttribute,
    kProbabilistic,
    kRateLimiting,
    kAnd
  };
  std::string name;
  Type type = Type::kAlwaysSample;
  int64_t threshold_ms = 0, upper_threshold_ms = 0;       // latency (0: no upper bound)
  std::vector<int32_t> status_codes;                      // status_code (ERROR 2, OK 1, UNSET 0)
  std::string key;                                        // string and numeric attributes
  std::vector<std::string> values;                        // string_attribute
  bool regex = false;                                     // enabled_regex_matching
  std::vector<std::shared_ptr<const re2::RE2>> patterns;  // the values, compiled
  int64_t min_value = INT64_MIN, max_value = INT64_MAX;   // numeric_attribute
  bool invert = false;                                    // invert_match
  double percentage = 0;                                  // probabilistic
  std::string salt;                                       // hash_salt
  int64_t spans_per_second = 0;                           // rate_limiting
  std::vector<SamplingPolicy> sub;                        // and_sub_policy
};

struct SamplingOptions {
  Duration decision_wait = std::chrono::seconds(30);  // the Collector's default
  uint64_t num_traces = 50'000;
  std::vector<SamplingPolicy> policies;
  std::function<int64_t()> now_ns;  // the clock; the wall clock when empty
};

/// Parses the Collector's tail_sampling keys (decision_wait, num_traces, policies with
/// always_sample, latency, status_code, string_attribute, numeric_attribute,
/// probabilistic, rate_limiting and `and`); any other key or policy type is refused,
/// naming its path (traces.tail_sampling.policies[2].type).
Result<SamplingOptions> ParseTailSampling(std::string_view yaml);

/// Tail sampling in front of the store: a trace's spans wait decision_wait after its first
/// span arrives, then the policies decide on the whole trace (sampled when a policy
/// samples it and no inverted match refuses it, as the Collector decides) and a sampled
/// trace goes to `next`; spans that arrive after the decision follow it. At most num_traces
/// traces wait: beyond, the oldest are dropped undecided. Every decision and drop is
/// counted (pharos_traces_sampling_traces_total{decision},
/// pharos_traces_sampling_late_spans_total{decision}). Spans wait in memory: what is
/// acknowledged is stored only once sampled (a kill -9 loses the traces waiting), as with
/// the Collector. Thread-safe.
class TailSampler : public model::SpansSink {
 public:
  TailSampler(SamplingOptions options, selfmon::Registry& registry, model::SpansSink& next);
  ~TailSampler() override;
  Status AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                         model::RecordsAppendResult& result) override;
  /// Decides every trace that has waited decision_wait by `now_ns` (a background thread
  /// calls it every 200 ms; tests call it).
  void Decide(int64_t now_ns);
  /// Traces waiting.
  size_t Pending();

 private:
  struct Grouped {  // spans by resource and scope, as they arrived
    std::vector<model::ResourceSpans> groups;
    uint64_t export_id = 0;
    const model::ResourceSpans* resource = nullptr;
    const model::ScopeSpans* scope = nullptr;
  };
  struct PendingTrace {
    int64_t first_seen_ns = 0;
    uint64_t spans = 0;
    Grouped spans_by_group;
  };
  struct RateWindow {
    int64_t second = 0;
    int64_t spans = 0;
  };
  enum class Verdict { kSampled, kNotSampled, kInvertSampled, kInvertNotSampled };
  struct TraceFacts {
    const std::string* trace_id;
    const std::vector<model::ResourceSpans>* groups;
    uint64_t spans;
    int64_t now_ns, start_ns, end_ns;
  };
  Verdict Judge(const SamplingPolicy& policy, const TraceFacts& trace) PHAROS_REQUIRES(mu_);
  static void Add(Grouped& into, uint64_t export_id, const model::ResourceSpans& rs,
                  const model::ScopeSpans& ss, const model::Span& span);
  void Remember(const std::string& trace_id, bool sampled) PHAROS_REQUIRES(mu_);
  bool Sample(const std::string& trace_id, const std::vector<model::ResourceSpans>& groups,
              uint64_t spans, int64_t now_ns) PHAROS_REQUIRES(mu_);
  int64_t NowNs() const;

  SamplingOptions options_;
  model::SpansSink& next_;
  selfmon::Family<selfmon::Counter>& traces_;
  selfmon::Family<selfmon::Counter>& late_spans_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ PHAROS_GUARDED_BY(mu_) = false;
  uint64_t exports_ PHAROS_GUARDED_BY(mu_) = 0;
  std::unordered_map<std::string, PendingTrace> pending_ PHAROS_GUARDED_BY(mu_);
  std::deque<std::string> order_ PHAROS_GUARDED_BY(mu_);  // pending, oldest first
  std::unordered_map<std::string, bool> decided_ PHAROS_GUARDED_BY(mu_);
  std::deque<std::string> decided_order_ PHAROS_GUARDED_BY(mu_);
  std::map<const SamplingPolicy*, RateWindow> rates_ PHAROS_GUARDED_BY(mu_);
  std::thread decider_;
};

void RegisterRoutes(server::Router& router, const Services& services, selfmon::Registry& registry);

}  // namespace pharos::traces
