#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "ingest/otlp.h"
#include "tests/support/protobuf.h"

namespace pharos::ingest::otlp {
namespace {

std::string Find(const model::Labels& labels, const std::string& name) {
  for (const auto& l : labels) {
    if (l.name == name) return l.value;
  }
  return "";
}

// name{le or quantile} -> value, for the series of one translation.
std::map<std::string, double> ByName(const TranslateResult& r) {
  std::map<std::string, double> out;
  for (const Series& s : r.series) {
    std::string key = Find(s.labels, "__name__");
    if (!Find(s.labels, "le").empty()) key += "{le=" + Find(s.labels, "le") + "}";
    if (!Find(s.labels, "quantile").empty()) key += "{quantile=" + Find(s.labels, "quantile") + "}";
    out[key] = s.sample.v;
  }
  return out;
}

TEST(OtlpNamesTest, PrometheusConventions) {
  Metric m;
  m.name = "http.server.request.duration";
  m.unit = "s";
  m.kind = Kind::kHistogram;
  EXPECT_EQ(MetricName(m), "http_server_request_duration_seconds");
  m.name = "process.memory";
  m.unit = "By";
  m.kind = Kind::kSum;
  m.monotonic = false;
  EXPECT_EQ(MetricName(m), "process_memory_bytes");
  m.monotonic = true;
  EXPECT_EQ(MetricName(m), "process_memory_bytes_total");
  m.name = "requests";
  m.unit = "{request}";
  EXPECT_EQ(MetricName(m), "requests_total");
  m.name = "cpu.utilization";
  m.unit = "1";
  m.kind = Kind::kGauge;
  EXPECT_EQ(MetricName(m), "cpu_utilization_ratio");
  m.name = "net.io";
  m.unit = "By/s";
  EXPECT_EQ(MetricName(m), "net_io_bytes_per_second");
  m.name = "already_seconds";
  m.unit = "s";
  EXPECT_EQ(MetricName(m), "already_seconds");
  EXPECT_EQ(LabelName("http.method"), "http_method");
  EXPECT_EQ(LabelName("2xx"), "key_2xx");
  EXPECT_EQ(LabelName("a..b"), "a_b");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(OtlpJsonTest, SpecExampleTranslates) {
  const char* env = std::getenv("PHAROS_TESTDATA");
  std::string path =
      std::string(env ? env : PHAROS_DEFAULT_TESTDATA) + "/otlp/examples/metrics.json";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "testdata not found at " << path;
  Request req;
  Status s = DecodeJson(ReadFile(path), req);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(req.resources.size(), 1u);
  DeltaState deltas;
  TranslateResult r;
  Translate(req, deltas, r);
  EXPECT_EQ(r.rejected_points, 0u) << (r.errors.empty() ? "" : r.errors[0]);
  auto got = ByName(r);
  EXPECT_EQ(got["my_counter_total"], 5);  // delta, monotonic: cumulative from here
  EXPECT_TRUE(got.count("my_gauge_ratio"));
  EXPECT_TRUE(got.count("my_histogram_count"));
  EXPECT_TRUE(got.count("my_histogram_bucket{le=+Inf}"));
  EXPECT_TRUE(got.count("my_exponential_histogram_count"));
  for (const Series& series : r.series) {
    if (Find(series.labels, "__name__") == "my_counter_total") {
      EXPECT_EQ(Find(series.labels, "job"), "my.service");
      EXPECT_EQ(Find(series.labels, "otel_scope_name"), "my.library");
      EXPECT_EQ(Find(series.labels, "my_counter_attr"), "some value");
      EXPECT_EQ(series.sample.t, 1544712660300);
    }
  }
  // The same delta again: the counter keeps growing.
  TranslateResult again;
  Translate(req, deltas, again);
  EXPECT_EQ(ByName(again)["my_counter_total"], 10);
}

TEST(OtlpJsonTest, HistogramsSummariesAndErrors) {
  std::string body = R"({"resourceMetrics":[{"resource":{"attributes":[
    {"key":"service.name","value":{"stringValue":"shop"}},
    {"key":"service.namespace","value":{"stringValue":"prod"}},
    {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
    {"key":"host.name","value":{"stringValue":"h1"}},
    {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"2"}]}}}]},
   "scopeMetrics":[{"scope":{"name":"lib"},"metrics":[
    {"name":"latency","unit":"ms","histogram":{"aggregationTemporality":2,"dataPoints":[
      {"timeUnixNano":"2000000000","count":"6","sum":12.5,"bucketCounts":["1","2",3],"explicitBounds":[1,10]}]}},
    {"name":"sizes","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[
      {"timeUnixNano":2000000000,"count":"7","sum":20,"scale":0,"zeroCount":"1",
       "positive":{"offset":1,"bucketCounts":["2","3"]},"negative":{"offset":0,"bucketCounts":["1"]}}]}},
    {"name":"rpc","summary":{"dataPoints":[{"timeUnixNano":"2000000000","count":"4","sum":8,
      "quantileValues":[{"quantile":0.5,"value":1.5},{"quantile":1,"value":3}]}]}},
    {"name":"bad","gauge":{"dataPoints":[{"asDouble":1}]}},
    {"name":"gone","gauge":{"dataPoints":[{"timeUnixNano":"2000000000","flags":1}]}}]}]}]})";
  Request req;
  Status s = DecodeJson(body, req);
  ASSERT_TRUE(s.ok()) << s.ToString();
  DeltaState deltas;
  TranslateResult r;
  Translate(req, deltas, r);
  auto got = ByName(r);
  EXPECT_EQ(got["latency_milliseconds_bucket{le=1}"], 1);
  EXPECT_EQ(got["latency_milliseconds_bucket{le=10}"], 3);
  EXPECT_EQ(got["latency_milliseconds_bucket{le=+Inf}"], 6);
  EXPECT_EQ(got["latency_milliseconds_sum"], 12.5);
  // Exponential, scale 0 (base 2): negative bucket k=0 -> (-2,-1], zero, (2,4], (4,8].
  EXPECT_EQ(got["sizes_bucket{le=-1}"], 1);
  EXPECT_EQ(got["sizes_bucket{le=0}"], 2);
  EXPECT_EQ(got["sizes_bucket{le=4}"], 4);
  EXPECT_EQ(got["sizes_bucket{le=8}"], 7);
  EXPECT_EQ(got["sizes_bucket{le=+Inf}"], 7);
  EXPECT_EQ(got["rpc{quantile=0.5}"], 1.5);
  EXPECT_EQ(got["rpc_count"], 4);
  EXPECT_TRUE(model::IsStaleNaN(got["gone"]));
  EXPECT_EQ(r.rejected_points, 1u);  // "bad" has no timestamp
  EXPECT_NE(r.errors[0].find("no time_unix_nano"), std::string::npos);
  const Series* info = nullptr;
  for (const Series& x : r.series) {
    if (Find(x.labels, "__name__") == "target_info") info = &x;
  }
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(Find(info->labels, "job"), "prod/shop");
  EXPECT_EQ(Find(info->labels, "instance"), "pod-1");
  EXPECT_EQ(Find(info->labels, "host_name"), "h1");
  EXPECT_EQ(Find(info->labels, "tags"), R"(["a","2"])");

  EXPECT_FALSE(DecodeJson("{not json", req).ok());
  EXPECT_FALSE(DecodeJson(R"({"resourceMetrics":{}})", req).ok());
  Status enum_name = DecodeJson(
      R"({"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA"}}]}]}]})",
      req);
  EXPECT_NE(enum_name.message().find("enums are integers"), std::string::npos)
      << enum_name.message();
}

