// Conversions as Loki's Go code does them: durations, byte sizes, floats, Go string
// literals, and IP ranges. Error texts are Go's, because Loki puts them in
// __error_details__ and users filter on them.
#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.h"
#include "logql/pipeline.h"

namespace pharos::logql {

Result<double> ParseGoFloat(std::string_view text) {
  auto syntax = [&] {
    return InvalidArgument("strconv.ParseFloat: parsing " + QuoteGo(text) + ": invalid syntax");
  };
  std::string_view s = text;
  if (s.empty()) return syntax();
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') i = 1;
  std::string_view body = s.substr(i);
  std::string lower(body);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "inf" || lower == "infinity") return s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  if (lower == "nan") return i == 0 ? std::nan("") : Result<double>(syntax());
  bool hex = lower.size() > 1 && lower[0] == '0' && lower[1] == 'x';
  // Underscores are allowed only between digits of a prefixed number.
  std::string clean;
  bool base_prefix =
      hex || (lower.size() > 1 && lower[0] == '0' && (lower[1] == 'b' || lower[1] == 'o'));
  for (char c : body) {
    if (c == '_') {
      if (!base_prefix) return syntax();
      continue;
    }
    clean += c;
  }
  std::string lc = clean;
  for (char& c : lc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (hex) {
    // Hex floats need a p exponent.
    size_t p = lc.find('p');
    if (p == std::string::npos) return syntax();
    for (size_t k = 2; k < p; ++k) {
      if (!std::isxdigit(static_cast<unsigned char>(lc[k])) && lc[k] != '.') return syntax();
    }
    if (p == 2) return syntax();
  } else {
    size_t k = 0;
    bool digits = false;
    while (k < lc.size() && std::isdigit(static_cast<unsigned char>(lc[k]))) {
      ++k;
      digits = true;
    }
    if (k < lc.size() && lc[k] == '.') {
      ++k;
      while (k < lc.size() && std::isdigit(static_cast<unsigned char>(lc[k]))) {
        ++k;
        digits = true;
      }
    }
    if (!digits) return syntax();
    if (k < lc.size() && lc[k] == 'e') {
      ++k;
      if (k < lc.size() && (lc[k] == '+' || lc[k] == '-')) ++k;
      bool exp_digits = false;
      while (k < lc.size() && std::isdigit(static_cast<unsigned char>(lc[k]))) {
        ++k;
        exp_digits = true;
      }
      if (!exp_digits) return syntax();
    }
    if (k != lc.size()) return syntax();
  }
  std::string number = std::string(s.substr(0, i)) + clean;
  errno = 0;
  char* end = nullptr;
  double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return syntax();
  if (errno == ERANGE && std::isinf(v))
    return InvalidArgument("strconv.ParseFloat: parsing " + QuoteGo(text) + ": value out of range");
  return v;
}

Result<double> ParseHumanBytes(std::string_view s) {
  size_t digits = 0;
  bool comma = false;
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == ',')) break;
    if (c == ',') comma = true;
    ++digits;
  }
  std::string num(s.substr(0, digits));
  if (comma) std::erase(num, ',');
  Result<double> f = ParseGoFloat(num);
  if (!f.ok()) return f.status();
  std::string_view rest = s.substr(digits);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front())))
    rest.remove_prefix(1);
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.back())))
    rest.remove_suffix(1);
  std::string unit(rest);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},         {"b", 1},        {"k", 1e3},      {"kb", 1e3},      {"ki", 1024.0},
      {"kib", 1024.0}, {"m", 1e6},      {"mb", 1e6},     {"mi", 1 << 20},  {"mib", 1 << 20},
      {"g", 1e9},      {"gb", 1e9},     {"gi", 1 << 30}, {"gib", 1 << 30}, {"t", 1e12},
      {"tb", 1e12},    {"ti", 0x1p40},  {"tib", 0x1p40}, {"p", 1e15},      {"pb", 1e15},
      {"pi", 0x1p50},  {"pib", 0x1p50}, {"e", 1e18},     {"eb", 1e18},     {"ei", 0x1p60},
      {"eib", 0x1p60},
  };
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      double v = *f * scale;
      if (v >= 18446744073709551615.0) return InvalidArgument(fmt::format("too large: {}", s));
      return std::floor(v);
    }
  }
  return InvalidArgument("unhandled size name: " + unit);
}

