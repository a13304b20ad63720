// The dispatcher under a controlled clock: grouping with group_wait, group_interval and
// repeat_interval, resolved notifications, silences, inhibition, time intervals, retries,
// the notification log across restarts, and the receivers' wire formats.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "alerting/alerting.h"
#include "common/testing/fault_env.h"
#include "meta/meta.h"
#include "selfmon/metrics.h"
#include "tests/support/webhook_sink.h"

namespace pharos::alerting {
namespace {

using testing::Sink;

constexpr int64_t kS = 1000;
constexpr int64_t kT0 = 1'704'067'200'000;  // 2024-01-01T00:00:00Z, a Monday

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() { now_ = kT0; }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("pharos-alerting-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    OpenStore();
  }
  void TearDown() override {
    dispatcher_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenStore() {
    Result<std::unique_ptr<meta::Store>> s = meta::Store::Open((dir_ / "meta.db").string());
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  void Make(const std::string& yaml) {
    Result<Config> c = ParseConfig(yaml, "alerting");
    ASSERT_TRUE(c.ok()) << c.status().message();
    c->external_url = "http://pharos.test";
    registry_ = std::make_unique<selfmon::Registry>();
    dispatcher_ =
        std::make_unique<Dispatcher>(*c, store_.get(), *registry_, DispatcherOptions{}, &env_);
    ASSERT_TRUE(dispatcher_->Open().ok());
  }
  Alert Firing(std::string name, std::string severity, std::string instance = "a") {
    Alert a;
    a.labels = {{"alertname", std::move(name)},
                {"instance", std::move(instance)},
                {"severity", std::move(severity)}};
    a.annotations = {{"summary", "something is wrong"}};
    a.starts_at_ms = now_;
    a.ends_at_ms = now_ + 4 * 60 * kS;
    a.generator_url = "http://pharos.test/graph";
    return a;
  }
  // Advances the clock to `t`, ticking and delivering every second on the way.
  void RunTo(int64_t t) {
    while (now_ < t) {
      now_ = std::min(t, now_ + kS);
      dispatcher_->Tick(now_);
      dispatcher_->DeliverDue(now_);
    }
  }

  std::filesystem::path dir_;
  std::unique_ptr<meta::Store> store_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Dispatcher> dispatcher_;
  testing::FaultEnv env_;  // the real file system; tests move its clock
  std::atomic<int64_t>& now_ = env_.now_ms;
};

std::string Hook(const Sink& sink, std::string extra = "") {
  return R"(
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: )" +
         sink.url() + "/hook\n" + extra;
}

TEST_F(DispatcherTest, GroupWaitIntervalRepeatAndResolved) {
  Sink sink;
  Make(Hook(sink));
  dispatcher_->Insert({Firing("Cpu", "warning", "a")});
  RunTo(kT0 + 10 * kS);
  dispatcher_->Insert({Firing("Cpu", "warning", "b")});
  RunTo(kT0 + 29 * kS);
  EXPECT_TRUE(sink.bodies().empty()) << "nothing before group_wait";
  RunTo(kT0 + 31 * kS);
  ASSERT_EQ(sink.bodies().size(), 1u) << "one grouped notification after group_wait";
  std::string first = sink.bodies()[0];
  EXPECT_NE(first.find("\"version\":\"4\""), std::string::npos);
  EXPECT_NE(first.find("\"groupKey\":\"{}:{alertname=\\\"Cpu\\\"}\""), std::string::npos) << first;
  EXPECT_NE(first.find("\"status\":\"firing\""), std::string::npos);
  EXPECT_NE(first.find("\"instance\":\"a\""), std::string::npos);
  EXPECT_NE(first.find("\"instance\":\"b\""), std::string::npos);
  EXPECT_NE(first.find("\"endsAt\":\"0001-01-01T00:00:00Z\""), std::string::npos);
  EXPECT_NE(first.find("\"commonLabels\":{\"alertname\":\"Cpu\",\"severity\":\"warning\"}"),
            std::string::npos)
      << first;
  EXPECT_NE(first.find("\"externalURL\":\"http://pharos.test\""), std::string::npos);
  EXPECT_EQ(sink.targets()[0], "POST /hook HTTP/1.1");

  // Alerts keep arriving (as the rule manager resends them); nothing changes until the
  // repeat interval has passed since the last notification.
  for (int64_t t = kT0 + 60 * kS; t <= kT0 + 60 * 60 * kS; t += 60 * kS) {
    RunTo(t);
    dispatcher_->Insert({Firing("Cpu", "warning", "a"), Firing("Cpu", "warning", "b")});
  }
  EXPECT_EQ(sink.bodies().size(), 1u);
  RunTo(kT0 + 61 * 60 * kS);
  ASSERT_EQ(sink.bodies().size(), 2u)
      << "the repeat after repeat_interval, at a group_interval tick";
  RunTo(kT0 + 66 * 60 * kS);
  ASSERT_EQ(sink.bodies().size(), 3u) << "the alerts stopped arriving at 60 min and ended at 64";
  EXPECT_NE(sink.bodies()[2].find("\"status\":\"resolved\""), std::string::npos);

  // Resolved alerts leave the group after the flush that reported them; the empty group goes.
  EXPECT_TRUE(dispatcher_->Groups().empty());
  // Firing again later is a new notification after group_wait.
  dispatcher_->Insert({Firing("Cpu", "warning", "a")});
  RunTo(now_ + 31 * kS);
  ASSERT_EQ(sink.bodies().size(), 4u);
  EXPECT_NE(sink.bodies()[3].find("\"status\":\"firing\""), std::string::npos);

  Result<std::vector<meta::Row>> rows =
      store_->Query("SELECT status, outcome, receiver, integration FROM notifications ORDER BY id");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 4u);
  EXPECT_EQ((*rows)[2].Text(0), "resolved");
  EXPECT_EQ((*rows)[2].Text(1), "sent");
  EXPECT_EQ((*rows)[2].Text(3), "webhook[0]");
}

// Silence ids come from the Env's randomness: version-4 UUIDs, repeatable under a seed.
TEST_F(DispatcherTest, SilenceIdsAreRandomUuidsFromTheEnv) {
  Sink sink;
  std::vector<std::string> ids;
  for (int run = 0; run < 2; ++run) {
    env_.random_seed = 42;
    Make(Hook(sink));
    Silence s;
    s.matchers = *ParseMatchers("alertname=Cpu");
    s.starts_at_ms = now_;
    s.ends_at_ms = now_ + 3600 * kS;
    Result<std::string> id = dispatcher_->UpsertSilence(s);
    ASSERT_TRUE(id.ok()) << id.status().message();
    ids.push_back(*id);
  }
  EXPECT_EQ(ids[0], ids[1]);
  ASSERT_EQ(ids[0].size(), 36u);
  EXPECT_EQ(ids[0][14], '4');                                          // version 4
  EXPECT_NE(std::string("89ab").find(ids[0][19]), std::string::npos);  // RFC 4122 variant
}

TEST_F(DispatcherTest, SilencesMuteAndExpire) {
  Sink sink;
  Make(Hook(sink));
  Result<std::vector<model::Matcher>> m = ParseMatchers("alertname=Cpu");
  ASSERT_TRUE(m.ok());
  Silence s;
  s.matchers = *m;
  s.starts_at_ms = now_;
  s.ends_at_ms = now_ + 3600 * kS;
  s.created_by = "ann";
  s.comment = "maintenance";
  Result<std::string> id = dispatcher_->UpsertSilence(s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  dispatcher_->Insert({Firing("Cpu", "warning")});
  RunTo(kT0 + 60 * kS);
  EXPECT_TRUE(sink.bodies().empty());
  std::vector<AlertView> views = dispatcher_->Alerts();
  ASSERT_EQ(views.size(), 1u) << "silenced alerts stay visible";
  EXPECT_EQ(views[0].state(), "suppressed");
  EXPECT_EQ(views[0].silenced_by, std::vector<std::string>{*id});

  ASSERT_TRUE(dispatcher_->ExpireSilence(*id).ok());
  EXPECT_FALSE(dispatcher_->ExpireSilence(*id).ok()) << "already expired";
  for (int64_t t = kT0 + 2 * 60 * kS; t <= kT0 + 6 * 60 * kS; t += 60 * kS) {
    dispatcher_->Insert({Firing("Cpu", "warning")});  // kept alive, as the rules resend it
    RunTo(t);
  }
  EXPECT_EQ(sink.bodies().size(), 1u) << "notified at the next group_interval after expiry";

  // Silences survive a restart.
  Make(Hook(sink));
  ASSERT_EQ(dispatcher_->Silences().size(), 1u);
  EXPECT_EQ(dispatcher_->Silences()[0].State(now_), "expired");
  EXPECT_EQ(dispatcher_->Silences()[0].comment, "maintenance");
}

TEST_F(DispatcherTest, SilenceValidation) {
  Make("route: {receiver: a}\nreceivers: [{name: a}]\n");
  Silence s;
  s.starts_at_ms = now_;
  s.ends_at_ms = now_ + kS;
  EXPECT_FALSE(dispatcher_->UpsertSilence(s).ok()) << "no matchers";
  s.matchers = *ParseMatchers("a=~\".*\"");
  EXPECT_FALSE(dispatcher_->UpsertSilence(s).ok()) << "matches everything";
  s.matchers = *ParseMatchers("a=b");
  s.ends_at_ms = now_ - kS;
  EXPECT_FALSE(dispatcher_->UpsertSilence(s).ok()) << "ends in the past";
  s.ends_at_ms = now_ + kS;
  s.id = "no-such-id";
  EXPECT_EQ(dispatcher_->UpsertSilence(s).status().code(), StatusCode::kNotFound);
}

TEST_F(DispatcherTest, InhibitionSuppressesTheWarningWhileTheCriticalFires) {
  Sink sink;
  Make(Hook(sink, R"(inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [instance]
)"));
  dispatcher_->Insert({Firing("DiskFull", "critical", "a"), Firing("DiskFilling", "warning", "a"),
                       Firing("DiskFilling", "warning", "b")});
  RunTo(kT0 + 31 * kS);
  std::string all;
  for (const auto& b : sink.bodies()) all += b;
  EXPECT_NE(all.find("DiskFull"), std::string::npos);
  EXPECT_NE(all.find("\"instance\":\"b\""), std::string::npos) << "b has no critical alert";
  size_t warning_a = 0;
  for (const AlertView& v : dispatcher_->Alerts()) {
    if (v.alert.labels[0].value == "DiskFilling" && v.alert.labels[1].value == "a") {
      ++warning_a;
      EXPECT_EQ(v.state(), "suppressed");
      EXPECT_EQ(v.inhibited_by.size(), 1u);
    }
  }
  EXPECT_EQ(warning_a, 1u);
  for (const auto& b : sink.bodies()) {
    if (b.find("DiskFilling") != std::string::npos) {
      EXPECT_EQ(b.find("\"instance\":\"a\""), std::string::npos) << b;
    }
  }
}

TEST_F(DispatcherTest, RoutingTreeContinueAndTimeIntervals) {
  Sink pager, team;
  Make(R"(
route:
  receiver: team
  group_wait: 1s
  routes:
    - matchers: [severity=critical]
      receiver: pager
      continue: true
      mute_time_intervals: [monday]
    - matchers: [severity=~"critical|warning"]
      receiver: team
time_intervals:
  - name: monday
    time_intervals: [{weekdays: [monday]}]
receivers:
  - name: pager
    webhook_configs: [{url: )" +
       pager.url() + R"(}]
  - name: team
    webhook_configs: [{url: )" +
       team.url() + R"(}]
)");
  dispatcher_->Insert({Firing("Down", "critical")});
  RunTo(kT0 + 5 * kS);
  EXPECT_TRUE(pager.bodies().empty()) << "muted on Mondays (kT0 is a Monday)";
  ASSERT_EQ(team.bodies().size(), 1u) << "continue: the second route gets it too";
  std::vector<AlertView> views = dispatcher_->Alerts();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].receivers, (std::vector<std::string>{"pager", "team"}));
}

TEST_F(DispatcherTest, FailingReceiverRetriesAndNeverBlocksOthers) {
  Sink bad, good;
  bad.set_status(500);
  Make(R"(
route:
  receiver: both
  group_wait: 1s
  group_interval: 1m
receivers:
  - name: both
    webhook_configs:
      - url: )" +
       bad.url() + R"(
      - url: http://127.0.0.1:1/refused
      - url: )" +
       good.url() + "\n");
  dispatcher_->Insert({Firing("X", "warning")});
  RunTo(kT0 + 2 * kS);
  EXPECT_EQ(good.bodies().size(), 1u);
  RunTo(kT0 + 70 * kS);
  EXPECT_GE(bad.bodies().size(), 5u) << "retried with backoff within the group interval";
  EXPECT_LE(bad.bodies().size(), 8u);
  Result<std::vector<meta::Row>> rows = store_->Query(
      "SELECT integration, outcome, error FROM notifications WHERE outcome = 'failed' ORDER BY "
      "integration");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].Text(0), "webhook[0]");
  EXPECT_NE((*rows)[0].Text(2).find("500"), std::string::npos);
  EXPECT_NE((*rows)[1].Text(2).find("connect"), std::string::npos);
  std::string metrics = registry_->Render();
  EXPECT_NE(metrics.find(
                "pharos_notifications_failed_total{receiver=\"both\",integration=\"webhook\"} 2"),
            std::string::npos)
      << metrics;
}

