#include "selfmon/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace pharos::selfmon {
namespace {

TEST(RegistryTest, RendersCountersWithLabelsSorted) {
  Registry r;
  auto& requests = r.AddCounter("http_requests_total", "Requests.", {"route", "code"});
  requests.WithLabels({"/b", "200"}).Inc();
  requests.WithLabels({"/a", "404"}).Inc(2);
  std::string text = r.Render();
  EXPECT_EQ(text,
            "# HELP http_requests_total Requests.\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{route=\"/a\",code=\"404\"} 2\n"
            "http_requests_total{route=\"/b\",code=\"200\"} 1\n");
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  Registry r;
  r.AddGauge("g", "line1\nline2 \\", {"v"}).WithLabels({"a\"b\\c\nd"}).Set(-1.5);
  EXPECT_EQ(r.Render(),
            "# HELP g line1\\nline2 \\\\\n# TYPE g gauge\ng{v=\"a\\\"b\\\\c\\nd\"} -1.5\n");
}

TEST(RegistryTest, HistogramIsCumulative) {
  Registry r;
  auto& h = r.AddHistogram("lat_seconds", "Latency.", {}, {0.1, 1}).WithLabels({});
  h.Observe(0.05);
  h.Observe(0.1);  // le is inclusive
  h.Observe(0.5);
  h.Observe(7);
  std::string text = r.Render();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_sum 7.65\n"), std::string::npos);
  EXPECT_NE(text.find("lat_seconds_count 4\n"), std::string::npos);
}

TEST(RegistryTest, SameRegistrationReturnsSameFamily) {
  Registry r;
  auto& a = r.AddCounter("c_total", "C.", {"x"});
  auto& b = r.AddCounter("c_total", "C.", {"x"});
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.WithLabels({"1"}), &b.WithLabels({"1"}));
}

TEST(RegistryDeathTest, ClashingRegistrationAborts) {
  Registry r;
  r.AddCounter("c_total", "C.", {"x"});
  EXPECT_DEATH(r.AddGauge("c_total", "C.", {"x"}), "");
  EXPECT_DEATH(r.AddCounter("bad-name", "C."), "");
}

TEST(RegistryTest, ConcurrentIncrementsAreNotLost) {
  Registry r;
  auto& c = r.AddCounter("n_total", "N.").WithLabels({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.Inc();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), 40000);
}

TEST(RegistryTest, ProcessCollectorAndBuildInfo) {
  Registry r;
  RegisterProcessCollector(r);
  RegisterBuildInfo(r, "1.2.3", "abc");
  std::string text = r.Render();
  EXPECT_NE(text.find("pharos_build_info{version=\"1.2.3\",revision=\"abc\"} 1\n"),
            std::string::npos);
  for (const char* name :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
        "process_max_fds ", "process_start_time_seconds "}) {
    EXPECT_NE(text.find(std::string("\n") + name), std::string::npos) << name;
  }
}

TEST(FormatTest, PrometheusFloats) {
  std::string s;
  AppendPrometheusFloat(s, 1.0 / 0.0);
  s += ' ';
  AppendPrometheusFloat(s, -1.0 / 0.0);
  s += ' ';
  AppendPrometheusFloat(s, 0.0 / 0.0);
  s += ' ';
  AppendPrometheusFloat(s, 1e21);
  s += ' ';
  AppendPrometheusFloat(s, 0.25);
  EXPECT_EQ(s, "+Inf -Inf NaN 1e+21 0.25");
}

TEST(NameTest, Validates) {
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName("9a"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_TRUE(IsValidLabelName("_x1"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
}

}  // namespace
}  // namespace pharos::selfmon
