// The crash harness: remote_write load on the real binary, SIGKILL at random moments and
// deliberately during cuts, checkpoints, merges and start-up, and after every restart an
// exact comparison of what the server returns with a ledger of what it acknowledged.
//
// Several writers share a sample clock that runs faster than real time (so the head is
// cut into blocks, checkpointed and merged every few hundred milliseconds), write some
// samples out of order inside the window and some, on purpose, beyond it. Every sample is
// recorded as acknowledged (the request got 204), refused (400: nothing of it may appear),
// or uncertain (the request was cut off by the kill). After each restart:
//   lost             acknowledged, but missing
//   duplicated       one timestamp returned twice for a series
//   changed          returned with another value than the one sent
//   never_sent       returned, but never sent
//   refused_present  refused with a 400, but returned
// must all be 0. Prints one summary line; exits 0 when they are, 1 otherwise.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/crash/server.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string pharos = "build/release/pharos";
  std::string dir;  // working directory; a fresh temporary one when empty
  int kills = 10;
  int writers = 4;
  int series = 20;  // per writer

  int interval_ms = 10;  // between one writer's requests
  uint32_t seed = 20261202;
  std::string maintenance = "200ms";
  // Profiles, one picked per cycle: a block duration and the sample clock's speed (sample
  // seconds per real second). 2m@300 cuts every few hundred ms; 1h@1800 keeps one WAL
  // generation for about 2 s while the clock runs past the out-of-order window in 0.4 s.
  struct Profile {
    std::string block;
    int rate;
  };
  std::vector<Profile> profiles = {{"2m", 300}, {"1h", 1800}, {"1h", 1800}};
  bool keep = false;
};

enum class State : uint8_t { kAcked, kUncertain, kRefused };

struct Entry {
  int64_t t;
  double v;
  State state;
};

// Per series, every sample sent, in sending order.
struct Ledger {
  std::mutex mu;
  std::map<std::string, std::vector<Entry>> series;
  uint64_t acked = 0, uncertain = 0, refused = 0;
  uint64_t unexpected_refusals = 0;  // 400s for requests meant to be accepted
};

struct Totals {
  uint64_t lost = 0, duplicated = 0, changed = 0, never_sent = 0, refused_present = 0;
  uint64_t checked = 0;
  bool bad() const { return lost || duplicated || changed || never_sent || refused_present; }
};

double ValueFor(const std::string& name, int64_t t) {
  uint64_t h = std::hash<std::string>{}(name) ^ static_cast<uint64_t>(t) * 0x9E3779B97F4A7C15ULL;
  return static_cast<double>(h % 1'000'003);  // integers print and parse exactly
}

// `pharos serve` with this harness's storage settings.
class Server : public PharosServer {
 public:
  Server(const Flags& flags, std::string data, std::string log, std::string block)
      : PharosServer(flags.pharos, std::move(data), std::move(log),
                     {"--set", "storage.maintenance_interval=" + flags.maintenance, "--set",
                      "storage.block_duration=" + block, "--set", "storage.retention=0"}) {}
};

// Parses the export's JSON lines: {"metric":{"__name__":"...",...},"values":[...],
// "timestamps":[...]}.
bool ParseExport(const std::string& body, std::map<std::string, std::vector<Entry>>& out) {
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view line(body.data() + pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    size_t n = line.find("\"__name__\":\"");
    size_t vs = line.find("\"values\":[");
    size_t ts = line.find("\"timestamps\":[");
    if (n == std::string::npos || vs == std::string::npos || ts == std::string::npos) return false;
    n += 12;
    std::string name(line.substr(n, line.find('"', n) - n));
    std::vector<double> values;
    std::vector<int64_t> times;
    auto list = [&](size_t at) {
      size_t close = line.find(']', at);
      return std::string(line.substr(at, close - at));
    };
    std::string v = list(vs + 10), t = list(ts + 14);
    for (size_t p = 0; p < v.size();) {
      size_t comma = v.find(',', p);
      if (comma == std::string::npos) comma = v.size();
      values.push_back(std::strtod(v.c_str() + p, nullptr));
      p = comma + 1;
    }
    for (size_t p = 0; p < t.size();) {
      size_t comma = t.find(',', p);
      if (comma == std::string::npos) comma = t.size();
      times.push_back(std::strtoll(t.c_str() + p, nullptr, 10));
      p = comma + 1;
    }
    if (values.size() != times.size()) return false;
    auto& dst = out[name];
    for (size_t i = 0; i < times.size(); ++i)
      dst.push_back(Entry{times[i], values[i], State::kAcked});
  }
  return true;
}

