// Loki's API on the real binary: lines pushed as Loki's JSON, read back through
// query_range, labels, label values and series in Loki's shapes; bad pushes refused with
// the reason; acknowledged lines still there after a restart.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/strings.h"
#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/protobuf.h"
#include "tests/support/remote_write.h"
#include "tests/support/websocket_client.h"

namespace pharos::testing {
namespace {

constexpr std::string_view kJson = "Content-Type: application/json\r\n";

std::string Ns(int64_t seconds_ago) {
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::to_string(now_ns - seconds_ago * 1'000'000'000);
}

TEST(LokiApiTest, PushQueryLabelsAndRestart) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string t1 = Ns(30), t2 = Ns(20), t3 = Ns(10);
  std::string body = R"({"streams":[
    {"stream":{"app":"api","env":"prod"},"values":[[")" +
                     t1 + R"(","GET /cart 200 trace=4bf92f3577b34da6"],
                                                    [")" +
                     t3 + R"(","GET /pay 500 error",{"trace_id":"abc"}]]},
    {"stream":{"app":"web","env":"prod"},"values":[[")" +
                     t2 + R"(","render home 12ms"]]}]})";
  HttpResponse r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;

  std::string q = "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D&limit=10";
  // Grafana's encoding: streams by their own labels, metadata per entry.
  r = Get(pharos.port(), q, "X-Loki-Response-Encoding-Flags: categorize-labels\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("resultType":"streams")"), std::string::npos) << r.body;
  EXPECT_NE(
      r.body.find(
          R"({"stream":{"app":"api","env":"prod"},"values":[[")" + t3 +
          R"(","GET /pay 500 error",{"structuredMetadata":{"detected_level":"error","trace_id":"abc"}}],[")" +
          t1),
      std::string::npos)
      << r.body;  // newest first (backward)
  EXPECT_NE(r.body.find(R"("encodingFlags":["categorize-labels"])"), std::string::npos);
  EXPECT_NE(r.body.find(R"("stats":{"summary")"), std::string::npos);
  // The level found in a line is its structured metadata detected_level, as Loki 3's
  // discover_log_levels gives it. Without the flag, as Loki 3 does, metadata is part of
  // each line's stream labels.
  r = Get(pharos.port(), q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(
      r.body.find(
          R"({"stream":{"app":"api","detected_level":"error","env":"prod","trace_id":"abc"},"values":[[")" +
          t3 + R"(","GET /pay 500 error"]])"),
      std::string::npos)
      << r.body;

  // A needle with a line filter; a regex filter; forward with a limit.
  r = Get(
      pharos.port(),
      "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D%20%7C%3D%20%224bf92f3577b34da6%22");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("render home"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?query=%7Bapp%3D~%22.%2B%22%7D%20%7C~%20%60%5Cd%2Bms%60");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("render home 12ms"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("GET /"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D&direction=forward&limit=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("render home"), std::string::npos) << r.body;

  // Loki's protobuf push, snappy-compressed without a Content-Encoding, as promtail sends.
  int64_t now_s = std::stoll(t3) / 1'000'000'000;
  std::string entry = Pb().Len(1, Pb().Int(1, now_s).Int(2, 7).out).Len(2, "from protobuf").out;
  std::string proto = Pb().Len(1, Pb().Len(1, R"({app="proto", env="dev"})").Len(2, entry).out).out;
  r = Post(pharos.port(), "/loki/api/v1/push", Snappy(proto),
           "Content-Type: application/x-protobuf\r\n");
  ASSERT_EQ(r.status, 204) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22proto%22%7D");
  EXPECT_NE(r.body.find("[\"" + std::to_string(now_s) + "000000007\",\"from protobuf\"]"),
            std::string::npos)
      << r.body;

  r = Get(pharos.port(), "/loki/api/v1/labels");
  EXPECT_EQ(r.body, R"({"status":"success","data":["app","env"]})");
  r = Get(pharos.port(), "/loki/api/v1/label/app/values");
  EXPECT_EQ(r.body, R"({"status":"success","data":["api","proto","web"]})");
  r = Get(pharos.port(), "/loki/api/v1/series?match%5B%5D=%7Bapp%3D%22web%22%7D");
  EXPECT_EQ(r.body, R"({"status":"success","data":[{"app":"web","env":"prod"}]})");

  // Bad input: a Loki-style plain-text 400 naming the problem.
  r = Post(pharos.port(), "/loki/api/v1/push",
           R"({"streams":[{"stream":{},"values":[[")" + t1 + R"(","x"]]}]})", kJson);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("at least one label"), std::string::npos) << r.body;
  r = Post(pharos.port(), "/loki/api/v1/push",
           R"({"streams":[{"stream":{"a":"b"},"values":[["yesterday","x"]]}]})", kJson);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nanoseconds"), std::string::npos) << r.body;
  r = Post(pharos.port(), "/loki/api/v1/push", "{", kJson);
  EXPECT_EQ(r.status, 400);
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22api%22%7D%20%7C%20jsn");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("syntax error"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22api%22%7D&limit=5001");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("max entries limit"), std::string::npos) << r.body;

  // Acknowledged lines survive a restart (the WAL).
  pharos.Signal(SIGKILL);
  pharos.Wait();
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  r = Get(pharos.port(), q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /pay 500 error"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("render home 12ms"), std::string::npos) << r.body;
}

