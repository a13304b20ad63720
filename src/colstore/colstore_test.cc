// The column store: appends, scans, cuts, recovery, retention, limits, and kill -9.
#include "colstore/colstore.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "colstore/gram_filter.h"
#include "common/testing/fault_env.h"

namespace pharos::colstore {
namespace {

class ColstoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("colstore_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    options_.dir = dir_;
    options_.maintenance_interval = Duration(0);
    options_.env = &env_;
    // Rows here carry small times (nanoseconds after 1970): keep them from retention.
    options_.retention = std::chrono::hours(24 * 365 * 100);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Open() {
    store_.reset();
    registry_ = std::make_unique<selfmon::Registry>();
    Result<std::unique_ptr<Store>> s = Store::Open(options_, *registry_);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }

  // Appends one record per (time, body) to stream {app=`app`}.
  AppendResult Write(std::string app, std::vector<std::pair<int64_t, std::string>> lines,
                     std::string level = "info") {
    std::vector<model::LabelView> labels = {{"app", app}};
    std::vector<std::vector<Column>> cols;
    for (const auto& [t, body] : lines)
      cols.push_back({{"body", Value::String(body)}, {"level", Value::String(level)}});
    std::vector<RecordInput> records;
    for (size_t i = 0; i < lines.size(); ++i) records.push_back({lines[i].first, cols[i]});
    StreamInput in{labels, records};
    AppendResult result;
    Status s = store_->Append(std::span<const StreamInput>(&in, 1), result);
    EXPECT_TRUE(s.ok()) << s.message();
    return result;
  }

  // "app:time:body" per row, in scan order.
  std::vector<std::string> Rows(const ScanPlan& plan, ScanStats* stats = nullptr) {
    std::vector<std::string> out;
    Result<ScanStats> r = store_->Scan(plan, [&](const Row& row) {
      std::string body;
      for (const Column& c : row.columns)
        if (c.name == "body") body = std::string(c.value.s);
      out.push_back(std::string(model::LabelValue(*row.stream, "app")) + ":" +
                    std::to_string(row.time_ns) + ":" + body);
      return true;
    });
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (stats && r.ok()) *stats = *r;
    return out;
  }

  std::filesystem::path dir_;
  testing::FaultEnv env_;
  Options options_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Store> store_;
};

ScanPlan App(const std::string& app) {
  ScanPlan p;
  p.streams.push_back(*model::Matcher::Make(model::MatchType::kEqual, "app", app));
  return p;
}

TEST_F(ColstoreTest, ScansMergeHeadAndSegmentsInTimeOrder) {
  Open();
  Write("api", {{10, "a10"}, {30, "a30"}});
  Write("web", {{20, "w20"}});
  ASSERT_TRUE(store_->Flush().ok());
  Write("api", {{25, "a25"}, {5, "a5"}});  // older than what was cut: still merged in order
  Write("web", {{30, "w30"}});
  ScanPlan all;
  EXPECT_EQ(Rows(all), (std::vector<std::string>{"api:5:a5", "api:10:a10", "web:20:w20",
                                                 "api:25:a25", "api:30:a30", "web:30:w30"}));
  all.backward = true;
  all.limit = 3;
  EXPECT_EQ(Rows(all), (std::vector<std::string>{"web:30:w30", "api:30:a30", "api:25:a25"}));
  ScanPlan api = App("api");
  api.mint_ns = 6;
  api.maxt_ns = 29;
  EXPECT_EQ(Rows(api), (std::vector<std::string>{"api:10:a10", "api:25:a25"}));
  EXPECT_EQ(store_->GetStats().segments, 1u);
  Result<std::vector<model::Labels>> streams = store_->Streams({}, INT64_MIN, INT64_MAX);
  ASSERT_TRUE(streams.ok());
  EXPECT_EQ(*streams, (std::vector<model::Labels>{{{"app", "api"}}, {{"app", "web"}}}));
  std::vector<model::Matcher> web = {*model::Matcher::Make(model::MatchType::kEqual, "app", "web")};
  streams = store_->Streams(web, 0, 25);  // web's segment block [20, 20] and head [30]
  ASSERT_TRUE(streams.ok());
  EXPECT_EQ(streams->size(), 1u);
  EXPECT_TRUE(store_->Streams(web, 21, 29)->empty());
}

TEST_F(ColstoreTest, FiltersProjectionAndBlockSkipping) {
  options_.block_rows = 10;
  Open();
  std::vector<std::pair<int64_t, std::string>> lines;
  for (int i = 0; i < 100; ++i) lines.push_back({i, "request " + std::to_string(i)});
  Write("api", lines);
  Write("api", {{1000, "needle 4bf92f3577b34da6 here"}}, "error");
  Write("web", {{50, "other"}});
  ASSERT_TRUE(store_->Flush().ok());
  ScanPlan needle;
  needle.filters.push_back({"body", Filter::Op::kContains, Value::String("4bf92f3577b34da6")});
  EXPECT_EQ(Rows(needle), (std::vector<std::string>{"api:1000:needle 4bf92f3577b34da6 here"}));
  ScanPlan errors = App("api");
  errors.filters.push_back({"level", Filter::Op::kEqual, Value::String("error")});
  errors.columns = {"level"};
  std::vector<std::string> got;
  ASSERT_TRUE(store_
                  ->Scan(errors,
                         [&](const Row& row) {
                           EXPECT_EQ(row.columns.size(), 1u);  // projected: level only
                           got.push_back(std::string(row.columns[0].value.s));
                           return true;
                         })
                  .ok());
  EXPECT_EQ(got, std::vector<std::string>{"error"});
  ScanPlan range = App("api");
  range.mint_ns = 42;
  range.maxt_ns = 44;
  ScanStats stats;
  EXPECT_EQ(Rows(range, &stats).size(), 3u);
  EXPECT_EQ(stats.blocks_read, 1u);  // the other ten blocks of api and web's are skipped
  EXPECT_GE(stats.blocks_skipped, 10u);
  ScanPlan missing;
  missing.filters.push_back({"nope", Filter::Op::kNotEqual, Value::String("x")});
  EXPECT_EQ(Rows(missing).size(), 102u);  // a missing column is null: != holds
}

// With a value column, a scan hinted with one value reads only the blocks that may hold it,
// in the head, in a segment and after a reopen; a stream with a label of that name is read
// whole (its label may stand in for the column); a hint never drops a row by itself.
TEST_F(ColstoreTest, ValueHintsReadOnlyBlocksThatMayHoldTheValue) {
  options_.block_rows = 10;
  options_.value_column = "trace_id";
  Open();
  auto write = [&](const std::string& app, int from, int to, bool with_ids) {
    std::vector<model::LabelView> labels = {{"app", app}};
    if (!with_ids) labels.push_back({"trace_id", "t42"});
    std::vector<std::string> ids;
    for (int i = from; i < to; ++i) ids.push_back(fmt::format("{:032x}", i * 7919));
    std::vector<std::vector<Column>> cols;
    for (int i = from; i < to; ++i) {
      cols.push_back({{"body", Value::String("request done")}});
      if (with_ids) cols.back().push_back({"trace_id", Value::String(ids[i - from])});
    }
    std::vector<RecordInput> records;
    for (int i = from; i < to; ++i) records.push_back({i, cols[i - from]});
    StreamInput in{labels, records};
    AppendResult result;
    ASSERT_TRUE(store_->Append(std::span<const StreamInput>(&in, 1), result).ok());
  };
  write("api", 0, 100, true);
  write("web", 0, 20, false);
  const std::string wanted = fmt::format("{:032x}", 42 * 7919);
  auto check = [&](const char* where) {
    ScanPlan plan;
    plan.value_hints = {{"trace_id", wanted}};
    plan.filters.push_back({"trace_id", Filter::Op::kEqual, Value::String(wanted)});
    ScanStats stats;
    EXPECT_EQ(Rows(plan, &stats), std::vector<std::string>{"api:42:request done"}) << where;
    EXPECT_LE(stats.blocks_read, 1u + 2u) << where;  // api's block, web's two
    EXPECT_GE(stats.blocks_filtered, 8u) << where;
    // A hint alone returns the rows of the blocks it reads: web's, and api's 40..49.
    ScanPlan hint_only;
    hint_only.value_hints = plan.value_hints;
    hint_only.streams = {*model::Matcher::Make(model::MatchType::kEqual, "app", "api")};
    std::vector<std::string> rows = Rows(hint_only);
    EXPECT_GE(rows.size(), 10u) << where;
    EXPECT_NE(std::find(rows.begin(), rows.end(), "api:42:request done"), rows.end()) << where;
    // A value no row holds: only web's blocks (exempt by its label) are read.
    ScanPlan absent;
    absent.value_hints = {{"trace_id", "no such trace"}};
    EXPECT_EQ(Rows(absent, &stats).size(), 20u) << where;
    EXPECT_GE(stats.blocks_filtered, 9u) << where;
  };
  check("head");
  Open();  // replayed from the WAL
  check("replayed");
  ASSERT_TRUE(store_->Flush().ok());
  check("segment");
  Open();
  check("reopened");
}

// A filtered scan copies a block's matches out before it decodes the next block into the
// same buffers: matches early in a block with none at its end, then matches in the next
// one, come back whole (compressed columns, so the values view the decoding buffers).
TEST_F(ColstoreTest, FilteredScansKeepMatchesAcrossBlocks) {
  options_.block_rows = 64;
  Open();
  std::vector<std::pair<int64_t, std::string>> lines;
  std::vector<std::string> want;
  for (int i = 0; i < 640; ++i) {
    bool error = i % 64 < 8;  // the first eighth of every block
    std::string body = fmt::format("{} a long and repetitive request line number {:06d} {}",
                                   error ? "error" : "info", i, std::string(40, 'x'));
    if (error) want.push_back(fmt::format("api:{}:{}", i, body));
    lines.push_back({i, body});
  }
  Write("api", lines);
  ASSERT_TRUE(store_->Flush().ok());
  ScanPlan errors = App("api");
  errors.filters.push_back({"body", Filter::Op::kContains, Value::String("error")});
  EXPECT_EQ(Rows(errors), want);
  errors.backward = true;
  std::reverse(want.begin(), want.end());
  EXPECT_EQ(Rows(errors), want);
}

// A segment block's "contains" filter searches the column's buffer as a whole: a needle
// across two neighbouring values, or in the bytes between them, matches no row; rows
// without the column never match; repeated (dictionary-coded) values are still found.
TEST_F(ColstoreTest, ContainsFiltersSearchWholeBlocksExactly) {
  Open();
  std::vector<model::LabelView> labels = {{"app", "api"}};
  std::vector<std::vector<Column>> cols;
  std::vector<std::string> bodies = {"xxab", "cdyy", "", "abcd", "zzabc", "dzz", "ab", "cd"};
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (bodies[i].empty()) {
      cols.push_back({{"level", Value::String("info")}});  // no body
    } else {
      cols.push_back({{"body", Value::String(bodies[i])}});
    }
  }
  std::vector<RecordInput> records;
  for (size_t i = 0; i < cols.size(); ++i) records.push_back({static_cast<int64_t>(i), cols[i]});
  StreamInput in{labels, records};
  AppendResult result;
  ASSERT_TRUE(store_->Append(std::span<const StreamInput>(&in, 1), result).ok());
  Write("dict", std::vector<std::pair<int64_t, std::string>>(300, {7, "same abcd line"}));
  ASSERT_TRUE(store_->Flush().ok());
  ScanPlan plan = App("api");
  plan.filters.push_back({"body", Filter::Op::kContains, Value::String("abcd")});
  EXPECT_EQ(Rows(plan), std::vector<std::string>{"api:3:abcd"});
  // Plain strings are stored length-prefixed: "xxab" then 4, "cdyy".
  const std::string across = std::string("ab") + '\x04' + "cd";
  plan.filters.back().value = Value::String(across);
  EXPECT_TRUE(Rows(plan).empty());
  plan.filters.back().value = Value::String("abcd");
  plan.filters.push_back({"body", Filter::Op::kContains, Value::String("bc")});
  EXPECT_EQ(Rows(plan), std::vector<std::string>{"api:3:abcd"});
  plan.filters.back().value = Value::String("zz");  // both filters: no row holds both
  EXPECT_TRUE(Rows(plan).empty());
  ScanPlan dict = App("dict");
  dict.filters.push_back({"body", Filter::Op::kContains, Value::String("abcd")});
  EXPECT_EQ(Rows(dict).size(), 300u);
}

// With a text column, a needle reads only the blocks whose filter may hold it, and the
// answer is the same as without filters: in the head, replayed from the WAL, in a segment
// and in the segment reopened.
TEST_F(ColstoreTest, TextFiltersReadOnlyBlocksThatMayHoldTheNeedle) {
  options_.block_rows = 50;
  options_.text_column = "body";
  Open();
  std::vector<std::pair<int64_t, std::string>> lines;
  for (int i = 0; i < 1000; ++i)
    lines.push_back(
        {i, fmt::format("GET /x id={:032x} ok", static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL)});
  Write("api", lines);
  Write("web",
        {{500, "WEB saw ID=" + fmt::format("{:032X}", 700ULL * 0x9E3779B97F4A7C15ULL) + " too"}});
  Write("web", {{600, "错误: 连接被对端重置"}});
  std::string id = fmt::format("{:032x}", 700ULL * 0x9E3779B97F4A7C15ULL);
  for (std::string phase : {"head", "replayed", "segment", "reopened"}) {
    SCOPED_TRACE(phase);
    if (phase == "replayed" || phase == "reopened") Open();
    if (phase == "segment") {
      ASSERT_TRUE(store_->Flush().ok());
    }
    ScanPlan needle;
    needle.filters.push_back({"body", Filter::Op::kContains, Value::String(id)});
    ScanStats stats;
    EXPECT_EQ(Rows(needle, &stats), (std::vector<std::string>{"api:700:GET /x id=" + id + " ok"}));
    // Of 21 blocks, two are read: the one holding it, and web's, whose upper-case copy the
    // case-folded filter cannot tell apart (the exact comparison drops it). The head's
    // blocks follow arrival, the segment's time: both have 20 of 50 lines and one of web.
    EXPECT_EQ(stats.blocks_read, 2u);
    EXPECT_EQ(stats.blocks_filtered, 19u);
    // CJK text: a two-character needle (6 bytes, no anchor: its blocks are read) and a
    // longer one (filtered) are both found.
    for (std::string cjk : {"错误", "连接被对端重置"}) {
      needle.filters[0].value = Value::String(cjk);
      EXPECT_EQ(Rows(needle, &stats), (std::vector<std::string>{"web:600:错误: 连接被对端重置"}))
          << cjk;
    }
    // Up to ASCII case: the upper-case copy in web's block is found too, from the same
    // filters (they are case-folded).
    std::string upper = id;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    ScanPlan any_case;
    any_case.filters.push_back({"body", Filter::Op::kContainsAnyCase, Value::String(upper)});
    EXPECT_EQ(Rows(any_case, &stats),
              (std::vector<std::string>{"web:500:WEB saw ID=" + upper + " too",
                                        "api:700:GET /x id=" + id + " ok"}));
    EXPECT_EQ(stats.blocks_read, 2u);
    EXPECT_EQ(stats.blocks_filtered, 19u);
    // A needle too short for the filters, and one that is not there.
    needle.filters[0].value = Value::String("id=0000");
    EXPECT_EQ(Rows(needle, &stats).size(), 1000u);
    // An absent id with five anchors: each block's filter lets it through at odds near 1/4^5.
    std::string absent;
    for (uint64_t i = 1; absent.empty(); ++i) {
      std::string candidate = fmt::format("{:032x}", i * 0xC2B2AE3D27D4EB4FULL);
      if (internal::NeedleGrams(candidate, internal::kDefaultGramSampleShift).size() >= 5)
        absent = candidate;
    }
    needle.filters[0].value = Value::String(absent);
    EXPECT_TRUE(Rows(needle, &stats).empty());
    EXPECT_LE(stats.blocks_read, 1u);
  }
}

// Count answers what a scan would count, in the head and in segments, for windows that
// hold whole blocks, cut through them, or miss them.
TEST_F(ColstoreTest, CountsPerWindowMatchAScan) {
  options_.block_rows = 16;
  Open();
  std::mt19937 rng(3);
  for (int round = 0; round < 3; ++round) {
    for (const char* app : {"api", "web"}) {
      std::vector<std::pair<int64_t, std::string>> lines;
      for (int i = 0; i < 100; ++i) lines.push_back({static_cast<int64_t>(rng() % 1000), "x"});
      Write(app, lines);
    }
    if (round < 2) {
      ASSERT_TRUE(store_->Flush().ok());
    }  // two segments and a head
  }
  std::vector<TimeWindow> windows;
  for (int64_t end = 0; end <= 1100; end += 50) windows.push_back({end - 120, end});
  std::vector<model::Matcher> api = {*model::Matcher::Make(model::MatchType::kEqual, "app", "api")};
  std::vector<uint64_t> got(windows.size());
  Result<ScanStats> stats =
      store_->Count(api, windows, [&](const model::Labels& stream, std::span<const uint64_t> c) {
        EXPECT_EQ(model::LabelValue(stream, "app"), "api");
        for (size_t i = 0; i < c.size(); ++i) got[i] += c[i];
      });
  ASSERT_TRUE(stats.ok()) << stats.status().message();
  for (size_t i = 0; i < windows.size(); ++i) {
    ScanPlan plan = App("api");
    plan.mint_ns = windows[i].mint_ns;
    plan.maxt_ns = windows[i].maxt_ns;
    EXPECT_EQ(got[i], Rows(plan).size()) << "window " << i;
  }
  EXPECT_GT(stats->blocks_skipped, 0u) << "whole blocks counted unread";
  uint64_t all = 0;
  TimeWindow everything{INT64_MIN, INT64_MAX};
  stats = store_->Count(api, std::span(&everything, 1),
                        [&](const model::Labels&, std::span<const uint64_t> c) { all += c[0]; });
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(all, 300u);
  EXPECT_EQ(stats->blocks_read, 0u) << "every segment block inside the window";
}

// Streams scanned by several threads: the same rows as one thread, one visit at a time,
// and a limit or a visitor's stop still ends the scan.
TEST_F(ColstoreTest, ParallelStreamScansVisitEveryRowOnce) {
  options_.block_rows = 32;
  Open();
  for (int app = 0; app < 12; ++app) {
    std::vector<std::pair<int64_t, std::string>> lines;
    for (int i = 0; i < 200; ++i) lines.push_back({i, fmt::format("line {} {}", app, i)});
    Write(fmt::format("app{}", app), lines);
    if (app % 4 == 3) {
      ASSERT_TRUE(store_->Flush().ok());
    }
  }
  Write("late", {{5, "in the head"}});
  ScanPlan plan;
  plan.time_ordered = false;
  plan.filters.push_back({"body", Filter::Op::kNotContains, Value::String(" 7")});
  ScanStats one_stats, many_stats;
  std::vector<std::string> one = Rows(plan, &one_stats);
  plan.threads = 4;
  std::atomic<int> inside{0};
  std::vector<std::string> many;
  Result<ScanStats> r = store_->Scan(plan, [&](const Row& row) {
    EXPECT_EQ(inside.fetch_add(1), 0) << "one visit at a time";
    many.push_back(std::string(model::LabelValue(*row.stream, "app")) + ":" +
                   std::to_string(row.time_ns) + ":" + std::string(row.columns[0].value.s));
    inside.fetch_sub(1);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::sort(one.begin(), one.end());
  std::sort(many.begin(), many.end());
  EXPECT_EQ(many, one);
  EXPECT_EQ(one.size(), 11u * (200 - 11) + 1);  // app7 and i = 7, 70..79 fail the filter
  EXPECT_EQ(r->rows_returned, one.size());
  EXPECT_EQ(r->blocks_read, one_stats.blocks_read);
  plan.limit = 50;
  EXPECT_EQ(Rows(plan).size(), 50u);
  int seen = 0;
  ASSERT_TRUE(store_->Scan(plan, [&](const Row&) { return ++seen < 7; }).ok());
  EXPECT_EQ(seen, 7);
}

TEST_F(ColstoreTest, SkippedColumnsAndStreamByStreamScans) {
  options_.block_rows = 4;
  Open();
  Write("api", {{1, "a1"}, {3, "a3"}, {5, "a5"}});
  Write("web", {{2, "w2"}, {4, "w4"}});
  ASSERT_TRUE(store_->Flush().ok());
  Write("api", {{7, "a7"}});  // in the head
  // Skipped: the body is never returned, the level still is.
  ScanPlan plan;
  plan.skip_columns = {"body"};
  std::vector<std::string> seen;
  ASSERT_TRUE(store_
                  ->Scan(plan,
                         [&](const Row& row) {
                           for (const Column& c : row.columns) EXPECT_NE(c.name, "body");
                           seen.push_back(std::to_string(row.time_ns));
                           return true;
                         })
                  .ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2", "3", "4", "5", "7"}));
  // Unordered: each stream's rows in time order, one stream after another.
  plan.skip_columns.clear();
  plan.time_ordered = false;
  std::vector<std::string> rows = Rows(plan);
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<std::string>{"api:1:a1", "api:3:a3", "api:5:a5", "api:7:a7",
                                            "web:2:w2", "web:4:w4"}));
  // Ordered backward with a limit still gives the newest rows across streams.
  ScanPlan newest;
  newest.backward = true;
  newest.limit = 3;
  EXPECT_EQ(Rows(newest), (std::vector<std::string>{"api:7:a7", "api:5:a5", "web:4:w4"}));
}

TEST_F(ColstoreTest, ReopenReplaysTheWalWithoutDuplicates) {
  Open();
  Write("api", {{1, "one"}});
  ASSERT_TRUE(store_->Flush().ok());
  Write("api", {{2, "two"}});
  Open();  // the head comes back from the WAL; the cut rows come from the segment only
  EXPECT_EQ(Rows(ScanPlan()), (std::vector<std::string>{"api:1:one", "api:2:two"}));
  ASSERT_TRUE(store_->Flush().ok());
  Open();
  EXPECT_EQ(Rows(ScanPlan()), (std::vector<std::string>{"api:1:one", "api:2:two"}));
  EXPECT_EQ(store_->GetStats().segments, 2u);
  EXPECT_EQ(store_->GetStats().head_rows, 0u);
}

// A crash after every mutating call of a cut leaves a store that reopens with every row
// once.
TEST_F(ColstoreTest, CutSurvivesACrashAfterEveryCall) {
  for (int64_t crash_at = 0;; ++crash_at) {
    std::filesystem::remove_all(dir_);
    env_.Reset();
    Open();
    Write("api", {{1, "one"}, {2, "two"}});
    Write("web", {{3, "three"}});
    int64_t before = env_.mutating_calls.load();
    env_.crash_after = before + crash_at;
    Status cut = store_->Flush();
    bool crashed = env_.crashed();
    store_.reset();
    env_.Reset();
    Open();
    EXPECT_EQ(Rows(ScanPlan()), (std::vector<std::string>{"api:1:one", "api:2:two", "web:3:three"}))
        << "crash after " << crash_at << " calls";
    if (!crashed) {
      EXPECT_TRUE(cut.ok());
      break;
    }
    ASSERT_LT(crash_at, 200);
  }
}

// Four cuts of one tier become one segment with full blocks: every row once, in order,
// found by filters and counts as before, and after a reopen.
TEST_F(ColstoreTest, MergeRewritesSegmentsAsOneWithEveryRow) {
  options_.text_column = "body";
  options_.block_rows = 64;
  Open();
  std::vector<std::string> want;
  for (int cut = 0; cut < 5; ++cut) {
    std::vector<std::pair<int64_t, std::string>> api, web;
    for (int i = 0; i < 40; ++i) {
      int64_t t = cut * 1000 + i * 10;
      api.push_back({t, fmt::format("api-{}-{} id={:016x}", cut, i, t * 7919)});
      web.push_back({t + 5, fmt::format("web-{}-{}", cut, i)});
    }
    Write("api", api);
    Write("web", web);
    ASSERT_TRUE(store_->Flush().ok());
  }
  std::vector<std::string> before = Rows(ScanPlan());
  ASSERT_EQ(before.size(), 400u);
  const std::string id = fmt::format("{:016x}", 2010 * 7919);  // the filter views it
  ScanPlan needle;
  needle.filters.push_back({"body", Filter::Op::kContains, Value::String(id)});
  const std::vector<std::string> found = {"api:2010:" +
                                          fmt::format("api-2-1 id={:016x}", 2010 * 7919)};
  EXPECT_EQ(Rows(needle), found);
  Stats stats = store_->GetStats();
  ASSERT_EQ(stats.segments, 5u);
  bool merged = false;
  ASSERT_TRUE(store_->Merge(&merged).ok());
  EXPECT_TRUE(merged);
  stats = store_->GetStats();
  EXPECT_EQ(stats.segments, 2u);  // four merged, the fifth of the run left
  EXPECT_EQ(stats.merged_segments, 1u);
  EXPECT_EQ(stats.segment_rows, 400u);
  EXPECT_EQ(Rows(ScanPlan()), before);
  // Filters and counts read the merged blocks.
  EXPECT_EQ(Rows(needle), found);
  ASSERT_TRUE(store_->Merge(&merged).ok());
  EXPECT_FALSE(merged);  // nothing left that calls for one
  Open();
  EXPECT_EQ(Rows(ScanPlan()), before);
  EXPECT_EQ(store_->GetStats().segments, 2u);
  // Only the merged segment and the fifth are on disk.
  size_t files = 0;
  for (const auto& f : std::filesystem::directory_iterator(dir_ / "segments"))
    files += f.path().extension() == ".seg";
  EXPECT_EQ(files, 2u);
}

// A crash after every mutating call of a merge leaves a store that reopens with every row
// once: the inputs, or the merged segment that names them.
TEST_F(ColstoreTest, MergeSurvivesACrashAfterEveryCall) {
  for (int64_t crash_at = 0;; ++crash_at) {
    std::filesystem::remove_all(dir_);
    env_.Reset();
    Open();
    std::vector<std::string> want;
    for (int cut = 0; cut < 4; ++cut) {
      Write("api", {{cut * 10 + 1, fmt::format("a{}", cut)}});
      Write("web", {{cut * 10 + 2, fmt::format("w{}", cut)}});
      ASSERT_TRUE(store_->Flush().ok());
    }
    std::vector<std::string> before = Rows(ScanPlan());
    ASSERT_EQ(before.size(), 8u);
    env_.crash_after = env_.mutating_calls.load() + crash_at;
    bool merged = false;
    Status s = store_->Merge(&merged);
    bool crashed = env_.crashed();
    store_.reset();
    env_.Reset();
    Open();
    EXPECT_EQ(Rows(ScanPlan()), before) << "crash after " << crash_at << " calls";
    if (!crashed) {
      EXPECT_TRUE(s.ok() && merged) << s.message();
      EXPECT_EQ(store_->GetStats().segments, 1u);
      break;
    }
    ASSERT_LT(crash_at, 200);
  }
}

TEST_F(ColstoreTest, RetentionByTimeAndSize) {
  env_.now_ms = 10'000'000;
  options_.retention = std::chrono::hours(1);
  Open();
  int64_t hour_ns = 3'600'000'000'000;
  int64_t now_ns = 10'000'000LL * 1'000'000;
  Write("api", {{now_ns - 3 * hour_ns, "old"}});
  ASSERT_TRUE(store_->Flush().ok());
  Write("api", {{now_ns - 1000, "new"}});
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->Maintain().ok());
  EXPECT_EQ(Rows(ScanPlan()).size(), 1u);
  EXPECT_EQ(store_->GetStats().segments, 1u);
  options_.max_bytes = 1;  // smaller than any segment: all but none go, oldest first
  Open();
  Write("api", {{now_ns, "newest"}});
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(store_->Maintain().ok());
  EXPECT_EQ(store_->GetStats().segments, 0u);
}

TEST_F(ColstoreTest, LimitsRefuseWithReasonsAndKeepTheRest) {
  options_.limits.max_record_bytes = 100;
  options_.limits.max_streams = 2;
  Open();
  AppendResult r = Write("api", {{1, "short"}, {2, std::string(200, 'x')}});
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.rejected, 1u);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("max_record_bytes"), std::string::npos) << r.errors[0];
  Write("web", {{1, "ok"}});
  r = Write("db", {{1, "third stream"}});
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_NE(r.errors[0].find("max_streams"), std::string::npos) << r.errors[0];
  std::vector<model::LabelView> bad = {{"bad-name", "x"}};
  std::vector<Column> cols = {{"body", Value::String("x")}, {"body", Value::String("y")}};
  RecordInput rec{1, cols};
  StreamInput in{bad, std::span<const RecordInput>(&rec, 1)};
  ASSERT_TRUE(store_->Append(std::span<const StreamInput>(&in, 1), r).ok());
  EXPECT_EQ(r.rejected, 1u);
  EXPECT_NE(r.errors[0].find("invalid or repeated label name"), std::string::npos);
  std::vector<model::LabelView> good = {{"app", "api"}};
  in.labels = good;
  ASSERT_TRUE(store_->Append(std::span<const StreamInput>(&in, 1), r).ok());
  EXPECT_NE(r.errors[0].find("repeats column"), std::string::npos) << r.errors[0];
  std::string metrics = registry_->Render();
  EXPECT_NE(metrics.find(R"(pharos_colstore_refused_total{store="records",reason="size"} 1)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find(R"(reason="streams"} 1)"), std::string::npos);
}

