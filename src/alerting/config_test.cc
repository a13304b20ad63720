#include <gtest/gtest.h>

#include "alerting/alerting.h"

namespace pharos::alerting {
namespace {

constexpr std::string_view kConfig = R"(
global:
  resolve_timeout: 2m
  smtp_from: pharos@example.com
  smtp_smarthost: mail.example.com:587
route:
  receiver: default
  group_by: [alertname, cluster]
  group_wait: 10s
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
      repeat_interval: 1h
    - match: {team: db}
      match_re: {service: "pg.*"}
      receiver: db
      group_by: ['...']
      mute_time_intervals: [nights]
receivers:
  - name: default
    webhook_configs:
      - url: http://127.0.0.1:5001/hook
        send_resolved: false
        max_alerts: 10
        http_config:
          authorization: {credentials: s3cret}
  - name: pager
    email_configs:
      - to: oncall@example.com
  - name: db
    alertmanager_configs:
      - url: http://127.0.0.1:9093
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
time_intervals:
  - name: nights
    time_intervals:
      - times: [{start_time: "22:00", end_time: "24:00"}]
        weekdays: ['monday:friday']
templates: ['/etc/alertmanager/*.tmpl']
)";

TEST(AlertingConfigTest, ParsesAnAlertmanagerConfig) {
  Result<Config> c = ParseConfig(kConfig, "alerting");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->resolve_timeout_ms, 120000);
  EXPECT_EQ(c->route.key, "{}");
  EXPECT_EQ(c->route.group_wait_ms, 10000);
  ASSERT_EQ(c->route.routes.size(), 2u);
  const Route& pager = c->route.routes[0];
  EXPECT_EQ(pager.key, "{}/{severity=\"critical\"}");
  EXPECT_EQ(pager.group_wait_ms, 10000) << "inherited";
  EXPECT_EQ(pager.repeat_interval_ms, 3600000);
  EXPECT_EQ(pager.group_by, (std::vector<std::string>{"alertname", "cluster"}));
  EXPECT_TRUE(pager.continue_matching);
  EXPECT_TRUE(c->route.routes[1].group_by_all);
  EXPECT_EQ(c->route.routes[1].matchers.size(), 2u);
  ASSERT_EQ(c->receivers.size(), 3u);
  EXPECT_EQ(c->receivers[0].webhooks[0].auth.bearer_token, "s3cret");
  EXPECT_FALSE(c->receivers[0].webhooks[0].send_resolved);
  EXPECT_EQ(c->receivers[1].emails[0].from, "pharos@example.com") << "from global";
  EXPECT_EQ(c->receivers[1].emails[0].smarthost, "mail.example.com:587");
  EXPECT_EQ(c->receivers[2].alertmanagers[0].url, "http://127.0.0.1:9093");
  ASSERT_EQ(c->inhibit_rules.size(), 1u);
  EXPECT_EQ(c->inhibit_rules[0].equal, std::vector<std::string>{"alertname"});
  ASSERT_EQ(c->time_intervals.count("nights"), 1u);
  // Monday 2024-01-01 23:00 UTC is inside; 21:00 and Saturday are not.
  const TimeInterval& night = c->time_intervals["nights"][0];
  EXPECT_TRUE(night.Contains(1704150000000));
  EXPECT_FALSE(night.Contains(1704142800000));
  EXPECT_FALSE(night.Contains(1704578400000));
}

TEST(AlertingConfigTest, ErrorsNameTheKey) {
  auto error = [](std::string_view yaml) {
    Result<Config> c = ParseConfig(yaml, "alerting");
    return c.ok() ? std::string() : c.status().message();
  };
  EXPECT_EQ(error("route: {receiver: nope}\nreceivers: [{name: a}]\n"),
            "alerting: route.receiver: undefined receiver \"nope\"");
  EXPECT_NE(
      error("route:\n  receiver: a\n  routes: [{matchers: ['a=~\"(\"']}]\nreceivers: [{name: a}]\n")
          .find("route.routes[0].matchers[0]"),
      std::string::npos);
  EXPECT_NE(error("route: {receiver: a, group_wait: 5 minutes}\nreceivers: [{name: a}]\n")
                .find("route.group_wait"),
            std::string::npos);
  EXPECT_NE(error("route: {receiver: a}\nreceivers: [{name: a, slack_configs: [{}]}]\n")
                .find("not supported"),
            std::string::npos);
  EXPECT_NE(error("route: {receiver: a}\nreceivers: [{name: a}, {name: a}]\n").find("twice"),
            std::string::npos);
  EXPECT_NE(
      error("route: {receiver: a}\nreceivers: [{name: a, webhook_configs: [{url: ftp://x}]}]\n")
          .find("webhook_configs[0].url"),
      std::string::npos);
  EXPECT_NE(error("route: {receiver: a, bogus: 1}\nreceivers: [{name: a}]\n").find("route.bogus"),
            std::string::npos);
  EXPECT_NE(error("route: [").find("line"), std::string::npos);
}

TEST(AlertingConfigTest, MatcherSyntax) {
  Result<std::vector<model::Matcher>> m = ParseMatchers(
      "{alertname=\"Disk \\\"full\\\"\", severity!=info, job=~\"api|web\", env!~dev}");
  ASSERT_TRUE(m.ok()) << m.status().message();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].value(), "Disk \"full\"");
  EXPECT_EQ((*m)[1].type(), model::MatchType::kNotEqual);
  model::Labels labels = {
      {"alertname", "Disk \"full\""}, {"env", "prod"}, {"job", "web"}, {"severity", "page"}};
  EXPECT_TRUE(MatchesAll(*m, labels));
  labels[2].value = "webx";
  EXPECT_FALSE(MatchesAll(*m, labels));
  EXPECT_FALSE(ParseMatchers("a").ok());
  EXPECT_FALSE(ParseMatchers("a=\"unterminated").ok());
  EXPECT_FALSE(ParseMatchers("1a=b").ok());
}

TEST(AlertingConfigTest, TimesAndFingerprints) {
  EXPECT_EQ(FormatTime(0), "0001-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1704067200000), "2024-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1704067200120), "2024-01-01T00:00:00.12Z");
  // Alertmanager's fingerprint of {alertname="Test"}.
  EXPECT_EQ(model::Fingerprint({{"alertname", "Test"}}).size(), 16u);
  EXPECT_NE(model::Fingerprint({{"a", "b"}}), model::Fingerprint({{"a", "c"}}));
}

}  // namespace
}  // namespace pharos::alerting
