#include "wal/wal.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include "common/testing/fault_env.h"
#include "wal/wal_format.h"

namespace pharos::wal {
namespace {

using pharos::testing::FaultEnv;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pharos_wal_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(dir_);
    options_.dir = dir_;
    options_.env = &env_;
    options_.registry = &registry_;
  }
  void TearDown() override { (void)DefaultEnv()->RemoveAll(dir_); }

  std::unique_ptr<Wal> OpenCollect(std::vector<std::string>& out, ReplayReport* report = nullptr) {
    auto wal = Wal::Open(
        options_,
        [&](std::string_view r, const RecordPosition&) {
          out.emplace_back(r);
          return Status::Ok();
        },
        report);
    EXPECT_TRUE(wal.ok()) << wal.status().ToString();
    return wal.ok() ? std::move(wal).value() : nullptr;
  }

  std::string SegmentPath(uint64_t n) { return dir_ + "/" + SegmentName(n); }

  std::string dir_;
  FaultEnv env_;
  selfmon::Registry registry_;
  Options options_;
};

TEST_F(WalTest, AppendAndReplayInOrderAcrossSegments) {
  options_.segment_bytes = 256;
  std::vector<std::string> written;
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    EXPECT_TRUE(none.empty());
    for (int i = 0; i < 100; ++i) {
      written.push_back("record-" + std::to_string(i) +
                        std::string(static_cast<size_t>(i % 7), 'x'));
      ASSERT_TRUE(wal->Append(written.back()).ok());
    }
    EXPECT_GT(wal->Segments().size(), 5u);
    ASSERT_TRUE(wal->Close().ok());
  }
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  EXPECT_EQ(replayed, written);
  EXPECT_FALSE(report.repaired);
  EXPECT_EQ(report.records, 100u);
}

TEST_F(WalTest, TornTailIsTruncatedAndAppendsContinue) {
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("first").ok());
    ASSERT_TRUE(wal->Append("second").ok());
    ASSERT_TRUE(wal->Append("third-record").ok());
  }
  auto size = DefaultEnv()->ReadFile(SegmentPath(1))->size();
  ASSERT_TRUE(DefaultEnv()->Truncate(SegmentPath(1), size - 4).ok());  // tear the last record
  {
    std::vector<std::string> replayed;
    ReplayReport report;
    auto wal = OpenCollect(replayed, &report);
    EXPECT_EQ(replayed, (std::vector<std::string>{"first", "second"}));
    EXPECT_TRUE(report.repaired);
    EXPECT_NE(report.repair_reason.find("runs past the end"), std::string::npos)
        << report.repair_reason;
    ASSERT_TRUE(wal->Append("fourth").ok());
  }
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  EXPECT_EQ(replayed, (std::vector<std::string>{"first", "second", "fourth"}));
  EXPECT_FALSE(report.repaired);
  EXPECT_NE(registry_.Render().find("pharos_wal_repairs_total 1"), std::string::npos);
}

TEST_F(WalTest, BadCrcInMiddleSegmentDropsTheRest) {
  options_.segment_bytes = 64;
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    for (int i = 0; i < 12; ++i) ASSERT_TRUE(wal->Append("payload-" + std::to_string(i)).ok());
    ASSERT_GE(wal->Segments().size(), 4u);
  }
  // Flip a payload byte in segment 2.
  std::string seg2 = *DefaultEnv()->ReadFile(SegmentPath(2));
  seg2[kSegmentHeaderBytes + kRecordHeaderBytes + 1] ^= 0x5A;
  ASSERT_TRUE(DefaultEnv()->WriteFile(SegmentPath(2), seg2).ok());
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  EXPECT_TRUE(report.repaired);
  EXPECT_NE(report.repair_reason.find("checksum mismatch"), std::string::npos);
  EXPECT_NE(report.repair_reason.find("segment 00000002"), std::string::npos);
  // Everything before the damage survives; nothing after it is replayed.
  ASSERT_FALSE(replayed.empty());
  for (size_t i = 0; i < replayed.size(); ++i)
    EXPECT_EQ(replayed[i], "payload-" + std::to_string(i));
  EXPECT_LT(replayed.size(), 12u);
  EXPECT_EQ(wal->Segments(), (std::vector<uint64_t>{1, 2}));
  EXPECT_GT(report.dropped_bytes, 0u);
}

