// Rules, notifications and incidents on the real binary: a rule goes pending then firing;
// a webhook receives one grouped notification after group_wait (in Alertmanager's payload),
// a resolved one later; inhibition suppresses the warning while the critical fires; a
// silence mutes an alert; an incident opens at P1, its response clock breaches and
// escalates, and an acknowledgement through the CLI stops escalation; state, silences and
// incidents survive a restart; the real Alertmanager (Debian's 0.25) receives forwarded
// alerts. Timings are short (1 s evaluation, 1 s group_wait) and waits are bounded polls.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/webhook_sink.h"

namespace pharos::testing {
namespace {

void Push(uint16_t port, const std::string& series, double value) {
  std::string body = series + " " + std::to_string(value) + " " + std::to_string(NowMs()) + "\n";
  HttpResponse r =
      Post(port, "/api/v1/import/prometheus", body, "Content-Type: text/plain; version=0.0.4\r\n");
  ASSERT_EQ(r.status, 204) << r.body;
}

// Polls `path` until its body contains `needle`; returns the last body.
std::string WaitFor(uint16_t port, const std::string& path, const std::string& needle,
                    int timeout_ms = 20000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string body;
  while (std::chrono::steady_clock::now() < deadline) {
    HttpResponse r = Get(port, path);
    body = r.body;
    if (r.status == 200 && body.find(needle) != std::string::npos) return body;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ADD_FAILURE() << "timed out waiting for " << needle << " in " << path << ": " << body;
  return body;
}

constexpr std::string_view kRules = R"yaml(groups:
- name: it
  interval: 1s
  rules:
  - alert: ItDown
    expr: it_up == 0
    for: 2s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.instance }} is down ({{ $value }})"}
  - alert: ItDegraded
    expr: it_up == 0
    for: 4s
    labels: {severity: warning}
  - alert: ItNoisy
    expr: it_noise > 0
    labels: {severity: info}
  - record: it:up:sum
    expr: sum(it_up)
)yaml";

std::string Config(const Sink& hook, const Sink& pager, const std::string& extra = "") {
  return R"(global:
  evaluation_interval: 1s
rule_files: [rules.yaml]
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook_configs: [{url: ")" +
         hook.url() + R"(/hook"}]
    - name: pager
      webhook_configs: [{url: ")" +
         pager.url() + R"(/page"}]
  inhibit_rules:
    - source_matchers: [severity="critical"]
      target_matchers: [severity="warning"]
      equal: [instance]
incidents:
  p1:
    respond_within: 3s
  escalation_policies:
    - name: oncall
      steps:
        - receiver: pager
        - receiver: pager
          delay: 1h
  default_escalation_policy: oncall
)" + extra;
}

