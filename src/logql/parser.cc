// The LogQL lexer and recursive-descent parser. Token rules follow Loki's lexer: a number
// directly followed by duration units is a duration ("1m", "1.5s", "1d"), else by byte
// units a byte size ("1MB", "1KiB"); "[5m]" is one range token; strings are Go strings.
#include <re2/re2.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "logql/logql.h"
#include "logql/pipeline.h"

namespace pharos::logql {
namespace {

constexpr int kMaxDepth = 128;
// Ranges and offsets are bounded so that time arithmetic in nanoseconds cannot overflow.
constexpr double kMaxDurationSeconds = 100.0 * 365 * 24 * 3600;

enum class Tok {
  kEof,
  kIdent,
  kNumber,
  kDuration,
  kBytes,
  kRange,  // [5m]
  kString,
  kLBrace,
  kRBrace,
  kLParen,
  kRParen,
  kComma,
  kPipe,         // |
  kPipeExact,    // |=
  kPipeMatch,    // |~
  kPipePattern,  // |>
  kNeq,          // !=
  kNre,          // !~
  kNpa,          // !>
  kEq,           // =
  kRe,           // =~
  kCmpEq,        // ==
  kGt,
  kGte,
  kLt,
  kLte,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kFlag,  // --strict, --keep-empty
};

struct Token {
  Tok kind = Tok::kEof;
  size_t pos = 0;
  std::string text;   // raw; for strings the value
  double number = 0;  // durations in seconds, bytes
};

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

Status SyntaxError(std::string_view query, size_t pos, std::string_view what) {
  // Line and column, 1-based, as Loki prints them.
  int line = 1;
  size_t col = 1;
  for (size_t i = 0; i < pos && i < query.size(); ++i) {
    if (query[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return InvalidArgument(fmt::format("parse error at line {}, col {}: {}", line, col, what));
}

// Go's time.ParseDuration, else Prometheus's (which adds d, w, y).
std::optional<double> ParseAnyDuration(std::string_view text) {
  if (Result<double> go = ParseGoDuration(text); go.ok()) return *go;
  if (Result<Duration> prom = ParseDuration(text); prom.ok())
    return std::chrono::duration<double>(*prom).count();
  return std::nullopt;
}

bool IsDurationRune(char c) {
  return c == 'n' || c == 'u' || c == 'm' || c == 's' || c == 'h' || c == 'd' || c == 'w' ||
         c == 'y';
}

bool IsBytesRune(char c) {
  return c == 'B' || c == 'i' || c == 'k' || c == 'K' || c == 'M' || c == 'G' || c == 'T' ||
         c == 'P' || c == 'E';
}

class Lexer {
 public:
  explicit Lexer(std::string_view q) : q_(q) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      while (i_ < q_.size() && std::isspace(static_cast<unsigned char>(q_[i_]))) ++i_;
      if (i_ < q_.size() && q_[i_] == '#') {  // comments run to the end of the line
        while (i_ < q_.size() && q_[i_] != '\n') ++i_;
        continue;
      }
      Token t;
      t.pos = i_;
      if (i_ >= q_.size()) {
        out.push_back(t);
        return out;
      }
      char c = q_[i_];
      char n = i_ + 1 < q_.size() ? q_[i_ + 1] : '\0';
      auto two = [&](Tok k) {
        t.kind = k;
        t.text = std::string(q_.substr(i_, 2));
        i_ += 2;
      };
      auto one = [&](Tok k) {
        t.kind = k;
        t.text = std::string(1, c);
        ++i_;
      };
      if (c == '"' || c == '`') {
        size_t end = i_ + 1;
        while (end < q_.size() && q_[end] != c) {
          if (c == '"' && q_[end] == '\\') ++end;
          ++end;
        }
        if (end >= q_.size()) return SyntaxError(q_, i_, "literal not terminated");
        Result<std::string> s = UnquoteGo(q_.substr(i_, end + 1 - i_));
        if (!s.ok()) return SyntaxError(q_, i_, "invalid char escape");
        t.kind = Tok::kString;
        t.text = std::move(s).value();
        i_ = end + 1;
      } else if (c == '[') {
        size_t end = q_.find(']', i_);
        if (end == std::string_view::npos) return SyntaxError(q_, i_, "missing closing ']'");
        std::string_view inner = q_.substr(i_ + 1, end - i_ - 1);
        std::optional<double> d = ParseAnyDuration(inner);
        if (!d) return SyntaxError(q_, i_, fmt::format("invalid range \"{}\"", inner));
        t.kind = Tok::kRange;
        t.number = *d;
        t.text = std::string(inner);
        i_ = end + 1;
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && std::isdigit(static_cast<unsigned char>(n)))) {
        LexNumber(t);
      } else if (IsIdentStart(c)) {
        size_t end = i_;
        while (end < q_.size() && (IsIdentChar(q_[end]) || q_[end] == ':')) ++end;
        t.kind = Tok::kIdent;
        t.text = std::string(q_.substr(i_, end - i_));
        i_ = end;
      } else if (c == '-' && n == '-' && i_ + 2 < q_.size() && IsIdentStart(q_[i_ + 2])) {
        size_t end = i_ + 2;
        while (end < q_.size() && (IsIdentChar(q_[end]) || q_[end] == '-')) ++end;
        t.kind = Tok::kFlag;
        t.text = std::string(q_.substr(i_, end - i_));
        i_ = end;
      } else if (c == '|' && n == '=') {
        two(Tok::kPipeExact);
      } else if (c == '|' && n == '~') {
        two(Tok::kPipeMatch);
      } else if (c == '|' && n == '>') {
        two(Tok::kPipePattern);
      } else if (c == '!' && n == '=') {
        two(Tok::kNeq);
      } else if (c == '!' && n == '~') {
        two(Tok::kNre);
      } else if (c == '!' && n == '>') {
        two(Tok::kNpa);
      } else if (c == '=' && n == '~') {
        two(Tok::kRe);
      } else if (c == '=' && n == '=') {
        two(Tok::kCmpEq);
      } else if (c == '>' && n == '=') {
        two(Tok::kGte);
      } else if (c == '<' && n == '=') {
        two(Tok::kLte);
      } else {
        switch (c) {
          case '{': one(Tok::kLBrace); break;
          case '}': one(Tok::kRBrace); break;
          case '(': one(Tok::kLParen); break;
          case ')': one(Tok::kRParen); break;
          case ',': one(Tok::kComma); break;
          case '|': one(Tok::kPipe); break;
          case '=': one(Tok::kEq); break;
          case '>': one(Tok::kGt); break;
          case '<': one(Tok::kLt); break;
          case '+': one(Tok::kAdd); break;
          case '-': one(Tok::kSub); break;
          case '*': one(Tok::kMul); break;
          case '/': one(Tok::kDiv); break;
          case '%': one(Tok::kMod); break;
          case '^': one(Tok::kPow); break;
          default:
            return SyntaxError(q_, i_, fmt::format("syntax error: unexpected character '{}'", c));
        }
      }
      out.push_back(std::move(t));
    }
  }

 private:
  // A number as Go's text/scanner reads it, then a duration or byte size when units follow.
  void LexNumber(Token& t) {
    size_t start = i_;
    size_t j = i_;
    bool hex = q_.substr(j, 2) == "0x" || q_.substr(j, 2) == "0X";
    bool prefixed = hex || q_.substr(j, 2) == "0b" || q_.substr(j, 2) == "0B" ||
                    q_.substr(j, 2) == "0o" || q_.substr(j, 2) == "0O";
    if (prefixed) {
      j += 2;
      while (j < q_.size() &&
             (std::isxdigit(static_cast<unsigned char>(q_[j])) || q_[j] == '_' || q_[j] == '.'))
        ++j;
      if (hex && j < q_.size() && (q_[j] == 'p' || q_[j] == 'P')) {
        ++j;
        if (j < q_.size() && (q_[j] == '+' || q_[j] == '-')) ++j;
        while (j < q_.size() && std::isdigit(static_cast<unsigned char>(q_[j]))) ++j;
      }
    } else {
      while (j < q_.size() && (std::isdigit(static_cast<unsigned char>(q_[j])) || q_[j] == '_'))
        ++j;
      if (j < q_.size() && q_[j] == '.') {
        ++j;
        while (j < q_.size() && std::isdigit(static_cast<unsigned char>(q_[j]))) ++j;
      }
      if (j < q_.size() && (q_[j] == 'e' || q_[j] == 'E')) {
        size_t k = j + 1;
        if (k < q_.size() && (q_[k] == '+' || q_[k] == '-')) ++k;
        if (k < q_.size() && std::isdigit(static_cast<unsigned char>(q_[k]))) {
          j = k;
          while (j < q_.size() && std::isdigit(static_cast<unsigned char>(q_[j]))) ++j;
        }
      }
    }
    std::string_view number = q_.substr(start, j - start);
    // Duration: digits, '.', and duration units up to a space.
    size_t d = j;
    while (d < q_.size() && !std::isspace(static_cast<unsigned char>(q_[d])) &&
           (std::isdigit(static_cast<unsigned char>(q_[d])) || q_[d] == '.' ||
            IsDurationRune(q_[d]) || q_.substr(d, 2) == "\xc2\xb5"))
      d += q_.substr(d, 2) == "\xc2\xb5" ? 2 : 1;
    if (d > j) {
      // The longest prefix that parses (so "1mb" reads "1m" and then "b").
      for (size_t e = d; e > j; --e) {
        if (std::optional<double> dur = ParseAnyDuration(q_.substr(start, e - start))) {
          t.kind = Tok::kDuration;
          t.number = *dur;
          t.text = std::string(q_.substr(start, e - start));
          i_ = e;
          return;
        }
      }
    }
    size_t b = j;
    while (b < q_.size() &&
           (std::isdigit(static_cast<unsigned char>(q_[b])) || q_[b] == '.' || IsBytesRune(q_[b])))
      ++b;
    if (b > j) {
      if (Result<double> bytes = ParseHumanBytes(q_.substr(start, b - start)); bytes.ok()) {
        t.kind = Tok::kBytes;
        t.number = *bytes;
        t.text = std::string(q_.substr(start, b - start));
        i_ = b;
        return;
      }
    }
    t.kind = Tok::kNumber;
    t.text = std::string(number);
    i_ = j;
  }

  std::string_view q_;
  size_t i_ = 0;
};

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEof: return "$end";
    case Tok::kString: return "STRING";
    case Tok::kNumber: return "NUMBER";
    case Tok::kDuration: return "DURATION";
    case Tok::kBytes: return "BYTES";
    case Tok::kRange: return "RANGE";
    case Tok::kIdent: {
      static const char* kKeywords[] = {
          "by",         "without",     "bool",       "on",          "ignoring",
          "group_left", "group_right", "offset",     "and",         "or",
          "unless",     "ip",          "unwrap",     "json",        "logfmt",
          "regexp",     "pattern",     "unpack",     "line_format", "label_format",
          "drop",       "keep",        "decolorize", "vector",      "label_replace"};
      for (const char* k : kKeywords) {
        if (t.text == k) return t.text;
      }
      return "IDENTIFIER";
    }
    default: return t.text;
  }
}