// OTLP/HTTP logs land in the log store, mapped as Loki 3 maps them: service.name as the
// service_name label, the body as the line, the rest as structured metadata.
TEST(LokiApiTest, OtlpLogsAreQueriedThroughLoki) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string t = Ns(5);
  std::string body = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"checkout"}},
      {"key":"host.name","value":{"stringValue":"node-1"}}]},
    "scopeLogs":[{"scope":{"name":"shop"},"logRecords":[
      {"timeUnixNano":")" +
                     t + R"(","severityText":"ERROR",
       "traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
       "body":{"stringValue":"payment declined"},
       "attributes":[{"key":"http.status_code","value":{"intValue":"402"}}]},
      {"observedTimeUnixNano":")" +
                     t + R"(","body":{"kvlistValue":{"values":[
       {"key":"msg","value":{"stringValue":"structured"}}]}}}]}]}]})";
  HttpResponse r = Post(pharos.port(), "/v1/logs", body, kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{}");  // nothing rejected
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bservice_name%3D%22checkout%22%7D");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(
                R"("stream":{"host_name":"node-1","scope_name":"shop","service_name":"checkout"})"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("payment declined"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({\"msg\":\"structured\"})"), std::string::npos) << r.body;
  // Structured metadata filters without a parser: the trace id finds its line.
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?query=%7Bservice_name%3D%22checkout%22%7D%20%7C%20"
          "trace_id%3D%225b8efff798038103d269b633813fc60c%22");
  EXPECT_NE(r.body.find("payment declined"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("structured"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/"
          "query_range?query=%7Bservice_name%3D%22checkout%22%7D%20%7C%3D%20%22declined%22");
  EXPECT_NE(r.body.find("payment declined"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("structured"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/labels");
  EXPECT_EQ(r.body, R"({"status":"success","data":["service_name"]})");
  // A record with no time at all is refused by name, and the export reports it.
  std::string untimed =
      R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]})";
  r = Post(pharos.port(), "/v1/logs", untimed, kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("rejectedLogRecords":"1")"), std::string::npos) << r.body;
}

// LogQL metric queries through Loki's API: a vector at one instant, a matrix over a range,
// a scalar, in Loki's JSON shapes; a pipeline error is a 400 naming it.
// Grafana's live tail: /loki/api/v1/tail over a WebSocket sends the history since `start`
// (at most `limit` lines, oldest first), then each pushed line that the query keeps, with
// its pipeline applied, whatever the line's timestamp.
TEST(LokiApiTest, TailStreamsHistoryThenLiveLinesThroughThePipeline) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  auto push = [&](const std::string& app, const std::string& ts, const std::string& line) {
    std::string body = R"({"streams":[{"stream":{"app":")" + app + R"("},"values":[[")" + ts +
                       R"(",")" + line + R"("]]}]})";
    return Post(pharos.port(), "/loki/api/v1/push", body, kJson).status;
  };
  ASSERT_EQ(push("api", Ns(30), "level=error msg=old-1"), 204);
  ASSERT_EQ(push("api", Ns(20), "level=info msg=old-2"), 204);
  ASSERT_EQ(push("api", Ns(10), "level=error msg=old-3"), 204);
  ASSERT_EQ(push("web", Ns(10), "level=error msg=other-app"), 204);

  std::string query =
      UrlQueryEscape(R"({app="api"} |= "error" | logfmt | line_format "{{.msg}}!")");
  WebSocketClient tail(pharos.port(), "/loki/api/v1/tail?limit=1&query=" + query);
  ASSERT_TRUE(tail.connected()) << tail.refusal_status() << " " << tail.refusal_body();
  // The history: only the newest matching line (limit=1), through the pipeline.
  std::optional<std::string> history = tail.Read();
  ASSERT_TRUE(history.has_value());
  EXPECT_NE(history->find(R"("values":[[")"), std::string::npos) << *history;
  EXPECT_NE(history->find(R"(","old-3!"]])"), std::string::npos) << *history;
  EXPECT_EQ(history->find("old-1"), std::string::npos) << *history;
  EXPECT_NE(history->find(R"("dropped_entries":null)"), std::string::npos) << *history;
  EXPECT_NE(history->find(R"("level":"error")"), std::string::npos) << *history;

  // Live: a matching line (even one stamped in the past), a filtered one, another app's.
  ASSERT_EQ(push("api", Ns(0), "level=error msg=live-1"), 204);
  ASSERT_EQ(push("api", Ns(0), "level=info msg=live-info"), 204);
  ASSERT_EQ(push("web", Ns(0), "level=error msg=live-web"), 204);
  ASSERT_EQ(push("api", Ns(600), "level=error msg=late-but-new"), 204);
  std::string live;
  for (int i = 0; i < 20 && live.find("late-but-new!") == std::string::npos; ++i) {
    std::optional<std::string> m = tail.Read(std::chrono::seconds(5));
    ASSERT_TRUE(m.has_value()) << live;
    live += *m;
  }
  EXPECT_NE(live.find(R"(","live-1!"])"), std::string::npos) << live;
  EXPECT_NE(live.find("late-but-new!"), std::string::npos) << live;
  EXPECT_EQ(live.find("live-info"), std::string::npos) << live;
  EXPECT_EQ(live.find("live-web"), std::string::npos) << live;
  EXPECT_EQ(live.find("old-3"), std::string::npos) << live;  // not sent twice
  tail.Close();

  // format_query: the canonical text, and Loki's parse error.
  HttpResponse formatted =
      Get(pharos.port(), "/loki/api/v1/format_query?query=" +
                             UrlQueryEscape(R"(sum(rate({app="api"}|json[5m]))by(x))"));
  ASSERT_EQ(formatted.status, 200) << formatted.body;
  EXPECT_EQ(formatted.body,
            R"j({"status":"success","data":"sum by (x) (rate({app=\"api\"} | json [5m]))"})j");
  HttpResponse bad =
      Get(pharos.port(), "/loki/api/v1/format_query?query=" + UrlQueryEscape("{app="));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("syntax error"), std::string::npos) << bad.body;

  // Refusals are HTTP answers before the upgrade, in Loki's words.
  WebSocketClient metric(pharos.port(), "/loki/api/v1/tail?query=" +
                                            UrlQueryEscape(R"(count_over_time({app="api"}[1m]))"));
  EXPECT_FALSE(metric.connected());
  EXPECT_EQ(metric.refusal_status(), 400);
  WebSocketClient delayed(
      pharos.port(), "/loki/api/v1/tail?delay_for=6&query=" + UrlQueryEscape(R"({app="api"})"));
  EXPECT_EQ(delayed.refusal_status(), 400);
  EXPECT_EQ(delayed.refusal_body(), "delay_for can't be greater than 5\n");
  // A plain GET is not a tail.
  EXPECT_EQ(
      Get(pharos.port(), "/loki/api/v1/tail?query=" + UrlQueryEscape(R"({app="api"})")).status,
      400);
  // At most 10 tails at once (Loki's max_concurrent_tail_requests).
  std::vector<std::unique_ptr<WebSocketClient>> tails;
  for (int i = 0; i < 10; ++i) {
    tails.push_back(std::make_unique<WebSocketClient>(
        pharos.port(), "/loki/api/v1/tail?query=" + UrlQueryEscape(R"({app="none"})")));
    ASSERT_TRUE(tails.back()->connected()) << i;
  }
  WebSocketClient eleventh(pharos.port(),
                           "/loki/api/v1/tail?query=" + UrlQueryEscape(R"({app="none"})"));
  EXPECT_EQ(eleventh.refusal_status(), 429);
  EXPECT_NE(eleventh.refusal_body().find("max concurrent tail requests limit exceeded"),
            std::string::npos);
}

