#include "common/regexp.h"

#include <gtest/gtest.h>

#include <vector>

namespace pharos {
namespace {

TEST(RegexpTest, ExpandsLikeGo) {
  re2::RE2 re("(?P<host>[a-z]+):(\\d+)");
  std::vector<re2::StringPiece> g(re.NumberOfCapturingGroups() + 1);
  ASSERT_TRUE(re.Match("web:8080", 0, 8, re2::RE2::ANCHOR_BOTH, g.data(), g.size()));
  EXPECT_EQ(ExpandRegexTemplate("$1-${2}-$host-${host}", re, g), "web-8080-web-web");
  EXPECT_EQ(ExpandRegexTemplate("$$1 $9 $nope ${unclosed", re, g), "$1   ${unclosed");
  EXPECT_EQ(ExpandRegexTemplate("$1x", re, g), "");  // "1x" names no group, as in Go
}

}  // namespace
}  // namespace pharos
