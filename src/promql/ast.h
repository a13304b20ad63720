// promql/ast.h: the syntax tree of a PromQL expression, as the parser builds it and the
// engine walks it. Part of the promql module's interface (included by promql.h).
//
// Contract: a tree is immutable once parsed, except that the engine resolves `@ start()`
// and `@ end()` into timestamps before evaluating. Every node owns its children. Positions
// are byte offsets into the query text, for error messages in Prometheus's "line:col".
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"

namespace pharos::promql {

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };
const char* ValueTypeName(ValueType type);  // "scalar", "instant vector", ...

struct PosRange {
  int start = 0;  // byte offset of the first character
  int end = 0;    // one past the last
};

enum class NodeKind {
  kNumber,
  kString,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kCall,
  kAggregate,
  kBinary,
  kUnary,
  kParen,
  kDurationCall,
};

struct Expr {
  explicit Expr(NodeKind k) : kind(k) {}
  virtual ~Expr() = default;
  Expr(const Expr&) = delete;
  Expr& operator=(const Expr&) = delete;
  NodeKind kind;
  PosRange pos;
  int height = 1;  // of the subtree; the parser bounds it so that walks cannot overflow
};
using ExprPtr = std::unique_ptr<Expr>;

struct NumberLiteral : Expr {
  NumberLiteral() : Expr(NodeKind::kNumber) {}
  double value = 0;
};

struct StringLiteral : Expr {
  StringLiteral() : Expr(NodeKind::kString) {}
  std::string value;
};

/// Where `@` pins a selector or subquery in time.
enum class AtKind { kNone, kTimestamp, kStart, kEnd };

/// Time modifiers shared by selectors and subqueries.
struct TimeModifiers {
  int64_t offset_ms = 0;
  AtKind at = AtKind::kNone;
  int64_t at_ms = 0;  // for kTimestamp; for kStart/kEnd once the engine resolved them
  // A duration expression that needs the query (step(), range()); resolved by the engine.
  std::shared_ptr<Expr> offset_expr;
};

struct VectorSelector : Expr {
  VectorSelector() : Expr(NodeKind::kVectorSelector) {}
  std::string name;  // the metric name when written before the braces, else empty
  std::vector<model::Matcher> matchers;  // includes __name__="name" when name is set
  TimeModifiers time;
  bool anchored = false;  // experimental `anchored` / `smoothed` range modifiers
  bool smoothed = false;
};

struct MatrixSelector : Expr {
  MatrixSelector() : Expr(NodeKind::kMatrixSelector) {}
  std::unique_ptr<VectorSelector> selector;  // carries offset and @
  int64_t range_ms = 0;
  std::shared_ptr<Expr> range_expr;  // see TimeModifiers::offset_expr
};

struct SubqueryExpr : Expr {
  SubqueryExpr() : Expr(NodeKind::kSubquery) {}
  ExprPtr expr;
  int64_t range_ms = 0;
  int64_t step_ms = 0;  // 0: the engine's default subquery step
  TimeModifiers time;
  std::shared_ptr<Expr> range_expr;  // see TimeModifiers::offset_expr
  std::shared_ptr<Expr> step_expr;
};

struct FunctionDef;  // functions.h

struct CallExpr : Expr {
  CallExpr() : Expr(NodeKind::kCall) {}
  const FunctionDef* func = nullptr;
  std::vector<ExprPtr> args;
};

enum class AggOp {
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kCountValues,
  kQuantile,
  kLimitk,
  kLimitRatio,
};
const char* AggOpName(AggOp op);

struct AggregateExpr : Expr {
  AggregateExpr() : Expr(NodeKind::kAggregate) {}
  AggOp op = AggOp::kSum;
  ExprPtr expr;
  ExprPtr param;  // topk's k, quantile's q, count_values's label, ...
  std::vector<std::string> grouping;
  bool without = false;
  bool has_grouping_clause = false;  // `by ()` was written (for printing)
};

enum class BinOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kPow,
  kAtan2,
  kEql,
  kNeq,
  kGtr,
  kLss,
  kGte,
  kLte,
  kAnd,
  kOr,
  kUnless,
};
const char* BinOpName(BinOp op);
bool IsComparison(BinOp op);
bool IsSetOperator(BinOp op);

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  std::vector<std::string> labels;   // the on() / ignoring() list
  bool on = false;                   // on(...) rather than ignoring(...)
  std::vector<std::string> include;  // group_left(...) / group_right(...) labels
  // Experimental fill() modifiers: the value a missing side takes.
  std::optional<double> fill_left;
  std::optional<double> fill_right;
};

struct BinaryExpr : Expr {
  BinaryExpr() : Expr(NodeKind::kBinary) {}
  BinOp op = BinOp::kAdd;
  ExprPtr lhs;
  ExprPtr rhs;
  bool return_bool = false;
  std::unique_ptr<VectorMatching> matching;  // set when both sides are vectors
  bool has_modifiers = false;                // on/ignoring was written (for printing)
};

struct UnaryExpr : Expr {
  UnaryExpr() : Expr(NodeKind::kUnary) {}
  bool negate = false;  // `-x`; `+x` keeps the value
  ExprPtr expr;
};

struct ParenExpr : Expr {
  ParenExpr() : Expr(NodeKind::kParen) {}
  ExprPtr expr;
};

/// A duration expression's step(), range(), min_of(a, b) or max_of(a, b), kept only when it
/// cannot be folded at parse time.
struct DurationCall : Expr {
  DurationCall() : Expr(NodeKind::kDurationCall) {}
  std::string name;
  std::vector<ExprPtr> args;
};

/// Calls `fn` on each direct child of `e`: operands, arguments, parameters, and the
/// duration expressions of ranges, steps and offsets.
void ForEachChild(const Expr& e, const std::function<void(const Expr&)>& fn);
void ForEachChild(Expr& e, const std::function<void(Expr&)>& fn);

/// The name a call's function has ("rate").
std::string_view FunctionName(const CallExpr& call);

/// The type an expression evaluates to.
ValueType TypeOf(const Expr& expr);

/// The expression in PromQL's canonical text, as Prometheus's String() prints it.
std::string Format(const Expr& expr);

/// "line:col" of a byte offset in `query`, as annotations and errors print positions.
std::string LineCol(std::string_view query, int offset);

}  // namespace pharos::promql
