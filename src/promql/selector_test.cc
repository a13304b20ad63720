#include <gtest/gtest.h>

#include "promql/promql.h"

namespace pharos::promql {
namespace {

TEST(SelectorTest, ParsesForms) {
  auto m = ParseSeriesSelector("up");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].name(), "__name__");
  EXPECT_EQ((*m)[0].value(), "up");

  m = ParseSeriesSelector(R"( http_requests_total { job = "api", code!~'5..', path=~`/a\d+`, } )");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[1].name(), "job");
  EXPECT_EQ((*m)[2].type(), model::MatchType::kRegexNoMatch);
  EXPECT_EQ((*m)[3].value(), "/a\\d+");
  EXPECT_TRUE((*m)[3].Matches("/a12"));

  m = ParseSeriesSelector(R"({__name__=~"job:.*", x="a\"b\n\u00e9\x41"})");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ((*m)[1].value(),
            "a\"b\n\xC3\xA9"
            "A");
  EXPECT_TRUE(ParseSeriesSelector("job:rate5m:sum").ok());
}

TEST(SelectorTest, ErrorsSayWhereAndWhat) {
  auto e = ParseSeriesSelector("up{job=}");
  EXPECT_EQ(e.status().message(),
            "1:8: parse error: unexpected \"}\" in label matching, expected string");
  e = ParseSeriesSelector("up{job~\"a\"}");
  EXPECT_NE(e.status().message().find("1:7: parse error"), std::string::npos)
      << e.status().message();
  e = ParseSeriesSelector("{job=\"a}");
  EXPECT_NE(e.status().message().find("unterminated quoted string"), std::string::npos);
  e = ParseSeriesSelector("{job=~\"(\"}");
  EXPECT_NE(e.status().message().find("invalid regular expression"), std::string::npos);
  e = ParseSeriesSelector("{job=\"\"}");
  EXPECT_EQ(e.status().message(),
            "1:1: parse error: vector selector must contain at least one non-empty matcher");
  EXPECT_FALSE(ParseSeriesSelector("").ok());
  EXPECT_FALSE(ParseSeriesSelector("up down").ok());
  EXPECT_FALSE(ParseSeriesSelector("up{a=\"\\q\"}").ok());
}

}  // namespace
}  // namespace pharos::promql
