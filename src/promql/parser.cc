// The PromQL parser: precedence climbing over the token list, with Prometheus's operator
// precedence and associativity and its type checks.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "promql/functions.h"
#include "promql/lexer.h"
#include "promql/promql.h"

namespace pharos::promql {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool ParseAggOp(std::string_view ident, AggOp& op) {
  static const std::pair<const char*, AggOp> kOps[] = {
      {"sum", AggOp::kSum},
      {"avg", AggOp::kAvg},
      {"count", AggOp::kCount},
      {"min", AggOp::kMin},
      {"max", AggOp::kMax},
      {"group", AggOp::kGroup},
      {"stddev", AggOp::kStddev},
      {"stdvar", AggOp::kStdvar},
      {"topk", AggOp::kTopk},
      {"bottomk", AggOp::kBottomk},
      {"count_values", AggOp::kCountValues},
      {"quantile", AggOp::kQuantile},
      {"limitk", AggOp::kLimitk},
      {"limit_ratio", AggOp::kLimitRatio},
  };
  std::string l = Lower(ident);
  for (const auto& [name, o] : kOps) {
    if (l == name) {
      op = o;
      return true;
    }
  }
  return false;
}

bool AggHasParam(AggOp op) {
  return op == AggOp::kTopk || op == AggOp::kBottomk || op == AggOp::kCountValues ||
         op == AggOp::kQuantile || op == AggOp::kLimitk || op == AggOp::kLimitRatio;
}

bool IsKeyword(std::string_view ident) {
  static const char* kKeywords[] = {"and",         "or",   "unless",   "by",
                                    "without",     "on",   "ignoring", "group_left",
                                    "group_right", "bool", "offset",   "atan2"};
  std::string l = Lower(ident);
  for (const char* k : kKeywords) {
    if (l == k) return true;
  }
  return false;
}

// Binary operator precedence, higher binds tighter; 0 when the token is not one.
int Precedence(BinOp op) {
  switch (op) {
    case BinOp::kOr: return 1;
    case BinOp::kAnd:
    case BinOp::kUnless: return 2;
    case BinOp::kEql:
    case BinOp::kNeq:
    case BinOp::kGtr:
    case BinOp::kLss:
    case BinOp::kGte:
    case BinOp::kLte: return 3;
    case BinOp::kAdd:
    case BinOp::kSub: return 4;
    case BinOp::kMul:
    case BinOp::kDiv:
    case BinOp::kMod:
    case BinOp::kAtan2: return 5;
    case BinOp::kPow: return 6;
  }
  return 0;
}
constexpr int kUnaryPrecedence = 6;  // `-a ^ b` is -(a ^ b); `-a * b` is (-a) * b
constexpr int kMaxDepth = 200;
// Trees deeper than this are refused: the printer and the evaluator walk them recursively,
// and left-associative chains (a + a + ...) grow without recursion in the parser.
constexpr int kMaxHeight = 1000;

// Sets e.height from its children's (already set) heights.
void SetHeight(Expr& e) {
  int h = 0;
  ForEachChild(e, [&](const Expr& child) { h = std::max(h, child.height); });
  e.height = h + 1;
}

class Parser {
 public:
  Parser(std::string_view query, std::vector<Token> tokens) : q_(query), toks_(std::move(tokens)) {}

  Result<ExprPtr> Run() {
    if (Peek().kind == Tok::kEof) return Error(Peek(), "no expression found in input");
    ExprPtr e;
    PHAROS_RETURN_IF_ERROR(ParseBinary(0, e));
    if (Peek().kind != Tok::kEof) return Unexpected(Peek(), "");
    return e;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(cur_ + ahead, toks_.size() - 1);
    return toks_[i];
  }
  const Token& Take() {
    const Token& t = toks_[cur_];
    if (cur_ + 1 < toks_.size()) ++cur_;
    return t;
  }
  bool PeekIdent(std::string_view lower_word, size_t ahead = 0) const {
    return Peek(ahead).kind == Tok::kIdentifier && Lower(Peek(ahead).text) == lower_word;
  }

  Status Error(const Token& at, std::string_view message) {
    return ParseError(q_, at.pos, message);
  }
  Status CheckHeight(Expr& e) {
    SetHeight(e);
    if (e.height > kMaxHeight) {
      return ErrorAt(e.pos.start,
                     fmt::format("query is nested too deeply (more than {} levels)", kMaxHeight));
    }
    return Status::Ok();
  }
  Status ErrorAt(int pos, std::string_view message) { return ParseError(q_, pos, message); }
  Status Unexpected(const Token& t, std::string_view context) {
    std::string msg =
        t.kind == Tok::kEof ? "unexpected end of input" : "unexpected " + DescribeToken(t);
    if (!context.empty()) msg += fmt::format(" {}", context);
    return Error(t, msg);
  }
  Status Expect(Tok kind, std::string_view context) {
    if (Peek().kind != kind) return Unexpected(Peek(), context);
    Take();
    return Status::Ok();
  }

