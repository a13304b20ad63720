// Syslog messages (RFC 5424, RFC 3164) and TCP framing (RFC 6587).
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "syslog/syslog.h"

namespace pharos::syslog {
namespace {

Status Bad(std::string_view what) {
  return InvalidArgument(fmt::format("syslog message: {}", what));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads `n` digits at s[at..] into v.
bool Digits(std::string_view s, size_t at, size_t n, int& v) {
  if (at + n > s.size()) return false;
  v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!IsDigit(s[at + i])) return false;
    v = v * 10 + (s[at + i] - '0');
  }
  return true;
}

// Nanoseconds since the epoch of a UTC date and time; false for a date that does not
// exist (February 30th, February 29th of a common year).
bool ToNs(int year, int month, int day, int hour, int minute, int second, int64_t& ns) {
  namespace c = std::chrono;
  const c::year_month_day date{c::year{year}, c::month{static_cast<unsigned>(month)},
                               c::day{static_cast<unsigned>(day)}};
  if (!date.ok()) return false;
  ns = c::duration_cast<c::nanoseconds>(c::sys_days{date}.time_since_epoch() + c::hours{hour} +
                                        c::minutes{minute} + c::seconds{second})
           .count();
  return true;
}

bool ValidClock(int month, int day, int hour, int minute, int second) {
  return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
         second <= 60;
}

// An RFC 3339 timestamp at the start of `s` (RFC 5424's TIMESTAMP): its length in
// `used`, false when there is none.
bool ParseRfc3339(std::string_view s, int64_t& ns, size_t& used) {
  int year, month, day, hour, minute, second;
  if (!Digits(s, 0, 4, year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, month) ||
      s[7] != '-' || !Digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, hour) || s[13] != ':' || !Digits(s, 14, 2, minute) || s[16] != ':' ||
      !Digits(s, 17, 2, second) || !ValidClock(month, day, hour, minute, second))
    return false;
  if (year < 1970 || year > 2261) return false;  // nanoseconds in an int64
  size_t at = 19;
  int64_t fraction = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    int digits = 0;
    while (at < s.size() && IsDigit(s[at])) {
      if (digits < 9) {
        fraction = fraction * 10 + (s[at] - '0');
        ++digits;
      }
      ++at;
    }
    if (digits == 0) return false;
    for (; digits < 9; ++digits) fraction *= 10;
  }
  int64_t offset_s = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!Digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !Digits(s, at + 4, 2, om) || oh > 23 || om > 59)
      return false;
    offset_s = (oh * 3600 + om * 60) * (s[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return false;
  }
  if (!ToNs(year, month, day, hour, minute, second, ns)) return false;
  ns += fraction - offset_s * 1'000'000'000LL;
  used = at;
  return true;
}

// RFC 3164's "Mmm dd hh:mm:ss" (the day space-padded), in the year that puts it nearest
// before now (a December message read in January belongs to last year).
bool ParseRfc3164Time(std::string_view s, int64_t now_ns, int64_t& ns) {
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < 15 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':') return false;
  int month = 0;
  for (int m = 0; m < 12; ++m) {
    if (s.substr(0, 3) == kMonths[m]) month = m + 1;
  }
  int day, hour, minute, second;
  if (month == 0) return false;
  if (s[4] == ' ') {
    if (!Digits(s, 5, 1, day)) return false;
  } else if (!Digits(s, 4, 2, day)) {
    return false;
  }
  if (!Digits(s, 7, 2, hour) || !Digits(s, 10, 2, minute) || !Digits(s, 13, 2, second) ||
      !ValidClock(month, day, hour, minute, second))
    return false;
  namespace c = std::chrono;
  const int year = static_cast<int>(
      c::year_month_day{c::floor<c::days>(c::sys_time<c::nanoseconds>(c::nanoseconds{now_ns}))}
          .year());
  // Nearest before now: a date ahead by more than a day (or none this year) is last year's.
  if (!ToNs(year, month, day, hour, minute, second, ns) || ns > now_ns + 86'400'000'000'000LL)
    return ToNs(year - 1, month, day, hour, minute, second, ns);
  return true;
}

// The next space-delimited token of s from `at`; false when none or not followed by a
// space.
bool Token(std::string_view s, size_t& at, std::string_view& token) {
  size_t end = s.find(' ', at);
  if (end == std::string_view::npos || end == at) return false;
  token = s.substr(at, end - at);
  at = end + 1;
  return true;
}

