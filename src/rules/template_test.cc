#include "rules/template.h"

#include <cmath>

#include <gtest/gtest.h>

namespace pharos::rules {
namespace {

std::string Expand(std::string_view text, double value = 0,
                   model::Labels labels = {{"instance", "host-1:9100"}, {"job", "node"}}) {
  Result<Template> t = Template::Parse(text);
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) return "<parse error>";
  TemplateData data;
  data.labels = &labels;
  data.value = value;
  model::Labels external = {{"cluster", "eu-1"}};
  data.external_labels = &external;
  data.external_url = "http://pharos:7070";
  Result<std::string> out = t->Execute(data);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? *out : "<exec error>";
}

TEST(TemplateTest, LabelsValueAndExternalData) {
  EXPECT_EQ(Expand("{{ $labels.instance }} of {{ .Labels.job }} is {{ $value }}", 0.5),
            "host-1:9100 of node is 0.5");
  EXPECT_EQ(Expand("{{ $externalLabels.cluster }} {{ $externalURL }}"), "eu-1 http://pharos:7070");
  EXPECT_EQ(Expand("[{{ $labels.missing }}]"), "[]");
  EXPECT_EQ(Expand("plain text"), "plain text");
}

TEST(TemplateTest, GoFloatFormatting) {
  EXPECT_EQ(GoFloat(1e6), "1e+06");
  EXPECT_EQ(GoFloat(123456), "123456");
  EXPECT_EQ(GoFloat(1234567), "1.234567e+06");
  EXPECT_EQ(GoFloat(0.0001), "0.0001");
  EXPECT_EQ(GoFloat(0.00001), "1e-05");
  EXPECT_EQ(GoFloat(-2.5), "-2.5");
  EXPECT_EQ(GoFloat(std::nan("")), "NaN");
  EXPECT_EQ(GoFloat(INFINITY), "+Inf");
}

TEST(TemplateTest, HumanizeFamilyMatchesPrometheus) {
  EXPECT_EQ(Humanize(1234567), "1.235M");
  EXPECT_EQ(Humanize(0.0012), "1.2m");
  EXPECT_EQ(Humanize(0), "0");
  EXPECT_EQ(Humanize1024(1048576), "1Mi");
  EXPECT_EQ(HumanizeDuration(93784), "1d 2h 3m 4s");
  EXPECT_EQ(HumanizeDuration(1.5), "1.5s");
  EXPECT_EQ(HumanizeDuration(0.25), "250ms");
  EXPECT_EQ(HumanizePercentage(0.0567), "5.67%");
  EXPECT_EQ(Expand("{{ humanize $value }}", 2048), "2.048k");
  EXPECT_EQ(Expand("{{ $value | humanizePercentage }}", 0.5), "50%");
  EXPECT_EQ(Expand("{{ 1700000000 | humanizeTimestamp }}"), "2023-11-14 22:13:20 +0000 UTC");
}

TEST(TemplateTest, FunctionsConditionalsAndVariables) {
  EXPECT_EQ(Expand("{{ printf \"%.2f\" $value }}", 3.14159), "3.14");
  EXPECT_EQ(Expand("{{ printf \"%s=%d\" \"n\" 42 }}"), "n=42");
  EXPECT_EQ(Expand("{{ $labels.job | toUpper }}"), "NODE");
  EXPECT_EQ(Expand("{{ reReplaceAll \"(.*):.*\" \"$1\" $labels.instance }}"), "host-1");
  EXPECT_EQ(Expand("{{ $labels.instance | stripPort }}"), "host-1");
  EXPECT_EQ(
      Expand("{{ if gt $value 80.0 }}high{{ else if gt $value 50.0 }}mid{{ else }}low{{ end }}",
             60),
      "mid");
  EXPECT_EQ(Expand("{{ if eq $labels.job \"node\" \"api\" }}yes{{ end }}"), "yes");
  EXPECT_EQ(Expand("{{ $x := humanize $value }}v={{ $x }}", 1500), "v=1.5k");
  EXPECT_EQ(Expand("{{ with $labels.job }}job {{ . }}{{ end }}"), "job node");
  EXPECT_EQ(Expand("a {{- /* comment */ -}} b"), "ab");
  EXPECT_EQ(Expand("{{ title \"disk full\" }}"), "Disk Full");
  EXPECT_EQ(Expand("{{ if and (gt $value 1.0) (lt $value 3.0) }}in{{ end }}", 2), "in");
}

TEST(TemplateTest, ParseErrorsNameTheProblem) {
  Result<Template> t = Template::Parse("{{ nosuchfunc $value }}");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("nosuchfunc"), std::string::npos);
  EXPECT_FALSE(Template::Parse("{{ if $value }}x").ok());
  EXPECT_FALSE(Template::Parse("{{ $labels.job").ok());
  EXPECT_FALSE(Template::Parse("{{ \"unterminated }}").ok());
  EXPECT_FALSE(Template::Parse("{{ end }}").ok());
}

// The fuzz smoke run found that 20,000 "(" overflowed the stack: nesting is refused past
// 100 levels, for parentheses, blocks and {{else if}} chains alike.
TEST(TemplateTest, DeepNestingIsRefusedNotRecursedInto) {
  auto repeat = [](std::string_view s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  Result<Template> parens = Template::Parse("{{" + repeat("(", 20000) + "}}");
  ASSERT_FALSE(parens.ok());
  EXPECT_NE(parens.status().message().find("nest deeper than 100"), std::string::npos);
  Result<Template> blocks = Template::Parse(repeat("{{if 1}}", 20000));
  ASSERT_FALSE(blocks.ok());
  EXPECT_NE(blocks.status().message().find("nest deeper than 100"), std::string::npos);
  EXPECT_FALSE(Template::Parse("{{if 0}}" + repeat("{{else if 0}}", 20000) + "{{end}}").ok());
  // Up to the limit is fine.
  Result<Template> fine = Template::Parse("{{" + repeat("(", 50) + "1" + repeat(")", 50) + "}}");
  ASSERT_TRUE(fine.ok()) << fine.status().message();
  EXPECT_EQ(*fine->Execute(TemplateData{}), "1");
  Result<Template> nested = Template::Parse(repeat("{{if 1}}", 50) + "x" + repeat("{{end}}", 50));
  ASSERT_TRUE(nested.ok()) << nested.status().message();
  EXPECT_EQ(*nested->Execute(TemplateData{}), "x");
}

TEST(TemplateTest, ExecutionErrorsAreValues) {
  Result<Template> t = Template::Parse("{{ humanize \"abc\" }}");
  ASSERT_TRUE(t.ok());
  TemplateData data;
  Result<std::string> out = t->Execute(data);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("abc"), std::string::npos);
  Result<Template> u = Template::Parse("{{ $nope }}");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->Execute(data).ok());
}

}  // namespace
}  // namespace pharos::rules