TEST(AlertingTest, RuleToWebhookToIncidentAndBack) {
  Sink hook, pager;
  PharosProcess pharos;
  pharos.WriteFile("rules.yaml", std::string(kRules));
  std::string config = pharos.WriteFile("pharos.yaml", Config(hook, pager));
  ASSERT_TRUE(pharos.StartServe({"--config", config, "--set", "global.scrape_self=false"}))
      << pharos.Stderr();
  uint16_t port = pharos.port();

  // Pending first (for: 2s), then firing.
  Push(port, "it_up{instance=\"a\"}", 0);
  WaitFor(port, "/api/v1/alerts", "\"state\":\"pending\"");
  WaitFor(port, "/api/v1/alerts", "\"state\":\"firing\"");
  std::string rules = WaitFor(port, "/api/v1/rules", "\"name\":\"it:up:sum\"");
  EXPECT_NE(rules.find("\"health\":\"ok\""), std::string::npos) << rules;
  EXPECT_NE(Get(port, "/api/v1/query?query=it%3Aup%3Asum").body.find("\"value\""),
            std::string::npos);
  EXPECT_NE(
      Get(port, "/api/v1/query?query=ALERTS%7Balertstate%3D%22firing%22%7D").body.find("ItDown"),
      std::string::npos);

  // One notification for the ItDown group, in Alertmanager's webhook shape; the warning
  // for the same instance is inhibited and never sent.
  ASSERT_TRUE(hook.WaitFor(1, 15000));
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::vector<std::string> bodies = hook.bodies();
  ASSERT_EQ(bodies.size(), 1u) << bodies.back();
  EXPECT_NE(bodies[0].find("\"version\":\"4\""), std::string::npos);
  EXPECT_NE(bodies[0].find("\"groupKey\":\"{}:{alertname=\\\"ItDown\\\"}\""), std::string::npos)
      << bodies[0];
  EXPECT_NE(bodies[0].find("\"summary\":\"a is down (0)\""), std::string::npos) << bodies[0];
  EXPECT_EQ(bodies[0].find("ItDegraded"), std::string::npos);
  std::string am = Get(port, "/api/v2/alerts?filter=alertname%3D%22ItDegraded%22").body;
  EXPECT_NE(am.find("\"state\":\"suppressed\""), std::string::npos) << am;
  EXPECT_NE(am.find("\"inhibitedBy\":[\""), std::string::npos) << am;

  // A silence mutes a new alert; it appears as suppressed and is never sent.
  std::string silence =
      R"({"matchers":[{"name":"alertname","value":"ItNoisy","isRegex":false,"isEqual":true}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"it","comment":"known noise"})";
  HttpResponse created =
      Post(port, "/api/v2/silences", silence, "Content-Type: application/json\r\n");
  ASSERT_EQ(created.status, 200) << created.body;
  EXPECT_NE(created.body.find("\"silenceID\""), std::string::npos);
  Push(port, "it_noise{instance=\"a\"}", 1);
  WaitFor(port, "/api/v2/alerts?filter=alertname%3D%22ItNoisy%22", "\"silencedBy\":[\"");
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (const std::string& b : hook.bodies()) EXPECT_EQ(b.find("ItNoisy"), std::string::npos);

  // The critical alert opened a P1 incident; its 3 s response clock breaches and the
  // escalation policy pages the first step.
  std::string incidents = WaitFor(port, "/api/v1/incidents", "\"level\":\"P1\"");
  EXPECT_NE(incidents.find("\"state\":\"triggered\""), std::string::npos);
  ASSERT_TRUE(pager.WaitFor(1, 15000)) << "escalation did not page";
  EXPECT_NE(pager.bodies()[0].find("IncidentEscalation"), std::string::npos);
  std::string one = WaitFor(port, "/api/v1/incidents/1", "\"kind\":\"escalation\"");
  EXPECT_NE(one.find("\"kind\":\"breach\""), std::string::npos) << one;
  EXPECT_NE(one.find("response clock breached"), std::string::npos);

  // Acknowledge through the CLI: the timeline shows who, and escalation stops.
  std::string out, err;
  int rc = RunPharos({"incident", "ack", "1", "--note", "on it", "--as", "ann", "--url",
                      "http://127.0.0.1:" + std::to_string(port)},
                     &out, &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(out.find("acknowledged"), std::string::npos) << out;
  one = Get(port, "/api/v1/incidents/1").body;
  EXPECT_NE(one.find("\"acknowledgedBy\":\"ann\""), std::string::npos) << one;
  EXPECT_NE(one.find("\"escalation\":{\"policy\":\"oncall\",\"stepsNotified\":1,\"nextAt\":null}"),
            std::string::npos)
      << one;
  rc = RunPharos({"incident", "list", "--url", "http://127.0.0.1:" + std::to_string(port)}, &out,
                 &err);
  ASSERT_EQ(rc, 0) << err;
  EXPECT_NE(out.find("P1  acknowledged"), std::string::npos) << out;

  // Reload with one more rule: the firing alert keeps its state and active time.
  std::string before = Get(port, "/api/v1/alerts").body;
  size_t at = before.find("\"activeAt\":\"");
  ASSERT_NE(at, std::string::npos) << before;
  std::string active_at = before.substr(at, 40);
  pharos.WriteFile("rules.yaml",
                   std::string(kRules) + "  - record: it:extra\n    expr: vector(1)\n");
  HttpResponse reloaded = Post(port, "/-/reload", "", "");
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;
  WaitFor(port, "/api/v1/rules", "\"name\":\"it:extra\"");
  std::string after = Get(port, "/api/v1/alerts").body;
  EXPECT_NE(after.find(active_at), std::string::npos) << before << "\n" << after;
  EXPECT_NE(after.find("\"state\":\"firing\""), std::string::npos) << after;
  pharos.WriteFile("rules.yaml", "groups: [{name: broken, rules: [{alert: X, expr: 'sum('}]}]\n");
  reloaded = Post(port, "/-/reload", "", "");
  EXPECT_EQ(reloaded.status, 500) << "a bad rule file is refused and the old rules keep running";
  EXPECT_NE(reloaded.body.find("could not parse expression"), std::string::npos) << reloaded.body;
  EXPECT_NE(Get(port, "/api/v1/rules").body.find("it:extra"), std::string::npos);
  pharos.WriteFile("rules.yaml", std::string(kRules));

  // Restart: firing state, silences and incidents survive.
  pharos.Signal(SIGTERM);
  ASSERT_EQ(pharos.Wait(), 0) << pharos.Stderr();
  ASSERT_TRUE(pharos.StartServe({"--config", config, "--set", "global.scrape_self=false"}))
      << pharos.Stderr();
  port = pharos.port();
  Push(port, "it_up{instance=\"a\"}", 0);
  std::string alerts = WaitFor(port, "/api/v1/alerts", "\"state\":\"firing\"");
  EXPECT_NE(Get(port, "/api/v2/silences").body.find("known noise"), std::string::npos);
  EXPECT_NE(Get(port, "/api/v1/incidents/1").body.find("\"acknowledgedBy\":\"ann\""),
            std::string::npos);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  EXPECT_EQ(hook.bodies().size(), 1u) << "the notification log prevents a resend after restart";

  // Recovery: a resolved notification, and the incident resolves with its alerts.
  Push(port, "it_up{instance=\"a\"}", 1);
  ASSERT_TRUE(hook.WaitFor(2, 20000)) << Get(port, "/api/v1/notifications").body << "\n"
                                      << Get(port, "/api/v1/alerts/history").body << "\n"
                                      << Get(port, "/api/v2/alerts/groups").body;
  EXPECT_NE(hook.bodies()[1].find("\"status\":\"resolved\""), std::string::npos)
      << hook.bodies()[1];
  WaitFor(port, "/api/v1/incidents/1", "\"state\":\"resolved\"");
  std::string history = Get(port, "/api/v1/alerts/history?alertname=ItDown").body;
  EXPECT_NE(history.find("\"state\":\"resolved\""), std::string::npos) << history;
  EXPECT_NE(history.find("\"state\":\"firing\""), std::string::npos);
  std::string sent = Get(port, "/api/v1/notifications?receiver=hook").body;
  EXPECT_NE(sent.find("\"outcome\":\"sent\""), std::string::npos) << sent;
}

TEST(AlertingTest, BadInputGetsClearErrors) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  uint16_t port = pharos.port();
  HttpResponse r = Post(port, "/api/v2/silences", "{\"matchers\":[]}", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("endsAt"), std::string::npos) << r.body;
  r = Post(port, "/api/v2/alerts", "[{\"labels\":{\"0bad\":\"x\"}}]", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid label name"), std::string::npos) << r.body;
  r = Post(port, "/api/v2/alerts", "not json", "");
  EXPECT_EQ(r.status, 400);
  r = Post(port, "/api/v1/incidents", "{\"title\":\"x\",\"level\":\"P9\"}", "");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("level"), std::string::npos);
  r = Get(port, "/api/v1/incidents/abc");
  EXPECT_EQ(r.status, 400);
  r = Get(port, "/api/v1/incidents/42");
  EXPECT_EQ(r.status, 404);
  r = Post(port, "/api/v1/incidents", "{\"title\":\"by hand\",\"level\":\"P0\"}",
           "X-Pharos-User: bob\r\n");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("\"createdBy\":\"bob\""), std::string::npos);
  r = Post(port, "/api/v1/incidents/1/close", "{}", "");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("resolved before"), std::string::npos) << r.body;
  // Alerts posted by another Prometheus show up in Alertmanager's API.
  r = Post(port, "/api/v2/alerts",
           "[{\"labels\":{\"alertname\":\"External\",\"severity\":\"none\"},"
           "\"startsAt\":\"2020-01-01T00:00:00Z\"}]",
           "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(Get(port, "/api/v2/alerts").body.find("External"), std::string::npos);
}

