// app: the `pharos` command line: subcommands, flags, and the wiring of `serve`.
//
// Contract: Run() parses argv and runs one subcommand, returning the process exit code:
// 0 on success, 2 for usage and configuration errors (with a message naming the flag or
// key), 1 for run-time failures (cannot listen, data directory in use). It writes help
// and version text to stdout and JSON log lines to stderr. Only main.cc calls it, after
// which nothing else runs; tests call the pieces below.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "config/config.h"

namespace pharos::app {

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

/// `pharos check-rules FILE...`: promtool-style checks; 0 when valid, 2 otherwise.
int RunCheckRules(const std::vector<std::string>& files);

/// `pharos incident ...`: the incident workflow against a running server over HTTP.
int RunIncidentCommand(const std::vector<std::string>& args);

/// `pharos demo`: simulates an online shop and sends its metrics to Pharos over OTLP/HTTP.
int RunDemo(const std::vector<std::string>& args);

/// Creates the data directory and takes its lock; the lock is held while the returned
/// descriptor is open. FailedPrecondition when another process holds it.
Result<int> OpenDataDir(const std::string& path);

}  // namespace pharos::app
