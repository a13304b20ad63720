#include "promql/lexer.h"

#include <fmt/format.h>

#include "common/strings.h"
#include "promql/ast.h"

namespace pharos::promql {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
bool IsUnit(char c) { return c == 's' || c == 'm' || c == 'h' || c == 'd' || c == 'w' || c == 'y'; }

class Lexer {
 public:
  explicit Lexer(std::string_view q) : q_(q) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      SkipSpaceAndComments();
      Token t;
      t.pos = static_cast<int>(pos_);
      if (pos_ >= q_.size()) {
        t.kind = Tok::kEof;
        t.end = t.pos;
        out.push_back(std::move(t));
        return out;
      }
      PHAROS_RETURN_IF_ERROR(Next(t));
      t.end = static_cast<int>(pos_);
      if (t.kind != Tok::kString) t.text = std::string(q_.substr(t.pos, t.end - t.pos));
      out.push_back(std::move(t));
    }
  }

 private:
  void SkipSpaceAndComments() {
    while (pos_ < q_.size()) {
      char c = q_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < q_.size() && q_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  Status Error(size_t at, std::string_view message) {
    return ParseError(q_, static_cast<int>(at), message);
  }

  Status Next(Token& t) {
    char c = q_[pos_];
    auto two = [&](char second) { return pos_ + 1 < q_.size() && q_[pos_ + 1] == second; };
    switch (c) {
      case '(':
        t.kind = Tok::kLParen;
        ++pos_;
        return Status::Ok();
      case ')':
        t.kind = Tok::kRParen;
        ++pos_;
        return Status::Ok();
      case '{':
        t.kind = Tok::kLBrace;
        ++pos_;
        return Status::Ok();
      case '}':
        t.kind = Tok::kRBrace;
        ++pos_;
        return Status::Ok();
      case '[':
        t.kind = Tok::kLBracket;
        ++pos_;
        ++bracket_depth_;
        return Status::Ok();
      case ']':
        t.kind = Tok::kRBracket;
        ++pos_;
        if (bracket_depth_ > 0) --bracket_depth_;
        return Status::Ok();
      case ',':
        t.kind = Tok::kComma;
        ++pos_;
        return Status::Ok();
      case ':':
        // The subquery colon inside brackets; elsewhere ':' starts a metric name.
        if (bracket_depth_ == 0) break;
        t.kind = Tok::kColon;
        ++pos_;
        return Status::Ok();
      case '@':
        t.kind = Tok::kAt;
        ++pos_;
        return Status::Ok();
      case '+':
        t.kind = Tok::kAdd;
        ++pos_;
        return Status::Ok();
      case '-':
        t.kind = Tok::kSub;
        ++pos_;
        return Status::Ok();
      case '*':
        t.kind = Tok::kMul;
        ++pos_;
        return Status::Ok();
      case '/':
        t.kind = Tok::kDiv;
        ++pos_;
        return Status::Ok();
      case '%':
        t.kind = Tok::kMod;
        ++pos_;
        return Status::Ok();
      case '^':
        t.kind = Tok::kPow;
        ++pos_;
        return Status::Ok();
      case '=':
        if (two('=')) {
          t.kind = Tok::kEqlEql;
          pos_ += 2;
        } else if (two('~')) {
          t.kind = Tok::kRegexEq;
          pos_ += 2;
        } else {
          t.kind = Tok::kAssign;
          ++pos_;
        }
        return Status::Ok();
      case '!':
        if (two('=')) {
          t.kind = Tok::kNeq;
          pos_ += 2;
          return Status::Ok();
        }
        if (two('~')) {
          t.kind = Tok::kRegexNeq;
          pos_ += 2;
          return Status::Ok();
        }
        return Error(pos_, "unexpected character after '!': " +
                               (pos_ + 1 < q_.size() ? std::string(1, q_[pos_ + 1]) : "EOF"));
      case '<':
        if (two('=')) {
          t.kind = Tok::kLte;
          pos_ += 2;
        } else {
          t.kind = Tok::kLss;
          ++pos_;
        }
        return Status::Ok();
      case '>':
        if (two('=')) {
          t.kind = Tok::kGte;
          pos_ += 2;
        } else {
          t.kind = Tok::kGtr;
          ++pos_;
        }
        return Status::Ok();
      case '"':
      case '\'':
      case '`': t.kind = Tok::kString; return String(t.text);
      default: break;
    }
    if (IsDigit(c) || (c == '.' && pos_ + 1 < q_.size() && IsDigit(q_[pos_ + 1]))) {
      return Number(t);
    }
    if (IsAlpha(c) || c == ':') {
      while (pos_ < q_.size() && (IsAlpha(q_[pos_]) || IsDigit(q_[pos_]) || q_[pos_] == ':')) {
        ++pos_;
      }
      t.kind = Tok::kIdentifier;
      return Status::Ok();
    }
    return Error(pos_, fmt::format("unexpected character: '{}'", c));
  }

  Status Number(Token& t) {
    size_t start = pos_;
    if (q_[pos_] == '0' && pos_ + 1 < q_.size() && (q_[pos_ + 1] == 'x' || q_[pos_ + 1] == 'X')) {
      pos_ += 2;
      while (pos_ < q_.size() && IsHex(q_[pos_])) ++pos_;
      t.kind = Tok::kNumber;
      return CheckEnd(start);
    }
    // A duration: digits followed by a unit, possibly repeated (1h30m).
    size_t p = pos_;
    while (p < q_.size() && IsDigit(q_[p])) ++p;
    if (p < q_.size() && IsUnit(q_[p]) && p > pos_) {
      size_t d = pos_;
      bool ok = true;
      while (d < q_.size() && IsDigit(q_[d])) {
        while (d < q_.size() && IsDigit(q_[d])) ++d;
        if (d + 1 < q_.size() && q_[d] == 'm' && q_[d + 1] == 's') {
          d += 2;
        } else if (d < q_.size() && IsUnit(q_[d])) {
          ++d;
        } else {
          ok = false;
          break;
        }
      }
      if (ok) {
        pos_ = d;
        t.kind = Tok::kDuration;
        return CheckEnd(start);
      }
    }
    while (pos_ < q_.size() && IsDigit(q_[pos_])) ++pos_;
    if (pos_ < q_.size() && q_[pos_] == '.') {
      ++pos_;
      while (pos_ < q_.size() && IsDigit(q_[pos_])) ++pos_;
    }
    if (pos_ < q_.size() && (q_[pos_] == 'e' || q_[pos_] == 'E')) {
      size_t e = pos_ + 1;
      if (e < q_.size() && (q_[e] == '+' || q_[e] == '-')) ++e;
      if (e < q_.size() && IsDigit(q_[e])) {
        pos_ = e;
        while (pos_ < q_.size() && IsDigit(q_[pos_])) ++pos_;
      }
    }
    t.kind = Tok::kNumber;
    return CheckEnd(start);
  }

  Status CheckEnd(size_t start) {
    if (pos_ < q_.size() && (IsAlpha(q_[pos_]) || IsDigit(q_[pos_]))) {
      while (pos_ < q_.size() && (IsAlpha(q_[pos_]) || IsDigit(q_[pos_]))) ++pos_;
      return Error(start, fmt::format("bad number or duration syntax: \"{}\"",
                                      q_.substr(start, pos_ - start)));
    }
    return Status::Ok();
  }

  // Go-style string literals: "..." and '...' with escapes, `...` raw.
  Status String(std::string& out) {
    size_t start = pos_;
    char quote = q_[pos_++];
    while (pos_ < q_.size() && q_[pos_] != quote) {
      char c = q_[pos_];
      if (quote == '`' || c != '\\') {
        if (c == '\n' && quote != '`') break;
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= q_.size()) break;
      char e = q_[pos_++];
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
          if (e != quote) return Error(pos_ - 2, "unknown escape sequence");
          out += e;
          break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        default:
          if (e >= '0' && e <= '7') {
            if (pos_ + 2 > q_.size() || q_[pos_] < '0' || q_[pos_] > '7' || q_[pos_ + 1] < '0' ||
                q_[pos_ + 1] > '7') {
              return Error(pos_ - 2, "unknown escape sequence");
            }
            int v = (e - '0') * 64 + (q_[pos_] - '0') * 8 + (q_[pos_ + 1] - '0');
            if (v > 255) return Error(pos_ - 2, "octal escape value > 255");
            out += static_cast<char>(v);
            pos_ += 2;
            break;
          }
          return Error(pos_ - 2, "unknown escape sequence");
      }
      if (digits) {
        uint32_t cp = 0;
        for (int i = 0; i < digits; ++i) {
          if (pos_ >= q_.size() || !IsHex(q_[pos_])) {
            return Error(pos_, "unknown escape sequence");
          }
          cp = cp * 16 + static_cast<uint32_t>(HexValue(q_[pos_++]));
        }
        if (e == 'x') {
          out += static_cast<char>(cp);
        } else {
          if (cp > 0x10FFFF || (cp >= 0xD800 && cp < 0xE000)) {
            return Error(pos_, "invalid Unicode code point in escape sequence");
          }
          AppendUtf8(out, cp);
        }
      }
    }
    if (pos_ >= q_.size() || q_[pos_] != quote) return Error(start, "unterminated quoted string");
    ++pos_;
    return Status::Ok();
  }

  std::string_view q_;
  size_t pos_ = 0;
  int bracket_depth_ = 0;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view query) { return Lexer(query).Run(); }