struct RangeOpInfo {
  const char* name;
  RangeOp op;
};
constexpr RangeOpInfo kRangeOps[] = {
    {"count_over_time", RangeOp::kCountOverTime},
    {"rate", RangeOp::kRate},
    {"rate_counter", RangeOp::kRateCounter},
    {"bytes_over_time", RangeOp::kBytesOverTime},
    {"bytes_rate", RangeOp::kBytesRate},
    {"avg_over_time", RangeOp::kAvgOverTime},
    {"sum_over_time", RangeOp::kSumOverTime},
    {"min_over_time", RangeOp::kMinOverTime},
    {"max_over_time", RangeOp::kMaxOverTime},
    {"stdvar_over_time", RangeOp::kStdvarOverTime},
    {"stddev_over_time", RangeOp::kStddevOverTime},
    {"quantile_over_time", RangeOp::kQuantileOverTime},
    {"first_over_time", RangeOp::kFirstOverTime},
    {"last_over_time", RangeOp::kLastOverTime},
    {"absent_over_time", RangeOp::kAbsentOverTime},
};

struct VectorOpInfo {
  const char* name;
  VectorOp op;
};
constexpr VectorOpInfo kVectorOps[] = {
    {"sum", VectorOp::kSum},
    {"avg", VectorOp::kAvg},
    {"count", VectorOp::kCount},
    {"min", VectorOp::kMin},
    {"max", VectorOp::kMax},
    {"stddev", VectorOp::kStddev},
    {"stdvar", VectorOp::kStdvar},
    {"topk", VectorOp::kTopk},
    {"bottomk", VectorOp::kBottomk},
    {"sort", VectorOp::kSort},
    {"sort_desc", VectorOp::kSortDesc},
    {"approx_topk", VectorOp::kApproxTopk},
};

