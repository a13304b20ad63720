// `pharos demo`: a small online shop (frontend, cart, checkout, payment, inventory and a
// database on three hosts) whose telemetry goes to a Pharos server through OTLP/HTTP, the
// real ingest path. Request rates follow a daily shape, latencies a long-tailed
// distribution, with short error bursts; every so often a real incident (payment latency
// spikes, its error ratio crosses 5%) fires the example rules and opens an incident. The
// services' logs (access lines, errors, the incident's timeouts) go to OTLP/HTTP logs, and
// a sample of its requests as traces (frontend -> cart, or checkout -> inventory and
// payment, each with its database query) to OTLP/HTTP traces.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "app/app.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/units.h"
#include "net/net.h"

namespace pharos::app {
namespace {

constexpr double kBounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
constexpr size_t kBuckets = sizeof(kBounds) / sizeof(kBounds[0]) + 1;

struct Service {
  std::string name;
  std::vector<std::string> routes;
  double share;      // of the shop's requests that reach this service
  double latency_s;  // median
  std::string host;
};

const std::vector<Service>& Services() {
  static const std::vector<Service> kServices = {
      {"frontend", {"/", "/product", "/search", "/cart", "/checkout"}, 1.0, 0.045, "host-a"},
      {"cart", {"/cart/add", "/cart/view"}, 0.35, 0.020, "host-a"},
      {"checkout", {"/checkout/start", "/checkout/confirm"}, 0.08, 0.120, "host-b"},
      {"payment", {"/pay", "/refund"}, 0.06, 0.180, "host-b"},
      {"inventory", {"/stock", "/reserve"}, 0.40, 0.030, "host-c"},
      {"database", {"query", "commit"}, 1.6, 0.004, "host-c"},
  };
  return kServices;
}

struct RouteState {
  double ok = 0;
  double errors = 0;
  double buckets[kBuckets] = {};
  double count = 0;
  double sum = 0;
};

struct HostState {
  double cpu[4][3] = {};  // cpu x {user, system, idle}
  double disk_avail = 0;
  double memory_used = 0;
};

class Shop {
 public:
  Shop(uint64_t seed, int64_t incident_every_ms, int64_t incident_ms)
      : rng_(seed), incident_every_ms_(incident_every_ms), incident_ms_(incident_ms) {
    for (const char* h : {"host-a", "host-b", "host-c"}) hosts_[h].disk_avail = 180e9;
    hosts_["host-c"].disk_avail = 60e9;  // the database's disk, filling slowly
  }

  // Incidents start two minutes after the live simulation begins (so a new user sees one
  // within minutes), then every incident_every; the history has the earlier ones.
  bool InIncident(int64_t t_ms) const {
    if (incident_every_ms_ <= 0) return false;
    int64_t phase =
        ((t_ms - anchor_ms_) % incident_every_ms_ + incident_every_ms_) % incident_every_ms_;
    return phase < incident_ms_;
  }
  void set_anchor(int64_t ms) { anchor_ms_ = ms; }

