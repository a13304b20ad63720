#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ingest/ingest.h"

namespace pharos::ingest {
namespace {

std::string Labels(const model::SeriesInput& s) {
  std::string out;
  for (const auto& l : s.labels) out += std::string(l.name) + "=" + std::string(l.value) + ";";
  return out;
}

TEST(TextFormatTest, PrometheusFormat) {
  TextBatch b;
  Status s = ParseText(R"(# HELP http_requests_total The total.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A free comment.
msg{text="a \"quoted\" \\ line\nbreak"} -1.5e-3
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
rpc_duration_seconds{quantile="0.5",} 4773
  indented 1   
)",
                       TextFormat::kPrometheus, 42, b);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(b.batch.series.size(), 7u);
  EXPECT_EQ(Labels(b.batch.series[0]), "__name__=http_requests_total;method=post;code=200;");
  EXPECT_EQ(b.batch.series[0].samples[0].t, 1395066363000);
  EXPECT_EQ(b.batch.series[1].samples[0].v, 3);
  EXPECT_EQ(Labels(b.batch.series[2]), "__name__=msg;text=a \"quoted\" \\ line\nbreak;");
  EXPECT_EQ(b.batch.series[2].samples[0].v, -1.5e-3);
  EXPECT_EQ(b.batch.series[3].samples[0].t, 42);  // the default timestamp
  EXPECT_TRUE(std::isinf(b.batch.series[4].samples[0].v));
  EXPECT_EQ(b.batch.series[4].samples[0].t, -3982045);
  EXPECT_EQ(Labels(b.batch.series[6]), "__name__=indented;");
  ASSERT_GE(b.families.size(), 1u);
  EXPECT_EQ(b.families[0].name, "http_requests_total");
  EXPECT_EQ(b.families[0].type, MetricType::kCounter);
  EXPECT_EQ(b.families[0].help, "The total.");
}

TEST(TextFormatTest, PrometheusFormatErrorsNameTheLine) {
  TextBatch b;
  struct Case {
    const char* text;
    const char* error;
  } cases[] = {
      {"ok 1\nbad-name 1\n", "line 2: expected a space before the value"},
      {"m{a=\"1\" 1\n", "line 1: expected , or } after label a"},
      {"m{a=1} 1\n", "label value of a must be double-quoted"},
      {"m{a=\"1\",a=\"2\"} 1\n", "duplicate label name a"},
      {"m 1 1.5\n", "invalid timestamp"},
      {"m\n", "line 1: expected a space before the value"},
      {"m 0x10\n", "invalid value \"0x10\""},
      {"m{1a=\"x\"} 1\n", "invalid label name"},
      {"# TYPE m fancy\n", "unknown metric type \"fancy\""},
  };
  for (const Case& c : cases) {
    Status s = ParseText(c.text, TextFormat::kPrometheus, 0, b);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_NE(s.message().find(c.error), std::string::npos) << c.text << " -> " << s.message();
  }
}

TEST(TextFormatTest, OpenMetricsTimestampsAreSecondsAndExemplarsAreCounted) {
  TextBatch b;
  Status s = ParseText(
      "# TYPE a counter\n# UNIT a \n# HELP a help\na_total 3 1.5 # {trace_id=\"abc\"} 1 1.2\n"
      "a_created 1.7e9\n# TYPE s stateset\ns{s=\"on\"} 1\ns{s=\"off\"} 0\n# EOF\n",
      TextFormat::kOpenMetrics, 7, b);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(b.batch.series.size(), 4u);
  EXPECT_EQ(b.batch.series[0].samples[0].t, 1500);
  EXPECT_EQ(b.batch.series[1].samples[0].t, 7);
  EXPECT_EQ(b.exemplars, 1u);
  EXPECT_EQ(TextFormatFor("application/openmetrics-text; version=1.0.0"), TextFormat::kOpenMetrics);
  EXPECT_EQ(TextFormatFor("text/plain; version=0.0.4"), TextFormat::kPrometheus);
}

std::string TestData() {
  const char* env = std::getenv("PHAROS_TESTDATA");
  return env ? env : PHAROS_DEFAULT_TESTDATA;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Prometheus's own parser fixtures: realistic scrapes that must parse.
TEST(TextFormatTest, PrometheusTextparseFixtures) {
  std::string dir = TestData() + "/prometheus/textparse";
  if (!std::filesystem::exists(dir)) GTEST_SKIP() << "testdata not found at " << dir;
  TextBatch b;
  Status s = ParseText(ReadFile(dir + "/alltypes.237mfs.prom.txt"), TextFormat::kPrometheus, 0, b);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(b.families.size(), 237u);
  EXPECT_EQ(b.batch.series.size(), 1857u);  // every sample line
  s = ParseText(ReadFile(dir + "/alltypes.5mfs.om.txt"), TextFormat::kOpenMetrics, 0, b);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(b.families.size(), 5u);
  // Negative histogram sums with negative buckets: accepted from scrapes, refused by the
  // strict 1.0 rules.
  EXPECT_FALSE(
      ParseText(ReadFile(dir + "/alltypes.5mfs.om.txt"), TextFormat::kOpenMetrics, 0, b, true)
          .ok());
  s = ParseText(ReadFile(dir + "/1histogram.om.txt"), TextFormat::kOpenMetrics, 0, b, true);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(b.families.size(), 1u);
  EXPECT_EQ(b.families[0].type, MetricType::kHistogram);
}

}  // namespace
}  // namespace pharos::ingest