  bool PeekBinOp(BinOp& op) const {
    const Token& t = Peek();
    switch (t.kind) {
      case Tok::kAdd: op = BinOp::kAdd; return true;
      case Tok::kSub: op = BinOp::kSub; return true;
      case Tok::kMul: op = BinOp::kMul; return true;
      case Tok::kDiv: op = BinOp::kDiv; return true;
      case Tok::kMod: op = BinOp::kMod; return true;
      case Tok::kPow: op = BinOp::kPow; return true;
      case Tok::kEqlEql: op = BinOp::kEql; return true;
      case Tok::kNeq: op = BinOp::kNeq; return true;
      case Tok::kGtr: op = BinOp::kGtr; return true;
      case Tok::kLss: op = BinOp::kLss; return true;
      case Tok::kGte: op = BinOp::kGte; return true;
      case Tok::kLte: op = BinOp::kLte; return true;
      case Tok::kIdentifier: {
        std::string l = Lower(t.text);
        if (l == "and") {
          op = BinOp::kAnd;
          return true;
        }
        if (l == "or") {
          op = BinOp::kOr;
          return true;
        }
        if (l == "unless") {
          op = BinOp::kUnless;
          return true;
        }
        if (l == "atan2") {
          op = BinOp::kAtan2;
          return true;
        }
        return false;
      }
      default: return false;
    }
  }

  Status ParseBinary(int min_prec, ExprPtr& out) {
    if (++depth_ > kMaxDepth) {
      return Error(Peek(),
                   fmt::format("query is nested too deeply (more than {} levels)", kMaxDepth));
    }
    ExprPtr lhs;
    PHAROS_RETURN_IF_ERROR(ParseUnary(lhs));
    BinOp op;
    while (PeekBinOp(op) && Precedence(op) >= min_prec) {
      const Token& op_tok = Take();
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = op;
      PHAROS_RETURN_IF_ERROR(ParseBinModifiers(*bin));
      int next = op == BinOp::kPow ? Precedence(op) : Precedence(op) + 1;  // ^ is right-assoc
      ExprPtr rhs;
      PHAROS_RETURN_IF_ERROR(ParseBinary(next, rhs));
      bin->pos = {lhs->pos.start, rhs->pos.end};
      bin->lhs = std::move(lhs);
      bin->rhs = std::move(rhs);
      PHAROS_RETURN_IF_ERROR(CheckBinary(*bin, op_tok));
      PHAROS_RETURN_IF_ERROR(CheckHeight(*bin));
      lhs = std::move(bin);
    }
    --depth_;
    out = std::move(lhs);
    return Status::Ok();
  }

  Status ParseLabelList(std::vector<std::string>& labels, std::string_view what) {
    PHAROS_RETURN_IF_ERROR(Expect(Tok::kLParen, fmt::format("in {}, expected \"(\"", what)));
    while (Peek().kind != Tok::kRParen) {
      const Token& t = Peek();
      if (t.kind == Tok::kIdentifier || t.kind == Tok::kString) {
        if (t.kind == Tok::kIdentifier && t.text.find(':') != std::string::npos) {
          return Unexpected(t, fmt::format("in {}, expected label", what));
        }
        labels.push_back(t.text);
        Take();
      } else {
        return Unexpected(t, fmt::format("in {}, expected label", what));
      }
      if (Peek().kind == Tok::kComma) {
        Take();
        continue;
      }
      if (Peek().kind != Tok::kRParen) {
        return Unexpected(Peek(), fmt::format("in {}, expected \",\" or \")\"", what));
      }
    }
    Take();
    return Status::Ok();
  }

  Status ParseFillValue(double& v) {
    PHAROS_RETURN_IF_ERROR(Expect(Tok::kLParen, "in fill modifier, expected \"(\""));
    bool neg = false;
    if (Peek().kind == Tok::kSub || Peek().kind == Tok::kAdd) neg = Take().kind == Tok::kSub;
    double x;
    if (!NumberValue(Peek(), x)) return Unexpected(Peek(), "in fill modifier, expected number");
    Take();
    v = neg ? -x : x;
    return Expect(Tok::kRParen, "in fill modifier, expected \")\"");
  }

  Status ParseBinModifiers(BinaryExpr& bin) {
    if (PeekIdent("bool")) {
      Take();
      bin.return_bool = true;
    }
    auto m = std::make_unique<VectorMatching>();
    if (IsSetOperator(bin.op)) m->card = Cardinality::kManyToMany;
    if (PeekIdent("on") || PeekIdent("ignoring")) {
      m->on = PeekIdent("on");
      Take();
      bin.has_modifiers = true;
      PHAROS_RETURN_IF_ERROR(ParseLabelList(m->labels, "grouping opts"));
      if (PeekIdent("group_left") || PeekIdent("group_right")) {
        m->card = PeekIdent("group_left") ? Cardinality::kManyToOne : Cardinality::kOneToMany;
        const Token& g = Take();
        if (IsSetOperator(bin.op)) {
          return Error(g,
                       fmt::format("no grouping allowed for \"{}\" operation", BinOpName(bin.op)));
        }
        if (Peek().kind == Tok::kLParen) {
          PHAROS_RETURN_IF_ERROR(ParseLabelList(m->include, "grouping opts"));
        }
        for (const std::string& l : m->include) {
          for (const std::string& o : m->labels) {
            if (m->on && l == o) {
              return Error(g, fmt::format("label \"{}\" must not occur in ON and GROUP clause "
                                          "at once",
                                          l));
            }
          }
        }
      }
    } else if (PeekIdent("group_left") || PeekIdent("group_right")) {
      return Unexpected(Peek(), "");
    }
    // fill(v) modifiers; a bare `fill` is a metric name.
    while ((PeekIdent("fill") || PeekIdent("fill_left") || PeekIdent("fill_right")) &&
           Peek(1).kind == Tok::kLParen) {
      std::string which = Lower(Take().text);
      double v = 0;
      PHAROS_RETURN_IF_ERROR(ParseFillValue(v));
      if (which != "fill_right") m->fill_left = v;
      if (which != "fill_left") m->fill_right = v;
    }
    bin.matching = std::move(m);
    return Status::Ok();
  }

