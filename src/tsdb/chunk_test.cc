#include "tsdb/chunk.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tsdb/tsdb.h"

namespace pharos::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

double FromBits(uint64_t b) {
  double v;
  std::memcpy(&v, &b, 8);
  return v;
}

// Appends the samples, starting another chunk where one refuses a sample (a gap wider
// than 32 bits of milliseconds), and reads every chunk back bit for bit.
void RoundTrip(const std::vector<std::pair<int64_t, double>>& samples) {
  XorChunk app;
  size_t first = 0;
  auto check = [&](size_t end) {
    EXPECT_EQ(app.count(), end - first);
    XorIterator it(app.bytes());
    for (size_t i = first; i < end; ++i) {
      ASSERT_TRUE(it.Next()) << "sample " << i;
      EXPECT_EQ(it.t(), samples[i].first) << "sample " << i;
      EXPECT_EQ(Bits(it.v()), Bits(samples[i].second)) << "sample " << i;
    }
    EXPECT_FALSE(it.Next());
    EXPECT_FALSE(it.corrupt());
  };
  for (size_t i = 0; i < samples.size(); ++i) {
    if (app.Append(samples[i].first, samples[i].second)) continue;
    check(i);
    first = i;
    app.Restart();
    ASSERT_TRUE(app.Append(samples[i].first, samples[i].second)) << "an empty chunk refused";
  }
  check(samples.size());
}

TEST(XorChunkTest, RegularScrape) {
  std::vector<std::pair<int64_t, double>> s;
  for (int i = 0; i < 120; ++i) s.push_back({1700000000000 + i * 15000, 100.0 + i});
  RoundTrip(s);
  XorChunk app;
  for (auto [t, v] : s) ASSERT_TRUE(app.Append(t, v));
  // Constant interval and small increments compress to under 2 bytes per sample.
  EXPECT_LT(app.bytes().size(), 120u * 2);
}

TEST(XorChunkTest, EdgeValues) {
  double nan = std::numeric_limits<double>::quiet_NaN();
  double inf = std::numeric_limits<double>::infinity();
  RoundTrip({{0, nan},
             {1, inf},
             {2, -inf},
             {3, StaleNaN()},
             {4, -0.0},
             {5, 0.0},
             {6, std::numeric_limits<double>::denorm_min()},
             {7, std::numeric_limits<double>::max()},
             {8, std::numeric_limits<double>::lowest()},
             {9, FromBits(0x7ff8000000000001ULL)},  // a NaN with a payload
             {10, 1.0}});
}

TEST(XorChunkTest, ExtremeTimestamps) {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  RoundTrip({{min, 1}, {min + 1, 2}, {0, 3}, {max - 1, 4}, {max, 5}});
  RoundTrip({{-5000, 1}, {-4000, 2}, {-1000, 3}});
  RoundTrip({{1, 1}, {1LL << 40, 2}, {(1LL << 40) + 1, 3}, {1LL << 62, 4}});
  // The widest gap one chunk holds, and one past it.
  XorChunk c;
  ASSERT_TRUE(c.Append(0, 1));
  ASSERT_TRUE(c.Append(INT32_MAX, 2));
  EXPECT_FALSE(c.Append(2LL * INT32_MAX + 1, 3));
  EXPECT_EQ(c.count(), 2);
  EXPECT_EQ(c.last_t(), INT32_MAX);
}

TEST(XorChunkTest, IrregularIntervalsHitEveryBucket) {
  std::vector<std::pair<int64_t, double>> s;
  int64_t t = 1700000000000;
  for (int64_t step : {15000LL, 15000LL, 15001LL, 14000LL, 30000LL, 100LL, 200000LL, 5LL, 1000000LL,
                       3LL, 100000000LL, 1LL, 1LL, 9000000000LL}) {
    t += step;
    s.push_back({t, static_cast<double>(step) / 7});
  }
  RoundTrip(s);
}

TEST(XorChunkTest, RandomValues) {
  std::mt19937_64 rng(42);
  std::vector<std::pair<int64_t, double>> s;
  int64_t t = 0;
  for (int i = 0; i < 1000; ++i) {
    t += static_cast<int64_t>(rng() % 100000);
    s.push_back({t, FromBits(rng())});
  }
  RoundTrip(s);
}

TEST(XorChunkTest, EmptyAndCorrupt) {
  XorChunk app;
  XorIterator empty(app.bytes());
  EXPECT_FALSE(empty.Next());
  EXPECT_FALSE(empty.corrupt());
  ASSERT_TRUE(app.Append(1000, 1.5));
  ASSERT_TRUE(app.Append(2000, 2.5));
  ASSERT_TRUE(app.Append(3000, 2.5));
  std::string truncated(app.bytes().substr(0, app.bytes().size() - 2));
  XorIterator it(truncated);
  int n = 0;
  while (it.Next()) ++n;
  EXPECT_LT(n, 3);
  EXPECT_TRUE(it.corrupt());
  XorIterator one_byte(std::string_view("x", 1));
  EXPECT_FALSE(one_byte.Next());
  EXPECT_TRUE(one_byte.corrupt());
}

// The word-at-a-time bit reader never reads past the chunk (ASan checks every load in
// make test), whatever the bytes and wherever they end; every prefix of a real chunk
// decodes the samples it holds and then reports corruption.
TEST(XorChunkTest, ArbitraryBytesAndEveryPrefixAreSafe) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    XorIterator it(bytes);
    int n = 0;
    while (it.Next() && n < 100000) ++n;
    EXPECT_LE(n, 65535);
  }
  XorChunk app;
  for (int i = 0; i < 120; ++i) ASSERT_TRUE(app.Append(1000LL * i + (i % 3), i * 0.37));
  std::string_view data = app.bytes();
  for (size_t len = 2; len < data.size(); ++len) {
    std::string prefix(data.substr(0, len));
    XorIterator it(prefix);
    int n = 0;
    while (it.Next()) {
      EXPECT_DOUBLE_EQ(it.v(), n * 0.37);
      ++n;
    }
    EXPECT_LT(n, 120);
    EXPECT_TRUE(it.corrupt());
  }
}

}  // namespace
}  // namespace pharos::tsdb