TEST_F(WalTest, GarbageAndZeroFilledTails) {
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("keep").ok());
  }
  std::string seg = *DefaultEnv()->ReadFile(SegmentPath(1));
  ASSERT_TRUE(DefaultEnv()->WriteFile(SegmentPath(1), seg + std::string(4096, '\0')).ok());
  {
    std::vector<std::string> replayed;
    ReplayReport report;
    auto wal = OpenCollect(replayed, &report);
    EXPECT_EQ(replayed, std::vector<std::string>{"keep"});
    EXPECT_NE(report.repair_reason.find("zero-length record"), std::string::npos);
  }
  seg = *DefaultEnv()->ReadFile(SegmentPath(1));
  ASSERT_TRUE(DefaultEnv()->WriteFile(SegmentPath(1), seg + "\x07\x00\x00\x00garbage!!").ok());
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  EXPECT_EQ(replayed, std::vector<std::string>{"keep"});
  EXPECT_TRUE(report.repaired);
}

TEST_F(WalTest, BadSegmentHeaderIsRepaired) {
  ASSERT_TRUE(DefaultEnv()->MakeDirs(dir_).ok());
  ASSERT_TRUE(DefaultEnv()->WriteFile(SegmentPath(1), "junkjunkjunk").ok());
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  EXPECT_TRUE(report.repaired);
  EXPECT_NE(report.repair_reason.find("bad segment magic"), std::string::npos);
  ASSERT_TRUE(wal->Append("after").ok());
  wal.reset();
  std::vector<std::string> again;
  auto reopened = OpenCollect(again);
  EXPECT_EQ(again, std::vector<std::string>{"after"});
}

TEST_F(WalTest, FsyncFailureFailsAppendsFromThenOn) {
  options_.sync = SyncPolicy::kAlways;
  std::vector<std::string> none;
  auto wal = OpenCollect(none);
  ASSERT_TRUE(wal->Append("ok").ok());
  env_.fail_sync = true;
  Status s = wal->Append("not durable");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("injected: fdatasync failed"), std::string::npos);
  env_.fail_sync = false;
  // Sticky: after a failed fsync the page cache cannot be trusted.
  EXPECT_EQ(wal->Append("later").code(), StatusCode::kUnavailable);
  EXPECT_NE(registry_.Render().find("pharos_wal_errors_total 1"), std::string::npos);
}

TEST_F(WalTest, TornWriteOnFullDiskIsCutOffAndWritingResumesOnceSpaceReturns) {
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("durable").ok());
    env_.append_budget = 5;  // the next write reaches the file only in part
    EXPECT_EQ(wal->Append("this one is torn").code(), StatusCode::kUnavailable);
    // Still full: refused, and no retry sooner than a second after the last.
    env_.append_budget = 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_EQ(wal->Append("still full").code(), StatusCode::kUnavailable);
    env_.append_budget = -1;  // space is back
    EXPECT_EQ(wal->Append("too soon").code(), StatusCode::kUnavailable);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_TRUE(wal->Append("resumed").ok());
    EXPECT_NE(registry_.Render().find("pharos_wal_write_retries_total 2"), std::string::npos);
  }
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = OpenCollect(replayed, &report);
  // The torn part was cut off when the write failed: nothing to repair, nothing lost.
  EXPECT_EQ(replayed, (std::vector<std::string>{"durable", "resumed"}));
  EXPECT_FALSE(report.repaired) << report.repair_reason;
  EXPECT_TRUE(wal->Append("again").ok());
}

