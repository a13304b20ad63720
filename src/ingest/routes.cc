#include <atomic>
#include <chrono>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "common/varint.h"
#include "ingest/ingest.h"
#include "ingest/otlp.h"

namespace pharos::ingest {
namespace {

struct IngestMetrics {
  explicit IngestMetrics(selfmon::Registry& r)
      : samples(r.AddCounter("pharos_ingest_samples_received_total",
                             "Samples received, by protocol.", {"protocol"})),
        rejected(r.AddCounter("pharos_ingest_samples_rejected_total",
                              "Samples received but not stored, by protocol.", {"protocol"})),
        requests(r.AddCounter("pharos_ingest_requests_total",
                              "Ingest requests, by protocol and outcome.",
                              {"protocol", "outcome"})),
        unsupported(r.AddCounter("pharos_ingest_unsupported_total",
                                 "Items received that Pharos does not store yet, by kind.",
                                 {"kind"})) {
    for (const char* protocol : {"remote_write", "import", "otlp"}) {
      for (const char* outcome : {"ok", "partial", "invalid", "throttled", "unavailable"}) {
        requests.WithLabels({protocol, outcome});
      }
    }
  }
  selfmon::Family<selfmon::Counter>& samples;
  selfmon::Family<selfmon::Counter>& rejected;
  selfmon::Family<selfmon::Counter>& requests;
  selfmon::Family<selfmon::Counter>& unsupported;
};

// Counts a request in flight for the lifetime of the guard.
class InFlight {
 public:
  InFlight(std::atomic<uint32_t>& counter) : counter_(counter), value_(counter.fetch_add(1) + 1) {}
  ~InFlight() { counter_.fetch_sub(1); }
  uint32_t value() const { return value_; }

 private:
  std::atomic<uint32_t>& counter_;
  uint32_t value_;
};

// What every write endpoint checks first: storage is open, and this request stays within
// the cap on concurrent writes (the guard holds its place until the handler returns).
enum class Admission { kAdmitted, kNotReady, kBusy };

}  // namespace

struct Receivers::State {
  State(const Services& services_ref, selfmon::Registry& registry, const Options& opts)
      : services(services_ref), metrics(registry), options(opts) {}

  Admission Admit(std::optional<InFlight>& guard, model::MetricsSink*& out) {
    out = services.Get<model::MetricsSink>();
    if (!out) return Admission::kNotReady;
    guard.emplace(in_flight);
    return guard->value() > options.max_concurrent_writes ? Admission::kBusy : Admission::kAdmitted;
  }