// Compares what the server returns with the ledger.
bool Verify(uint16_t port, Ledger& ledger, Totals& totals, int cycle) {
  HttpResponse r = Get(port, "/api/v1/export?match[]=%7B__name__%3D~%22crash_.%2A%22%7D&start=0");
  if (r.status != 200) {
    std::fprintf(stderr, "cycle %d: export failed: %d %s\n", cycle, r.status, r.body.c_str());
    return false;
  }
  std::map<std::string, std::vector<Entry>> present;
  if (!ParseExport(r.body, present)) {
    std::fprintf(stderr, "cycle %d: cannot parse the export\n", cycle);
    return false;
  }
  std::lock_guard<std::mutex> lock(ledger.mu);
  int reported = 0;
  auto report = [&](const char* what, const std::string& name, int64_t t) {
    if (reported++ < 10)
      std::fprintf(stderr, "cycle %d: %s %s@%lld\n", cycle, what, name.c_str(),
                   static_cast<long long>(t));
  };
  for (auto& [name, sent] : ledger.series) {
    // A timestamp sent more than once counts as acknowledged if any request with it was,
    // else as uncertain if any was cut off, else as refused.
    std::map<int64_t, Entry> by_t;
    for (const Entry& e : sent) {
      auto [it, fresh] = by_t.emplace(e.t, e);
      if (!fresh && (e.state == State::kAcked ||
                     (e.state == State::kUncertain && it->second.state == State::kRefused))) {
        it->second.state = e.state;
      }
    }
    std::map<int64_t, double> got;
    for (const Entry& e : present[name]) {
      ++totals.checked;
      if (!got.emplace(e.t, e.v).second) {
        ++totals.duplicated;
        report("duplicated", name, e.t);
      }
      auto it = by_t.find(e.t);
      if (it == by_t.end()) {
        ++totals.never_sent;
        report("never sent", name, e.t);
      } else if (it->second.state == State::kRefused) {
        ++totals.refused_present;
        report("refused but present", name, e.t);
      } else if (it->second.v != e.v) {
        ++totals.changed;
        report("changed", name, e.t);
      }
    }
    for (const auto& [t, e] : by_t) {
      if (e.state == State::kAcked && !got.count(e.t)) {
        ++totals.lost;
        report("lost", name, e.t);
      }
    }
  }
  for (const auto& [name, entries] : present) {
    if (!ledger.series.count(name)) {
      totals.never_sent += entries.size();
      report("series never sent", name, entries.empty() ? 0 : entries[0].t);
    }
  }
  return true;
}

// One writer: its own series, one sample each per request at the shared sample clock;
// every 7th request also carries an out-of-order sample inside the window, every 23rd is
// entirely beyond the window (refused).
void Writer(int w, const Flags& flags, std::atomic<uint16_t>& port, std::atomic<bool>& stop,
            const std::function<int64_t()>& sample_clock, Ledger& ledger) {
  std::vector<std::string> names;
  for (int i = 0; i < flags.series; ++i) {
    names.push_back("crash_w" + std::to_string(w) + "_s" + std::to_string(i));
  }
  std::vector<int64_t> last(names.size(), 0);
  std::mt19937 rng(flags.seed + static_cast<uint32_t>(w));
  uint64_t n = 0;
  while (!stop.load()) {
    ++n;
    int64_t now = sample_clock();
    bool beyond = n % 23 == 0;
    bool late = !beyond && n % 7 == 0;
    std::vector<WriteSeries> batch;
    std::vector<std::pair<size_t, Entry>> entries;
    for (size_t i = 0; i < names.size(); ++i) {
      WriteSeries ws;
      ws.labels = {{"__name__", names[i]}, {"writer", std::to_string(w)}};
      int64_t t;
      if (beyond) {
        // 30 minutes behind the newest: past the 10-minute window, refused before the WAL.
        if (last[i] == 0) continue;
        t = last[i] - 30 * 60'000 - static_cast<int64_t>(rng() % 1000);
      } else if (late) {
        // Out of order inside the window: 5 to 60 s back, at an odd millisecond. A cut may
        // have passed it already, so these requests may be refused in part (uncertain).
        if (last[i] == 0) continue;
        t = (last[i] - 5'000 - static_cast<int64_t>(rng() % 55'000)) | 1;
      } else {
        t = std::max(now, last[i] + 1);
        last[i] = t;
      }
      ws.samples.push_back({t, ValueFor(names[i], t)});
      entries.push_back({i, Entry{t, ws.samples.back().second, State::kUncertain}});
      batch.push_back(std::move(ws));
    }
    if (batch.empty()) continue;
    uint16_t p = port.load();
    HttpResponse r =
        Post(p, "/api/v1/write", Snappy(EncodeWriteRequest(batch)), kRemoteWriteHeaders);
    State state = r.status == 204   ? State::kAcked
                  : r.status == 400 ? State::kRefused
                                    : State::kUncertain;
    if (r.status == 400 && late) state = State::kUncertain;
    if (r.status == 400 && !beyond && !late) {
      // A refusal the harness did not ask for: which samples were kept is not known, so
      // none of them counts as acknowledged or refused; counted and printed.
      state = State::kUncertain;
      std::lock_guard<std::mutex> lock(ledger.mu);
      if (ledger.unexpected_refusals++ < 3) {
        std::fprintf(stderr, "unexpected 400: %s\n", r.body.substr(0, 300).c_str());
      }
    }
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      for (auto& [i, e] : entries) {
        e.state = state;
        auto& list = ledger.series[names[i]];
        // A sample sent again after an uncertain request keeps the strongest state.
        list.push_back(e);
      }
      (state == State::kAcked     ? ledger.acked
       : state == State::kRefused ? ledger.refused
                                  : ledger.uncertain) += entries.size();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.interval_ms));
  }
}

