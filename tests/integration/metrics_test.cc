// The metrics write path through the real binary: remote_write in, series and raw samples
// out, across restarts and kill -9.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

// Parses our export's JSON lines into id label -> timestamps.
std::map<std::string, std::set<int64_t>> ExportById(uint16_t port, const std::string& selector) {
  std::map<std::string, std::set<int64_t>> out;
  HttpResponse r = Get(port, "/api/v1/export?match[]=" + selector);
  EXPECT_EQ(r.status, 200) << r.body;
  size_t pos = 0;
  while (pos < r.body.size()) {
    size_t end = r.body.find('\n', pos);
    std::string line = r.body.substr(pos, end - pos);
    pos = end == std::string::npos ? r.body.size() : end + 1;
    size_t id = line.find("\"id\":\"");
    if (id == std::string::npos) continue;
    std::string key = line.substr(id + 6, line.find('"', id + 6) - id - 6);
    size_t ts = line.find("\"timestamps\":[");
    std::string list = line.substr(ts + 14, line.find(']', ts) - ts - 14);
    for (size_t p = 0; p < list.size();) {
      size_t comma = list.find(',', p);
      out[key].insert(std::stoll(list.substr(p, comma - p)));
      p = comma == std::string::npos ? list.size() : comma + 1;
    }
  }
  return out;
}

TEST(MetricsTest, RemoteWriteRoundTripSurvivesRestart) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::vector<WriteSeries> series;
  for (int i = 0; i < 20; ++i) {
    WriteSeries s;
    s.labels = {{"__name__", "rt_metric"}, {"id", std::to_string(i)}, {"job", "rt"}};
    for (int k = 0; k < 5; ++k) s.samples.push_back({1700000000000 + k * 15000, i * 10.0 + k});
    series.push_back(s);
  }
  HttpResponse w = RemoteWrite(pharos.port(), series);
  EXPECT_EQ(w.status, 204) << w.body;
  EXPECT_EQ(w.headers.count("content-length"), 0u);

  auto check = [&](uint16_t port) {
    HttpResponse s = Get(port, "/api/v1/series?match[]=rt_metric%7Bid%3D%227%22%7D");
    EXPECT_EQ(s.status, 200);
    EXPECT_EQ(s.body,
              R"({"status":"success","data":[{"__name__":"rt_metric","id":"7","job":"rt"}]})");
    auto exported = ExportById(port, "rt_metric");
    EXPECT_EQ(exported.size(), 20u);
    for (const auto& [id, ts] : exported) EXPECT_EQ(ts.size(), 5u) << id;
    HttpResponse values = Get(port, "/api/v1/label/job/values");
    EXPECT_EQ(values.body, R"({"status":"success","data":["rt"]})");
    HttpResponse stats = Get(port, "/api/v1/status/tsdb");
    EXPECT_NE(stats.body.find(R"("seriesCountByMetricName":[{"name":"rt_metric","value":20}])"),
              std::string::npos)
        << stats.body;
  };
  check(pharos.port());
  pharos.Signal(SIGTERM);
  ASSERT_EQ(pharos.Wait(), 0);
  // Same data directory, new process.
  PharosProcess second;
  ASSERT_TRUE(second.StartServe({"--data", pharos.dir() + "/data"})) << second.Stderr();
  check(second.port());
}

