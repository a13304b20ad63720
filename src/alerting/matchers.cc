#include <re2/re2.h>

#include <ctime>

#include <fmt/format.h>

#include "alerting/alerting.h"
#include "common/strings.h"

namespace pharos::alerting {

Result<model::Matcher> MakeMatcher(model::MatchType type, std::string name, std::string value) {
  if (!IsValidLabelName(name)) {
    return InvalidArgument(fmt::format("invalid label name \"{}\" in matcher", name));
  }
  return model::Matcher::Make(type, std::move(name), std::move(value),
                              model::RegexDialect::kAlertmanager);
}

std::string FormatMatchers(const std::vector<model::Matcher>& matchers) {
  std::string out = "{";
  for (size_t i = 0; i < matchers.size(); ++i) {
    if (i) out += ',';
    out += matchers[i].ToString();
  }
  return out + "}";
}

Result<std::vector<model::Matcher>> ParseMatchers(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '{') {
    if (s.back() != '}')
      return InvalidArgument(fmt::format("missing closing '}}' in \"{}\"", text));
    s = Trim(s.substr(1, s.size() - 2));
  }
  std::vector<model::Matcher> out;
  size_t i = 0;
  auto error = [&](std::string_view what) {
    return InvalidArgument(fmt::format("bad matcher \"{}\": {}", text, what));
  };
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '_')) ++i;
    std::string name(s.substr(start, i - start));
    while (i < s.size() && s[i] == ' ') ++i;
    model::MatchType op;
    if (s.substr(i, 2) == "=~") {
      op = model::MatchType::kRegexMatch;
      i += 2;
    } else if (s.substr(i, 2) == "!~") {
      op = model::MatchType::kRegexNoMatch;
      i += 2;
    } else if (s.substr(i, 2) == "!=") {
      op = model::MatchType::kNotEqual;
      i += 2;
    } else if (s.substr(i, 1) == "=") {
      op = model::MatchType::kEqual;
      i += 1;
    } else {
      return error("expected an operator (=, !=, =~, !~) after the label name");
    }
    while (i < s.size() && s[i] == ' ') ++i;
    std::string value;
    if (i < s.size() && s[i] == '"') {
      ++i;
      bool closed = false;
      while (i < s.size()) {
        char c = s[i++];
        if (c == '\\' && i < s.size()) {
          char e = s[i++];
          value += e == 'n' ? '\n' : e;
          continue;
        }
        if (c == '"') {
          closed = true;
          break;
        }
        value += c;
      }
      if (!closed) return error("unterminated quoted value");
    } else {
      size_t vstart = i;
      while (i < s.size() && s[i] != ',') ++i;
      value = std::string(Trim(s.substr(vstart, i - vstart)));
    }
    Result<model::Matcher> m = MakeMatcher(op, name, value);
    if (!m.ok()) return error(m.status().message());
    out.push_back(std::move(*m));
    while (i < s.size() && s[i] == ' ') ++i;
    if (i < s.size() && s[i] != ',') return error("expected ',' between matchers");
  }
  return out;
}

bool TimeInterval::Contains(int64_t ms) const {
  time_t secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  auto in = [](const std::vector<std::pair<int, int>>& ranges, int v) {
    if (ranges.empty()) return true;
    for (const auto& [a, b] : ranges) {
      if (v >= a && v <= b) return true;
    }
    return false;
  };
  if (!times.empty()) {
    int minute = tm.tm_hour * 60 + tm.tm_min;
    bool inside = false;
    for (const auto& [a, b] : times) inside = inside || (minute >= a && minute < b);
    if (!inside) return false;
  }
  if (!in(weekdays, tm.tm_wday)) return false;
  if (!days_of_month.empty()) {
    static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = tm.tm_year + 1900;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int month_days = kDays[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0);
    bool inside = false;
    for (auto [a, b] : days_of_month) {
      if (a < 0) a = month_days + a + 1;
      if (b < 0) b = month_days + b + 1;
      inside = inside || (tm.tm_mday >= a && tm.tm_mday <= b);
    }
    if (!inside) return false;
  }
  if (!in(months, tm.tm_mon + 1)) return false;
  if (!in(years, tm.tm_year + 1900)) return false;
  return true;
}

std::string_view Silence::State(int64_t now_ms) const {
  if (ends_at_ms <= now_ms) return "expired";
  if (starts_at_ms > now_ms) return "pending";
  return "active";
}

}  // namespace pharos::alerting
