// The log store's crash harness: Loki JSON pushes on the real binary, SIGKILL at random
// moments (with a head of 256 KB and maintenance every 200 ms, so cuts and merges run
// every few hundred milliseconds and kills land in them), and after every restart an exact
// comparison of the lines the server returns with a ledger of what it acknowledged.
//
// Every line is unique ("w<writer>-<seq>" at its own nanosecond). A push is acknowledged
// (204), refused (4xx: none of its lines may appear) or uncertain (cut off by the kill).
// After each restart:
//   lost             acknowledged, but missing
//   duplicated       returned more than once
//   never_sent       returned, but never pushed
//   refused_present  refused, but returned
// must all be 0. Prints one summary line; exits 0 when they are, 1 otherwise.
//
//   logs_crash --pharos build/release/pharos [--kills 30] [--writers 3] [--dir DIR]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/crash/server.h"
#include "tests/support/http_client.h"

namespace pharos::testing {
namespace {

enum class Fate { kAcked, kRefused, kUncertain };

struct Ledger {
  std::mutex mu;
  std::map<std::string, Fate> lines;  // line -> what happened to its push
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Pushes batches of 40 lines until `stop`; records each batch's fate.
void Writer(int id, const std::atomic<uint16_t>& port, const std::atomic<bool>& stop,
            Ledger& ledger, int64_t base_ns, uint64_t& seq) {
  while (!stop.load()) {
    std::vector<std::string> lines;
    std::string body = R"({"streams":[{"stream":{"app":"crash","writer":")" + std::to_string(id) +
                       R"("},"values":[)";
    for (int k = 0; k < 40; ++k, ++seq) {
      std::string line = "w" + std::to_string(id) + "-" + std::to_string(seq);
      // Every writer owns its own nanoseconds: no two lines share a time.
      int64_t ts = base_ns + static_cast<int64_t>(seq) * 16 + id;
      if (k) body += ',';
      body += "[\"" + std::to_string(ts) + "\",\"" + line + "\"]";
      lines.push_back(std::move(line));
    }
    body += "]}]}";
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (const std::string& l : lines) ledger.lines[l] = Fate::kUncertain;
    }
    HttpResponse r =
        Post(port.load(), "/loki/api/v1/push", body, "Content-Type: application/json\r\n");
    Fate fate = r.status == 204                       ? Fate::kAcked
                : (r.status >= 400 && r.status < 500) ? Fate::kRefused
                                                      : Fate::kUncertain;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (const std::string& l : lines) ledger.lines[l] = fate;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(r.status == 0 ? 20 : 4));
  }
}

// Every line the server holds for {app="crash"}, oldest first, page by page.
bool ReadAll(uint16_t port, int64_t base_ns, std::vector<std::string>& out) {
  out.clear();
  int64_t from = base_ns - 1;
  int64_t end = NowNs() + int64_t{600} * 1'000'000'000;
  while (true) {
    std::string path =
        "/loki/api/v1/"
        "query_range?direction=forward&limit=5000&query=%7Bapp%3D%22crash%22%7D&start=" +
        std::to_string(from) + "&end=" + std::to_string(end);
    HttpResponse r = Get(port, path);
    if (r.status != 200) {
      std::fprintf(stderr, "logs_crash: query answered %d: %s\n", r.status,
                   r.body.substr(0, 300).c_str());
      return false;
    }
    // Entries: ["<ns>","<line>"]
    size_t n = 0;
    int64_t last = from;
    for (size_t at = r.body.find("[\""); at != std::string::npos; at = r.body.find("[\"", at + 1)) {
      size_t q = r.body.find('"', at + 2);
      size_t l1 = r.body.find('"', q + 1);
      size_t l2 = r.body.find('"', l1 + 1);
      if (q == std::string::npos || l1 == std::string::npos || l2 == std::string::npos) break;
      last = std::max<int64_t>(last, std::stoll(r.body.substr(at + 2, q - at - 2)));
      out.push_back(r.body.substr(l1 + 1, l2 - l1 - 1));
      ++n;
      at = l2;
    }
    if (n < 5000) return true;
    from = last + 1;  // lines own their nanoseconds, so none is skipped
  }
}

