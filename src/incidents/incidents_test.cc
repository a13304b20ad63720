// Incidents under a controlled clock: opening from alert groups at the mapped level,
// joining, lifecycle with who and when, clocks, breaches, escalation until acknowledged,
// auto-resolution, postmortems, and persistence across a restart.
#include "incidents/incidents.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "common/testing/fault_env.h"
#include "meta/meta.h"
#include "selfmon/metrics.h"

namespace pharos::incidents {
namespace {

constexpr int64_t kMin = 60'000;
constexpr int64_t kT0 = 1'704'067'200'000;

class IncidentsTest : public ::testing::Test {
 protected:
  IncidentsTest() { now_ = kT0; }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pharos-incidents-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    manager_.reset();
    store_.reset();
    Result<std::unique_ptr<meta::Store>> s = meta::Store::Open((dir_ / "meta.db").string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    Options o;
    o.policies = {{"oncall", {{"primary", 0}, {"secondary", 10 * kMin}}}};
    o.default_policy = "oncall";
    registry_ = std::make_unique<selfmon::Registry>();
    manager_ = std::make_unique<Manager>(
        *store_, *registry_, o,
        [this](const std::string& receiver, std::vector<alerting::Alert> alerts,
               const std::string&) {
          notified_.push_back(receiver);
          last_escalation_ = alerts;
          return Status::Ok();
        },
        &env_);
  }
  alerting::Notification Group(std::string severity, bool resolved = false,
                               std::string instance = "a") {
    alerting::Notification n;
    n.receiver = "team";
    n.group_key = "{}:{alertname=\"PaymentLatency\"}";
    n.group_labels = {{"alertname", "PaymentLatency"}};
    n.now_ms = now_;
    alerting::Alert a;
    a.labels = {{"alertname", "PaymentLatency"}, {"instance", instance}, {"severity", severity}};
    a.annotations = {{"summary", "p99 above 2s"}};
    a.fingerprint = model::Fingerprint(a.labels);
    a.starts_at_ms = now_;
    a.ends_at_ms = resolved ? now_.load() : 0;
    n.alerts.push_back(a);
    return n;
  }

  std::filesystem::path dir_;
  std::unique_ptr<meta::Store> store_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Manager> manager_;
  testing::FaultEnv env_;  // the real file system; tests move its clock
  std::atomic<int64_t>& now_ = env_.now_ms;
  std::vector<std::string> notified_;
  std::vector<alerting::Alert> last_escalation_;
};

TEST_F(IncidentsTest, FiringGroupOpensAtTheMappedLevelAndJoins) {
  manager_->OnNotification(Group("critical"));
  Result<std::vector<Incident>> list = manager_->List({});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  const Incident& inc = (*list)[0];
  EXPECT_EQ(inc.level, 1) << "critical maps to P1";
  EXPECT_EQ(inc.state, State::kTriggered);
  EXPECT_EQ(inc.title, "PaymentLatency: p99 above 2s");
  EXPECT_EQ(inc.respond_by_ms, kT0 + 15 * kMin);
  EXPECT_EQ(inc.resolve_by_ms, kT0 + 4 * 60 * kMin);

  now_ += kMin;
  manager_->OnNotification(Group("critical", false, "b"));  // same group key: joins
  list = manager_->List({});
  ASSERT_EQ(list->size(), 1u);
  Result<Incident> full = manager_->Get(list->at(0).id);
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_EQ(full->alerts.size(), 2u);
  EXPECT_EQ(full->timeline.size(), 3u);  // opened, alert a, alert b
  EXPECT_EQ(full->timeline[0].kind, "opened");
  EXPECT_EQ(full->timeline[2].kind, "alert");

  // A flush that reached the receiver is on the timeline too.
  now_ += kMin;
  alerting::Notification delivered = Group("critical", false, "b");
  delivered.delivered = true;
  manager_->OnNotification(delivered);
  full = manager_->Get(list->at(0).id);
  ASSERT_EQ(full->timeline.size(), 4u);
  EXPECT_EQ(full->timeline[3].kind, "notification");
  EXPECT_EQ(full->timeline[3].text, "notified team: 1 firing, 0 resolved");

  // Warnings map to P2; an explicit level label wins; unmapped severities open nothing.
  alerting::Notification warn = Group("warning");
  warn.group_key = "other";
  manager_->OnNotification(warn);
  alerting::Notification p0 = Group("warning");
  p0.group_key = "p0";
  p0.alerts[0].labels.push_back({"level", "P0"});
  manager_->OnNotification(p0);
  alerting::Notification none = Group("none");
  none.group_key = "none";
  manager_->OnNotification(none);
  list = manager_->List({});
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].level, 0);
  EXPECT_EQ((*list)[1].level, 2);
}

