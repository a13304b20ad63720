#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/testing/fault_env.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {
namespace {

class DbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = ::testing::TempDir() + "pharos_tsdb_" + std::to_string(::getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    Open();
  }
  void TearDown() override {
    db_.reset();
    (void)DefaultEnv()->RemoveAll(options_.dir);
  }
  void Open() {
    db_.reset();
    registry_ = std::make_unique<selfmon::Registry>();
    auto db = Db::Open(options_, *registry_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  AppendResult Append(std::vector<LabelView> labels, std::vector<Sample> samples) {
    SeriesInput in{labels, samples};
    AppendResult r;
    Status s = db_->Append(std::span<const SeriesInput>(&in, 1), r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r;
  }
  std::vector<SeriesData> Select(std::vector<Matcher> ms, int64_t mint = INT64_MIN,
                                 int64_t maxt = INT64_MAX) {
    auto q = db_->Query(mint, maxt);
    auto r = q->Select(ms);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<SeriesData>{};
  }
  static Matcher Eq(std::string n, std::string v) {
    return *Matcher::Make(MatchType::kEqual, n, v);
  }

  Options options_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Db> db_;
};

TEST_F(DbTest, AppendQueryAndSurviveRestart) {
  AppendResult r = Append({{"job", "api"}, {"__name__", "up"}, {"empty", ""}},
                          {{1000, 1}, {2000, 0}, {3000, StaleNaN()}});
  EXPECT_EQ(r.samples_accepted, 3u);
  EXPECT_EQ(r.series_created, 1u);
  Append({{"__name__", "up"}, {"job", "db"}}, {{1000, 1}});
  auto check = [&] {
    auto got = Select({Eq("__name__", "up")});
    ASSERT_EQ(got.size(), 2u);
    // Sorted by labels; the empty-valued label was dropped; labels sorted by name.
    EXPECT_EQ(got[0].labels, (Labels{{"__name__", "up"}, {"job", "api"}}));
    ASSERT_EQ(got[0].samples.size(), 3u);
    EXPECT_TRUE(IsStaleNaN(got[0].samples[2].v));
    EXPECT_EQ(got[1].labels, (Labels{{"__name__", "up"}, {"job", "db"}}));
    EXPECT_EQ(Select({Eq("job", "api")}, 1500, 2500)[0].samples.size(), 1u);
  };
  check();
  Open();  // replays the WAL
  check();
  // Appends continue after a restart without duplicating series.
  AppendResult again = Append({{"__name__", "up"}, {"job", "api"}}, {{4000, 5}});
  EXPECT_EQ(again.series_created, 0u);
  EXPECT_EQ(Select({Eq("job", "api")})[0].samples.size(), 4u);
}

TEST_F(DbTest, RejectsBadSeriesAndKeepsTheRest) {
  std::vector<LabelView> bad_name = {{"__name__", "bad-metric"}};
  std::vector<LabelView> bad_label = {{"__name__", "m"}, {"1abc", "x"}};
  std::vector<LabelView> dup = {{"__name__", "m"}, {"a", "1"}, {"a", "2"}};
  std::vector<LabelView> good = {{"__name__", "m"}, {"a", "1"}};
  std::vector<Sample> samples = {{1000, 1}};
  SeriesInput batch[] = {
      {bad_name, samples}, {bad_label, samples}, {dup, samples}, {good, samples}};
  AppendResult r;
  ASSERT_TRUE(db_->Append(batch, r).ok());
  EXPECT_EQ(r.series_rejected, 3u);
  EXPECT_EQ(r.samples_rejected, 3u);
  EXPECT_EQ(r.samples_accepted, 1u);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_NE(r.errors[0].find("bad-metric"), std::string::npos);
  EXPECT_NE(
      registry_->Render().find("pharos_tsdb_rejected_series_total{reason=\"invalid_labels\"} 3"),
      std::string::npos);
}

// Label values must be well-formed UTF-8: overlong forms and surrogates are refused (they
// were once stored and then printed by the API as U+FFFD), while real multi-byte text is kept.
TEST_F(DbTest, RejectsMalformedUtf8InLabelValues) {
  EXPECT_EQ(Append({{"__name__", "m"}, {"v", "\xc0\xaf"}}, {{1, 1}}).series_rejected, 1u);
  EXPECT_EQ(Append({{"__name__", "m"}, {"v", "\xed\xa0\x80"}}, {{1, 1}}).series_rejected, 1u);
  EXPECT_EQ(Append({{"__name__", "m"}, {"v", "\xf4\x90\x80\x80"}}, {{1, 1}}).series_rejected, 1u);
  EXPECT_EQ(
      Append({{"__name__", "m"}, {"v", "\xe4\xb8\xad\xe6\x96\x87"}}, {{1, 1}}).samples_accepted,
      1u);
}

TEST_F(DbTest, Limits) {
  options_.limits.max_labels_per_series = 3;
  options_.limits.max_label_value_bytes = 8;
  options_.limits.max_series = 3;
  options_.limits.max_series_per_metric = 2;
  Open();
  EXPECT_EQ(
      Append({{"__name__", "m"}, {"a", "1"}, {"b", "2"}, {"c", "3"}}, {{1, 1}}).series_rejected,
      1u);
  AppendResult long_value = Append({{"__name__", "m"}, {"a", "123456789"}}, {{1, 1}});
  EXPECT_EQ(long_value.series_rejected, 1u);
  EXPECT_NE(long_value.errors[0].find("longer than the limit of 8"), std::string::npos);
  EXPECT_EQ(Append({{"__name__", "m"}, {"a", "1"}}, {{1, 1}}).series_created, 1u);
  EXPECT_EQ(Append({{"__name__", "m"}, {"a", "2"}}, {{1, 1}}).series_created, 1u);
  AppendResult per_metric = Append({{"__name__", "m"}, {"a", "3"}}, {{1, 1}});
  EXPECT_EQ(per_metric.series_rejected, 1u);
  EXPECT_NE(per_metric.errors[0].find("limit of 2 series for metric m"), std::string::npos);
  EXPECT_EQ(Append({{"__name__", "n"}}, {{1, 1}}).series_created, 1u);
  AppendResult total = Append({{"__name__", "o"}}, {{1, 1}});
  EXPECT_EQ(total.series_rejected, 1u);
  EXPECT_NE(total.errors[0].find("limit of 3 series reached"), std::string::npos);
  // Existing series still take samples at the limit.
  EXPECT_EQ(Append({{"__name__", "n"}}, {{2, 1}}).samples_accepted, 1u);
}

TEST_F(DbTest, OutOfOrderWindowAndDuplicates) {
  options_.out_of_order_window = std::chrono::minutes(1);
  Open();
  Append({{"__name__", "m"}}, {{100000, 1}});
  EXPECT_EQ(Append({{"__name__", "m"}}, {{90000, 2}}).samples_accepted, 1u);  // inside the window
  AppendResult old = Append({{"__name__", "m"}}, {{10000, 3}});
  EXPECT_EQ(old.samples_rejected, 1u);
  EXPECT_NE(old.errors[0].find("out of order sample at 10000"), std::string::npos);
  EXPECT_EQ(Append({{"__name__", "m"}}, {{100000, 1}}).samples_accepted, 1u);  // same value
  AppendResult conflict = Append({{"__name__", "m"}}, {{100000, 7}});
  EXPECT_EQ(conflict.samples_rejected, 1u);
  auto got = Select({Eq("__name__", "m")});
  ASSERT_EQ(got[0].samples.size(), 2u);
  EXPECT_EQ(got[0].samples[0].t, 90000);
  Open();
  EXPECT_EQ(Select({Eq("__name__", "m")})[0].samples.size(), 2u);
}

TEST_F(DbTest, ConcurrentWritersSeeEverySampleAfterRestart) {
  constexpr int kThreads = 4;
  constexpr int kSeriesPerThread = 50;
  constexpr int kSamples = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSamples; ++i) {
        std::vector<std::string> ids;
        for (int s = 0; s < kSeriesPerThread; ++s) ids.push_back(std::to_string(t * 1000 + s));
        std::vector<std::vector<LabelView>> labels;
        std::vector<std::vector<Sample>> samples;
        for (int s = 0; s < kSeriesPerThread; ++s) {
          labels.push_back({{"__name__", "load"}, {"id", ids[s]}});
          samples.push_back({{int64_t{i} * 1000, double(i)}});
        }
        std::vector<SeriesInput> batch;
        for (int s = 0; s < kSeriesPerThread; ++s) batch.push_back({labels[s], samples[s]});
        AppendResult r;
        ASSERT_TRUE(db_->Append(batch, r).ok());
        ASSERT_EQ(r.samples_accepted, static_cast<uint64_t>(kSeriesPerThread));
      }
    });
  }
  for (auto& th : threads) th.join();
  Open();
  auto got = Select({Eq("__name__", "load")});
  ASSERT_EQ(got.size(), static_cast<size_t>(kThreads * kSeriesPerThread));
  for (const SeriesData& s : got) EXPECT_EQ(s.samples.size(), static_cast<size_t>(kSamples));
}

