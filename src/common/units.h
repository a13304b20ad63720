// Durations and byte sizes as people write them in config files and flags.
//
// Contract: pure functions. Durations use Prometheus's syntax ("1h30m", "500ms", "10s";
// units y w d h m s ms, each at most once, largest first). Byte sizes accept a plain
// integer or a number with a unit (B, KB, MB, GB, TB decimal; KiB, MiB, GiB, TiB binary).
// Errors name what was wrong with the text.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pharos {

using Duration = std::chrono::milliseconds;

Result<Duration> ParseDuration(std::string_view text);
/// The shortest Prometheus-style spelling: 90000ms -> "1m30s", 0 -> "0s".
std::string FormatDuration(Duration d);

/// Go's time.ParseDuration ("1.5s", "300ms", "2h45m", "1us"), in seconds; errors carry
/// Go's text (LogQL's duration conversions and Jaeger's minDuration take this syntax).
Result<double> ParseGoDuration(std::string_view text);

Result<uint64_t> ParseByteSize(std::string_view text);

/// A point in time as Prometheus's HTTP API takes it: Unix seconds with an optional
/// fraction ("1700000000.5"), or RFC 3339 ("2026-11-26T17:00:00Z", "...+08:00", with
/// fractional seconds). Returns milliseconds since the epoch.
Result<int64_t> ParseTimestampMs(std::string_view text);

/// The wall clock in milliseconds since the Unix epoch (components that take an injected
/// clock use this as the default).
int64_t UnixNowMs();

}  // namespace pharos
