#include <gtest/gtest.h>

#include "scrape/scrape.h"

namespace pharos::scrape {
namespace {

model::Labels L(std::initializer_list<std::pair<const char*, const char*>> pairs) {
  model::Labels out;
  for (auto [n, v] : pairs) out.push_back({n, v});
  std::sort(out.begin(), out.end(),
            [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
  return out;
}

config::RelabelConfig Step(std::string action, std::vector<std::string> sources, std::string regex,
                           std::string target = "", std::string replacement = "$1") {
  config::RelabelConfig c;
  c.action = std::move(action);
  c.source_labels = std::move(sources);
  c.regex = std::move(regex);
  c.target_label = std::move(target);
  c.replacement = std::move(replacement);
  return c;
}

bool Apply(std::vector<config::RelabelConfig> steps, model::Labels& labels) {
  auto compiled = CompileRelabel(steps, "relabel_configs");
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  return Relabel(*compiled, labels);
}

TEST(RelabelTest, ReplaceWithGroupsAndNames) {
  model::Labels l = L({{"__address__", "host-1:9100"}, {"job", "node"}});
  ASSERT_TRUE(
      Apply({Step("replace", {"__address__"}, "([^:]+):(\\d+)", "host", "$1"),
             Step("replace", {"__address__"}, "(?P<h>[^:]+):(?P<p>\\d+)", "port_${p}", "${h}-$p"),
             Step("replace", {"job", "host"}, "(.*);(.*)", "combo", "$1/$2x"),
             Step("replace", {"job"}, "nomatch", "never", "x")},
            l));
  EXPECT_EQ(l, L({{"__address__", "host-1:9100"},
                  {"combo", "node/"},
                  {"host", "host-1"},
                  {"job", "node"},
                  {"port_9100", "host-1-9100"}}));
  // "$2x" names group "2x", which does not exist, as in Go.
}

TEST(RelabelTest, ReplaceWithEmptyResultDeletesTheLabel) {
  model::Labels l = L({{"a", "1"}, {"b", "2"}});
  ASSERT_TRUE(Apply({Step("replace", {"missing"}, "", "b", "")}, l));
  EXPECT_EQ(l, L({{"a", "1"}}));
}

TEST(RelabelTest, KeepAndDrop) {
  model::Labels l = L({{"__name__", "go_gc_duration_seconds"}, {"job", "x"}});
  EXPECT_FALSE(Apply({Step("drop", {"__name__"}, "go_.*")}, l));
  EXPECT_TRUE(Apply({Step("keep", {"__name__"}, "go_.*")}, l));
  EXPECT_FALSE(Apply({Step("keep", {"__name__"}, "go")}, l));  // anchored
  model::Labels empty = L({{"job", "x"}});
  EXPECT_TRUE(Apply({Step("drop", {"missing"}, ".+")}, empty));
}

TEST(RelabelTest, LabelDropKeepMap) {
  model::Labels l = L({{"__meta_a", "1"}, {"__meta_b", "2"}, {"job", "x"}, {"tmp_1", "t"}});
  ASSERT_TRUE(
      Apply({Step("labelmap", {}, "__meta_(.+)", "", "m_$1"), Step("labeldrop", {}, "tmp_.*")}, l));
  EXPECT_EQ(l, L({{"__meta_a", "1"}, {"__meta_b", "2"}, {"job", "x"}, {"m_a", "1"}, {"m_b", "2"}}));
  ASSERT_TRUE(Apply({Step("labelkeep", {}, "job|m_.*")}, l));
  EXPECT_EQ(l, L({{"job", "x"}, {"m_a", "1"}, {"m_b", "2"}}));
}

TEST(RelabelTest, HashmodLowercase) {
  model::Labels l = L({{"__address__", "Host:1"}});
  config::RelabelConfig h = Step("hashmod", {"__address__"}, "(.*)", "shard");
  h.modulus = 4;
  ASSERT_TRUE(Apply({h, Step("lowercase", {"__address__"}, "(.*)", "lower")}, l));
  EXPECT_EQ(l[2].name, "shard");
  int shard = std::stoi(l[2].value);
  EXPECT_GE(shard, 0);
  EXPECT_LT(shard, 4);
  EXPECT_EQ(l[1].value, "host:1");
}

TEST(RelabelTest, BadRegexNamesTheStep) {
  auto compiled = CompileRelabel({Step("keep", {"a"}, "ok"), Step("keep", {"a"}, "(")},
                                 "metric_relabel_configs");
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("metric_relabel_configs[1].regex"), std::string::npos);
}

}  // namespace
}  // namespace pharos::scrape