  // Advances every counter by `dt` seconds ending at t_ms.
  void Step(int64_t t_ms, double dt) {
    double hour = std::fmod(static_cast<double>(t_ms) / 3.6e6, 24.0);
    double daily = 0.55 + 0.45 * std::sin((hour - 9) / 24.0 * 2 * M_PI);  // peak mid-afternoon UTC
    bool incident = InIncident(t_ms);
    std::uniform_real_distribution<double> u(0, 1);
    // A short error burst now and then (about one a quarter hour, 30 s long).
    if (u(rng_) < dt / 900) burst_until_ms_ = t_ms + 30'000;
    bool burst = t_ms < burst_until_ms_;
    std::lognormal_distribution<double> spread(0, 0.6);
    for (const Service& s : Services()) {
      double rps = 40 * s.share * daily * (0.9 + 0.2 * u(rng_));
      double error_ratio = 0.004 + (burst ? 0.03 : 0);
      double latency = s.latency_s;
      if (incident && (s.name == "payment" || s.name == "checkout")) {
        error_ratio = s.name == "payment" ? 0.14 : 0.08;
        latency *= s.name == "payment" ? 9 : 3;
      }
      for (size_t r = 0; r < s.routes.size(); ++r) {
        RouteState& st = routes_[s.name + " " + s.routes[r]];
        double n = rps / static_cast<double>(s.routes.size()) * dt;
        // Whole requests; the fraction decides by chance, so small rates keep their ratio.
        double errors = std::floor(n * error_ratio * (0.7 + 0.6 * u(rng_)) + u(rng_));
        n = std::floor(n + u(rng_));
        st.ok += std::max(0.0, n - errors);
        st.errors += errors;
        // Sample latencies for up to 200 requests and scale, to keep this cheap.
        int samples = static_cast<int>(std::min(n, 200.0));
        double scale = samples ? n / samples : 0;
        for (int i = 0; i < samples; ++i) {
          double l = latency * spread(rng_);
          size_t b = 0;
          while (b < kBuckets - 1 && l > kBounds[b]) ++b;
          for (size_t k = b; k < kBuckets; ++k) st.buckets[k] += scale;  // cumulative
          st.sum += l * scale;
        }
        st.count += samples ? n : 0;
      }
    }
    for (auto& [name, h] : hosts_) {
      double busy = 0.15 + 0.35 * daily + (incident && name == "host-b" ? 0.45 : 0);
      busy = std::min(0.97, busy * (0.9 + 0.2 * u(rng_)));
      for (auto& cpu : h.cpu) {
        cpu[0] += dt * busy * 0.7;
        cpu[1] += dt * busy * 0.3;
        cpu[2] += dt * (1 - busy);
      }
      if (name == "host-c") h.disk_avail = std::max(1e9, h.disk_avail - dt * 2.5e5 * daily);
      // Memory follows load, with a slow leak on the host running payment until restarts.
      double leak =
          name == "host-b" ? std::fmod(static_cast<double>(t_ms) / 3.6e6, 6.0) * 0.4e9 : 0;
      h.memory_used = (3.0e9 + 4.0e9 * busy) * (0.95 + 0.1 * u(rng_)) + leak;
    }
  }

