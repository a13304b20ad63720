// process_* metrics read from /proc at scrape time, named as Prometheus's client libraries
// name them so that existing dashboards work.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "selfmon/metrics.h"

namespace pharos::selfmon {
namespace {

struct ProcStat {
  double cpu_seconds = 0;
  double start_time_seconds = 0;
  double virtual_bytes = 0;
  double resident_bytes = 0;
};

double BootTimeSeconds() {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[256];
  double btime = 0;
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, "btime ", 6) == 0) {
      btime = std::strtod(line + 6, nullptr);
      break;
    }
  }
  std::fclose(f);
  return btime;
}

bool ReadProcStat(ProcStat& out) {
  FILE* f = std::fopen("/proc/self/stat", "r");
  if (!f) return false;
  char buf[1024];
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  char* p = std::strrchr(buf, ')');
  if (!p) return false;
  p += 2;  // skip ") "
  // Fields from 3 (state) on; utime is 14, stime 15, starttime 22, vsize 23, rss 24.
  unsigned long long values[25] = {0};
  int field = 3;
  char* save = nullptr;
  for (char* tok = strtok_r(p, " ", &save); tok && field <= 24;
       tok = strtok_r(nullptr, " ", &save), ++field) {
    values[field] = std::strtoull(tok, nullptr, 10);
  }
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const double kPage = static_cast<double>(sysconf(_SC_PAGESIZE));
  static const double kBoot = BootTimeSeconds();
  out.cpu_seconds = static_cast<double>(values[14] + values[15]) / kTicks;
  out.start_time_seconds = kBoot + static_cast<double>(values[22]) / kTicks;
  out.virtual_bytes = static_cast<double>(values[23]);
  out.resident_bytes = static_cast<double>(values[24]) * kPage;
  return true;
}

double CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  double count = 0;
  while (struct dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the descriptor opendir itself holds
}

}  // namespace

void RegisterProcessCollector(Registry& registry) {
  registry.AddCollector([](SampleWriter& w) {
    ProcStat st;
    if (ReadProcStat(st)) {
      w.Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
               MetricType::kCounter);
      w.Sample("process_cpu_seconds_total", {}, st.cpu_seconds);
      w.Family("process_resident_memory_bytes", "Resident memory size in bytes.",
               MetricType::kGauge);
      w.Sample("process_resident_memory_bytes", {}, st.resident_bytes);
      w.Family("process_virtual_memory_bytes", "Virtual memory size in bytes.", MetricType::kGauge);
      w.Sample("process_virtual_memory_bytes", {}, st.virtual_bytes);
      w.Family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.", MetricType::kGauge);
      w.Sample("process_start_time_seconds", {}, st.start_time_seconds);
    }
    w.Family("process_open_fds", "Number of open file descriptors.", MetricType::kGauge);
    w.Sample("process_open_fds", {}, CountOpenFds());
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      w.Family("process_max_fds", "Maximum number of open file descriptors.", MetricType::kGauge);
      w.Sample("process_max_fds", {}, static_cast<double>(rl.rlim_cur));
    }
  });
}

void RegisterBuildInfo(Registry& registry, std::string_view version, std::string_view revision) {
  registry
      .AddGauge("pharos_build_info",
                "A metric with a constant '1' value labeled by version and revision of the "
                "build.",
                {"version", "revision"})
      .WithLabels({version, revision})
      .Set(1);
}

}  // namespace pharos::selfmon
