// Durability and availability of the TSDB under faults: writes during cuts, clocks far
// ahead, bad series, damaged WAL records, interrupted merges, and a crash or a failed
// fsync after every file-system call of a cut and of a merge.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <set>
#include <thread>

#include "common/testing/fault_env.h"
#include "tsdb/block.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal_records.h"
#include "wal/wal.h"

namespace pharos::tsdb {
namespace {

constexpr int64_t kMinute = 60'000;
constexpr int64_t kNow = 1'800'000'000'000;  // the fixture's clock, ms

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = ::testing::TempDir() + "pharos_tsdb_dur_" + std::to_string(::getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    options_.maintenance_interval = std::chrono::hours(24);  // only explicit rounds
    options_.wal_sync_interval = std::chrono::hours(1);      // no background syncs
    now_ = kNow;
    options_.env = &env_;
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
  std::vector<Sample> SamplesOf(const std::string& name) {
    auto q = db_->Query(INT64_MIN, INT64_MAX);
    auto r = q->Select(std::vector<Matcher>{*Matcher::Make(MatchType::kEqual, "__name__", name)});
    EXPECT_TRUE(r.ok());
    if (!r.ok() || r->empty()) return {};
    EXPECT_EQ(r->size(), 1u);
    return (*r)[0].samples;
  }
  std::string Metrics() { return registry_->Render(); }
  // Appends raw records to the store's WAL, as if the TSDB had written them (db_ closed).
  void AppendToWal(const std::vector<std::string>& records) {
    db_.reset();
    wal::Options wo;
    wo.dir = options_.dir + "/wal";
    auto w = wal::Wal::Open(
        wo, [](std::string_view, const wal::RecordPosition&) { return Status::Ok(); }, nullptr);
    ASSERT_TRUE(w.ok());
    for (const std::string& r : records) ASSERT_TRUE((*w)->Append(r).ok());
  }

  testing::FaultEnv env_;  // the real file system, with the fixture's clock
  std::atomic<int64_t>& now_ = env_.now_ms;
  Options options_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Db> db_;
};

// Defect: samples written while a cut was checkpointing came before the checkpoint's series
// record in the WAL; replay held them back and applied them after newer samples, and those
// more than the out-of-order window behind were dropped without a word.
TEST_F(DurabilityTest, SampleWrittenDuringACutSurvivesANewerOneElevenMinutesLater) {
  int64_t t0 = kNow - 60 * kMinute;
  Append({{"__name__", "x"}}, {{t0, 1}});
  for (int i = 0; i < 50; ++i) Append({{"__name__", "other"}, {"i", std::to_string(i)}}, {{t0, 1}});
  options_.on_step = [&](MaintenanceStep step) {
    if (step == MaintenanceStep::kCutWalRolled) {
      EXPECT_EQ(Append({{"__name__", "x"}}, {{t0 + 1000, 2}}).samples_accepted, 1u);
    }
  };
  Open();
  ASSERT_TRUE(db_->Flush().ok());
  options_.on_step = nullptr;
  EXPECT_EQ(Append({{"__name__", "x"}}, {{t0 + 1000 + 11 * kMinute, 3}}).samples_accepted, 1u);
  auto expected = std::vector<int64_t>{t0, t0 + 1000, t0 + 1000 + 11 * kMinute};
  auto times = [&] {
    std::vector<int64_t> out;
    for (const Sample& s : SamplesOf("x")) out.push_back(s.t);
    return out;
  };
  EXPECT_EQ(times(), expected);
  Open();  // the WAL as a kill -9 leaves it
  EXPECT_EQ(times(), expected);
  EXPECT_NE(
      Metrics().find("pharos_tsdb_wal_replay_unapplied_samples_total{reason=\"unknown_series\"} 0"),
      std::string::npos);
}

// Whatever the order of records in the WAL, replay applies every sample it holds: here a
// samples record that precedes its series record and a newer sample 11 minutes on.
TEST_F(DurabilityTest, ReplayAppliesSamplesWhateverTheRecordOrder) {
  std::string samples, series, later;
  BeginSamplesRecord(samples, kNow);
  EncodeSample(RefSample{7, kNow - 20 * kMinute, 1}, kNow, samples);
  BeginSeriesRecord(series);
  std::vector<LabelView> labels = {{"__name__", "late"}};
  EncodeSeries(7, labels, series);
  BeginSamplesRecord(later, kNow);
  EncodeSample(RefSample{7, kNow, 2}, kNow, later);
  EncodeSample(RefSample{9, kNow, 2}, kNow, later);  // a series no record defines
  AppendToWal({samples, series, later});
  Open();
  auto got = SamplesOf("late");
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].t, kNow - 20 * kMinute);
  EXPECT_EQ(got[1].t, kNow);
  EXPECT_NE(
      Metrics().find("pharos_tsdb_wal_replay_unapplied_samples_total{reason=\"unknown_series\"} 1"),
      std::string::npos);
}

