#include <cstdio>
#include <string_view>

#include <fmt/format.h>

#include "app/alerting_stack.h"
#include "app/app.h"
#include "app/version.h"
#include "common/log.h"
#include "traces/traces.h"

namespace pharos::app {
namespace {

constexpr std::string_view kUsage =
    R"(pharos: one server for metrics, logs, traces, alerts and incidents.

Usage:
  pharos serve [flags]          run the server
  pharos check-config FILE      validate a configuration file (and its rules and alerting)
  pharos check-rules FILE...    check Prometheus rule files as promtool does
  pharos repair-wal --data DIR  report (and with --yes, cut) an unreadable WAL tail
  pharos incident COMMAND       list, show, open, ack, mitigate, resolve, close incidents
  pharos demo                   simulate an online shop sending metrics to Pharos
  pharos version                print the version
  pharos openmetrics-test DIR   run the OpenMetrics parser conformance suite in DIR
  pharos promql-test FILE...    run Prometheus's PromQL test scripts
  pharos logql-test FILE...     run Loki's LogQL test scripts
  pharos help                   this text

Run 'pharos COMMAND --help' for a command's flags.
)";

constexpr std::string_view kServeUsage = R"(Usage: pharos serve [flags]

Runs Pharos in the foreground until SIGTERM or SIGINT.

Flags:
  --config FILE        YAML configuration (see config/pharos.example.yaml)
  --listen HOST:PORT   HTTP listener (server.listen; default 127.0.0.1:7070; port 0 picks one)
  --data DIR           data directory (storage.data_dir; default ./data)
  --port-file FILE     write the bound port to FILE once listening
  --insecure           allow a non-loopback listener without API tokens
  --log-level LEVEL    debug, info, warn or error (log.level)
  --threads N          I/O threads, 0 for one per core (server.threads)
  --set KEY=VALUE      set any configuration key, e.g. --set server.max_body_bytes=64MiB

Precedence, lowest first: defaults, --config, PHAROS_* environment variables
(PHAROS_SERVER_LISTEN, PHAROS_STORAGE_DATA_DIR, ...), flags.

Configuration keys:
)";

std::string KeyTable() {
  std::string out;
  for (const config::KeyDoc& k : config::ListKeys()) {
    out += fmt::format("  {:<32} {:<9} {}\n", k.key, k.type, k.help);
  }
  out +=
      fmt::format("  {:<32} {:<9} {}\n", "auth.tokens", "list",
                  "API tokens: name, token|token_file|token_sha256, scopes [read, write, admin]");
  return out;
}

int CheckConfig(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h")) {
    std::printf(
        "Usage: pharos check-config FILE\n\nValidates FILE as `serve --config FILE` "
        "would and exits 0 when it is valid, 2 otherwise.\n");
    return 0;
  }
  if (args.size() != 1) {
    LogError("usage: pharos check-config FILE");
    return 2;
  }
  config::Config config;
  Status s = config::LoadFile(args[0], config);
  if (!s.ok()) {
    LogError("invalid configuration", {{"error", s.message()}});
    return 2;
  }
  if (!config.traces.tail_sampling_yaml.empty()) {
    Result<traces::SamplingOptions> sampling =
        traces::ParseTailSampling(config.traces.tail_sampling_yaml);
    if (!sampling.ok()) {
      LogError("invalid configuration", {{"error", sampling.status().message()}});
      return 2;
    }
  }
  // The rules, alerting and incident sections are checked as serve would check them.
  Result<alerting::Config> alerting_config = BuildAlertingConfig(config, "http://localhost");
  if (!alerting_config.ok()) {
    LogError("invalid configuration", {{"error", alerting_config.status().message()}});
    return 2;
  }
  const std::pair<const std::vector<std::string>*, rules::RuleLanguage> rule_sets[] = {
      {&config.rule_files, rules::RuleLanguage::kPromql},
      {&config.log_rule_files, rules::RuleLanguage::kLogql}};
  for (const auto& [patterns, language] : rule_sets) {
    Result<std::vector<std::string>> files = rules::ExpandRuleFiles(*patterns, config.config_dir);
    if (!files.ok()) {
      LogError("invalid configuration", {{"error", files.status().message()}});
      return 2;
    }
    for (const std::string& file : *files) {
      Result<std::vector<rules::GroupSpec>> groups = rules::LoadRuleFile(file, language);
      if (!groups.ok()) {
        LogError("invalid rule file", {{"error", groups.status().message()}});
        return 2;
      }
    }
  }
  std::printf("%s: valid\n", args[0].c_str());
  return 0;
}

// `pharos promql-test` and `logql-test`: [--skip-list FILE] [--verbose] FILE...
int RunScriptSuite(const char* name, const std::vector<std::string>& args, const char* usage,
                   int (*run)(const std::vector<std::string>&, const std::string&, bool)) {
  std::vector<std::string> files;
  std::string skip_list;
  bool verbose = false;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::fputs(usage, stdout);
      return 0;
    }
    if (args[i] == "--skip-list" && i + 1 < args.size()) {
      skip_list = args[++i];
    } else if (args[i] == "--verbose" || args[i] == "-v") {
      verbose = true;
    } else if (args[i].starts_with("-")) {
      std::fprintf(stderr, "%s: unknown flag %s\n", name, args[i].c_str());
      return 2;
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "%s: no test files given\n", name);
    return 2;
  }
  return run(files, skip_list, verbose);
}

}  // namespace

