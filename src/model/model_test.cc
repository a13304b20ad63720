#include "model/model.h"

#include <gtest/gtest.h>

#include <cmath>

namespace pharos::model {
namespace {

TEST(LabelsTest, FormatsSortsAndCompares) {
  Labels l = {{"job", "api"}, {"__name__", "up"}};
  SortLabels(l);
  EXPECT_EQ(l[0].name, "__name__");
  EXPECT_EQ(FormatLabels(l), R"({__name__="up", job="api"})");
  EXPECT_EQ(LabelsJson(l), R"({"__name__":"up","job":"api"})");
  EXPECT_EQ(LabelValue(l, "job"), "api");
  EXPECT_EQ(LabelValue(l, "missing"), "");
  EXPECT_TRUE(LabelsLess({{"a", "1"}}, {{"a", "1"}, {"b", "2"}}));  // a prefix sorts first
  EXPECT_TRUE(LabelsLess({{"a", "1"}}, {{"a", "2"}}));
  EXPECT_FALSE(LabelsLess({{"b", "1"}}, {{"a", "2"}}));
}

TEST(LabelsTest, FingerprintIsPrometheusFnv) {
  // FNV-1a 64 of no bytes is the offset basis: Prometheus's fingerprint of {}.
  EXPECT_EQ(Fingerprint({}), "cbf29ce484222325");
  EXPECT_NE(Fingerprint({{"a", "b"}}), Fingerprint({{"a", "c"}}));
  // The 0xff separators keep {ab=""} and {a="b"} apart.
  EXPECT_NE(Fingerprint({{"ab", ""}}), Fingerprint({{"a", "b"}}));
}

TEST(LabelsTest, BoundedFormatCutsAtUtf8Boundary) {
  std::string value = "\xE4\xB8\xAD";  // one three-byte character
  for (int i = 0; i < 10; ++i) value += value;
  std::string out = FormatLabelsBounded(Labels{{"a", value}, {"b", "c"}}, 8);
  EXPECT_LT(out.size(), 80u);
  EXPECT_NE(out.find("bytes)"), std::string::npos) << out;
  EXPECT_NE(out.find("1 more labels"), std::string::npos) << out;
  EXPECT_EQ(out.find("\\ufffd"), std::string::npos) << out;  // no split character
}

TEST(MatcherTest, PrometheusAndAlertmanagerDialects) {
  auto prom = Matcher::Make(MatchType::kRegexMatch, "msg", "a.b");
  auto am = Matcher::Make(MatchType::kRegexMatch, "msg", "a.b", RegexDialect::kAlertmanager);
  ASSERT_TRUE(prom.ok() && am.ok());
  EXPECT_TRUE(prom->Matches("a\nb"));  // (?s) in Prometheus
  EXPECT_FALSE(am->Matches("a\nb"));
  EXPECT_TRUE(am->Matches("axb"));
  EXPECT_FALSE(prom->Matches("xa\nb"));  // anchored at both ends
}

TEST(MatcherTest, AbsentLabelIsEmptyValue) {
  Labels l = {{"job", "api"}};
  auto ne = Matcher::Make(MatchType::kNotEqual, "env", "prod");
  auto empty = Matcher::Make(MatchType::kEqual, "env", "");
  auto nre = Matcher::Make(MatchType::kRegexNoMatch, "job", "a.*");
  ASSERT_TRUE(ne.ok() && empty.ok() && nre.ok());
  EXPECT_TRUE(ne->Matches(l));
  EXPECT_TRUE(empty->Matches(l));
  EXPECT_FALSE(nre->Matches(l));
  std::vector<Matcher> all = {*ne, *empty};
  EXPECT_TRUE(MatchesAll(all, l));
  all.push_back(*nre);
  EXPECT_FALSE(MatchesAll(all, l));
  EXPECT_EQ(nre->ToString(), R"(job!~"a.*")");
}

TEST(MatcherTest, BadRegexIsAnError) {
  auto m = Matcher::Make(MatchType::kRegexMatch, "a", "(unclosed");
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("invalid regular expression"), std::string::npos);
}

TEST(AnyValueTest, TextAndJson) {
  AnyValue arr;
  arr.type = AnyValue::Type::kArray;
  AnyValue n;
  n.type = AnyValue::Type::kInt;
  n.i = -3;
  arr.array = {AnyValue::String("x"), n};
  EXPECT_EQ(arr.ToText(), R"(["x","-3"])");
  std::string json;
  arr.AppendJson(json);
  EXPECT_EQ(json, R"(["x",-3])");

  AnyValue map;
  map.type = AnyValue::Type::kKvList;
  AnyValue bytes;
  bytes.type = AnyValue::Type::kBytes;
  bytes.str = std::string("\x00\xff", 2);
  AnyValue nan;
  nan.type = AnyValue::Type::kDouble;
  nan.d = std::nan("");
  map.kvlist = {{"b", bytes}, {"d", nan}};
  json.clear();
  map.AppendJson(json);
  EXPECT_EQ(json, R"({"b":"AP8=","d":"NaN"})");
  EXPECT_EQ(map.ToText(), R"({"b":"AP8=","d":"nan"})");
  EXPECT_EQ(FindAttribute(map.kvlist, "d"), &map.kvlist[1].value);
  EXPECT_EQ(FindAttribute(map.kvlist, "zz"), nullptr);
  EXPECT_EQ(AnyValue().ToText(), "");
}

}  // namespace
}  // namespace pharos::model