// Found by the crash harness: a query made just before a cut published its block, reading
// the head after the cut dropped those samples, saw them in neither.
TEST_F(DurabilityTest, AQueryRacingACutSeesEverySample) {
  for (int i = 0; i < 20; ++i) {
    Append({{"__name__", "q"}}, {{kNow - 60 * kMinute + i * 1000, double(i)}});
  }
  std::thread reader;
  size_t seen = 0;
  options_.on_step = [&](MaintenanceStep step) {
    if (step != MaintenanceStep::kCutWalRolled) return;
    std::shared_ptr<Querier> q = db_->Query(INT64_MIN, INT64_MAX);  // before the block is out
    reader = std::thread([q, &seen] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the cut goes on meanwhile
      auto r = q->Select(std::vector<Matcher>{*Matcher::Make(MatchType::kEqual, "__name__", "q")});
      if (r.ok() && !r->empty()) seen = (*r)[0].samples.size();
    });
  };
  Open();
  ASSERT_TRUE(db_->Flush().ok());
  reader.join();
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);
  EXPECT_EQ(seen, 20u);
  EXPECT_EQ(SamplesOf("q").size(), 20u);
}

// The same labels under two refs in the WAL (a series that left the head and came back
// under a new ref while an old record of it remained): replay joins them, and the next
// checkpoint keeps the samples of both refs.
TEST_F(DurabilityTest, SamplesUnderAnAliasedRefSurviveACheckpoint) {
  std::vector<LabelView> a = {{"__name__", "a"}};
  std::vector<LabelView> old = {{"__name__", "old"}};
  std::string s1, s5, s9, x1, x5, x9;
  BeginSeriesRecord(s1);
  EncodeSeries(1, a, s1);
  BeginSeriesRecord(s5);
  EncodeSeries(5, a, s5);
  BeginSeriesRecord(s9);
  EncodeSeries(9, old, s9);
  BeginSamplesRecord(x1, kNow);
  EncodeSample(RefSample{1, kNow - 5 * kMinute, 1}, kNow, x1);
  BeginSamplesRecord(x5, kNow);
  EncodeSample(RefSample{5, kNow - 4 * kMinute, 2}, kNow, x5);
  BeginSamplesRecord(x9, kNow);
  EncodeSample(RefSample{9, kNow - 60 * kMinute, 3}, kNow, x9);
  AppendToWal({s1, x1, s5, x5, s9, x9});
  Open();
  ASSERT_EQ(SamplesOf("a").size(), 2u);
  ASSERT_TRUE(db_->Flush().ok());  // cuts "old" into a block and checkpoints the WAL
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);
  Open();
  EXPECT_EQ(SamplesOf("a").size(), 2u);
  Open();  // and once more, from the checkpoint alone
  EXPECT_EQ(SamplesOf("a").size(), 2u);
  EXPECT_EQ(SamplesOf("old").size(), 1u);
}