TEST(LokiApiTest, MetricQueriesAnswerVectorsMatricesAndScalars) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string body = R"({"streams":[{"stream":{"app":"shop"},"values":[)";
  for (int i = 0; i < 30; ++i) {
    if (i) body += ',';
    body += R"([")" + Ns(60 - i) + R"(","{\"level\":\")" + (i % 3 == 0 ? "error" : "info") +
            R"(\",\"took_ms\":)" + std::to_string(i) + "}\"]";
  }
  body += "]}]}";
  HttpResponse r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;
  std::string now_s = std::to_string(std::stoll(Ns(0)) / 1'000'000'000);

  // sum by (level) (count_over_time({app="shop"} | json [5m]))
  r = Get(pharos.port(),
          "/loki/api/v1/query?time=" + now_s +
              "&query=sum%20by%20(level)%20(count_over_time(%7Bapp%3D%22shop%22%7D%20%7C%20json%20"
              "%5B5m%5D))");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("resultType":"vector")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"metric":{"level":"error"},"value":[)" + now_s + R"(,"10"]})"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"({"metric":{"level":"info"},"value":[)" + now_s + R"(,"20"]})"),
            std::string::npos)
      << r.body;

  // max_over_time(... | unwrap took_ms) over a range with a step: a matrix.
  std::string start = std::to_string(std::stoll(now_s) - 30);
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?start=" + start + "&end=" + now_s +
              "&step=30&query=max_over_time(%7Bapp%3D%22shop%22%7D%20%7C%20json%20%7C%20unwrap%20"
              "took_ms%20%5B5m%5D)");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("resultType":"matrix")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"(,"values":[[)" + start + R"(,)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("[" + now_s + R"(,"29"]]})"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"metric":{"app":"shop","detected_level":"error","level":"error"})"),
            std::string::npos)
      << r.body;

  r = Get(pharos.port(), "/loki/api/v1/query?time=" + now_s + "&query=1%2B1");
  EXPECT_NE(r.body.find(R"("resultType":"scalar","result":[)" + now_s + R"(,"2"])"),
            std::string::npos)
      << r.body;

  // A metric over lines that fail to parse names the error, as Loki does.
  r = Get(pharos.port(), "/loki/api/v1/query?time=" + now_s +
                             "&query=count_over_time(%7Bapp%3D%22shop%22%7D%20%7C%20json%20%7C%20"
                             "took_ms%20%3E%201s%20%5B5m%5D)");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("pipeline error: 'LabelFilterErr'"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/query_range?start=0&end=" + now_s +
                             "&query=count_over_time(%7Bapp%3D%22shop%22%7D%5B5m%5D)");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("exceeds the limit"), std::string::npos) << r.body;
}