// A data directory written by an older Pharos (block format version 1) opens: the block is
// rewritten as the current version and every sample reads back.
TEST_F(DbTest, OpensVersionOneBlocks) {
  db_.reset();
  std::string name = "0000018bcfe56800-0000018bcfec0b38-1";
  std::string src = std::string(PHAROS_SOURCE_DIR) + "/src/tsdb/testdata/v1/" + name;
  std::string dst = options_.dir + "/blocks/" + name;
  ASSERT_TRUE(DefaultEnv()->MakeDirs(dst).ok());
  for (const char* f : {"data", "meta.json"}) {
    auto bytes = DefaultEnv()->ReadFile(src + "/" + f);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    ASSERT_TRUE(DefaultEnv()->WriteFile(dst + "/" + f, *bytes).ok());
  }
  Open();
  std::vector<SeriesData> all =
      Select({*Matcher::Make(MatchType::kRegexMatch, "__name__", "up|http_requests_total")});
  ASSERT_EQ(all.size(), 40u);
  size_t samples = 0;
  for (const SeriesData& s : all) samples += s.samples.size();
  EXPECT_EQ(samples, 1200u);
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);
  EXPECT_FALSE(DefaultEnv()->Exists(dst + ".corrupt"));
  // Samples older than the block are refused as before: the block bounds the head.
  AppendResult r = Append({{"__name__", "up"}}, {{1700000000000, 1}});
  EXPECT_EQ(r.samples_accepted, 0u);
}

