// TraceQL: lexer, parser and evaluation over one trace.
#include "traces/traceql.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "common/units.h"

namespace pharos::traces::traceql {
namespace {

constexpr int kMaxDepth = 100;  // nesting of parentheses and operators

struct Token {
  enum class Kind { kEnd, kPunct, kString, kNumber, kDuration, kIdent, kField };
  Kind kind = Kind::kEnd;
  std::string text;   // punctuation, identifier, field path, string (unescaped)
  double number = 0;  // number; duration in nanoseconds
  size_t pos = 0;     // 1-based column
};

bool IsFieldChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' ||
         c == '/' || c == ':';
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Status Next(Token& t) {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    t = Token();
    t.pos = pos_ + 1;
    if (pos_ >= text_.size()) return Status::Ok();
    char c = text_[pos_];
    static constexpr std::string_view kTwo[] = {"&&", "||", "!=", ">=", "<=", "=~", "!~", ">>"};
    for (std::string_view two : kTwo) {
      if (text_.substr(pos_, 2) == two) {
        t.kind = Token::Kind::kPunct;
        t.text = two;
        pos_ += 2;
        return Status::Ok();
      }
    }
    if (std::string_view("{}(),|=<>!~").find(c) != std::string_view::npos) {
      t.kind = Token::Kind::kPunct;
      t.text = c;
      ++pos_;
      return Status::Ok();
    }
    if (c == '"' || c == '`') return String(c, t);
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '-' && pos_ + 1 < text_.size() &&
         std::isdigit(static_cast<unsigned char>(text_[pos_ + 1]))))
      return Number(t);
    if (c == '.' || std::isalpha(static_cast<unsigned char>(c)) || c == '_') return Word(t);
    return Error(t.pos, fmt::format("unexpected character '{}'", c));
  }

  static Status Error(size_t col, std::string_view what) {
    return InvalidArgument(fmt::format("parse error at line 1, col {}: {}", col, what));
  }

 private:
  Status String(char quote, Token& t) {
    size_t start = pos_ + 1;
    std::string out;
    for (size_t i = start; i < text_.size(); ++i) {
      char c = text_[i];
      if (c == quote) {
        pos_ = i + 1;
        t.kind = Token::Kind::kString;
        t.text = std::move(out);
        return Status::Ok();
      }
      if (c == '\\' && quote == '"' && i + 1 < text_.size()) {
        char e = text_[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += c;
      }
    }
    return Error(t.pos, "unterminated string");
  }

  Status Number(Token& t) {
    size_t start = pos_;
    if (text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size() &&
           (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.' ||
            static_cast<unsigned char>(text_[pos_]) >= 0x80))
      ++pos_;
    std::string word(text_.substr(start, pos_ - start));
    char* end = nullptr;
    double v = std::strtod(word.c_str(), &end);
    if (end == word.c_str() + word.size()) {
      t.kind = Token::Kind::kNumber;
      t.number = v;
      return Status::Ok();
    }
    Result<double> seconds = ParseGoDuration(word);
    if (!seconds.ok()) return Error(t.pos, fmt::format("invalid number or duration {}", word));
    t.kind = Token::Kind::kDuration;
    t.number = static_cast<double>(std::llround(*seconds * 1e9));  // whole nanoseconds
    return Status::Ok();
  }

  // An identifier or a field path (span.x, resource.x, .x, span:name); a quoted attribute
  // name may follow a scope (span."with space").
  Status Word(Token& t) {
    size_t start = pos_;
    while (pos_ < text_.size() && IsFieldChar(text_[pos_])) ++pos_;
    t.text = text_.substr(start, pos_ - start);
    if (pos_ < text_.size() && text_[pos_] == '"' && t.text.ends_with('.')) {
      Token quoted;
      PHAROS_RETURN_IF_ERROR(String('"', quoted));
      t.text += quoted.text;
    }
    bool field = t.text.find('.') != std::string::npos || t.text.find(':') != std::string::npos;
    t.kind = field ? Token::Kind::kField : Token::Kind::kIdent;
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

const std::map<std::string, Intrinsic, std::less<>>& Intrinsics() {
  static const std::map<std::string, Intrinsic, std::less<>> kIntrinsics = {
      {"name", Intrinsic::kName},
      {"status", Intrinsic::kStatus},
      {"statusMessage", Intrinsic::kStatusMessage},
      {"duration", Intrinsic::kDuration},
      {"kind", Intrinsic::kKind},
      {"rootName", Intrinsic::kRootName},
      {"rootServiceName", Intrinsic::kRootServiceName},
      {"traceDuration", Intrinsic::kTraceDuration},
      {"span:name", Intrinsic::kName},
      {"span:status", Intrinsic::kStatus},
      {"span:statusMessage", Intrinsic::kStatusMessage},
      {"span:duration", Intrinsic::kDuration},
      {"span:kind", Intrinsic::kKind},
      {"trace:rootName", Intrinsic::kRootName},
      {"trace:rootService", Intrinsic::kRootServiceName},
      {"trace:duration", Intrinsic::kTraceDuration},
  };
  return kIntrinsics;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) {}

  Result<Query> Run() {
    PHAROS_RETURN_IF_ERROR(Advance());
    Query q;
    Result<std::unique_ptr<Spanset>> s = SpansetOr(0);
    if (!s.ok()) return s.status();
    q.spansets = std::move(s).value();
    while (Is("|")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<Stage> stage = ParseStage();
      if (!stage.ok()) return stage.status();
      q.stages.push_back(std::move(stage).value());
    }
    if (tok_.kind != Token::Kind::kEnd) return Unexpected("end of query");
    return q;
  }

 private:
  bool Is(std::string_view punct) const {
    return tok_.kind == Token::Kind::kPunct && tok_.text == punct;
  }
  Status Advance() { return lexer_.Next(tok_); }
  Status Unexpected(std::string_view wanted) const {
    std::string got =
        tok_.kind == Token::Kind::kEnd ? "end of query" : fmt::format("\"{}\"", tok_.text);
    if (tok_.kind == Token::Kind::kNumber || tok_.kind == Token::Kind::kDuration) got = "a number";
    return Lexer::Error(tok_.pos,
                        fmt::format("syntax error: unexpected {}, expecting {}", got, wanted));
  }
  Status Expect(std::string_view punct) {
    if (!Is(punct)) return Unexpected(fmt::format("\"{}\"", punct));
    return Advance();
  }
  Status Deeper(int depth) const {
    if (depth > kMaxDepth) return Lexer::Error(tok_.pos, "the query nests too deeply");
    return Status::Ok();
  }

  // spansets: || binds loosest, then &&, then the structural operators.
  Result<std::unique_ptr<Spanset>> SpansetOr(int depth) {
    PHAROS_RETURN_IF_ERROR(Deeper(depth));
    Result<std::unique_ptr<Spanset>> lhs = SpansetAnd(depth + 1);
    while (lhs.ok() && Is("||")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Spanset>> rhs = SpansetAnd(depth + 1);
      if (!rhs.ok()) return rhs.status();
      lhs = Join(Spanset::Kind::kOr, std::move(lhs).value(), std::move(rhs).value());
    }
    return lhs;
  }
  Result<std::unique_ptr<Spanset>> SpansetAnd(int depth) {
    Result<std::unique_ptr<Spanset>> lhs = SpansetStructural(depth + 1);
    while (lhs.ok() && Is("&&")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Spanset>> rhs = SpansetStructural(depth + 1);
      if (!rhs.ok()) return rhs.status();
      lhs = Join(Spanset::Kind::kAnd, std::move(lhs).value(), std::move(rhs).value());
    }
    return lhs;
  }
  Result<std::unique_ptr<Spanset>> SpansetStructural(int depth) {
    PHAROS_RETURN_IF_ERROR(Deeper(depth));
    Result<std::unique_ptr<Spanset>> lhs = SpansetTerm(depth + 1);
    while (lhs.ok() && (Is(">") || Is(">>") || Is("~"))) {
      Spanset::Kind kind = Is(">")    ? Spanset::Kind::kChild
                           : Is(">>") ? Spanset::Kind::kDescendant
                                      : Spanset::Kind::kSibling;
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Spanset>> rhs = SpansetTerm(depth + 1);
      if (!rhs.ok()) return rhs.status();
      lhs = Join(kind, std::move(lhs).value(), std::move(rhs).value());
    }
    return lhs;
  }
  static std::unique_ptr<Spanset> Join(Spanset::Kind kind, std::unique_ptr<Spanset> lhs,
                                       std::unique_ptr<Spanset> rhs) {
    auto s = std::make_unique<Spanset>();
    s->kind = kind;
    s->lhs = std::move(lhs);
    s->rhs = std::move(rhs);
    return s;
  }
  Result<std::unique_ptr<Spanset>> SpansetTerm(int depth) {
    PHAROS_RETURN_IF_ERROR(Deeper(depth));
    if (Is("(")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Spanset>> inner = SpansetOr(depth + 1);
      if (!inner.ok()) return inner.status();
      PHAROS_RETURN_IF_ERROR(Expect(")"));
      return inner;
    }
    if (!Is("{")) return Unexpected("\"{\"");
    PHAROS_RETURN_IF_ERROR(Advance());
    auto s = std::make_unique<Spanset>();
    if (Is("}")) {
      s->filter = std::make_unique<Expr>();  // {}: every span
    } else {
      Result<std::unique_ptr<Expr>> e = ExprOr(depth + 1);
      if (!e.ok()) return e.status();
      s->filter = std::move(e).value();
    }
    PHAROS_RETURN_IF_ERROR(Expect("}"));
    return s;
  }

  Result<std::unique_ptr<Expr>> ExprOr(int depth) {
    PHAROS_RETURN_IF_ERROR(Deeper(depth));
    Result<std::unique_ptr<Expr>> lhs = ExprAnd(depth + 1);
    while (lhs.ok() && Is("||")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Expr>> rhs = ExprAnd(depth + 1);
      if (!rhs.ok()) return rhs.status();
      lhs = JoinExpr(Expr::Kind::kOr, std::move(lhs).value(), std::move(rhs).value());
    }
    return lhs;
  }
  Result<std::unique_ptr<Expr>> ExprAnd(int depth) {
    Result<std::unique_ptr<Expr>> lhs = ExprUnary(depth + 1);
    while (lhs.ok() && Is("&&")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Expr>> rhs = ExprUnary(depth + 1);
      if (!rhs.ok()) return rhs.status();
      lhs = JoinExpr(Expr::Kind::kAnd, std::move(lhs).value(), std::move(rhs).value());
    }
    return lhs;
  }
  static std::unique_ptr<Expr> JoinExpr(Expr::Kind kind, std::unique_ptr<Expr> lhs,
                                        std::unique_ptr<Expr> rhs) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->lhs = std::move(lhs);
    e->rhs = std::move(rhs);
    return e;
  }
  Result<std::unique_ptr<Expr>> ExprUnary(int depth) {
    PHAROS_RETURN_IF_ERROR(Deeper(depth));
    if (Is("!")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Expr>> inner = ExprUnary(depth + 1);
      if (!inner.ok()) return inner.status();
      auto e = std::make_unique<Expr>();
      e->kind = Expr::Kind::kNot;
      e->lhs = std::move(inner).value();
      return e;
    }
    if (Is("(")) {
      PHAROS_RETURN_IF_ERROR(Advance());
      Result<std::unique_ptr<Expr>> inner = ExprOr(depth + 1);
      if (!inner.ok()) return inner.status();
      PHAROS_RETURN_IF_ERROR(Expect(")"));
      return inner;
    }
    auto e = std::make_unique<Expr>();
    e->kind = Expr::Kind::kCompare;
    PHAROS_RETURN_IF_ERROR(ParseField(e->field));
    PHAROS_RETURN_IF_ERROR(ParseOp(e->op));
    PHAROS_RETURN_IF_ERROR(ParseStatic(e->value));
    if (e->op == Op::kRegex || e->op == Op::kNotRegex) {
      if (e->value.type != Static::Type::kString)
        return Lexer::Error(tok_.pos, "a regular expression must be a string");
      RE2::Options options;
      options.set_log_errors(false);
      e->re = std::make_shared<RE2>(e->value.s, options);
      if (!e->re->ok())
        return Lexer::Error(tok_.pos,
                            fmt::format("invalid regular expression: {}", e->re->error()));
    }
    return e;
  }

  Status ParseField(Field& f) {
    if (tok_.kind != Token::Kind::kField && tok_.kind != Token::Kind::kIdent)
      return Unexpected("a field (an intrinsic, span.x, resource.x or .x)");
    std::string_view text = tok_.text;
    if (auto it = Intrinsics().find(text); it != Intrinsics().end()) {
      f.scope = Field::Scope::kIntrinsic;
      f.intrinsic = it->second;
      f.name = text;
    } else if (text.starts_with("span.") && text.size() > 5) {
      f.scope = Field::Scope::kSpan;
      f.name = text.substr(5);
    } else if (text.starts_with("resource.") && text.size() > 9) {
      f.scope = Field::Scope::kResource;
      f.name = text.substr(9);
    } else if (text.starts_with(".") && text.size() > 1) {
      f.scope = Field::Scope::kAny;
      f.name = text.substr(1);
    } else {
      return Lexer::Error(tok_.pos,
                          fmt::format("unknown field {}: an intrinsic (name, status, duration, "
                                      "kind, ...) or an attribute (span.x, resource.x, .x)",
                                      text));
    }
    return Advance();
  }

  Status ParseOp(Op& op) {
    static const std::map<std::string, Op, std::less<>> kOps = {
        {"=", Op::kEq}, {"!=", Op::kNe}, {">", Op::kGt},     {">=", Op::kGe},
        {"<", Op::kLt}, {"<=", Op::kLe}, {"=~", Op::kRegex}, {"!~", Op::kNotRegex}};
    if (tok_.kind != Token::Kind::kPunct) return Unexpected("a comparison operator");
    auto it = kOps.find(tok_.text);
    if (it == kOps.end()) return Unexpected("a comparison operator");
    op = it->second;
    return Advance();
  }

  Status ParseStatic(Static& v) {
    switch (tok_.kind) {
      case Token::Kind::kString:
        v.type = Static::Type::kString;
        v.s = tok_.text;
        break;
      case Token::Kind::kNumber:
        v.type = Static::Type::kNumber;
        v.n = tok_.number;
        break;
      case Token::Kind::kDuration:
        v.type = Static::Type::kDuration;
        v.n = tok_.number;
        break;
      case Token::Kind::kIdent: {
        static const std::map<std::string, std::pair<Static::Type, int32_t>, std::less<>> kWords = {
            {"true", {Static::Type::kBool, 1}},        {"false", {Static::Type::kBool, 0}},
            {"nil", {Static::Type::kNil, 0}},          {"unset", {Static::Type::kStatus, 0}},
            {"ok", {Static::Type::kStatus, 1}},        {"error", {Static::Type::kStatus, 2}},
            {"unspecified", {Static::Type::kKind, 0}}, {"internal", {Static::Type::kKind, 1}},
            {"server", {Static::Type::kKind, 2}},      {"client", {Static::Type::kKind, 3}},
            {"producer", {Static::Type::kKind, 4}},    {"consumer", {Static::Type::kKind, 5}}};
        auto it = kWords.find(tok_.text);
        if (it == kWords.end()) return Unexpected("a value");
        v.type = it->second.first;
        v.code = it->second.second;
        v.b = it->second.second != 0;
        break;
      }
      default: return Unexpected("a value");
    }
    return Advance();
  }

  Result<Stage> ParseStage() {
    Stage s;
    if (tok_.kind != Token::Kind::kIdent) return Unexpected("count, avg, min, max, sum or select");
    std::string fn = tok_.text;
    static const std::map<std::string, Stage::Kind, std::less<>> kStages = {
        {"count", Stage::Kind::kCount}, {"avg", Stage::Kind::kAvg},
        {"min", Stage::Kind::kMin},     {"max", Stage::Kind::kMax},
        {"sum", Stage::Kind::kSum},     {"select", Stage::Kind::kSelect}};
    auto it = kStages.find(fn);
    if (it == kStages.end())
      return Lexer::Error(tok_.pos, fmt::format("{}() is not supported (supported: count, avg, "
                                                "min, max, sum, select)",
                                                fn));
    s.kind = it->second;
    PHAROS_RETURN_IF_ERROR(Advance());
    PHAROS_RETURN_IF_ERROR(Expect("("));
    if (s.kind == Stage::Kind::kSelect) {
      do {
        if (Is(",")) PHAROS_RETURN_IF_ERROR(Advance());
        PHAROS_RETURN_IF_ERROR(ParseField(s.fields.emplace_back()));
      } while (Is(","));
      PHAROS_RETURN_IF_ERROR(Expect(")"));
      return s;
    }
    if (s.kind != Stage::Kind::kCount) PHAROS_RETURN_IF_ERROR(ParseField(s.field));
    PHAROS_RETURN_IF_ERROR(Expect(")"));
    PHAROS_RETURN_IF_ERROR(ParseOp(s.op));
    if (s.op == Op::kRegex || s.op == Op::kNotRegex) return Unexpected("a comparison operator");
    PHAROS_RETURN_IF_ERROR(ParseStatic(s.value));
    return s;
  }

  Lexer lexer_;
  Token tok_;
};

