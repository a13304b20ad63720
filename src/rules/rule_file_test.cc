#include <gtest/gtest.h>

#include "rules/rules.h"

namespace pharos::rules {
namespace {

TEST(RuleFileTest, ParsesPrometheusFormat) {
  Result<std::vector<GroupSpec>> groups = ParseRuleFile(R"(
groups:
  - name: node
    interval: 30s
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: ops
      - alert: HostDown
        expr: up == 0
        for: 1m
        keep_firing_for: 5m
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} is down"
)",
                                                        "node.yaml");
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 1u);
  const GroupSpec& g = (*groups)[0];
  EXPECT_EQ(g.name, "node");
  EXPECT_EQ(g.interval_ms, 30000);
  EXPECT_EQ(g.limit, 10);
  ASSERT_EQ(g.rules.size(), 2u);
  EXPECT_EQ(g.rules[0].record, "job:up:sum");
  EXPECT_EQ(g.rules[1].alert, "HostDown");
  EXPECT_EQ(g.rules[1].for_ms, 60000);
  EXPECT_EQ(g.rules[1].keep_firing_for_ms, 300000);
  EXPECT_EQ(g.rules[1].line, 11);
}

TEST(RuleFileTest, ReportsEveryProblemWithFileAndLine) {
  Result<std::vector<GroupSpec>> groups = ParseRuleFile(R"(groups:
  - name: a
    rules:
      - alert: Bad
        expr: sum(
      - record: "bad name"
        expr: up
        annotations:
          x: y
      - expr: up
  - name: a
    rules: []
)",
                                                        "bad.yaml");
  ASSERT_FALSE(groups.ok());
  const std::string& m = groups.status().message();
  EXPECT_NE(m.find("bad.yaml:5: group \"a\", rule 1, \"Bad\": could not parse expression"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("invalid recording rule name: bad name"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid field 'annotations' in recording rule"), std::string::npos) << m;
  EXPECT_NE(m.find("bad.yaml:10: group \"a\", rule 3: one of 'record' or 'alert' must be set"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("bad.yaml:11: groupname: \"a\" is repeated in the same file"), std::string::npos)
      << m;
}

TEST(RuleFileTest, RefusesUnknownFieldsBadDurationsAndTemplates) {
  auto message = [](std::string_view text) {
    Result<std::vector<GroupSpec>> g = ParseRuleFile(text, "f.yaml");
    return g.ok() ? std::string() : g.status().message();
  };
  EXPECT_NE(message("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    fr: 5m\n")
                .find("field fr not found"),
            std::string::npos);
  EXPECT_NE(message("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5x\n")
                .find("not a valid duration"),
            std::string::npos);
  EXPECT_NE(message("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n"
                    "    annotations:\n      s: '{{ bogus }}'\n")
                .find("bogus"),
            std::string::npos);
  EXPECT_NE(message("groups: [unclosed").find("f.yaml:"), std::string::npos);
  EXPECT_NE(message("groups:\n- name: g\n  rules:\n  - record: r\n    expr: rate(x[5m])[5m:]\n")
                .find("instant vector"),
            std::string::npos);
  EXPECT_TRUE(ParseRuleFile("", "empty.yaml").ok());
}

}  // namespace

TEST(RuleFileTest, LogRuleFilesHoldLogqlMetricQueries) {
  Result<std::vector<GroupSpec>> groups = ParseRuleFile(R"(groups:
- name: logs
  rules:
  - alert: PaymentErrors
    expr: sum by (service_name) (count_over_time({service_name="pay"} |= "error" [5m])) > 3
    for: 1m
  - record: service:log_lines:rate1m
    expr: sum by (service_name) (rate({service_name=~".+"}[1m]))
)",
                                                        "logs.yaml", RuleLanguage::kLogql);
  ASSERT_TRUE(groups.ok()) << groups.status().message();
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_TRUE((*groups)[0].logql);
  EXPECT_EQ((*groups)[0].rules.size(), 2u);
  // A log query has no value to alert on; LogQL is not PromQL, and the other way round.
  Result<std::vector<GroupSpec>> bad = ParseRuleFile(R"(groups:
- name: logs
  rules:
  - alert: Lines
    expr: '{app="a"} |= "x"'
  - alert: Broken
    expr: count_over_time({app="a"}[5m]
)",
                                                     "logs.yaml", RuleLanguage::kLogql);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("a log query has no value"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("could not parse LogQL expression"), std::string::npos);
  EXPECT_FALSE(ParseRuleFile(R"(groups:
- name: g
  rules:
  - alert: A
    expr: count_over_time({app="a"} |= "x" [5m])
)",
                             "prom.yaml")
                   .ok());
}

}  // namespace pharos::rules