TEST(MetricsTest, RemoteWriteErrors) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  HttpResponse garbage = Post(port, "/api/v1/write", Snappy("\xff\xff\xff"), kRemoteWriteHeaders);
  EXPECT_EQ(garbage.status, 400);
  EXPECT_NE(garbage.body.find("malformed WriteRequest"), std::string::npos) << garbage.body;
  HttpResponse not_snappy =
      Post(port, "/api/v1/write", "definitely not snappy", kRemoteWriteHeaders);
  EXPECT_EQ(not_snappy.status, 400);
  HttpResponse v2 = Post(port, "/api/v1/write", Snappy(""),
                         "Content-Encoding: snappy\r\nContent-Type: "
                         "application/x-protobuf;proto=io.prometheus.write.v2.Request\r\n");
  EXPECT_EQ(v2.status, 415);
  // One bad series among good ones: the good ones are stored, the answer is 400 naming it.
  std::vector<WriteSeries> mixed = {
      {{{"__name__", "good"}, {"a", "1"}}, {{1000, 1}}},
      {{{"__name__", "bad-name"}}, {{1000, 1}}},
  };
  HttpResponse partial = RemoteWrite(port, mixed);
  EXPECT_EQ(partial.status, 400);
  EXPECT_NE(partial.body.find("1 of 2 samples rejected"), std::string::npos) << partial.body;
  EXPECT_NE(partial.body.find("bad-name"), std::string::npos);
  EXPECT_EQ(ExportById(port, "{__name__=\"good\"}").size(), 0u);  // no id label: not counted
  EXPECT_NE(Get(port, "/api/v1/export?match[]=good").body.find("\"timestamps\":[1000]"),
            std::string::npos);
  HttpResponse bad_match = Get(port, "/api/v1/series?match[]=up%7B");
  EXPECT_EQ(bad_match.status, 400);
  EXPECT_NE(bad_match.body.find("parse error"), std::string::npos);
  EXPECT_EQ(Get(port, "/api/v1/series").status, 400);
  std::string metrics = Get(port, "/metrics").body;
  EXPECT_NE(
      metrics.find("pharos_ingest_requests_total{protocol=\"remote_write\",outcome=\"partial\"} 1"),
      std::string::npos);
  EXPECT_NE(metrics.find("pharos_tsdb_rejected_series_total{reason=\"invalid_labels\"} 1"),
            std::string::npos);
}

TEST(MetricsTest, ImportPrometheusText) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  HttpResponse ok = Post(port, "/api/v1/import/prometheus?timestamp=1700000000",
                         "# TYPE imported gauge\nimported{id=\"a\"} 1\nimported{id=\"b\"} 2 "
                         "1700000005000\n",
                         "Content-Type: text/plain; version=0.0.4\r\n");
  EXPECT_EQ(ok.status, 204) << ok.body;
  auto got = ExportById(port, "imported");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(*got["a"].begin(), 1700000000000);
  EXPECT_EQ(*got["b"].begin(), 1700000005000);
  HttpResponse om =
      Post(port, "/api/v1/import/prometheus", "imported_om{id=\"c\"} 1 1700000010.5\n# EOF\n",
           "Content-Type: application/openmetrics-text; version=1.0.0\r\n");
  EXPECT_EQ(om.status, 204) << om.body;
  EXPECT_EQ(*ExportById(port, "imported_om")["c"].begin(), 1700000010500);
  HttpResponse bad = Post(port, "/api/v1/import/prometheus", "ok 1\nnot valid{ 1\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("line 2"), std::string::npos) << bad.body;
  HttpResponse no_eof = Post(port, "/api/v1/import/prometheus", "x 1\n",
                             "Content-Type: application/openmetrics-text\r\n");
  EXPECT_EQ(no_eof.status, 400);
  EXPECT_NE(no_eof.body.find("# EOF"), std::string::npos);
}

TEST(OtlpTest, JsonAndProtobufOnTheMainListener) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  uint16_t port = pharos.port();
  std::string json =
      R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}}]},
    "scopeMetrics":[{"metrics":[{"name":"orders","unit":"{order}","sum":{"aggregationTemporality":2,"isMonotonic":true,
    "dataPoints":[{"asInt":"42","timeUnixNano":"1700000000000000000"}]}}]}]}]})";
  HttpResponse ok = Post(port, "/v1/metrics", json, "Content-Type: application/json\r\n");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.body, "{}");
  EXPECT_EQ(ok.headers["content-type"], "application/json");
  EXPECT_NE(Get(port, "/api/v1/export?match[]=orders_total").body.find("\"job\":\"checkout\""),
            std::string::npos);
  // A point without a timestamp: partial success, not retried.
  std::string partial =
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"asDouble":1}]}}]}]}]})";
  HttpResponse p = Post(port, "/v1/metrics", partial, "Content-Type: application/json\r\n");
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(p.body.find("\"rejectedDataPoints\":\"1\""), std::string::npos) << p.body;
  HttpResponse bad = Post(port, "/v1/metrics", "{oops", "Content-Type: application/json\r\n");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("\"code\":3"), std::string::npos);
  HttpResponse proto = Post(port, "/v1/metrics", std::string("\xff\xff", 2),
                            "Content-Type: application/x-protobuf\r\n");
  EXPECT_EQ(proto.status, 400);
  EXPECT_EQ(proto.headers["content-type"], "application/x-protobuf");
  EXPECT_EQ(Post(port, "/v1/metrics", "x", "Content-Type: text/plain\r\n").status, 415);
  EXPECT_EQ(Post(port, "/v1/metrics", "", "Content-Type: application/x-protobuf\r\n").status, 200);
}

