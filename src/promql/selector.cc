#include <fmt/format.h>

#include "promql/promql.h"

namespace pharos::promql {
namespace {

class SelectorParser {
 public:
  explicit SelectorParser(std::string_view text) : text_(text) {}

  Result<std::vector<tsdb::Matcher>> Parse() {
    std::vector<tsdb::Matcher> matchers;
    SkipSpace();
    if (pos_ < text_.size() && IsNameStart(text_[pos_], true)) {
      std::string_view name = Identifier(true);
      Result<tsdb::Matcher> m =
          tsdb::Matcher::Make(tsdb::MatchType::kEqual, "__name__", std::string(name));
      if (!m.ok()) return m.status();
      matchers.push_back(*m);
      SkipSpace();
    }
    if (pos_ < text_.size() && text_[pos_] == '{') {
      ++pos_;
      while (true) {
        SkipSpace();
        if (pos_ < text_.size() && text_[pos_] == '}') {
          ++pos_;
          break;
        }
        if (pos_ >= text_.size() || !IsNameStart(text_[pos_], false)) {
          return Error("unexpected {} in label matching, expected label name", Found());
        }
        std::string label(Identifier(false));
        SkipSpace();
        tsdb::MatchType type;
        if (Consume("=~")) {
          type = tsdb::MatchType::kRegexMatch;
        } else if (Consume("!~")) {
          type = tsdb::MatchType::kRegexNoMatch;
        } else if (Consume("!=")) {
          type = tsdb::MatchType::kNotEqual;
        } else if (Consume("=")) {
          type = tsdb::MatchType::kEqual;
        } else {
          return Error(
              "unexpected {} in label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"",
              Found());
        }
        SkipSpace();
        std::string value;
        PHAROS_RETURN_IF_ERROR(String(value));
        Result<tsdb::Matcher> m = tsdb::Matcher::Make(type, label, value);
        if (!m.ok()) return Error("{}", m.status().message());
        matchers.push_back(*m);
        SkipSpace();
        if (Consume(",")) continue;
        if (Consume("}")) break;
        return Error("unexpected {} in label matching, expected \",\" or \"}}\"", Found());
      }
      SkipSpace();
    }
    if (pos_ != text_.size()) return Error("unexpected {}", Found());
    if (matchers.empty()) return Error("unexpected end of input, expected a series selector");
    bool has_non_empty = false;
    for (const tsdb::Matcher& m : matchers) has_non_empty |= !m.Matches("");
    if (!has_non_empty) {
      return InvalidArgument("vector selector must contain at least one non-empty matcher");
    }
    return matchers;
  }

 private:
  template <typename... Args>
  Status Error(fmt::format_string<Args...> f, Args&&... args) {
    // Prometheus counts columns from 1 on line 1.
    return InvalidArgument(fmt::format("1:{}: parse error: {}", pos_ + 1,
                                       fmt::format(f, std::forward<Args>(args)...)));
  }
  std::string Found() const {
    if (pos_ >= text_.size()) return "end of input";
    return fmt::format("character '{}'", text_[pos_]);
  }
  static bool IsNameStart(char c, bool metric) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
  }
  static bool IsNameChar(char c, bool metric) {
    return IsNameStart(c, metric) || (c >= '0' && c <= '9');
  }
  std::string_view Identifier(bool metric) {
    size_t start = pos_;
    while (pos_ < text_.size() && IsNameChar(text_[pos_], metric)) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Consume(std::string_view token) {
    if (text_.substr(pos_, token.size()) != token) return false;
    pos_ += token.size();
    return true;
  }
  static int Hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static void AppendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  // Go-style string literals, as PromQL has them: "..." and '...' with escapes, `...` raw.
  Status String(std::string& out) {
    if (pos_ >= text_.size()) return Error("unexpected end of input, expected label value");
    char quote = text_[pos_];
    if (quote != '"' && quote != '\'' && quote != '`') {
      return Error("unexpected {} in label matching, expected string", Found());
    }
    size_t start = pos_++;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (quote == '`' || c != '\\') {
        if (c == '\n' && quote != '`') break;
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= text_.size()) break;
      char e = text_[pos_++];
      int digits = 0;
      switch (e) {
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'v': out += '\v'; break;
        case '\\': out += '\\'; break;
        case '"':
        case '\'':
          if (e != quote) return Error("unknown escape sequence");
          out += e;
          break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
          if (e >= '0' && e <= '7') {
            if (pos_ + 2 > text_.size()) return Error("unknown escape sequence");
            int v = (e - '0') * 64 + (text_[pos_] - '0') * 8 + (text_[pos_ + 1] - '0');
            if (text_[pos_] < '0' || text_[pos_] > '7' || text_[pos_ + 1] < '0' ||
                text_[pos_ + 1] > '7' || v > 255) {
              return Error("unknown escape sequence");
            }
            out += static_cast<char>(v);
            pos_ += 2;
            break;
          }
          return Error("unknown escape sequence");
      }
      if (digits) {
        uint32_t cp = 0;
        for (int i = 0; i < digits; ++i) {
          int h = pos_ < text_.size() ? Hex(text_[pos_]) : -1;
          if (h < 0) return Error("unknown escape sequence");
          cp = cp * 16 + static_cast<uint32_t>(h);
          ++pos_;
        }
        if (e == 'x') {
          out += static_cast<char>(cp);
        } else {
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000))
            return Error("invalid Unicode code point in escape sequence");
          AppendUtf8(out, cp);
        }
      }
    }
    if (pos_ >= text_.size() || text_[pos_] != quote) {
      pos_ = start;
      return Error("unterminated quoted string");
    }
    ++pos_;
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

Result<std::vector<tsdb::Matcher>> ParseSeriesSelector(std::string_view text) {
  return SelectorParser(text).Parse();
}

}  // namespace pharos::promql
