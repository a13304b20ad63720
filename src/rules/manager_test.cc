// The rule manager over a real store and engine, driven by EvaluateAt (a controlled clock):
// recording rules, pending -> firing -> resolved with for and keep_firing_for, ALERTS
// series, notices, history, limits, reload without losing state, and restore after restart.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/testing/fault_env.h"
#include "meta/meta.h"
#include "promql/promql.h"
#include "rules/rules.h"
#include "selfmon/metrics.h"

namespace pharos::rules {
namespace {

constexpr int64_t kS = 1000;
constexpr int64_t kT0 = 1'700'000'000'000;  // a round time in ms

class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest() { clock_.now_ms = kT0; }
  testing::FaultEnv clock_;  // the real file system; time stands at kT0
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pharos_rules_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(dir_);
    std::filesystem::create_directories(dir_);
    OpenDb();
    Result<std::unique_ptr<meta::Store>> store = meta::Store::Open(dir_ + "/meta.db");
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(*store);
  }
  void TearDown() override {
    manager_.reset();
    db_.reset();
    (void)DefaultEnv()->RemoveAll(dir_);
  }
  void OpenDb() {
    tsdb::Options o;
    o.dir = dir_ + "/tsdb";
    o.out_of_order_window = std::chrono::hours(24 * 365 * 60);
    auto db = tsdb::Db::Open(o, registry_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  void WriteRules(const std::string& text) { std::ofstream(dir_ + "/rules.yaml") << text; }
  void StartManager() {
    manager_ = std::make_unique<Manager>(
        *db_, engine_, store_.get(), registry_,
        [this](std::vector<AlertNotice> n) {
          for (auto& x : n) notices_.push_back(std::move(x));
        },
        &clock_);
    ManagerOptions o;
    o.rule_files = {dir_ + "/*.yaml"};
    o.external_url = "http://pharos:7070";
    Status s = manager_->Load(o);
    ASSERT_TRUE(s.ok()) << s.message();
  }
  void Set(const std::string& name, const std::string& instance, int64_t t, double v) {
    std::vector<model::LabelView> labels = {
        {"__name__", name}, {"instance", instance}, {"job", "node"}};
    tsdb::Sample s{t, v};
    tsdb::SeriesInput in{labels, std::span<const tsdb::Sample>(&s, 1)};
    tsdb::AppendResult r;
    ASSERT_TRUE(db_->Append(std::span<const tsdb::SeriesInput>(&in, 1), r).ok());
  }
  double Query(const std::string& q, int64_t t, size_t* count = nullptr) {
    Result<promql::QueryResult> r = engine_.Instant(*db_, q, t);
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (count) *count = r.ok() ? r->series.size() : 0;
    if (!r.ok() || r->series.empty()) return NAN;
    return r->series[0].points[0].v;
  }
  const RuleStatus& Rule(const std::vector<GroupStatus>& groups, const std::string& name) {
    for (const auto& g : groups) {
      for (const auto& r : g.rules) {
        if (r.spec.name() == name) return r;
      }
    }
    static RuleStatus none;
    ADD_FAILURE() << "no rule " << name;
    return none;
  }

  std::string dir_;
  selfmon::Registry registry_;
  std::unique_ptr<tsdb::Db> db_;
  std::unique_ptr<meta::Store> store_;
  promql::Engine engine_;
  std::unique_ptr<Manager> manager_;
  std::vector<AlertNotice> notices_;
};

TEST_F(ManagerTest, RecordingRuleWritesIntoTheStore) {
  WriteRules(R"(groups:
- name: rec
  interval: 15s
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
    labels: {team: ops}
)");
  Set("up", "a", kT0, 1);
  Set("up", "b", kT0, 1);
  StartManager();
  manager_->EvaluateAt(kT0 + 5 * kS);
  EXPECT_EQ(Query("job:up:sum{team=\"ops\",job=\"node\"}", kT0 + 6 * kS), 2);
  auto groups = manager_->Groups();
  EXPECT_EQ(Rule(groups, "job:up:sum").health, RuleHealth::kOk);
  EXPECT_EQ(groups[0].interval_ms, 15000);
}

TEST_F(ManagerTest, PendingFiringResolvedWithNoticesAndHistory) {
  WriteRules(R"(groups:
- name: node
  rules:
  - alert: HighCpu
    expr: cpu > 80
    for: 1m
    labels: {severity: warning}
    annotations:
      summary: "{{ $labels.instance }} cpu at {{ $value }}%"
)");
  StartManager();
  Set("cpu", "a", kT0, 95);
  manager_->EvaluateAt(kT0);
  auto groups = manager_->Groups();
  ASSERT_EQ(Rule(groups, "HighCpu").alerts.size(), 1u);
  EXPECT_EQ(Rule(groups, "HighCpu").state, AlertState::kPending);
  EXPECT_TRUE(notices_.empty()) << "pending alerts are not sent";

  Set("cpu", "a", kT0 + 60 * kS, 96);
  manager_->EvaluateAt(kT0 + 60 * kS);
  groups = manager_->Groups();
  const Alert& firing = Rule(groups, "HighCpu").alerts.at(0);
  EXPECT_EQ(firing.state, AlertState::kFiring);
  EXPECT_EQ(model::FormatLabels(firing.labels),
            "{alertname=\"HighCpu\", instance=\"a\", job=\"node\", severity=\"warning\"}");
  EXPECT_EQ(firing.annotations.at(0).value, "a cpu at 96%");
  ASSERT_EQ(notices_.size(), 1u);
  EXPECT_EQ(notices_[0].starts_at_ms, kT0 + 60 * kS);
  EXPECT_EQ(notices_[0].ends_at_ms, kT0 + 60 * kS + 4 * 60 * kS);
  // As Prometheus links an expression (url.QueryEscape: a space is "+").
  EXPECT_EQ(notices_[0].generator_url, "http://pharos:7070/graph?g0.expr=cpu+%3E+80&g0.tab=1");
  EXPECT_EQ(Query("ALERTS{alertname=\"HighCpu\",alertstate=\"firing\"}", kT0 + 60 * kS), 1);
  EXPECT_EQ(Query("ALERTS_FOR_STATE{alertname=\"HighCpu\"}", kT0 + 60 * kS), kT0 / 1000);

  // Within the resend delay nothing is sent again; the value falls and it resolves.
  Set("cpu", "a", kT0 + 75 * kS, 97);
  manager_->EvaluateAt(kT0 + 75 * kS);
  EXPECT_EQ(notices_.size(), 1u);
  Set("cpu", "a", kT0 + 90 * kS, 10);
  manager_->EvaluateAt(kT0 + 90 * kS);
  ASSERT_EQ(notices_.size(), 2u);
  EXPECT_EQ(notices_[1].ends_at_ms, kT0 + 90 * kS) << "resolved: ends at the resolution";
  size_t count = 0;
  Query("ALERTS", kT0 + 90 * kS, &count);
  EXPECT_EQ(count, 0u) << "ALERTS is stale-marked once the alert resolves";

  Result<std::vector<meta::Row>> rows = store_->Query(
      "SELECT state, ts_ms FROM alert_events WHERE alertname = 'HighCpu' ORDER BY id");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[0].Text(0), "pending");
  EXPECT_EQ((*rows)[1].Text(0), "firing");
  EXPECT_EQ((*rows)[2].Text(0), "resolved");
  EXPECT_EQ((*rows)[2].Int(1), kT0 + 90 * kS);
}

TEST_F(ManagerTest, KeepFiringForHoldsAnAlertAfterItsConditionClears) {
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: Flappy
    expr: errors > 0
    keep_firing_for: 1m
)");
  StartManager();
  Set("errors", "a", kT0, 1);
  manager_->EvaluateAt(kT0);
  EXPECT_EQ(Rule(manager_->Groups(), "Flappy").state, AlertState::kFiring)
      << "no for: fires at once";
  Set("errors", "a", kT0 + 30 * kS, 0);
  manager_->EvaluateAt(kT0 + 30 * kS);
  EXPECT_EQ(Rule(manager_->Groups(), "Flappy").state, AlertState::kFiring);
  Set("errors", "a", kT0 + 90 * kS, 0);
  manager_->EvaluateAt(kT0 + 90 * kS);
  EXPECT_EQ(Rule(manager_->Groups(), "Flappy").state, AlertState::kInactive);
}