  // One OTLP/JSON ExportMetricsServiceRequest with every series at t_ms.
  std::string Export(int64_t t_ms) const {
    std::string now = std::to_string(t_ms * 1'000'000);
    std::string start = std::to_string(start_ms_ * 1'000'000);
    auto attr = [](std::string_view k, std::string_view v) {
      return fmt::format("{{\"key\":{},\"value\":{{\"stringValue\":{}}}}}", JsonString(k),
                         JsonString(v));
    };
    std::string out = "{\"resourceMetrics\":[";
    bool first_resource = true;
    for (const Service& s : Services()) {
      if (!first_resource) out += ',';
      first_resource = false;
      out += "{\"resource\":{\"attributes\":[" + attr("service.name", s.name) + "," +
             attr("service.instance.id", s.name + "-1") + "," + attr("host.name", s.host) + "," +
             attr("deployment.environment", "demo") +
             "]},\"scopeMetrics\":[{\"scope\":{\"name\":\"pharos-demo\"},\"metrics\":[";
      std::string counters, histograms;
      for (const std::string& route : s.routes) {
        const RouteState& st = routes_.at(s.name + " " + route);
        for (int ok = 0; ok < 2; ++ok) {
          if (!counters.empty()) counters += ',';
          counters += fmt::format(
              "{{\"attributes\":[{},{}],\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\","
              "\"asDouble\":{}}}",
              attr("route", route), attr("status", ok ? "200" : "500"), start, now,
              ok ? st.ok : st.errors);
        }
        if (!histograms.empty()) histograms += ',';
        std::string counts;
        double prev = 0;
        for (size_t b = 0; b < kBuckets; ++b) {
          counts +=
              fmt::format("{}\"{}\"", b ? "," : "", static_cast<uint64_t>(st.buckets[b] - prev));
          prev = st.buckets[b];
        }
        std::string bounds;
        for (size_t b = 0; b + 1 < kBuckets; ++b)
          bounds += fmt::format("{}{}", b ? "," : "", kBounds[b]);
        histograms += fmt::format(
            "{{\"attributes\":[{}],\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\",\"count\":"
            "\"{}\",\"sum\":{},\"bucketCounts\":[{}],\"explicitBounds\":[{}]}}",
            attr("route", route), start, now, static_cast<uint64_t>(st.buckets[kBuckets - 1]),
            st.sum, counts, bounds);
      }
      out +=
          "{\"name\":\"http_requests\",\"description\":\"Requests served.\",\"sum\":{"
          "\"aggregationTemporality\":2,\"isMonotonic\":true,\"dataPoints\":[" +
          counters + "]}},";
      out +=
          "{\"name\":\"http_server_duration\",\"unit\":\"s\",\"description\":\"Request "
          "latency.\",\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":[" +
          histograms + "]}},";
      out += fmt::format(
          "{{\"name\":\"up\",\"gauge\":{{\"dataPoints\":[{{\"timeUnixNano\":\"{}\",\"asDouble\":1}}"
          "]}}}}",
          now);
      out += "]}]}";
    }
    for (const auto& [name, h] : hosts_) {
      out += ",{\"resource\":{\"attributes\":[" + attr("service.name", "node") + "," +
             attr("service.instance.id", name) +
             "]},\"scopeMetrics\":[{\"scope\":{\"name\":"
             "\"pharos-demo\"},\"metrics\":[";
      std::string cpu;
      static const char* kModes[] = {"user", "system", "idle"};
      for (int c = 0; c < 4; ++c) {
        for (int m = 0; m < 3; ++m) {
          if (!cpu.empty()) cpu += ',';
          cpu += fmt::format(
              "{{\"attributes\":[{},{}],\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\","
              "\"asDouble\":{}}}",
              attr("cpu", std::to_string(c)), attr("mode", kModes[m]), start, now, h.cpu[c][m]);
        }
      }
      out +=
          "{\"name\":\"node_cpu\",\"unit\":\"s\",\"sum\":{\"aggregationTemporality\":2,"
          "\"isMonotonic\":true,\"dataPoints\":[" +
          cpu + "]}},";
      std::string fs = attr("mountpoint", "/") + "," + attr("fstype", "ext4") + "," +
                       attr("device", "/dev/sda1");
      out += fmt::format(
          "{{\"name\":\"node_filesystem_avail\",\"unit\":\"By\",\"gauge\":{{\"dataPoints\":[{{"
          "\"attributes\":[{}],\"timeUnixNano\":\"{}\",\"asDouble\":{}}}]}}}},",
          fs, now, h.disk_avail);
      out += fmt::format(
          "{{\"name\":\"node_filesystem_size\",\"unit\":\"By\",\"gauge\":{{\"dataPoints\":[{{"
          "\"attributes\":[{}],\"timeUnixNano\":\"{}\",\"asDouble\":{}}}]}}}}",
          fs, now, name == "host-c" ? 100e9 : 200e9);
      out += fmt::format(
          ",{{\"name\":\"node_memory_used\",\"unit\":\"By\",\"gauge\":{{\"dataPoints\":[{{"
          "\"timeUnixNano\":\"{}\",\"asDouble\":{}}}]}}}},{{\"name\":\"node_memory_total\","
          "\"unit\":"
          "\"By\",\"gauge\":{{\"dataPoints\":[{{\"timeUnixNano\":\"{}\",\"asDouble\":16e9}}]}}}}",
          now, h.memory_used, now);
      out += "]}]}";
    }
    return out + "]}";
  }

  void set_start(int64_t ms) { start_ms_ = ms; }

  // The services' log lines for the `dt` seconds ending at t_ms, as an OTLP/JSON
  // ExportLogsServiceRequest: a sample of each service's requests as logfmt access lines
  // (level, method, route, status, duration, a trace id), more errors in a burst or an
  // incident, and the incident's own messages (gateway timeouts, retries) with the
  // exception's stack trace.
  std::string ExportLogs(int64_t t_ms, double dt) {
    std::uniform_real_distribution<double> u(0, 1);
    std::lognormal_distribution<double> spread(0, 0.6);
    const bool incident = InIncident(t_ms);
    const bool burst = t_ms < burst_until_ms_;
    auto hex = [&](int digits) {
      static const char* kHex = "0123456789abcdef";
      std::string out;
      for (int i = 0; i < digits; ++i) out += kHex[rng_() & 15];
      return out;
    };
    std::string body = R"({"resourceLogs":[)";
    bool first_resource = true;
    for (const Service& s : Services()) {
      if (s.name == "database") continue;  // databases log to their own files
      std::string records;
      int lines = static_cast<int>(std::min(12.0, 0.25 * 40 * s.share * dt / 10 + 2 * u(rng_)));
      for (int i = 0; i < lines; ++i) {
        int64_t at_ns = (t_ms - static_cast<int64_t>(u(rng_) * dt * 1000)) * 1'000'000;
        double error_ratio = 0.01 + (burst ? 0.1 : 0);
        double latency = s.latency_s;
        std::string message;
        if (incident && (s.name == "payment" || s.name == "checkout")) {
          error_ratio = s.name == "payment" ? 0.3 : 0.15;
          latency *= s.name == "payment" ? 9 : 3;
        }
        bool error = u(rng_) < error_ratio;
        const std::string& route = s.routes[rng_() % s.routes.size()];
        int status = error ? (u(rng_) < 0.7 ? 500 : 503) : 200;
        double ms = latency * spread(rng_) * 1000;
        std::string line = fmt::format(
            "level={} method={} route={} status={} duration_ms={:.1f}", error ? "error" : "info",
            route == "/search" || route == "/product" || route == "/" ? "GET" : "POST", route,
            status, ms);
        if (error) {
          line += incident && s.name == "payment"
                      ? R"( msg="payment gateway timeout after 3000ms, retrying")"
                      : R"( msg="upstream returned an error")";
        }
        std::string trace = hex(32);
        records += fmt::format(
            R"({}{{"timeUnixNano":"{}","severityNumber":{},"severityText":"{}","body":{{"stringValue":)",
            records.empty() ? "" : ",", at_ns, error ? 17 : 9, error ? "ERROR" : "INFO");
        AppendJsonString(records, line);
        std::string span = hex(16);
        records +=
            fmt::format(R"(}},"attributes":[{{"key":"http.route","value":{{"stringValue":"{}"}}}},)"
                        R"({{"key":"http.response.status_code","value":{{"intValue":"{}"}}}}],)"
                        R"("traceId":"{}","spanId":"{}"}})",
                        route, status, trace, span);
        // The exception behind a failed payment, with its stack, under the same trace.
        if (error && incident && s.name == "payment") {
          records += fmt::format(
              R"(,{{"timeUnixNano":"{}","severityNumber":17,"severityText":"ERROR","body":{{"stringValue":)",
              at_ns + 1000);
          AppendJsonString(records,
                           "GatewayTimeoutError: payment gateway did not answer in 3000ms\n"
                           "    at GatewayClient.charge (gateway/client.js:118:11)\n"
                           "    at PaymentService.pay (payment/service.js:52:20)\n"
                           "    at Router.handle (http/router.js:210:5)");
          records += fmt::format(
              R"(}},"attributes":[{{"key":"exception.type","value":{{"stringValue":"GatewayTimeoutError"}}}}],)"
              R"("traceId":"{}","spanId":"{}"}})",
              trace, span);
        }
      }
      if (records.empty()) continue;
      body += fmt::format(
          R"({}{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{}"}}}},)"
          R"({{"key":"host.name","value":{{"stringValue":"{}"}}}},)"
          R"({{"key":"deployment.environment","value":{{"stringValue":"demo"}}}}]}},)"
          R"("scopeLogs":[{{"scope":{{"name":"pharos-demo"}},"logRecords":[{}]}}]}})",
          first_resource ? "" : ",", s.name, s.host, records);
      first_resource = false;
    }
    body += "]}";
    return body;
  }

  // A sample of the shop's requests for the `dt` seconds ending at t_ms as traces, an
  // OTLP/JSON ExportTraceServiceRequest: each a frontend server span and, by route, the
  // calls it makes (cart, or checkout -> inventory and payment), each call a client span
  // and the callee's server span, each service's database queries client spans of
  // db.system postgresql. Payments are slow and fail during an incident.
  std::string ExportTraces(int64_t t_ms, double dt) {
    std::uniform_real_distribution<double> u(0, 1);
    std::lognormal_distribution<double> spread(0, 0.5);
    const bool incident = InIncident(t_ms);
    auto hex = [&](int digits) {
      static const char* kHex = "0123456789abcdef";
      std::string out;
      for (int i = 0; i < digits; ++i) out += kHex[rng_() & 15];
      return out;
    };
    std::map<std::string, std::string> spans;  // service -> its spans, JSON
    struct Call {
      std::string trace;
      int64_t start_ns;
    };
    // One span; returns its id.
    auto span = [&](const std::string& service, const Call& c, const std::string& parent,
                    const std::string& name, int kind, int64_t start_ns, int64_t duration_ns,
                    bool error, const std::string& attributes) {
      std::string id = hex(16);
      std::string& out = spans[service];
      if (!out.empty()) out += ',';
      out += fmt::format(R"({{"traceId":"{}","spanId":"{}",{}"name":)", c.trace, id,
                         parent.empty() ? "" : fmt::format(R"("parentSpanId":"{}",)", parent));
      AppendJsonString(out, name);
      out += fmt::format(
          R"(,"kind":{},"startTimeUnixNano":"{}","endTimeUnixNano":"{}","attributes":[{}],)"
          R"("status":{{{}}}}})",
          kind, start_ns, start_ns + duration_ns, attributes,
          error ? R"("code":2,"message":"upstream returned an error")" : "");
      return id;
    };
    auto str = [](const char* key, const std::string& value) {
      std::string out = fmt::format(R"({{"key":"{}","value":{{"stringValue":)", key);
      AppendJsonString(out, value);
      return out + "}}";
    };
    auto num = [](const char* key, int64_t value) {
      return fmt::format(R"({{"key":"{}","value":{{"intValue":"{}"}}}})", key, value);
    };
    auto latency_ns = [&](const std::string& service) {
      double l = 0.02;
      for (const Service& s : Services())
        if (s.name == service) l = s.latency_s;
      if (incident && service == "payment") l *= 9;
      if (incident && service == "checkout") l *= 3;
      return static_cast<int64_t>(l * spread(rng_) * 1e9) + 200'000;
    };
    int64_t latest_end = 0;   // of the calls of the trace being made
    std::string last_server;  // the server span of the last call
    // A call from `from`'s span `parent` to `to`: a client span, the server span under it,
    // and a database query under that; returns whether it failed.
    std::function<bool(const std::string&, const std::string&, const std::string&, Call, int64_t,
                       const std::string&)>
        call = [&](const std::string& from, const std::string& parent, const std::string& to,
                   Call c, int64_t at, const std::string& route) {
          int64_t d = latency_ns(to);
          latest_end = std::max(latest_end, at + d + 1'000'000);
          double error_ratio = incident && to == "payment" ? 0.3 : 0.01;
          bool failed = u(rng_) < error_ratio;
          std::string client =
              span(from, c, parent, "POST " + route, 3, at, d + 1'000'000, failed,
                   str("http.request.method", "POST") + "," + str("server.address", to) + "," +
                       num("http.response.status_code", failed ? 503 : 200));
          std::string server =
              span(to, c, client, "POST " + route, 2, at + 500'000, d, failed,
                   str("http.request.method", "POST") + "," + str("http.route", route) + "," +
                       num("http.response.status_code", failed ? 503 : 200));
          last_server = server;
          span(to, c, server, "SELECT " + to, 3, at + 600'000, d / 4, false,
               str("db.system", "postgresql") + "," + str("db.name", "shop") + "," +
                   str("db.operation", "SELECT"));
          return failed;
        };
    int traces = static_cast<int>(std::min(20.0, 0.6 * dt + 2 * u(rng_)));
    for (int i = 0; i < traces; ++i) {
      Call c{hex(32), (t_ms - static_cast<int64_t>(u(rng_) * dt * 1000)) * 1'000'000};
      const std::vector<std::string>& routes = Services()[0].routes;
      const std::string& route = routes[rng_() % routes.size()];
      std::string root_id = hex(16);
      int64_t at = c.start_ns + 1'000'000;
      latest_end = 0;
      bool failed = false;
      if (route == "/cart") {
        failed = call("frontend", root_id, "cart", c, at, "/cart/view");
      } else if (route == "/checkout") {
        failed |= call("frontend", root_id, "checkout", c, at, "/checkout/confirm");
        std::string checkout = last_server;
        failed |= call("checkout", checkout, "inventory", c, at + 2'000'000, "/reserve");
        failed |= call("checkout", checkout, "payment", c, at + 5'000'000, "/pay");
      } else {
        failed = call("frontend", root_id, "inventory", c, at, "/stock");
      }
      // The root, written last so that its duration covers its calls.
      std::string& out = spans["frontend"];
      if (!out.empty()) out += ',';
      out += fmt::format(
          R"({{"traceId":"{}","spanId":"{}","name":"GET {}","kind":2,"startTimeUnixNano":"{}",)"
          R"("endTimeUnixNano":"{}","attributes":[{},{},{}],"status":{{{}}}}})",
          c.trace, root_id, route, c.start_ns,
          std::max(c.start_ns + latency_ns("frontend"), latest_end + 2'000'000),
          str("http.request.method", "GET"), str("http.route", route),
          num("http.response.status_code", failed ? 500 : 200), failed ? R"("code":2)" : "");
    }
    std::string body = R"({"resourceSpans":[)";
    bool first = true;
    for (const auto& [service, list] : spans) {
      std::string host = "host-a";
      for (const Service& s : Services())
        if (s.name == service) host = s.host;
      body += fmt::format(
          R"({}{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{}"}}}},)"
          R"({{"key":"host.name","value":{{"stringValue":"{}"}}}},)"
          R"({{"key":"deployment.environment","value":{{"stringValue":"demo"}}}}]}},)"
          R"("scopeSpans":[{{"scope":{{"name":"pharos-demo"}},"spans":[{}]}}]}})",
          first ? "" : ",", service, host, list);
      first = false;
    }
    return body + "]}";
  }

 private:
  std::mt19937_64 rng_;
  int64_t incident_every_ms_;
  int64_t incident_ms_;
  int64_t burst_until_ms_ = 0;
  int64_t start_ms_ = 0;
  int64_t anchor_ms_ = 0;
  std::map<std::string, RouteState> routes_;
  std::map<std::string, HostState> hosts_;
};

