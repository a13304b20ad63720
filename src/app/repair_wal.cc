// `pharos repair-wal`: the operator's explicit repair of a WAL record the store cannot read.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "app/app.h"
#include "common/log.h"
#include "selfmon/metrics.h"
#include "tsdb/tsdb.h"

namespace pharos::app {
namespace {

constexpr std::string_view kUsage = R"(Usage: pharos repair-wal --data DIR [--yes]

Opens the metrics store in DIR (the server must be stopped) and finds the first WAL record
it cannot read. Without --yes it reports what cutting the WAL there would drop and
changes nothing; with --yes it cuts the WAL there, so that `pharos serve` starts again.
Samples in the dropped records are lost; everything before them is kept.
)";

}  // namespace

int RunRepairWal(const std::vector<std::string>& args) {
  std::string data;
  bool yes = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    }
    if (args[i] == "--data" && i + 1 < args.size()) {
      data = args[++i];
    } else if (args[i].starts_with("--data=")) {
      data = args[i].substr(7);
    } else if (args[i] == "--yes") {
      yes = true;
    } else {
      std::fprintf(stderr, "repair-wal: unknown argument %s\n%s", args[i].c_str(), kUsage.data());
      return 2;
    }
  }
  if (data.empty()) {
    std::fprintf(stderr, "repair-wal: --data DIR is required\n%s", kUsage.data());
    return 2;
  }
  Result<int> lock = OpenDataDir(data);
  if (!lock.ok()) {
    std::fprintf(stderr, "repair-wal: %s\n", lock.status().message().c_str());
    return 1;
  }
  config::Config config;
  config.storage.data_dir = data;
  tsdb::Options options = TsdbOptions(config);
  options.maintenance_interval = std::chrono::hours(24 * 365);
  options.wal_truncate_at_bad_record = true;
  options.wal_repair_dry_run = !yes;
  selfmon::Registry registry;
  SetLogLevel(LogLevel::kWarn);
  Result<std::unique_ptr<tsdb::Db>> db = tsdb::Db::Open(options, registry);
  if (!db.ok()) {
    std::fprintf(stderr, "repair-wal: cannot open the metrics store: %s\n",
                 db.status().message().c_str());
    return 1;
  }
  tsdb::RecoveryReport r = (*db)->Recovery();
  (void)(*db)->Close();
  if (!r.wal_repaired) {
    std::printf("The WAL in %s is intact: %llu records, %llu samples. Nothing to repair.\n",
                options.dir.c_str(), static_cast<unsigned long long>(r.wal_records),
                static_cast<unsigned long long>(r.samples));
    return 0;
  }
  if (!yes) {
    std::printf(
        "The WAL in %s cannot be read past %s.\nA repair keeps the %llu records before it "
        "and drops %llu bytes from there on (the rest of that file and every later one).\n"
        "Run again with --yes to repair.\n",
        options.dir.c_str(), r.wal_repair.c_str(), static_cast<unsigned long long>(r.wal_records),
        static_cast<unsigned long long>(r.wal_dropped_bytes));
    return kExitDamagedStore;
  }
  std::printf("Repaired the WAL in %s: cut at %s, dropped %llu bytes, kept %llu records.\n",
              options.dir.c_str(), r.wal_repair.c_str(),
              static_cast<unsigned long long>(r.wal_dropped_bytes),
              static_cast<unsigned long long>(r.wal_records));
  return 0;
}

}  // namespace pharos::app