TEST_F(DispatcherTest, NotificationLogPreventsResendAfterRestart) {
  Sink sink;
  Make(Hook(sink));
  dispatcher_->Insert({Firing("Cpu", "warning")});
  RunTo(kT0 + 31 * kS);
  ASSERT_EQ(sink.bodies().size(), 1u);
  // A restart: the rule manager sends the same alert again; the log says it was notified.
  Make(Hook(sink));
  dispatcher_->Insert({Firing("Cpu", "warning")});
  RunTo(kT0 + 120 * kS);
  EXPECT_EQ(sink.bodies().size(), 1u);
}

TEST_F(DispatcherTest, EmailAndAlertmanagerReceivers) {
  Sink smtp(true), am;
  Make(R"(
global:
  smtp_from: pharos@example.com
  smtp_smarthost: 127.0.0.1:)" +
       std::to_string(smtp.port()) + R"(
  smtp_require_tls: false
route:
  receiver: both
  group_wait: 1s
  group_by: [alertname]
receivers:
  - name: both
    email_configs:
      - to: 'Ops <ops@example.com>, dev@example.com'
        auth_username: pharos
        auth_password: pw
    alertmanager_configs:
      - url: )" +
       am.url() + "\n");
  dispatcher_->Insert({Firing("Cpu", "warning", "a"), Firing("Cpu", "warning", "b")});
  RunTo(kT0 + 3 * kS);
  ASSERT_EQ(smtp.bodies().size(), 1u);
  std::string mail = smtp.bodies()[0];
  EXPECT_NE(mail.find("Subject: [FIRING:2] Cpu (warning)"), std::string::npos) << mail;
  EXPECT_NE(mail.find("To: Ops <ops@example.com>, dev@example.com"), std::string::npos);
  std::vector<std::string> commands = smtp.targets();
  EXPECT_NE(std::find(commands.begin(), commands.end(), "RCPT TO:<ops@example.com>"),
            commands.end());
  EXPECT_NE(std::find(commands.begin(), commands.end(), "RCPT TO:<dev@example.com>"),
            commands.end());
  ASSERT_EQ(am.bodies().size(), 1u);
  EXPECT_EQ(am.targets()[0], "POST /api/v2/alerts HTTP/1.1");
  EXPECT_EQ(am.bodies()[0].front(), '[');
  EXPECT_NE(am.bodies()[0].find("\"labels\":{\"alertname\":\"Cpu\""), std::string::npos);
}

