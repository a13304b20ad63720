// Traces on the real binary: OTLP spans in (JSON, protobuf, gRPC, from the OpenTelemetry
// JavaScript SDK), read back through Jaeger's query API and Tempo's trace by id in their
// shapes; bad spans refused by name; acknowledged spans still there after kill -9.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>

#include "common/strings.h"
#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"

namespace pharos::testing {
namespace {

constexpr std::string_view kJson = "Content-Type: application/json\r\n";

// The wall clock `seconds_ago`, in nanoseconds, to a whole second (so that differences
// between the times a test sends are exact).
std::string NowNs(int64_t seconds_ago) {
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return std::to_string((now_s - seconds_ago) * 1'000'000'000);
}

// One OTLP JSON request: a frontend server span and a checkout child of it, in trace
// 5b8e...c60c, ten seconds ago.
std::string Request() {
  int64_t base = std::stoll(NowNs(10));
  std::string start = std::to_string(base), end = std::to_string(base + 2'000'000'000),
              child_start = std::to_string(base + 1'000'000'000);
  return R"({"resourceSpans":[
   {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"frontend"}},
                              {"key":"host.name","value":{"stringValue":"web-1"}}]},
    "scopeSpans":[{"scope":{"name":"http","version":"1.0"},"spans":[
     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /cart",
      "kind":2,"startTimeUnixNano":")" +
         start + R"(","endTimeUnixNano":")" + end +
         R"(",
      "attributes":[{"key":"http.response.status_code","value":{"intValue":"200"}},
                    {"key":"cached","value":{"boolValue":true}}],
      "events":[{"timeUnixNano":")" +
         child_start + R"(","name":"cache.miss","attributes":[]}]}]}]},
   {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"cart"}}]},
    "scopeSpans":[{"scope":{"name":"grpc"},"spans":[
     {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"0000000000000002",
      "parentSpanId":"eee19b7ec3c1b174","name":"cart.Get","kind":2,
      "startTimeUnixNano":")" +
         child_start + R"(","endTimeUnixNano":")" + end + R"(",
      "status":{"code":2,"message":"no such cart"},
      "links":[{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7"}]}]}]}]})";
}

TEST(TracesApiTest, OtlpInJaegerAndTempoOutAndRestart) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  HttpResponse r = Post(pharos.port(), "/v1/traces", Request(), kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, "{}");
  const std::string id = "5b8efff798038103d269b633813fc60c";

  auto check = [&](const char* when) {
    HttpResponse services = Get(pharos.port(), "/api/services");
    ASSERT_EQ(services.status, 200) << services.body;
    EXPECT_EQ(services.body.rfind(R"({"data":["cart","frontend")", 0), 0u) << when << services.body;
    HttpResponse trace = Get(pharos.port(), "/api/traces/" + id);
    ASSERT_EQ(trace.status, 200) << trace.body;
    for (
        const char* want :
        {R"({"data":[{"traceID":"5b8efff798038103d269b633813fc60c","spans":[)",
         R"("operationName":"GET /cart","references":[])",
         R"("operationName":"cart.Get","references":[{"refType":"CHILD_OF","traceID":"5b8efff798038103d269b633813fc60c","spanID":"eee19b7ec3c1b174"},{"refType":"FOLLOWS_FROM","traceID":"4bf92f3577b34da6a3ce929d0e0e4736","spanID":"00f067aa0ba902b7"}])",
         R"({"key":"http.response.status_code","type":"int64","value":200})",
         R"({"key":"cached","type":"bool","value":true})",
         R"({"key":"otel.status_description","type":"string","value":"no such cart"})",
         R"({"key":"error","type":"bool","value":true})",
         R"({"key":"span.kind","type":"string","value":"server"})", R"("logs":[{"timestamp":)",
         R"("fields":[{"key":"event","type":"string","value":"cache.miss"}]})",
         R"("serviceName":"frontend","tags":[{"key":"host.name","type":"string","value":"web-1"}])",
         R"("duration":2000000,)"}) {
      EXPECT_NE(trace.body.find(want), std::string::npos) << when << ": " << want << "\n"
                                                          << trace.body;
    }
  };
  check("head");

  // Search: by service, by a tag, by duration; operations.
  HttpResponse r2 = Get(pharos.port(), "/api/traces?service=cart&limit=5");
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_NE(r2.body.find(id), std::string::npos) << r2.body;
  EXPECT_NE(r2.body.find(R"("total":1)"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/traces?service=frontend&tags=" +
                              UrlQueryEscape(R"({"http.response.status_code":"500"})"));
  EXPECT_NE(r2.body.find(R"({"data":[],"total":0)"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/traces?service=frontend&minDuration=1.5s&tags=" +
                              UrlQueryEscape(R"({"cached":"true"})"));
  EXPECT_NE(r2.body.find(id), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/traces?service=frontend&minDuration=3s");
  EXPECT_NE(r2.body.find(R"({"data":[],"total":0)"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/services/frontend/operations");
  EXPECT_EQ(r2.body, R"({"data":["GET /cart"],"total":1,"limit":0,"offset":0,"errors":null})");
  r2 = Get(pharos.port(), "/api/operations?service=cart");
  EXPECT_EQ(
      r2.body,
      R"({"data":[{"name":"cart.Get","spanKind":"server"}],"total":1,"limit":0,"offset":0,"errors":null})");
  r2 = Get(pharos.port(), "/api/dependencies?lookback=3600000");
  EXPECT_EQ(
      r2.body,
      R"({"data":[{"parent":"frontend","child":"cart","callCount":1}],"total":1,"limit":0,"offset":0,"errors":null})");

  // Tempo: OTLP JSON (v2), protobuf by Accept, echo and build info.
  r2 = Get(pharos.port(), "/api/v2/traces/" + id);
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_EQ(r2.body.rfind(R"({"trace":{"resourceSpans":[{"resource":{"attributes":[)", 0), 0u)
      << r2.body;
  EXPECT_NE(r2.body.find(R"("status":{"message":"no such cart","code":2})"), std::string::npos)
      << r2.body;
  EXPECT_NE(r2.body.find(R"("parentSpanId":"eee19b7ec3c1b174")"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/traces/" + id, "Accept: application/protobuf\r\n");
  ASSERT_EQ(r2.status, 200);
  EXPECT_EQ(r2.body[0], '\x0a');  // field 1 (batches), length-delimited
  EXPECT_NE(r2.body.find("cart.Get"), std::string::npos);
  EXPECT_EQ(Get(pharos.port(), "/api/echo").body, "echo");
  EXPECT_NE(Get(pharos.port(), "/api/status/buildinfo").body.find(R"("version":)"),
            std::string::npos);

  // Tempo's search with TraceQL, the older tags, and the tags the query builder offers.
  r2 = Get(pharos.port(), "/api/search?q=" + UrlQueryEscape(R"({ status = error })"));
  ASSERT_EQ(r2.status, 200) << r2.body;
  for (const char* want :
       {R"({"traces":[{"traceID":"5b8efff798038103d269b633813fc60c")",
        R"("rootServiceName":"frontend","rootTraceName":"GET /cart")", R"("durationMs":2000)",
        R"("spanID":"0000000000000002","name":"cart.Get")", R"("matched":1)"})
    EXPECT_NE(r2.body.find(want), std::string::npos) << want << "\n" << r2.body;
  r2 = Get(pharos.port(),
           "/api/search?q=" + UrlQueryEscape(R"({ resource.service.name = "frontend" } > )"
                                             R"({ .cached = true })"));
  EXPECT_NE(r2.body.find(R"({"traces":[],)"), std::string::npos) << r2.body;  // not a child
  r2 = Get(pharos.port(),
           "/api/search?q=" + UrlQueryEscape(R"({ .cached = true } | select(.host.name))"));
  EXPECT_NE(r2.body.find(R"({"key":"host.name","value":{"stringValue":"web-1"}})"),
            std::string::npos)
      << r2.body;
  r2 = Get(pharos.port(),
           "/api/search?tags=" + UrlQueryEscape("service.name=cart") + "&minDuration=1s");
  EXPECT_NE(r2.body.find(id), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/search?q=" + UrlQueryEscape("{ nope = 1 }"));
  EXPECT_EQ(r2.status, 400);
  EXPECT_NE(r2.body.find("unknown field nope"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/v2/search/tags");
  EXPECT_NE(r2.body.find(R"({"name":"resource","tags":["host.name","service.name"]})"),
            std::string::npos)
      << r2.body;
  EXPECT_NE(r2.body.find(R"({"name":"span","tags":["cached","http.response.status_code"]})"),
            std::string::npos)
      << r2.body;
  r2 = Get(pharos.port(), "/api/search/tags");
  EXPECT_NE(r2.body.find(R"("service.name")"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/v2/search/tag/resource.service.name/values");
  EXPECT_EQ(
      r2.body,
      R"({"tagValues":[{"type":"string","value":"cart"},{"type":"string","value":"frontend"}]})");
  r2 = Get(pharos.port(), "/api/search/tag/service.name/values");
  EXPECT_EQ(r2.body, R"({"tagValues":["cart","frontend"]})");
  r2 = Get(pharos.port(), "/api/v2/search/tag/status/values");
  EXPECT_EQ(
      r2.body,
      R"({"tagValues":[{"type":"keyword","value":"error"},{"type":"keyword","value":"unset"}]})");

  // Not found, bad ids and a search without a service.
  r2 = Get(pharos.port(), "/api/traces/0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r2.status, 404);
  EXPECT_NE(r2.body.find(R"("msg":"trace not found")"), std::string::npos) << r2.body;
  EXPECT_EQ(Get(pharos.port(), "/api/v2/traces/abc").status, 404);
  EXPECT_EQ(Get(pharos.port(), "/api/v2/traces/xyz").status, 400);
  r2 = Get(pharos.port(), "/api/traces");
  EXPECT_EQ(r2.status, 400);
  EXPECT_NE(r2.body.find("parameter 'service' is required"), std::string::npos) << r2.body;
  r2 = Get(pharos.port(), "/api/traces?service=x&minDuration=soon");
  EXPECT_EQ(r2.status, 400);
  EXPECT_NE(r2.body.find("minDuration"), std::string::npos) << r2.body;

  // A span without a valid id is refused by name (partial success), the others kept.
  r2 = Post(pharos.port(), "/v1/traces",
            R"({"resourceSpans":[{"scopeSpans":[{"spans":[
              {"traceId":"00000000000000000000000000000000","spanId":"0000000000000001",
               "startTimeUnixNano":")" +
                NowNs(5) + R"("}]}]}]})",
            kJson);
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_NE(r2.body.find(R"("rejectedSpans":"1")"), std::string::npos) << r2.body;
  EXPECT_NE(r2.body.find("trace id must be 16 bytes"), std::string::npos) << r2.body;
  r2 = Post(pharos.port(), "/v1/traces", "{not json", kJson);
  EXPECT_EQ(r2.status, 400) << r2.body;

  // Zipkin v2 JSON: 202, then read as any other trace.
  std::string zipkin_start = std::to_string(std::stoll(NowNs(3)) / 1000);
  r2 = Post(pharos.port(), "/api/v2/spans",
            R"([{"traceId":"a1b2c3d4e5f60718","id":"0102030405060708","name":"get /legacy",
                 "kind":"SERVER","timestamp":)" +
                zipkin_start + R"(,"duration":2500,
                 "localEndpoint":{"serviceName":"legacy"},"tags":{"http.method":"GET"}}])",
            kJson);
  EXPECT_EQ(r2.status, 202) << r2.body;
  r2 = Get(pharos.port(), "/api/traces/a1b2c3d4e5f60718");
  ASSERT_EQ(r2.status, 200) << r2.body;
  EXPECT_NE(r2.body.find(R"("traceID":"0000000000000000a1b2c3d4e5f60718")"), std::string::npos)
      << r2.body;
  EXPECT_NE(r2.body.find(R"("operationName":"get /legacy")"), std::string::npos) << r2.body;
  EXPECT_NE(r2.body.find(R"("duration":2500,)"), std::string::npos) << r2.body;
  EXPECT_NE(r2.body.find(R"("serviceName":"legacy")"), std::string::npos) << r2.body;
  r2 = Post(pharos.port(), "/api/v2/spans", R"({"not":"an array"})", kJson);
  EXPECT_EQ(r2.status, 400);
  EXPECT_NE(r2.body.find("array of spans"), std::string::npos) << r2.body;

  // Acknowledged spans survive kill -9 (the WAL).
  pharos.Signal(SIGKILL);
  pharos.Wait();
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  check("after kill -9");
}

// The OpenTelemetry JavaScript SDK's trace exporters (OTLP/HTTP protobuf and JSON,
// OTLP/gRPC) export without errors, and the trace reads back with its parent, link, event,
// attributes of each type and error status.
TEST(TracesApiTest, OpenTelemetryJavaScriptSdkTraceExporters) {
  if (::access(PHAROS_SOURCE_DIR "/tests/otel-js/node_modules/@opentelemetry/sdk-trace-base",
               F_OK) != 0) {
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
  std::string http = "http://127.0.0.1:" + std::to_string(http_port) + "/v1/traces";
  for (const auto& [args, service] :
       {std::pair{"traces.mjs " + http + " proto js-proto", "js-proto"},
        std::pair{"traces.mjs " + http + " json js-json", "js-json"},
        std::pair{"traces.mjs http://127.0.0.1:" + std::to_string(grpc_port) + " grpc js-grpc",
                  "js-grpc"}}) {
    std::string output;
    ASSERT_EQ(RunNode("otel-js", args, output), 0) << args << ": " << output;
    std::string id(Trim(output.substr(output.find_last_of('\n', output.size() - 2) + 1)));
    ASSERT_EQ(id.size(), 32u) << output;
    HttpResponse r = Get(pharos.port(), "/api/traces/" + id);
    ASSERT_EQ(r.status, 200) << service << ": " << r.body;
    for (
        std::string want :
        {std::string(R"("serviceName":")") + service + "\"",
         std::string(R"("operationName":"GET /checkout")"),
         std::string(R"("operationName":"charge","references":[{"refType":"CHILD_OF")"),
         std::string(R"({"refType":"FOLLOWS_FROM","traceID":"4bf92f3577b34da6a3ce929d0e0e4736")"),
         std::string(R"({"key":"amount","type":"float64","value":42.5})"),
         std::string(R"({"key":"retry","type":"bool","value":true})"),
         std::string(R"({"key":"items","type":"string","value":"[\"a\",\"b\"]"})"),
         std::string(R"({"key":"otel.scope.name","type":"string","value":"pharos-traces-test"})"),
         std::string(
             R"({"key":"otel.status_description","type":"string","value":"card declined"})"),
         std::string(
             R"("fields":[{"key":"event","type":"string","value":"card.declined"},{"key":"card.brand")"),
         std::string(R"({"key":"host.name","type":"string","value":"js-host"})")}) {
      EXPECT_NE(r.body.find(want), std::string::npos) << service << ": " << want << "\n" << r.body;
    }
    HttpResponse found = Get(pharos.port(), std::string("/api/traces?service=") + service +
                                                "&tags=" + UrlQueryEscape(R"({"error":"true"})"));
    EXPECT_NE(found.body.find(id), std::string::npos) << found.body;
  }
}

// Span metrics and the service graph reach the metrics store as spans arrive, and PromQL
// reads them.
TEST(TracesApiTest, SpanMetricsAndServiceGraphInPromQL) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "traces.metrics_interval=100ms"})) << pharos.Stderr();
  int64_t base = std::stoll(NowNs(5));
  std::string t0 = std::to_string(base), t1 = std::to_string(base + 300'000'000),
              t2 = std::to_string(base + 100'000'000);
  std::string body = R"({"resourceSpans":[
   {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"shop"}}]},
    "scopeSpans":[{"spans":[{"traceId":"11111111111111111111111111111111",
      "spanId":"1111111111111111","name":"HTTP GET","kind":3,
      "startTimeUnixNano":")" +
                     t0 + R"(","endTimeUnixNano":")" + t1 + R"("}]}]},
   {"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"stock"}}]},
    "scopeSpans":[{"spans":[{"traceId":"11111111111111111111111111111111",
      "spanId":"2222222222222222","parentSpanId":"1111111111111111","name":"GET /items",
      "kind":2,"status":{"code":2},
      "startTimeUnixNano":")" +
                     t0 + R"(","endTimeUnixNano":")" + t2 + R"("}]}]}]})";
  HttpResponse r = Post(pharos.port(), "/v1/traces", body, kJson);
  ASSERT_EQ(r.status, 200) << r.body;
  auto query = [&](const std::string& promql) {
    for (int i = 0; i < 50; ++i) {
      HttpResponse q = Get(pharos.port(), "/api/v1/query?query=" + UrlQueryEscape(promql));
      if (q.body.find(R"("result":[])") == std::string::npos) return q.body;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::string("no result for ") + promql;
  };
  std::string calls = query(
      R"(traces_span_metrics_calls_total{service_name="stock",status_code="STATUS_CODE_ERROR"})");
  EXPECT_NE(calls.find(R"("span_kind":"SPAN_KIND_SERVER")"), std::string::npos) << calls;
  EXPECT_NE(calls.find(R"(,"1"])"), std::string::npos) << calls;
  std::string edge = query(R"(traces_service_graph_request_failed_total)");
  EXPECT_NE(edge.find(R"("client":"shop")"), std::string::npos) << edge;
  EXPECT_NE(edge.find(R"("server":"stock")"), std::string::npos) << edge;
  std::string p99 = query(
      R"(histogram_quantile(0.99, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="shop"})))");
  EXPECT_NE(p99.find(R"("resultType":"vector")"), std::string::npos) << p99;
  EXPECT_NE(p99.find(R"(,"0.)"), std::string::npos) << p99;  // in the 0.2-0.4 s bucket
  // The slowest span of a series is its exemplar: the latency panel links to the trace.
  HttpResponse ex =
      Get(pharos.port(), "/api/v1/query_exemplars?query=" +
                             UrlQueryEscape(R"(histogram_quantile(0.99, sum by (le) ()"
                                            R"(rate(traces_span_metrics_duration_seconds_bucket)"
                                            R"({service_name="shop"}[5m]))))"));
  ASSERT_EQ(ex.status, 200) << ex.body;
  EXPECT_NE(ex.body.find(R"("le":"0.4")"), std::string::npos) << ex.body;
  EXPECT_NE(ex.body.find(R"({"labels":{"span_id":"1111111111111111","trace_id":")"
                         R"(11111111111111111111111111111111"},"value":"0.3","timestamp":)"),
            std::string::npos)
      << ex.body;
}