class Parser {
 public:
  Parser(std::string_view query, std::vector<Token> tokens) : q_(query), toks_(std::move(tokens)) {}

  Result<ExprPtr> Parse() {
    Result<ExprPtr> e = ParseBinary(0);
    if (!e.ok()) return e;
    if (Peek().kind != Tok::kEof) return Unexpected();
    return e;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    return toks_[std::min(p_ + ahead, toks_.size() - 1)];
  }
  const Token& Next() {
    const Token& t = toks_[p_];
    if (p_ + 1 < toks_.size()) ++p_;
    return t;
  }
  bool IsIdent(std::string_view word, size_t ahead = 0) const {
    return Peek(ahead).kind == Tok::kIdent && Peek(ahead).text == word;
  }
  Status Unexpected(std::string_view expecting = {}) const {
    std::string what = "syntax error: unexpected " + Describe(Peek());
    if (!expecting.empty()) what += ", expecting " + std::string(expecting);
    return SyntaxError(q_, Peek().pos, what);
  }
  Status Error(std::string what) const { return SyntaxError(q_, Peek().pos, what); }
  Status Expect(Tok kind, std::string_view name) {
    if (Peek().kind != kind) return Unexpected(name);
    Next();
    return Status::Ok();
  }

  // ---- sample expressions ----

  static int Precedence(Tok t, const Token& tok) {
    if (t == Tok::kIdent) {
      if (tok.text == "or") return 1;
      if (tok.text == "and" || tok.text == "unless") return 2;
      return -1;
    }
    switch (t) {
      case Tok::kCmpEq:
      case Tok::kNeq:
      case Tok::kGt:
      case Tok::kGte:
      case Tok::kLt:
      case Tok::kLte: return 3;
      case Tok::kAdd:
      case Tok::kSub: return 4;
      case Tok::kMul:
      case Tok::kDiv:
      case Tok::kMod: return 5;
      case Tok::kPow: return 6;
      default: return -1;
    }
  }

  static BinOp ToBinOp(const Token& t) {
    switch (t.kind) {
      case Tok::kCmpEq: return BinOp::kEq;
      case Tok::kNeq: return BinOp::kNeq;
      case Tok::kGt: return BinOp::kGt;
      case Tok::kGte: return BinOp::kGte;
      case Tok::kLt: return BinOp::kLt;
      case Tok::kLte: return BinOp::kLte;
      case Tok::kAdd: return BinOp::kAdd;
      case Tok::kSub: return BinOp::kSub;
      case Tok::kMul: return BinOp::kMul;
      case Tok::kDiv: return BinOp::kDiv;
      case Tok::kMod: return BinOp::kMod;
      case Tok::kPow: return BinOp::kPow;
      default: break;
    }
    if (t.text == "or") return BinOp::kOr;
    if (t.text == "and") return BinOp::kAnd;
    return BinOp::kUnless;
  }

  Result<ExprPtr> ParseBinary(int min_prec) {
    if (++depth_ > kMaxDepth) return Error("query nested too deeply");
    Result<ExprPtr> lhs = ParseUnary();
    if (!lhs.ok()) return lhs;
    ExprPtr left = std::move(lhs).value();
    while (true) {
      const Token& op = Peek();
      int prec = Precedence(op.kind, op);
      if (prec < 0 || prec < min_prec) break;
      Token op_token = Next();
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = ToBinOp(op_token);
      if (IsIdent("bool")) {
        if (!IsComparison(bin->op)) return Unexpected();
        Next();
        bin->return_bool = true;
      }
      if (IsIdent("on") || IsIdent("ignoring")) {
        bin->matching.on = Next().text == "on";
        Result<std::vector<std::string>> labels = ParseLabelList();
        if (!labels.ok()) return labels.status();
        bin->matching.labels = std::move(labels).value();
        if (IsIdent("group_left") || IsIdent("group_right")) {
          bin->matching.card =
              Next().text == "group_left" ? Cardinality::kManyToOne : Cardinality::kOneToMany;
          if (Peek().kind == Tok::kLParen) {
            Result<std::vector<std::string>> include = ParseLabelList();
            if (!include.ok()) return include.status();
            bin->matching.include = std::move(include).value();
          }
        }
      }
      if (IsIdent("bool")) return Unexpected();
      if (IsSetOperator(bin->op)) bin->matching.card = Cardinality::kManyToMany;
      // ^ is right-associative.
      Result<ExprPtr> rhs = ParseBinary(bin->op == BinOp::kPow ? prec : prec + 1);
      if (!rhs.ok()) return rhs;
      bin->lhs = std::move(left);
      bin->rhs = std::move(rhs).value();
      Result<ExprPtr> checked = CheckBinary(std::move(bin));
      if (!checked.ok()) return checked;
      left = std::move(checked).value();
    }
    --depth_;
    return left;
  }

  Result<ExprPtr> CheckBinary(std::unique_ptr<BinaryExpr> bin) {
    bool lit_l = bin->lhs->kind == NodeKind::kLiteral;
    bool lit_r = bin->rhs->kind == NodeKind::kLiteral;
    if (bin->lhs->kind == NodeKind::kLog || bin->rhs->kind == NodeKind::kLog)
      return Error("unexpected log query in a binary operation; wrap it in a range aggregation");
    if (IsSetOperator(bin->op)) {
      if (lit_l)
        return InvalidArgument("unexpected literal for left leg of logical/set binary operation");
      if (lit_r)
        return InvalidArgument("unexpected literal for right leg of logical/set binary operation");
    }
    if (lit_l && lit_r) {
      auto folded = std::make_unique<LiteralExpr>();
      double a = static_cast<LiteralExpr&>(*bin->lhs).value;
      double b = static_cast<LiteralExpr&>(*bin->rhs).value;
      folded->value = ApplyScalar(bin->op, a, b, true);
      return ExprPtr(std::move(folded));
    }
    return ExprPtr(std::move(bin));
  }