std::string_view Nil(std::string_view v) { return v == "-" ? std::string_view() : v; }

// RFC 5424 STRUCTURED-DATA at s[at..]: "-" or one or more [id param="value" ...].
Status ParseStructured(std::string_view s, size_t& at, Message& out) {
  if (at < s.size() && s[at] == '-') {
    ++at;
    return Status::Ok();
  }
  if (at >= s.size() || s[at] != '[') return Bad("STRUCTURED-DATA: want '-' or '['");
  while (at < s.size() && s[at] == '[') {
    ++at;
    size_t id_end = s.find_first_of(" ]", at);
    if (id_end == std::string_view::npos || id_end == at) return Bad("SD-ID");
    std::string_view id = s.substr(at, id_end - at);
    at = id_end;
    while (at < s.size() && s[at] == ' ') {
      ++at;
      size_t eq = s.find('=', at);
      if (eq == std::string_view::npos || eq == at || eq + 1 >= s.size() || s[eq + 1] != '"')
        return Bad(fmt::format("SD-PARAM of [{}]", id));
      Message::Param param{id, s.substr(at, eq - at), {}};
      at = eq + 2;
      bool closed = false;
      while (at < s.size()) {
        char c = s[at++];
        if (c == '\\' && at < s.size() && (s[at] == '"' || s[at] == '\\' || s[at] == ']')) {
          param.value += s[at++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          param.value += c;
        }
      }
      if (!closed) return Bad(fmt::format("PARAM-VALUE of [{}] is not closed", id));
      out.structured.push_back(std::move(param));
    }
    if (at >= s.size() || s[at] != ']')
      return Bad(fmt::format("SD-ELEMENT [{}] is not closed", id));
    ++at;
  }
  return Status::Ok();
}

Status ParseRfc5424(std::string_view s, size_t at, Message& out) {
  std::string_view timestamp;
  if (!Token(s, at, timestamp)) return Bad("TIMESTAMP");
  if (timestamp != "-") {
    size_t used = 0;
    if (!ParseRfc3339(timestamp, out.time_ns, used) || used != timestamp.size())
      return Bad(fmt::format("TIMESTAMP \"{}\" is not an RFC 3339 time of 1970 to 2261",
                             timestamp.substr(0, 64)));
  }
  std::string_view host, app, procid, msgid;
  if (!Token(s, at, host)) return Bad("HOSTNAME");
  if (!Token(s, at, app)) return Bad("APP-NAME");
  if (!Token(s, at, procid)) return Bad("PROCID");
  // MSGID may end the header with STRUCTURED-DATA after it.
  if (!Token(s, at, msgid)) return Bad("MSGID");
  out.hostname = Nil(host);
  out.app_name = Nil(app);
  out.procid = Nil(procid);
  out.msgid = Nil(msgid);
  PHAROS_RETURN_IF_ERROR(ParseStructured(s, at, out));
  if (at < s.size()) {
    if (s[at] != ' ') return Bad("a space after STRUCTURED-DATA");
    ++at;
  }
  std::string_view msg = s.substr(std::min(at, s.size()));
  if (msg.starts_with("\xEF\xBB\xBF")) msg.remove_prefix(3);  // MSG-UTF8's BOM
  out.message = msg;
  return Status::Ok();
}

constexpr size_t kMaxTag = 48;  // RFC 3164 says 32; some senders go past it

// RFC 3164 after the priority: a timestamp (or an RFC 3339 one, as rsyslog's
// ForwardFormat sends), a hostname unless the next token is already the tag, a tag with
// an optional [pid], then the message. Returns false when the timestamp is missing.
bool ParseRfc3164(std::string_view s, size_t at, int64_t now_ns, Message& out) {
  std::string_view rest = s.substr(at);
  size_t used = 0;
  if (ParseRfc3164Time(rest, now_ns, out.time_ns)) {
    used = 15;
  } else if (!ParseRfc3339(rest, out.time_ns, used)) {
    return false;
  }
  if (used >= rest.size() || rest[used] != ' ') {
    out.message = rest.substr(std::min(used, rest.size()));
    return true;
  }
  size_t pos = used + 1;
  auto is_tag = [](std::string_view token) {
    return token.ends_with(':') || token.find('[') != std::string_view::npos;
  };
  std::string_view first;
  size_t after_first = pos;
  if (!Token(rest, after_first, first)) {
    out.message = rest.substr(pos);
    return true;
  }
  if (!is_tag(first)) {
    out.hostname = first;
    pos = after_first;
  }
  // The tag: the next word (rsyslog forwards one without its colon when the message came
  // in as RFC 5424), "name", "name:" or "name[pid]:".
  std::string_view tag;
  size_t after_tag = pos;
  if (Token(rest, after_tag, tag) && tag.size() <= kMaxTag) {
    if (tag.ends_with(':')) tag.remove_suffix(1);
    size_t bracket = tag.find('[');
    if (bracket != std::string_view::npos && tag.ends_with(']')) {
      out.procid = tag.substr(bracket + 1, tag.size() - bracket - 2);
      tag = tag.substr(0, bracket);
    }
    out.app_name = tag;
    pos = after_tag;
  }
  out.message = rest.substr(pos);
  return true;
}

}  // namespace