// Both listeners feed one set of receivers: a delta counter continues across them.
TEST(OtlpTest, DeltaTotalsAreSharedByBothListeners) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  std::string err = pharos.Stderr();
  const std::string needle = "\"msg\":\"OTLP/HTTP listening\",\"port\":";
  size_t at = err.find(needle);
  ASSERT_NE(at, std::string::npos) << err;
  uint16_t otlp_port = static_cast<uint16_t>(std::stoi(err.substr(at + needle.size())));
  auto body = [](int n) {
    return std::string(
               R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"d"}}]},
      "scopeMetrics":[{"metrics":[{"name":"hits","sum":{"aggregationTemporality":1,"isMonotonic":true,
      "dataPoints":[{"asInt":"3","timeUnixNano":")") +
           std::to_string(1700000000 + n) + R"(000000000"}]}}]}]}]})";
  };
  EXPECT_EQ(
      Post(pharos.port(), "/v1/metrics", body(0), "Content-Type: application/json\r\n").status,
      200);
  EXPECT_EQ(Post(otlp_port, "/v1/metrics", body(1), "Content-Type: application/json\r\n").status,
            200);
  HttpResponse r = Get(pharos.port(), "/api/v1/export?match[]=hits_total");
  EXPECT_NE(r.body.find("\"values\":[3,6]"), std::string::npos) << r.body;
}

// The OpenTelemetry JavaScript SDK's OTLP/HTTP exporters (protobuf and JSON, cumulative and
// delta) export to Pharos without errors, and the counter reads back the same either way.
TEST(OtlpTest, OpenTelemetryJavaScriptSdkExports) {
  std::string dir = PHAROS_SOURCE_DIR "/tests/otel-js";
  if (::access((dir + "/node_modules/@opentelemetry/sdk-metrics").c_str(), F_OK) != 0) {
    GTEST_SKIP() << "npm packages missing: run scripts/install-deps";
  }
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  std::string url = "http://127.0.0.1:" + std::to_string(pharos.port()) + "/v1/metrics";
  for (const char* mode :
       {"proto js-proto cumulative", "json js-json cumulative", "proto js-delta delta"}) {
    std::string output;
    EXPECT_EQ(RunShell("cd " + dir + " && node export.mjs " + url + " " + mode, output), 0)
        << mode << ": " << output;
  }
  for (const char* job : {"js-proto", "js-json", "js-delta"}) {
    HttpResponse r =
        Get(pharos.port(),
            std::string("/api/v1/export?match[]=http_requests_total%7Bjob%3D%22") + job + "%22%7D");
    // Three recordings of 5, then the final export at shutdown repeats the total.
    EXPECT_NE(r.body.find("\"values\":[5,10,15"), std::string::npos) << job << ": " << r.body;
    EXPECT_NE(r.body.find("\"instance\":\"js-1\""), std::string::npos);
  }
  HttpResponse hist = Get(pharos.port(), "/api/v1/series?match[]=http_duration_milliseconds_count");
  EXPECT_NE(hist.body.find("js-proto"), std::string::npos) << hist.body;
  HttpResponse info = Get(pharos.port(), "/api/v1/series?match[]=target_info");
  EXPECT_NE(info.body.find("\"host_name\":\"test-host\""), std::string::npos) << info.body;
  HttpResponse gauge = Get(pharos.port(), "/api/v1/series?match[]=room_temperature_celsius");
  EXPECT_NE(gauge.body.find("\"room\":\"lab\""), std::string::npos) << gauge.body;
}

