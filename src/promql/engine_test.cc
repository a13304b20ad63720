// The engine over a real store: selectors, functions, aggregation, matching, subqueries,
// and the limits. Prometheus's own scripts (pharos promql-test) cover semantics in depth;
// these pin the engine's interface and its limits.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <thread>

#include "promql/promql.h"
#include "selfmon/metrics.h"

namespace pharos::promql {
namespace {

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.dir = ::testing::TempDir() + "pharos_promql_" + std::to_string(::getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(options_.dir);
    auto db = tsdb::Db::Open(options_, registry_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    // http_requests_total{job="api",instance=i}: i+1 per second, a sample every 15 s for 1 h.
    for (int inst = 0; inst < 3; ++inst) {
      std::vector<tsdb::Sample> samples;
      for (int64_t t = 0; t <= 3600; t += 15) {
        samples.push_back({t * 1000, static_cast<double>(t * (inst + 1))});
      }
      std::string instance = std::to_string(inst);
      Append({{"__name__", "http_requests_total"}, {"instance", instance}, {"job", "api"}},
             samples);
    }
    Append({{"__name__", "up"}, {"instance", "0"}, {"job", "api"}}, {{0, 1}, {3600'000, 1}});
  }
  void TearDown() override {
    db_.reset();
    (void)DefaultEnv()->RemoveAll(options_.dir);
  }
  void Append(std::vector<model::LabelView> labels, std::vector<tsdb::Sample> samples) {
    tsdb::SeriesInput in{labels, samples};
    tsdb::AppendResult r;
    ASSERT_TRUE(db_->Append(std::span<const tsdb::SeriesInput>(&in, 1), r).ok());
  }

  tsdb::Options options_;
  selfmon::Registry registry_;
  std::unique_ptr<tsdb::Db> db_;
  Engine engine_;
};

TEST_F(EngineTest, InstantRateSumAndTopk) {
  Result<QueryResult> r =
      engine_.Instant(*db_, "sum by (job) (rate(http_requests_total[5m]))", 3600'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ValueType::kVector);
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(model::FormatLabels(r->series[0].labels), "{job=\"api\"}");
  EXPECT_DOUBLE_EQ(r->series[0].points[0].v, 6.0);  // 1 + 2 + 3 per second

  r = engine_.Instant(*db_, "topk(2, http_requests_total)", 3600'000);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 2u);
  EXPECT_EQ(r->series[0].points[0].v, 3 * 3600.0);  // ordered, largest first
  EXPECT_EQ(r->series[1].points[0].v, 2 * 3600.0);
}

TEST_F(EngineTest, RangeQueryStepsAndMatching) {
  Result<QueryResult> r = engine_.Range(*db_, "http_requests_total / on(instance) group_left up",
                                        600'000, 1200'000, 300'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ValueType::kMatrix);
  // up has samples at 0 and 3600 s only: visible within the 5 m lookback, so at 600 s not.
  EXPECT_TRUE(r->series.empty());
  r = engine_.Range(*db_, "http_requests_total{instance=\"0\"} offset 10m", 600'000, 1200'000,
                    300'000);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->series.size(), 1u);
  ASSERT_EQ(r->series[0].points.size(), 3u);
  EXPECT_EQ(r->series[0].points[0].v, 0);
  EXPECT_EQ(r->series[0].points[2].v, 600);
  EXPECT_EQ(r->series[0].points[2].t, 1200'000);
  r = engine_.Range(*db_, "max_over_time(rate(http_requests_total[1m])[10m:1m] @ end())", 0,
                    600'000, 300'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->series.size(), 3u);
  EXPECT_DOUBLE_EQ(r->series[2].points[0].v, 3.0);  // pinned at the end for every step
  EXPECT_EQ(r->series[2].points.size(), 3u);
}

TEST_F(EngineTest, LimitRatioSplitsSeriesStablyIntoComplements) {
  // A ratio and its negative complement pick disjoint sets that together cover everything,
  // the same series at every step.
  Result<QueryResult> r = engine_.Range(
      *db_,
      "count(limit_ratio(0.4, http_requests_total) or limit_ratio(-0.6, http_requests_total))", 0,
      3600'000, 600'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->series.size(), 1u);
  for (const Point& p : r->series[0].points) EXPECT_EQ(p.v, 3);
  r = engine_.Range(
      *db_, "limit_ratio(0.4, http_requests_total) and limit_ratio(-0.6, http_requests_total)", 0,
      3600'000, 600'000);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->series.empty());
}

TEST_F(EngineTest, EvaluationErrorsAreFailedPrecondition) {
  Result<QueryResult> r = engine_.Instant(*db_, "http_requests_total + on() up", 3600'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  r = engine_.Instant(*db_, "sum(", 0);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  r = engine_.Range(*db_, "http_requests_total[5m]", 0, 10, 1);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(EngineLimitsTest, SampleLimitIsAnError) {
  tsdb::Options options;
  options.dir = ::testing::TempDir() + "pharos_promql_limit_" + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(options.dir);
  selfmon::Registry registry;
  auto db = tsdb::Db::Open(options, registry);
  ASSERT_TRUE(db.ok());
  std::vector<tsdb::Sample> samples;
  for (int64_t t = 0; t < 1000; ++t) samples.push_back({t * 1000, 1.0});
  std::vector<model::LabelView> labels = {{"__name__", "x"}};
  tsdb::SeriesInput in{labels, samples};
  tsdb::AppendResult ar;
  ASSERT_TRUE((*db)->Append(std::span<const tsdb::SeriesInput>(&in, 1), ar).ok());
  EngineOptions eo;
  eo.max_samples = 100;
  Engine engine(eo);
  Result<QueryResult> r = engine.Instant(**db, "count_over_time(x[10m])", 999'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(engine.Instant(**db, "count_over_time(x[50s])", 999'000).ok());
  // A query that cannot start before its deadline times out in the queue.
  eo.max_concurrent_queries = 0;
  eo.timeout = std::chrono::milliseconds(20);
  Engine blocked(eo);
  r = blocked.Instant(**db, "x", 0);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded);
  db->reset();
  (void)DefaultEnv()->RemoveAll(options.dir);
}

TEST(EngineLimitsTest, SelectorsStreamSoTheSampleLimitBoundsMemoryNotData) {
  tsdb::Options options;
  options.dir = ::testing::TempDir() + "pharos_promql_stream_" + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(options.dir);
  selfmon::Registry registry;
  auto db = tsdb::Db::Open(options, registry);
  ASSERT_TRUE(db.ok());
  // 2,000 series x 240 samples (4 h at 1 m): 480,000 samples in all.
  std::vector<tsdb::Sample> samples;
  for (int64_t t = 0; t < 240; ++t) samples.push_back({t * 60'000, 1.0});
  for (int i = 0; i < 2000; ++i) {
    std::string id = std::to_string(i);
    std::vector<model::LabelView> labels = {{"__name__", "x"}, {"id", id}};
    tsdb::SeriesInput in{labels, samples};
    tsdb::AppendResult ar;
    ASSERT_TRUE((*db)->Append(std::span<const tsdb::SeriesInput>(&in, 1), ar).ok());
  }
  // Cut into blocks: the query reads them from disk, series by series.
  ASSERT_TRUE((*db)->Flush().ok());
  const char* query = "count(count_over_time(x[4h]))";
  EngineOptions eo;
  eo.max_samples = 5000;  // 1% of the data: one series' samples plus one output per series
  Engine engine(eo);
  Result<QueryResult> r = engine.Instant(**db, query, 239 * 60'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].points[0].v, 2000);
  EXPECT_GE(r->samples_loaded, 480'000u);
  // The aggregation folds each series as it streams: one series' samples, its one output
  // sample and the group's are held at once.
  EXPECT_LE(r->peak_samples, 240u + 3u);
  // So does a range query's: 240 steps of the group plus one series' input and output.
  r = engine.Range(**db, "sum(x)", 0, 239 * 60'000, 60'000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].points.size(), 240u);
  EXPECT_EQ(r->series[0].points[100].v, 2000);
  EXPECT_LE(r->peak_samples, 3 * 240u);
  r = engine.Range(**db, "x", 0, 239 * 60'000, 60'000);
  ASSERT_FALSE(r.ok());  // 2,000 series x 240 steps of output is more than 5,000
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  // Below one output per series the limit refuses, naming Prometheus's error; the
  // aggregation over the same data, which holds one series at a time, still answers.
  eo.max_samples = 1000;
  Engine small(eo);
  EXPECT_TRUE(small.Instant(**db, query, 239 * 60'000).ok());
  r = small.Instant(**db, "count_over_time(x[4h])", 239 * 60'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "query processing would load too many samples into memory in query execution");
  // The series limit stops the select as soon as it is crossed.
  eo.max_samples = 50'000'000;
  eo.max_series = 100;
  Engine few(eo);
  r = few.Instant(**db, query, 239 * 60'000);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "the query selects more than 100 series, the limit of query.max_series");
  EXPECT_TRUE(few.Instant(**db, "count_over_time(x{id=~\"1.\"}[4h])", 239 * 60'000).ok());
  db->reset();
  (void)DefaultEnv()->RemoveAll(options.dir);
}

}  // namespace
}  // namespace pharos::promql

namespace pharos::promql {
namespace {

// A select of many series computes its range functions on the read pool, where the series
// are decoded: every answer, warning and sample count must be what evaluating on the query
// thread gives.
TEST(EngineReadAheadTest, RangeFunctionsOnTheReadPoolAnswerAsInline) {
  std::string dir = ::testing::TempDir() + "pharos_promql_readahead_" + std::to_string(::getpid());
  (void)DefaultEnv()->RemoveAll(dir);
  std::vector<std::string> queries = {
      "sum by (mod) (rate(c[5m]))",
      "increase(c[2m])",
      "irate(c[1m])",
      "avg_over_time(g[10m])",
      "quantile_over_time(0.9, g[7m])",
      "stddev_over_time(g[5m])",
      "predict_linear(g[10m], 600)",
      "changes(g[15m])",
      "resets(c[30m])",
      "last_over_time(g[1m])",
      "max_over_time(g[3m]) - min_over_time(g[3m])",
      "double_exponential_smoothing(g[10m], 0.5, 0.5)",
      "mad_over_time(g[10m])",
      "count_over_time(g[1m] offset 5m)",
      "rate(g[5m])",  // not a counter: an info annotation per series name
  };
  auto run = [&](int read_threads) {
    tsdb::Options options;
    options.dir = dir;
    options.read_threads = read_threads;
    selfmon::Registry registry;
    auto db = tsdb::Db::Open(options, registry);
    EXPECT_TRUE(db.ok());
    std::vector<QueryResult> results;
    Engine engine;
    for (const std::string& q : queries) {
      Result<QueryResult> r = engine.Range(**db, q, 600'000, 7200'000, 30'000);
      EXPECT_TRUE(r.ok()) << q << ": " << r.status().message();
      results.push_back(r.ok() ? std::move(*r) : QueryResult{});
    }
    return results;
  };
  {
    tsdb::Options options;
    options.dir = dir;
    selfmon::Registry registry;
    auto db = tsdb::Db::Open(options, registry);
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < 300; ++i) {
      std::vector<tsdb::Sample> c, g;
      for (int64_t t = 0; t <= 7200; t += 15) {
        // Counters with resets and gaps, gauges with staleness markers.
        if ((t / 600 + i) % 7 == 0) continue;
        c.push_back({t * 1000, static_cast<double>((t * (i % 5 + 1)) % (1000 + i))});
        g.push_back({t * 1000,
                     t % 900 == 0 && i % 3 == 0 ? tsdb::StaleNaN() : std::sin(t / 100.0 + i) * i});
      }
      std::string id = std::to_string(i), mod = std::to_string(i % 4);
      for (const auto& [name, samples] : {std::pair{"c", &c}, std::pair{"g", &g}}) {
        std::vector<model::LabelView> labels = {{"__name__", name}, {"id", id}, {"mod", mod}};
        tsdb::SeriesInput in{labels, *samples};
        tsdb::AppendResult r;
        ASSERT_TRUE((*db)->Append(std::span<const tsdb::SeriesInput>(&in, 1), r).ok());
      }
    }
    // All in a block: read through its frames, on the pool and inline.
    ASSERT_TRUE((*db)->Flush().ok());
  }
  std::vector<QueryResult> inline_results = run(0);
  std::vector<QueryResult> pool_results = run(2);
  ASSERT_EQ(inline_results.size(), pool_results.size());
  for (size_t q = 0; q < queries.size(); ++q) {
    const QueryResult& a = inline_results[q];
    const QueryResult& b = pool_results[q];
    SCOPED_TRACE(queries[q]);
    EXPECT_GT(a.series.size(), 0u);
    ASSERT_EQ(a.series.size(), b.series.size());
    EXPECT_EQ(a.samples_loaded, b.samples_loaded);
    EXPECT_EQ(a.warnings, b.warnings);
    EXPECT_EQ(a.infos, b.infos);
    for (size_t i = 0; i < a.series.size(); ++i) {
      ASSERT_EQ(a.series[i].labels, b.series[i].labels);
      ASSERT_EQ(a.series[i].points.size(), b.series[i].points.size());
      for (size_t k = 0; k < a.series[i].points.size(); ++k) {
        EXPECT_EQ(a.series[i].points[k].t, b.series[i].points[k].t);
        double x = a.series[i].points[k].v, y = b.series[i].points[k].v;
        EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << x << " vs " << y;
      }
    }
  }
  (void)DefaultEnv()->RemoveAll(dir);
}

}  // namespace
}  // namespace pharos::promql