TEST_F(ManagerTest, TemplateErrorsStillFireAndAreShown) {
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: BadTemplate
    expr: cpu > 0
    annotations:
      summary: '{{ humanize $labels.instance }}'
)");
  StartManager();
  Set("cpu", "a", kT0, 1);
  manager_->EvaluateAt(kT0);
  auto groups = manager_->Groups();
  const RuleStatus& r = Rule(groups, "BadTemplate");
  ASSERT_EQ(r.alerts.size(), 1u);
  EXPECT_EQ(r.alerts[0].state, AlertState::kFiring);
  EXPECT_EQ(r.alerts[0].annotations[0].value.rfind("<error expanding template: ", 0), 0u)
      << r.alerts[0].annotations[0].value << " / " << r.last_error;
  EXPECT_EQ(r.health, RuleHealth::kOk);
  EXPECT_NE(r.last_error.find("template: summary"), std::string::npos) << r.last_error;
}

TEST_F(ManagerTest, LimitAndDuplicateLabelsetsAreRuleErrors) {
  WriteRules(R"(groups:
- name: limited
  limit: 1
  rules:
  - alert: Many
    expr: cpu > 0
- name: dup
  rules:
  - record: same
    expr: cpu
    labels: {instance: x}
)");
  StartManager();
  Set("cpu", "a", kT0, 1);
  Set("cpu", "b", kT0, 1);
  manager_->EvaluateAt(kT0);
  auto groups = manager_->Groups();
  EXPECT_EQ(Rule(groups, "Many").health, RuleHealth::kError);
  EXPECT_EQ(Rule(groups, "Many").last_error, "exceeded limit of 1 with 2 alerts");
  EXPECT_TRUE(Rule(groups, "Many").alerts.empty());
  EXPECT_EQ(Rule(groups, "same").health, RuleHealth::kError);
  EXPECT_NE(Rule(groups, "same").last_error.find("same labelset"), std::string::npos);
}

