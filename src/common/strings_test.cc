#include "common/strings.h"

#include <gtest/gtest.h>

namespace pharos {
namespace {

TEST(JsonStringTest, EscapesControlAndQuotes) {
  EXPECT_EQ(JsonString("a\"b\\c\n\t\x01"), R"("a\"b\\c\n\t\u0001")");
}

TEST(JsonStringTest, KeepsValidUtf8AndReplacesInvalidAsGoDoes) {
  EXPECT_EQ(JsonString("\xE4\xB8\xAD"), "\"\xE4\xB8\xAD\"");  // 中
  EXPECT_EQ(JsonString("a\xFF"
                       "b"),
            R"("a\ufffdb")");                                        // stray byte
  EXPECT_EQ(JsonString("\xE4\xB8"), R"("\ufffd\ufffd")");            // truncated sequence
  EXPECT_EQ(JsonString("\xED\xA0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
}

TEST(StringsTest, Utf8ValidatorIsStrict) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii, longer than eight bytes"));
  EXPECT_TRUE(IsValidUtf8("caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80"));
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf\xf4\x8f\xbf\xbf"));  // U+FFFF, U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));                     // overlong NUL
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));                 // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\xaf"));             // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));                 // a surrogate, U+D800
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));             // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abcdefgh\xc3"));                 // truncated after a word
  EXPECT_FALSE(IsValidUtf8("\x80"));                         // a lone continuation
  EXPECT_FALSE(IsValidUtf8("\xff"));
  // Whatever it accepts, AppendJsonString prints as it is (no U+FFFD).
  std::string out;
  AppendJsonString(out, "caf\xc3\xa9");
  EXPECT_EQ(out, "\"caf\xc3\xa9\"");
}

TEST(JsonStringTest, HtmlSafeLikeGoEncodingJson) {
  // Prometheus's and Alertmanager's JSON escape these; byte-for-byte answers need the same.
  EXPECT_EQ(JsonString("a<b>&c"), R"("a\u003cb\u003e\u0026c")");
  EXPECT_EQ(JsonString("x\xE2\x80\xA8y\xE2\x80\xA9z"), R"("x\u2028y\u2029z")");
}

TEST(StringsTest, UrlQueryEscapeAsGo) {
  EXPECT_EQ(UrlQueryEscape("rate(x{a=\"b c\"}[5m]) > 0.5~"),
            "rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29+%3E+0.5~");
}

TEST(StringsTest, SplitTrimLower) {
  auto parts = Split("a,,b", ',');
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0], "a");
  EXPECT_EQ(parts[1], "");
  EXPECT_EQ(parts[2], "b");
  EXPECT_EQ(Trim("  x y \t"), "x y");
  EXPECT_EQ(ToLower("GzIp"), "gzip");
  EXPECT_TRUE(EqualsIgnoreCase("Bearer", "bEARER"));
  EXPECT_FALSE(EqualsIgnoreCase("Bearer", "Bearers"));
}

TEST(StringsTest, HexAndConstantTime) {
  EXPECT_EQ(HexEncode(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secre"));
}

TEST(StringsTest, UrlDecode) {
  std::string out;
  EXPECT_TRUE(UrlDecode("a%20b+c", out, true));
  EXPECT_EQ(out, "a b c");
  EXPECT_TRUE(UrlDecode("a+b", out, false));
  EXPECT_EQ(out, "a+b");
  EXPECT_FALSE(UrlDecode("bad%2", out, true));
  EXPECT_FALSE(UrlDecode("bad%zz", out, true));
  EXPECT_FALSE(UrlDecode("%", out, true));
}

}  // namespace
}  // namespace pharos
