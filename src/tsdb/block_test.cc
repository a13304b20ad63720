#include "tsdb/block.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "common/testing/fault_env.h"
#include "tsdb/block_encoding.h"
#include "tsdb/block_format.h"

namespace pharos::tsdb {
namespace {

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

void RoundTrip(const std::vector<Sample>& in, size_t max_bytes = SIZE_MAX) {
  std::string data;
  EncodeSeriesSamples(in, data);
  EXPECT_LE(data.size(), max_bytes);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeSeriesSamples(data, INT64_MIN, INT64_MAX, out).ok());
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].t, in[i].t) << i;
    EXPECT_EQ(Bits(out[i].v), Bits(in[i].v)) << i << " " << in[i].v;
  }
}

TEST(BlockEncodingTest, DecimalCountersAndGaugesAreCompact) {
  std::vector<Sample> counter, gauge, pages;
  double c = 12345.67;
  for (int i = 0; i < 200; ++i) {
    c = std::round((c + 0.61 + (i % 7) * 0.13) * 100) / 100;
    counter.push_back({1700000000000 + i * 15000LL, c});
    gauge.push_back({1700000000000 + i * 15000LL, 40.0 + (i % 9) * 0.1});
    pages.push_back({1700000000000 + i * 15000LL, 4096.0 * (1000000 + i * 16)});
  }
  RoundTrip(counter, 200 * 3);
  RoundTrip(gauge, 200 * 3);
  RoundTrip(pages, 200 * 5);  // before zstd
}

TEST(BlockEncodingTest, EdgeValuesFallBackToRawBits) {
  RoundTrip({{1, 1.5}, {2, std::numeric_limits<double>::quiet_NaN()}, {3, 2}});
  RoundTrip({{1, StaleNaN()}, {2, -0.0}, {3, std::numeric_limits<double>::infinity()}});
  RoundTrip({{1, 0.1}, {2, 0.2}, {3, 0.30000000000000004}});  // needs 17 digits
  RoundTrip({{1, 1e300}, {2, 5e-324}, {3, -1e-12}});
  RoundTrip(
      {{std::numeric_limits<int64_t>::min(), 1}, {0, 2}, {std::numeric_limits<int64_t>::max(), 3}});
  RoundTrip({});
  RoundTrip({{5, 9007199254740991.0}});
}

TEST(BlockEncodingTest, RangeFilterAndCorruption) {
  std::string data;
  EncodeSeriesSamples(std::vector<Sample>{{10, 1}, {20, 2}, {30, 3}}, data);
  std::vector<Sample> out;
  ASSERT_TRUE(DecodeSeriesSamples(data, 15, 25, out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].t, 20);
  out.clear();
  EXPECT_FALSE(
      DecodeSeriesSamples(data.substr(0, data.size() - 1), INT64_MIN, INT64_MAX, out).ok());
  EXPECT_FALSE(DecodeSeriesSamples("\xff\xff\xff", INT64_MIN, INT64_MAX, out).ok());
}