// An unreadable block is moved aside once, counted once, and left alone at later starts.
TEST_F(DbTest, DamagedBlocksAreSetAsideOnce) {
  db_.reset();
  std::string dir = options_.dir + "/blocks/0000000000000000-00000000000003e8-1";
  ASSERT_TRUE(DefaultEnv()->MakeDirs(dir).ok());
  ASSERT_TRUE(DefaultEnv()->WriteFile(dir + "/meta.json", "{\"version\":2}").ok());
  ASSERT_TRUE(DefaultEnv()->WriteFile(dir + "/data", "not a block").ok());
  Open();
  EXPECT_TRUE(DefaultEnv()->Exists(dir + ".corrupt"));
  EXPECT_NE(registry_->Render().find("pharos_tsdb_corrupt_blocks_total 1"), std::string::npos);
  Open();
  EXPECT_TRUE(DefaultEnv()->Exists(dir + ".corrupt"));
  EXPECT_FALSE(DefaultEnv()->Exists(dir + ".corrupt.corrupt"));
  EXPECT_NE(registry_->Render().find("pharos_tsdb_corrupt_blocks_total 0"), std::string::npos);
}

TEST_F(DbTest, LabelApisAndStats) {
  Append({{"__name__", "up"}, {"job", "a"}}, {{1000, 1}});
  Append({{"__name__", "up"}, {"job", "b"}}, {{5000, 1}});
  Append({{"__name__", "other"}, {"zone", "x"}}, {{1000, 1}});
  auto q = db_->Query(0, 2000);
  EXPECT_EQ(*q->LabelNames({}), (std::vector<std::string>{"__name__", "job", "zone"}));
  std::vector<Matcher> up = {Eq("__name__", "up")};
  EXPECT_EQ(*q->LabelValues("job", up), std::vector<std::string>{"a"});  // b is outside the range
  EXPECT_EQ(q->Series(up)->size(), 1u);
  Stats st = db_->GetStats(10);
  EXPECT_EQ(st.num_series, 3u);
  EXPECT_EQ(st.min_time, 1000);
  EXPECT_EQ(st.max_time, 5000);
}