TEST(AlertingTest, CheckRulesAndCheckConfig) {
  PharosProcess pharos;
  std::string good = pharos.WriteFile("good.yaml", std::string(kRules));
  std::string bad =
      pharos.WriteFile("bad.yaml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: sum(\n");
  std::string out, err;
  EXPECT_EQ(RunPharos({"check-rules", good}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("SUCCESS: 4 rules found"), std::string::npos) << out;
  EXPECT_EQ(RunPharos({"check-rules", good, bad}, &out, &err), 2);
  EXPECT_NE(out.find(bad + ":5: group \"g\", rule 1, \"A\": could not parse expression"),
            std::string::npos)
      << out;
  EXPECT_EQ(
      RunPharos({"check-rules", std::string(PHAROS_SOURCE_DIR) + "/rules/examples/operations.yaml"},
                &out, &err),
      0)
      << out;
  // What `make run` loads: the example PromQL and LogQL rules.
  EXPECT_EQ(RunPharos({"check-config", std::string(PHAROS_SOURCE_DIR) + "/config/local.yaml"}, &out,
                      &err),
            0)
      << err;
  std::string bad_logs = pharos.WriteFile(
      "bad-logs.yaml",
      "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: count_over_time({a=\"b\"} [5m]\n");
  std::string with_bad_logs = pharos.WriteFile("l.yaml", "log_rule_files: [" + bad_logs + "]\n");
  EXPECT_EQ(RunPharos({"check-config", with_bad_logs}, &out, &err), 2);
  EXPECT_NE(err.find("could not parse LogQL expression"), std::string::npos) << err;
  std::string cfg = pharos.WriteFile(
      "c.yaml", "alerting:\n  route: {receiver: nobody}\n  receivers: [{name: a}]\n");
  EXPECT_EQ(RunPharos({"check-config", cfg}, &out, &err), 2);
  EXPECT_NE(err.find("undefined receiver"), std::string::npos) << err;
}

// amtool, Alertmanager's own command-line client, works against Pharos unchanged: it
// lists alerts, adds, queries and expires silences, and shows the configuration.
TEST(AlertingTest, AmtoolWorksAgainstPharos) {
  if (::access("/usr/bin/amtool", X_OK) != 0) GTEST_SKIP() << "amtool is not installed";
  PharosProcess pharos;
  std::string config = pharos.WriteFile(
      "pharos.yaml",
      "alerting:\n  route: {receiver: team, group_wait: 1s}\n  receivers:\n    - name: team\n"
      "      webhook_configs: [{url: 'http://127.0.0.1:9/x', http_config: {bearer_token: "
      "s3cret}}]\n");
  ASSERT_TRUE(pharos.StartServe({"--config", config, "--set", "global.scrape_self=false"}))
      << pharos.Stderr();
  uint16_t port = pharos.port();
  ASSERT_EQ(Post(port, "/api/v2/alerts",
                 "[{\"labels\":{\"alertname\":\"ViaAmtool\",\"severity\":\"warning\"}}]", "")
                .status,
            200);
  std::string url = "--alertmanager.url=http://127.0.0.1:" + std::to_string(port);
  auto amtool = [&](const std::string& args) {
    std::string cmd = "/usr/bin/amtool " + url + " " + args + " 2>/dev/null";
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0) << cmd << "\n" << out;
    return out;
  };
  EXPECT_NE(amtool("alert query").find("ViaAmtool"), std::string::npos);
  std::string id = amtool(
      "silence add alertname=ViaAmtool --comment=maintenance --author=ann "
      "--duration=1h");
  while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
  ASSERT_EQ(id.size(), 36u) << id;
  std::string silences = amtool("silence query");
  EXPECT_NE(silences.find(id), std::string::npos) << silences;
  EXPECT_NE(silences.find("maintenance"), std::string::npos);
  EXPECT_NE(amtool("alert query --silenced").find("ViaAmtool"), std::string::npos);
  std::string shown = amtool("config show");
  EXPECT_NE(shown.find("receiver: team"), std::string::npos) << shown;
  EXPECT_EQ(shown.find("s3cret"), std::string::npos) << "secrets stay hidden";
  amtool("silence expire " + id);
  EXPECT_EQ(amtool("silence query").find(id), std::string::npos);
  EXPECT_NE(amtool("silence query --expired").find(id), std::string::npos);
}