TEST(BlockTest, WriteOpenSelectRead) {
  std::string dir = ::testing::TempDir() + "pharos_block_" + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(dir);
  ASSERT_TRUE(DefaultEnv()->MakeDirs(dir).ok());
  std::vector<BlockSeries> series;
  for (int i = 0; i < 3000; ++i) {
    BlockSeries s;
    s.labels = {{"__name__", i % 2 ? "odd" : "even"}, {"id", std::to_string(100000 + i)}};
    for (int k = 0; k < 50; ++k) s.samples.push_back({k * 1000LL, static_cast<double>(i + k)});
    series.push_back(std::move(s));
  }
  std::sort(series.begin(), series.end(), [](const BlockSeries& a, const BlockSeries& b) {
    return a.labels[0].value != b.labels[0].value ? a.labels[0].value < b.labels[0].value
                                                  : a.labels[1].value < b.labels[1].value;
  });
  BlockMeta meta;
  meta.id = "b1";
  meta.min_t = 0;
  meta.max_t = 49000;
  ASSERT_TRUE(WriteBlock(DefaultEnv(), dir, meta, series).ok());
  EXPECT_EQ(meta.num_samples, 150000u);
  EXPECT_FALSE(DefaultEnv()->Exists(dir + "/b1.tmp"));
  auto block = Block::Open(DefaultEnv(), dir + "/b1");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ((*block)->meta().max_t, 49000);
  // 50 samples a series; the index (read in place, so not compressed) is about 40% of it.
  EXPECT_LT((*block)->size_bytes(), 190000u);
  std::vector<Matcher> odd = {*Matcher::Make(MatchType::kEqual, "__name__", "odd")};
  auto ids = *(*block)->Postings(odd);
  ASSERT_EQ(ids.size(), 1500u);
  std::vector<Matcher> one = {*Matcher::Make(MatchType::kEqual, "id", "101234")};
  ids = *(*block)->Postings(one);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_EQ(*(*block)->LabelsOf(ids[0]), (Labels{{"__name__", "even"}, {"id", "101234"}}));
  std::vector<Sample> samples;
  FrameCache frames;
  ASSERT_TRUE((*block)->Read(ids[0], 10000, 12000, frames, samples).ok());
  ASSERT_EQ(samples.size(), 3u);
  EXPECT_EQ(samples[0].v, 1234 + 10);
  // Readers keep their own frame cache: concurrent readers of every series agree and share
  // no lock.
  std::vector<Matcher> all = {*Matcher::Make(MatchType::kRegexMatch, "__name__", ".+")};
  std::vector<uint64_t> every = *(*block)->Postings(all);
  std::vector<std::thread> readers;
  std::atomic<uint64_t> read_total{0};
  for (int r = 0; r < 4; ++r) {
    readers.emplace_back([&, r] {
      FrameCache mine;
      std::vector<Sample> got;
      uint64_t n = 0;
      for (size_t k = 0; k < every.size(); ++k) {
        uint64_t id = every[(k + static_cast<size_t>(r) * 997) % every.size()];
        got.clear();
        if ((*block)->Read(id, INT64_MIN, INT64_MAX, mine, got).ok()) n += got.size();
      }
      read_total += n;
    });
  }
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(read_total.load(), 4 * (*block)->meta().num_samples);
  EXPECT_EQ(*(*block)->LabelValues("__name__"), (std::vector<std::string>{"even", "odd"}));
  EXPECT_EQ(*(*block)->LabelNames(), (std::vector<std::string>{"__name__", "id"}));
  // Regex and negative matchers over the mapped postings.
  std::vector<Matcher> some = {*Matcher::Make(MatchType::kRegexMatch, "id", "10123.|102999"),
                               *Matcher::Make(MatchType::kNotEqual, "__name__", "odd")};
  ids = *(*block)->Postings(some);
  ASSERT_EQ(ids.size(), 5u);
  for (uint64_t id : ids) EXPECT_EQ((*(*block)->LabelsOf(id))[0].value, "even");
  block->reset();

  // A flipped byte in the footer is caught by its checksum.
  std::string data = *DefaultEnv()->ReadFile(dir + "/b1/data");
  data[data.size() - 48] ^= 0x40;
  ASSERT_TRUE(DefaultEnv()->WriteFile(dir + "/b1/data", data).ok());
  auto broken = Block::Open(DefaultEnv(), dir + "/b1");
  EXPECT_EQ(broken.status().code(), StatusCode::kDataLoss);
  (void)DefaultEnv()->RemoveAll(dir);
}