// Runs tests/otel-js/export.mjs with `args`; its exit status and output.
int RunJsExporter(const std::string& args, std::string& output) {
  return RunShell("cd " PHAROS_SOURCE_DIR "/tests/otel-js && node export.mjs " + args, output);
}

// The OpenTelemetry JavaScript SDK's OTLP/gRPC exporter, plain and gzipped, exports to the
// gRPC listener; with tokens configured, a bad token fails the export and a good one passes.
TEST(OtlpTest, OpenTelemetryJavaScriptSdkExportsOverGrpc) {
  std::string dir = PHAROS_SOURCE_DIR "/tests/otel-js";
  if (::access((dir + "/node_modules/@opentelemetry/exporter-metrics-otlp-grpc").c_str(), F_OK) !=
      0) {
    GTEST_SKIP() << "npm packages missing: run scripts/install-deps";
  }
  PharosProcess pharos;
  std::string cfg =
      pharos.WriteFile("pharos.yaml",
                       "global:\n  scrape_self: false\nauth:\n  tokens:\n"
                       "    - {name: sdk, token: sdk-token-0123456789, scopes: [read, write]}\n");
  ASSERT_TRUE(pharos.StartServe({"--config", cfg})) << pharos.Stderr();
  std::string err = pharos.Stderr();
  const std::string needle = "\"msg\":\"OTLP/gRPC listening\",\"port\":";
  size_t at = err.find(needle);
  ASSERT_NE(at, std::string::npos) << err;
  std::string url = "http://127.0.0.1:" + std::to_string(std::stoi(err.substr(at + needle.size())));
  std::string output;
  EXPECT_EQ(RunJsExporter(url + " grpc js-grpc cumulative sdk-token-0123456789", output), 0)
      << output;
  output.clear();
  EXPECT_EQ(RunJsExporter(url + " grpc-gzip js-grpc-gz cumulative sdk-token-0123456789", output), 0)
      << output;
  output.clear();
  EXPECT_NE(RunJsExporter(url + " grpc js-grpc-bad cumulative wrong-token-0123456789", output), 0)
      << output;
  EXPECT_NE(output.find("UNAUTHENTICATED"), std::string::npos) << output;
  for (const char* job : {"js-grpc", "js-grpc-gz"}) {
    HttpResponse r =
        Get(pharos.port(),
            std::string("/api/v1/export?match[]=http_requests_total%7Bjob%3D%22") + job + "%22%7D",
            "Authorization: Bearer sdk-token-0123456789\r\n");
    EXPECT_NE(r.body.find("\"values\":[5,10,15"), std::string::npos) << job << ": " << r.body;
  }
  HttpResponse bad = Get(pharos.port(), "/api/v1/series?match[]=up%7Bjob%3D%22js-grpc-bad%22%7D",
                         "Authorization: Bearer sdk-token-0123456789\r\n");
  EXPECT_EQ(bad.body.find("js-grpc-bad"), std::string::npos) << bad.body;
  // OTLP/HTTP's refusals are google.rpc.Status in the request's encoding, the server's own
  // (a missing token) too.
  HttpResponse unauthenticated =
      Post(pharos.port(), "/v1/metrics", "{}", "Content-Type: application/json\r\n");
  EXPECT_EQ(unauthenticated.status, 401);
  EXPECT_EQ(unauthenticated.body.rfind("{\"code\":16,\"message\":", 0), 0u) << unauthenticated.body;
}

