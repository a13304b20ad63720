// Internal to the server module: every metric the HTTP server exports, declared in one
// place. Route stats are created once per route label and cached, so the per-request cost
// is a hash lookup and two relaxed atomic adds.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/mutex.h"
#include "selfmon/metrics.h"

namespace pharos::server {

class ServerMetrics {
 public:
  explicit ServerMetrics(selfmon::Registry& r)
      : requests(r.AddCounter("pharos_http_requests_total",
                              "HTTP requests answered, by route and status code.",
                              {"route", "code"})),
        duration(r.AddHistogram("pharos_http_request_duration_seconds",
                                "Time from the first byte of a request to the end of its "
                                "response, by route.",
                                {"route"}, selfmon::LatencyBuckets())),
        refused(r.AddCounter("pharos_http_refused_total",
                             "Requests and connections refused, by reason.", {"reason"})),
        in_flight(r.AddGauge("pharos_http_requests_in_flight",
                             "Requests being received, handled or answered.")
                      .WithLabels({})),
        received_bytes(
            r.AddCounter("pharos_http_received_bytes_total", "Bytes received on HTTP connections.")
                .WithLabels({})),
        sent_bytes(r.AddCounter("pharos_http_sent_bytes_total", "Bytes sent on HTTP connections.")
                       .WithLabels({})),
        open_connections(
            r.AddGauge("pharos_http_open_connections", "Open HTTP connections.").WithLabels({})),
        accepted(
            r.AddCounter("pharos_http_accepted_connections_total", "HTTP connections accepted.")
                .WithLabels({})),
        tls_handshake_errors(
            r.AddCounter("pharos_http_tls_handshake_errors_total", "TLS handshakes that failed.")
                .WithLabels({})) {
    // Known reasons start at zero, so rate() over them works from the first scrape.
    for (const char* reason :
         {"body_too_large", "header_too_large", "decompressed_too_large", "malformed",
          "bad_encoding", "unsupported_encoding", "unauthenticated", "forbidden", "max_connections",
          "request_timeout"}) {
      refused.WithLabels({reason});
    }
  }

  selfmon::Counter& Refused(std::string_view reason) { return refused.WithLabels({reason}); }

  /// Sizes the per-route array; call before serving.
  void SetRouteCount(size_t count) {
    by_route_ = std::make_unique<std::atomic<RouteStats*>[]>(count + 1);
    route_slots_ = count + 1;
  }

  /// Counts one answered request. `index` is the route's (0 when none matched); `label`
  /// must outlive the server (route labels do).
  void Observe(size_t route_index, std::string_view label, int status, double seconds) {
    RouteStats* cached = route_index < route_slots_
                             ? by_route_[route_index].load(std::memory_order_acquire)
                             : nullptr;
    if (!cached) {
      cached = &StatsFor(label);
      if (route_index < route_slots_)
        by_route_[route_index].store(cached, std::memory_order_release);
    }
    RouteStats& stats = *cached;
    stats.duration.Observe(seconds);
    size_t index = status >= 100 && status < 600 ? static_cast<size_t>(status - 100) : 0;
    selfmon::Counter* counter = stats.by_code[index].load(std::memory_order_acquire);
    if (!counter) {
      counter = &requests.WithLabels({label, std::to_string(status)});
      stats.by_code[index].store(counter, std::memory_order_release);
    }
    counter->Inc();
  }

  selfmon::Family<selfmon::Counter>& requests;
  selfmon::Family<selfmon::Histogram>& duration;
  selfmon::Family<selfmon::Counter>& refused;
  selfmon::Gauge& in_flight;
  selfmon::Counter& received_bytes;
  selfmon::Counter& sent_bytes;
  selfmon::Gauge& open_connections;
  selfmon::Counter& accepted;
  selfmon::Counter& tls_handshake_errors;

 private:
  struct RouteStats {
    explicit RouteStats(selfmon::Histogram& h) : duration(h) {}
    selfmon::Histogram& duration;
    std::array<std::atomic<selfmon::Counter*>, 500> by_code{};
  };

  RouteStats& StatsFor(std::string_view label) {
    // Per-thread cache: the common case takes no lock.
    // Keyed by a process-unique id, not `this`: a later instance may reuse the address.
    thread_local std::unordered_map<uint64_t, std::unordered_map<std::string_view, RouteStats*>>
        cache;
    auto& mine = cache[id_];
    auto it = mine.find(label);
    if (it != mine.end()) return *it->second;
    MutexLock lock(mu_);
    auto& slot = stats_[std::string(label)];
    if (!slot) slot = std::make_unique<RouteStats>(duration.WithLabels({label}));
    mine.emplace(label, slot.get());
    return *slot;
  }

  std::unique_ptr<std::atomic<RouteStats*>[]> by_route_;  // by route index, filled lazily
  size_t route_slots_ = 0;
  static inline std::atomic<uint64_t> next_id_{1};
  const uint64_t id_ = next_id_.fetch_add(1);
  Mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<RouteStats>> stats_ PHAROS_GUARDED_BY(mu_);
};

}  // namespace pharos::server