TEST(BlockTest, WriterStreamsInLabelOrderAndPublishesOnlyOnFinish) {
  std::string dir = ::testing::TempDir() + "pharos_block_writer_" + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(dir);
  ASSERT_TRUE(DefaultEnv()->MakeDirs(dir).ok());
  auto w = BlockWriter::Create(DefaultEnv(), dir, "w.tmp");
  ASSERT_TRUE(w.ok());
  std::vector<Sample> samples = {{1000, 1}, {2000, 2}};
  ASSERT_TRUE((*w)->Add({{"__name__", "b"}}, samples).ok());
  ASSERT_TRUE((*w)->Add({{"__name__", "c"}}, {}).ok());  // empty: skipped
  // Going backwards would break every reader's label-order merge: refused.
  EXPECT_EQ((*w)->Add({{"__name__", "a"}}, samples).code(), StatusCode::kInternal);
  ASSERT_TRUE((*w)->Add({{"__name__", "d"}}, std::vector<Sample>{{500, 5}}).ok());
  EXPECT_EQ((*w)->num_series(), 2u);
  EXPECT_EQ((*w)->min_t(), 500);
  EXPECT_FALSE(DefaultEnv()->Exists(dir + "/b2"));  // nothing published before Finish
  BlockMeta meta;
  meta.id = "b2";
  meta.min_t = 500;
  meta.max_t = 2000;
  ASSERT_TRUE((*w)->Finish(meta).ok());
  EXPECT_EQ(meta.num_samples, 3u);
  EXPECT_FALSE(DefaultEnv()->Exists(dir + "/w.tmp"));
  auto block = Block::Open(DefaultEnv(), dir + "/b2");
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  ASSERT_EQ((*block)->num_series(), 2u);
  EXPECT_EQ(*(*block)->LabelsOf(1), (Labels{{"__name__", "d"}}));
  (void)DefaultEnv()->RemoveAll(dir);
}

std::string FreshDir(const std::string& name) {
  std::string dir = ::testing::TempDir() + name + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(dir);
  EXPECT_TRUE(DefaultEnv()->MakeDirs(dir).ok());
  return dir;
}

// Every byte of a block's index flipped in turn (through the fault-injecting Env, which
// hands out a damaged copy of the mapped file): opening, selecting and reading never
// crash, and every answer is either the right one or a DataLoss naming the damage.
TEST(BlockTest, DamagedIndexBytesAreCaughtNotTrusted) {
  std::string dir = FreshDir("pharos_block_damage_");
  std::vector<BlockSeries> series;
  for (int i = 0; i < 40; ++i) {
    BlockSeries s;
    s.labels = {{"__name__", "m"}, {"i", std::to_string(100 + i)}};
    for (int k = 0; k < 5; ++k) s.samples.push_back({k * 1000LL, static_cast<double>(i * k)});
    series.push_back(std::move(s));
  }
  BlockMeta meta;
  meta.id = "b";
  meta.max_t = 4000;
  ASSERT_TRUE(WriteBlock(DefaultEnv(), dir, meta, series).ok());
  auto good = Block::Open(DefaultEnv(), dir + "/b");
  ASSERT_TRUE(good.ok());
  uint64_t index_start = (*good)->size_bytes() - (*good)->index_bytes();
  std::vector<Matcher> all = {*Matcher::Make(MatchType::kRegexMatch, "i", "1.*")};
  testing::FaultEnv env;
  int caught = 0;
  for (uint64_t at = index_start; at < (*good)->size_bytes(); ++at) {
    env.corrupt_map_at = static_cast<int64_t>(at);
    auto block = Block::Open(&env, dir + "/b");
    if (!block.ok()) {
      EXPECT_TRUE(block.status().code() == StatusCode::kDataLoss ||
                  block.status().code() == StatusCode::kFailedPrecondition)
          << at << ": " << block.status().ToString();
      ++caught;
      continue;
    }
    auto ids = (*block)->Postings(all);
    if (!ids.ok()) {
      EXPECT_EQ(ids.status().code(), StatusCode::kDataLoss) << at;
      ++caught;
      continue;
    }
    ASSERT_EQ(ids->size(), 40u) << at;  // a section that passed its checksum is intact
    FrameCache frames;
    std::vector<Sample> samples;
    Status read;
    for (uint64_t id : *ids) {
      read = (*block)->Read(id, 0, 4000, frames, samples);
      if (!read.ok()) break;
    }
    if (!read.ok()) {
      EXPECT_EQ(read.code(), StatusCode::kDataLoss) << at;
      ++caught;
      continue;
    }
    EXPECT_EQ(samples.size(), 200u) << at;
  }
  // Every index byte is covered by a checksum (a section's, or the footer's), except the
  // version and the magic, which are checked by value.
  EXPECT_EQ(caught, static_cast<int>((*good)->index_bytes()));
  env.corrupt_map_at = -1;
  env.fail_map = true;
  EXPECT_FALSE(Block::Open(&env, dir + "/b").ok());
  (void)DefaultEnv()->RemoveAll(dir);
}