// The real Alertmanager receives Pharos's alerts through an alertmanager_configs receiver
// and shows them with the same labels and fingerprint; and the webhook payload it sends
// for a group is byte for byte the one Pharos sends for the same group (but for
// externalURL, which names each server).
TEST(AlertingTest, RealAlertmanagerReceivesForwardedAlerts) {
  if (::access("/usr/bin/prometheus-alertmanager", X_OK) != 0) {
    GTEST_SKIP() << "prometheus-alertmanager is not installed";
  }
  PharosProcess pharos;
  uint16_t am_port = FreePort();
  Sink theirs_hook, ours_hook;
  std::string am_config =
      pharos.WriteFile("am.yml",
                       "route: {receiver: hook, group_by: [alertname], group_wait: 1s}\n"
                       "receivers: [{name: hook, webhook_configs: [{url: '" +
                           theirs_hook.url() + "/hook'}]}]\n");
  PeerProcess alertmanager(
      "/usr/bin/prometheus-alertmanager",
      {"--config.file=" + am_config, "--storage.path=" + pharos.dir() + "/am",
       "--web.listen-address=127.0.0.1:" + std::to_string(am_port), "--cluster.listen-address="});
  bool ready = false;
  for (int i = 0; i < 300 && !ready; ++i) {
    ready = Get(am_port, "/-/ready").status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(ready) << "Alertmanager did not start";

  pharos.WriteFile("rules.yaml", std::string(kRules));
  std::string config = pharos.WriteFile("pharos.yaml", R"(global:
  evaluation_interval: 1s
rule_files: [rules.yaml]
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
    group_interval: 1s
  receivers:
    - name: hook
      alertmanager_configs: [{url: "http://127.0.0.1:)" + std::to_string(am_port) +
                                                           R"("}]
      webhook_configs: [{url: ")" + ours_hook.url() +
                                                           R"(/hook"}]
)");
  ASSERT_TRUE(pharos.StartServe({"--config", config, "--set", "global.scrape_self=false"}))
      << pharos.Stderr();
  uint16_t port = pharos.port();
  Push(port, "it_up{instance=\"z\"}", 0);
  std::string theirs = WaitFor(am_port, "/api/v2/alerts?filter=alertname%3D%22ItDown%22",
                               "\"alertname\":\"ItDown\"");
  std::string ours =
      WaitFor(port, "/api/v2/alerts?filter=alertname%3D%22ItDown%22", "\"alertname\":\"ItDown\"");
  auto field = [](const std::string& body, const std::string& key) {
    size_t at = body.find("\"" + key + "\":\"");
    if (at == std::string::npos) return std::string();
    size_t start = at + key.size() + 4;
    return body.substr(start, body.find('"', start) - start);
  };
  EXPECT_FALSE(field(theirs, "fingerprint").empty()) << theirs;
  EXPECT_EQ(field(theirs, "fingerprint"), field(ours, "fingerprint"))
      << "Alertmanager: " << theirs << "\nPharos: " << ours;
  EXPECT_NE(theirs.find("\"instance\":\"z\""), std::string::npos);
  EXPECT_NE(theirs.find("\"summary\":\"z is down (0)\""), std::string::npos) << theirs;
  EXPECT_NE(theirs.find("\"state\":\"active\""), std::string::npos) << theirs;

  // The first webhook payload for the ItDown group from each.
  auto first_down = [](Sink& sink) {
    for (int i = 0; i < 200; ++i) {
      for (const std::string& b : sink.bodies()) {
        if (b.find("\"groupLabels\":{\"alertname\":\"ItDown\"}") != std::string::npos) return b;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return std::string();
  };
  auto without_external_url = [](std::string b) {
    size_t at = b.find("\"externalURL\":\"");
    if (at != std::string::npos) b.erase(at + 15, b.find('"', at + 15) - (at + 15));
    return b;
  };
  std::string am_payload = first_down(theirs_hook);
  std::string our_payload = first_down(ours_hook);
  ASSERT_FALSE(am_payload.empty()) << "Alertmanager sent no webhook for ItDown";
  ASSERT_FALSE(our_payload.empty()) << "Pharos sent no webhook for ItDown";
  while (!am_payload.empty() && am_payload.back() == '\n') am_payload.pop_back();
  EXPECT_EQ(without_external_url(our_payload), without_external_url(am_payload))
      << "Pharos:       " << our_payload << "\nAlertmanager: " << am_payload;
}

}  // namespace
}  // namespace pharos::testing
