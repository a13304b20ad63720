// PromQL answers compared with the real Prometheus (Debian's 2.42): the same remote_write
// body goes to both, then every query below runs as a range query on both and the JSON
// answers must agree (same series and timestamps, values within a relative 1e-9).
//
// Pharos runs with query.prometheus2_windows=true: the data lies on the query's step grid,
// where Prometheus 3's left-open windows (Pharos's default, checked by Prometheus's own test
// scripts in `pharos promql-test`) and 2.42's closed ones differ by design.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

constexpr int64_t kStart = 1'700'000'000'000;  // ms
constexpr int kPoints = 120;                   // 30 minutes at 15 s
constexpr int64_t kInterval = 15'000;

std::vector<WriteSeries> Data() {
  std::vector<WriteSeries> out;
  for (int i = 0; i < 4; ++i) {
    std::string inst = "host-" + std::to_string(i);
    WriteSeries req{{{"__name__", "req_total"}, {"instance", inst}, {"job", i < 2 ? "api" : "db"}},
                    {}};
    WriteSeries temp{{{"__name__", "temp"}, {"instance", inst}, {"job", "node"}}, {}};
    WriteSeries info{
        {{"__name__", "build_info"}, {"instance", inst}, {"version", "v" + std::to_string(i % 2)}},
        {}};
    double counter = 100.0 * i;
    for (int p = 0; p < kPoints; ++p) {
      int64_t t = kStart + p * kInterval;
      counter += (p * 7 + i * 3) % 11;
      if (i == 1 && p == 60) counter = 5;  // a reset
      req.samples.push_back({t, counter});
      if (!(i == 3 && p > 40 && p < 50)) {  // a gap longer than nothing, shorter than lookback
        temp.samples.push_back({t, 20 + 5 * std::sin(p / 9.0 + i) + i * 0.25});
      }
      info.samples.push_back({t, 1});
    }
    out.push_back(std::move(req));
    out.push_back(std::move(temp));
    out.push_back(std::move(info));
  }
  const char* les[] = {"0.05", "0.1", "0.5", "1", "+Inf"};
  for (int k = 0; k < 5; ++k) {
    WriteSeries b{{{"__name__", "lat_bucket"}, {"job", "api"}, {"le", les[k]}}, {}};
    for (int p = 0; p < kPoints; ++p) {
      b.samples.push_back({kStart + p * kInterval, static_cast<double>(p * (k + 1) * 3 + k)});
    }
    out.push_back(std::move(b));
  }
  return out;
}

// Compares two Prometheus JSON answers: equal text, except that quoted numbers may differ
// in the last bits.
bool SameAnswer(const std::string& a, const std::string& b, std::string& why) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == '"' && b[j] == '"') {
      size_t ei = a.find('"', i + 1), ej = b.find('"', j + 1);
      std::string x = a.substr(i + 1, ei - i - 1), y = b.substr(j + 1, ej - j - 1);
      if (x != y) {
        char* end_x = nullptr;
        char* end_y = nullptr;
        double dx = std::strtod(x.c_str(), &end_x), dy = std::strtod(y.c_str(), &end_y);
        bool numbers = !x.empty() && !y.empty() && *end_x == '\0' && *end_y == '\0';
        if (!numbers || !(std::abs(dx - dy) <= 1e-9 * std::max(std::abs(dx), std::abs(dy)))) {
          why = "\"" + x + "\" vs \"" + y + "\" at offset " + std::to_string(i);
          return false;
        }
      }
      i = ei + 1;
      j = ej + 1;
      continue;
    }
    if (a[i] != b[j]) {
      why = "differ at offset " + std::to_string(i) + ": ..." + a.substr(i, 60) + " vs ..." +
            b.substr(j, 60);
      return false;
    }
    ++i;
    ++j;
  }
  if (i != a.size() || j != b.size()) {
    why = "lengths differ";
    return false;
  }
  return true;
}

// Prometheus answers large bodies with chunked transfer encoding; the test client does
// not decode it.
std::string Dechunk(const std::string& body) {
  if (body.empty() || body[0] == '{') return body;
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t n = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (n == 0) break;
    out += body.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  return out;
}

std::string Encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