TEST_F(WalTest, IntervalSyncHappensInBackground) {
  options_.sync_interval = std::chrono::milliseconds(20);
  std::vector<std::string> none;
  auto wal = OpenCollect(none);
  ASSERT_TRUE(wal->Append("x").ok());
  // Nothing else syncs here, so the counter moves only through the background thread.
  double fsyncs = 0;
  for (int i = 0; i < 200 && fsyncs == 0; ++i) {
    std::string text = registry_.Render();
    size_t at = text.find("\npharos_wal_fsyncs_total ");
    ASSERT_NE(at, std::string::npos);
    fsyncs = std::stod(text.substr(at + 25));
    if (fsyncs == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GE(fsyncs, 1);
}

TEST_F(WalTest, ConcurrentAppendsAreAllDurableOnce) {
  std::set<std::string> expected;
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 500; ++i) {
          std::string a = "t" + std::to_string(t) + "-" + std::to_string(i) + "a";
          std::string b = "t" + std::to_string(t) + "-" + std::to_string(i) + "b";
          std::string_view batch[] = {a, b};
          ASSERT_TRUE(wal->AppendBatch(batch).ok());
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 8; ++t) {
      for (int i = 0; i < 500; ++i) {
        expected.insert("t" + std::to_string(t) + "-" + std::to_string(i) + "a");
        expected.insert("t" + std::to_string(t) + "-" + std::to_string(i) + "b");
      }
    }
  }
  std::vector<std::string> replayed;
  auto wal = OpenCollect(replayed);
  EXPECT_EQ(replayed.size(), expected.size());
  EXPECT_EQ(std::set<std::string>(replayed.begin(), replayed.end()), expected);
  // A batch stays together and in order.
  for (size_t i = 0; i + 1 < replayed.size(); ++i) {
    if (replayed[i].back() == 'a') {
      EXPECT_EQ(replayed[i + 1], replayed[i].substr(0, replayed[i].size() - 1) + "b");
    }
  }
}

TEST_F(WalTest, RollAndRemoveOldSegments) {
  std::vector<std::string> none;
  auto wal = OpenCollect(none);
  ASSERT_TRUE(wal->Append("in-1").ok());
  auto two = wal->Roll();
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, 2u);
  ASSERT_TRUE(wal->Append("in-2").ok());
  ASSERT_TRUE(wal->RemoveSegmentsBefore(2).ok());
  EXPECT_EQ(wal->Segments(), std::vector<uint64_t>{2});
  // The segment being written is never removed.
  ASSERT_TRUE(wal->RemoveSegmentsBefore(100).ok());
  EXPECT_EQ(wal->Segments(), std::vector<uint64_t>{2});
  wal.reset();
  std::vector<std::string> replayed;
  auto reopened = OpenCollect(replayed);
  EXPECT_EQ(replayed, std::vector<std::string>{"in-2"});
}

TEST_F(WalTest, RejectsOversizedAndEmptyRecords) {
  options_.max_record_bytes = 16;
  std::vector<std::string> none;
  auto wal = OpenCollect(none);
  EXPECT_EQ(wal->Append(std::string(17, 'x')).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(wal->Append("").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(wal->Append(std::string(16, 'x')).ok());
}

TEST_F(WalTest, ReplayErrorFailsOpen) {
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("bad").ok());
  }
  auto wal = Wal::Open(
      options_, [](std::string_view, const RecordPosition&) { return DataLoss("cannot decode"); },
      nullptr);
  ASSERT_FALSE(wal.ok());
  // The message names the file and the offset of the record, for the operator's repair.
  EXPECT_NE(wal.status().message().find("segment 00000001 offset 8: cannot decode"),
            std::string::npos)
      << wal.status().message();
}

TEST_F(WalTest, TruncateAtBadRecordCutsThereAndReportsWhatIsDropped) {
  {
    std::vector<std::string> none;
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("good").ok());
    ASSERT_TRUE(wal->Append("bad").ok());
    ASSERT_TRUE(wal->Append("after").ok());
  }
  options_.truncate_at_bad_record = true;
  std::vector<std::string> replayed;
  ReplayReport report;
  auto wal = Wal::Open(
      options_,
      [&](std::string_view r, const RecordPosition&) {
        if (r == "bad") return DataLoss("cannot decode");
        replayed.emplace_back(r);
        return Status::Ok();
      },
      &report);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  EXPECT_EQ(replayed, std::vector<std::string>{"good"});
  EXPECT_TRUE(report.repaired);
  EXPECT_NE(report.repair_reason.find("segment 00000001 offset 20"), std::string::npos)
      << report.repair_reason;
  EXPECT_NE(report.repair_reason.find("cannot decode"), std::string::npos);
  EXPECT_EQ(report.dropped_bytes, 8u + 3 + 8 + 5);
  ASSERT_TRUE((*wal)->Append("new").ok());
  wal->reset();
  options_.truncate_at_bad_record = false;
  std::vector<std::string> again;
  auto reopened = OpenCollect(again);
  EXPECT_EQ(again, (std::vector<std::string>{"good", "new"}));
}