  Status CheckBinary(BinaryExpr& bin, const Token& op_tok) {
    ValueType lt = TypeOf(*bin.lhs);
    ValueType rt = TypeOf(*bin.rhs);
    auto ok_type = [](ValueType t) { return t == ValueType::kScalar || t == ValueType::kVector; };
    if (bin.return_bool && !IsComparison(bin.op)) {
      return Error(op_tok, "bool modifier can only be used on comparison operators");
    }
    if (IsComparison(bin.op) && !bin.return_bool && lt == ValueType::kScalar &&
        rt == ValueType::kScalar) {
      return Error(op_tok, "comparisons between scalars must use BOOL modifier");
    }
    if (!ok_type(lt) || !ok_type(rt)) {
      return ErrorAt(bin.pos.start,
                     "binary expression must contain only scalar and instant vector types");
    }
    if (lt != ValueType::kVector || rt != ValueType::kVector) {
      if (bin.matching && (!bin.matching->labels.empty() || bin.has_modifiers ||
                           bin.matching->card == Cardinality::kManyToOne ||
                           bin.matching->card == Cardinality::kOneToMany)) {
        if (!IsSetOperator(bin.op)) {
          return ErrorAt(bin.pos.start, "vector matching only allowed between instant vectors");
        }
      }
      if (IsSetOperator(bin.op)) {
        return ErrorAt(bin.pos.start,
                       fmt::format("set operator \"{}\" not allowed in binary scalar expression",
                                   BinOpName(bin.op)));
      }
      bin.matching.reset();
    }
    return Status::Ok();
  }

  Status ParseUnary(ExprPtr& out) {
    const Token& t = Peek();
    if (t.kind == Tok::kSub || t.kind == Tok::kAdd) {
      Take();
      ExprPtr operand;
      if (++depth_ > kMaxDepth) {
        return Error(t, fmt::format("query is nested too deeply (more than {} levels)", kMaxDepth));
      }
      PHAROS_RETURN_IF_ERROR(ParseBinary(kUnaryPrecedence, operand));
      --depth_;
      ValueType type = TypeOf(*operand);
      if (type != ValueType::kScalar && type != ValueType::kVector) {
        return Error(t, fmt::format("unary expression only allowed on expressions of type scalar "
                                    "or instant vector, got \"{}\"",
                                    ValueTypeName(type)));
      }
      if (operand->kind == NodeKind::kNumber) {
        auto* n = static_cast<NumberLiteral*>(operand.get());
        if (t.kind == Tok::kSub) n->value = -n->value;
        n->pos.start = t.pos;
        out = std::move(operand);
        return Status::Ok();
      }
      auto u = std::make_unique<UnaryExpr>();
      u->negate = t.kind == Tok::kSub;
      u->pos = {t.pos, operand->pos.end};
      u->expr = std::move(operand);
      PHAROS_RETURN_IF_ERROR(CheckHeight(*u));
      out = std::move(u);
      return Status::Ok();
    }
    PHAROS_RETURN_IF_ERROR(ParsePrimary(out));
    return ParsePostfix(out);
  }

  static bool NumberValue(const Token& t, double& v) {
    if (t.kind == Tok::kNumber) {
      const std::string& s = t.text;
      if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        v = static_cast<double>(std::strtoull(s.c_str() + 2, nullptr, 16));
      } else {
        v = std::strtod(s.c_str(), nullptr);
      }
      return true;
    }
    if (t.kind == Tok::kDuration) {
      Result<Duration> d = pharos::ParseDuration(t.text);
      if (!d.ok()) return false;
      v = static_cast<double>(d->count()) / 1000.0;
      return true;
    }
    if (t.kind == Tok::kIdentifier) {
      std::string l = Lower(t.text);
      if (l == "inf") {
        v = INFINITY;
        return true;
      }
      if (l == "nan") {
        v = NAN;
        return true;
      }
    }
    return false;
  }