TEST_F(DispatcherTest, FlushObserverSeesUnmutedAlerts) {
  Sink sink;
  Make(Hook(sink));
  std::vector<Notification> seen;
  // The observer may call back into the dispatcher (incidents escalate through it) without
  // deadlocking: it runs with no dispatcher lock held.
  dispatcher_->SetFlushObserver([&](const Notification& n) {
    seen.push_back(n);
    EXPECT_TRUE(dispatcher_->NotifyReceiver("hook", n.alerts, "escalation").ok());
    EXPECT_FALSE(dispatcher_->Alerts().empty());
  });
  dispatcher_->Insert({Firing("Cpu", "critical")});
  RunTo(kT0 + 31 * kS);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(sink.WaitFor(2, 5000)) << "the group's notification and the observer's";
  EXPECT_EQ(seen[0].group_key, "{}:{alertname=\"Cpu\"}");
  EXPECT_EQ(seen[0].alerts.size(), 1u);
}

}  // namespace
}  // namespace pharos::alerting

namespace pharos::alerting {
namespace {

TEST_F(DispatcherTest, AlertsThatStopArrivingResolveAtTheirEnd) {
  Sink sink;
  Make(Hook(sink));
  dispatcher_->Insert({Firing("Cpu", "warning")});  // ends in 4 minutes unless resent
  RunTo(kT0 + 31 * kS);
  ASSERT_EQ(sink.bodies().size(), 1u);
  RunTo(kT0 + 5 * 60 * kS + 31 * kS);
  ASSERT_EQ(sink.bodies().size(), 2u);
  EXPECT_NE(sink.bodies()[1].find("\"status\":\"resolved\""), std::string::npos);
  EXPECT_NE(sink.bodies()[1].find("\"endsAt\":\"2024-01-01T00:04:00Z\""), std::string::npos)
      << sink.bodies()[1];
}

}  // namespace
}  // namespace pharos::alerting