int Run(int argc, char** argv) {
  std::string pharos = "build/release/pharos";
  std::string dir;
  int kills = 30, writers = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--pharos") pharos = argv[i + 1];
    if (flag == "--kills") kills = std::atoi(argv[i + 1]);
    if (flag == "--writers") writers = std::atoi(argv[i + 1]);
    if (flag == "--dir") dir = argv[i + 1];
  }
  bool temp = dir.empty();
  if (temp)
    dir = std::filesystem::temp_directory_path() /
          ("pharos-logs-crash-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  PharosServer server(
      pharos, dir + "/data", dir + "/pharos.log",
      {"--set", "logs.head_max_bytes=256KB", "--set", "logs.maintenance_interval=200ms"});
  Ledger ledger;
  std::mt19937 rng(20261207);
  int64_t base_ns = NowNs() - int64_t{1800} * 1'000'000'000;
  std::vector<uint64_t> seqs(static_cast<size_t>(writers), 0);
  uint64_t lost = 0, duplicated = 0, never_sent = 0, refused_present = 0, acked_total = 0;
  uint64_t cuts = 0, merges = 0;
  std::atomic<uint16_t> port{0};
  for (int cycle = 0; cycle <= kills; ++cycle) {
    if (!server.Start(true)) {
      std::fprintf(stderr, "logs_crash: pharos did not start (see %s/pharos.log)\n", dir.c_str());
      return 1;
    }
    port = server.port();
    // Check what survived the previous kill.
    std::vector<std::string> got;
    if (!ReadAll(port, base_ns, got)) return 1;
    std::map<std::string, int> seen;
    for (const std::string& l : got) ++seen[l];
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      acked_total = 0;
      for (const auto& [line, fate] : ledger.lines) {
        auto it = seen.find(line);
        int count = it == seen.end() ? 0 : it->second;
        if (fate == Fate::kAcked) {
          ++acked_total;
          if (count == 0) ++lost;
        }
        if (fate == Fate::kRefused && count > 0) ++refused_present;
      }
      for (const auto& [line, count] : seen) {
        if (count > 1) ++duplicated;
        if (!ledger.lines.contains(line)) ++never_sent;
      }
    }
    if (cycle == kills) break;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < writers; ++w)
      threads.emplace_back(Writer, w, std::cref(port), std::cref(stop), std::ref(ledger), base_ns,
                           std::ref(seqs[static_cast<size_t>(w)]));
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 900));
    // Cuts this run made: the kills must land among them, not only between.
    std::string metrics = Get(port, "/metrics").body;
    size_t at = metrics.find("pharos_colstore_cuts_total{store=\"logs\"} ");
    if (at != std::string::npos) cuts += std::stoull(metrics.substr(metrics.find(' ', at) + 1));
    at = metrics.find("pharos_colstore_merges_total{store=\"logs\",outcome=\"merged\"} ");
    if (at != std::string::npos) merges += std::stoull(metrics.substr(metrics.find(' ', at) + 1));
    server.Kill();
    stop = true;
    for (std::thread& t : threads) t.join();
  }
  server.Kill();
  std::printf(
      "logs_crash: %d kills, %llu cuts, %llu merges, %llu lines acknowledged; lost %llu, "
      "duplicated %llu, never_sent %llu, refused_present %llu\n",
      kills, static_cast<unsigned long long>(cuts), static_cast<unsigned long long>(merges),
      static_cast<unsigned long long>(acked_total), static_cast<unsigned long long>(lost),
      static_cast<unsigned long long>(duplicated), static_cast<unsigned long long>(never_sent),
      static_cast<unsigned long long>(refused_present));
  if (temp) std::filesystem::remove_all(dir);
  bool ok = lost == 0 && duplicated == 0 && never_sent == 0 && refused_present == 0 &&
            acked_total > 0 && cuts > 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace pharos::testing

int main(int argc, char** argv) { return pharos::testing::Run(argc, argv); }