// Defect: one sample about 3 h ahead moved the head's minimum time past now at the next
// cut, and every current write was refused from then on, for every client.
TEST_F(DurabilityTest, SamplesFarAheadOfTheClockAreRefusedAndNeverStopIngestion) {
  for (int64_t t : std::vector<int64_t>{
           kNow + 3 * 60 * kMinute, kNow + int64_t{1000} * 365 * 24 * 60 * kMinute, INT64_MAX}) {
    AppendResult r = Append({{"__name__", "skewed"}}, {{t, 1}});
    EXPECT_EQ(r.samples_rejected, 1u);
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_NE(r.errors[0].find("too far in the future"), std::string::npos) << r.errors[0];
    EXPECT_NE(r.errors[0].find("skewed"), std::string::npos);
  }
  EXPECT_NE(Metrics().find("pharos_tsdb_rejected_samples_total{reason=\"too_far_in_future\"} 3"),
            std::string::npos);
  // Inside the limit: accepted.
  EXPECT_EQ(Append({{"__name__", "skewed"}}, {{kNow + 5 * kMinute, 1}}).samples_accepted, 1u);

  // A head that already holds such a sample (written before this limit existed) must not
  // stop ingestion either, across restarts and any number of maintenance rounds.
  options_.future_limit = Duration::max();
  Open();
  EXPECT_EQ(Append({{"__name__", "poison"}}, {{int64_t{INT64_MAX} - 1, 1}}).samples_accepted, 1u);
  options_.future_limit = std::chrono::minutes(10);
  for (int restart = 0; restart < 2; ++restart) {
    Open();
    for (int round = 0; round < 20; ++round) ASSERT_TRUE(db_->Maintain().ok());
    EXPECT_LE(db_->GetStats(1).min_append_time, kNow - 10 * kMinute);
    AppendResult r = Append({{"__name__", "fresh"}, {"r", std::to_string(restart)}}, {{kNow, 1}});
    EXPECT_EQ(r.samples_accepted, 1u) << (r.errors.empty() ? "" : r.errors[0]);
    EXPECT_EQ(
        Append({{"__name__", "skewed"}}, {{kNow + 6 * kMinute + restart, 2}}).samples_accepted, 1u);
  }
}