  const Services& services;
  IngestMetrics metrics;
  Options options;
  std::atomic<uint32_t> in_flight{0};
  otlp::DeltaState deltas;
};

Receivers::Receivers(const Services& services, selfmon::Registry& registry, const Options& options)
    : state_(std::make_shared<State>(services, registry, options)) {}

namespace {

server::Response Throttled(std::string message, int status, std::string_view retry_after) {
  server::Response r =
      server::Response::Error(status, status == 429 ? "too_many_requests" : "unavailable", message);
  r.headers.emplace_back("Retry-After", std::string(retry_after));
  return r;
}

// Admits a Prometheus-style write, or answers 503 (storage not ready) or 429 (too many
// writes at once) with Retry-After and returns null.
template <typename Count>
model::MetricsSink* AdmitWrite(Receivers::State& state, std::optional<InFlight>& guard,
                               server::Response& resp, const Count& count) {
  model::MetricsSink* db = nullptr;
  switch (state.Admit(guard, db)) {
    case Admission::kNotReady:
      resp = Throttled("storage is recovering; retry shortly", 503, "1");
      return nullptr;
    case Admission::kBusy:
      count("throttled");
      resp = Throttled(fmt::format("more than {} concurrent write requests; retry later",
                                   state.options.max_concurrent_writes),
                       429, "1");
      return nullptr;
    case Admission::kAdmitted: break;
  }
  return db;
}

}  // namespace

void Receivers::RegisterRoutes(server::Router& router) const {
  std::shared_ptr<State> state = state_;

  router.HandleBlocking(
      server::Method::kPost, "/api/v1/write", config::kScopeWrite,
      [state](const server::Request& req, server::Response& resp) {
        IngestMetrics* metrics = &state->metrics;
        auto count = [&](std::string_view outcome) {
          metrics->requests.WithLabels({"remote_write", outcome}).Inc();
        };
        std::string_view content_type = req.Header("Content-Type").value_or("");
        if (content_type.find("io.prometheus.write.v2.Request") != std::string_view::npos) {
          count("invalid");
          resp = server::Response::Error(
              415, "unsupported_media_type",
              "remote write 2.0 (io.prometheus.write.v2.Request) is not supported yet; send "
              "remote write 1.0 (prometheus.WriteRequest)");
          return;
        }
        std::optional<InFlight> guard;
        model::MetricsSink* db = AdmitWrite(*state, guard, resp, count);
        if (db == nullptr) return;
        thread_local DecodedBatch batch;
        struct TrimAfter {
          DecodedBatch& b;
          ~TrimAfter() { b.Trim(); }
        } trim{batch};
        Status s = DecodeWriteRequest(req.body(), batch);
        if (!s.ok()) {
          count("invalid");
          resp = server::Response::FromStatus(s);
          return;
        }
        metrics->samples.WithLabels({"remote_write"})
            .Inc(static_cast<double>(batch.samples.size()));
        model::AppendResult result;
        s = db->Append(batch.series, result);
        if (!s.ok()) {
          count("unavailable");
          metrics->rejected.WithLabels({"remote_write"})
              .Inc(static_cast<double>(batch.samples.size()));
          resp = Throttled(s.message(), 503, "5");
          return;
        }
        if (batch.histograms) {
          metrics->unsupported.WithLabels({"native_histogram"})
              .Inc(static_cast<double>(batch.histograms));
        }
        uint64_t rejected = result.samples_rejected;
        if (rejected == 0 && result.series_rejected == 0 && batch.histograms == 0) {
          count("ok");
          resp.status = 204;
          resp.body.clear();
          return;
        }
        // Per the spec: 400 when anything was refused, after storing the rest.
        count("partial");
        metrics->rejected.WithLabels({"remote_write"}).Inc(static_cast<double>(rejected));
        std::string message = fmt::format("{} of {} samples rejected", rejected + batch.histograms,
                                          batch.samples.size() + batch.histograms);
        if (batch.histograms) {
          message +=
              fmt::format("; {} native histogram samples are not supported yet", batch.histograms);
        }
        for (const std::string& e : result.errors) message += "; " + e;
        resp = server::Response::Error(400, "bad_data", message);
      },
      "/api/v1/write");

  // Bulk loading in the text exposition formats (VictoriaMetrics's path and semantics):
  // samples without a timestamp get ?timestamp= (Unix seconds or RFC 3339) or now.
  router.HandleBlocking(
      server::Method::kPost, "/api/v1/import/prometheus", config::kScopeWrite,
      [state](const server::Request& req, server::Response& resp) {
        IngestMetrics* metrics = &state->metrics;
        auto count = [&](std::string_view outcome) {
          metrics->requests.WithLabels({"import", outcome}).Inc();
        };
        std::optional<InFlight> guard;
        model::MetricsSink* db = AdmitWrite(*state, guard, resp, count);
        if (db == nullptr) return;
        int64_t default_ts = db->NowMs();
        if (auto ts = req.QueryParam("timestamp"); ts && !ts->empty()) {
          Result<int64_t> parsed = ParseTimestampMs(*ts);
          if (!parsed.ok()) {
            count("invalid");
            resp = server::Response::Error(
                400, "bad_data",
                fmt::format("invalid parameter \"timestamp\": {}", parsed.status().message()));
            return;
          }
          default_ts = *parsed;
        }
        thread_local TextBatch batch;
        struct TrimAfter {
          DecodedBatch& b;
          ~TrimAfter() { b.Trim(); }
        } trim{batch.batch};
        Status s = ParseText(req.body(), TextFormatFor(req.Header("Content-Type").value_or("")),
                             default_ts, batch);
        if (!s.ok()) {
          count("invalid");
          resp = server::Response::FromStatus(s);
          return;
        }
        metrics->samples.WithLabels({"import"})
            .Inc(static_cast<double>(batch.batch.samples.size()));
        model::AppendResult result;
        s = db->Append(batch.batch.series, result);
        if (!s.ok()) {
          count("unavailable");
          resp = Throttled(s.message(), 503, "5");
          return;
        }
        if (result.samples_rejected == 0) {
          count("ok");
          resp.status = 204;
          resp.body.clear();
          return;
        }
        count("partial");
        metrics->rejected.WithLabels({"import"}).Inc(static_cast<double>(result.samples_rejected));
        std::string message = fmt::format("{} of {} samples rejected", result.samples_rejected,
                                          batch.batch.samples.size());
        for (const std::string& e : result.errors) message += "; " + e;
        resp = server::Response::Error(400, "bad_data", message);
      },
      "/api/v1/import/prometheus");
  // Zipkin's v2 collector endpoint (JSON): 202 once stored; what the store refused is
  // counted and described in the body (Zipkin's clients read only the status).
  Receivers self = *this;
  router.HandleBlocking(
      server::Method::kPost, "/api/v2/spans", config::kScopeWrite,
      [self](const server::Request& req, server::Response& resp) {
        std::string_view type = req.Header("Content-Type").value_or("application/json");
        if (type.substr(0, 16) != "application/json") {
          resp = server::Response::Text(
              415,
              fmt::format("unsupported Content-Type \"{}\": send Zipkin v2 JSON "
                          "(application/json)\n",
                          type),
              "text/plain; charset=utf-8");
          return;
        }
        using Kind = ExportOutcome::Kind;
        ExportOutcome outcome = self.ExportZipkin(req.body());
        switch (outcome.kind) {
          case Kind::kStored:
            resp = server::Response::Text(202, "", "text/plain");
            if (outcome.rejected) {
              resp.content_type = "application/json";
              resp.body = fmt::format(R"({{"rejected":{},"error":)", outcome.rejected);
              AppendJsonString(resp.body, outcome.message);
              resp.body += '}';
            }
            return;
          case Kind::kInvalid:
            resp = server::Response::Text(400, outcome.message + "\n", "text/plain; charset=utf-8");
            return;
          case Kind::kNotReady:
          case Kind::kUnavailable: resp = Throttled(outcome.message, 503, "5"); return;
          case Kind::kBusy: resp = Throttled(outcome.message, 429, "1"); return;
        }
      });
}

namespace {

// A google.rpc.Status body in the request's encoding.
server::Response OtlpError(int http_status, int grpc_code, const std::string& message, bool json) {
  server::Response r;
  r.status = http_status;
  if (json) {
    r.content_type = "application/json";
    r.body = fmt::format("{{\"code\":{},\"message\":", grpc_code);
    AppendJsonString(r.body, message);
    r.body += '}';
  } else {
    r.content_type = "application/x-protobuf";
    r.body.push_back(0x08);
    PutUvarint(r.body, static_cast<uint64_t>(grpc_code));
    r.body.push_back(0x12);
    PutUvarint(r.body, message.size());
    r.body += message;
  }
  return r;
}

// ExportMetricsServiceResponse, with partial_success only when something was rejected.
// `rejected_field` is the JSON name of the partial success's count: rejectedDataPoints
// (metrics), rejectedLogRecords (logs). In protobuf both are field 1.
server::Response OtlpSuccess(uint64_t rejected, const std::string& message, bool json,
                             std::string_view rejected_field) {
  server::Response r;
  r.status = 200;
  if (json) {
    r.content_type = "application/json";
    if (rejected == 0) {
      r.body = "{}";
    } else {
      r.body = fmt::format("{{\"partialSuccess\":{{\"{}\":\"{}\",\"errorMessage\":", rejected_field,
                           rejected);
      AppendJsonString(r.body, message);
      r.body += "}}";
    }
  } else {
    r.content_type = "application/x-protobuf";
    if (rejected) {
      std::string partial;
      partial.push_back(0x08);
      PutUvarint(partial, rejected);
      partial.push_back(0x12);
      PutUvarint(partial, message.size());
      partial += message;
      r.body.push_back(0x0a);
      PutUvarint(r.body, partial.size());
      r.body += partial;
    }
  }
  return r;
}

}  // namespace

Receivers::ExportOutcome Receivers::ExportOtlpMetrics(std::string_view body, bool json) const {
  using Kind = ExportOutcome::Kind;
  State& state = *state_;
  IngestMetrics* metrics = &state.metrics;
  auto count = [&](std::string_view outcome) {
    metrics->requests.WithLabels({"otlp", outcome}).Inc();
  };
  std::optional<InFlight> guard;
  model::MetricsSink* db = nullptr;
  switch (state.Admit(guard, db)) {
    case Admission::kNotReady:
      count("unavailable");
      return {Kind::kNotReady, 0, "storage is recovering; retry shortly"};
    case Admission::kBusy:
      count("throttled");
      return {Kind::kBusy, 0,
              fmt::format("more than {} concurrent write requests; retry later",
                          state.options.max_concurrent_writes)};
    case Admission::kAdmitted: break;
  }
  thread_local otlp::Request request;
  Status s = json ? otlp::DecodeJson(body, request) : otlp::DecodeProto(body, request);
  if (!s.ok()) {
    count("invalid");
    return {Kind::kInvalid, 0, s.message()};
  }
  otlp::TranslateResult translated;
  otlp::Translate(request, state.deltas, translated);
  metrics->samples.WithLabels({"otlp"}).Inc(static_cast<double>(translated.points));
  std::vector<std::vector<model::LabelView>> views(translated.series.size());
  std::vector<model::SeriesInput> batch(translated.series.size());
  for (size_t i = 0; i < translated.series.size(); ++i) {
    for (const model::Label& l : translated.series[i].labels) views[i].push_back({l.name, l.value});
    batch[i] = model::SeriesInput{views[i],
                                  std::span<const model::Sample>(&translated.series[i].sample, 1)};
  }
  model::AppendResult result;
  s = db->Append(batch, result);
  if (!s.ok()) {
    count("unavailable");
    return {Kind::kUnavailable, 0, s.message()};
  }
  ExportOutcome out;
  out.rejected = translated.rejected_points + result.samples_rejected;
  for (const std::string& e : translated.errors) {
    out.message += (out.message.empty() ? "" : "; ") + e;
  }
  for (const std::string& e : result.errors) out.message += (out.message.empty() ? "" : "; ") + e;
  if (out.rejected) {
    metrics->rejected.WithLabels({"otlp"}).Inc(static_cast<double>(out.rejected));
    count("partial");
  } else {
    count("ok");
  }
  return out;
}

namespace {

// An OTLP export of records (logs or spans) into the sink `Sink` published in the services:
// decode into `Groups`, append, and tell what became of it. Counted as `protocol`.
template <typename Sink, typename Groups, typename Decode, typename Append>
Receivers::ExportOutcome ExportRecords(Receivers::State& state, std::string_view protocol,
                                       std::string_view store, std::string_view body, bool json,
                                       Decode decode, Append append) {
  using Kind = Receivers::ExportOutcome::Kind;
  auto count = [&](std::string_view outcome) {
    state.metrics.requests.WithLabels({protocol, outcome}).Inc();
  };
  Sink* sink = state.services.Get<Sink>();
  if (sink == nullptr) {
    count("unavailable");
    return {Kind::kNotReady, 0, fmt::format("the {} is recovering; retry shortly", store)};
  }
  InFlight guard(state.in_flight);
  if (guard.value() > state.options.max_concurrent_writes) {
    count("throttled");
    return {Kind::kBusy, 0,
            fmt::format("more than {} concurrent write requests; retry later",
                        state.options.max_concurrent_writes)};
  }
  Groups groups;
  Status s = decode(body, json, groups);
  if (!s.ok()) {
    count("invalid");
    return {Kind::kInvalid, 0, s.message()};
  }
  model::RecordsAppendResult result;
  s = append(*sink, groups, result);
  if (!s.ok()) {
    count("unavailable");
    return {Kind::kUnavailable, 0, s.message()};
  }
  Receivers::ExportOutcome out;
  out.rejected = result.rejected;
  for (const std::string& e : result.errors) out.message += (out.message.empty() ? "" : "; ") + e;
  count(out.rejected ? "partial" : "ok");
  return out;
}

}  // namespace

Receivers::ExportOutcome Receivers::ExportOtlpLogs(std::string_view body, bool json) const {
  return ExportRecords<model::LogsSink, std::vector<model::ResourceLogs>>(
      *state_, "otlp_logs", "log store", body, json, otlp::DecodeLogs,
      [](model::LogsSink& sink, const auto& logs, model::RecordsAppendResult& result) {
        return sink.AppendOtlpLogs(logs, result);
      });
}

Receivers::ExportOutcome Receivers::ExportOtlpTraces(std::string_view body, bool json) const {
  return ExportRecords<model::SpansSink, std::vector<model::ResourceSpans>>(
      *state_, "otlp_traces", "trace store", body, json, otlp::DecodeTraces,
      [](model::SpansSink& sink, const auto& spans, model::RecordsAppendResult& result) {
        return sink.AppendOtlpSpans(spans, result);
      });
}

Receivers::ExportOutcome Receivers::ExportZipkin(std::string_view body) const {
  return ExportRecords<model::SpansSink, std::vector<model::ResourceSpans>>(
      *state_, "zipkin", "trace store", body, true,
      [](std::string_view b, bool, std::vector<model::ResourceSpans>& out) {
        return DecodeZipkinSpans(b, out);
      },
      [](model::SpansSink& sink, const auto& spans, model::RecordsAppendResult& result) {
        return sink.AppendOtlpSpans(spans, result);
      });
}

namespace {

// POST `path`: an OTLP/HTTP export, protobuf or JSON by Content-Type, answered in the same
// encoding with partial success and the status codes the OTLP/HTTP specification gives.
void RegisterOtlpExport(server::Router& router, const std::string& path,
                        std::string_view rejected_field, IngestMetrics* metrics,
                        std::function<Receivers::ExportOutcome(std::string_view, bool)> export_fn) {
  router.HandleBlocking(
      server::Method::kPost, path, config::kScopeWrite,
      [metrics, export_fn, rejected_field](const server::Request& req, server::Response& resp) {
        std::string_view type = req.Header("Content-Type").value_or("");
        bool json = type.substr(0, 16) == "application/json";
        bool proto = type.substr(0, 22) == "application/x-protobuf" || type.empty();
        if (!json && !proto) {
          metrics->requests.WithLabels({"otlp", "invalid"}).Inc();
          resp = OtlpError(
              415, 3,
              fmt::format("unsupported Content-Type \"{}\" (want application/x-protobuf or "
                          "application/json)",
                          type),
              false);
          return;
        }
        using Kind = Receivers::ExportOutcome::Kind;
        Receivers::ExportOutcome outcome = export_fn(req.body(), json);
        // Status codes and retry advice per the OTLP/HTTP specification.
        switch (outcome.kind) {
          case Kind::kStored:
            resp = OtlpSuccess(outcome.rejected, outcome.message, json, rejected_field);
            return;
          case Kind::kInvalid: resp = OtlpError(400, 3, outcome.message, json); return;
          case Kind::kNotReady:
            resp = OtlpError(503, 14, outcome.message, json);
            resp.headers.emplace_back("Retry-After", "1");
            return;
          case Kind::kBusy:
            resp = OtlpError(429, 8, outcome.message, json);
            resp.headers.emplace_back("Retry-After", "1");
            return;
          case Kind::kUnavailable:
            resp = OtlpError(503, 14, outcome.message, json);
            resp.headers.emplace_back("Retry-After", "5");
            return;
        }
      },
      path);
  // The server's own refusals on this route (401, 403, a body it cannot decode) as
  // google.rpc.Status too, in the encoding the client sent, as OTLP/HTTP specifies.
  router.ShapeErrors(path, [](const server::Request& req, int status, std::string_view /*type*/,
                              std::string_view message) {
    bool json = req.Header("Content-Type").value_or("").substr(0, 16) == "application/json";
    int code = status == 401   ? 16  // UNAUTHENTICATED
               : status == 403 ? 7   // PERMISSION_DENIED
               : status == 413 ? 8   // RESOURCE_EXHAUSTED
                               : 3;  // INVALID_ARGUMENT
    return OtlpError(status, code, std::string(message), json);
  });
}

}  // namespace

void Receivers::RegisterOtlpRoutes(server::Router& router) const {
  // The handlers hold the state through copies of this object.
  Receivers self = *this;
  RegisterOtlpExport(
      router, "/v1/metrics", "rejectedDataPoints", &state_->metrics,
      [self](std::string_view body, bool json) { return self.ExportOtlpMetrics(body, json); });
  RegisterOtlpExport(
      router, "/v1/logs", "rejectedLogRecords", &state_->metrics,
      [self](std::string_view body, bool json) { return self.ExportOtlpLogs(body, json); });
  RegisterOtlpExport(
      router, "/v1/traces", "rejectedSpans", &state_->metrics,
      [self](std::string_view body, bool json) { return self.ExportOtlpTraces(body, json); });
}

}  // namespace pharos::ingest
