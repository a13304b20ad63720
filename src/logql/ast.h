// logql/ast.h: the syntax tree of a LogQL query, as the parser builds it and the engine
// walks it. Part of the logql module's interface (included by logql.h).
//
// Contract: a tree is immutable once parsed and owns its children; the stages of a log
// pipeline are compiled at parse time (regexes, templates, IP ranges), so a tree that
// parsed evaluates without parse errors.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"

namespace re2 {
class RE2;
}

namespace pharos::logql {

class Stage;  // pipeline.h: one step of a log pipeline
using StagePtr = std::shared_ptr<const Stage>;

/// A stream selector and its log pipeline: `{app="a"} |= "x" | json | level="error"`.
struct LogSelector {
  std::vector<model::Matcher> matchers;
  std::vector<StagePtr> stages;
  /// Substrings every kept line contains (from `|=` filters, and `|~` filters whose regex
  /// is a plain literal, before any stage that rewrites the line), so the store can skip
  /// blocks that lack them.
  std::vector<std::string> required_substrings;
  /// The same, equal up to ASCII case (from `|~ "(?i)literal"`), so that every line holding
  /// one holds it with its ASCII letters in some case.
  std::vector<std::string> required_substrings_any_case;
  /// (label, value) pairs every kept line's labels hold: `| name="value"` label filters
  /// that come before any stage that could change the labels (parsers, label_format,
  /// drop, keep), so the store can skip blocks that lack the value (a trace id).
  std::vector<std::pair<std::string, std::string>> required_labels;
  /// Each stage's text in canonical form (`| json a="b"`, `|= "x" or "y"`), for
  /// FormatQuery.
  std::vector<std::string> stage_texts;
};

enum class UnwrapConversion { kFloat, kBytes, kDuration };

struct Unwrap {
  std::string label;
  UnwrapConversion conversion = UnwrapConversion::kFloat;
  std::vector<StagePtr> post_filters;  // label filters after `| unwrap x`
  std::string text;                    // canonical: `| unwrap duration(took)`
  std::vector<std::string> post_filter_texts;
};

enum class RangeOp {
  kCountOverTime,
  kRate,
  kRateCounter,
  kBytesOverTime,
  kBytesRate,
  kAvgOverTime,
  kSumOverTime,
  kMinOverTime,
  kMaxOverTime,
  kStdvarOverTime,
  kStddevOverTime,
  kQuantileOverTime,
  kFirstOverTime,
  kLastOverTime,
  kAbsentOverTime,
};
const char* RangeOpName(RangeOp op);

enum class VectorOp {
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kSort,
  kSortDesc,
  kApproxTopk,
};
const char* VectorOpName(VectorOp op);
/// topk, bottomk and approx_topk take a parameter before their expression.
inline bool TakesParam(VectorOp op) {
  return op == VectorOp::kTopk || op == VectorOp::kBottomk || op == VectorOp::kApproxTopk;
}

enum class BinOp {
  kOr,
  kAnd,
  kUnless,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kEq,
  kNeq,
  kGt,
  kGte,
  kLt,
  kLte,
};
bool IsComparison(BinOp op);
bool IsSetOperator(BinOp op);
/// `a op b` on two numbers. A comparison gives 1 when it holds; when it does not, 0 with
/// `return_bool`, else NaN (the caller drops the sample). / and % by zero give NaN.
double ApplyScalar(BinOp op, double a, double b, bool return_bool);

struct Grouping {
  std::vector<std::string> labels;
  bool without = false;
};

enum class NodeKind { kLog, kRange, kVector, kBinary, kLiteral, kVectorLiteral, kLabelReplace };

struct Expr {
  explicit Expr(NodeKind k) : kind(k) {}
  virtual ~Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  NodeKind kind;
};
using ExprPtr = std::unique_ptr<Expr>;

/// A log query: streams of lines.
struct LogExpr : Expr {
  LogExpr() : Expr(NodeKind::kLog) {}
  LogSelector selector;
};

/// `count_over_time({...} | ... [5m] offset 1m)` and the other range aggregations.
struct RangeExpr : Expr {
  RangeExpr() : Expr(NodeKind::kRange) {}
  RangeOp op = RangeOp::kCountOverTime;
  LogSelector selector;
  std::optional<Unwrap> unwrap;
  int64_t range_ns = 0;
  int64_t offset_ns = 0;
  std::string range_text;   // as written: "5m"
  std::string offset_text;  // "" without an offset
  double param = 0;         // quantile_over_time's quantile
  std::optional<Grouping> grouping;
};

/// `sum by (app) (...)`, `topk(3, ...)`, `sort(...)`.
struct VectorExpr : Expr {
  VectorExpr() : Expr(NodeKind::kVector) {}
  VectorOp op = VectorOp::kSum;
  ExprPtr expr;
  int64_t param = 0;  // topk, bottomk, approx_topk
  std::optional<Grouping> grouping;
};

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  bool on = false;
  std::vector<std::string> labels;   // on(...) / ignoring(...)
  std::vector<std::string> include;  // group_left(...) / group_right(...)
};

struct BinaryExpr : Expr {
  BinaryExpr() : Expr(NodeKind::kBinary) {}
  BinOp op = BinOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;
  VectorMatching matching;
};

struct LiteralExpr : Expr {
  LiteralExpr() : Expr(NodeKind::kLiteral) {}
  double value = 0;
};

/// `vector(1)`: one sample without labels at every step.
struct VectorLiteralExpr : Expr {
  VectorLiteralExpr() : Expr(NodeKind::kVectorLiteral) {}
  double value = 0;
};

struct LabelReplaceExpr : Expr {
  LabelReplaceExpr() : Expr(NodeKind::kLabelReplace) {}
  ExprPtr expr;
  std::string dst;
  std::string replacement;
  std::string src;
  std::string regex;
  std::shared_ptr<const re2::RE2> re;  // anchored
};

/// True for an expression that yields a sample vector (not a log query or a literal).
bool IsSampleExpr(const Expr& e);

}  // namespace pharos::logql