// Defect: after a flush every sample older than the newest in the head was refused as
// "out of order", lagging series and new series alike.
TEST_F(DurabilityTest, AfterAFlushSamplesInsideTheWindowOfNowAreAccepted) {
  Append({{"__name__", "ahead"}}, {{kNow, 1}});
  Append({{"__name__", "lagging"}}, {{kNow - 8 * kMinute, 1}});
  Append({{"__name__", "old"}}, {{kNow - 40 * kMinute, 1}});
  ASSERT_TRUE(db_->Flush().ok());
  EXPECT_EQ(db_->GetStats(1).num_blocks, 1u);  // what is older than now minus the window
  EXPECT_EQ(db_->GetStats(1).min_append_time, kNow - 10 * kMinute);
  EXPECT_EQ(Append({{"__name__", "lagging"}}, {{kNow - 5 * kMinute, 2}}).samples_accepted, 1u);
  EXPECT_EQ(Append({{"__name__", "new"}}, {{kNow - 9 * kMinute, 2}}).samples_accepted, 1u);
  // Older than the head's minimum time: refused, and the message says so.
  AppendResult r = Append({{"__name__", "old"}}, {{kNow - 30 * kMinute, 2}});
  EXPECT_EQ(r.samples_rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("too old"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("before the head's minimum time"), std::string::npos);
  EXPECT_NE(Metrics().find("pharos_tsdb_rejected_samples_total{reason=\"too_old\"} 1"),
            std::string::npos);
  // Out of order within one series beyond the window: still named so.
  AppendResult ooo = Append({{"__name__", "ahead"}}, {{kNow - 9 * kMinute - 60'001, 3}});
  EXPECT_EQ(ooo.samples_rejected, 1u);
  EXPECT_NE(ooo.errors[0].find("too old"), std::string::npos) << ooo.errors[0];
  now_ += 60 * kMinute;
  Append({{"__name__", "ahead"}}, {{now_, 3}});
  AppendResult beyond = Append({{"__name__", "ahead"}}, {{now_ - 11 * kMinute, 3}});
  ASSERT_EQ(beyond.errors.size(), 1u);
  EXPECT_NE(beyond.errors[0].find("out of order"), std::string::npos) << beyond.errors[0];
  EXPECT_NE(beyond.errors[0].find("10m"), std::string::npos) << beyond.errors[0];
}

TEST_F(DurabilityTest, SeriesWithoutLabelsOrMetricNameAreRefused) {
  AppendResult none = Append({}, {{kNow, 1}});
  EXPECT_EQ(none.series_rejected, 1u);
  EXPECT_NE(none.errors[0].find("no labels"), std::string::npos);
  AppendResult empty_only = Append({{"job", ""}}, {{kNow, 1}});  // empty value = no label
  EXPECT_EQ(empty_only.series_rejected, 1u);
  AppendResult nameless = Append({{"job", "api"}}, {{kNow, 1}});
  EXPECT_EQ(nameless.series_rejected, 1u);
  EXPECT_NE(nameless.errors[0].find("no metric name"), std::string::npos);
  EXPECT_NE(nameless.errors[0].find("job=\"api\""), std::string::npos);
  std::string m = Metrics();
  EXPECT_NE(m.find("pharos_tsdb_rejected_series_total{reason=\"no_labels\"} 2"), std::string::npos);
  EXPECT_NE(m.find("pharos_tsdb_rejected_series_total{reason=\"missing_metric_name\"} 1"),
            std::string::npos);
}

// Defect: a too-many-labels error repeated the whole label set (16 MB for 1 M labels).
TEST_F(DurabilityTest, ErrorsAboutHugeSeriesStaySmall) {
  std::vector<std::string> names;
  for (int i = 0; i < 1'000'000; ++i) names.push_back("l" + std::to_string(i));
  std::vector<LabelView> labels;
  for (const std::string& n : names) labels.push_back({n, "value"});
  AppendResult r = Append(labels, {{kNow, 1}});
  EXPECT_EQ(r.series_rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_LT(r.errors[0].size(), 1024u);
  EXPECT_NE(r.errors[0].find("more labels"), std::string::npos) << r.errors[0];
  std::string long_value(100'000, 'v');
  AppendResult v = Append({{"__name__", "m"}, {"big", long_value}}, {{kNow, 1}});
  ASSERT_EQ(v.errors.size(), 1u);
  EXPECT_LT(v.errors[0].size(), 2048u);
}

// Defect: a WAL record with a valid checksum but an undecodable body stopped start-up
// without naming where it was, and nothing could repair it.
TEST_F(DurabilityTest, UndecodableWalRecordIsNamedAndCanBeTruncatedOnRequest) {
  Append({{"__name__", "kept"}}, {{kNow, 1}});
  AppendToWal({std::string("\x02\xff", 2),  // a samples record, cut short
               std::string("\x09zz", 3)});  // an unknown type
  selfmon::Registry registry;
  auto failed = Db::Open(options_, registry);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("segment 00000001 offset"), std::string::npos)
      << failed.status().message();
  EXPECT_NE(failed.status().message().find("bad samples record"), std::string::npos);
  options_.wal_truncate_at_bad_record = true;
  Open();
  EXPECT_EQ(SamplesOf("kept").size(), 1u);
  options_.wal_truncate_at_bad_record = false;
  Open();  // repaired for good
  EXPECT_EQ(SamplesOf("kept").size(), 1u);
}

// Blocks as a merge interrupted after its output was renamed into place leaves them.
TEST_F(DurabilityTest, InputsOfAnInterruptedMergeAreRemovedAtStart) {
  options_.block_duration = std::chrono::seconds(10);
  options_.retention = std::chrono::hours(0);
  Open();
  for (int i = 0; i < 60; ++i) Append({{"__name__", "m"}}, {{1000LL * i, double(i)}});
  std::vector<std::string> copies;
  std::string blocks = options_.dir + "/blocks";
  options_.on_step = [&](MaintenanceStep step) {
    if (step != MaintenanceStep::kMergeWritten) return;
    // Keep a copy of the inputs as they were before the merge deletes them.
    auto names = DefaultEnv()->ListDir(blocks);
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) {
      if (name.ends_with("-1")) copies.push_back(name);
    }
    for (const std::string& name : copies) {
      std::string from = blocks + "/" + name;
      ASSERT_EQ(::system(("cp -r " + from + " " + from + ".keep").c_str()), 0);
    }
  };
  Open();
  for (int round = 0; round < 6 && copies.empty(); ++round) ASSERT_TRUE(db_->Maintain().ok());
  ASSERT_EQ(copies.size(), 3u);
  db_.reset();
  for (const std::string& name : copies) {
    std::string path = blocks + "/" + name;
    ASSERT_TRUE(DefaultEnv()->Rename(path + ".keep", path).ok());
  }
  options_.on_step = nullptr;
  Open();
  EXPECT_NE(Metrics().find("pharos_tsdb_leftover_blocks_removed_total 3"), std::string::npos);
  auto got = SamplesOf("m");
  ASSERT_EQ(got.size(), 60u);
  for (int i = 0; i < 60; ++i) EXPECT_EQ(got[i].v, i);
}

// ---- a crash or a failed fsync after every file-system call of a cut and a merge ----

struct Ledger {
  std::map<std::string, std::map<int64_t, double>> acked;  // series -> t -> value
};

class FaultInjectionTest : public DurabilityTest {
 public:
  void OpenFaulty() {
    fault_.Reset();
    options_.env = &fault_;
    Open();
  }
  // Appends `n` samples per series for 12 series from t, recording what was acknowledged.
  void Write(int64_t t, int n, Ledger& ledger) {
    for (int k = 0; k < n; ++k) {
      for (int i = 0; i < 12; ++i) {
        std::string id = std::to_string(i);
        std::vector<LabelView> labels = {{"__name__", "f"}, {"id", id}};
        std::vector<Sample> samples = {{t + k * 1000, double(t + k * 1000 + i)}};
        SeriesInput in{labels, samples};
        AppendResult r;
        if (db_->Append(std::span<const SeriesInput>(&in, 1), r).ok() && r.samples_accepted == 1) {
          ledger.acked[id][samples[0].t] = samples[0].v;
        }
      }
    }
  }
  // Reopens on the real file system and compares with the ledger: nothing acknowledged
  // lost or changed, blocks disjoint and each sample stored once.
  void Verify(const Ledger& ledger, const std::string& what) {
    db_.reset();
    options_.env = &env_;
    Open();
    auto q = db_->Query(INT64_MIN, INT64_MAX);
    auto r = q->Select(std::vector<Matcher>{*Matcher::Make(MatchType::kEqual, "__name__", "f")});
    ASSERT_TRUE(r.ok());
    std::map<std::string, std::map<int64_t, double>> present;
    for (const SeriesData& s : *r) {
      std::string id(LabelValue(s.labels, "id"));
      for (const Sample& smp : s.samples) present[id][smp.t] = smp.v;
    }
    for (const auto& [id, samples] : ledger.acked) {
      for (const auto& [t, v] : samples) {
        auto it = present[id].find(t);
        ASSERT_NE(it, present[id].end()) << what << ": lost " << id << "@" << t;
        ASSERT_EQ(it->second, v) << what << ": changed " << id << "@" << t;
      }
    }
    // Stored once: blocks do not overlap, and the head starts after the newest block.
    std::vector<std::pair<int64_t, int64_t>> ranges;
    auto names = DefaultEnv()->ListDir(options_.dir + "/blocks");
    ASSERT_TRUE(names.ok());
    for (const std::string& name : *names) {
      auto b = Block::Open(DefaultEnv(), options_.dir + "/blocks/" + name);
      ASSERT_TRUE(b.ok()) << what << ": " << b.status().ToString();
      ranges.push_back({(*b)->meta().min_t, (*b)->meta().max_t});
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      ASSERT_GT(ranges[i].first, ranges[i - 1].second) << what << ": overlapping blocks";
    }
    uint64_t stored = db_->GetStats(1).blocks_samples;
    for (const auto& [id, samples] : present) {
      for (const auto& [t, v] : samples) {
        if (ranges.empty() || t > ranges.back().second) ++stored;
      }
    }
    uint64_t distinct = 0;
    for (const auto& [id, samples] : present) distinct += samples.size();
    ASSERT_EQ(stored, distinct) << what << ": a sample is stored twice";
  }

  testing::FaultEnv fault_{&env_};  // faults over the fixture's clock
};

// Counts the mutating calls `action` makes, then repeats it with a crash after each of
// them (and with each of its fsyncs failing), checking the reopened store every time.
template <typename Setup, typename Action>
void EveryStep(FaultInjectionTest& test, testing::FaultEnv& fault, Setup setup, Action action,
               const std::string& name) {
  int64_t calls = 0, syncs = 0;
  {
    Ledger ledger;
    setup(ledger);
    fault.Reset();
    action(ledger);
    calls = fault.mutating_calls;
    syncs = fault.sync_calls;
    test.Verify(ledger, name + " without faults");
  }
  ASSERT_GT(calls, 5) << name;
  for (int64_t k = 0; k <= calls; ++k) {
    Ledger ledger;
    setup(ledger);
    fault.Reset();
    fault.crash_after = k;
    action(ledger);
    test.Verify(ledger, name + ": crash after call " + std::to_string(k));
  }
  for (int64_t k = 1; k <= syncs; ++k) {
    Ledger ledger;
    setup(ledger);
    fault.Reset();
    fault.fail_sync_at = k;
    action(ledger);
    test.Verify(ledger, name + ": fsync " + std::to_string(k) + " fails");
  }
}

TEST_F(FaultInjectionTest, CutSurvivesACrashOrAFailedFsyncAfterEveryCall) {
  auto setup = [&](Ledger& ledger) {
    db_.reset();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    OpenFaulty();
    Write(kNow - 50 * kMinute, 3, ledger);
    Write(kNow - 2 * kMinute, 2, ledger);
  };
  auto cut = [&](Ledger& ledger) {
    (void)db_->Flush();
    Write(kNow - kMinute, 2, ledger);  // after the cut, or its failure
  };
  EveryStep(*this, fault_, setup, cut, "cut");
}

TEST_F(FaultInjectionTest, SecondCutAndCheckpointSurviveACrashAfterEveryCall) {
  auto setup = [&](Ledger& ledger) {
    db_.reset();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    OpenFaulty();
    Write(kNow - 90 * kMinute, 2, ledger);
    now_ = kNow - 60 * kMinute;
    ASSERT_TRUE(db_->Flush().ok());  // a first checkpoint, which the second one reads
    now_ = kNow;
    Write(kNow - 50 * kMinute, 2, ledger);
    Write(kNow - 3 * kMinute, 2, ledger);
  };
  auto cut = [&](Ledger& ledger) {
    (void)db_->Flush();
    Write(kNow - 2 * kMinute, 1, ledger);
  };
  EveryStep(*this, fault_, setup, cut, "second cut");
}

TEST_F(FaultInjectionTest, MergeSurvivesACrashOrAFailedFsyncAfterEveryCall) {
  options_.block_duration = std::chrono::seconds(10);
  options_.retention = std::chrono::hours(0);
  auto setup = [&](Ledger& ledger) {
    db_.reset();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    options_.env = &env_;
    Open();
    // Three aligned 10 s blocks in one 30 s window, then the head.
    for (int b = 0; b < 3; ++b) {
      Write(b * 10'000, 10, ledger);
      now_ = (b + 1) * 10'000 + 10 * kMinute;
      ASSERT_TRUE(db_->Flush().ok());
    }
    now_ = kNow;
    Write(40'000, 5, ledger);
    db_.reset();
    OpenFaulty();
  };
  auto merge = [&](Ledger& ledger) {
    (void)db_->Maintain();
    Write(50'000, 2, ledger);
  };
  EveryStep(*this, fault_, setup, merge, "merge");
}

}  // namespace
}  // namespace pharos::tsdb