Result<std::string> UnquoteGo(std::string_view q) {
  auto bad = [] { return InvalidArgument("invalid syntax"); };
  if (q.size() < 2) return bad();
  char quote = q.front();
  if (q.back() != quote) return bad();
  std::string_view s = q.substr(1, q.size() - 2);
  if (quote == '`') {
    if (s.find('`') != std::string_view::npos) return bad();
    return std::string(s);
  }
  if (quote != '"') return bad();
  std::string out;

  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"' || c == '\n') return bad();
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i >= s.size()) return bad();
    char e = s[i];
    auto hex = [&](size_t n) -> Result<uint32_t> {
      uint32_t v = 0;
      for (size_t k = 1; k <= n; ++k) {
        if (i + k >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + k]))) return bad();
        char h = s[i + k];
        v = v * 16 + static_cast<uint32_t>(std::isdigit(static_cast<unsigned char>(h))
                                               ? h - '0'
                                               : std::tolower(h) - 'a' + 10);
      }
      i += n;
      return v;
    };
    switch (e) {
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case 'x': {
        Result<uint32_t> v = hex(2);
        if (!v.ok()) return v.status();
        out += static_cast<char>(*v);
        break;
      }
      case 'u':
      case 'U': {
        Result<uint32_t> v = hex(e == 'u' ? 4 : 8);
        if (!v.ok()) return v.status();
        if (*v > 0x10FFFF || (*v >= 0xD800 && *v < 0xE000)) return bad();
        AppendUtf8(out, *v);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          if (i + 2 >= s.size()) return bad();
          uint32_t v = 0;
          for (size_t k = 0; k < 3; ++k) {
            char d = s[i + k];
            if (d < '0' || d > '7') return bad();
            v = v * 8 + static_cast<uint32_t>(d - '0');
          }
          if (v > 255) return bad();
          out += static_cast<char>(v);
          i += 2;
          break;
        }
        return bad();
    }
  }
  return out;
}

// ---- IpRange ----

namespace {

bool ParseAddress(std::string_view text, bool& v6, unsigned char out[16]) {
  std::string s(text);
  std::memset(out, 0, 16);
  if (inet_pton(AF_INET, s.c_str(), out) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) {
    v6 = true;
    return true;
  }
  return false;
}

int Size(bool v6) { return v6 ? 16 : 4; }

}  // namespace

Result<IpRange> IpRange::Parse(std::string_view text) {
  auto invalid = [&] { return InvalidArgument("ip: invalid pattern: " + QuoteGo(text)); };
  IpRange r;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    if (!ParseAddress(text.substr(0, slash), r.v6_, r.lo_)) return invalid();
    std::string_view bits_text = text.substr(slash + 1);
    if (bits_text.empty() || bits_text.size() > 3) return invalid();
    int bits = 0;
    for (char c : bits_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return invalid();
      bits = bits * 10 + (c - '0');
    }
    int n = Size(r.v6_);
    if (bits > n * 8) return invalid();
    for (int i = 0; i < n; ++i) {
      int keep = std::clamp(bits - i * 8, 0, 8);
      unsigned char mask = keep == 0 ? 0 : static_cast<unsigned char>(0xFF << (8 - keep));
      r.lo_[i] &= mask;
      r.hi_[i] = static_cast<unsigned char>(r.lo_[i] | ~mask);
    }
    return r;
  }
  if (size_t dash = text.find('-'); dash != std::string_view::npos) {
    bool v6_hi = false;
    if (!ParseAddress(text.substr(0, dash), r.v6_, r.lo_) ||
        !ParseAddress(text.substr(dash + 1), v6_hi, r.hi_) || v6_hi != r.v6_)
      return invalid();
    if (std::memcmp(r.lo_, r.hi_, Size(r.v6_)) > 0) return invalid();
    return r;
  }
  if (!ParseAddress(text, r.v6_, r.lo_)) return invalid();
  std::memcpy(r.hi_, r.lo_, 16);
  return r;
}

bool IpRange::Contains(std::string_view address) const {
  bool v6 = false;
  unsigned char a[16];
  if (!ParseAddress(address, v6, a) || v6 != v6_) return false;
  int n = Size(v6_);
  return std::memcmp(lo_, a, n) <= 0 && std::memcmp(a, hi_, n) <= 0;
}

bool IpRange::MatchesWithin(std::string_view text) const {
  auto ip_char = [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) || c == '.' || c == ':';
  };
  size_t i = 0;
  while (i < text.size()) {
    if (!ip_char(text[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && ip_char(text[j])) ++j;
    std::string_view token = text.substr(i, j - i);
    // Trailing punctuation ("at 10.0.0.1.") is not part of the address.
    while (!token.empty() && (token.back() == '.' || token.back() == ':') &&
           !(token.size() >= 2 && token.substr(token.size() - 2) == "::"))
      token.remove_suffix(1);
    if (token.size() >= 2 && Contains(token)) return true;
    // An IPv4 address with a port ("10.0.0.7:80").
    if (size_t colon = token.find(':');
        colon != std::string_view::npos &&
        token.substr(0, colon).find('.') != std::string_view::npos &&
        Contains(token.substr(0, colon)))
      return true;
    i = j;
  }
  return false;
}

}  // namespace pharos::logql