Static FromAnyValue(const model::AnyValue& v) {
  Static s;
  switch (v.type) {
    case model::AnyValue::Type::kString:
      s.type = Static::Type::kString;
      s.s = v.str;
      break;
    case model::AnyValue::Type::kInt:
      s.type = Static::Type::kNumber;
      s.n = static_cast<double>(v.i);
      break;
    case model::AnyValue::Type::kDouble:
      s.type = Static::Type::kNumber;
      s.n = v.d;
      break;
    case model::AnyValue::Type::kBool:
      s.type = Static::Type::kBool;
      s.b = v.b;
      break;
    case model::AnyValue::Type::kEmpty: break;
    default: s.type = Static::Type::kString; s.s = v.ToText();
  }
  return s;
}

template <typename T>
bool Ordered(const T& a, Op op, const T& b) {
  switch (op) {
    case Op::kEq: return a == b;
    case Op::kNe: return a != b;
    case Op::kGt: return a > b;
    case Op::kGe: return a >= b;
    case Op::kLt: return a < b;
    case Op::kLe: return a <= b;
    default: return false;
  }
}

bool Compare(const Static& a, Op op, const Static& b, const re2::RE2* re) {
  using T = Static::Type;
  if (b.type == T::kNil)
    return op == Op::kEq ? a.type == T::kNil : op == Op::kNe && a.type != T::kNil;
  if (a.type == T::kNil) return false;
  if (op == Op::kRegex || op == Op::kNotRegex) {
    if (a.type != T::kString || re == nullptr) return false;
    return RE2::FullMatch(a.s, *re) == (op == Op::kRegex);
  }
  bool a_num = a.type == T::kNumber || a.type == T::kDuration;
  bool b_num = b.type == T::kNumber || b.type == T::kDuration;
  if (a_num && b_num) return Ordered(a.n, op, b.n);
  if (a.type != b.type) return false;
  switch (a.type) {
    case T::kString: return Ordered(a.s, op, b.s);
    case T::kBool: return (op == Op::kEq || op == Op::kNe) && Ordered(a.b, op, b.b);
    case T::kStatus:
    case T::kKind: return (op == Op::kEq || op == Op::kNe) && Ordered(a.code, op, b.code);
    default: return false;
  }
}

