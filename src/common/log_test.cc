#include "common/log.h"

#include <gtest/gtest.h>

#include <vector>

namespace pharos {
namespace {

TEST(LogTest, FormatsOneJsonObjectPerLine) {
  std::string line = FormatLogLine(LogLevel::kWarn, "listen \"x\"",
                                   {{"port", 7070}, {"ok", true}, {"ratio", 0.5}, {"s", "a\nb"}});
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find(R"("level":"warn","msg":"listen \"x\"")"), std::string::npos);
  EXPECT_NE(line.find(R"("port":7070,"ok":true,"ratio":0.5,"s":"a\nb"})"), std::string::npos);
  EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u);
}

TEST(LogTest, NonFiniteDoublesAreQuoted) {
  std::string line = FormatLogLine(LogLevel::kInfo, "m", {{"v", 1.0 / 0.0}});
  EXPECT_NE(line.find(R"("v":"inf")"), std::string::npos);
}

TEST(LogTest, LevelFilters) {
  std::vector<std::string> lines;
  SetLogSinkForTesting([&](std::string_view l) { lines.emplace_back(l); });
  SetLogLevel(LogLevel::kWarn);
  LogInfo("hidden");
  LogDebug("hidden");
  LogWarn("shown");
  LogError("shown too");
  SetLogLevel(LogLevel::kInfo);
  SetLogSinkForTesting(nullptr);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("\"shown\""), std::string::npos);
}

TEST(LogTest, ParsesLevels) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("warning"), LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("loud").ok());
}

}  // namespace
}  // namespace pharos
