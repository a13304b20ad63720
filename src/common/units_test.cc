#include "common/units.h"

#include <gtest/gtest.h>

namespace pharos {
namespace {

TEST(DurationTest, ParsesPrometheusSyntax) {
  EXPECT_EQ(ParseDuration("30s")->count(), 30000);
  EXPECT_EQ(ParseDuration("1h30m")->count(), 5400000);
  EXPECT_EQ(ParseDuration("500ms")->count(), 500);
  EXPECT_EQ(ParseDuration("1m500ms")->count(), 60500);
  EXPECT_EQ(ParseDuration("2d")->count(), 2LL * 86400000);
  EXPECT_EQ(ParseDuration("0")->count(), 0);
}

TEST(DurationTest, RejectsBadText) {
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("5x").ok());
  EXPECT_FALSE(ParseDuration("30s1m").ok());
  EXPECT_FALSE(ParseDuration("1m1m").ok());
  EXPECT_FALSE(ParseDuration("-5s").ok());
  EXPECT_FALSE(ParseDuration("999999999999999y").ok());
  EXPECT_NE(ParseDuration("5x").status().message().find("unknown or missing unit"),
            std::string::npos);
}

TEST(DurationTest, Formats) {
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
  EXPECT_EQ(FormatDuration(Duration(90000)), "1m30s");
  EXPECT_EQ(FormatDuration(Duration(1500)), "1s500ms");
  EXPECT_EQ(FormatDuration(Duration(86400000)), "1d");
  EXPECT_EQ(FormatDuration(Duration(90000000)), "1d1h");
  EXPECT_EQ(FormatDuration(Duration(14 * 86400000LL)), "2w");
  EXPECT_EQ(FormatDuration(Duration(15 * 86400000LL)), "15d");
}

TEST(ByteSizeTest, ParsesUnits) {
  EXPECT_EQ(*ParseByteSize("1024"), 1024u);
  EXPECT_EQ(*ParseByteSize("16MiB"), 16u << 20);
  EXPECT_EQ(*ParseByteSize("1GB"), 1000000000u);
  EXPECT_EQ(*ParseByteSize("3KiB"), 3072u);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("MiB").ok());
  EXPECT_FALSE(ParseByteSize("12 MiB").ok());
  EXPECT_FALSE(ParseByteSize("12XB").ok());
  EXPECT_FALSE(ParseByteSize("99999999999TiB").ok());
}

TEST(TimestampTest, UnixSecondsAndRfc3339) {
  EXPECT_EQ(*ParseTimestampMs("1700000000"), 1700000000000);
  EXPECT_EQ(*ParseTimestampMs("1700000000.123"), 1700000000123);
  EXPECT_EQ(*ParseTimestampMs("-1.5"), -1500);
  EXPECT_EQ(*ParseTimestampMs("2023-11-14T22:13:20Z"), 1700000000000);
  EXPECT_EQ(*ParseTimestampMs("2023-11-14T22:13:20.5Z"), 1700000000500);
  EXPECT_EQ(*ParseTimestampMs("2023-11-15T06:13:20+08:00"), 1700000000000);
  EXPECT_EQ(*ParseTimestampMs("2023-11-14T22:13:20.123456789Z"), 1700000000123);
  EXPECT_FALSE(ParseTimestampMs("").ok());
  EXPECT_FALSE(ParseTimestampMs("yesterday").ok());
  EXPECT_FALSE(ParseTimestampMs("2023-11-14T22:13:20").ok());
  EXPECT_FALSE(ParseTimestampMs("0x10").ok());
  EXPECT_FALSE(ParseTimestampMs("inf").ok());
}

}  // namespace
}  // namespace pharos