Static Attribute(const Field& f, const model::Span& span, const model::Resource& resource) {
  const model::AnyValue* v = nullptr;
  if (f.scope != Field::Scope::kResource) v = model::FindAttribute(span.attributes, f.name);
  if (v == nullptr && f.scope != Field::Scope::kSpan)
    v = model::FindAttribute(resource.attributes, f.name);
  return v ? FromAnyValue(*v) : Static();
}

// A field's value for a span without its trace (the root and trace fields are nil).
Static SpanValue(const Field& f, const model::Span& span, const model::Resource& resource) {
  Static s;
  switch (f.intrinsic) {
    case Intrinsic::kNone: return Attribute(f, span, resource);
    case Intrinsic::kName:
      s.type = Static::Type::kString;
      s.s = span.name;
      return s;
    case Intrinsic::kStatus:
      s.type = Static::Type::kStatus;
      s.code = span.status_code;
      return s;
    case Intrinsic::kStatusMessage:
      s.type = Static::Type::kString;
      s.s = span.status_message;
      return s;
    case Intrinsic::kDuration:
      s.type = Static::Type::kDuration;
      s.n = static_cast<double>(static_cast<int64_t>(span.end_time_unix_nano) -
                                static_cast<int64_t>(span.start_time_unix_nano));
      return s;
    case Intrinsic::kKind:
      s.type = Static::Type::kKind;
      s.code = span.kind;
      return s;
    default: return s;
  }
}