TEST_F(ColstoreTest, AFailedWalAcknowledgesNothing) {
  Open();
  env_.fail_sync = true;
  env_.append_budget = 0;  // a full disk
  std::vector<model::LabelView> labels = {{"app", "api"}};
  std::vector<Column> cols = {{"body", Value::String("x")}};
  RecordInput rec{1, cols};
  StreamInput in{labels, std::span<const RecordInput>(&rec, 1)};
  AppendResult r;
  Status s = store_->Append(std::span<const StreamInput>(&in, 1), r);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.message();
  EXPECT_EQ(r.accepted, 0u);
  EXPECT_TRUE(Rows(ScanPlan()).empty());
}

// While a cut is stuck, the new head grows to head_max_bytes and no further: appends
// wait for the cut, are refused when it does not end in time, and pass once it has.
TEST_F(ColstoreTest, AFullHeadWaitsForTheCut) {
  options_.head_max_bytes = 64 << 10;
  options_.maintenance_interval = std::chrono::milliseconds(5);
  options_.max_cut_wait = std::chrono::milliseconds(300);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false, stuck = false;
  options_.on_step = [&](std::string_view step) {
    if (step != "rolled") return;
    std::unique_lock<std::mutex> lock(mu);
    stuck = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  Open();
  std::string body(1000, 'x');
  auto write = [&] {
    std::vector<model::LabelView> labels = {{"app", "api"}};
    std::vector<Column> cols = {{"body", Value::String(body)}};
    std::vector<RecordInput> records(10, RecordInput{1, cols});
    StreamInput in{labels, records};
    AppendResult result;
    return store_->Append(std::span<const StreamInput>(&in, 1), result);
  };
  Status s;
  for (int i = 0; i < 1000 && s.ok(); ++i) s = write();  // 10 MB if nothing pushed back
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.message();
  EXPECT_NE(s.message().find("(head_max_bytes)"), std::string::npos) << s.message();
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(stuck);
  }
  // Bounded: what is refused is not kept.
  uint64_t held = store_->GetStats().head_bytes;
  EXPECT_EQ(write().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(store_->GetStats().head_bytes, held);
  std::thread waiter([&] { EXPECT_TRUE(write().ok()); });  // waits, then passes
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  waiter.join();
  EXPECT_NE(registry_->Render().find("pharos_colstore_append_waits_total{store=\"records\"}"),
            std::string::npos);
  store_.reset();
}

TEST_F(ColstoreTest, ConcurrentAppendsCutsAndScans) {
  options_.maintenance_interval = std::chrono::milliseconds(5);
  options_.head_max_bytes = 4096;
  Open();
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop) {
      std::map<std::string, int64_t> last;
      Result<ScanStats> r = store_->Scan(ScanPlan(), [&](const Row& row) {
        std::string app(model::LabelValue(*row.stream, "app"));
        EXPECT_GE(row.time_ns, last[app]);  // time order holds mid-cut
        last[app] = row.time_ns;
        return true;
      });
      EXPECT_TRUE(r.ok());
    }
  });
  std::thread maintainer([&] {  // cuts while writing, whatever the worker's timing
    while (!stop) {
      EXPECT_TRUE(store_->Maintain().ok());
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 1; i <= 500; ++i) {
        Write("w" + std::to_string(w), {{i, std::to_string(i)}});
        if (w == 0 && i % 50 == 0) {
          EXPECT_TRUE(store_->Flush().ok());  // cuts among writes
        }
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  reader.join();
  maintainer.join();
  EXPECT_EQ(Rows(ScanPlan()).size(), 2000u);
  // At least 10 cuts (the merger, running beside them, folds segments together).
  std::string metrics = registry_->Render();
  size_t at = metrics.find("pharos_colstore_cuts_total{store=\"records\"} ");
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stoi(metrics.substr(at + 44)), 10);
  EXPECT_GE(store_->GetStats().segments, 1u);
  Open();
  EXPECT_EQ(Rows(ScanPlan()).size(), 2000u);
}

// kill -9 while appending with maintenance every few milliseconds: every acknowledged
// record is there after a restart, once, and nothing that was never sent.
TEST_F(ColstoreTest, AcknowledgedRecordsSurviveKill9) {
  options_.env = DefaultEnv();
  options_.maintenance_interval = std::chrono::milliseconds(3);
  options_.head_max_bytes = 8192;
  options_.head_max_duration = std::chrono::milliseconds(5);  // cut at every maintenance
  std::set<int64_t> acked;
  int64_t next = 1;
  std::mt19937 rng(20261207);
  constexpr int kKills = 30;
  for (int kill = 0; kill < kKills; ++kill) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    int64_t first = next;
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      selfmon::Registry registry;
      Result<std::unique_ptr<Store>> s = Store::Open(options_, registry);
      if (!s.ok()) ::_exit(3);
      for (int64_t seq = first;; ++seq) {
        std::string body = std::to_string(seq);
        std::vector<model::LabelView> labels = {{"app", seq % 2 ? "odd" : "even"}};
        std::vector<Column> cols = {{"body", Value::String(body)}};
        RecordInput rec{seq, cols};
        StreamInput in{labels, std::span<const RecordInput>(&rec, 1)};
        AppendResult r;
        if (!(*s)->Append(std::span<const StreamInput>(&in, 1), r).ok() || r.accepted != 1)
          ::_exit(4);
        if (::write(fds[1], &seq, sizeof(seq)) != sizeof(seq)) ::_exit(5);
      }
    }
    ::close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 80));
    ::kill(pid, SIGKILL);
    int64_t seq;
    while (::read(fds[0], &seq, sizeof(seq)) == sizeof(seq)) {
      acked.insert(seq);
      next = std::max(next, seq + 1);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself: " << WEXITSTATUS(status);
    next += 1000;  // records sent but not acknowledged may be there; keep their range apart
  }
  Open();
  std::map<int64_t, int> seen;
  ASSERT_TRUE(store_
                  ->Scan(ScanPlan(),
                         [&](const Row& row) {
                           int64_t seq = std::stoll(std::string(row.columns[0].value.s));
                           EXPECT_EQ(seq, row.time_ns);
                           ++seen[seq];
                           return true;
                         })
                  .ok());
  uint64_t lost = 0, duplicated = 0, never_sent = 0;
  for (int64_t seq : acked) lost += seen.count(seq) == 0;
  for (const auto& [seq, n] : seen) {
    duplicated += n > 1;
    never_sent += seq >= next;
  }
  std::printf(
      "colstore kill -9: %d kills, %zu acknowledged, %zu present, %lu lost, %lu duplicated, "
      "%lu never sent, %lu segments (%lu merged)\n",
      kKills, acked.size(), seen.size(), static_cast<unsigned long>(lost),
      static_cast<unsigned long>(duplicated), static_cast<unsigned long>(never_sent),
      static_cast<unsigned long>(store_->GetStats().segments),
      static_cast<unsigned long>(store_->GetStats().merged_segments));
  EXPECT_GT(acked.size(), 1000u);
  EXPECT_EQ(lost, 0u);
  EXPECT_EQ(duplicated, 0u);
  EXPECT_EQ(never_sent, 0u);
  EXPECT_GT(store_->GetStats().segments, 0u);         // cuts happened between the kills
  EXPECT_GT(store_->GetStats().merged_segments, 0u);  // and merges
}

}  // namespace
}  // namespace pharos::colstore
