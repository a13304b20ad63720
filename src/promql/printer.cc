// Canonical text of a syntax tree, as Prometheus's String() methods print it, and the small
// name tables the parser and engine share.
#include <fmt/format.h>

#include <charconv>
#include <cmath>

#include "common/strings.h"
#include "promql/functions.h"
#include "promql/promql.h"

namespace pharos::promql {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ", ";
    out += v[i];
  }
  return out;
}

std::string TimeSuffix(const TimeModifiers& t) {
  std::string out;
  switch (t.at) {
    case AtKind::kTimestamp: out += fmt::format(" @ {:.3f}", t.at_ms / 1000.0); break;
    case AtKind::kStart: out += " @ start()"; break;
    case AtKind::kEnd: out += " @ end()"; break;
    case AtKind::kNone: break;
  }
  if (t.offset_expr) {
    out += " offset " + Format(*t.offset_expr);
  } else if (t.offset_ms > 0) {
    out += " offset " + FormatDuration(Duration(t.offset_ms));
  } else if (t.offset_ms < 0) {
    out += " offset -" + FormatDuration(Duration(-t.offset_ms));
  }
  return out;
}

// Names outside the classic character set are written quoted, as Prometheus 3 does.
bool IsPlainName(std::string_view name, bool metric) {
  if (name.empty()) return false;
  if (metric) {
    // Keywords and number words would read back as something else.
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    static const char* kReserved[] = {"and",    "or",       "unless",     "by",          "without",
                                      "on",     "ignoring", "group_left", "group_right", "bool",
                                      "offset", "atan2",    "inf",        "nan"};
    for (const char* k : kReserved) {
      if (lower == k) return false;
    }
  }
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (metric && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string LabelName(std::string_view name) {
  return IsPlainName(name, false) ? std::string(name) : QuoteGo(name);
}

std::string LabelList(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const std::string& n : names) out.push_back(LabelName(n));
  return Join(out);
}

std::string SelectorText(const VectorSelector& vs) {
  bool plain_name = vs.name.empty() || IsPlainName(vs.name, true);
  std::string out = plain_name ? vs.name : "";
  std::vector<std::string> parts;
  if (!plain_name) parts.push_back(QuoteGo(vs.name));
  for (const model::Matcher& m : vs.matchers) {
    if (!vs.name.empty() && m.name() == "__name__" && m.type() == model::MatchType::kEqual &&
        m.value() == vs.name) {
      continue;
    }
    parts.push_back(LabelName(m.name()) + std::string(model::MatchTypeText(m.type())) +
                    QuoteGo(m.value()));
  }
  if (!parts.empty() || vs.name.empty()) out += "{" + Join(parts) + "}";
  return out;
}

}  // namespace

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest fixed notation that reads back as
  // the same double (1e-10 prints as 0.0000000001, never as a rounded 0).
  char buf[400];
  auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, res.ptr);
}

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone: return "none";
    case ValueType::kScalar: return "scalar";
    case ValueType::kVector: return "instant vector";
    case ValueType::kMatrix: return "range vector";
    case ValueType::kString: return "string";
  }
  return "none";
}

const char* AggOpName(AggOp op) {
  switch (op) {
    case AggOp::kSum: return "sum";
    case AggOp::kAvg: return "avg";
    case AggOp::kCount: return "count";
    case AggOp::kMin: return "min";
    case AggOp::kMax: return "max";
    case AggOp::kGroup: return "group";
    case AggOp::kStddev: return "stddev";
    case AggOp::kStdvar: return "stdvar";
    case AggOp::kTopk: return "topk";
    case AggOp::kBottomk: return "bottomk";
    case AggOp::kCountValues: return "count_values";
    case AggOp::kQuantile: return "quantile";
    case AggOp::kLimitk: return "limitk";
    case AggOp::kLimitRatio: return "limit_ratio";
  }
  return "";
}