Result<ServeOptions> ParseServeArgs(const std::vector<std::string>& args, char** environ) {
  ServeOptions options;
  // Flags win over the file and the environment, so collect them first, apply them last.
  std::vector<std::pair<std::string, std::string>> overrides;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_inline = false;
    if (size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_inline = true;
    }
    auto need_value = [&]() -> Status {
      if (has_inline) return Status::Ok();
      if (i + 1 >= args.size()) return InvalidArgument(fmt::format("{} needs a value", flag));
      value = args[++i];
      return Status::Ok();
    };
    if (flag == "--insecure") {
      overrides.emplace_back("server.insecure", has_inline ? value : "true");
      continue;
    }
    PHAROS_RETURN_IF_ERROR(flag.rfind("--", 0) == 0
                               ? Status::Ok()
                               : InvalidArgument(fmt::format("unexpected argument \"{}\"", flag)));
    if (flag == "--config") {
      PHAROS_RETURN_IF_ERROR(need_value());
      options.config_file = value;
    } else if (flag == "--port-file") {
      PHAROS_RETURN_IF_ERROR(need_value());
      options.port_file = value;
    } else if (flag == "--listen") {
      PHAROS_RETURN_IF_ERROR(need_value());
      overrides.emplace_back("server.listen", value);
    } else if (flag == "--data") {
      PHAROS_RETURN_IF_ERROR(need_value());
      overrides.emplace_back("storage.data_dir", value);
    } else if (flag == "--log-level") {
      PHAROS_RETURN_IF_ERROR(need_value());
      overrides.emplace_back("log.level", value);
    } else if (flag == "--threads") {
      PHAROS_RETURN_IF_ERROR(need_value());
      overrides.emplace_back("server.threads", value);
    } else if (flag == "--set") {
      PHAROS_RETURN_IF_ERROR(need_value());
      size_t eq = value.find('=');
      if (eq == std::string::npos) {
        return InvalidArgument(fmt::format("--set wants KEY=VALUE, got \"{}\"", value));
      }
      overrides.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else {
      return InvalidArgument(fmt::format("unknown flag {} (see pharos serve --help)", flag));
    }
  }
  if (!options.config_file.empty()) {
    PHAROS_RETURN_IF_ERROR(config::LoadFile(options.config_file, options.config));
  }
  PHAROS_RETURN_IF_ERROR(config::ApplyEnvironment(environ, options.config));
  for (const auto& [key, value] : overrides) {
    PHAROS_RETURN_IF_ERROR(config::ApplyOverride(key, value, options.config));
  }
  PHAROS_RETURN_IF_ERROR(config::Validate(options.config));
  return options;
}

int Run(int argc, char** argv, char** environ) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage.data(), stdout);
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "version" || command == "--version") {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
      std::printf("Usage: pharos version\n\nPrints the version, revision and compiler.\n");
      return 0;
    }
    std::printf("pharos %s (revision %s, %s)\n", PHAROS_VERSION, PHAROS_REVISION, PHAROS_COMPILER);
    return 0;
  }
  if (command == "check-config") return CheckConfig(args);
  if (command == "check-rules") return RunCheckRules(args);
  if (command == "repair-wal") return RunRepairWal(args);
  if (command == "incident") return RunIncidentCommand(args);
  if (command == "demo") return RunDemo(args);
  if (command == "openmetrics-test") {
    if (args.size() != 1 || args[0] == "--help") {
      std::printf(
          "Usage: pharos openmetrics-test DIR\n\nRuns the OpenMetrics parser suite (one "
          "directory per case with metrics and test.json) and prints N passed, M "
          "failed.\n");
      return args.size() == 1 ? 0 : 2;
    }
    return RunOpenMetricsSuite(args[0]);
  }
  if (command == "promql-test") {
    return RunScriptSuite(
        "promql-test", args,
        "Usage: pharos promql-test [--skip-list FILE] [--verbose] FILE...\n\nRuns "
        "Prometheus's PromQL test scripts (load, clear, eval) against the store and "
        "engine and prints N passed, M failed[, K skipped]. The skip list has one\n"
        "'file.test[:line] reason' per line.\n",
        RunPromqlTests);
  }
  if (command == "logql-test") {
    return RunScriptSuite(
        "logql-test", args,
        "Usage: pharos logql-test [--skip-list FILE] [--verbose] FILE...\n\nRuns "
        "Loki's LogQL test scripts (*.logqltest: load, clear, eval) through the "
        "LogQL engine and prints N passed, M failed[, K skipped]. The skip list has one\n"
        "'file.logqltest:line reason' per line.\n",
        RunLogqlTests);
  }
  if (command == "serve") {
    for (const std::string& a : args) {
      if (a == "--help" || a == "-h") {
        std::fputs(kServeUsage.data(), stdout);
        std::fputs(KeyTable().c_str(), stdout);
        return 0;
      }
    }
    Result<ServeOptions> options = ParseServeArgs(args, environ);
    if (!options.ok()) {
      LogError("invalid configuration", {{"error", options.status().message()}});
      return 2;
    }
    return Serve(*options);
  }
  LogError("unknown command (see pharos help)", {{"command", command}});
  return 2;
}

}  // namespace pharos::app