// Waits until /api/v1/series for `selector` (URL-encoded) returns something.
bool WaitForSeries(uint16_t port, const std::string& selector, int seconds,
                   std::string* body = nullptr) {
  for (int i = 0; i < seconds * 10; ++i) {
    HttpResponse r = Get(port, "/api/v1/series?match[]=" + selector);
    if (r.status == 200 && r.body != R"({"status":"success","data":[]})") {
      if (body) *body = r.body;
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST(ScrapeTest, FreshInstallScrapesItself) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.self_scrape_interval=200ms"})) << pharos.Stderr();
  std::string body;
  ASSERT_TRUE(WaitForSeries(pharos.port(), "pharos_build_info", 10, &body)) << pharos.Stderr();
  EXPECT_NE(body.find("\"job\":\"pharos\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"instance\":\"127.0.0.1:" + std::to_string(pharos.port()) + "\""),
            std::string::npos)
      << body;
  ASSERT_TRUE(WaitForSeries(pharos.port(), "up%7Bjob%3D%22pharos%22%7D", 10));
  HttpResponse targets = Get(pharos.port(), "/api/v1/targets");
  EXPECT_EQ(targets.status, 200);
  EXPECT_NE(targets.body.find("\"scrapePool\":\"pharos\""), std::string::npos) << targets.body;
  EXPECT_NE(targets.body.find("\"health\":\"up\""), std::string::npos) << targets.body;
}

TEST(ScrapeTest, ScrapesAnotherServerOverHttp) {
  PharosProcess target;
  ASSERT_TRUE(target.StartServe({"--set", "global.scrape_self=false"})) << target.Stderr();
  PharosProcess scraper;
  std::string cfg =
      scraper.WriteFile("pharos.yaml",
                        "global:\n  scrape_interval: 300ms\n  scrape_self: false\nscrape_configs:\n"
                        "  - job_name: other\n    static_configs:\n      - targets: ['127.0.0.1:" +
                            std::to_string(target.port()) + "']\n        labels: {env: test}\n");
  ASSERT_TRUE(scraper.StartServe({"--config", cfg})) << scraper.Stderr();
  std::string body;
  ASSERT_TRUE(
      WaitForSeries(scraper.port(), "pharos_http_requests_total%7Bjob%3D%22other%22%7D", 10, &body))
      << scraper.Stderr();
  EXPECT_NE(body.find("\"env\":\"test\""), std::string::npos);
  // The target goes away: up turns 0.
  target.Signal(SIGTERM);
  ASSERT_EQ(target.Wait(), 0);
  bool down = false;
  for (int i = 0; i < 50 && !down; ++i) {
    down = Get(scraper.port(), "/api/v1/targets").body.find("\"health\":\"down\"") !=
           std::string::npos;
    if (!down) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(down);
}

// Debian's Prometheus 2.42 scrapes a Pharos and remote-writes what it scraped to another.
TEST(ScrapeTest, RealPrometheusRemoteWritesToPharos) {
  if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus is not installed";
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  uint16_t port = pharos.port();
  uint16_t prom_port = FreePort();
  std::string cfg = pharos.WriteFile(
      "prometheus.yml",
      "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: via_prometheus\n"
      "    static_configs:\n      - targets: ['127.0.0.1:" +
          std::to_string(port) +
          "']\n"
          "remote_write:\n  - url: http://127.0.0.1:" +
          std::to_string(port) +
          "/api/v1/write\n"
          "    queue_config: {batch_send_deadline: 500ms, min_backoff: 100ms}\n");
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    std::string listen = "--web.listen-address=127.0.0.1:" + std::to_string(prom_port);
    std::string storage = "--storage.tsdb.path=" + pharos.dir() + "/prom";
    std::string config = "--config.file=" + cfg;
    ::execl("/usr/bin/prometheus", "prometheus", config.c_str(), storage.c_str(), listen.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::string body;
  bool got = WaitForSeries(port, "up%7Bjob%3D%22via_prometheus%22%7D", 40, &body);
  ::kill(pid, SIGTERM);
  int status;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(got) << "Prometheus's remote write never arrived";
  EXPECT_NE(body.find("\"instance\":\"127.0.0.1:" + std::to_string(port) + "\""),
            std::string::npos);
  EXPECT_TRUE(WaitForSeries(port, "pharos_build_info%7Bjob%3D%22via_prometheus%22%7D", 5));
  std::string metrics = Get(port, "/metrics").body;
  EXPECT_NE(metrics.find("pharos_ingest_requests_total{protocol=\"remote_write\",outcome=\"ok\"}"),
            std::string::npos);
}

// Remote-write in a loop while the server is killed with SIGKILL at random moments; after
// each restart every acknowledged sample must be there, and nothing that was never sent.
void CrashTest(const std::vector<std::string>& extra_flags, int64_t step_ms);

TEST(MetricsCrashTest, AcknowledgedSamplesSurviveKill9) { CrashTest({}, 1000); }

// The same with the head cut into blocks every few seconds of data, so kills also land in
// the middle of cuts, checkpoints and merges.
TEST(MetricsCrashTest, AcknowledgedSamplesSurviveKill9DuringCuts) {
  CrashTest({"--set", "storage.block_duration=2s", "--set", "storage.maintenance_interval=100ms",
             "--set", "storage.retention=0"},
            100);
}

void CrashTest(const std::vector<std::string>& extra_flags, int64_t step_ms) {
  PharosProcess first;
  std::string data_dir = first.dir() + "/data";
  std::mt19937 rng(20261126);
  std::map<std::string, std::set<int64_t>> acked;
  std::map<std::string, std::set<int64_t>> sent;
  int64_t next_t = 1700000000000;
  constexpr int kCycles = 5;
  constexpr int kSeries = 40;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    PharosProcess pharos;
    std::vector<std::string> flags = {"--data", data_dir, "--set", "global.scrape_self=false"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    ASSERT_TRUE(pharos.StartServe(flags)) << pharos.Stderr();
    uint16_t port = pharos.port();
    // Everything acknowledged before is still there after the previous kill.
    auto present = ExportById(port, "crash_metric");
    for (const auto& [id, ts] : acked) {
      for (int64_t t : ts) {
        ASSERT_TRUE(present[id].count(t))
            << "cycle " << cycle << ": lost acked sample " << id << "@" << t;
      }
    }
    for (const auto& [id, ts] : present) {
      for (int64_t t : ts) {
        ASSERT_TRUE(sent[id].count(t))
            << "cycle " << cycle << ": sample never sent " << id << "@" << t;
      }
    }
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::thread writer([&] {
      while (!stop) {
        std::vector<WriteSeries> batch;
        int64_t t;
        {
          std::lock_guard<std::mutex> lock(mu);
          t = next_t;
          next_t += step_ms;
        }
        for (int i = 0; i < kSeries; ++i) {
          WriteSeries s;
          s.labels = {{"__name__", "crash_metric"}, {"id", std::to_string(i)}};
          s.samples = {{t, static_cast<double>(t % 100000)}};
          batch.push_back(s);
        }
        {
          std::lock_guard<std::mutex> lock(mu);
          for (int i = 0; i < kSeries; ++i) sent[std::to_string(i)].insert(t);
        }
        HttpResponse r = RemoteWrite(port, batch);
        if (r.status != 204) break;  // killed
        std::lock_guard<std::mutex> lock(mu);
        for (int i = 0; i < kSeries; ++i) acked[std::to_string(i)].insert(t);
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 350));
    pharos.Signal(SIGKILL);
    stop = true;
    writer.join();
    pharos.Wait();
  }
  size_t total = 0;
  for (const auto& [id, ts] : acked) total += ts.size();
  EXPECT_GT(total, 1000u) << "too few writes were acknowledged to prove anything";
  PharosProcess last;
  std::vector<std::string> flags = {"--data", data_dir, "--set", "global.scrape_self=false"};
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  ASSERT_TRUE(last.StartServe(flags)) << last.Stderr();
  auto present = ExportById(last.port(), "crash_metric");
  for (const auto& [id, ts] : acked) {
    for (int64_t t : ts)
      ASSERT_TRUE(present[id].count(t)) << "lost acked sample " << id << "@" << t;
  }
}

}  // namespace
}  // namespace pharos::testing