bool Matches(const Expr& e, const std::function<Static(const Field&)>& value) {
  switch (e.kind) {
    case Expr::Kind::kTrue: return true;
    case Expr::Kind::kCompare: return Compare(value(e.field), e.op, e.value, e.re.get());
    case Expr::Kind::kAnd: return Matches(*e.lhs, value) && Matches(*e.rhs, value);
    case Expr::Kind::kOr: return Matches(*e.lhs, value) || Matches(*e.rhs, value);
    case Expr::Kind::kNot: return !Matches(*e.lhs, value);
  }
  return false;
}

std::vector<size_t> Union(const std::vector<size_t>& a, const std::vector<size_t>& b) {
  std::vector<size_t> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::vector<size_t> Eval(const Spanset& s, const Trace& trace) {
  std::vector<size_t> out;
  if (s.kind == Spanset::Kind::kFilter) {
    for (size_t i = 0; i < trace.spans.size(); ++i) {
      if (Matches(*s.filter, [&](const Field& f) { return FieldValue(f, trace, i); }))
        out.push_back(i);
    }
    return out;
  }
  std::vector<size_t> lhs = Eval(*s.lhs, trace);
  std::vector<size_t> rhs = Eval(*s.rhs, trace);
  auto in_lhs = [&](int i) {
    return i >= 0 && std::binary_search(lhs.begin(), lhs.end(), static_cast<size_t>(i));
  };
  switch (s.kind) {
    case Spanset::Kind::kAnd: return lhs.empty() || rhs.empty() ? out : Union(lhs, rhs);
    case Spanset::Kind::kOr: return Union(lhs, rhs);
    case Spanset::Kind::kChild:
      for (size_t r : rhs)
        if (in_lhs(trace.spans[r].parent)) out.push_back(r);
      return out;
    case Spanset::Kind::kDescendant:
      for (size_t r : rhs) {
        int p = trace.spans[r].parent;
        for (size_t hops = 0; p >= 0 && hops < trace.spans.size();
             ++hops, p = trace.spans[p].parent)
          if (in_lhs(p)) {
            out.push_back(r);
            break;
          }
      }
      return out;
    case Spanset::Kind::kSibling:
      for (size_t r : rhs) {
        int parent = trace.spans[r].parent;
        if (parent < 0) continue;
        for (size_t l : lhs)
          if (l != r && trace.spans[l].parent == parent) {
            out.push_back(r);
            break;
          }
      }
      return out;
    default: return out;
  }
}

void CollectFields(const Expr& e, std::vector<Field>& out) {
  if (e.kind == Expr::Kind::kCompare) out.push_back(e.field);
  if (e.lhs) CollectFields(*e.lhs, out);
  if (e.rhs) CollectFields(*e.rhs, out);
}

void CollectFields(const Spanset& s, std::vector<Field>& out) {
  if (s.filter) CollectFields(*s.filter, out);
  if (s.lhs) CollectFields(*s.lhs, out);
  if (s.rhs) CollectFields(*s.rhs, out);
}

bool IsTraceLevel(const Field& f) {
  return f.intrinsic == Intrinsic::kRootName || f.intrinsic == Intrinsic::kRootServiceName ||
         f.intrinsic == Intrinsic::kTraceDuration;
}

bool HasTraceField(const Expr& e) {
  if (e.kind == Expr::Kind::kCompare) return IsTraceLevel(e.field);
  return (e.lhs && HasTraceField(*e.lhs)) || (e.rhs && HasTraceField(*e.rhs));
}

// A filter that reads a trace-level field cannot be judged from one span: it lets every
// span through.
bool AnyFilter(const Spanset& s, const model::Resource& resource, const model::Span& span) {
  if (s.kind == Spanset::Kind::kFilter) {
    return HasTraceField(*s.filter) ||
           Matches(*s.filter, [&](const Field& f) { return SpanValue(f, span, resource); });
  }
  return AnyFilter(*s.lhs, resource, span) || AnyFilter(*s.rhs, resource, span);
}

}  // namespace

