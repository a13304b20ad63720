// The trace store's crash harness: OTLP/HTTP exports on the real binary, SIGKILL at random
// moments (with a head of 256 KB and maintenance every 200 ms, so cuts and merges run
// every few hundred milliseconds and kills land in them), and after every restart an exact
// comparison of the spans the server returns with a ledger of what it acknowledged.
//
// Every span has its own id; a writer's spans of one run (between two kills) share one
// trace, so that a check reads a trace per writer and run. An export is acknowledged (200
// without partial success), refused (4xx: none of its spans may appear) or uncertain (cut
// off by the kill). After each restart:
//   lost             acknowledged, but missing
//   duplicated       returned more than once
//   never_sent       returned, but never exported
//   refused_present  refused, but returned
// must all be 0. Prints one summary line; exits 0 when they are, 1 otherwise.
//
//   traces_crash --pharos build/release/pharos [--kills 30] [--writers 3] [--dir DIR]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tests/crash/server.h"
#include "tests/support/http_client.h"

namespace pharos::testing {
namespace {

enum class Fate { kAcked, kRefused, kUncertain };

struct Ledger {
  std::mutex mu;
  std::map<std::string, Fate> spans;  // span id (hex) -> what happened to its export
  std::set<std::string> traces;       // every trace id (hex) written
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Exports batches of 40 spans of the trace `trace` until `stop`; records each batch's fate.
void Writer(int id, const std::string& trace, const std::atomic<uint16_t>& port,
            const std::atomic<bool>& stop, Ledger& ledger, int64_t base_ns, uint64_t& seq) {
  while (!stop.load()) {
    std::vector<std::string> ids;
    std::string body =
        R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":)"
        R"({"stringValue":"crash"}}]},"scopeSpans":[{"spans":[)";
    for (int k = 0; k < 40; ++k, ++seq) {
      std::string span_id = fmt::format("{:02x}{:014x}", id + 1, seq + 1);
      int64_t start = base_ns + static_cast<int64_t>(seq) * 16 + id;
      if (k) body += ',';
      body += fmt::format(
          R"({{"traceId":"{}","spanId":"{}","name":"op","kind":2,"startTimeUnixNano":"{}",)"
          R"("endTimeUnixNano":"{}","attributes":[{{"key":"seq","value":{{"intValue":"{}"}}}}]}})",
          trace, span_id, start, start + 1000, seq);
      ids.push_back(std::move(span_id));
    }
    body += "]}]}]}";
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (const std::string& s : ids) ledger.spans[s] = Fate::kUncertain;
    }
    HttpResponse r = Post(port.load(), "/v1/traces", body, "Content-Type: application/json\r\n");
    Fate fate = r.status == 200 && r.body == "{}"     ? Fate::kAcked
                : (r.status >= 400 && r.status < 500) ? Fate::kRefused
                                                      : Fate::kUncertain;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (const std::string& s : ids) ledger.spans[s] = fate;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(r.status == 0 ? 20 : 4));
  }
}

// The span ids of every trace written, as the server returns them (Jaeger's JSON).
bool ReadAll(uint16_t port, const std::set<std::string>& traces, std::vector<std::string>& out) {
  out.clear();
  for (const std::string& trace : traces) {
    HttpResponse r = Get(port, "/api/traces/" + trace);
    if (r.status == 404) continue;  // none of its spans was kept
    if (r.status != 200) {
      std::fprintf(stderr, "traces_crash: trace %s answered %d: %s\n", trace.c_str(), r.status,
                   r.body.substr(0, 300).c_str());
      return false;
    }
    const std::string key = R"("spanID":")";
    for (size_t at = r.body.find(key); at != std::string::npos; at = r.body.find(key, at + 1)) {
      at += key.size();
      std::string id = r.body.substr(at, r.body.find('"', at) - at);
      // A CHILD_OF reference names a span id too; these spans have no parent.
      out.push_back(std::move(id));
    }
  }
  return true;
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
          ("pharos-traces-crash-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  PharosServer server(
      pharos, dir + "/data", dir + "/pharos.log",
      {"--set", "traces.head_max_bytes=256KB", "--set", "traces.maintenance_interval=200ms"});
  Ledger ledger;
  std::mt19937 rng(20261207);
  int64_t base_ns = NowNs() - int64_t{1800} * 1'000'000'000;
  std::vector<uint64_t> seqs(static_cast<size_t>(writers), 0);
  uint64_t lost = 0, duplicated = 0, never_sent = 0, refused_present = 0, acked_total = 0;
  uint64_t cuts = 0, merges = 0;
  std::atomic<uint16_t> port{0};
  for (int cycle = 0; cycle <= kills; ++cycle) {
    if (!server.Start(true)) {
      std::fprintf(stderr, "traces_crash: pharos did not start (see %s/pharos.log)\n", dir.c_str());
      return 1;
    }
    port = server.port();
    // Check what survived the previous kill.
    std::vector<std::string> got;
    std::set<std::string> traces;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      traces = ledger.traces;
    }
    if (!ReadAll(port, traces, got)) return 1;
    std::map<std::string, int> seen;
    for (const std::string& s : got) ++seen[s];
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      acked_total = 0;
      for (const auto& [span, fate] : ledger.spans) {
        auto it = seen.find(span);
        int count = it == seen.end() ? 0 : it->second;
        if (fate == Fate::kAcked) {
          ++acked_total;
          if (count == 0) ++lost;
        }
        if (fate == Fate::kRefused && count > 0) ++refused_present;
      }
      for (const auto& [span, count] : seen) {
        if (count > 1) ++duplicated;
        if (!ledger.spans.contains(span)) ++never_sent;
      }
    }
    if (cycle == kills) break;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    std::vector<std::string> trace_ids;
    for (int w = 0; w < writers; ++w) {
      trace_ids.push_back(fmt::format("{:016x}{:08x}{:08x}", 0xc4a5ULL, cycle + 1, w + 1));
      std::lock_guard<std::mutex> lock(ledger.mu);
      ledger.traces.insert(trace_ids.back());
    }
    for (int w = 0; w < writers; ++w)
      threads.emplace_back(Writer, w, std::cref(trace_ids[static_cast<size_t>(w)]), std::cref(port),
                           std::cref(stop), std::ref(ledger), base_ns,
                           std::ref(seqs[static_cast<size_t>(w)]));
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 900));
    // Cuts this run made: the kills must land among them, not only between.
    std::string metrics = Get(port, "/metrics").body;
    size_t at = metrics.find("pharos_colstore_cuts_total{store=\"spans\"} ");
    if (at != std::string::npos) cuts += std::stoull(metrics.substr(metrics.find(' ', at) + 1));
    at = metrics.find("pharos_colstore_merges_total{store=\"spans\",outcome=\"merged\"} ");
    if (at != std::string::npos) merges += std::stoull(metrics.substr(metrics.find(' ', at) + 1));
    server.Kill();
    stop = true;
    for (std::thread& t : threads) t.join();
  }
  server.Kill();
  std::printf(
      "traces_crash: %d kills, %llu cuts, %llu merges, %llu spans acknowledged; lost %llu, "
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
