#include "common/log.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <mutex>

#include <fmt/format.h>

#include "common/mutex.h"
#include "common/strings.h"

namespace pharos {
namespace internal {
std::atomic<int> g_log_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace internal

namespace {

Mutex g_sink_mu;
std::function<void(std::string_view)> g_sink PHAROS_GUARDED_BY(g_sink_mu);

void WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;  // stderr is gone; nothing better to do with a log line
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

void AppendTimestamp(std::string& out) {
  auto now = std::chrono::system_clock::now();
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(micros / 1000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 micros % 1000000);
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn" || name == "warning") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return InvalidArgument(
      fmt::format("unknown log level \"{}\" (want debug, info, warn or error)", name));
}

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

void SetLogLevel(LogLevel level) {
  internal::g_log_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel GetLogLevel() {
  return static_cast<LogLevel>(internal::g_log_level.load(std::memory_order_relaxed));
}

std::string FormatLogLine(LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields) {
  std::string line;
  line.reserve(128 + message.size());
  line += "{\"ts\":\"";
  AppendTimestamp(line);
  line += "\",\"level\":\"";
  line += LogLevelName(level);
  line += "\",\"msg\":";
  AppendJsonString(line, message);
  for (const LogField& f : fields) {
    line += ',';
    AppendJsonString(line, f.key);
    line += ':';
    std::visit(
        [&line](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string_view>) {
            AppendJsonString(line, v);
          } else if constexpr (std::is_same_v<V, bool>) {
            line += v ? "true" : "false";
          } else if constexpr (std::is_same_v<V, double>) {
            if (std::isfinite(v)) {
              fmt::format_to(std::back_inserter(line), "{}", v);
            } else {
              AppendJsonString(line, fmt::format("{}", v));
            }
          } else {
            fmt::format_to(std::back_inserter(line), "{}", v);
          }
        },
        f.value);
  }
  line += "}\n";
  return line;
}

void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line = FormatLogLine(level, message, fields);
  MutexLock lock(g_sink_mu);
  if (g_sink) {
    g_sink(line);
  } else {
    WriteAll(STDERR_FILENO, line);
  }
}

void SetLogSinkForTesting(std::function<void(std::string_view)> sink) {
  MutexLock lock(g_sink_mu);
  g_sink = std::move(sink);
}

}  // namespace pharos