TEST_F(DbTest, FlushMovesTheHeadIntoABlockAndSurvivesRestart) {
  for (int i = 0; i < 100; ++i) {
    Append({{"__name__", "m"}, {"id", std::to_string(i % 10)}}, {{1000LL * i, double(i)}});
  }
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(db_->GetStats(10).num_blocks, 1u);
  // Older than what was flushed: refused; newer: accepted into the head.
  EXPECT_EQ(Append({{"__name__", "m"}, {"id", "0"}}, {{50000, 1}}).samples_rejected, 1u);
  EXPECT_EQ(Append({{"__name__", "m"}, {"id", "0"}}, {{200000, 7}}).samples_accepted, 1u);
  auto check = [&] {
    auto got = Select({Eq("__name__", "m")});
    ASSERT_EQ(got.size(), 10u);
    EXPECT_EQ(got[0].samples.size(), 11u);  // 10 from the block, 1 from the head
    EXPECT_EQ(got[0].samples.back().t, 200000);
    EXPECT_EQ(got[1].samples.size(), 10u);
    auto q = db_->Query(0, 5000);
    EXPECT_EQ(*q->LabelValues("id", {}),
              (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  };
  check();
  Open();
  check();
  EXPECT_EQ(db_->GetStats(10).num_blocks, 1u);
}

TEST_F(DbTest, SelectSeriesStreamsInLabelOrderAcrossBlocksAndHead) {
  for (std::string id : {"c", "a", "b"}) {
    Append({{"__name__", "m"}, {"id", id}}, {{1000, 1}, {2000, 2}});
  }
  ASSERT_TRUE(db_->Flush().ok());
  Append({{"__name__", "m"}, {"id", "a"}}, {{300000, 3}});      // block + head
  Append({{"__name__", "m"}, {"id", "0"}}, {{300000, 4}});      // head only, sorts first
  Append({{"__name__", "other"}, {"id", "a"}}, {{300000, 5}});  // not selected
  auto q = db_->Query(INT64_MIN, INT64_MAX);
  std::vector<Matcher> ms = {Eq("__name__", "m")};
  Result<std::unique_ptr<SeriesSet>> set = q->SelectSeries(ms);
  ASSERT_TRUE(set.ok());
  std::vector<std::string> ids;
  std::vector<size_t> counts;
  while ((*set)->Next()) {
    ids.push_back(std::string(LabelValue((*set)->labels(), "id")));
    counts.push_back((*set)->samples().size());
  }
  EXPECT_TRUE((*set)->status().ok());
  EXPECT_EQ(ids, (std::vector<std::string>{"0", "a", "b", "c"}));
  EXPECT_EQ(counts, (std::vector<size_t>{1, 3, 2, 2}));
  // Hints narrow the range (series without samples in it are left out) and cap the count.
  SelectHints hints;
  hints.mint = 1500;
  hints.maxt = 2500;
  hints.limit = 2;
  set = q->SelectSeries(ms, hints);
  ASSERT_TRUE(set.ok());
  ids.clear();
  while ((*set)->Next()) {
    ids.push_back(std::string(LabelValue((*set)->labels(), "id")));
    ASSERT_EQ((*set)->samples().size(), 1u);
    EXPECT_EQ((*set)->samples()[0].t, 2000);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
}

// A large select is decoded ahead on the read pool: the same series and samples in the
// same order as decoding inline, whether batches end on their series count or on the
// sample cap (series of 140,000 samples), and a set dropped half-way waits for its batches.
TEST_F(DbTest, ReadAheadGivesWhatReadingInlineGives) {
  auto load = [&] {
    for (int i = 0; i < 300; ++i) {
      std::vector<Sample> samples;
      int n = i % 50 == 0 ? 140000 : 1 + i % 7;  // 140,000: over the batch cap
      for (int k = 0; k < n; ++k) samples.push_back({1000LL * k, double(i * 100000 + k)});
      Append({{"__name__", "m"}, {"id", std::to_string(i)}}, samples);
    }
  };
  load();
  ASSERT_TRUE(db_->Flush().ok());
  // Half the series go on in the head after the block.
  for (int i = 0; i < 300; i += 2) {
    Append({{"__name__", "m"}, {"id", std::to_string(i)}}, {{200000000, double(i)}});
  }
  auto read_all = [&] {
    std::vector<std::pair<std::string, std::vector<Sample>>> out;
    auto q = db_->Query(INT64_MIN, INT64_MAX);
    std::vector<Matcher> ms = {Eq("__name__", "m")};
    Result<std::unique_ptr<SeriesSet>> set = q->SelectSeries(ms);
    EXPECT_TRUE(set.ok());
    std::vector<Sample> mine;
    while ((*set)->Next()) {
      (*set)->SwapSamples(mine);
      out.emplace_back(std::string(LabelValue((*set)->labels(), "id")), mine);
    }
    EXPECT_TRUE((*set)->status().ok());
    return out;
  };
  auto ahead = read_all();
  options_.read_threads = 0;
  Open();
  auto inline_read = read_all();
  ASSERT_EQ(ahead.size(), 300u);
  ASSERT_EQ(ahead.size(), inline_read.size());
  for (size_t i = 0; i < ahead.size(); ++i) {
    ASSERT_EQ(ahead[i].first, inline_read[i].first);
    ASSERT_EQ(ahead[i].second.size(), inline_read[i].second.size()) << ahead[i].first;
    for (size_t k = 0; k < ahead[i].second.size(); ++k) {
      ASSERT_EQ(ahead[i].second[k].t, inline_read[i].second[k].t);
      ASSERT_EQ(ahead[i].second[k].v, inline_read[i].second[k].v);
    }
  }
  EXPECT_EQ(ahead[0].first, "0");
  EXPECT_EQ(ahead[0].second.size(), 140001u);
  options_.read_threads = 2;
  Open();
  for (int stop_after : {0, 1, 20, 150}) {
    auto q = db_->Query(INT64_MIN, INT64_MAX);
    std::vector<Matcher> ms = {Eq("__name__", "m")};
    Result<std::unique_ptr<SeriesSet>> set = q->SelectSeries(ms);
    ASSERT_TRUE(set.ok());
    for (int i = 0; i < stop_after; ++i) ASSERT_TRUE((*set)->Next());
  }  // each set is dropped with batches in flight
}

TEST_F(DbTest, MaintenanceCutsAlignedBlocksMergesAndExpires) {
  options_.block_duration = std::chrono::seconds(10);
  options_.retention = std::chrono::hours(0);
  Open();
  // 100 s of samples: the head spans 10 block durations.
  for (int i = 0; i < 100; ++i) Append({{"__name__", "m"}}, {{1000LL * i, double(i)}});
  // Each round cuts one aligned period; merging needs three blocks in a row.
  for (int round = 0; round < 8; ++round) ASSERT_TRUE(db_->Maintain().ok());
  Stats st = db_->GetStats(10);
  EXPECT_GE(st.num_blocks, 1u);
  auto got = Select({Eq("__name__", "m")});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].samples.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(got[0].samples[i].v, i);
  // Aligned 30 s windows: [0,30) and [30,60) each merged from three 10 s blocks.
  EXPECT_NE(registry_->Render().find("pharos_tsdb_blocks_merged_total 6"), std::string::npos)
      << registry_->Render();
  Open();
  EXPECT_EQ(Select({Eq("__name__", "m")})[0].samples.size(), 100u);

  // Retention by time: all these samples are from 1970, so a week's retention drops the blocks.
  options_.retention = std::chrono::hours(24 * 7);
  Open();
  ASSERT_TRUE(db_->Maintain().ok());
  EXPECT_EQ(db_->GetStats(10).num_blocks, 0u);
  auto rest = Select({Eq("__name__", "m")});
  ASSERT_EQ(rest.size(), 1u);  // what the head still held
  EXPECT_LT(rest[0].samples.size(), 100u);
}

// Retention reads the store's Env clock: current samples are kept until time moves past
// the retention, then their block goes, with no samples from 1970 needed.
TEST_F(DbTest, RetentionFollowsTheEnvClock) {
  const int64_t now = 1'800'000'000'000;
  testing::FaultEnv clock;
  clock.now_ms = now;
  options_.env = &clock;
  options_.retention = std::chrono::hours(24);
  Open();
  for (int i = 0; i < 60; ++i) {
    Append({{"__name__", "m"}}, {{now - 3'600'000 + i * 1000LL, double(i)}});
  }
  clock.now_ms = now + 2 * 3'600'000;  // the samples are now two hours old: cut them
  ASSERT_TRUE(db_->Flush().ok());
  ASSERT_TRUE(db_->Maintain().ok());
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);
  EXPECT_EQ(Select({Eq("__name__", "m")})[0].samples.size(), 60u);
  clock.now_ms = now + 23 * 3'600'000;  // within the day: kept
  ASSERT_TRUE(db_->Maintain().ok());
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);
  clock.now_ms = now + 26 * 3'600'000;  // past it: gone
  ASSERT_TRUE(db_->Maintain().ok());
  EXPECT_EQ(db_->GetStats(1).num_blocks, 0u);
  EXPECT_TRUE(Select({Eq("__name__", "m")}).empty());
  db_.reset();
  options_.env = DefaultEnv();
}