  Status ParsePrimary(ExprPtr& out) {
    const Token& t = Peek();
    double num;
    switch (t.kind) {
      case Tok::kNumber:
      case Tok::kDuration: {
        if (!NumberValue(t, num)) return Error(t, "bad number or duration syntax");
        Take();
        auto n = std::make_unique<NumberLiteral>();
        n->value = num;
        n->pos = {t.pos, t.end};
        out = std::move(n);
        return Status::Ok();
      }
      case Tok::kString: {
        Take();
        auto s = std::make_unique<StringLiteral>();
        s->value = t.text;
        s->pos = {t.pos, t.end};
        out = std::move(s);
        return Status::Ok();
      }
      case Tok::kLParen: {
        Take();
        auto p = std::make_unique<ParenExpr>();
        PHAROS_RETURN_IF_ERROR(ParseBinary(0, p->expr));
        if (Peek().kind != Tok::kRParen) return Unexpected(Peek(), "in paren expression");
        p->pos = {t.pos, Take().end};
        PHAROS_RETURN_IF_ERROR(CheckHeight(*p));
        out = std::move(p);
        return Status::Ok();
      }
      case Tok::kLBrace: return ParseSelector(out);
      case Tok::kIdentifier: break;
      default: return Unexpected(t, "");
    }
    // Identifiers: numbers, aggregations, functions, metric names.
    if (NumberValue(t, num) && Peek(1).kind != Tok::kLBrace && Peek(1).kind != Tok::kLParen) {
      Take();
      auto n = std::make_unique<NumberLiteral>();
      n->value = num;
      n->pos = {t.pos, t.end};
      out = std::move(n);
      return Status::Ok();
    }
    AggOp agg;
    if (ParseAggOp(t.text, agg) &&
        (Peek(1).kind == Tok::kLParen || PeekIdent("by", 1) || PeekIdent("without", 1))) {
      return ParseAggregate(agg, out);
    }
    if (Peek(1).kind == Tok::kLParen) {
      if (IsKeyword(t.text)) return Unexpected(t, "");
      return ParseCall(out);
    }
    if (IsKeyword(t.text)) return Unexpected(t, "");
    return ParseSelector(out);
  }

  Status ParseArgs(std::vector<ExprPtr>& args, std::string_view what) {
    PHAROS_RETURN_IF_ERROR(Expect(Tok::kLParen, what));
    if (Peek().kind == Tok::kRParen) {
      Take();
      return Status::Ok();
    }
    bool info = info_call_;
    info_call_ = false;
    while (true) {
      ExprPtr a;
      // info()'s second argument may select only with empty-matching matchers.
      if (info && args.size() == 1) allow_empty_selector_ = Peek().kind == Tok::kLBrace;
      PHAROS_RETURN_IF_ERROR(ParseBinary(0, a));
      allow_empty_selector_ = false;
      args.push_back(std::move(a));
      if (Peek().kind == Tok::kComma) {
        Take();
        continue;
      }
      if (Peek().kind == Tok::kRParen) {
        Take();
        return Status::Ok();
      }
      return Unexpected(Peek(), fmt::format("{}, expected \",\" or \")\"", what));
    }
  }

  Status ParseCall(ExprPtr& out) {
    const Token name = Take();
    const FunctionDef* f = FindFunction(name.text);
    if (f == nullptr) {
      return Error(name, fmt::format("unknown function with name \"{}\"", name.text));
    }
    auto call = std::make_unique<CallExpr>();
    call->func = f;
    info_call_ = f->id == FuncId::kInfo;
    PHAROS_RETURN_IF_ERROR(ParseArgs(call->args, "in function call"));
    call->pos = {name.pos, toks_[cur_ - 1].end};
    int n = static_cast<int>(call->args.size());
    int fixed = static_cast<int>(f->args.size());
    if (f->variadic == 0 && n != fixed) {
      return Error(name, fmt::format("expected {} argument(s) in call to \"{}\", got {}", fixed,
                                     f->name, n));
    }
    if (f->variadic > 0) {
      int min_args = fixed - f->variadic;
      if (n < min_args || n > fixed) {
        return Error(name, fmt::format("expected at least {} argument(s) in call to \"{}\", got {}",
                                       min_args, f->name, n));
      }
    }
    int min_args = f->min_args >= 0 ? f->min_args : fixed;
    if (f->variadic < 0 && n < min_args) {  // the last type repeats
      return Error(name, fmt::format("expected at least {} argument(s) in call to \"{}\", got {}",
                                     min_args, f->name, n));
    }

    for (int i = 0; i < n; ++i) {
      ValueType want = i < fixed ? f->args[i] : f->args.back();
      ValueType got = TypeOf(*call->args[i]);
      if (want != got) {
        return ErrorAt(call->args[i]->pos.start,
                       fmt::format("expected type {} in call to function \"{}\", got {}",
                                   ValueTypeName(want), f->name, ValueTypeName(got)));
      }
    }
    PHAROS_RETURN_IF_ERROR(CheckHeight(*call));
    out = std::move(call);
    return Status::Ok();
  }

