#include <gtest/gtest.h>
#include <snappy.h>
#include <zlib.h>

#include "server/server.h"

namespace pharos::server {
namespace {

std::string Compress(std::string_view data, int window_bits) {
  z_stream zs{};
  deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

TEST(DecodeTest, Identity) {
  std::string out;
  ASSERT_TRUE(DecodeBody("", "abc", 10, out).ok());
  EXPECT_EQ(out, "abc");
  ASSERT_TRUE(DecodeBody("identity", "abc", 10, out).ok());
}

TEST(DecodeTest, GzipDeflateRawDeflateSnappy) {
  std::string text(100000, 'x');
  for (size_t i = 0; i < text.size(); i += 7) text[i] = static_cast<char>('a' + i % 26);
  std::string out;
  ASSERT_TRUE(DecodeBody("gzip", Compress(text, 15 + 16), 1 << 20, out).ok());
  EXPECT_EQ(out, text);
  ASSERT_TRUE(DecodeBody("GZIP", Compress(text, 15 + 16), 1 << 20, out).ok());
  ASSERT_TRUE(DecodeBody("deflate", Compress(text, 15), 1 << 20, out).ok());
  EXPECT_EQ(out, text);
  ASSERT_TRUE(DecodeBody("deflate", Compress(text, -15), 1 << 20, out).ok());
  EXPECT_EQ(out, text);
  std::string snappy_body;
  snappy::Compress(text.data(), text.size(), &snappy_body);
  ASSERT_TRUE(DecodeBody("snappy", snappy_body, 1 << 20, out).ok());
  EXPECT_EQ(out, text);
}

TEST(DecodeTest, ConcatenatedGzipMembers) {
  std::string body = Compress("hello ", 15 + 16) + Compress("world", 15 + 16);
  std::string out;
  ASSERT_TRUE(DecodeBody("gzip", body, 100, out).ok());
  EXPECT_EQ(out, "hello world");
}

TEST(DecodeTest, ZipBombIsRefusedWithoutExpanding) {
  std::string zeros(64 << 20, '\0');
  std::string bomb = Compress(zeros, 15 + 16);
  ASSERT_LT(bomb.size(), 100u << 10);
  std::string out;
  Status s = DecodeBody("gzip", bomb, 1 << 20, out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("exceeds the limit of 1048576 bytes"), std::string::npos);
  EXPECT_LE(out.capacity(), (2u << 20) + 1);

  std::string snappy_bomb;
  snappy::Compress(zeros.data(), zeros.size(), &snappy_bomb);
  s = DecodeBody("snappy", snappy_bomb, 1 << 20, out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
}

TEST(DecodeTest, CorruptAndUnknown) {
  std::string out;
  EXPECT_EQ(DecodeBody("gzip", "not gzip at all", 100, out).code(), StatusCode::kInvalidArgument);
  std::string truncated = Compress("hello world, hello world", 15 + 16);
  truncated.resize(truncated.size() / 2);
  EXPECT_EQ(DecodeBody("gzip", truncated, 100, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeBody("snappy", "\xff\xff\xff\xff\xff\xff", 100, out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeBody("br", "x", 100, out).code(), StatusCode::kUnimplemented);
  std::string trailing = Compress("x", 15) + "junk";
  EXPECT_EQ(DecodeBody("deflate", trailing, 100, out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pharos::server