const char* BinOpName(BinOp op) {
  switch (op) {
    case BinOp::kAdd: return "+";
    case BinOp::kSub: return "-";
    case BinOp::kMul: return "*";
    case BinOp::kDiv: return "/";
    case BinOp::kMod: return "%";
    case BinOp::kPow: return "^";
    case BinOp::kAtan2: return "atan2";
    case BinOp::kEql: return "==";
    case BinOp::kNeq: return "!=";
    case BinOp::kGtr: return ">";
    case BinOp::kLss: return "<";
    case BinOp::kGte: return ">=";
    case BinOp::kLte: return "<=";
    case BinOp::kAnd: return "and";
    case BinOp::kOr: return "or";
    case BinOp::kUnless: return "unless";
  }
  return "";
}

bool IsComparison(BinOp op) {
  return op == BinOp::kEql || op == BinOp::kNeq || op == BinOp::kGtr || op == BinOp::kLss ||
         op == BinOp::kGte || op == BinOp::kLte;
}

bool IsSetOperator(BinOp op) {
  return op == BinOp::kAnd || op == BinOp::kOr || op == BinOp::kUnless;
}

std::string_view FunctionName(const CallExpr& call) { return call.func->name; }

void ForEachChild(Expr& e, const std::function<void(Expr&)>& fn) {
  auto opt = [&](Expr* child) {
    if (child != nullptr) fn(*child);
  };
  auto time = [&](TimeModifiers& t) { opt(t.offset_expr.get()); };
  switch (e.kind) {
    case NodeKind::kVectorSelector: time(static_cast<VectorSelector&>(e).time); break;
    case NodeKind::kMatrixSelector: {
      auto& ms = static_cast<MatrixSelector&>(e);
      fn(*ms.selector);
      opt(ms.range_expr.get());
      break;
    }
    case NodeKind::kSubquery: {
      auto& sq = static_cast<SubqueryExpr&>(e);
      fn(*sq.expr);
      opt(sq.range_expr.get());
      opt(sq.step_expr.get());
      time(sq.time);
      break;
    }
    case NodeKind::kCall:
      for (ExprPtr& a : static_cast<CallExpr&>(e).args) fn(*a);
      break;
    case NodeKind::kDurationCall:
      for (ExprPtr& a : static_cast<DurationCall&>(e).args) fn(*a);
      break;
    case NodeKind::kAggregate: {
      auto& a = static_cast<AggregateExpr&>(e);
      opt(a.param.get());
      fn(*a.expr);
      break;
    }
    case NodeKind::kBinary: {
      auto& b = static_cast<BinaryExpr&>(e);
      fn(*b.lhs);
      fn(*b.rhs);
      break;
    }
    case NodeKind::kUnary: fn(*static_cast<UnaryExpr&>(e).expr); break;
    case NodeKind::kParen: fn(*static_cast<ParenExpr&>(e).expr); break;
    case NodeKind::kNumber:
    case NodeKind::kString: break;
  }
}

void ForEachChild(const Expr& e, const std::function<void(const Expr&)>& fn) {
  // The tree is not changed: the mutable walk only hands out references.
  ForEachChild(const_cast<Expr&>(e), [&](Expr& child) { fn(child); });
}

ValueType TypeOf(const Expr& e) {
  switch (e.kind) {
    case NodeKind::kNumber: return ValueType::kScalar;
    case NodeKind::kString: return ValueType::kString;
    case NodeKind::kVectorSelector: return ValueType::kVector;
    case NodeKind::kMatrixSelector: return ValueType::kMatrix;
    case NodeKind::kSubquery: return ValueType::kMatrix;
    case NodeKind::kCall: return static_cast<const CallExpr&>(e).func->ret;
    case NodeKind::kAggregate: return ValueType::kVector;
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      return TypeOf(*b.lhs) == ValueType::kScalar && TypeOf(*b.rhs) == ValueType::kScalar
                 ? ValueType::kScalar
                 : ValueType::kVector;
    }
    case NodeKind::kUnary: return TypeOf(*static_cast<const UnaryExpr&>(e).expr);
    case NodeKind::kParen: return TypeOf(*static_cast<const ParenExpr&>(e).expr);
    case NodeKind::kDurationCall: return ValueType::kScalar;
  }
  return ValueType::kNone;
}