TEST(BlockTest, UnknownVersionIsRefusedByName) {
  std::string dir = FreshDir("pharos_block_version_");
  BlockMeta meta;
  meta.id = "b";
  ASSERT_TRUE(WriteBlock(DefaultEnv(), dir, meta, {{{{"__name__", "m"}}, {{1, 1}}}}).ok());
  std::string data = *DefaultEnv()->ReadFile(dir + "/b/data");
  data[data.size() - kBlockTrailerBytes] = 7;
  ASSERT_TRUE(DefaultEnv()->WriteFile(dir + "/b/data", data).ok());
  EXPECT_EQ(*BlockFormatVersion(DefaultEnv(), dir + "/b"), 7u);
  auto block = Block::Open(DefaultEnv(), dir + "/b");
  ASSERT_FALSE(block.ok());
  EXPECT_NE(block.status().message().find("block format version 7 is not supported"),
            std::string::npos)
      << block.status().ToString();
  (void)DefaultEnv()->RemoveAll(dir);
}

// src/tsdb/testdata/v1 holds a block written by the version-1 writer (40 series x 30
// samples, one staleness marker): it is rewritten in place and reads back the same.
TEST(BlockTest, VersionOneBlocksAreRewrittenInPlace) {
  std::string src =
      std::string(PHAROS_SOURCE_DIR) + "/src/tsdb/testdata/v1/0000018bcfe56800-0000018bcfec0b38-1";
  std::string dir = FreshDir("pharos_block_v1_");
  std::string block_dir = dir + "/0000018bcfe56800-0000018bcfec0b38-1";
  ASSERT_TRUE(DefaultEnv()->MakeDirs(block_dir).ok());
  for (const char* f : {"data", "meta.json"}) {
    auto bytes = DefaultEnv()->ReadFile(src + "/" + f);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_TRUE(DefaultEnv()->WriteFile(block_dir + "/" + f, *bytes).ok());
  }
  EXPECT_EQ(*BlockFormatVersion(DefaultEnv(), block_dir), 1u);
  auto refused = Block::Open(DefaultEnv(), block_dir);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("version 1"), std::string::npos);
  ASSERT_TRUE(UpgradeBlockFromV1(DefaultEnv(), block_dir).ok());
  EXPECT_EQ(*BlockFormatVersion(DefaultEnv(), block_dir), kBlockVersion);
  EXPECT_FALSE(DefaultEnv()->Exists(block_dir + ".v2.tmp"));
  auto block = Block::Open(DefaultEnv(), block_dir);
  ASSERT_TRUE(block.ok()) << block.status().ToString();
  EXPECT_EQ((*block)->num_series(), 40u);
  EXPECT_EQ((*block)->meta().level, 1);
  std::vector<Matcher> up = {*Matcher::Make(MatchType::kEqual, "__name__", "up")};
  auto ids = *(*block)->Postings(up);
  ASSERT_EQ(ids.size(), 20u);
  FrameCache frames;
  size_t total = 0, stale = 0;
  for (uint64_t id = 0; id < (*block)->num_series(); ++id) {
    std::vector<Sample> samples;
    ASSERT_TRUE((*block)->Read(id, INT64_MIN, INT64_MAX, frames, samples).ok());
    total += samples.size();
    for (const Sample& s : samples) stale += IsStaleNaN(s.v);
  }
  EXPECT_EQ(total, 1200u);
  EXPECT_EQ(stale, 1u);
  (void)DefaultEnv()->RemoveAll(dir);
}

}  // namespace
}  // namespace pharos::tsdb