  Result<ExprPtr> ParseUnary() {
    const Token& t = Peek();
    if (t.kind == Tok::kAdd || t.kind == Tok::kSub) {
      bool neg = t.kind == Tok::kSub;
      Next();
      if (Peek().kind != Tok::kNumber) return Unexpected("NUMBER");
      Result<ExprPtr> lit = ParseNumber();
      if (!lit.ok()) return lit;
      if (neg) static_cast<LiteralExpr&>(**lit).value *= -1;
      return lit;
    }
    return ParsePrimary();
  }

  Result<ExprPtr> ParseNumber() {
    const Token& t = Next();
    Result<double> v = ParseGoFloat(t.text);
    if (!v.ok()) {
      // Go's ParseFloat returns ±Inf with a range error; anything else is a syntax error.
      if (v.status().message().find("out of range") == std::string::npos)
        return InvalidArgument(
            fmt::format("unable to parse literal as a float: {}", v.status().message()));
      auto lit = std::make_unique<LiteralExpr>();
      lit->value = HUGE_VAL;
      return ExprPtr(std::move(lit));
    }
    auto lit = std::make_unique<LiteralExpr>();
    lit->value = *v;
    return ExprPtr(std::move(lit));
  }

  Result<ExprPtr> ParsePrimary() {
    const Token& t = Peek();
    if (t.kind == Tok::kNumber) return ParseNumber();
    if (t.kind == Tok::kLParen) {
      // `({...} | ...)[5m]` belongs to a range aggregation, not here.
      Next();
      Result<ExprPtr> inner = ParseBinary(0);
      if (!inner.ok()) return inner;
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      return inner;
    }
    if (t.kind == Tok::kLBrace) {
      auto log = std::make_unique<LogExpr>();
      Result<LogSelector> sel = ParseLogSelector(nullptr);
      if (!sel.ok()) return sel.status();
      log->selector = std::move(sel).value();
      return ExprPtr(std::move(log));
    }
    if (t.kind != Tok::kIdent) return Unexpected();
    for (const RangeOpInfo& r : kRangeOps) {
      if (t.text == r.name) return ParseRange(r.op);
    }
    for (const VectorOpInfo& v : kVectorOps) {
      if (t.text == v.name) return ParseVector(v.op);
    }
    if (t.text == "vector") {
      Next();
      if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
      if (Peek().kind != Tok::kNumber) return Unexpected("NUMBER");
      Result<ExprPtr> lit = ParseNumber();
      if (!lit.ok()) return lit;
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      auto v = std::make_unique<VectorLiteralExpr>();
      v->value = static_cast<LiteralExpr&>(**lit).value;
      return ExprPtr(std::move(v));
    }
    if (t.text == "label_replace") return ParseLabelReplace();
    return Unexpected();
  }

  Result<std::vector<std::string>> ParseLabelList() {
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    std::vector<std::string> out;
    while (Peek().kind != Tok::kRParen) {
      if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
      out.push_back(Next().text);
      if (Peek().kind == Tok::kComma) {
        Next();
        continue;
      }
      if (Peek().kind != Tok::kRParen) return Unexpected(")");
    }
    Next();
    return out;
  }

  Result<std::optional<Grouping>> ParseGrouping() {
    if (!IsIdent("by") && !IsIdent("without")) return std::optional<Grouping>();
    Grouping g;
    g.without = Next().text == "without";
    Result<std::vector<std::string>> labels = ParseLabelList();
    if (!labels.ok()) return labels.status();
    g.labels = std::move(labels).value();
    return std::optional<Grouping>(std::move(g));
  }

  Result<ExprPtr> ParseRange(RangeOp op) {
    Next();
    auto r = std::make_unique<RangeExpr>();
    r->op = op;
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    if (op == RangeOp::kQuantileOverTime) {
      if (Peek().kind != Tok::kNumber) return Unexpected("NUMBER");
      Result<ExprPtr> q = ParseNumber();
      if (!q.ok()) return q;
      r->param = static_cast<LiteralExpr&>(**q).value;
      if (Status s = Expect(Tok::kComma, ","); !s.ok()) return s;
    }
    // The log range: {sel} pipeline [R], {sel}[R] pipeline, or ({sel} pipeline)[R].
    bool parenthesized = Peek().kind == Tok::kLParen;
    if (parenthesized) Next();
    if (Peek().kind != Tok::kLBrace) return Unexpected("{");
    Result<LogSelector> sel = ParseLogSelector(&r->unwrap);
    if (!sel.ok()) return sel.status();
    r->selector = std::move(sel).value();
    if (parenthesized) {
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    }
    if (Peek().kind != Tok::kRange) return Unexpected("RANGE");
    if (Peek().number > kMaxDurationSeconds || Peek().number <= 0)
      return Error(
          fmt::format("invalid range [{}]: want more than 0 and at most 100 years", Peek().text));
    r->range_text = Peek().text;
    r->range_ns = static_cast<int64_t>(std::llround(Next().number * 1e9));
    if (!parenthesized && r->selector.stages.empty() && !r->unwrap &&
        (Peek().kind == Tok::kPipe || Peek().kind == Tok::kPipeExact || Peek().kind == Tok::kNeq ||
         Peek().kind == Tok::kPipeMatch || Peek().kind == Tok::kNre ||
         Peek().kind == Tok::kPipePattern || Peek().kind == Tok::kNpa)) {
      if (Status s = ParsePipeline(r->selector, &r->unwrap); !s.ok()) return s;
    }
    if (IsIdent("offset")) {
      Next();
      if (Peek().kind != Tok::kDuration) return Unexpected("DURATION");
      if (std::abs(Peek().number) > kMaxDurationSeconds)
        return Error(fmt::format("invalid offset {}: at most 100 years", Peek().text));
      r->offset_text = Peek().text;
      r->offset_ns = static_cast<int64_t>(std::llround(Next().number * 1e9));
    }
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    Result<std::optional<Grouping>> g = ParseGrouping();
    if (!g.ok()) return g.status();
    r->grouping = std::move(g).value();
    if (Status s = ValidateRange(*r); !s.ok()) return s;
    return ExprPtr(std::move(r));
  }

