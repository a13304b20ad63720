#include "common/units.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <limits>
#include <string>

#include <fmt/format.h>

#include "common/strings.h"

namespace pharos {
namespace {

struct Unit {
  std::string_view name;
  int64_t millis;
};
// Ordered largest first; "ms" before "m" is handled by matching the longest name.
constexpr Unit kDurationUnits[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty duration");
  if (text == "0") return Duration(0);
  int64_t total = 0;
  size_t last_unit = 0;  // index+1 of the previous unit, to enforce largest-first order
  std::string_view rest = text;
  while (!rest.empty()) {
    size_t digits = 0;
    while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
    if (digits == 0) {
      return InvalidArgument(
          fmt::format("invalid duration \"{}\" (want e.g. 30s, 5m, 1h30m)", text));
    }
    if (digits > 15) return InvalidArgument(fmt::format("duration \"{}\" is too large", text));
    int64_t number = 0;
    for (size_t i = 0; i < digits; ++i) number = number * 10 + (rest[i] - '0');
    rest.remove_prefix(digits);
    size_t unit_len = 0;
    while (unit_len < rest.size() && !(rest[unit_len] >= '0' && rest[unit_len] <= '9')) ++unit_len;
    std::string_view unit_name = rest.substr(0, unit_len);
    rest.remove_prefix(unit_len);
    size_t index = 0;
    for (; index < std::size(kDurationUnits); ++index) {
      if (kDurationUnits[index].name == unit_name) break;
    }
    if (index == std::size(kDurationUnits)) {
      return InvalidArgument(fmt::format(
          "invalid duration \"{}\": unknown or missing unit \"{}\" (use ms, s, m, h, d, w, y)",
          text, unit_name));
    }
    if (index + 1 <= last_unit) {
      return InvalidArgument(
          fmt::format("invalid duration \"{}\": units must appear once, largest first", text));
    }
    last_unit = index + 1;
    int64_t millis = kDurationUnits[index].millis;
    if (number > (std::numeric_limits<int64_t>::max() - total) / millis) {
      return InvalidArgument(fmt::format("duration \"{}\" is too large", text));
    }
    total += number * millis;
  }
  return Duration(total);
}

int64_t UnixNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  for (const Unit& u : kDurationUnits) {
    // As Prometheus's model.Duration prints: years and weeks only when they divide the
    // rest evenly (90d reads better than 12w6d), days and below always.
    if (u.millis > 24LL * 3600 * 1000 && ms % u.millis != 0) continue;
    if (ms >= u.millis) {
      fmt::format_to(std::back_inserter(out), "{}{}", ms / u.millis, u.name);
      ms %= u.millis;
    }
  }
  return out;
}

Result<uint64_t> ParseByteSize(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty byte size");
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) {
    return InvalidArgument(
        fmt::format("invalid byte size \"{}\" (want e.g. 1048576, 16MiB, 1GB)", text));
  }
  uint64_t number = 0;
  for (size_t i = 0; i < digits; ++i) number = number * 10 + static_cast<uint64_t>(text[i] - '0');
  std::string_view unit = text.substr(digits);
  struct ByteUnit {
    std::string_view name;
    uint64_t factor;
  };
  static constexpr ByteUnit kUnits[] = {
      {"", 1},
      {"B", 1},
      {"KB", 1000ULL},
      {"MB", 1000ULL * 1000},
      {"GB", 1000ULL * 1000 * 1000},
      {"TB", 1000ULL * 1000 * 1000 * 1000},
      {"KiB", 1ULL << 10},
      {"MiB", 1ULL << 20},
      {"GiB", 1ULL << 30},
      {"TiB", 1ULL << 40},
  };
  for (const ByteUnit& u : kUnits) {
    if (u.name == unit) {
      if (number > std::numeric_limits<uint64_t>::max() / u.factor) {
        return InvalidArgument(fmt::format("byte size \"{}\" is too large", text));
      }
      return number * u.factor;
    }
  }
  return InvalidArgument(fmt::format(
      "invalid byte size \"{}\": unknown unit \"{}\" (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
      text, unit));
}