using pharos::testing::Pb;

std::string Attr(const std::string& k, const std::string& v) {
  return Pb().Len(1, k).Len(2, Pb().Len(1, v).out).out;
}

TEST(OtlpProtoTest, SumGaugeAndCumulativeDeltas) {
  std::string point = Pb().Len(7, Attr("code", "200")).Fixed(3, 3000000000ULL).Double(4, 2).out;
  std::string int_point = Pb().Fixed(3, 3000000000ULL).Fixed(6, static_cast<uint64_t>(-4)).out;
  std::string sum =
      Pb().Len(1, point).Key(2, 0).Varint(1).Key(3, 0).Varint(1).out;  // delta, monotonic
  std::string gauge = Pb().Len(1, int_point).out;
  std::string metrics = Pb().Len(2, Pb().Len(1, "reqs").Len(7, sum).out)
                            .Len(2, Pb().Len(1, "temp").Len(5, gauge).out)
                            .out;
  std::string scope = Pb().Len(1, Pb().Len(1, "lib").Len(2, "1.2").out).out + metrics;
  std::string resource =
      Pb().Len(1, Pb().Len(1, Attr("service.name", "api")).out).Len(2, scope).out;
  std::string request = Pb().Len(1, resource).out;
  Request req;
  Status s = DecodeProto(request, req);
  ASSERT_TRUE(s.ok()) << s.ToString();
  DeltaState deltas;
  TranslateResult r;
  Translate(req, deltas, r);
  Translate(req, deltas, r);
  auto got = ByName(r);
  EXPECT_EQ(got["reqs_total"], 4);  // 2 + 2
  EXPECT_EQ(got["temp"], -4);
  EXPECT_EQ(Find(r.series[0].labels, "otel_scope_version"), "1.2");
  EXPECT_EQ(r.series[0].sample.t, 3000);

  std::string truncated = request.substr(0, request.size() - 3);
  EXPECT_FALSE(DecodeProto(truncated, req).ok());
  EXPECT_FALSE(DecodeProto("\xff\xff\xff", req).ok());
  EXPECT_TRUE(DecodeProto("", req).ok());
  EXPECT_TRUE(req.resources.empty());
}

}  // namespace
}  // namespace pharos::ingest::otlp