// Backpressure as Loki's: a push beyond the ingestion rate gets 429 with Retry-After and
// nothing of it is stored; a line over max_line_size is refused by name, the rest kept.
TEST(LokiApiTest, RateLimitAnswers429AndLongLinesAreRefusedByName) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "logs.ingestion_rate=1B", "--set",
                                 "logs.ingestion_burst=200B", "--set", "logs.max_line_size=64B"}))
      << pharos.Stderr();
  std::string line(60, 'x');
  auto push = [&](int lines) {
    std::string body = R"({"streams":[{"stream":{"app":"rl"},"values":[)";
    for (int i = 0; i < lines; ++i) {
      if (i) body += ',';
      body += R"([")" + Ns(lines - i) + R"(",")" + line + R"("])";
    }
    body += "]}]}";
    return Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  };
  HttpResponse r = push(3);  // 180 of 200 bytes
  ASSERT_EQ(r.status, 204) << r.body;
  r = push(3);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_NE(r.body.find("Ingestion rate limit exceeded"), std::string::npos) << r.body;
  EXPECT_EQ(r.headers.count("retry-after"), 1u);
  std::string too_long = R"({"streams":[{"stream":{"app":"rl"},"values":[[")" + Ns(1) + R"(",")" +
                         std::string(100, 'y') + R"("]]}]})";
  r = Post(pharos.port(), "/loki/api/v1/push", too_long, kJson);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("Max entry size '64' bytes exceeded for stream '{app=\"rl\"}'"),
            std::string::npos)
      << r.body;
  r = Get(pharos.port(), "/loki/api/v1/query?query=count_over_time(%7Bapp%3D%22rl%22%7D%5B1h%5D)");
  EXPECT_NE(r.body.find(R"(,"3"]})"), std::string::npos) << r.body;
}