TEST_F(DbTest, RetentionBySize) {
  for (int b = 0; b < 3; ++b) {
    for (int i = 0; i < 50; ++i) {
      Append({{"__name__", "m"}, {"i", std::to_string(i)}}, {{b * 100000LL + i, double(i)}});
    }
    ASSERT_TRUE(db_->Flush().ok());
  }
  options_.retention = std::chrono::hours(0);
  options_.retention_bytes = db_->GetStats(1).blocks_bytes - 1;  // one byte too many
  Open();
  // Three blocks are also merge candidates; merging comes first and yields one block,
  // which alone is over the size and goes.
  ASSERT_TRUE(db_->Maintain().ok());
  EXPECT_LE(db_->GetStats(1).num_blocks, 1u);
}

TEST_F(DbTest, SeriesThatEndedLeaveTheHeadAfterACut) {
  options_.limits.max_series = 2;
  Open();
  Append({{"__name__", "old"}}, {{1000, 1}});
  Append({{"__name__", "old2"}}, {{1000, 1}});
  EXPECT_EQ(Append({{"__name__", "new"}}, {{2000, 1}}).series_rejected, 1u);  // at the limit
  ASSERT_TRUE(db_->Flush().ok());
  // Both series are in the block now and left the head: the limit counts active series.
  EXPECT_EQ(db_->GetStats(1).num_series, 0u);
  EXPECT_EQ(Append({{"__name__", "new"}}, {{3000, 1}}).series_created, 1u);
  // A series that comes back is created anew, and its history still reads from the block.
  EXPECT_EQ(Append({{"__name__", "old"}}, {{4000, 2}}).series_created, 1u);
  auto got = Select({Eq("__name__", "old")});
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].samples.size(), 2u);
  Open();
  EXPECT_EQ(Select({Eq("__name__", "old")})[0].samples.size(), 2u);
  EXPECT_EQ(Select({Eq("__name__", "new")})[0].samples.size(), 1u);
}

