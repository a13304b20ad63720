// app: the `pharos` command line: subcommands, flags, and the wiring of `serve`.
//
// Contract: Run() parses argv and runs one subcommand, returning the process exit code:
// 0 on success, 2 for usage and configuration errors (with a message naming the flag or
// key), 1 for run-time failures (cannot listen, data directory in use), 3 when the
// metrics store's WAL holds a record it cannot read (`pharos repair-wal`), 4 when
// meta.db is damaged (docs/operations.md says how to recover). It writes help
// and version text to stdout and JSON log lines to stderr. Only main.cc calls it, after
// which nothing else runs; tests call the pieces below.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "config/config.h"
#include "tsdb/tsdb.h"

namespace pharos::app {

inline constexpr int kExitDamagedStore = 3;
inline constexpr int kExitDamagedMeta = 4;

int Run(int argc, char** argv, char** environ);

/// Options of `pharos serve` that are not configuration keys.
struct ServeOptions {
  std::string config_file;
  std::string port_file;
  config::Config config;
};

/// Builds the configuration for `serve`: defaults, then --config FILE, then PHAROS_*
/// variables, then flags (--listen, --data, --insecure, --log-level, --threads,
/// --set key=value).
Result<ServeOptions> ParseServeArgs(const std::vector<std::string>& args, char** environ);

/// Runs the server until SIGTERM or SIGINT; returns the exit code.
int Serve(const ServeOptions& options);

/// Runs the OpenMetrics parser conformance suite in `dir`; prints "N passed, M failed".
/// Returns 0 when all pass, 1 when any fails, 77 when `dir` does not exist.
int RunOpenMetricsSuite(const std::string& dir);

/// Runs Prometheus's PromQL test scripts; prints a line per file and "N passed, M failed[,
/// K skipped]". `skip_list` names evals not to run, each with a reason. Returns 0 when
/// none fails, 1 when any fails, 2 for a bad skip list, 77 when no file exists.
int RunPromqlTests(const std::vector<std::string>& files, const std::string& skip_list,
                   bool verbose);

/// A conformance skip list: one "file:line reason" (or "file reason") per line, `#`
/// comments; every skip needs a reason. An empty path is an empty list.
Result<std::map<std::string, std::string>> ReadSkipList(const std::string& path);

/// One test script's results.
struct ScriptOutcome {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
  std::vector<std::string> failures;  // "file:line: query\n    why"
  Status status;                      // the script itself could not be run
};
/// Runs each file's text through `run` (given the file's name), prints up to 20 failures a
/// file (all with `verbose`), a line per file and the total "N passed, M failed[, K
/// skipped]" after `prefix`. Returns 0 when none failed, 1 otherwise, 2 for a bad skip list,
/// 77 when no file exists.
int RunScripts(
    const std::vector<std::string>& files, const std::string& skip_list, bool verbose,
    std::string_view tool, std::string_view prefix,
    const std::function<ScriptOutcome(const std::string& name, const std::string& text,
                                      const std::map<std::string, std::string>& skips)>& run);

/// Runs Loki's LogQL test scripts (*.logqltest); the same report and exit codes as
/// RunPromqlTests.
int RunLogqlTests(const std::vector<std::string>& files, const std::string& skip_list,
                  bool verbose);

/// `pharos check-rules FILE...`: promtool-style checks; 0 when valid, 2 otherwise.
int RunCheckRules(const std::vector<std::string>& files);

/// `pharos incident ...`: the incident workflow against a running server over HTTP.
int RunIncidentCommand(const std::vector<std::string>& args);

/// `pharos demo`: simulates an online shop and sends its metrics to Pharos over OTLP/HTTP.
int RunDemo(const std::vector<std::string>& args);

/// `pharos repair-wal --data DIR [--yes]`: reports what cutting the metrics store's WAL at
/// its first unreadable record drops; with --yes, cuts it. 0 when intact or repaired.
int RunRepairWal(const std::vector<std::string>& args);

/// The metrics store's options from the configuration.
tsdb::Options TsdbOptions(const config::Config& config);

/// Creates the data directory and takes its lock; the lock is held while the returned
/// descriptor is open. FailedPrecondition when another process holds it.
Result<int> OpenDataDir(const std::string& path);

}  // namespace pharos::app