Status ParseMessage(std::string_view raw, int64_t now_ns, Message& out) {
  out = Message();
  while (!raw.empty() && (raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\0'))
    raw.remove_suffix(1);
  if (raw.empty() || raw[0] != '<') {
    out.message = raw;  // no priority: kept whole as user.notice
    return Status::Ok();
  }
  size_t close = raw.find('>');
  if (close == std::string_view::npos || close < 2 || close > 4) {
    out.message = raw;
    return Status::Ok();
  }
  int pri = 0;
  if (!Digits(raw, 1, close - 1, pri)) {
    out.message = raw;
    return Status::Ok();
  }
  if (pri > 191) return Bad(fmt::format("priority {} is above 191", pri));
  out.facility = pri / 8;
  out.severity = pri % 8;
  size_t at = close + 1;
  // RFC 5424: a version (1-3 digits, not starting with 0) and a space.
  size_t v = at;
  while (v < raw.size() && v - at < 3 && IsDigit(raw[v])) ++v;
  if (v > at && raw[at] != '0' && v < raw.size() && raw[v] == ' ')
    return ParseRfc5424(raw, v + 1, out);
  if (!ParseRfc3164(raw, at, now_ns, out)) out.message = raw.substr(at);
  return Status::Ok();
}

std::string_view SeverityName(int severity) {
  static constexpr const char* kNames[] = {"emerg",   "alert",  "crit", "err",
                                           "warning", "notice", "info", "debug"};
  return severity >= 0 && severity < 8 ? kNames[severity] : "";
}

std::string_view FacilityName(int facility) {
  static constexpr const char* kNames[] = {
      "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
      "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
      "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};
  return facility >= 0 && facility < 24 ? kNames[facility] : "";
}

Status FrameSplitter::NextFrame(std::string_view data, std::string_view& frame,
                                size_t& consumed) const {
  consumed = 0;
  // Blank lines between frames (some senders end octet-counted frames with LF).
  size_t skip = 0;
  while (skip < data.size() && (data[skip] == '\n' || data[skip] == '\r')) ++skip;
  data.remove_prefix(skip);
  if (data.empty()) {
    consumed = skip;
    return Status::Ok();
  }
  if (IsDigit(data[0])) {  // octet counting: LEN SP MSG
    size_t space = 0;
    uint64_t len = 0;
    while (space < data.size() && IsDigit(data[space]) && space < 10) {
      len = len * 10 + static_cast<uint64_t>(data[space] - '0');
      ++space;
    }
    if (space == data.size()) return Status::Ok();  // the length is not whole yet
    if (data[space] != ' ' || data[0] == '0')
      return InvalidArgument("syslog frame: a malformed octet count");
    if (len > max_)
      return InvalidArgument(fmt::format(
          "syslog frame of {} bytes is over the limit (max_message_bytes {})", len, max_));
    if (data.size() - space - 1 < len) return Status::Ok();
    frame = data.substr(space + 1, len);
    consumed = skip + space + 1 + len;
    return Status::Ok();
  }
  size_t nl = data.find('\n');
  if (nl == std::string_view::npos) {
    if (data.size() > max_)
      return InvalidArgument(fmt::format(
          "syslog line of more than {} bytes (max_message_bytes) without a newline", max_));
    return Status::Ok();
  }
  if (nl > max_)
    return InvalidArgument(
        fmt::format("syslog line of {} bytes is over the limit (max_message_bytes {})", nl, max_));
  frame = data.substr(0, nl);
  if (!frame.empty() && frame.back() == '\r') frame.remove_suffix(1);
  consumed = skip + nl + 1;
  return Status::Ok();
}

}  // namespace pharos::syslog