// `pharos demo` sends its shop's traces beside its metrics and logs: every service has
// spans, a checkout trace runs frontend -> checkout -> inventory and payment, and the
// service graph shows the calls.
TEST(TracesApiTest, DemoSendsTraces) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "traces.metrics_interval=100ms"})) << pharos.Stderr();
  std::string out, err;
  ASSERT_EQ(RunPharos({"demo", "--once", "--backfill", "10m", "--interval", "15s", "--url",
                       "http://127.0.0.1:" + std::to_string(pharos.port()) + "/v1/metrics"},
                      &out, &err),
            0)
      << err;
  HttpResponse r = Get(pharos.port(), "/api/services");
  ASSERT_EQ(r.status, 200) << r.body;
  for (const char* service : {"frontend", "cart", "checkout", "payment", "inventory"})
    EXPECT_NE(r.body.find(std::string("\"") + service + "\""), std::string::npos)
        << service << ": " << r.body;
  r = Get(pharos.port(), "/api/traces?service=payment&limit=1&lookback=1h");
  ASSERT_EQ(r.status, 200) << r.body;
  for (const char* want : {R"("serviceName":"frontend")", R"("serviceName":"checkout")",
                           R"("serviceName":"inventory")", R"("operationName":"GET /checkout")",
                           R"({"key":"db.system","type":"string","value":"postgresql"})"})
    EXPECT_NE(r.body.find(want), std::string::npos) << want << "\n" << r.body;
  r = Get(pharos.port(), "/api/dependencies?lookback=3600000");
  EXPECT_NE(r.body.find(R"({"parent":"checkout","child":"payment","callCount":)"),
            std::string::npos)
      << r.body;
}