// The highest WAL segment number in `dir`.
uint64_t NewestSegment(const std::string& dir) {
  uint64_t newest = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() == 8 && name.find_first_not_of("0123456789") == std::string::npos) {
      newest = std::max<uint64_t>(newest, std::stoull(name));
    }
  }
  return newest;
}

// Blocks of level 2 and up (merged), with those being written (.tmp) or deleted (.del).
std::set<std::string> MergedBlocks(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.ends_with(".del") || (!name.ends_with("-1") && !name.ends_with("-1.tmp"))) {
      out.insert(name);
    }
  }
  return out;
}

int Main(const Flags& flags) {
  std::string dir = flags.dir;
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pharos-crash-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    if (!made) return 2;
    dir = made;
  }
  std::string data = dir + "/data";
  std::string log = dir + "/pharos.log";
  Ledger ledger;
  Totals totals;
  std::mt19937 rng(flags.seed);
  // The sample clock: 30 days ago at the start, running each cycle's profile's rate
  // times faster than real time (continuous across rate changes).
  auto wall_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  std::mutex clock_mu;
  int64_t clock_base = wall_ms() - 30LL * 24 * 3600 * 1000;
  auto clock_since = Clock::now();
  int clock_rate = 300;
  std::function<int64_t()> sample_clock = [&] {
    std::lock_guard<std::mutex> lock(clock_mu);
    auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - clock_since).count();
    return clock_base + elapsed * clock_rate;
  };
  auto SetRate = [&](int rate) {
    int64_t now = sample_clock();
    std::lock_guard<std::mutex> lock(clock_mu);
    clock_base = now;
    clock_since = Clock::now();
    clock_rate = rate;
  };
  int kinds[4] = {0, 0, 0, 0};  // random, cut or checkpoint, merge, start-up
  bool ok = true;
  auto started = Clock::now();
  for (int cycle = 0; cycle <= flags.kills && ok; ++cycle) {
    const Flags::Profile& profile = flags.profiles[rng() % flags.profiles.size()];
    SetRate(profile.rate);
    Server server(flags, data, log, profile.block);
    if (!server.Start(true)) {
      std::fprintf(stderr, "cycle %d: the server did not become ready (log: %s)\n", cycle,
                   log.c_str());
      ok = false;
      break;
    }
    if (!Verify(server.port(), ledger, totals, cycle)) {
      ok = false;
      break;
    }
    if (totals.bad()) break;
    if (cycle == flags.kills) break;
    int kind = static_cast<int>(rng() % 4);
    std::atomic<uint16_t> port{server.port()};
    std::atomic<bool> stop{false};
    std::vector<std::thread> writers;
    for (int w = 0; w < flags.writers; ++w) {
      writers.emplace_back(Writer, w, std::cref(flags), std::ref(port), std::ref(stop),
                           std::cref(sample_clock), std::ref(ledger));
    }
    auto up = std::chrono::milliseconds(300 + rng() % 1700);
    auto deadline = Clock::now() + up;
    std::this_thread::sleep_until(deadline);
    bool hit = kind == 0 || kind == 3;
    std::string wal = data + "/tsdb/wal", blocks = data + "/tsdb/blocks";
    if (kind == 1) {
      // Right after the WAL rolls: the cut is writing its block or its checkpoint.
      uint64_t rolled = NewestSegment(wal);
      for (auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
        if (NewestSegment(wal) > rolled) {
          std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
          hit = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    } else if (kind == 2) {
      // While a merged block is written, or once it is in place and its inputs still are.
      std::set<std::string> before = MergedBlocks(blocks);
      for (auto until = Clock::now() + std::chrono::seconds(5); Clock::now() < until;) {
        if (MergedBlocks(blocks) != before) {
          hit = true;
          break;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    server.Kill();
    stop = true;
    for (auto& t : writers) t.join();
    if (kind == 3) {
      // Killed again while it starts: replay, repair, interrupted deletes.
      Server again(flags, data, log, profile.block);
      again.Start(false);
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 60));
      again.Kill();
      hit = true;
    }
    ++kinds[hit ? kind : 0];
  }
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  std::printf(
      "crash harness: %d kills (random %d, during cut or checkpoint %d, during merge %d, "
      "start-up %d) in %.0f s; samples acknowledged %llu, refused %llu, uncertain %llu; "
      "unexpected refusals %llu; checked %llu; lost %llu, duplicated %llu, changed %llu, never "
      "sent %llu, refused but present %llu\n",
      kinds[0] + kinds[1] + kinds[2] + kinds[3], kinds[0], kinds[1], kinds[2], kinds[3], seconds,
      static_cast<unsigned long long>(ledger.acked),
      static_cast<unsigned long long>(ledger.refused),
      static_cast<unsigned long long>(ledger.uncertain),
      static_cast<unsigned long long>(ledger.unexpected_refusals),
      static_cast<unsigned long long>(totals.checked), static_cast<unsigned long long>(totals.lost),
      static_cast<unsigned long long>(totals.duplicated),
      static_cast<unsigned long long>(totals.changed),
      static_cast<unsigned long long>(totals.never_sent),
      static_cast<unsigned long long>(totals.refused_present));
  bool pass = ok && !totals.bad() && ledger.acked > 0;
  if (!flags.keep && pass && flags.dir.empty()) std::filesystem::remove_all(dir);
  if (!pass) std::fprintf(stderr, "crash harness: FAILED (data and log kept in %s)\n", dir.c_str());
  return pass ? 0 : 1;
}

}  // namespace
}  // namespace pharos::testing