std::string DescribeToken(const Token& t) {
  switch (t.kind) {
    case Tok::kEof: return "end of input";
    case Tok::kIdentifier: return fmt::format("identifier \"{}\"", t.text);
    case Tok::kNumber: return fmt::format("number \"{}\"", t.text);
    case Tok::kDuration: return fmt::format("duration \"{}\"", t.text);
    case Tok::kString: return fmt::format("string \"{}\"", t.text);
    case Tok::kLParen: return "(";
    case Tok::kRParen: return "\")\"";
    case Tok::kLBrace: return "\"{\"";
    case Tok::kRBrace: return "\"}\"";
    case Tok::kLBracket: return "\"[\"";
    case Tok::kRBracket: return "\"]\"";
    case Tok::kComma: return "\",\"";
    case Tok::kColon: return "\":\"";
    case Tok::kAt: return "\"@\"";
    case Tok::kAssign: return "\"=\"";
    default: return fmt::format("<op:{}>", t.text);
  }
}

Status ParseError(std::string_view query, int offset, std::string_view message) {
  return InvalidArgument(fmt::format("{}: parse error: {}", LineCol(query, offset), message));
}

std::string LineCol(std::string_view query, int offset) {
  int line = 1;
  int col = 1;
  for (int i = 0; i < offset && i < static_cast<int>(query.size()); ++i) {
    if (query[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return fmt::format("{}:{}", line, col);
}

}  // namespace pharos::promql