  Status ParseAggregate(AggOp op, ExprPtr& out) {
    const Token name = Take();
    auto agg = std::make_unique<AggregateExpr>();
    agg->op = op;
    auto grouping = [&]() -> Status {
      agg->without = PeekIdent("without");
      Take();
      agg->has_grouping_clause = true;
      return ParseLabelList(agg->grouping, "grouping opts");
    };
    bool pre = PeekIdent("by") || PeekIdent("without");
    if (pre) PHAROS_RETURN_IF_ERROR(grouping());
    std::vector<ExprPtr> args;
    PHAROS_RETURN_IF_ERROR(ParseArgs(args, "in aggregation"));
    int end = toks_[cur_ - 1].end;
    if (!pre && (PeekIdent("by") || PeekIdent("without"))) {
      PHAROS_RETURN_IF_ERROR(grouping());
      end = toks_[cur_ - 1].end;
    }
    agg->pos = {name.pos, end};
    size_t want = AggHasParam(op) ? 2 : 1;
    if (args.size() != want) {
      return Error(name, fmt::format("wrong number of arguments for aggregate expression "
                                     "provided, expected {}, got {}",
                                     want, args.size()));
    }
    if (want == 2) agg->param = std::move(args[0]);
    agg->expr = std::move(args.back());
    ValueType et = TypeOf(*agg->expr);
    if (et != ValueType::kVector) {
      return ErrorAt(agg->expr->pos.start,
                     fmt::format("expected type instant vector in aggregation expression, got {}",
                                 ValueTypeName(et)));
    }
    if (agg->param) {
      ValueType want_t = op == AggOp::kCountValues ? ValueType::kString : ValueType::kScalar;
      ValueType pt = TypeOf(*agg->param);
      if (pt != want_t) {
        return ErrorAt(agg->param->pos.start,
                       fmt::format("expected type {} in aggregation parameter, got {}",
                                   ValueTypeName(want_t), ValueTypeName(pt)));
      }
    }
    PHAROS_RETURN_IF_ERROR(CheckHeight(*agg));
    out = std::move(agg);
    return Status::Ok();
  }

  Status ParseSelector(ExprPtr& out) {
    auto vs = std::make_unique<VectorSelector>();
    if (Peek().kind != Tok::kLBrace) allow_empty_selector_ = false;
    const Token& first = Peek();
    vs->pos.start = first.pos;
    if (first.kind == Tok::kIdentifier) {
      vs->name = Take().text;
      vs->pos.end = first.end;
    }
    if (Peek().kind == Tok::kLBrace) {
      Take();
      while (Peek().kind != Tok::kRBrace) {
        const Token& lt = Peek();
        if (lt.kind != Tok::kIdentifier && lt.kind != Tok::kString) {
          return Unexpected(lt, "in label matching, expected label matching operator");
        }
        Take();
        model::MatchType type;
        switch (Peek().kind) {
          case Tok::kAssign: type = model::MatchType::kEqual; break;
          case Tok::kNeq: type = model::MatchType::kNotEqual; break;
          case Tok::kRegexEq: type = model::MatchType::kRegexMatch; break;
          case Tok::kRegexNeq: type = model::MatchType::kRegexNoMatch; break;
          default:
            if (lt.kind == Tok::kString &&
                (Peek().kind == Tok::kComma || Peek().kind == Tok::kRBrace)) {
              // {"metric.name"}: a quoted metric name.
              auto name_matcher = std::find_if(
                  vs->matchers.begin(), vs->matchers.end(), [](const model::Matcher& m) {
                    return m.name() == "__name__" && m.type() == model::MatchType::kEqual;
                  });
              if (name_matcher != vs->matchers.end()) {
                return Error(lt, fmt::format("metric name must not be set twice: \"{}\" or "
                                             "\"{}\"",
                                             name_matcher->value(), lt.text));
              }
              if (!vs->name.empty()) {
                return Error(lt, fmt::format("metric name must not be set twice: \"{}\" or "
                                             "\"{}\"",
                                             vs->name, lt.text));
              }
              vs->name = lt.text;
              if (Peek().kind == Tok::kComma) Take();
              continue;
            }
            if (lt.kind == Tok::kIdentifier && lt.text.find(':') != std::string::npos) {
              return Unexpected(lt, "in label matching, expected label matching operator");
            }
            return Unexpected(Peek(),
                              "in label matching, expected one of \"=\", \"!=\", \"=~\" "
                              "or \"!~\"");
        }
        Take();
        if (Peek().kind != Tok::kString) {
          return Unexpected(Peek(), "in label matching, expected string");
        }
        const Token& val = Take();
        Result<model::Matcher> m = model::Matcher::Make(type, lt.text, val.text);
        if (!m.ok()) return Error(val, m.status().message());
        if (lt.text == "__name__" && type == model::MatchType::kEqual && !vs->name.empty()) {
          return Error(lt, fmt::format("metric name must not be set twice: \"{}\" or \"{}\"",
                                       vs->name, val.text));
        }
        vs->matchers.push_back(std::move(*m));
        if (Peek().kind == Tok::kComma) {
          Take();
          continue;
        }
        if (Peek().kind != Tok::kRBrace) {
          return Unexpected(Peek(), "in label matching, expected \",\" or \"}\"");
        }
      }
      vs->pos.end = Take().end;
    }
    if (!vs->name.empty()) {
      Result<model::Matcher> m =
          model::Matcher::Make(model::MatchType::kEqual, "__name__", vs->name);
      if (!m.ok()) return Error(first, m.status().message());
      vs->matchers.insert(vs->matchers.begin(), std::move(*m));
    }
    bool non_empty = false;
    for (const model::Matcher& m : vs->matchers) non_empty |= !m.Matches("");
    bool allow_empty = allow_empty_selector_;  // info()'s data label selector
    allow_empty_selector_ = false;
    if (!non_empty && !allow_empty) {
      return ErrorAt(vs->pos.start, "vector selector must contain at least one non-empty matcher");
    }
    out = std::move(vs);
    return Status::Ok();
  }