int main(int argc, char** argv) {
  pharos::testing::Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (a == name && i + 1 < argc) return argv[++i];
      return nullptr;
    };
    if (const char* v = value("--pharos")) {
      flags.pharos = v;
    } else if (const char* v = value("--dir")) {
      flags.dir = v;
    } else if (const char* v = value("--kills")) {
      flags.kills = std::atoi(v);
    } else if (const char* v = value("--writers")) {
      flags.writers = std::atoi(v);
    } else if (const char* v = value("--series")) {
      flags.series = std::atoi(v);
    } else if (const char* v = value("--interval-ms")) {
      flags.interval_ms = std::atoi(v);
    } else if (const char* v = value("--seed")) {
      flags.seed = static_cast<uint32_t>(std::strtoul(v, nullptr, 10));
    } else if (const char* v = value("--maintenance-interval")) {
      flags.maintenance = v;
    } else if (const char* v = value("--profiles")) {
      flags.profiles.clear();
      std::stringstream list(v);
      std::string item;
      while (std::getline(list, item, ',')) {
        size_t at = item.find('@');
        if (at == std::string::npos) return 2;
        flags.profiles.push_back({item.substr(0, at), std::atoi(item.c_str() + at + 1)});
      }
    } else if (a == "--keep") {
      flags.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: crash_harness [--pharos PATH] [--kills N] [--writers N] [--series N] "
                   "[--interval-ms N] [--seed N] [--maintenance-interval D] "
                   "[--profiles BLOCK@RATE,...] [--dir DIR] [--keep]\n");
      return 2;
    }
  }
  return pharos::testing::Main(flags);
}
