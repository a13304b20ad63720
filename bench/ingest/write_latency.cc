// write_latency: remote_write latency while heavy queries run.
//
//   write_latency --port PORT [--seconds 15] [--queries 0,2,8] [--query EXPR] [--flush]
//
// With --flush, first one phase in which the head is cut into a block
// (POST /api/v1/admin/tsdb/flush) while the writer runs. Then, for each number of concurrent query
// loops, one writer sends a remote_write request of 100 series (one fresh sample each) every 20 ms
// on a keep-alive connection and records each request's latency; the query loops send EXPR to
// /api/v1/query back to back. Prints one line per setting: p50, p99 and max write latency, writes
// done, queries done.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/strings.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace {

using Clock = std::chrono::steady_clock;
using pharos::UrlQueryEscape;
using pharos::testing::HttpResponse;
using pharos::testing::RawConnection;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  uint16_t port = 0;
  int seconds = 15;
  std::vector<int> settings = {0, 2, 8};
  std::string query = "count(count_over_time({__name__=~\".+\"}[30d]))";
  bool flush = false;
  for (int i = 1; i < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--flush") {
      flush = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) break;
    std::string v = argv[i + 1];
    if (a == "--port") {
      port = static_cast<uint16_t>(std::atoi(v.c_str()));
    } else if (a == "--seconds") {
      seconds = std::atoi(v.c_str());
    } else if (a == "--query") {
      query = v;
    } else if (a == "--queries") {
      settings.clear();
      std::stringstream ss(v);
      std::string item;
      while (std::getline(ss, item, ',')) settings.push_back(std::atoi(item.c_str()));
    } else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (port == 0) {
    std::fprintf(stderr, "usage: write_latency --port PORT [--seconds N] [--queries 0,2,8]\n");
    return 2;
  }
  const std::string headers =
      "Host: bench\r\nContent-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n"
      "X-Prometheus-Remote-Write-Version: 0.1.0\r\n";
  int64_t t = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
  if (flush) settings.insert(settings.begin(), -1);
  for (int queries : settings) {
    std::atomic<bool> stop{false};
    std::atomic<int> queries_done{0};
    std::vector<std::thread> loops;
    double flush_seconds = 0;
    if (queries < 0) {
      loops.emplace_back([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        auto start = Clock::now();
        HttpResponse r = pharos::testing::Post(port, "/api/v1/admin/tsdb/flush", "");
        flush_seconds = std::chrono::duration<double>(Clock::now() - start).count();
        if (r.status / 100 == 2) queries_done.fetch_add(1);
      });
    }
    for (int q = 0; q < queries; ++q) {
      loops.emplace_back([&] {
        std::string path = "/api/v1/query?query=" + UrlQueryEscape(query);
        while (!stop.load()) {
          HttpResponse r = pharos::testing::Get(port, path);
          if (r.status == 200) queries_done.fetch_add(1);
        }
      });
    }
    if (queries > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    std::vector<double> latencies;
    int failed = 0;
    auto end = Clock::now() + std::chrono::seconds(seconds);
    auto conn = std::make_unique<RawConnection>(port);
    while (Clock::now() < end) {
      auto next = Clock::now() + std::chrono::milliseconds(20);
      std::vector<pharos::testing::WriteSeries> batch;
      t = std::max(t + 1,
                   static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count()));
      for (int s = 0; s < 100; ++s) {
        batch.push_back({{{"__name__", "bench_write_latency"}, {"s", std::to_string(s)}},
                         {{t, static_cast<double>(s)}}});
      }
      std::string body = pharos::testing::Snappy(pharos::testing::EncodeWriteRequest(batch));
      std::string request = "POST /api/v1/write HTTP/1.1\r\n" + headers +
                            "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
      auto start = Clock::now();
      HttpResponse r;
      if (conn->Send(request)) r = conn->Read(30000);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      if (r.status != 204) {
        if (failed++ < 3)
          std::fprintf(stderr, "write failed: %d %s\n", r.status, r.body.substr(0, 200).c_str());
        conn = std::make_unique<RawConnection>(port);
      } else {
        latencies.push_back(ms);
      }
      std::this_thread::sleep_until(next);
    }
    stop = true;
    for (auto& l : loops) l.join();
    if (queries < 0) {
      std::printf(
          "during a head cut (flush took %.2f s): writes %zu (failed %d), p50 %.1f ms, p99 %.1f "
          "ms, max %.1f ms\n",
          flush_seconds, latencies.size(), failed, Percentile(latencies, 0.5),
          Percentile(latencies, 0.99),
          latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end()));
      std::fflush(stdout);
      continue;
    }
    std::printf(
        "heavy queries %d: writes %zu (failed %d), p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
        "queries answered %d\n",
        queries, latencies.size(), failed, Percentile(latencies, 0.5), Percentile(latencies, 0.99),
        latencies.empty() ? 0.0 : *std::max_element(latencies.begin(), latencies.end()),
        queries_done.load());
    std::fflush(stdout);
  }
  return 0;
}