// Loki's index endpoints, answered from the lines themselves: stats, volume by the
// selector's labels (largest first), volume over time, detected labels, build info.
TEST(LokiApiTest, IndexStatsVolumeAndDetectedLabels) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string body = R"({"streams":[
    {"stream":{"app":"api","env":"prod"},"values":[[")" +
                     Ns(30) + R"(","12345"],[")" + Ns(20) + R"(","123"]]},
    {"stream":{"app":"web","env":"prod"},"values":[[")" +
                     Ns(10) + R"(","1234567890"]]},
    {"stream":{"app":"db","env":"dev"},"values":[[")" +
                     Ns(10) + R"(","1"]]}]})";
  HttpResponse r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/index/stats?query=%7Benv%3D%22prod%22%7D");
  EXPECT_EQ(r.body, R"({"streams":2,"chunks":2,"entries":3,"bytes":18})");
  r = Get(pharos.port(), "/loki/api/v1/index/volume?query=%7Benv%3D~%22.%2B%22%7D");
  ASSERT_EQ(r.status, 200) << r.body;
  size_t prod = r.body.find(R"({"metric":{"env":"prod"},"value":[)");
  size_t dev = r.body.find(R"({"metric":{"env":"dev"},"value":[)");
  ASSERT_NE(prod, std::string::npos) << r.body;
  EXPECT_LT(prod, dev) << r.body;  // largest first
  EXPECT_NE(r.body.find(R"(,"18"]})", prod), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/index/volume?query=%7Benv%3D%22prod%22%7D&targetLabels=app&limit=1");
  EXPECT_NE(r.body.find(R"({"metric":{"app":"web"})"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find(R"("api")"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/index/volume_range?query=%7Bapp%3D%22api%22%7D&step=60");
  EXPECT_NE(r.body.find(R"("resultType":"matrix")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"metric":{"app":"api"},"values":[[)"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/detected_labels");
  EXPECT_EQ(r.body, R"({"detectedLabels":[{"label":"app","cardinality":3},)"
                    R"({"label":"env","cardinality":2}]})");
  // Fields a log query's lines carry: parsed by json or logfmt, typed, counted.
  body = R"({"streams":[{"stream":{"app":"fields"},"values":[
    [")" +
         Ns(9) + R"(","level=info took=12ms size=3KB",{"trace_id":"t1"}],
    [")" +
         Ns(8) + R"(","level=warn took=7ms size=1KB"],
    [")" +
         Ns(7) + R"(","{\"status\":200,\"ok\":true}"]]}]})";
  r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/detected_fields?query=%7Bapp%3D%22fields%22%7D");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(
      r.body.find(R"({"label":"level","type":"string","cardinality":2,"parsers":["logfmt"]})"),
      std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"({"label":"took","type":"duration")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"label":"size","type":"bytes")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"label":"status","type":"int","cardinality":1,"parsers":["json"]})"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find(R"({"label":"trace_id","type":"string","cardinality":1,"parsers":null})"),
            std::string::npos)
      << r.body;
  r = Get(pharos.port(), "/loki/api/v1/status/buildinfo");
  EXPECT_NE(r.body.find(R"("version":"3.4.0")"), std::string::npos) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/index/volume?query=sum(rate(%7Ba%3D%22b%22%7D%5B1m%5D))");
  EXPECT_EQ(r.status, 400) << r.body;
}

// LogQL rules in Loki ruler's format: a recording rule's series lands in the TSDB and an
// alerting rule on log lines fires, through the same rules and alerting as PromQL's.
TEST(LokiApiTest, LogRuleFilesRecordAndAlert) {
  PharosProcess pharos;
  pharos.WriteFile("log-rules.yaml", R"(groups:
- name: logs
  interval: 1s
  rules:
  - record: app:log_errors:count5m
    expr: sum by (app) (count_over_time({app="pay"} |= "error" [5m]))
  - alert: PaymentErrors
    expr: sum by (app) (count_over_time({app="pay"} |= "error" [5m])) > 1
    labels: {severity: page}
)");
  std::string config = pharos.WriteFile("pharos.yaml", "log_rule_files: [log-rules.yaml]\n");
  ASSERT_TRUE(pharos.StartServe({"--config", config, "--set", "global.scrape_self=false"}))
      << pharos.Stderr();
  std::string body = R"({"streams":[{"stream":{"app":"pay"},"values":[[")" + Ns(3) +
                     R"(","error: card declined"],[")" + Ns(2) + R"(","error: timeout"],[")" +
                     Ns(1) + R"(","ok"]]}]})";
  HttpResponse r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;
  std::string recorded, alerts;
  for (int i = 0; i < 300; ++i) {  // up to 30 s: evaluations run every second
    recorded = Get(pharos.port(), "/api/v1/query?query=app:log_errors:count5m").body;
    alerts = Get(pharos.port(), "/api/v1/alerts").body;
    if (recorded.find(R"(,"2"])") != std::string::npos &&
        alerts.find(R"("alertname":"PaymentErrors")") != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(recorded.find(R"("metric":{"__name__":"app:log_errors:count5m","app":"pay"})"),
            std::string::npos)
      << recorded;
  EXPECT_NE(recorded.find(R"(,"2"])"), std::string::npos) << recorded;
  EXPECT_NE(alerts.find(R"("alertname":"PaymentErrors")"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find(R"("state":"firing")"), std::string::npos) << alerts;
  r = Get(pharos.port(), "/api/v1/rules");
  EXPECT_NE(r.body.find("count_over_time"), std::string::npos) << r.body;
}

// logs.max_query_bytes_read refuses a query that reads more line bytes, with Loki's text.
TEST(LokiApiTest, MaxQueryBytesRead) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "logs.max_query_bytes_read=2KB"})) << pharos.Stderr();
  std::string values;
  for (int i = 0; i < 50; ++i)
    values += std::string(values.empty() ? "" : ",") + "[\"" + Ns(60 - i) + "\",\"" + "line " +
              std::string(100, 'a' + i % 26) + "\"]";
  std::string body = R"({"streams":[{"stream":{"app":"big"},"values":[)" + values + "]}]}";
  ASSERT_EQ(Post(pharos.port(), "/loki/api/v1/push", body, kJson).status, 204);
  HttpResponse r = Get(pharos.port(), "/loki/api/v1/query_range?limit=1000&query=" +
                                          UrlQueryEscape("{app=\"big\"} |= \"line\""));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("the query would read too many bytes"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?limit=5&query=" + UrlQueryEscape("{app=\"big\"}"));
  EXPECT_EQ(r.status, 200) << r.body;  // five lines: within the limit
}

