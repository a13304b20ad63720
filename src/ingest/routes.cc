#include <atomic>
#include <chrono>
#include <memory>

#include <fmt/format.h>

#include "common/units.h"
#include "ingest/ingest.h"

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
    for (const char* protocol : {"remote_write", "import"}) {
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

server::Response Throttled(std::string message, int status, std::string_view retry_after) {
  server::Response r =
      server::Response::Error(status, status == 429 ? "too_many_requests" : "unavailable", message);
  r.headers.emplace_back("Retry-After", std::string(retry_after));
  return r;
}

}  // namespace

void RegisterRoutes(server::Router& router, const std::atomic<tsdb::Db*>& db_ptr,
                    selfmon::Registry& registry, const Options& options) {
  auto metrics = std::make_shared<IngestMetrics>(registry);
  auto in_flight = std::make_shared<std::atomic<uint32_t>>(0);

  router.Handle(
      server::Method::kPost, "/api/v1/write", config::kScopeWrite,
      [&db_ptr, metrics, in_flight, options](const server::Request& req, server::Response& resp) {
        tsdb::Db* db = db_ptr.load(std::memory_order_acquire);
        if (!db) {
          resp = Throttled("storage is recovering; retry shortly", 503, "1");
          return;
        }
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
        InFlight guard(*in_flight);
        if (guard.value() > options.max_concurrent_writes) {
          count("throttled");
          resp = Throttled(fmt::format("more than {} concurrent write requests; retry later",
                                       options.max_concurrent_writes),
                           429, "1");
          return;
        }
        thread_local DecodedBatch batch;
        Status s = DecodeWriteRequest(req.body(), batch);
        if (!s.ok()) {
          count("invalid");
          resp = server::Response::FromStatus(s);
          return;
        }
        metrics->samples.WithLabels({"remote_write"})
            .Inc(static_cast<double>(batch.samples.size()));
        tsdb::AppendResult result;
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
  router.Handle(
      server::Method::kPost, "/api/v1/import/prometheus", config::kScopeWrite,
      [&db_ptr, metrics, in_flight, options](const server::Request& req, server::Response& resp) {
        tsdb::Db* db = db_ptr.load(std::memory_order_acquire);
        if (!db) {
          resp = Throttled("storage is recovering; retry shortly", 503, "1");
          return;
        }
        auto count = [&](std::string_view outcome) {
          metrics->requests.WithLabels({"import", outcome}).Inc();
        };
        InFlight guard(*in_flight);
        if (guard.value() > options.max_concurrent_writes) {
          count("throttled");
          resp = Throttled(fmt::format("more than {} concurrent write requests; retry later",
                                       options.max_concurrent_writes),
                           429, "1");
          return;
        }
        int64_t default_ts = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
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
        Status s = ParseText(req.body(), TextFormatFor(req.Header("Content-Type").value_or("")),
                             default_ts, batch);
        if (!s.ok()) {
          count("invalid");
          resp = server::Response::FromStatus(s);
          return;
        }
        metrics->samples.WithLabels({"import"})
            .Inc(static_cast<double>(batch.batch.samples.size()));
        tsdb::AppendResult result;
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
}

}  // namespace pharos::ingest