  static Status ValidateRange(const RangeExpr& r) {
    const char* name = RangeOpName(r.op);
    switch (r.op) {
      case RangeOp::kCountOverTime:
      case RangeOp::kBytesOverTime:
      case RangeOp::kBytesRate:
        if (r.unwrap)
          return InvalidArgument(fmt::format("invalid aggregation {} with unwrap", name));
        break;
      case RangeOp::kRate:
      case RangeOp::kAbsentOverTime: break;
      default:
        if (!r.unwrap)
          return InvalidArgument(fmt::format("invalid aggregation {} without unwrap", name));
    }
    if (r.grouping) {
      switch (r.op) {
        case RangeOp::kAvgOverTime:
        case RangeOp::kMinOverTime:
        case RangeOp::kMaxOverTime:
        case RangeOp::kStdvarOverTime:
        case RangeOp::kStddevOverTime:
        case RangeOp::kQuantileOverTime:
        case RangeOp::kFirstOverTime:
        case RangeOp::kLastOverTime: break;
        default:
          return InvalidArgument(fmt::format("grouping not allowed for {} aggregation", name));
      }
    }
    return Status::Ok();
  }

  Result<ExprPtr> ParseVector(VectorOp op) {
    Next();
    auto v = std::make_unique<VectorExpr>();
    v->op = op;
    Result<std::optional<Grouping>> before = ParseGrouping();
    if (!before.ok()) return before.status();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    bool takes_param = TakesParam(op);
    bool has_param = false;
    if (takes_param && Peek().kind == Tok::kNumber && Peek(1).kind == Tok::kComma) {
      Result<ExprPtr> k = ParseNumber();
      if (!k.ok()) return k;
      double value = static_cast<LiteralExpr&>(**k).value;
      Next();  // ','
      if (value != std::floor(value) || value < 1 || value > 1e9)
        return InvalidArgument(
            fmt::format("invalid parameter {}({}, ...): it must be an integer greater than 0",
                        VectorOpName(op), FormatNumber(value)));
      v->param = static_cast<int64_t>(value);
      has_param = true;
    }
    if (takes_param && !has_param)
      return InvalidArgument(fmt::format("parameter required for operation {}", VectorOpName(op)));
    Result<ExprPtr> inner = ParseBinary(0);
    if (!inner.ok()) return inner;
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    Result<std::optional<Grouping>> after = ParseGrouping();
    if (!after.ok()) return after.status();
    if (before.value() && after.value()) return Unexpected();
    v->grouping = before.value() ? std::move(before).value() : std::move(after).value();
    if ((*inner)->kind == NodeKind::kLog || (*inner)->kind == NodeKind::kLiteral)
      return InvalidArgument(fmt::format("{} expects a sample expression", VectorOpName(op)));
    if ((op == VectorOp::kApproxTopk || op == VectorOp::kSort || op == VectorOp::kSortDesc) &&
        v->grouping)
      return InvalidArgument(
          fmt::format("grouping not allowed for {} aggregation", VectorOpName(op)));
    v->expr = std::move(inner).value();
    return ExprPtr(std::move(v));
  }

  static std::string FormatNumber(double v) { return fmt::format("{}", v); }

  Result<ExprPtr> ParseLabelReplace() {
    Next();
    auto lr = std::make_unique<LabelReplaceExpr>();
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    Result<ExprPtr> inner = ParseBinary(0);
    if (!inner.ok()) return inner;
    lr->expr = std::move(inner).value();
    std::string* fields[] = {&lr->dst, &lr->replacement, &lr->src, &lr->regex};
    for (std::string* f : fields) {
      if (Status s = Expect(Tok::kComma, ","); !s.ok()) return s;
      if (Peek().kind != Tok::kString) return Unexpected("STRING");
      *f = Next().text;
    }
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    RE2::Options o;
    o.set_log_errors(false);
    o.set_max_mem(8 << 20);
    auto re = std::make_shared<RE2>("^(?s:" + lr->regex + ")$", o);
    if (!re->ok())
      return InvalidArgument(fmt::format("invalid regex in label_replace: {}", re->error()));
    lr->re = std::move(re);
    return ExprPtr(std::move(lr));
  }

  // ---- log selectors and pipelines ----

  Result<LogSelector> ParseLogSelector(std::optional<Unwrap>* unwrap) {
    LogSelector sel;
    if (Status s = Expect(Tok::kLBrace, "{"); !s.ok()) return s;
    while (Peek().kind != Tok::kRBrace) {
      if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
      std::string name = Next().text;
      model::MatchType type;
      switch (Peek().kind) {
        case Tok::kEq: type = model::MatchType::kEqual; break;
        case Tok::kNeq: type = model::MatchType::kNotEqual; break;
        case Tok::kRe: type = model::MatchType::kRegexMatch; break;
        case Tok::kNre: type = model::MatchType::kRegexNoMatch; break;
        default: return Unexpected("=");
      }
      Next();
      if (Peek().kind != Tok::kString) return Unexpected("STRING");
      Result<model::Matcher> m = model::Matcher::Make(type, name, Next().text);
      if (!m.ok()) return m.status();
      sel.matchers.push_back(std::move(m).value());
      if (Peek().kind == Tok::kComma) {
        Next();
      } else if (Peek().kind != Tok::kRBrace) {
        return Unexpected("}");
      }
    }
    Next();
    if (sel.matchers.empty())
      return InvalidArgument(
          "queries require at least one regexp or equality matcher that "
          "does not have an empty-compatible value");
    if (std::none_of(sel.matchers.begin(), sel.matchers.end(),
                     [](const model::Matcher& m) { return !m.Matches(""); }))
      return InvalidArgument(
          "queries require at least one regexp or equality matcher that "
          "does not have an empty-compatible value. For instance, app=~\".*\" "
          "does not meet this requirement, but app=~\".+\" will");
    if (Status s = ParsePipeline(sel, unwrap); !s.ok()) return s;
    return sel;
  }