  // ---- Durations: a literal or (experimentally) an arithmetic expression over them.

  // Parses a duration expression; folds it into `ms` unless it uses step() or range(), in
  // which case `deferred` holds the tree.
  Status ParseDuration(int64_t& ms, std::shared_ptr<Expr>& deferred, bool allow_negative) {
    const Token& start = Peek();
    ExprPtr e;
    PHAROS_RETURN_IF_ERROR(ParseDurationExpr(0, e));
    double seconds;
    if (FoldDuration(*e, seconds)) {
      if (std::isnan(seconds) || std::isinf(seconds) || std::abs(seconds) > kMaxDurationSeconds) {
        return Error(start, "duration out of range");
      }
      ms = std::llround(seconds * 1000.0);
      if (!allow_negative && ms < 0) return Error(start, "duration must be greater than 0");
      return Status::Ok();
    }
    deferred = std::move(e);
    return Status::Ok();
  }

  Status ParseDurationExpr(int min_prec, ExprPtr& out) {
    if (++depth_ > kMaxDepth) {
      return Error(Peek(),
                   fmt::format("query is nested too deeply (more than {} levels)", kMaxDepth));
    }
    ExprPtr lhs;
    PHAROS_RETURN_IF_ERROR(ParseDurationUnary(lhs));
    BinOp op;
    while (PeekBinOp(op) && Precedence(op) >= min_prec &&
           (op == BinOp::kAdd || op == BinOp::kSub || op == BinOp::kMul || op == BinOp::kDiv ||
            op == BinOp::kMod || op == BinOp::kPow)) {
      Take();
      int next = op == BinOp::kPow ? Precedence(op) : Precedence(op) + 1;
      ExprPtr rhs;
      PHAROS_RETURN_IF_ERROR(ParseDurationExpr(next, rhs));
      auto bin = std::make_unique<BinaryExpr>();
      bin->op = op;
      bin->pos = {lhs->pos.start, rhs->pos.end};
      bin->lhs = std::move(lhs);
      bin->rhs = std::move(rhs);
      PHAROS_RETURN_IF_ERROR(CheckHeight(*bin));
      lhs = std::move(bin);
    }
    --depth_;
    out = std::move(lhs);
    return Status::Ok();
  }

  Status ParseDurationUnary(ExprPtr& out) {
    const Token& t = Peek();
    if (t.kind == Tok::kSub || t.kind == Tok::kAdd) {
      Take();
      auto u = std::make_unique<UnaryExpr>();
      u->negate = t.kind == Tok::kSub;
      PHAROS_RETURN_IF_ERROR(ParseDurationExpr(kUnaryPrecedence, u->expr));
      u->pos = {t.pos, u->expr->pos.end};
      PHAROS_RETURN_IF_ERROR(CheckHeight(*u));
      out = std::move(u);
      return Status::Ok();
    }
    return ParseDurationPrimary(out);
  }

  Status ParseDurationPrimary(ExprPtr& out) {
    const Token& t = Peek();
    double v;
    if (t.kind == Tok::kLParen) {
      Take();
      auto p = std::make_unique<ParenExpr>();
      PHAROS_RETURN_IF_ERROR(ParseDurationExpr(0, p->expr));
      if (Peek().kind != Tok::kRParen) return Unexpected(Peek(), "in duration expression");
      p->pos = {t.pos, Take().end};
      PHAROS_RETURN_IF_ERROR(CheckHeight(*p));
      out = std::move(p);
      return Status::Ok();
    }
    if (t.kind == Tok::kIdentifier && Peek(1).kind == Tok::kLParen) {
      std::string name = Lower(t.text);
      if (name == "step" || name == "range" || name == "min_of" || name == "max_of") {
        Take();
        auto c = std::make_unique<DurationCall>();
        c->name = name;
        Take();
        while (Peek().kind != Tok::kRParen) {
          ExprPtr a;
          PHAROS_RETURN_IF_ERROR(ParseDurationExpr(0, a));
          c->args.push_back(std::move(a));
          if (Peek().kind == Tok::kComma) {
            Take();
          } else if (Peek().kind != Tok::kRParen) {
            return Unexpected(Peek(), "in duration expression");
          }
        }
        c->pos = {t.pos, Take().end};
        size_t want = (name == "step" || name == "range") ? 0 : 2;
        if (c->args.size() != want) {
          return Error(t, fmt::format("expected {} argument(s) in call to \"{}\", got {}", want,
                                      name, c->args.size()));
        }
        PHAROS_RETURN_IF_ERROR(CheckHeight(*c));
        out = std::move(c);
        return Status::Ok();
      }
    }
    if (!NumberValue(t, v) || t.kind == Tok::kIdentifier) {
      return Unexpected(t, "in duration expression, expected number or duration");
    }
    Take();
    auto n = std::make_unique<NumberLiteral>();
    n->value = v;
    n->pos = {t.pos, t.end};
    out = std::move(n);
    return Status::Ok();
  }