// Loki's patterns endpoint (Grafana's Logs Drilldown): lines mined into patterns with their
// counts per step.
TEST(LokiApiTest, PatternsGroupLinesWithCountsPerStep) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string values;
  for (int i = 0; i < 40; ++i) {
    values += std::string(values.empty() ? "" : ",") + "[\"" + Ns(100 - i) + "\",\"user u" +
              std::to_string(i % 7) + " logged in from 10.1.2." + std::to_string(i) + "\"]";
  }
  values += ",[\"" + Ns(5) + "\",\"disk full on /var\"]";
  std::string body = R"({"streams":[{"stream":{"app":"auth"},"values":[)" + values + "]}]}";
  ASSERT_EQ(Post(pharos.port(), "/loki/api/v1/push", body, kJson).status, 204);
  HttpResponse r =
      Get(pharos.port(), "/loki/api/v1/patterns?step=1h&query=" + UrlQueryEscape("{app=\"auth\"}"));
  ASSERT_EQ(r.status, 200) << r.body;
  // "<" and ">" escaped as Go's encoding/json (Loki's) escapes them.
  EXPECT_EQ(r.body.find(R"({"status":"success","data":[{"pattern":"user \u003c_\u003e logged )"
                        R"(in from \u003c_\u003e","samples":[[)"),
            0u)
      << r.body;
  EXPECT_NE(r.body.find(R"({"pattern":"disk full on /var","samples":[[)"), std::string::npos)
      << r.body;
  // The 40 lines fall in one or two hourly buckets.
  size_t at = r.body.find("\"samples\":[[");
  std::string samples = r.body.substr(at, r.body.find("]]", at) - at);
  int total = 0;
  for (size_t comma = samples.find(','); comma != std::string::npos;
       comma = samples.find(',', samples.find('[', comma))) {
    total += std::stoi(samples.substr(comma + 1));
    if (samples.find('[', comma) == std::string::npos) break;
  }
  EXPECT_EQ(total, 40) << samples;
  EXPECT_EQ(Get(pharos.port(),
                "/loki/api/v1/patterns?query=" + UrlQueryEscape("sum(rate({a=\"b\"}[1m]))"))
                .status,
            400);
}

// `pharos demo` sends its shop's logs beside its metrics: every service but the database
// has access lines, with trace ids, read back through LogQL.
TEST(LokiApiTest, DemoSendsLogs) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string out, err;
  ASSERT_EQ(RunPharos({"demo", "--once", "--backfill", "10m", "--interval", "15s", "--url",
                       "http://127.0.0.1:" + std::to_string(pharos.port()) + "/v1/metrics"},
                      &out, &err),
            0)
      << err;
  HttpResponse r =
      Get(pharos.port(),
          "/loki/api/v1/query?query=" + UrlQueryEscape("sum by (service_name) (count_over_time("
                                                       "{deployment_environment=\"demo\"}[15m]))"));
  ASSERT_EQ(r.status, 200) << r.body;
  for (const char* service : {"frontend", "cart", "checkout", "payment", "inventory"})
    EXPECT_NE(r.body.find(std::string("\"service_name\":\"") + service + "\""), std::string::npos)
        << service << ": " << r.body;
  HttpResponse lines =
      Get(pharos.port(), "/loki/api/v1/query_range?limit=5&query=" +
                             UrlQueryEscape("{service_name=\"frontend\"} | logfmt | "
                                            "status=200 | trace_id=~\"[0-9a-f]{32}\""));
  ASSERT_EQ(lines.status, 200) << lines.body;
  EXPECT_NE(lines.body.find("level=info method="), std::string::npos) << lines.body;
}

