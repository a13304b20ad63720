#include "logs/logs.h"

#include <gtest/gtest.h>

namespace pharos::logs {
namespace {

TEST(LogQlTest, SelectorAndLineFilters) {
  Result<LogQuery> q = ParseLogQuery(
      R"({app="api", env=~"prod|staging"} |= "error" != `debug` |~ "status=5\d\d" !~ "(?i)health")");
  ASSERT_TRUE(q.ok()) << q.status().message();
  ASSERT_EQ(q->selector.size(), 2u);
  EXPECT_EQ(q->selector[1].name(), "env");
  ASSERT_EQ(q->filters.size(), 4u);
  EXPECT_EQ(q->filters[0].op, LineFilter::Op::kContains);
  EXPECT_EQ(q->filters[0].text, "error");
  EXPECT_EQ(q->filters[1].text, "debug");
  EXPECT_TRUE(q->filters[2].Matches("GET / status=503 took 3ms"));
  EXPECT_FALSE(q->filters[2].Matches("GET / status=200"));
  EXPECT_FALSE(q->filters[3].Matches("GET /HEALTH"));
  EXPECT_TRUE(q->filters[1].Matches("info: fine"));
}

TEST(LogQlTest, BracesInsideStringsAndEscapes) {
  Result<LogQuery> q = ParseLogQuery(R"({app="a}b"} |= "say \"hi\"\n")");
  ASSERT_TRUE(q.ok()) << q.status().message();
  EXPECT_EQ(q->selector[0].value(), "a}b");
  EXPECT_EQ(q->filters[0].text, "say \"hi\"\n");
}

TEST(LogQlTest, RefusalsNameWhatIsWrong) {
  auto message = [](std::string_view text) {
    Result<LogQuery> q = ParseLogQuery(text);
    return q.ok() ? std::string("ok") : q.status().message();
  };
  EXPECT_NE(message("app").find("stream selector"), std::string::npos);
  EXPECT_NE(message(R"({app="a")").find("unclosed"), std::string::npos);
  EXPECT_NE(message(R"({app=~".*"})").find("empty"), std::string::npos)
      << message(R"({app=~".*"})");
  EXPECT_NE(message(R"({app="a"} | json)").find("not implemented yet"), std::string::npos);
  EXPECT_NE(message(R"(rate({app="a"}[5m]))").find("stream selector"), std::string::npos);
  EXPECT_NE(message(R"({app="a"} |= "unterminated)").find("unterminated"), std::string::npos);
  EXPECT_NE(message(R"({app="a"} |~ "(")").find("invalid regular expression"), std::string::npos);
  EXPECT_NE(message(R"({app="a"} |= 42)").find("quoted string"), std::string::npos);
  // A regex whose automaton would be huge is refused, not run.
  EXPECT_NE(message(R"x({app="a"} |~ "((((a{100}){100}){100}){100})")x").find("invalid regular"),
            std::string::npos);
}

}  // namespace
}  // namespace pharos::logs