std::string Format(const Expr& e) {
  switch (e.kind) {
    case NodeKind::kNumber: {
      // "Inf" rather than Prometheus's "+Inf": "+Inf ^ 2" would read back as +(Inf ^ 2).
      double v = static_cast<const NumberLiteral&>(e).value;
      return std::isinf(v) && v > 0 ? "Inf" : FormatFloat(v);
    }
    case NodeKind::kString: return QuoteGo(static_cast<const StringLiteral&>(e).value);
    case NodeKind::kVectorSelector: {
      const auto& vs = static_cast<const VectorSelector&>(e);
      return SelectorText(vs) + TimeSuffix(vs.time);
    }
    case NodeKind::kMatrixSelector: {
      const auto& ms = static_cast<const MatrixSelector&>(e);
      std::string range =
          ms.range_expr ? Format(*ms.range_expr) : FormatDuration(Duration(ms.range_ms));
      std::string out = SelectorText(*ms.selector) + "[" + range + "]";
      if (ms.selector->anchored) out += " anchored";
      if (ms.selector->smoothed) out += " smoothed";
      return out + TimeSuffix(ms.selector->time);
    }
    case NodeKind::kSubquery: {
      const auto& sq = static_cast<const SubqueryExpr&>(e);
      std::string range =
          sq.range_expr ? Format(*sq.range_expr) : FormatDuration(Duration(sq.range_ms));
      std::string step = sq.step_expr ? Format(*sq.step_expr)
                         : sq.step_ms ? FormatDuration(Duration(sq.step_ms))
                                      : "";
      return Format(*sq.expr) + "[" + range + ":" + step + "]" + TimeSuffix(sq.time);
    }
    case NodeKind::kCall: {
      const auto& c = static_cast<const CallExpr&>(e);
      std::vector<std::string> args;
      for (const ExprPtr& a : c.args) args.push_back(Format(*a));
      return std::string(c.func->name) + "(" + Join(args) + ")";
    }
    case NodeKind::kDurationCall: {
      const auto& c = static_cast<const DurationCall&>(e);
      std::vector<std::string> args;
      for (const ExprPtr& a : c.args) args.push_back(Format(*a));
      return c.name + "(" + Join(args) + ")";
    }
    case NodeKind::kAggregate: {
      const auto& a = static_cast<const AggregateExpr&>(e);
      std::string out = AggOpName(a.op);
      if (a.without) {
        out += " without (" + LabelList(a.grouping) + ") ";
      } else if (!a.grouping.empty() || a.has_grouping_clause) {
        out += " by (" + LabelList(a.grouping) + ") ";
      }
      out += "(";
      if (a.param) out += Format(*a.param) + ", ";
      return out + Format(*a.expr) + ")";
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      std::string mods;
      if (b.return_bool) mods += " bool";
      const VectorMatching* vm = b.matching.get();
      if (vm != nullptr && (!vm->labels.empty() || vm->on)) {
        mods += fmt::format(" {} ({})", vm->on ? "on" : "ignoring", LabelList(vm->labels));
        if (vm->card == Cardinality::kManyToOne || vm->card == Cardinality::kOneToMany) {
          mods +=
              fmt::format(" group_{} ({})", vm->card == Cardinality::kManyToOne ? "left" : "right",
                          LabelList(vm->include));
        }
      }
      if (vm != nullptr) {
        if (vm->fill_left && vm->fill_right && *vm->fill_left == *vm->fill_right) {
          mods += " fill (" + FormatFloat(*vm->fill_left) + ")";
        } else {
          if (vm->fill_left) mods += " fill_left (" + FormatFloat(*vm->fill_left) + ")";
          if (vm->fill_right) mods += " fill_right (" + FormatFloat(*vm->fill_right) + ")";
        }
      }
      return Format(*b.lhs) + " " + BinOpName(b.op) + mods + " " + Format(*b.rhs);
    }
    case NodeKind::kUnary: {
      const auto& u = static_cast<const UnaryExpr&>(e);
      return (u.negate ? "-" : "+") + Format(*u.expr);
    }
    case NodeKind::kParen: return "(" + Format(*static_cast<const ParenExpr&>(e).expr) + ")";
  }
  return "";
}

}  // namespace pharos::promql
