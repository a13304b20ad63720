#include <gtest/gtest.h>

#include "promql/promql.h"

namespace pharos::promql {
namespace {

std::string Canonical(std::string_view q) {
  Result<ExprPtr> e = ParseExpr(q);
  if (!e.ok()) return "error: " + e.status().message();
  return Format(**e);
}

TEST(ParserTest, PrecedenceAndAssociativityAsPrometheus) {
  // ^ is right-associative and binds tighter than unary minus; the rest are left-assoc.
  EXPECT_EQ(Canonical("2 ^ 3 ^ 2"), "2 ^ 3 ^ 2");
  Result<ExprPtr> e = ParseExpr("2 ^ 3 ^ 2");
  ASSERT_TRUE(e.ok());
  const auto& top = static_cast<const BinaryExpr&>(**e);
  EXPECT_EQ(top.rhs->kind, NodeKind::kBinary);  // 2 ^ (3 ^ 2)
  e = ParseExpr("-a ^ 2");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->kind, NodeKind::kUnary);  // -(a ^ 2)
  e = ParseExpr("a - b - c");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(static_cast<const BinaryExpr&>(**e).lhs->kind, NodeKind::kBinary);  // (a-b)-c
  e = ParseExpr("a or b and c unless d");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(static_cast<const BinaryExpr&>(**e).op, BinOp::kOr);
  EXPECT_EQ(Canonical("a + b * c == bool d"), "a + b * c == bool d");
  EXPECT_EQ(Canonical("-1"), "-1");
}

TEST(ParserTest, CanonicalForms) {
  EXPECT_EQ(Canonical("sum(rate(http_requests_total{code=~'5..'}[5m])) by (job)"),
            "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))");
  EXPECT_EQ(Canonical("topk(3, x) without (a,b)"), "topk without (a, b) (3, x)");
  EXPECT_EQ(Canonical("a * on(x) group_left(y) b"), "a * on (x) group_left (y) b");
  EXPECT_EQ(Canonical("x offset 1h30m @ 100"), "x @ 100.000 offset 1h30m");
  EXPECT_EQ(Canonical("rate(x[90s])[1h:5m] offset -5m"), "rate(x[1m30s])[1h:5m] offset -5m");
  EXPECT_EQ(Canonical("x @ start()"), "x @ start()");
  EXPECT_EQ(Canonical("{__name__=\"up\", job=\"a\"}"), "{__name__=\"up\", job=\"a\"}");
  EXPECT_EQ(Canonical("1e3 + 0x10 + Inf"), "1000 + 16 + Inf");
}

TEST(ParserTest, CanonicalFormsReadBackAsTheSameQuery) {
  // Found by the promql fuzz target: a quoted label in group_left printed bare.
  EXPECT_EQ(Canonical("a * on(x) group_left(\"a b\") b"), "a * on (x) group_left (\"a b\") b");
  EXPECT_EQ(Canonical(Canonical("a * on(x) group_right(\"a b\", y) b")),
            "a * on (x) group_right (\"a b\", y) b");
  // Small literals keep their value (Go's 'f' -1), not a six-decimal rounding to 0.
  EXPECT_EQ(Canonical("1e-10"), "0.0000000001");
  EXPECT_EQ(Canonical("x > bool 2.5e-7"), "x > bool 0.00000025");
  EXPECT_EQ(Canonical("a + on() fill(1e-9) b"), "a + on () fill (0.000000001) b");
}

TEST(ParserTest, ErrorsSayWhereAndWhat) {
  EXPECT_EQ(Canonical("sum(up"),
            "error: 1:7: parse error: unexpected end of input in aggregation, expected \",\" "
            "or \")\"");
  EXPECT_EQ(Canonical("rate(up)"),
            "error: 1:6: parse error: expected type range vector in call to function \"rate\", "
            "got instant vector");
  EXPECT_EQ(Canonical("nope(up)"), "error: 1:1: parse error: unknown function with name \"nope\"");
  EXPECT_EQ(Canonical("1 > 2"),
            "error: 1:3: parse error: comparisons between scalars must use BOOL modifier");
  EXPECT_EQ(Canonical("1 and up"),
            "error: 1:1: parse error: set operator \"and\" not allowed in binary scalar "
            "expression");
  EXPECT_EQ(Canonical("{a=\"\"}"),
            "error: 1:1: parse error: vector selector must contain at least one non-empty "
            "matcher");
  EXPECT_EQ(Canonical("(up)[5m]"),
            "error: 1:1: parse error: ranges only allowed for vector selectors");
  EXPECT_EQ(Canonical("up\n  + )"), "error: 2:5: parse error: unexpected \")\"");
  EXPECT_EQ(Canonical("a + on(x) group_left(x) b"),
            "error: 1:11: parse error: label \"x\" must not occur in ON and GROUP clause at once");
  EXPECT_NE(Canonical("up{job=~\"(\"}").find("invalid regular expression"), std::string::npos);
  // Found by the fuzzer: a quoted name after a __name__ matcher.
  EXPECT_NE(Canonical("{__name__=\"a\", \"b\"}").find("metric name must not be set twice"),
            std::string::npos);
  EXPECT_NE(Canonical("{\"b\", __name__=\"a\"}").find("metric name must not be set twice"),
            std::string::npos);
  EXPECT_NE(Canonical("\"unterminated").find("unterminated quoted string"), std::string::npos);
}

TEST(ParserTest, RefusesDeepNestingWithoutOverflowingTheStack) {
  std::string deep(100000, '(');
  deep += "1";
  deep += std::string(100000, ')');
  EXPECT_NE(Canonical(deep).find("nested too deeply"), std::string::npos);
  std::string minus(100000, '-');
  EXPECT_NE(Canonical(minus + "1").find("nested too deeply"), std::string::npos);
  // A left-associative chain grows the tree without recursion in the parser: long chains
  // are fine up to the height limit, then refused like deep nesting.
  std::string chain = "a";
  for (int i = 0; i < 900; ++i) chain += " + a";
  EXPECT_EQ(Canonical(chain).substr(0, 9), "a + a + a");
  for (int i = 0; i < 100000; ++i) chain += " + a";
  EXPECT_NE(Canonical(chain).find("nested too deeply"), std::string::npos);
  std::string subqueries = "a";  // a subquery of a range vector is refused at once
  for (int i = 0; i < 5000; ++i) subqueries += "[1m:]";
  EXPECT_NE(Canonical(subqueries).find("subquery is only allowed on instant vector"),
            std::string::npos);
  std::string durations = "a[1s";
  for (int i = 0; i < 100000; ++i) durations += "+1s";
  EXPECT_NE(Canonical(durations + "]").find("nested too deeply"), std::string::npos);
}

TEST(ParserTest, DurationExpressions) {
  Result<ExprPtr> e = ParseExpr("x[2m * (10 + 5)]");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(static_cast<const MatrixSelector&>(**e).range_ms, 30 * 60 * 1000);
  e = ParseExpr("count_over_time(x[step()])");
  ASSERT_TRUE(e.ok()) << e.status().message();
  // PromQL durations are Prometheus's (common/units.h): units once each, largest first.
  EXPECT_FALSE(ParseExpr("x[1m1h]").ok());
  e = ParseExpr("x offset 1d1h1m1s1ms");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(Format(**e), "x offset 1d1h1m1s1ms");
}

}  // namespace
}  // namespace pharos::promql