TEST_F(ManagerTest, ReloadKeepsStateOfUnchangedRules) {
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: A
    expr: cpu > 80
    for: 10m
)");
  StartManager();
  Set("cpu", "a", kT0, 90);
  manager_->EvaluateAt(kT0);
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: A
    expr: cpu > 80
    for: 10m
  - record: extra
    expr: vector(1)
)");
  ManagerOptions o;
  o.rule_files = {dir_ + "/*.yaml"};
  ASSERT_TRUE(manager_->Load(o).ok());
  EXPECT_EQ(manager_->rule_count(), 2u);
  auto groups = manager_->Groups();
  ASSERT_EQ(Rule(groups, "A").alerts.size(), 1u);
  EXPECT_EQ(Rule(groups, "A").alerts[0].active_at_ms, kT0);

  WriteRules("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: cpu >\n");
  Status s = manager_->Load(o);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(manager_->rule_count(), 2u) << "a bad reload keeps the running rules";
}

TEST_F(ManagerTest, PendingStateIsRestoredAfterARestart) {
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: Slow
    expr: latency > 1
    for: 30m
)");
  StartManager();
  for (int64_t t = 0; t <= 10 * 60; t += 60) {
    Set("latency", "a", kT0 + t * kS, 2);
    manager_->EvaluateAt(kT0 + t * kS);
  }
  // The first evaluation after start-up restores rather than writes, so ALERTS_FOR_STATE
  // exists from the second one on; by 10 minutes the alert has been pending since kT0.
  EXPECT_EQ(Query("ALERTS_FOR_STATE", kT0 + 600 * kS), kT0 / 1000);

  // Restart 5 minutes later: the alert keeps its pending time, shifted by the downtime.
  manager_.reset();
  int64_t back = kT0 + 15 * 60 * kS;
  Set("latency", "a", back, 2);
  StartManager();
  manager_->EvaluateAt(back);
  auto groups = manager_->Groups();
  ASSERT_EQ(Rule(groups, "Slow").alerts.size(), 1u);
  EXPECT_EQ(Rule(groups, "Slow").alerts[0].active_at_ms, kT0 + 5 * 60 * kS);
}

TEST_F(ManagerTest, FiringStateIsRestoredAfterARestart) {
  WriteRules(R"(groups:
- name: g
  rules:
  - alert: Down
    expr: up == 0
    for: 2m
)");
  StartManager();
  for (int64_t t = 0; t <= 4 * 60; t += 60) {
    Set("up", "a", kT0 + t * kS, 0);
    manager_->EvaluateAt(kT0 + t * kS);
  }
  EXPECT_EQ(Rule(manager_->Groups(), "Down").state, AlertState::kFiring);
  manager_.reset();
  int64_t back = kT0 + 6 * 60 * kS;
  Set("up", "a", back, 0);
  StartManager();
  manager_->EvaluateAt(back);
  manager_->EvaluateAt(back + 60 * kS);
  EXPECT_EQ(Rule(manager_->Groups(), "Down").state, AlertState::kFiring)
      << "an alert that was firing fires again on the evaluation after the restore";
}

TEST_F(ManagerTest, ScheduledEvaluationRunsGroups) {
  WriteRules(R"(groups:
- name: fast
  interval: 1s
  rules:
  - record: one
    expr: vector(1)
)");
  manager_ = std::make_unique<Manager>(*db_, engine_, store_.get(), registry_, nullptr);
  ManagerOptions o;
  o.rule_files = {dir_ + "/rules.yaml"};
  ASSERT_TRUE(manager_->Load(o).ok());
  manager_->Start();
  for (int i = 0; i < 100 && manager_->Groups()[0].last_evaluation_ms == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Reloads while the scheduler runs (some land during an evaluation) never stall the group.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(manager_->Load(o).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(37));
  }
  int64_t before = manager_->Groups()[0].last_evaluation_ms;
  for (int i = 0; i < 100 && manager_->Groups()[0].last_evaluation_ms == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(manager_->Groups()[0].last_evaluation_ms, before) << "still evaluated after reloads";
  manager_->Stop();
  EXPECT_GT(manager_->Groups()[0].last_evaluation_ms, 0);
  EXPECT_EQ(Query("one", manager_->Groups()[0].last_evaluation_ms), 1);
}

}  // namespace
}  // namespace pharos::rules