// Appends racing head cuts: every sample an append reported as accepted is there
// afterwards, from the blocks or the head, and again after a restart.
TEST_F(DbTest, AcceptedSamplesSurviveConcurrentCuts) {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, std::set<int64_t>> accepted;
  std::vector<std::thread> writers;
  for (int w = 0; w < 3; ++w) {
    writers.emplace_back([&, w] {
      for (int64_t t = 1; !stop && t < 100000; ++t) {
        std::string id = std::to_string(w) + "-" + std::to_string(t % 7);
        AppendResult r;
        std::vector<LabelView> labels = {{"__name__", "race"}, {"id", id}};
        std::vector<Sample> samples = {{t * 10 + w, double(t)}};
        SeriesInput in{labels, samples};
        ASSERT_TRUE(db_->Append(std::span<const SeriesInput>(&in, 1), r).ok());
        if (r.samples_accepted == 1) {
          std::lock_guard<std::mutex> lock(mu);
          accepted[id].insert(t * 10 + w);
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(db_->Flush().ok());
  }
  stop = true;
  for (auto& th : writers) th.join();
  auto verify = [&] {
    std::map<std::string, std::set<int64_t>> present;
    for (const SeriesData& s : Select({Eq("__name__", "race")})) {
      std::string id;
      for (const Label& l : s.labels) {
        if (l.name == "id") id = l.value;
      }
      for (const Sample& smp : s.samples) present[id].insert(smp.t);
    }
    size_t total = 0;
    for (const auto& [id, ts] : accepted) {
      for (int64_t t : ts) {
        ASSERT_TRUE(present[id].count(t)) << "lost accepted sample " << id << "@" << t;
        ++total;
      }
    }
    EXPECT_GT(total, 100u);
  };
  verify();
  EXPECT_GT(db_->GetStats(1).num_blocks, 1u);
  Open();
  verify();
}

}  // namespace
}  // namespace pharos::tsdb

namespace pharos::tsdb {
namespace {

TEST(ExemplarStoreTest, SelectsByMatchersAndTimeAndKeepsTheNewest) {
  ExemplarStore store(3);
  auto add = [&](std::string job, std::string trace, int64_t t) {
    std::vector<LabelView> series = {{"__name__", "latency_bucket"}, {"job", job}};
    model::ExemplarInput in{series, {{{"trace_id", trace}}, 0.25, t}};
    store.AppendExemplars(std::span<const model::ExemplarInput>(&in, 1));
  };
  add("api", "a1", 1000);
  add("web", "w1", 2000);
  add("api", "a2", 3000);
  std::vector<Matcher> api = {Matcher::Equal("job", "api")};
  auto got = store.Select(api, 0, 10'000);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].exemplars.size(), 2u);
  EXPECT_EQ(got[0].exemplars[0].labels[0].value, "a1");
  EXPECT_EQ(model::LabelValue(got[0].series, "job"), "api");
  EXPECT_EQ(store.Select(api, 2500, 10'000)[0].exemplars.size(), 1u);
  add("web", "w2", 4000);  // over capacity: the oldest (a1) goes
  got = store.Select(api, 0, 10'000);
  ASSERT_EQ(got[0].exemplars.size(), 1u);
  EXPECT_EQ(got[0].exemplars[0].labels[0].value, "a2");
  EXPECT_EQ(store.Select({}, 0, 10'000).size(), 2u);
}

}  // namespace
}  // namespace pharos::tsdb