// The OpenTelemetry JavaScript SDK's log exporters (OTLP/HTTP protobuf and JSON, OTLP/gRPC)
// export without errors; the records read back through Loki's API with the resource's
// indexed attributes as labels, the rest, severity and the trace context as metadata, and
// a map body as JSON.
TEST(OtlpLogsTest, OpenTelemetryJavaScriptSdkLogExporters) {
  if (::access(PHAROS_SOURCE_DIR "/tests/otel-js/node_modules/@opentelemetry/sdk-logs", F_OK) !=
      0) {
    GTEST_SKIP() << "npm packages missing: run scripts/install-deps";
  }
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe(
      {"--set", "otlp.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0"}))
      << pharos.Stderr();
  int http_port = LoggedPort(pharos.Stderr(), "OTLP/HTTP");
  int grpc_port = LoggedPort(pharos.Stderr(), "OTLP/gRPC");
  ASSERT_GT(http_port, 0) << pharos.Stderr();
  ASSERT_GT(grpc_port, 0) << pharos.Stderr();
  std::string http = "http://127.0.0.1:" + std::to_string(http_port) + "/v1/logs";
  for (const std::string& args :
       {"logs.mjs " + http + " proto js-proto", "logs.mjs " + http + " json js-json",
        "logs.mjs http://127.0.0.1:" + std::to_string(grpc_port) + " grpc js-grpc"}) {
    std::string output;
    EXPECT_EQ(RunNode("otel-js", args, output), 0) << args << ": " << output;
  }
  for (const std::string service : {"js-proto", "js-json", "js-grpc"}) {
    HttpResponse r = Get(
        pharos.port(),
        "/loki/api/v1/query_range?limit=10&query=" +
            UrlQueryEscape("{service_name=\"" + service + "\", deployment_environment=\"test\"}"),
        "X-Loki-Response-Encoding-Flags: categorize-labels\r\n");
    ASSERT_EQ(r.status, 200) << r.body;
    for (int i = 1; i <= 3; ++i) {
      EXPECT_NE(r.body.find("\"" + service + " order " + std::to_string(i) + " placed\""),
                std::string::npos)
          << service << ": " << r.body;
    }
    EXPECT_NE(r.body.find("\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\""), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("\"span_id\":\"00f067aa0ba902b7\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"severity_text\":\"ERROR\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"host_name\":\"js-host\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"scope_name\":\"pharos-logs-test\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find(R"({\"event\":\"payment.failed\",\"amount\":42.5,\"retries\":[1,2]})"),
              std::string::npos)
        << r.body;
    // A filter on the metadata and the JSON body's fields.
    HttpResponse failed = Get(
        pharos.port(),
        "/loki/api/v1/query_range?query=" +
            UrlQueryEscape("{service_name=\"" + service + "\"} | json | event=\"payment.failed\""));
    EXPECT_NE(failed.body.find("payment.failed"), std::string::npos) << failed.body;
    EXPECT_EQ(failed.body.find("order 1 placed"), std::string::npos) << failed.body;
  }
  // The trace id index: every record of the trace, across services, head and segments.
  for (int round = 0; round < 2; ++round) {
    HttpResponse trace = Get(
        pharos.port(), "/loki/api/v1/query?query=" +
                           UrlQueryEscape("sum(count_over_time({service_name=~\"js-.+\"} | "
                                          "trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\" [1h]))"));
    EXPECT_NE(trace.body.find("\"9\"]"), std::string::npos) << round << ": " << trace.body;
    ASSERT_EQ(Post(pharos.port(), "/flush", "").status, 204);
  }
  // A stream whose own label is trace_id is found by it (the label stands in for metadata).
  std::string body = R"({"streams":[{"stream":{"app":"legacy","trace_id":"abc123"},"values":[[")" +
                     Ns(5) + R"(","legacy line"]]}]})";
  ASSERT_EQ(Post(pharos.port(), "/loki/api/v1/push", body, kJson).status, 204);
  HttpResponse legacy =
      Get(pharos.port(), "/loki/api/v1/query_range?query=" +
                             UrlQueryEscape("{app=\"legacy\"} | trace_id=\"abc123\""));
  EXPECT_NE(legacy.body.find("legacy line"), std::string::npos) << legacy.body;
}

// Real Loki clients from npm push to Pharos without errors: winston-loki with protobuf and
// snappy and with JSON, pino-loki with JSON; their lines and labels read back.
TEST(LokiClientsTest, WinstonLokiAndPinoLokiPush) {
  if (::access(PHAROS_SOURCE_DIR "/tests/loki-js/node_modules/winston-loki", F_OK) != 0) {
    GTEST_SKIP() << "npm packages missing: run scripts/install-deps";
  }
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string url = "http://127.0.0.1:" + std::to_string(pharos.port());
  for (const char* client : {"winston-proto", "winston-json", "pino"}) {
    std::string app = std::string("js-") + client;
    std::string output;
    ASSERT_EQ(RunNode("loki-js", "ship.mjs " + url + " " + client + " " + app, output), 0)
        << client << ": " << output;
    HttpResponse r =
        Get(pharos.port(), "/loki/api/v1/query_range?query=" +
                               UrlQueryEscape("{app=\"" + app + "\", level=\"info\"}"));
    ASSERT_EQ(r.status, 200) << r.body;
    for (int i = 1; i <= 3; ++i) {
      EXPECT_NE(r.body.find(app + " shipped line " + std::to_string(i)), std::string::npos)
          << client << ": " << r.body;
    }
    HttpResponse count =
        Get(pharos.port(), "/loki/api/v1/query?query=" +
                               UrlQueryEscape("sum(count_over_time({app=\"" + app + "\"}[10m]))"));
    EXPECT_NE(count.body.find("\"3\"]"), std::string::npos) << client << ": " << count.body;
  }
  // pino's lines are JSON: its fields parse.
  HttpResponse parsed =
      Get(pharos.port(),
          "/loki/api/v1/query_range?query=" + UrlQueryEscape("{app=\"js-pino\"} | json | order=2"));
  EXPECT_NE(parsed.body.find("js-pino shipped line 2"), std::string::npos) << parsed.body;
  EXPECT_EQ(parsed.body.find("js-pino shipped line 1"), std::string::npos) << parsed.body;
}