TEST_F(IncidentsTest, ResponseBreachEscalatesUntilAcknowledged) {
  manager_->OnNotification(Group("critical"));
  int64_t id = (*manager_->List({}))[0].id;
  now_ = kT0 + 15 * kMin;
  manager_->Tick(now_);
  EXPECT_TRUE(notified_.empty()) << "not breached at exactly the deadline";
  now_ += 1000;
  manager_->Tick(now_);
  ASSERT_EQ(notified_, std::vector<std::string>{"primary"}) << "step 1 at the breach";
  EXPECT_EQ(last_escalation_[0].labels[1].value, std::to_string(id));
  now_ += 5 * kMin;
  manager_->Tick(now_);
  EXPECT_EQ(notified_.size(), 1u);
  now_ += 5 * kMin;
  manager_->Tick(now_);
  ASSERT_EQ(notified_.size(), 2u);
  EXPECT_EQ(notified_[1], "secondary");
  std::string metrics = registry_->Render();
  EXPECT_NE(metrics.find("pharos_incident_sla_breaches_total{level=\"P1\",clock=\"response\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("pharos_incidents_open{level=\"P1\"} 1"), std::string::npos);

  // A second incident is acknowledged in time: no breach, no escalation.
  alerting::Notification other = Group("critical");
  other.group_key = "other";
  manager_->OnNotification(other);
  int64_t id2 = (*manager_->List({}))[0].id;
  now_ += 2 * kMin;
  Result<Incident> acked = manager_->Transition(id2, State::kAcknowledged, "ann");
  ASSERT_TRUE(acked.ok()) << acked.status().message();
  EXPECT_EQ(acked->acknowledged_by, "ann");
  EXPECT_EQ(acked->acknowledged_ms, now_);
  now_ += 60 * kMin;
  manager_->Tick(now_);
  EXPECT_EQ(notified_.size(), 2u);
  Result<Incident> got = manager_->Get(id2);
  EXPECT_FALSE(got->response_breached);
  EXPECT_NE(
      registry_->Render().find("pharos_incident_time_to_acknowledge_seconds_count{level=\"P1\"} 1"),
      std::string::npos);
}

TEST_F(IncidentsTest, LifecycleNotesRolesAndPostmortem) {
  Result<Incident> inc = manager_->Create("Checkout errors", 0, "bob");
  ASSERT_TRUE(inc.ok()) << inc.status().message();
  EXPECT_EQ(inc->respond_by_ms, kT0 + 5 * kMin);
  EXPECT_EQ(inc->resolve_by_ms, kT0 + 60 * kMin);
  int64_t id = inc->id;
  ASSERT_TRUE(manager_->SetRole(id, "commander", "ann", "bob").ok());
  EXPECT_FALSE(manager_->SetRole(id, "janitor", "x", "bob").ok());
  ASSERT_TRUE(manager_->AddNote(id, "ann", "rolled back deploy 42").ok());
  now_ += kMin;
  ASSERT_TRUE(manager_->Transition(id, State::kMitigated, "ann").ok()) << "skipping ack is allowed";
  EXPECT_FALSE(manager_->Transition(id, State::kAcknowledged, "ann").ok()) << "never backwards";
  now_ += kMin;
  ASSERT_TRUE(manager_->Transition(id, State::kResolved, "ann").ok());
  Result<Incident> closed = manager_->Transition(id, State::kClosed, "ann");
  ASSERT_FALSE(closed.ok());
  EXPECT_NE(closed.status().message().find("postmortem"), std::string::npos);

  Result<std::string> draft = manager_->Postmortem(id);
  ASSERT_TRUE(draft.ok());
  EXPECT_NE(draft->find("# Postmortem: Checkout errors (INC-1, P0)"), std::string::npos) << *draft;
  EXPECT_NE(draft->find("| role | bob | commander: ann |"), std::string::npos) << *draft;
  EXPECT_NE(draft->find("rolled back deploy 42"), std::string::npos);
  EXPECT_NE(draft->find("## Action items"), std::string::npos);
  ASSERT_TRUE(manager_->SavePostmortem(id, *draft + "\nRoot cause: a bad flag.\n", "ann").ok());
  Result<Incident> done = manager_->Transition(id, State::kClosed, "ann");
  ASSERT_TRUE(done.ok()) << done.status().message();
  EXPECT_EQ(done->closed_by, "ann");
  std::vector<std::string> kinds;
  for (const Event& e : done->timeline) kinds.push_back(e.kind);
  EXPECT_EQ(kinds, (std::vector<std::string>{"opened", "role", "note", "state", "state",
                                             "postmortem", "state"}));

  // Everything survives a restart.
  Reopen();
  Result<Incident> again = manager_->Get(id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->state, State::kClosed);
  EXPECT_EQ(again->commander, "ann");
  EXPECT_EQ(again->timeline.size(), 7u);
  EXPECT_NE(manager_->Postmortem(id)->find("a bad flag"), std::string::npos);
}

TEST_F(IncidentsTest, ResolvesWhenEveryLinkedAlertResolves) {
  manager_->OnNotification(Group("warning", false, "a"));
  manager_->OnNotification(Group("warning", false, "b"));
  int64_t id = (*manager_->List({}))[0].id;
  now_ += 10 * kMin;
  manager_->OnNotification(Group("warning", true, "a"));
  EXPECT_EQ(manager_->Get(id)->state, State::kTriggered);
  manager_->OnNotification(Group("warning", true, "b"));
  Result<Incident> inc = manager_->Get(id);
  EXPECT_EQ(inc->state, State::kResolved);
  EXPECT_EQ(inc->resolved_by, "pharos");
  // Firing again later opens a new incident.
  now_ += kMin;
  manager_->OnNotification(Group("warning", false, "a"));
  EXPECT_EQ(manager_->List({})->size(), 2u);
}

TEST_F(IncidentsTest, BadInputIsRefused) {
  EXPECT_FALSE(manager_->Create("", 1, "x").ok());
  EXPECT_FALSE(manager_->Create("t", 7, "x").ok());
  EXPECT_FALSE(manager_->Create("t", 1, "x", "no-such-policy").ok());
  EXPECT_EQ(manager_->Get(999).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(manager_->AddNote(999, "x", "y").ok());
  EXPECT_EQ(ParseLevel("P2"), 2);
  EXPECT_FALSE(ParseLevel("P5").has_value());
}

}  // namespace
}  // namespace pharos::incidents