TEST(PromqlPeerTest, SameAnswersAsPrometheus) {
  if (::access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "prometheus is not installed";
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe(
      {"--set", "global.scrape_self=false", "--set", "query.prometheus2_windows=true"}))
      << pharos.Stderr();
  uint16_t port = pharos.port();
  uint16_t prom_port = FreePort();
  std::string cfg = pharos.WriteFile("prometheus.yml", "global:\n  scrape_interval: 1h\n");
  PeerProcess prometheus("/usr/bin/prometheus",
                         {"--config.file=" + cfg, "--storage.tsdb.path=" + pharos.dir() + "/prom",
                          "--web.listen-address=127.0.0.1:" + std::to_string(prom_port),
                          "--web.enable-remote-write-receiver"});
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ready = Get(prom_port, "/-/ready").status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << "Prometheus did not start";

  std::string body = Snappy(EncodeWriteRequest(Data()));
  constexpr std::string_view kHeaders =
      "Content-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n"
      "X-Prometheus-Remote-Write-Version: 0.1.0\r\n";
  ASSERT_EQ(Post(port, "/api/v1/write", body, kHeaders).status, 204);
  ASSERT_EQ(Post(prom_port, "/api/v1/write", body, kHeaders).status, 204);

  const char* queries[] = {
      "req_total",
      "rate(req_total[1m])",
      "increase(req_total[5m])",
      "irate(req_total[2m])",
      "resets(req_total[10m])",
      "delta(temp[3m])",
      "idelta(temp[1m])",
      "deriv(temp[5m])",
      "predict_linear(temp[5m], 300)",
      "changes(temp[5m])",
      "sum by (job) (rate(req_total[2m]))",
      "avg without (instance) (temp)",
      "count by (job) (req_total)",
      "stddev(temp)",
      "quantile(0.75, temp)",
      "topk(2, temp)",
      "bottomk(1, rate(req_total[1m]))",
      "count_values(\"v\", ceil(temp))",
      "group by (version) (build_info)",
      "histogram_quantile(0.9, sum by (le) (rate(lat_bucket[2m])))",
      "histogram_quantile(0.5, lat_bucket)",
      "max_over_time(temp[3m])",
      "min_over_time(temp[3m])",
      "avg_over_time(temp[4m])",
      "sum_over_time(temp[2m])",
      "count_over_time(temp[5m])",
      "last_over_time(temp[5m])",
      "present_over_time(temp[1m])",
      "absent_over_time(temp[1m])",
      "quantile_over_time(0.5, temp[4m])",
      "stddev_over_time(temp[5m])",
      "stdvar_over_time(temp[5m])",
      "temp offset 2m",
      "temp @ 1700000600",
      "rate(req_total[5m] offset 5m)",
      "max_over_time(rate(req_total[1m])[5m:30s])",
      "avg_over_time(temp[10m:1m] offset 2m)",
      "req_total / on(instance) group_left(version) build_info",
      "build_info * on(instance) group_right temp",
      "label_replace(temp, \"host\", \"$1\", \"instance\", \"host-(.*)\")",
      "label_join(temp, \"both\", \"/\", \"instance\", \"job\")",
      "absent(nonexistent)",
      "temp > 20",
      "temp > bool 20",
      "21 < temp",
      "req_total and on(instance) temp",
      "req_total unless on(instance) (temp > 22)",
      "temp or on(instance) req_total",
      "-temp ^ 2",
      "temp % 3 + 2 * temp - temp / 7",
      "clamp(temp, 18, 22)",
      "clamp_min(temp, 20)",
      "abs(temp - 20)",
      "round(temp, 0.5)",
      "sqrt(temp) + ln(temp) + exp(temp / 10)",
      "timestamp(temp)",
      "scalar(sum(temp))",
      "vector(1)",
      "time()",
      "hour(vector(time()))",
      "sgn(temp - 21)",
      "sum(temp) by (job) / ignoring(job) group_left sum(temp)",
  };
  int64_t start = kStart / 1000 + 120;
  int64_t end = kStart / 1000 + (kPoints - 1) * 15 - 60;
  int compared = 0;
  int with_data = 0;
  for (const char* q : queries) {
    std::string path = "/api/v1/query_range?query=" + Encode(q) +
                       "&start=" + std::to_string(start) + "&end=" + std::to_string(end) +
                       "&step=30";
    HttpResponse mine = Get(port, path);
    HttpResponse theirs = Get(prom_port, path, "Connection: close\r\n");
    theirs.body = Dechunk(theirs.body);
    EXPECT_EQ(mine.status, theirs.status) << q << "\n" << mine.body << "\n" << theirs.body;
    std::string why;
    EXPECT_TRUE(SameAnswer(mine.body, theirs.body, why))
        << q << ": " << why << "\npharos:     " << mine.body.substr(0, 300)
        << "\nprometheus: " << theirs.body.substr(0, 300);
    ++compared;
    if (theirs.body.find("\"values\":[[") != std::string::npos) ++with_data;
  }
  EXPECT_EQ(compared, static_cast<int>(std::size(queries)));
  // The comparison is not vacuous: all but absent(nonexistent) return data.
  EXPECT_EQ(with_data, static_cast<int>(std::size(queries)) - 1);
}

}  // namespace
}  // namespace pharos::testing