  Status ParsePipeline(LogSelector& sel, std::optional<Unwrap>* unwrap) {
    bool line_untouched = true;    // no stage has rewritten the line yet
    bool labels_untouched = true;  // no stage has added, changed or dropped labels yet
    while (true) {
      Tok k = Peek().kind;
      const size_t stage_begin = p_;
      if (k == Tok::kPipeExact || k == Tok::kNeq || k == Tok::kPipeMatch || k == Tok::kNre ||
          k == Tok::kPipePattern || k == Tok::kNpa) {
        if (unwrap != nullptr && *unwrap) return Unexpected();
        Result<StagePtr> f = ParseLineFilter(sel, line_untouched);
        if (!f.ok()) return f.status();
        sel.stages.push_back(std::move(f).value());
        sel.stage_texts.push_back(Canonical(stage_begin, p_, /*line_filter=*/true));
        continue;
      }
      if (k != Tok::kPipe) return Status::Ok();
      Next();
      if (Peek().kind != Tok::kIdent && Peek().kind != Tok::kLParen) return Unexpected();
      const std::string word = Peek().kind == Tok::kIdent ? Peek().text : "";
      bool after_unwrap = unwrap != nullptr && *unwrap;
      bool is_filter =
          Peek().kind == Tok::kLParen ||
          (Peek(1).kind != Tok::kPipe && Peek(1).kind != Tok::kRange && Peek(1).kind != Tok::kEof &&
           Peek(1).kind != Tok::kRParen && IsFilterOperator(Peek(1).kind) && word != "unwrap");
      if (is_filter) {
        // One `name="value"` alone (not joined by and/or/comma) on the stream's own labels
        // and structured metadata: every kept line holds it.
        const bool single_equality =
            !after_unwrap && labels_untouched && Peek().kind == Tok::kIdent &&
            Peek(1).kind == Tok::kEq && Peek(2).kind == Tok::kString && !Peek(2).text.empty() &&
            Peek(3).kind != Tok::kComma &&
            !(Peek(3).kind == Tok::kIdent && (Peek(3).text == "and" || Peek(3).text == "or"));
        if (single_equality) sel.required_labels.emplace_back(Peek().text, Peek(2).text);
        Result<StagePtr> f = ParseLabelFilterOr();
        if (!f.ok()) return f.status();
        (after_unwrap ? (*unwrap)->post_filters : sel.stages).push_back(std::move(f).value());
        (after_unwrap ? (*unwrap)->post_filter_texts : sel.stage_texts)
            .push_back(Canonical(stage_begin, p_, false));
        continue;
      }
      if (after_unwrap) return Unexpected();
      Next();
      Result<StagePtr> stage = Status::Ok();
      if (word == "json") {
        stage = ParseJson();
      } else if (word == "logfmt") {
        stage = ParseLogfmt();
      } else if (word == "regexp" || word == "pattern") {
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        std::string text = Next().text;
        stage = word == "regexp" ? MakeRegexpParser(text) : MakePatternParser(text);
      } else if (word == "unpack") {
        stage = MakeUnpackParser();
      } else if (word == "line_format") {
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        stage = MakeLineFormat(Next().text);
      } else if (word == "label_format") {
        stage = ParseLabelFormat();
      } else if (word == "decolorize") {
        stage = MakeDecolorize();
      } else if (word == "drop" || word == "keep") {
        Result<std::vector<NameMatcher>> names = ParseNameMatchers();
        if (!names.ok()) return names.status();
        stage = word == "drop" ? MakeDrop(std::move(names).value())
                               : MakeKeep(std::move(names).value());
      } else if (word == "unwrap") {
        if (unwrap == nullptr) return Error("syntax error: unexpected unwrap");
        Result<Unwrap> u = ParseUnwrap();
        if (!u.ok()) return u.status();
        *unwrap = std::move(u).value();
        (*unwrap)->text = Canonical(stage_begin, p_, false);
        continue;
      } else {
        --p_;
        return Unexpected();
      }
      if (!stage.ok()) return stage.status();
      line_untouched = false;
      if (word != "line_format" && word != "decolorize") labels_untouched = false;
      sel.stages.push_back(std::move(stage).value());
      sel.stage_texts.push_back(Canonical(stage_begin, p_, false));
    }
  }

  // Tokens [begin, end) in canonical form: strings in Go's quotes, one space between
  // tokens except inside parentheses, before commas, between a function and its '(', and
  // around the comparisons of matchers and label filters (line filters keep theirs).
  std::string Canonical(size_t begin, size_t end, bool line_filter) const {
    auto compact = [&](Tok k) { return !line_filter && IsFilterOperator(k); };
    auto keyword = [](const std::string& w) {
      return w == "by" || w == "without" || w == "on" || w == "ignoring" || w == "group_left" ||
             w == "group_right" || w == "and" || w == "or" || w == "unless" || w == "bool";
    };
    std::string out;
    for (size_t i = begin; i < end && i < toks_.size(); ++i) {
      const Token& t = toks_[i];
      if (i > begin) {
        const Token& prev = toks_[i - 1];
        bool space = true;
        if (prev.kind == Tok::kLParen || t.kind == Tok::kRParen || t.kind == Tok::kComma)
          space = false;
        else if (prev.kind == Tok::kIdent && t.kind == Tok::kLParen && !keyword(prev.text))
          space = false;
        else if (compact(prev.kind) || compact(t.kind))
          space = false;
        if (space) out += ' ';
      }
      switch (t.kind) {
        case Tok::kString: out += QuoteGo(t.text); break;
        case Tok::kRange: out += "[" + t.text + "]"; break;
        default: out += t.text;
      }
    }
    return out;
  }

  static bool IsFilterOperator(Tok k) {
    switch (k) {
      case Tok::kEq:
      case Tok::kNeq:
      case Tok::kRe:
      case Tok::kNre:
      case Tok::kCmpEq:
      case Tok::kGt:
      case Tok::kGte:
      case Tok::kLt:
      case Tok::kLte: return true;
      default: return false;
    }
  }

  // A regex that is a plain literal (no metacharacter, printable ASCII) is a substring every
  // match holds; with a leading (?i), up to ASCII case. Under (?i), RE2 folds k and s with
  // non-ASCII letters (the Kelvin sign, the long s): a literal holding them is not pushed.
  static void RequireRegexLiteral(std::string_view re, LogSelector& sel) {
    bool any_case = re.starts_with("(?i)");
    if (any_case) re.remove_prefix(4);
    if (re.empty()) return;
    for (char c : re) {
      if (c < 0x20 || c > 0x7e ||
          std::string_view("\\.+*?()|[]{}^$").find(c) != std::string_view::npos)
        return;
      if (any_case && (c == 'k' || c == 'K' || c == 's' || c == 'S')) return;
    }
    if (any_case) {
      sel.required_substrings_any_case.emplace_back(re);
    } else {
      sel.required_substrings.emplace_back(re);
    }
  }