  Status ParseAt(TimeModifiers& time, const Token& at_tok) {
    if (time.at != AtKind::kNone) {
      return Error(at_tok, "@ <timestamp> may not be set multiple times");
    }
    if ((PeekIdent("start") || PeekIdent("end")) && Peek(1).kind == Tok::kLParen &&
        Peek(2).kind == Tok::kRParen) {
      time.at = PeekIdent("start") ? AtKind::kStart : AtKind::kEnd;
      Take();
      Take();
      Take();
      return Status::Ok();
    }
    bool neg = false;
    if (Peek().kind == Tok::kSub || Peek().kind == Tok::kAdd) neg = Take().kind == Tok::kSub;
    double v;
    if (!NumberValue(Peek(), v)) {
      return Unexpected(Peek(), "in @, expected timestamp, start() or end()");
    }
    const Token& vt = Take();
    if (neg) v = -v;
    if (std::isnan(v) || std::isinf(v) || std::abs(v) > kMaxDurationSeconds) {
      return Error(vt, fmt::format("timestamp out of bounds for @ modifier: {}", v));
    }
    time.at = AtKind::kTimestamp;
    time.at_ms = std::llround(v * 1000.0);
    return Status::Ok();
  }

  Status ParseOffset(TimeModifiers& time, const Token& off_tok) {
    if (time.offset_ms != 0 || time.offset_expr) {
      return Error(off_tok, "offset may not be set multiple times");
    }
    bool neg = false;
    if (Peek().kind == Tok::kSub || Peek().kind == Tok::kAdd) neg = Take().kind == Tok::kSub;
    ExprPtr e;
    PHAROS_RETURN_IF_ERROR(ParseDurationPrimary(e));
    double seconds;
    if (FoldDuration(*e, seconds)) {
      if (std::isnan(seconds) || std::isinf(seconds) || std::abs(seconds) > kMaxDurationSeconds) {
        return Error(off_tok, "offset out of range");
      }
      time.offset_ms = std::llround((neg ? -seconds : seconds) * 1000.0);
    } else if (neg) {
      auto u = std::make_shared<UnaryExpr>();
      u->negate = true;
      u->pos = e->pos;
      u->expr = std::move(e);
      PHAROS_RETURN_IF_ERROR(CheckHeight(*u));
      time.offset_expr = std::move(u);
    } else {
      time.offset_expr = std::move(e);
    }
    return Status::Ok();
  }

  static TimeModifiers* TimeOf(Expr& e) {
    if (e.kind == NodeKind::kVectorSelector) return &static_cast<VectorSelector&>(e).time;
    if (e.kind == NodeKind::kMatrixSelector) {
      return &static_cast<MatrixSelector&>(e).selector->time;
    }
    if (e.kind == NodeKind::kSubquery) return &static_cast<SubqueryExpr&>(e).time;
    return nullptr;
  }