std::string Field::ToString() const {
  switch (scope) {
    case Scope::kSpan: return "span." + name;
    case Scope::kResource: return "resource." + name;
    case Scope::kAny: return "." + name;
    case Scope::kIntrinsic: return name;
  }
  return name;
}

Result<Query> Parse(std::string_view text) { return Parser(text).Run(); }

Trace Trace::From(std::span<const model::ResourceSpans> groups) {
  Trace t;
  std::map<std::string_view, int> by_id;
  for (const model::ResourceSpans& rs : groups) {
    for (const model::ScopeSpans& ss : rs.scopes) {
      for (const model::Span& span : ss.spans) {
        by_id.emplace(span.span_id, static_cast<int>(t.spans.size()));
        t.spans.push_back({&span, &rs.resource, -1});
      }
    }
  }
  for (size_t i = 0; i < t.spans.size(); ++i) {
    const model::Span& span = *t.spans[i].span;
    int64_t start = static_cast<int64_t>(span.start_time_unix_nano);
    int64_t end = static_cast<int64_t>(span.end_time_unix_nano);
    if (i == 0 || start < t.start_ns) t.start_ns = start;
    if (i == 0 || end > t.end_ns) t.end_ns = end;
    auto parent = span.parent_span_id.empty() ? by_id.end() : by_id.find(span.parent_span_id);
    if (parent != by_id.end()) {
      t.spans[i].parent = parent->second;
    } else if (span.parent_span_id.empty() &&
               (t.root < 0 ||
                start < static_cast<int64_t>(
                            t.spans[static_cast<size_t>(t.root)].span->start_time_unix_nano))) {
      t.root = static_cast<int>(i);
    }
  }
  return t;
}