Result<int64_t> ParseTimestampMs(std::string_view text) {
  if (text.empty()) return InvalidArgument("empty timestamp");
  std::string copy(text);
  char* end = nullptr;
  double seconds = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() + copy.size() && copy.find_first_of("xXpPiInN") == std::string::npos) {
    if (!std::isfinite(seconds) || std::fabs(seconds) > 9.2e15) {
      return InvalidArgument(fmt::format("timestamp \"{}\" is out of range", text));
    }
    return static_cast<int64_t>(std::llround(seconds * 1000));
  }
  // RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  struct tm tm = {};
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed == 0) {
    return InvalidArgument(fmt::format(
        "cannot parse \"{}\" to a valid timestamp (want Unix seconds or RFC 3339)", text));
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::string_view rest = std::string_view(copy).substr(static_cast<size_t>(consumed));
  int64_t millis = 0;
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    int64_t scale = 100;
    while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
      if (digits < 3) millis += (rest[0] - '0') * scale;
      scale /= 10;
      ++digits;
      rest.remove_prefix(1);
    }
    if (digits == 0) return InvalidArgument(fmt::format("invalid fraction in \"{}\"", text));
  }
  int64_t offset_seconds = 0;
  if (rest.empty()) {
    return InvalidArgument(fmt::format("timestamp \"{}\" lacks a time zone (Z or +HH:MM)", text));
  }
  if (rest == "Z" || rest == "z") {
    rest = {};
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int hh = (rest[1] - '0') * 10 + (rest[2] - '0');
    int mm = (rest[4] - '0') * 10 + (rest[5] - '0');
    offset_seconds = (int64_t{hh} * 3600 + int64_t{mm} * 60) * (rest[0] == '+' ? 1 : -1);
    rest = {};
  }
  if (!rest.empty()) {
    return InvalidArgument(fmt::format("cannot parse \"{}\" to a valid timestamp", text));
  }
  time_t t = timegm(&tm);
  return (static_cast<int64_t>(t) - offset_seconds) * 1000 + millis;
}

Result<double> ParseGoDuration(std::string_view orig) {
  auto invalid = [&] { return InvalidArgument("time: invalid duration " + QuoteGo(orig)); };
  std::string_view s = orig;
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0.0;
  if (s.empty()) return invalid();
  double total = 0;
  while (!s.empty()) {
    if (!(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '.')) return invalid();
    size_t i = 0;
    double whole = 0;
    bool digits = false;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      whole = whole * 10 + (s[i++] - '0');
      digits = true;
    }
    double frac = 0;
    if (i < s.size() && s[i] == '.') {
      ++i;
      double scale = 0.1;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
        frac += (s[i++] - '0') * scale;
        scale /= 10;
        digits = true;
      }
    }
    if (!digits) return invalid();
    size_t u = i;
    while (u < s.size() && s[u] != '.' && !std::isdigit(static_cast<unsigned char>(s[u]))) ++u;
    std::string_view unit = s.substr(i, u - i);
    if (unit.empty()) return InvalidArgument("time: missing unit in duration " + QuoteGo(orig));
    double scale;
    if (unit == "ns") {
      scale = 1e-9;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      scale = 1e-6;
    } else if (unit == "ms") {
      scale = 1e-3;
    } else if (unit == "s") {
      scale = 1;
    } else if (unit == "m") {
      scale = 60;
    } else if (unit == "h") {
      scale = 3600;
    } else {
      return InvalidArgument("time: unknown unit " + QuoteGo(unit) + " in duration " +
                             QuoteGo(orig));
    }
    total += (whole + frac) * scale;
    s.remove_prefix(u);
  }
  if (total > 9223372036.854775807) return invalid();
  return neg ? -total : total;
}

}  // namespace pharos