  Status ParsePostfix(ExprPtr& e) {
    while (true) {
      const Token& t = Peek();
      if (t.kind == Tok::kLBracket) {
        Take();
        int64_t range = 0;
        std::shared_ptr<Expr> range_expr;
        PHAROS_RETURN_IF_ERROR(ParseDuration(range, range_expr, false));
        if (Peek().kind == Tok::kColon) {
          Take();
          auto sq = std::make_unique<SubqueryExpr>();
          sq->range_ms = range;
          sq->range_expr = std::move(range_expr);
          if (Peek().kind != Tok::kRBracket) {
            PHAROS_RETURN_IF_ERROR(ParseDuration(sq->step_ms, sq->step_expr, false));
          }
          if (Peek().kind != Tok::kRBracket) return Unexpected(Peek(), "in subquery selector");
          sq->pos = {e->pos.start, Take().end};
          if (TypeOf(*e) != ValueType::kVector) {
            return ErrorAt(e->pos.start,
                           fmt::format("subquery is only allowed on instant vector, got {} in "
                                       "\"{}\" instead",
                                       ValueTypeName(TypeOf(*e)), Format(*e)));
          }
          sq->expr = std::move(e);
          PHAROS_RETURN_IF_ERROR(CheckHeight(*sq));
          e = std::move(sq);
          continue;
        }
        if (Peek().kind != Tok::kRBracket) return Unexpected(Peek(), "in range selector");
        int end = Take().end;
        if (e->kind != NodeKind::kVectorSelector) {
          return ErrorAt(e->pos.start, "ranges only allowed for vector selectors");
        }
        auto* vs = static_cast<VectorSelector*>(e.get());
        if (vs->time.offset_ms != 0 || vs->time.offset_expr) {
          return ErrorAt(e->pos.start, "no offset modifiers allowed before range");
        }
        if (vs->time.at != AtKind::kNone) {
          return ErrorAt(e->pos.start, "no @ modifiers allowed before range");
        }
        if (range == 0 && !range_expr) {
          return ErrorAt(t.pos, "range duration must be greater than 0");
        }
        auto ms = std::make_unique<MatrixSelector>();
        ms->pos = {e->pos.start, end};
        ms->range_ms = range;
        ms->range_expr = std::move(range_expr);
        ms->selector.reset(static_cast<VectorSelector*>(e.release()));
        PHAROS_RETURN_IF_ERROR(CheckHeight(*ms));
        e = std::move(ms);
        continue;
      }
      if (PeekIdent("offset")) {
        const Token& off = Take();
        TimeModifiers* tm = TimeOf(*e);
        if (tm == nullptr) {
          return Error(off,
                       "offset modifier must be preceded by an instant vector selector or "
                       "range vector selector or a subquery");
        }
        PHAROS_RETURN_IF_ERROR(ParseOffset(*tm, off));
        e->pos.end = toks_[cur_ - 1].end;
        continue;
      }
      if (t.kind == Tok::kAt) {
        const Token& at = Take();
        TimeModifiers* tm = TimeOf(*e);
        if (tm == nullptr) {
          return Error(at,
                       "@ modifier must be preceded by an instant vector selector or range "
                       "vector selector or a subquery");
        }
        PHAROS_RETURN_IF_ERROR(ParseAt(*tm, at));
        e->pos.end = toks_[cur_ - 1].end;
        continue;
      }
      if (PeekIdent("anchored") || PeekIdent("smoothed")) {
        const Token& m = Take();
        if (e->kind != NodeKind::kMatrixSelector && e->kind != NodeKind::kVectorSelector) {
          return Error(
              m, fmt::format("{} modifier must be preceded by a vector selector", Lower(m.text)));
        }
        VectorSelector* vs = e->kind == NodeKind::kMatrixSelector
                                 ? static_cast<MatrixSelector*>(e.get())->selector.get()
                                 : static_cast<VectorSelector*>(e.get());
        (Lower(m.text) == "anchored" ? vs->anchored : vs->smoothed) = true;
        e->pos.end = m.end;
        continue;
      }
      return Status::Ok();
    }
  }

  std::string_view q_;
  std::vector<Token> toks_;
  size_t cur_ = 0;
  int depth_ = 0;
  bool info_call_ = false;
  bool allow_empty_selector_ = false;
};

}  // namespace

bool FoldDuration(const Expr& e, double& seconds) {
  switch (e.kind) {
    case NodeKind::kNumber: seconds = static_cast<const NumberLiteral&>(e).value; return true;
    case NodeKind::kParen: return FoldDuration(*static_cast<const ParenExpr&>(e).expr, seconds);
    case NodeKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      if (!FoldDuration(*u.expr, seconds)) return false;
      if (u.negate) seconds = -seconds;
      return true;
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      double l, r;
      if (!FoldDuration(*b.lhs, l) || !FoldDuration(*b.rhs, r)) return false;
      seconds = ApplyDurationOp(b.op, l, r);
      return true;
    }
    case NodeKind::kDurationCall: {
      const auto& c = static_cast<const DurationCall&>(e);
      if (c.name == "step" || c.name == "range") return false;
      double a, b;
      if (!FoldDuration(*c.args[0], a) || !FoldDuration(*c.args[1], b)) return false;
      seconds = c.name == "min_of" ? std::min(a, b) : std::max(a, b);
      return true;
    }
    default: return false;
  }
}

double ApplyDurationOp(BinOp op, double l, double r) {
  switch (op) {
    case BinOp::kAdd: return l + r;
    case BinOp::kSub: return l - r;
    case BinOp::kMul: return l * r;
    case BinOp::kDiv: return l / r;
    case BinOp::kMod: return std::fmod(l, r);
    case BinOp::kPow: return std::pow(l, r);
    default: return NAN;
  }
}

Result<ExprPtr> ParseExpr(std::string_view query) {
  Result<std::vector<Token>> tokens = Lex(query);
  if (!tokens.ok()) return tokens.status();
  return Parser(query, std::move(*tokens)).Run();
}

Result<std::vector<model::Matcher>> ParseSeriesSelector(std::string_view text) {
  Result<ExprPtr> e = ParseExpr(text);
  if (!e.ok()) return e.status();
  if ((*e)->kind != NodeKind::kVectorSelector) {
    return InvalidArgument(
        fmt::format("1:1: parse error: expected a series selector, got \"{}\"", Format(**e)));
  }
  auto* vs = static_cast<VectorSelector*>(e->get());
  if (vs->time.offset_ms != 0 || vs->time.at != AtKind::kNone) {
    return InvalidArgument("1:1: parse error: a series selector takes no offset or @ modifier");
  }
  return std::move(vs->matchers);
}

}  // namespace pharos::promql