Static FieldValue(const Field& f, const Trace& trace, size_t i) {
  const Trace::Span& s = trace.spans[i];
  Static v;
  const Trace::Span* root =
      trace.root >= 0 ? &trace.spans[static_cast<size_t>(trace.root)] : nullptr;
  switch (f.intrinsic) {
    case Intrinsic::kRootName:
      if (root == nullptr) return v;
      v.type = Static::Type::kString;
      v.s = root->span->name;
      return v;
    case Intrinsic::kRootServiceName: {
      if (root == nullptr) return v;
      const model::AnyValue* service =
          model::FindAttribute(root->resource->attributes, "service.name");
      if (service == nullptr) return v;
      v.type = Static::Type::kString;
      v.s = service->ToText();
      return v;
    }
    case Intrinsic::kTraceDuration:
      v.type = Static::Type::kDuration;
      v.n = static_cast<double>(trace.end_ns - trace.start_ns);
      return v;
    default: return SpanValue(f, *s.span, *s.resource);
  }
}

std::vector<size_t> Evaluate(const Query& q, const Trace& trace) {
  std::vector<size_t> spans = Eval(*q.spansets, trace);
  for (const Stage& stage : q.stages) {
    if (spans.empty()) return spans;
    if (stage.kind == Stage::Kind::kSelect) continue;
    Static got;
    got.type = Static::Type::kNumber;
    if (stage.kind == Stage::Kind::kCount) {
      got.n = static_cast<double>(spans.size());
    } else {
      double sum = 0, lo = INFINITY, hi = -INFINITY;
      size_t n = 0;
      for (size_t i : spans) {
        Static v = FieldValue(stage.field, trace, i);
        if (v.type != Static::Type::kNumber && v.type != Static::Type::kDuration) continue;
        if (v.type == Static::Type::kDuration) got.type = Static::Type::kDuration;
        sum += v.n;
        lo = std::min(lo, v.n);
        hi = std::max(hi, v.n);
        ++n;
      }
      if (n == 0) return {};
      got.n = stage.kind == Stage::Kind::kAvg   ? sum / static_cast<double>(n)
              : stage.kind == Stage::Kind::kMin ? lo
              : stage.kind == Stage::Kind::kMax ? hi
                                                : sum;
    }
    if (!Compare(got, stage.op, stage.value, nullptr)) return {};
  }
  return spans;
}

bool AnyFilterMatches(const Query& q, const model::Resource& resource, const model::Span& span) {
  return AnyFilter(*q.spansets, resource, span);
}

std::vector<Field> ReferencedFields(const Query& q) {
  std::vector<Field> out;
  CollectFields(*q.spansets, out);
  for (const Stage& s : q.stages) {
    if (s.kind == Stage::Kind::kSelect)
      out.insert(out.end(), s.fields.begin(), s.fields.end());
    else if (s.kind != Stage::Kind::kCount)
      out.push_back(s.field);
  }
  std::vector<Field> unique;
  for (Field& f : out) {
    bool seen = std::any_of(unique.begin(), unique.end(),
                            [&](const Field& u) { return u.scope == f.scope && u.name == f.name; });
    if (!seen) unique.push_back(std::move(f));
  }
  return unique;
}

}  // namespace pharos::traces::traceql
