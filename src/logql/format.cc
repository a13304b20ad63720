// FormatQuery: a parsed query printed back in canonical form, on one line when it fits in
// 100 characters and otherwise broken at its structure, two spaces per level.
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/strings.h"
#include "logql/logql.h"

namespace pharos::logql {
namespace {

constexpr size_t kMaxLine = 100;

std::string Indent(int level) { return std::string(static_cast<size_t>(level) * 2, ' '); }

const char* BinOpText(BinOp op) {
  switch (op) {
    case BinOp::kOr: return "or";
    case BinOp::kAnd: return "and";
    case BinOp::kUnless: return "unless";
    case BinOp::kAdd: return "+";
    case BinOp::kSub: return "-";
    case BinOp::kMul: return "*";
    case BinOp::kDiv: return "/";
    case BinOp::kMod: return "%";
    case BinOp::kPow: return "^";
    case BinOp::kEq: return "==";
    case BinOp::kNeq: return "!=";
    case BinOp::kGt: return ">";
    case BinOp::kGte: return ">=";
    case BinOp::kLt: return "<";
    case BinOp::kLte: return "<=";
  }
  return "?";
}

int Precedence(BinOp op) {
  switch (op) {
    case BinOp::kOr: return 1;
    case BinOp::kAnd:
    case BinOp::kUnless: return 2;
    case BinOp::kEq:
    case BinOp::kNeq:
    case BinOp::kGt:
    case BinOp::kGte:
    case BinOp::kLt:
    case BinOp::kLte: return 3;
    case BinOp::kAdd:
    case BinOp::kSub: return 4;
    case BinOp::kMul:
    case BinOp::kDiv:
    case BinOp::kMod: return 5;
    case BinOp::kPow: return 6;
  }
  return 0;
}

// Whether `child`, an operand of `parent` (on the right when `right`), needs parentheses
// to keep the tree the parser built: lower precedence, or equal on the side that
// associativity would regroup (left-associative operators, and ^ the other way round).
bool NeedsParens(const Expr& child, const BinaryExpr& parent, bool right) {
  if (child.kind != NodeKind::kBinary) return false;
  int c = Precedence(static_cast<const BinaryExpr&>(child).op);
  int p = Precedence(parent.op);
  if (c != p) return c < p;
  return parent.op == BinOp::kPow ? !right : right;
}

// Shortest round-trip text; what the lexer cannot read is written as an expression the
// parser folds back to the same value.
std::string Number(double v) {
  if (std::isnan(v)) return "(0 / 0)";
  if (std::isinf(v)) return v > 0 ? "1e999" : "-1e999";  // out of range: parsed as infinity
  return fmt::format("{}", v);
}

std::string LabelList(const std::vector<std::string>& labels) {
  return fmt::format("({})", fmt::join(labels, ", "));
}

std::string GroupingText(const std::optional<Grouping>& g) {
  if (!g) return {};
  return std::string(g->without ? " without " : " by ") + LabelList(g->labels);
}

std::string Matchers(const LogSelector& sel) {
  std::string out = "{";
  for (size_t i = 0; i < sel.matchers.size(); ++i) {
    const model::Matcher& m = sel.matchers[i];
    if (i) out += ", ";
    out += m.name();
    out += model::MatchTypeText(m.type());
    out += QuoteGo(m.value());
  }
  return out + "}";
}

// The selector, its stages and an unwrap with its filters, as a list of parts.
std::vector<std::string> SelectorParts(const LogSelector& sel,
                                       const std::optional<Unwrap>& unwrap) {
  std::vector<std::string> parts = {Matchers(sel)};
  parts.insert(parts.end(), sel.stage_texts.begin(), sel.stage_texts.end());
  if (unwrap) {
    parts.push_back(unwrap->text);
    parts.insert(parts.end(), unwrap->post_filter_texts.begin(), unwrap->post_filter_texts.end());
  }
  return parts;
}

std::string Join(const std::vector<std::string>& parts) {
  return fmt::format("{}", fmt::join(parts, " "));
}

std::string RangeSuffix(const RangeExpr& r) {
  std::string out = " [" + r.range_text + "]";
  if (!r.offset_text.empty()) out += " offset " + r.offset_text;
  return out;
}

std::string BinaryOperator(const BinaryExpr& b) {
  std::string out = BinOpText(b.op);
  if (b.return_bool) out += " bool";
  if (!b.matching.labels.empty() || b.matching.on) {
    out += b.matching.on ? " on " : " ignoring ";
    out += LabelList(b.matching.labels);
  }
  if (b.matching.card == Cardinality::kManyToOne || b.matching.card == Cardinality::kOneToMany) {
    out += b.matching.card == Cardinality::kManyToOne ? " group_left" : " group_right";
    if (!b.matching.include.empty()) out += " " + LabelList(b.matching.include);
  }
  return out;
}

std::string OneLine(const Expr& e);

std::string Operand(const Expr& child, const BinaryExpr& parent, bool right) {
  std::string text = OneLine(child);
  return NeedsParens(child, parent, right) ? "(" + text + ")" : text;
}

std::string OneLine(const Expr& e) {
  switch (e.kind) {
    case NodeKind::kLog: {
      const auto& log = static_cast<const LogExpr&>(e);
      return Join(SelectorParts(log.selector, std::nullopt));
    }
    case NodeKind::kRange: {
      const auto& r = static_cast<const RangeExpr&>(e);
      std::string out = std::string(RangeOpName(r.op)) + "(";
      if (r.op == RangeOp::kQuantileOverTime) out += Number(r.param) + ", ";
      out += Join(SelectorParts(r.selector, r.unwrap)) + RangeSuffix(r) + ")";
      return out + GroupingText(r.grouping);
    }
    case NodeKind::kVector: {
      const auto& v = static_cast<const VectorExpr&>(e);
      std::string out = std::string(VectorOpName(v.op)) + GroupingText(v.grouping);
      out += v.grouping ? " (" : "(";
      if (TakesParam(v.op)) out += std::to_string(v.param) + ", ";
      return out + OneLine(*v.expr) + ")";
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      return Operand(*b.lhs, b, false) + " " + BinaryOperator(b) + " " + Operand(*b.rhs, b, true);
    }
    case NodeKind::kLiteral: return Number(static_cast<const LiteralExpr&>(e).value);
    case NodeKind::kVectorLiteral:
      return "vector(" + Number(static_cast<const VectorLiteralExpr&>(e).value) + ")";
    case NodeKind::kLabelReplace: {
      const auto& l = static_cast<const LabelReplaceExpr&>(e);
      return "label_replace(" + OneLine(*l.expr) + ", " + QuoteGo(l.dst) + ", " +
             QuoteGo(l.replacement) + ", " + QuoteGo(l.src) + ", " + QuoteGo(l.regex) + ")";
    }
  }
  return {};
}

// The selector's parts one per line, its stages a level deeper.
std::string PrettySelector(const std::vector<std::string>& parts, int level) {
  std::string out = Indent(level) + parts[0];
  for (size_t i = 1; i < parts.size(); ++i) out += "\n" + Indent(level + 1) + parts[i];
  return out;
}

std::string Pretty(const Expr& e, int level) {
  std::string flat = OneLine(e);
  if (Indent(level).size() + flat.size() <= kMaxLine) return Indent(level) + flat;
  std::string in = Indent(level);
  switch (e.kind) {
    case NodeKind::kLog: {
      const auto& log = static_cast<const LogExpr&>(e);
      return PrettySelector(SelectorParts(log.selector, std::nullopt), level);
    }
    case NodeKind::kRange: {
      const auto& r = static_cast<const RangeExpr&>(e);
      std::string out = in + RangeOpName(r.op) + "(\n";
      if (r.op == RangeOp::kQuantileOverTime) out += Indent(level + 1) + Number(r.param) + ",\n";
      out += PrettySelector(SelectorParts(r.selector, r.unwrap), level + 1) + RangeSuffix(r);
      return out + "\n" + in + ")" + GroupingText(r.grouping);
    }
    case NodeKind::kVector: {
      const auto& v = static_cast<const VectorExpr&>(e);
      std::string out =
          in + VectorOpName(v.op) + GroupingText(v.grouping) + (v.grouping ? " (\n" : "(\n");
      if (TakesParam(v.op)) out += Indent(level + 1) + std::to_string(v.param) + ",\n";
      return out + Pretty(*v.expr, level + 1) + "\n" + in + ")";
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const BinaryExpr&>(e);
      auto side = [&](const Expr& child, bool right) {
        if (!NeedsParens(child, b, right)) return Pretty(child, level + 1);
        return Indent(level + 1) + "(\n" + Pretty(child, level + 2) + "\n" + Indent(level + 1) +
               ")";
      };
      return side(*b.lhs, false) + "\n" + in + BinaryOperator(b) + "\n" + side(*b.rhs, true);
    }
    case NodeKind::kLabelReplace: {
      const auto& l = static_cast<const LabelReplaceExpr&>(e);
      std::string arg = Indent(level + 1);
      return in + "label_replace(\n" + Pretty(*l.expr, level + 1) + ",\n" + arg + QuoteGo(l.dst) +
             ",\n" + arg + QuoteGo(l.replacement) + ",\n" + arg + QuoteGo(l.src) + ",\n" + arg +
             QuoteGo(l.regex) + "\n" + in + ")";
    }
    case NodeKind::kLiteral:
    case NodeKind::kVectorLiteral: return in + flat;
  }
  return in + flat;
}

}  // namespace

std::string FormatQuery(const Expr& expr) { return Pretty(expr, 0); }

Result<std::string> FormatQuery(std::string_view query) {
  Result<ExprPtr> expr = ParseExpr(query);
  if (!expr.ok()) return expr.status();
  return FormatQuery(**expr);
}

}  // namespace pharos::logql