  Result<StagePtr> ParseLineFilter(LogSelector& sel, bool line_untouched) {
    Tok k = Next().kind;
    bool negate = k == Tok::kNeq || k == Tok::kNre || k == Tok::kNpa;
    LineMatch kind = (k == Tok::kPipeMatch || k == Tok::kNre)     ? LineMatch::kRegex
                     : (k == Tok::kPipePattern || k == Tok::kNpa) ? LineMatch::kPattern
                                                                  : LineMatch::kContains;
    std::vector<LineMatcher> operands;
    while (true) {
      LineMatcher m;
      m.kind = kind;
      if (IsIdent("ip")) {
        if (kind != LineMatch::kContains) return InvalidArgument("ip: invalid operation");
        Result<std::shared_ptr<const IpRange>> ip = ParseIp();
        if (!ip.ok()) return ip.status();
        m.kind = LineMatch::kIp;
        m.ip = std::move(ip).value();
      } else {
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        m.text = Next().text;
        if (kind == LineMatch::kRegex) {
          RE2::Options o;
          o.set_log_errors(false);
          o.set_max_mem(8 << 20);
          auto re = std::make_shared<RE2>(m.text, o);
          if (!re->ok()) return InvalidArgument("error parsing regexp: " + re->error());
          m.re = std::move(re);
        } else if (kind == LineMatch::kPattern) {
          Result<Pattern> p = Pattern::Parse(m.text, false);
          if (!p.ok()) return p.status();
          m.pattern = std::make_shared<Pattern>(std::move(p).value());
        }
      }
      operands.push_back(std::move(m));
      if (!IsIdent("or")) break;
      Next();
    }
    if (!negate && line_untouched && operands.size() == 1) {
      const LineMatcher& m = operands[0];
      if (m.kind == LineMatch::kContains && !m.text.empty()) {
        sel.required_substrings.push_back(m.text);
      } else if (m.kind == LineMatch::kRegex) {
        RequireRegexLiteral(m.text, sel);
      }
    }
    return MakeLineFilter(negate, std::move(operands));
  }

  Result<std::shared_ptr<const IpRange>> ParseIp() {
    Next();  // ip
    if (Status s = Expect(Tok::kLParen, "("); !s.ok()) return s;
    if (Peek().kind != Tok::kString) return Unexpected("STRING");
    Result<IpRange> r = IpRange::Parse(Next().text);
    if (!r.ok()) return r.status();
    if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
    return std::shared_ptr<const IpRange>(std::make_shared<IpRange>(std::move(r).value()));
  }

  Result<StagePtr> ParseLabelFilterOr() {
    if (++depth_ > kMaxDepth) return Error("query nested too deeply");
    Result<StagePtr> lhs = ParseLabelFilterAnd();
    if (!lhs.ok()) return lhs;
    StagePtr left = std::move(lhs).value();
    while (IsIdent("or")) {
      Next();
      Result<StagePtr> rhs = ParseLabelFilterAnd();
      if (!rhs.ok()) return rhs;
      left = MakeBinaryLabelFilter(false, std::move(left), std::move(rhs).value());
    }
    --depth_;
    return left;
  }

  Result<StagePtr> ParseLabelFilterAnd() {
    Result<StagePtr> lhs = ParseLabelFilterAtom();
    if (!lhs.ok()) return lhs;
    StagePtr left = std::move(lhs).value();
    while (true) {
      if (IsIdent("and") || Peek().kind == Tok::kComma) {
        Next();
      } else if (!(Peek().kind == Tok::kLParen ||
                   (Peek().kind == Tok::kIdent && !IsIdent("or") && !IsIdent("offset") &&
                    IsFilterOperator(Peek(1).kind)))) {
        break;
      }
      Result<StagePtr> rhs = ParseLabelFilterAtom();
      if (!rhs.ok()) return rhs;
      left = MakeBinaryLabelFilter(true, std::move(left), std::move(rhs).value());
    }
    return left;
  }

  Result<StagePtr> ParseLabelFilterAtom() {
    if (Peek().kind == Tok::kLParen) {
      Next();
      Result<StagePtr> inner = ParseLabelFilterOr();
      if (!inner.ok()) return inner;
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      return inner;
    }
    if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
    std::string name = Next().text;
    Tok op = Peek().kind;
    if (!IsFilterOperator(op)) return Unexpected();
    Next();
    const Token& value = Peek();
    if (value.kind == Tok::kIdent && value.text == "ip") {
      if (op != Tok::kEq && op != Tok::kNeq) return Unexpected();
      Result<std::shared_ptr<const IpRange>> ip = ParseIp();
      if (!ip.ok()) return ip.status();
      return MakeIpLabelFilter(std::move(name), op == Tok::kNeq, std::move(ip).value());
    }
    if (value.kind == Tok::kString) {
      model::MatchType type;
      switch (op) {
        case Tok::kEq: type = model::MatchType::kEqual; break;
        case Tok::kNeq: type = model::MatchType::kNotEqual; break;
        case Tok::kRe: type = model::MatchType::kRegexMatch; break;
        case Tok::kNre: type = model::MatchType::kRegexNoMatch; break;
        default: return Unexpected();
      }
      Result<model::Matcher> m = model::Matcher::Make(type, name, Next().text);
      if (!m.ok()) return m.status();
      return MakeStringLabelFilter(std::move(m).value());
    }
    if (op == Tok::kRe || op == Tok::kNre) return Unexpected("STRING");
    Compare cmp = op == Tok::kEq || op == Tok::kCmpEq ? Compare::kEq
                  : op == Tok::kNeq                   ? Compare::kNeq
                  : op == Tok::kGt                    ? Compare::kGt
                  : op == Tok::kGte                   ? Compare::kGte
                  : op == Tok::kLt                    ? Compare::kLt
                                                      : Compare::kLte;
    if (value.kind == Tok::kDuration) {
      return MakeDurationLabelFilter(std::move(name), cmp, Next().number);
    }
    if (value.kind == Tok::kBytes) return MakeBytesLabelFilter(std::move(name), cmp, Next().number);
    bool neg = false;
    if (value.kind == Tok::kSub || value.kind == Tok::kAdd) {
      neg = value.kind == Tok::kSub;
      Next();
    }
    if (Peek().kind != Tok::kNumber) return Unexpected("NUMBER");
    Result<ExprPtr> num = ParseNumber();
    if (!num.ok()) return num.status();
    double v = static_cast<LiteralExpr&>(**num).value;
    return MakeNumericLabelFilter(std::move(name), cmp, neg ? -v : v);
  }