// Debian's rsyslog forwards to Pharos's syslog listener: RFC 5424 with octet counting over
// TCP and the traditional RFC 3164 format over UDP; util-linux's logger is the source.
TEST(SyslogTest, RsyslogForwardsOverTcpAndUdp) {
  if (::access("/usr/sbin/rsyslogd", X_OK) != 0 || ::access("/usr/bin/logger", X_OK) != 0) {
    GTEST_SKIP() << "rsyslog or logger is not installed";
  }
  uint16_t tcp_port = FreePort(), udp_port = FreePort(), rsyslog_port = FreePort();
  PharosProcess pharos;
  ASSERT_TRUE(
      pharos.StartServe({"--set", "syslog.tcp_listen=127.0.0.1:" + std::to_string(tcp_port),
                         "--set", "syslog.udp_listen=127.0.0.1:" + std::to_string(udp_port)}))
      << pharos.Stderr();
  std::string work = pharos.dir() + "/rsyslog";
  ASSERT_EQ(::mkdir(work.c_str(), 0700), 0);
  std::string conf = pharos.WriteFile(
      "rsyslog.conf", "global(workDirectory=\"" + work +
                          "\")\n"
                          "module(load=\"imudp\")\n"
                          "input(type=\"imudp\" address=\"127.0.0.1\" port=\"" +
                          std::to_string(rsyslog_port) +
                          "\")\n"
                          "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"" +
                          std::to_string(tcp_port) +
                          "\" protocol=\"tcp\" TCP_Framing=\"octet-counted\" "
                          "template=\"RSYSLOG_SyslogProtocol23Format\")\n"
                          "action(type=\"omfwd\" target=\"127.0.0.1\" port=\"" +
                          std::to_string(udp_port) +
                          "\" protocol=\"udp\" template=\"RSYSLOG_TraditionalForwardFormat\")\n");
  PeerProcess rsyslog("/usr/sbin/rsyslogd", {"-n", "-f", conf, "-i", work + "/rsyslogd.pid"});
  const std::string tag = "pharos-it-" + std::to_string(::getpid());
  std::string body;
  int arrived = -1;
  // rsyslog takes a moment to listen: send until both copies of a line arrive.
  for (int attempt = 0; attempt < 40; ++attempt) {
    std::string cmd = "logger --server 127.0.0.1 --port " + std::to_string(rsyslog_port) +
                      " --udp --rfc5424 -t " + tag + " -p local3.warning 'disk 93% full (" +
                      std::to_string(attempt) + ")'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    HttpResponse r = Get(pharos.port(), "/loki/api/v1/query_range?limit=1000&query=" +
                                            UrlQueryEscape("{job=\"syslog\", app=\"" + tag +
                                                           "\"} |= \"disk 93% full\""));
    ASSERT_EQ(r.status, 200) << r.body;
    body = r.body;
    if (body.find("disk 93% full (" + std::to_string(attempt) + ")") != std::string::npos) {
      arrived = attempt;
      break;
    }
  }
  ASSERT_GE(arrived, 0) << body << pharos.Stderr();
  // The same line came over both transports, with its severity and facility.
  size_t first = body.find("disk 93% full");
  ASSERT_NE(first, std::string::npos) << body;
  EXPECT_NE(body.find("\"severity\":\"warning\""), std::string::npos) << body;
  EXPECT_NE(body.find("\"facility\":\"local3\""), std::string::npos) << body;
  // Both copies: wait for the second transport's too.
  std::string needle = "disk 93% full (" + std::to_string(arrived) + ")";
  HttpResponse count;
  for (int attempt = 0; attempt < 40; ++attempt) {
    count = Get(pharos.port(), "/loki/api/v1/query?query=" +
                                   UrlQueryEscape("sum(count_over_time({job=\"syslog\", app=\"" +
                                                  tag + "\"} |= \"" + needle + "\" [10m]))"));
    ASSERT_EQ(count.status, 200) << count.body;
    if (count.body.find("\"2\"]") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_NE(count.body.find("\"2\"]"), std::string::npos) << count.body;  // TCP and UDP
}

}  // namespace
}  // namespace pharos::testing