TEST_F(WalTest, CheckpointKeepsWhatTheFilterKeepsAndReplaysFirst) {
  options_.segment_bytes = 64;
  std::vector<std::string> none;
  auto wal = OpenCollect(none);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(wal->Append("old-" + std::to_string(i)).ok());
  auto next = wal->Roll();
  ASSERT_TRUE(next.ok());
  ASSERT_TRUE(wal->Append("new-0").ok());
  // Keep the even records, rewritten.
  auto report = wal->Checkpoint(*next, [](std::string_view r, std::string& kept) -> Result<bool> {
    if ((r.back() - '0') % 2 != 0) return false;
    kept = "kept-" + std::string(r);
    return true;
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->records_read, 10u);
  EXPECT_EQ(report->records_kept, 5u);
  EXPECT_EQ(wal->Segments(), std::vector<uint64_t>{*next});
  EXPECT_TRUE(DefaultEnv()->Exists(dir_ + "/" + CheckpointName(*next)));
  ASSERT_TRUE(wal->Append("new-1").ok());
  // A second checkpoint reads the first one, and replaces it.
  auto third = wal->Roll();
  ASSERT_TRUE(third.ok());
  ASSERT_TRUE(wal->Checkpoint(*third,
                              [](std::string_view r, std::string& kept) -> Result<bool> {
                                if (r == "kept-old-0") return false;
                                kept = std::string(r);
                                return true;
                              })
                  .ok());
  EXPECT_FALSE(DefaultEnv()->Exists(dir_ + "/" + CheckpointName(*next)));
  wal.reset();
  std::vector<std::string> replayed;
  auto reopened = OpenCollect(replayed);
  EXPECT_EQ(replayed, (std::vector<std::string>{"kept-old-2", "kept-old-4", "kept-old-6",
                                                "kept-old-8", "new-0", "new-1"}));
}

TEST_F(WalTest, InterruptedCheckpointLeavesTheOldStateOrTheNew) {
  std::vector<std::string> none;
  {
    auto wal = OpenCollect(none);
    ASSERT_TRUE(wal->Append("a").ok());
    ASSERT_TRUE(wal->Roll().ok());
    ASSERT_TRUE(wal->Append("b").ok());
  }
  // A checkpoint being written when the process died: ignored and removed.
  ASSERT_TRUE(DefaultEnv()->WriteFile(dir_ + "/" + CheckpointName(2) + ".tmp", "partial").ok());
  {
    std::vector<std::string> replayed;
    auto wal = OpenCollect(replayed);
    EXPECT_EQ(replayed, (std::vector<std::string>{"a", "b"}));
    EXPECT_FALSE(DefaultEnv()->Exists(dir_ + "/" + CheckpointName(2) + ".tmp"));
    // Renamed into place, but the crash came before the segments it covers were removed.
    auto cp = wal->Checkpoint(2, [](std::string_view r, std::string& kept) -> Result<bool> {
      kept = std::string(r);
      return true;
    });
    ASSERT_TRUE(cp.ok());
  }
  std::string cp_data = *DefaultEnv()->ReadFile(dir_ + "/" + CheckpointName(2));
  ASSERT_TRUE(DefaultEnv()->WriteFile(SegmentPath(1), cp_data).ok());  // a leftover segment
  std::vector<std::string> replayed;
  auto wal = OpenCollect(replayed);
  EXPECT_EQ(replayed, (std::vector<std::string>{"a", "b"}));  // each once
  EXPECT_FALSE(DefaultEnv()->Exists(SegmentPath(1)));
}

}  // namespace
}  // namespace pharos::wal