  Result<StagePtr> ParseJson() {
    std::vector<JsonExtraction> extractions;
    while (Peek().kind == Tok::kIdent && !IsIdent("offset")) {
      JsonExtraction e;
      e.label = Next().text;
      std::string expr = e.label;
      if (Peek().kind == Tok::kEq) {
        Next();
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        expr = Next().text;
      }
      Result<std::vector<std::string>> path = ParseJsonPath(expr);
      if (!path.ok()) return path.status();
      e.path = std::move(path).value();
      extractions.push_back(std::move(e));
      if (Peek().kind != Tok::kComma) break;
      Next();
    }
    if (extractions.empty()) return MakeJsonParser();
    return MakeJsonExtractor(std::move(extractions));
  }

  Result<StagePtr> ParseLogfmt() {
    bool strict = false, keep_empty = false;
    while (Peek().kind == Tok::kFlag) {
      std::string flag = Next().text;
      if (flag == "--strict") {
        strict = true;
      } else if (flag == "--keep-empty") {
        keep_empty = true;
      } else {
        return Error("syntax error: unknown logfmt flag " + flag);
      }
    }
    std::vector<LogfmtExtraction> extractions;
    while (Peek().kind == Tok::kIdent && !IsIdent("offset")) {
      LogfmtExtraction e;
      e.label = Next().text;
      e.key = e.label;
      if (Peek().kind == Tok::kEq) {
        Next();
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        e.key = Next().text;
      }
      extractions.push_back(std::move(e));
      if (Peek().kind != Tok::kComma) break;
      Next();
    }
    if (extractions.empty()) return MakeLogfmtParser(strict, keep_empty);
    return MakeLogfmtExtractor(std::move(extractions), strict, keep_empty);
  }

  Result<StagePtr> ParseLabelFormat() {
    std::vector<LabelFormat> formats;
    do {
      if (!formats.empty()) Next();  // ','
      if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
      LabelFormat f;
      f.dst = Next().text;
      if (Status s = Expect(Tok::kEq, "="); !s.ok()) return s;
      if (Peek().kind == Tok::kString) {
        f.tmpl = Next().text;
        f.is_template = true;
      } else if (Peek().kind == Tok::kIdent) {
        f.src = Next().text;
      } else {
        return Unexpected("STRING");
      }
      formats.push_back(std::move(f));
    } while (Peek().kind == Tok::kComma);
    return MakeLabelFormat(std::move(formats));
  }

  Result<std::vector<NameMatcher>> ParseNameMatchers() {
    std::vector<NameMatcher> names;
    do {
      if (!names.empty()) Next();  // ','
      if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
      NameMatcher n;
      n.name = Next().text;
      Tok op = Peek().kind;
      if (op == Tok::kEq || op == Tok::kNeq || op == Tok::kRe || op == Tok::kNre) {
        Next();
        if (Peek().kind != Tok::kString) return Unexpected("STRING");
        model::MatchType type = op == Tok::kEq    ? model::MatchType::kEqual
                                : op == Tok::kNeq ? model::MatchType::kNotEqual
                                : op == Tok::kRe  ? model::MatchType::kRegexMatch
                                                  : model::MatchType::kRegexNoMatch;
        Result<model::Matcher> m = model::Matcher::Make(type, n.name, Next().text);
        if (!m.ok()) return m.status();
        n.matcher = std::move(m).value();
      }
      names.push_back(std::move(n));
    } while (Peek().kind == Tok::kComma);
    return names;
  }

  Result<Unwrap> ParseUnwrap() {
    Unwrap u;
    if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
    std::string word = Next().text;
    if ((word == "bytes" || word == "duration" || word == "duration_seconds") &&
        Peek().kind == Tok::kLParen) {
      Next();
      if (Peek().kind != Tok::kIdent) return Unexpected("IDENTIFIER");
      u.label = Next().text;
      if (Status s = Expect(Tok::kRParen, ")"); !s.ok()) return s;
      u.conversion = word == "bytes" ? UnwrapConversion::kBytes : UnwrapConversion::kDuration;
    } else {
      u.label = word;
    }
    return u;
  }

  std::string_view q_;
  std::vector<Token> toks_;
  size_t p_ = 0;
  int depth_ = 0;
};

}  // namespace

double ApplyScalar(BinOp op, double a, double b, bool return_bool) {
  switch (op) {
    case BinOp::kAdd: return a + b;
    case BinOp::kSub: return a - b;
    case BinOp::kMul: return a * b;
    case BinOp::kDiv: return b == 0 ? std::nan("") : a / b;
    case BinOp::kMod: return b == 0 ? std::nan("") : std::fmod(a, b);
    case BinOp::kPow: return std::pow(a, b);
    case BinOp::kEq: return a == b ? 1 : (return_bool ? 0 : std::nan(""));
    case BinOp::kNeq: return a != b ? 1 : (return_bool ? 0 : std::nan(""));
    case BinOp::kGt: return a > b ? 1 : (return_bool ? 0 : std::nan(""));
    case BinOp::kGte: return a >= b ? 1 : (return_bool ? 0 : std::nan(""));
    case BinOp::kLt: return a < b ? 1 : (return_bool ? 0 : std::nan(""));
    case BinOp::kLte: return a <= b ? 1 : (return_bool ? 0 : std::nan(""));
    default: return std::nan("");
  }
}

Result<ExprPtr> ParseExpr(std::string_view query) {
  Result<std::vector<Token>> tokens = Lexer(query).Run();
  if (!tokens.ok()) return tokens.status();
  Parser p(query, std::move(tokens).value());
  return p.Parse();
}

const char* RangeOpName(RangeOp op) {
  for (const RangeOpInfo& r : kRangeOps) {
    if (r.op == op) return r.name;
  }
  return "?";
}

const char* VectorOpName(VectorOp op) {
  for (const VectorOpInfo& v : kVectorOps) {
    if (v.op == op) return v.name;
  }
  return "?";
}

bool IsComparison(BinOp op) {
  return op == BinOp::kEq || op == BinOp::kNeq || op == BinOp::kGt || op == BinOp::kGte ||
         op == BinOp::kLt || op == BinOp::kLte;
}

bool IsSetOperator(BinOp op) {
  return op == BinOp::kOr || op == BinOp::kAnd || op == BinOp::kUnless;
}

bool IsSampleExpr(const Expr& e) {
  return e.kind != NodeKind::kLog && e.kind != NodeKind::kLiteral;
}

}  // namespace pharos::logql
