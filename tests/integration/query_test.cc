// Prometheus's query API on the real binary: data imported in the text format, then read
// back through /api/v1/query and /api/v1/query_range in Prometheus's JSON, with its errors.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"

namespace pharos::testing {
namespace {

// 0..10 minutes of a counter rising 60 per minute, for two instances, and a gauge.
void LoadData(uint16_t port) {
  std::string body;
  for (int m = 0; m <= 10; ++m) {
    int64_t ts = 1'700'000'000'000 + m * 60'000;
    body += "q_requests_total{instance=\"a\",job=\"api\"} " + std::to_string(m * 60) + " " +
            std::to_string(ts) + "\n";
    body += "q_requests_total{instance=\"b\",job=\"api\"} " + std::to_string(m * 120) + " " +
            std::to_string(ts) + "\n";
    body += "q_temperature{room=\"lab\"} 21.5 " + std::to_string(ts) + "\n";
  }
  HttpResponse r =
      Post(port, "/api/v1/import/prometheus", body, "Content-Type: text/plain; version=0.0.4\r\n");
  ASSERT_EQ(r.status, 204) << r.body;
}

TEST(QueryApiTest, InstantAndRangeQueriesInPrometheusShape) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  LoadData(port);

  // A sum by of rate, at a Unix time in seconds.
  HttpResponse r = Get(port,
                       "/api/v1/query?query=sum%20by%20(job)%20(rate(q_requests_total%5B5m%5D))"
                       "&time=1700000600");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(
      r.body,
      R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"api"},"value":[1700000600,"3"]}]}})");

  // RFC 3339 time; a scalar; a string.
  r = Get(port, "/api/v1/query?query=2%5E10&time=2023-11-14T22:23:20.5Z");
  EXPECT_EQ(
      r.body,
      R"({"status":"success","data":{"resultType":"scalar","result":[1700000600.5,"1024"]}})");
  r = Get(port, "/api/v1/query?query=%22hi%22&time=10");
  EXPECT_EQ(r.body, R"({"status":"success","data":{"resultType":"string","result":[10,"hi"]}})");

  // A form-encoded POST of a range query; NaN and Inf as strings.
  r = Post(port, "/api/v1/query_range",
           "query=q_temperature%20%2F%200&start=1700000000&end=1700000120&step=60",
           "Content-Type: application/x-www-form-urlencoded\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(
      r.body,
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{"room":"lab"},"values":[[1700000000,"+Inf"],[1700000060,"+Inf"],[1700000120,"+Inf"]]}]}})");

  // limit truncates and says so.
  r = Get(port, "/api/v1/query?query=q_requests_total&time=1700000600&limit=1");
  EXPECT_NE(r.body.find(R"("warnings":["results truncated due to limit"])"), std::string::npos)
      << r.body;

  // Annotations travel as infos.
  r = Get(port, "/api/v1/query?query=rate(q_temperature%5B5m%5D)&time=1700000600");
  EXPECT_NE(r.body.find(R"("infos":["PromQL info: metric might not be a counter)"),
            std::string::npos)
      << r.body;
}

// An answer of several MiB is sent in parts of about 1 MiB: it arrives whole, with the
// Content-Length of all of them.
TEST(QueryApiTest, LargeAnswersArriveWhole) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  std::string body;
  for (int s = 0; s < 20; ++s) {
    for (int m = 0; m <= 15; ++m) {
      body += "q_big{s=\"" + std::to_string(s) + "\"} " + std::to_string(s * 1000 + m) + " " +
              std::to_string(1'700'000'000'000 + m * 60'000) + "\n";
    }
  }
  HttpResponse r =
      Post(port, "/api/v1/import/prometheus", body, "Content-Type: text/plain; version=0.0.4\r\n");
  ASSERT_EQ(r.status, 204) << r.body;
  // 20 series x 9,001 steps of 0.1 s: about 4 MB of JSON; labels sort s="9" last.
  r = Get(port, "/api/v1/query_range?query=q_big&start=1700000000&end=1700000900&step=0.1");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_GT(r.body.size(), 3u << 20);
  EXPECT_TRUE(
      r.body.starts_with(R"({"status":"success","data":{"resultType":"matrix","result":[)"));
  EXPECT_TRUE(r.body.ends_with("]}]}}")) << r.body.substr(r.body.size() - 100);
  size_t points = 0, series = 0;
  for (size_t at = r.body.find("[17000"); at != std::string::npos;
       at = r.body.find("[17000", at + 1)) {
    ++points;
  }
  for (size_t at = r.body.find(R"({"metric":)"); at != std::string::npos;
       at = r.body.find(R"({"metric":)", at + 1)) {
    ++series;
  }
  EXPECT_EQ(series, 20u);
  EXPECT_EQ(points, 20u * 9001u);
  EXPECT_NE(r.body.find(R"([1700000900,"9015"]]}]}})"), std::string::npos);
}