constexpr std::string_view kDemoUsage = R"(Usage: pharos demo [flags]

Simulates a small online shop and sends its metrics, logs and traces to Pharos over
OTLP/HTTP.

  --url URL              OTLP/HTTP metrics endpoint (default http://127.0.0.1:4318/v1/metrics;
                         a server's main port serves /v1/metrics too)
  --logs-url URL         OTLP/HTTP logs endpoint (default: --url with /v1/logs for
                         /v1/metrics; "" sends no logs)
  --traces-url URL       OTLP/HTTP traces endpoint (default: --url with /v1/traces for
                         /v1/metrics; "" sends no traces)
  --token TOKEN          API token with the write scope (default $PHAROS_TOKEN)
  --interval D           time between exports (default 10s)
  --backfill D           first send this much history, oldest first (default 1h)
  --incident-every D     a payment incident this often (default 30m; 0 turns them off)
  --incident-duration D  how long each lasts (default 6m)
  --once                 send the backfill and exit
  --seed N               random seed (default 1)
)";

}  // namespace

int RunDemo(const std::vector<std::string>& args) {
  std::string url = "http://127.0.0.1:4318/v1/metrics";
  std::optional<std::string> logs_url;
  std::optional<std::string> traces_url;
  std::string token = std::getenv("PHAROS_TOKEN") ? std::getenv("PHAROS_TOKEN") : "";
  int64_t interval = 10'000, backfill = 3'600'000, every = 1'800'000, duration = 360'000;
  uint64_t seed = 1;
  bool once = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kDemoUsage.data(), stdout);
      return 0;
    }
    if (a == "--once") {
      once = true;
      continue;
    }
    if (i + 1 >= args.size()) {
      LogError("flag needs a value", {{"flag", a}});
      return 2;
    }
    const std::string& v = args[++i];
    auto dur = [&](int64_t& out) {
      Result<Duration> d = ParseDuration(v);
      if (!d.ok()) {
        LogError("bad duration", {{"flag", a}, {"error", d.status().message()}});
        return false;
      }
      out = d->count();
      return true;
    };
    if (a == "--url") {
      url = v;
    } else if (a == "--logs-url") {
      logs_url = v;
    } else if (a == "--traces-url") {
      traces_url = v;
    } else if (a == "--token") {
      token = v;
    } else if (a == "--interval") {
      if (!dur(interval)) return 2;
    } else if (a == "--backfill") {
      if (!dur(backfill)) return 2;
    } else if (a == "--incident-every") {
      if (!dur(every)) return 2;
    } else if (a == "--incident-duration") {
      if (!dur(duration)) return 2;
    } else if (a == "--seed") {
      seed = std::strtoull(v.c_str(), nullptr, 10);
    } else {
      LogError("unknown flag (see pharos demo --help)", {{"flag", a}});
      return 2;
    }
  }
  if (interval < 1000) {
    LogError("--interval must be at least 1s");
    return 2;
  }
  if (!logs_url) {
    logs_url = url.ends_with("/v1/metrics") ? url.substr(0, url.size() - 11) + "/v1/logs" : "";
  }
  if (!traces_url) {
    traces_url = url.ends_with("/v1/metrics") ? url.substr(0, url.size() - 11) + "/v1/traces" : "";
  }
  auto send = [&](const std::string& body, bool wait_for_server = false,
                  const std::string* to = nullptr) -> bool {
    net::HttpRequest req;
    req.method = "POST";
    req.url = to ? *to : url;
    req.body = body;
    req.content_type = "application/json";
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    Result<net::HttpReply> reply = net::Fetch(req);
    // The first export waits up to a minute for a server that is still starting
    // (`make demo` beside a `make run` that is still building).
    for (int i = 0; wait_for_server && !reply.ok() && i < 60; ++i) {
      if (i == 0)
        LogInfo("waiting for Pharos", {{"url", url}, {"error", reply.status().message()}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      reply = net::Fetch(req);
    }
    if (!reply.ok()) {
      LogError("cannot send", {{"url", url}, {"error", reply.status().message()}});
      return false;
    }
    if (reply->status / 100 != 2) {
      LogError(
          "the server refused the export",
          {{"status", reply->status}, {"body", std::string(Trim(reply->body)).substr(0, 300)}});
      return false;
    }
    return true;
  };
  Shop shop(seed, every, duration);
  shop.set_anchor(UnixNowMs() + 120'000);
  int64_t t = UnixNowMs() - backfill;
  t -= t % interval;
  shop.set_start(t);
  int64_t sent = 0;
  for (; t + interval <= UnixNowMs(); t += interval) {
    shop.Step(t + interval, static_cast<double>(interval) / 1000);
    if (!send(shop.Export(t + interval), sent == 0)) return 1;
    if (!logs_url->empty() &&
        !send(shop.ExportLogs(t + interval, static_cast<double>(interval) / 1000), false,
              &*logs_url))
      return 1;
    if (!traces_url->empty() &&
        !send(shop.ExportTraces(t + interval, static_cast<double>(interval) / 1000), false,
              &*traces_url))
      return 1;
    ++sent;
  }
  LogInfo("demo history sent", {{"exports", sent}, {"url", url}});
  if (once) return 0;
  LogInfo("demo running; Ctrl-C stops it",
          {{"interval_ms", interval}, {"incident_every_ms", every}});
  while (true) {
    int64_t next = t + interval;
    int64_t wait = next - UnixNowMs();
    if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
    shop.Step(next, static_cast<double>(interval) / 1000);
    if (shop.InIncident(next) != shop.InIncident(t)) {
      LogInfo(shop.InIncident(next) ? "demo incident begins: payment latency and errors rise"
                                    : "demo incident ends");
    }
    (void)send(shop.Export(next));  // a failed export is logged; the shop keeps running
    if (!logs_url->empty())
      (void)send(shop.ExportLogs(next, static_cast<double>(interval) / 1000), false, &*logs_url);
    if (!traces_url->empty())
      (void)send(shop.ExportTraces(next, static_cast<double>(interval) / 1000), false,
                 &*traces_url);
    t = next;
  }
}

}  // namespace pharos::app
