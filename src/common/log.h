// Structured logging: one JSON object per line on stderr.
//
// Contract: Log() is safe from any thread; each line is written with one write() so lines
// never interleave. Fields are key/value pairs rendered as JSON; callers must never pass
// secrets (tokens, passwords) as fields. The level check is a relaxed atomic load, so a
// disabled PHAROS_LOG costs one compare. The sink can be replaced for tests.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "common/status.h"

namespace pharos {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

Result<LogLevel> ParseLogLevel(std::string_view name);
std::string_view LogLevelName(LogLevel level);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
inline bool LogEnabled(LogLevel level);

struct LogField {
  using Value = std::variant<std::string_view, int64_t, uint64_t, double, bool>;
  LogField(std::string_view k, std::string_view v) : key(k), value(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  LogField(std::string_view k, int v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, long v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, long long v) : key(k), value(int64_t{v}) {}
  LogField(std::string_view k, unsigned v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, unsigned long v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, unsigned long long v) : key(k), value(uint64_t{v}) {}
  LogField(std::string_view k, double v) : key(k), value(v) {}
  LogField(std::string_view k, bool v) : key(k), value(v) {}
  std::string_view key;
  Value value;
};

/// Writes one log line when `level` is enabled.
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

/// Renders one line (without writing it); exposed for tests.
std::string FormatLogLine(LogLevel level, std::string_view message,
                          std::initializer_list<LogField> fields);

/// Replaces the sink (default: write(2) to stderr). Pass nullptr to restore the default.
void SetLogSinkForTesting(std::function<void(std::string_view line)> sink);

namespace internal {
extern std::atomic<int> g_log_level;
}
inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= internal::g_log_level.load(std::memory_order_relaxed);
}

inline void LogDebug(std::string_view m, std::initializer_list<LogField> f = {}) {
  if (LogEnabled(LogLevel::kDebug)) Log(LogLevel::kDebug, m, f);
}
inline void LogInfo(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kInfo, m, f);
}
inline void LogWarn(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kWarn, m, f);
}
inline void LogError(std::string_view m, std::initializer_list<LogField> f = {}) {
  Log(LogLevel::kError, m, f);
}

}  // namespace pharos