TEST(QueryApiTest, ErrorsCarryPrometheusErrorTypes) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  LoadData(port);

  HttpResponse r = Get(port, "/api/v1/query?query=sum(up");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(
      r.body,
      R"({"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:7: parse error: unexpected end of input in aggregation, expected \",\" or \")\""})");
  r = Get(port, "/api/v1/query?query=up&time=yesterday");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid parameter \\\"time\\\""), std::string::npos) << r.body;
  r = Get(port, "/api/v1/query_range?query=up&start=10&end=5&step=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("end timestamp must not be before start time"), std::string::npos);
  r = Get(port, "/api/v1/query_range?query=up&start=0&end=1000000&step=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("exceeded maximum resolution of 11000 points"), std::string::npos);
  r = Get(port, "/api/v1/query_range?query=up&start=0&end=10&step=0");
  EXPECT_EQ(r.status, 400);
  // Evaluation errors are execution errors (422).
  r = Get(port,
          "/api/v1/query?query=q_requests_total%20%2B%20on()%20q_requests_total&time=1700000600");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find(R"("errorType":"execution")"), std::string::npos);
  EXPECT_NE(r.body.find("many-to-many matching not allowed"), std::string::npos);
}

TEST(QueryApiTest, SampleLimitIsEnforced) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "query.max_samples=5"})) << pharos.Stderr();
  uint16_t port = pharos.port();
  LoadData(port);
  HttpResponse r = Get(port,
                       "/api/v1/query?query=count_over_time(q_requests_total%5B10m%5D)"
                       "&time=1700000600");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("query processing would load too many samples into memory"),
            std::string::npos)
      << r.body;
}

TEST(QueryApiTest, SeriesLimitIsEnforced) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "query.max_series=1"})) << pharos.Stderr();
  uint16_t port = pharos.port();
  LoadData(port);
  HttpResponse r = Get(port, "/api/v1/query?query=q_requests_total&time=1700000600");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("the query selects more than 1 series, the limit of query.max_series"),
            std::string::npos)
      << r.body;
  r = Get(port, "/api/v1/query?query=q_temperature&time=1700000600");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST(QueryApiTest, FormatParseMetadataAndStatus) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  uint16_t port = pharos.port();
  HttpResponse r = Get(port, "/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(a)");
  EXPECT_EQ(r.body, R"x({"status":"success","data":"sum by (a) (rate(x[5m]))"})x");
  r = Get(port, "/api/v1/parse_query?query=-foo%7Ba%3D%22b%22%7D");
  EXPECT_NE(r.body.find(R"("type":"unaryExpr")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"name":"a","type":"=","value":"b"})"), std::string::npos);
  // Queries are counted by type and result, and timed.
  Get(port, "/api/v1/query?query=1");
  std::string metrics = Get(port, "/metrics").body;
  EXPECT_NE(metrics.find("pharos_queries_total{type=\"instant\",result=\"success\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("pharos_query_duration_seconds_count{type=\"instant\"}"),
            std::string::npos);
  EXPECT_NE(metrics.find("pharos_queries_active 0"), std::string::npos);
  r = Get(port, "/api/v1/status/flags");
  EXPECT_NE(r.body.find(R"("query.lookback-delta":"5m")"), std::string::npos) << r.body;
  r = Get(port, "/api/v1/status/runtimeinfo");
  EXPECT_NE(r.body.find(R"("serverReady":true)"), std::string::npos) << r.body;
  r = Get(port, "/api/v1/query_exemplars?query=up&start=0&end=10");
  EXPECT_EQ(r.body, R"({"status":"success","data":[]})");
  r = Get(port, "/api/v1/metadata");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.rfind(R"({"status":"success","data":{)", 0), 0u) << r.body;
}

}  // namespace
}  // namespace pharos::testing
