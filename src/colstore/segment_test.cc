// Segment files: every encoding round-trips, and damage is caught, never crashes.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "colstore/segment.h"

namespace pharos::colstore::internal {
namespace {

class SegmentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("colstore_segment_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Encodes rows of (time, columns) and keeps the bytes alive.
  RowRef Row(int64_t t, std::vector<Column> cols) {
    std::string& s = arenas_.emplace_back();
    EncodeColumns(s, cols);
    return {t, s};
  }

  std::filesystem::path dir_;
  std::deque<std::string> arenas_;
};

TEST_F(SegmentTest, EveryEncodingRoundTrips) {
  model::Labels a = {{"app", "api"}}, b = {{"app", "web"}};
  std::vector<SegmentStreamInput> streams(2);
  streams[0].labels = &a;
  streams[1].labels = &b;
  std::vector<std::string> owned;
  owned.reserve(3000);
  for (int i = 0; i < 3000; ++i) {
    owned.push_back("line " + std::to_string(i) + " unique-" + std::to_string(i * 7919));
    std::vector<Column> cols = {
        {"body", Value::String(owned.back())},                    // plain
        {"level", Value::String(i % 3 == 0 ? "error" : "info")},  // dictionary
        {"host", Value::String(i < 1500 ? "h1" : "h2")},          // dictionary runs
        {"region", Value::String("eu")},                          // constant
        {"status", Value::Int(200 + (i % 5))},                    // delta ints
        {"latency", Value::Double(i * 0.25)},                     // doubles
    };
    if (i % 10 == 0)
      cols.push_back({"trace_id", Value::String(std::string_view(owned.back()).substr(0, 8))});
    streams[0].rows.push_back(Row(1'000'000 + i, cols));
  }
  streams[1].rows.push_back(Row(5, {{"body", Value::String("only")}, {"n", Value::Int(-3)}}));
  SegmentInfo info;
  WriteOptions options;
  options.block_rows = 1024;
  ASSERT_TRUE(WriteSegment(*DefaultEnv(), dir_, "1.seg", streams, 7, options, &info).ok());
  EXPECT_EQ(info.rows, 3001u);
  EXPECT_EQ(info.min_t, 5);
  EXPECT_EQ(info.max_t, 1'002'999);

  Result<std::unique_ptr<Segment>> seg = Segment::Open(*DefaultEnv(), dir_ / "1.seg");
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  EXPECT_EQ((*seg)->info().wal_cover, 7u);
  ASSERT_EQ((*seg)->streams().size(), 2u);
  EXPECT_EQ((*seg)->streams()[0].labels, a);
  ASSERT_EQ((*seg)->streams()[0].blocks.size(), 3u);  // 1024-row blocks
  size_t row = 0;
  for (const BlockRef& ref : (*seg)->streams()[0].blocks) {
    DecodedBlock block;
    Status s = (*seg)->ReadBlock(ref, nullptr, block);
    ASSERT_TRUE(s.ok()) << s.message();
    for (size_t i = 0; i < block.times.size(); ++i, ++row) {
      EXPECT_EQ(block.times[i], 1'000'000 + static_cast<int64_t>(row));
      std::vector<Column> want;
      DecodeColumns(streams[0].rows[row].columns, want);
      for (const Column& w : want) {
        bool found = false;
        for (size_t c = 0; c < block.names.size(); ++c) {
          if (block.names[c] == w.name && block.columns[c][i].type == w.value.type) {
            EXPECT_EQ(block.columns[c][i], w.value) << w.name << " row " << row;
            found = true;
          }
        }
        EXPECT_TRUE(found) << w.name << " row " << row;
      }
      for (size_t c = 0; c < block.names.size(); ++c) {  // absent columns are null
        if (block.names[c] == "trace_id") {
          EXPECT_EQ(block.columns[c][i].type == Value::Type::kNull, row % 10 != 0) << row;
        }
      }
    }
  }
  EXPECT_EQ(row, 3000u);
  // A projection decodes only what it asks for.
  std::function<bool(std::string_view)> only_level = [](std::string_view n) {
    return n == "level";
  };
  DecodedBlock block;
  ASSERT_TRUE((*seg)->ReadBlock((*seg)->streams()[0].blocks[0], &only_level, block).ok());
  ASSERT_EQ(block.names.size(), 1u);
  EXPECT_EQ(block.columns[0][3].s, "error");
  // Repetitive columns cost little: far less than the rows' raw size.
  uint64_t level_bytes = 0, body_bytes = 0;
  for (const ColumnStats& c : info.columns) {
    if (c.name == "level") level_bytes = c.bytes;
    if (c.name == "body") body_bytes = c.bytes;
  }
  EXPECT_LT(level_bytes * 20, body_bytes);

  // Blocks encoded on several threads read back the same (names may be numbered apart).
  options.threads = 3;
  options.block_rows = 100;
  ASSERT_TRUE(WriteSegment(*DefaultEnv(), dir_, "3.seg", streams, 7, options, nullptr).ok());
  Result<std::unique_ptr<Segment>> par = Segment::Open(*DefaultEnv(), dir_ / "3.seg");
  ASSERT_TRUE(par.ok()) << par.status().message();
  ASSERT_EQ((*par)->streams()[0].blocks.size(), 30u);
  row = 0;
  for (const BlockRef& ref : (*par)->streams()[0].blocks) {
    DecodedBlock b;
    ASSERT_TRUE((*par)->ReadBlock(ref, nullptr, b).ok());
    for (size_t i = 0; i < b.times.size(); ++i, ++row) {
      std::vector<Column> want;
      DecodeColumns(streams[0].rows[row].columns, want);
      for (const Column& w : want) {
        auto at = std::find(b.names.begin(), b.names.end(), w.name);
        ASSERT_NE(at, b.names.end()) << w.name;
        EXPECT_EQ(b.columns[static_cast<size_t>(at - b.names.begin())][i], w.value) << row;
      }
    }
  }
  EXPECT_EQ(row, 3000u);
  EXPECT_EQ((*par)->info().rows, 3001u);
}

TEST_F(SegmentTest, DamageIsDetected) {
  model::Labels a = {{"app", "api"}};
  std::vector<SegmentStreamInput> streams(1);
  streams[0].labels = &a;
  for (int i = 0; i < 100; ++i)
    streams[0].rows.push_back(Row(i, {{"body", Value::String("line " + std::to_string(i))}}));
  WriteOptions options;
  options.block_rows = 64;
  options.text_column = "body";  // the filters are checked too
  ASSERT_TRUE(WriteSegment(*DefaultEnv(), dir_, "1.seg", streams, 1, options, nullptr).ok());
  Result<std::string> bytes = DefaultEnv()->ReadFile(dir_ / "1.seg");
  ASSERT_TRUE(bytes.ok());
  // Every single-byte flip is either caught at open or by the block checksum.
  std::mt19937 rng(7);
  for (size_t off = 0; off < bytes->size(); ++off) {
    std::string damaged = *bytes;
    damaged[off] = static_cast<char>(damaged[off] ^ (1 + rng() % 255));
    Result<std::unique_ptr<Segment>> seg = Segment::Parse(damaged);
    if (!seg.ok()) {
      EXPECT_EQ(seg.status().code(), StatusCode::kDataLoss) << off;
      continue;
    }
    bool caught = false;
    for (const BlockRef& ref : (*seg)->streams()[0].blocks) {
      DecodedBlock block;
      if (!(*seg)->ReadBlock(ref, nullptr, block).ok()) caught = true;
    }
    EXPECT_TRUE(caught) << "flip at " << off << " went unnoticed";
  }
  // Truncation at any point is refused.
  for (size_t len = 0; len < bytes->size(); len += 7) {
    EXPECT_FALSE(Segment::Parse(std::string_view(*bytes).substr(0, len)).ok()) << len;
  }
}

// Each block's filter rules out the needles it does not hold, and only those.
TEST_F(SegmentTest, TextFiltersRuleOutBlocksWithoutTheNeedle) {
  model::Labels a = {{"app", "api"}};
  std::vector<SegmentStreamInput> streams(1);
  streams[0].labels = &a;
  std::vector<std::string> owned;
  for (int i = 0; i < 300; ++i) {
    owned.push_back(fmt::format("GET /orders/{} trace_id={:016x}{:016x} done", i, i * 31 + 7,
                                static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL));
    streams[0].rows.push_back(Row(i, {{"line", Value::String(owned.back())}}));
  }
  WriteOptions options;
  options.block_rows = 100;
  options.text_column = "line";
  SegmentInfo info;
  ASSERT_TRUE(WriteSegment(*DefaultEnv(), dir_, "1.seg", streams, 1, options, &info).ok());
  Result<std::unique_ptr<Segment>> seg = Segment::Open(*DefaultEnv(), dir_ / "1.seg");
  ASSERT_TRUE(seg.ok()) << seg.status().message();
  EXPECT_EQ((*seg)->info().text_column, "line");
  EXPECT_EQ((*seg)->info().gram_sample_shift, kDefaultGramSampleShift);
  const std::vector<BlockRef>& blocks = (*seg)->streams()[0].blocks;
  ASSERT_EQ(blocks.size(), 3u);
  // Line 150's id (in block 1), upper-cased: found in its block only.
  std::string id = owned[150].substr(owned[150].find('=') + 1, 32);
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& needle : {id, upper}) {
    std::vector<uint64_t> grams = NeedleGrams(needle, kDefaultGramSampleShift);
    ASSERT_FALSE(grams.empty());
    EXPECT_FALSE(GramFilterMayContain((*seg)->Filter(blocks[0]), grams)) << needle;
    EXPECT_TRUE(GramFilterMayContain((*seg)->Filter(blocks[1]), grams)) << needle;
    EXPECT_FALSE(GramFilterMayContain((*seg)->Filter(blocks[2]), grams)) << needle;
  }
}

TEST(RecordEncodingTest, WalRecordRoundTripsAndRefusesGarbage) {
  std::vector<model::LabelView> labels = {{"app", "api"}, {"env", "prod"}};
  std::vector<Column> cols = {{"body", Value::String("hello")},
                              {"n", Value::Int(-5)},
                              {"x", Value::Double(1.5)},
                              {"none", Value{}}};
  std::vector<RecordInput> records = {{10, cols}, {-20, cols}};
  std::string wire;
  EncodeWalRecord(wire, labels, records);
  WalRecord rec;
  ASSERT_TRUE(DecodeWalRecord(wire, rec));
  ASSERT_EQ(rec.labels.size(), 2u);
  EXPECT_EQ(rec.labels[1].value, "prod");
  ASSERT_EQ(rec.entries.size(), 2u);
  EXPECT_EQ(rec.entries[1].time_ns, -20);
  std::vector<Column> back;
  ASSERT_TRUE(DecodeColumns(rec.entries[0].columns, back));
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[0].value, cols[0].value);
  EXPECT_EQ(back[1].value, cols[1].value);
  EXPECT_EQ(back[2].value, cols[2].value);
  EXPECT_EQ(back[3].value.type, Value::Type::kNull);
  for (size_t len = 0; len < wire.size(); ++len) {
    EXPECT_FALSE(DecodeWalRecord(std::string_view(wire).substr(0, len), rec)) << len;
  }
}

}  // namespace
}  // namespace pharos::colstore::internal