// Tail sampling configured as the OpenTelemetry Collector's: after decision_wait, the
// error trace is stored and the other is not; a bad policy stops check-config and serve.
TEST(TracesApiTest, TailSamplingKeepsWhatThePoliciesSample) {
  PharosProcess pharos;
  std::string config = pharos.WriteFile("pharos.yaml", R"(traces:
  tail_sampling:
    decision_wait: 500ms
    num_traces: 1000
    policies:
      - {name: errors, type: status_code, status_code: {status_codes: [ERROR]}}
)");
  ASSERT_TRUE(pharos.StartServe({"--config", config})) << pharos.Stderr();
  std::string start = NowNs(3), end = NowNs(2);
  auto span = [&](const std::string& trace, int code) {
    return R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
           R"({"stringValue":"sampled"}}]},"scopeSpans":[{"spans":[{"traceId":")" +
           trace + R"(","spanId":"0000000000000001","name":"op","kind":2,"startTimeUnixNano":")" +
           start + R"(","endTimeUnixNano":")" + end + R"(","status":{"code":)" +
           std::to_string(code) + "}}]}]}]}";
  };
  const std::string failed = "e0000000000000000000000000000001";
  const std::string fine = "f0000000000000000000000000000001";
  ASSERT_EQ(Post(pharos.port(), "/v1/traces", span(failed, 2), kJson).status, 200);
  ASSERT_EQ(Post(pharos.port(), "/v1/traces", span(fine, 1), kJson).status, 200);
  HttpResponse r;
  for (int i = 0; i < 50; ++i) {
    r = Get(pharos.port(), "/api/traces/" + failed);
    if (r.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Get(pharos.port(), "/api/traces/" + fine).status, 404);
  HttpResponse metrics = Get(pharos.port(), "/metrics");
  EXPECT_NE(metrics.body.find(R"(pharos_traces_sampling_traces_total{decision="not_sampled"} 1)"),
            std::string::npos);

  std::string bad = pharos.WriteFile("bad.yaml", R"(traces:
  tail_sampling:
    policies:
      - {name: x, type: composite, composite: {}}
)");
  std::string out, err;
  EXPECT_EQ(RunPharos({"check-config", bad}, &out, &err), 2);
  EXPECT_NE(err.find("traces.tail_sampling.policies[0].type"), std::string::npos) << err;
}

}  // namespace
}  // namespace pharos::testing
