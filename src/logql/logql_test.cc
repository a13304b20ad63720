#include "logql/logql.h"
#include "common/units.h"

#include <gtest/gtest.h>

#include "logql/pipeline.h"
#include "logql/template.h"

namespace pharos::logql {
namespace {

struct TestEntry {
  int64_t ts;
  std::string line;
  model::Labels metadata;
};

struct TestStream {
  model::Labels labels;
  std::vector<TestEntry> entries;  // ascending time
};

// Lines in memory; optionally ordered, to test the early stop of log queries.
class VectorSource : public Source {
 public:
  std::vector<TestStream> streams;
  bool ordered = false;
  uint64_t visited = 0;
  std::vector<std::string> last_required;

  Status Select(const LogSelector& selector, int64_t mint, int64_t maxt, Order order,
                const EntryVisitor& visit) override {
    bool backward = order.backward;
    last_required = selector.required_substrings;
    std::vector<std::pair<const TestStream*, const TestEntry*>> all;
    for (const TestStream& s : streams) {
      if (!model::MatchesAll(selector.matchers, s.labels)) continue;
      for (const TestEntry& e : s.entries) {
        if (e.ts >= mint && e.ts <= maxt) all.emplace_back(&s, &e);
      }
    }
    if (ordered && order.by_time) {
      std::stable_sort(all.begin(), all.end(), [&](const auto& a, const auto& b) {
        return backward ? a.second->ts > b.second->ts : a.second->ts < b.second->ts;
      });
    }
    for (const auto& [s, e] : all) {
      ++visited;
      LogEntry entry{e->ts, e->line, e->metadata};
      if (Status st = visit(s->labels, entry); !st.ok()) return st;
    }
    return Status::Ok();
  }
  bool Ordered() const override { return ordered; }
};

constexpr int64_t kSec = 1'000'000'000;

std::string ParseError(std::string_view q) {
  Result<ExprPtr> e = ParseExpr(q);
  return e.ok() ? "ok" : e.status().message();
}

TEST(LogqlParserTest, SelectorsFiltersAndEscapes) {
  Result<ExprPtr> e = ParseExpr(
      R"({app="api", env=~"prod|staging"} |= "error" != `debug` |~ "status=5\\d\\d" !~ "(?i)health")");
  ASSERT_TRUE(e.ok()) << e.status().message();
  ASSERT_EQ((*e)->kind, NodeKind::kLog);
  const LogSelector& sel = static_cast<const LogExpr&>(**e).selector;
  ASSERT_EQ(sel.matchers.size(), 2u);
  EXPECT_EQ(sel.matchers[1].name(), "env");
  EXPECT_EQ(sel.stages.size(), 4u);
  // Only the positive substring before any parser is pushed down to the store.
  EXPECT_EQ(sel.required_substrings, std::vector<std::string>{"error"});
  EXPECT_TRUE(sel.required_substrings_any_case.empty());

  // Regexes that are plain literals are substrings too; (?i) ones up to ASCII case, unless
  // they hold k or s (which RE2 folds with non-ASCII letters).
  auto required = [](std::string_view q) {
    Result<ExprPtr> r = ParseExpr(q);
    EXPECT_TRUE(r.ok()) << r.status().message();
    const LogSelector& s = static_cast<const LogExpr&>(**r).selector;
    std::string out;
    for (const std::string& x : s.required_substrings) out += "[" + x + "]";
    for (const std::string& x : s.required_substrings_any_case) out += "(" + x + ")";
    return out;
  };
  EXPECT_EQ(required(R"({a="b"} |~ "timeout after 30")"), "[timeout after 30]");
  EXPECT_EQ(required(R"({a="b"} |~ "(?i)Trace_ID=4BF92F")"), "(Trace_ID=4BF92F)");
  EXPECT_EQ(required(R"({a="b"} |~ "(?i)mask")"), "");
  EXPECT_EQ(required(R"({a="b"} |~ "time.ut")"), "");
  EXPECT_EQ(required(R"({a="b"} |~ "(?s)abc")"), "");
  EXPECT_EQ(required(R"({a="b"} !~ "abc")"), "");
  EXPECT_EQ(required(R"({a="b"} |~ "abc" or "def")"), "");
  EXPECT_EQ(required(R"({a="b"} | line_format "x" |~ "abc")"), "");

  // A lone label equality before anything that could change the labels: every kept line
  // holds it (the store skips blocks without the value).
  auto labels = [](std::string_view q) {
    Result<ExprPtr> r = ParseExpr(q);
    EXPECT_TRUE(r.ok()) << r.status().message();
    const Expr& e = **r;
    const LogSelector& s = e.kind == NodeKind::kRange ? static_cast<const RangeExpr&>(e).selector
                                                      : static_cast<const LogExpr&>(e).selector;
    std::string out;
    for (const auto& [name, value] : s.required_labels) out += "[" + name + "=" + value + "]";
    return out;
  };
  EXPECT_EQ(labels(R"({a="b"} | trace_id="4bf92f35")"), "[trace_id=4bf92f35]");
  EXPECT_EQ(labels(R"({a="b"} |= "x" | line_format "{{.a}}" | trace_id="t" | span_id="s")"),
            "[trace_id=t][span_id=s]");
  EXPECT_EQ(labels(R"(count_over_time({a="b"} | trace_id="t" [5m]))"), "[trace_id=t]");
  EXPECT_EQ(labels(R"({a="b"} | json | trace_id="t")"), "");
  EXPECT_EQ(labels(R"({a="b"} | label_format trace_id="x" | trace_id="t")"), "");
  EXPECT_EQ(labels(R"({a="b"} | drop level | trace_id="t")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id="t" or span_id="s")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id="t", span_id="s")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id="t" and span_id="s")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id!="t")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id=~"t")"), "");
  EXPECT_EQ(labels(R"({a="b"} | trace_id="")"), "");

  Result<ExprPtr> braces = ParseExpr(R"({app="a}b"} |= "say \"hi\"\n")");
  ASSERT_TRUE(braces.ok()) << braces.status().message();
  EXPECT_EQ(static_cast<const LogExpr&>(**braces).selector.matchers[0].value(), "a}b");
  EXPECT_EQ(static_cast<const LogExpr&>(**braces).selector.required_substrings[0], "say \"hi\"\n");
}

TEST(LogqlParserTest, RefusalsNameWhatIsWrong) {
  EXPECT_NE(ParseError("app").find("syntax error"), std::string::npos);
  EXPECT_NE(ParseError(R"({app="a")").find("syntax error"), std::string::npos);
  EXPECT_NE(ParseError(R"({app=~".*"})").find("empty-compatible"), std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} |= "unterminated)").find("not terminated"), std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} |~ "(")").find("error parsing regexp"), std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} |= 42)").find("expecting STRING"), std::string::npos);
  EXPECT_NE(ParseError(R"(count_over_time({app="a"} | logfmt | unwrap v [1m]))")
                .find("invalid aggregation count_over_time with unwrap"),
            std::string::npos);
  EXPECT_NE(ParseError(R"(rate({app="a"}[1m]) by (x))").find("grouping not allowed"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} | line_format "{{ .x")").find("unclosed action"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} | line_format "{{ nope .x }}")").find("not defined"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} | json x="a[")").find("cannot parse expression"),
            std::string::npos);
  EXPECT_NE(ParseError(R"({app="a"} |= ip("300.1.1.1"))").find("ip: invalid pattern"),
            std::string::npos);
  // A regex whose automaton would be huge is refused, not run.
  EXPECT_NE(ParseError(R"x({app="a"} |~ "((((a{100}){100}){100}){100})")x").find("regexp"),
            std::string::npos);
  // Nesting is bounded.
  std::string deep(500, '(');
  deep += "1";
  deep += std::string(500, ')');
  EXPECT_NE(ParseError(deep).find("nested too deeply"), std::string::npos);
}

TEST(LogqlEngineTest, LogQueryKeepsTheNewestLinesAndTheirLabels) {
  VectorSource src;
  src.streams.push_back({{{"app", "a"}},
                         {{1 * kSec, "level=info msg=one", {}},
                          {2 * kSec, "level=error msg=two", {{"trace_id", "t2"}}},
                          {3 * kSec, "level=error msg=three", {}}}});
  src.streams.push_back({{{"app", "b"}}, {{4 * kSec, "level=error msg=four", {}}}});
  Engine engine;
  QueryParams p;
  p.start_ns = 0;
  p.end_ns = 10 * kSec;
  p.limit = 2;
  Result<QueryResult> r =
      engine.Query(src, R"({app=~"a|b"} |= "error" | logfmt | line_format "{{.msg}}")", p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ResultType::kStreams);
  // The two newest error lines: four (stream b) and three (stream a).
  size_t lines = 0;
  for (const Stream& s : r->streams) {
    for (const StreamEntry& e : s.entries) {
      ++lines;
      EXPECT_TRUE(e.line == "four" || e.line == "three") << e.line;
    }
    EXPECT_EQ(model::LabelValue(s.labels, "level"), "error");
  }
  EXPECT_EQ(lines, 2u);

  p.backward = false;
  r = engine.Query(src, R"({app="a"} | trace_id="t2")", p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->streams.size(), 1u);
  ASSERT_EQ(r->streams[0].entries.size(), 1u);
  EXPECT_EQ(r->streams[0].entries[0].line, "level=error msg=two");
  EXPECT_EQ(model::LabelValue(r->streams[0].labels, "trace_id"), "t2");
}

TEST(LogqlEngineTest, AnOrderedSourceStopsAtTheLimit) {
  VectorSource src;
  src.ordered = true;
  TestStream s{{{"app", "a"}}, {}};
  for (int i = 0; i < 1000; ++i) s.entries.push_back({i * kSec, "line " + std::to_string(i), {}});
  src.streams.push_back(std::move(s));
  QueryParams p;
  p.start_ns = 0;
  p.end_ns = 2000 * kSec;
  p.limit = 10;
  Result<QueryResult> r = Engine().Query(src, R"({app="a"})", p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->streams.size(), 1u);
  ASSERT_EQ(r->streams[0].entries.size(), 10u);
  EXPECT_EQ(r->streams[0].entries[0].line, "line 999");
  EXPECT_EQ(src.visited, 10u);
}

TEST(LogqlEngineTest, MetricQueriesAndLimits) {
  VectorSource src;
  for (int k = 0; k < 5; ++k) {
    TestStream s{{{"app", "a"}, {"pod", std::to_string(k)}}, {}};
    for (int i = 1; i <= 60; ++i) s.entries.push_back({i * kSec, "x", {}});
    src.streams.push_back(std::move(s));
  }
  QueryParams p;
  p.instant = true;
  p.start_ns = p.end_ns = 60 * kSec;
  Result<QueryResult> r = Engine().Query(src, R"(sum(count_over_time({app="a"}[1m])))", p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ResultType::kVector);
  ASSERT_EQ(r->series.size(), 1u);
  EXPECT_EQ(r->series[0].samples[0].v, 300);

  EngineOptions tight;
  tight.max_series = 3;
  r = Engine(tight).Query(src, R"(count_over_time({app="a"}[1m]))", p);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("maximum number of series (3)"), std::string::npos);

  // max_bytes_read: 300 one-byte lines; a query reading them all passes 299 bytes.
  EngineOptions bytes;
  bytes.max_bytes_read = 299;
  r = Engine(bytes).Query(src, R"(sum(count_over_time({app="a"} |= "x" [1m])))", p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("the query would read too many bytes (query: more than "
                                      "299 B, limit: 299 B)"),
            std::string::npos)
      << r.status().message();
  bytes.max_bytes_read = 300;
  r = Engine(bytes).Query(src, R"(sum(count_over_time({app="a"} |= "x" [1m])))", p);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->series[0].samples[0].v, 300);

  QueryParams range;
  range.start_ns = 30 * kSec;
  range.end_ns = 60 * kSec;
  range.step_ns = 15 * kSec;
  r = Engine().Query(src, R"(rate({app="a", pod="0"}[30s]))", range);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->type, ResultType::kMatrix);
  ASSERT_EQ(r->series[0].samples.size(), 3u);
  EXPECT_DOUBLE_EQ(r->series[0].samples[2].v, 1.0);
}

TEST(LogqlTemplateTest, FunctionsPipesAndConditions) {
  LabelsBuilder lbs;
  model::Labels stream = {{"app", "api"}, {"status", "503"}, {"msg", "  Hello World  "}};
  lbs.Reset(stream, {});
  auto run = [&](std::string_view text) {
    Result<Template> t = Template::Parse(text);
    if (!t.ok()) return "parse: " + t.status().message();
    Result<std::string> out = t->Execute(lbs, "the line", 90 * kSec);
    return out.ok() ? *out : "exec: " + out.status().message();
  };
  EXPECT_EQ(run("{{.app | upper}} {{.missing}}!"), "API !");
  EXPECT_EQ(run(R"({{ if ge (int .status) 500 }}bad{{ else }}ok{{ end }})"), "bad");
  EXPECT_EQ(run(R"({{ if eq .app "web" }}w{{ else if eq .app "api" }}a{{ end }})"), "a");
  EXPECT_EQ(run("{{ .msg | trim | lower }}"), "hello world");
  EXPECT_EQ(run(R"({{ printf "%s=%05.1f" .app 3.14159 }})"), "api=003.1");
  EXPECT_EQ(run(R"x({{ regexReplaceAll "(\\d)0(\\d)" .status "${2}x${1}" }})x"), "3x5");
  EXPECT_EQ(run("{{ __line__ }} at {{ __timestamp__ }}"), "the line at 90");
  EXPECT_EQ(run(R"({{ replace "l" "L" "hello" }} {{ add 2 3 }} {{ divf 1 4 }})"), "heLLo 5 0.25");
  EXPECT_EQ(run("a {{- \"  b  \" -}} c"), "a  b  c");
  EXPECT_EQ(run(R"({{ b64enc "hi" }} {{ "aGk=" | b64dec }})"), "aGk= hi");
  EXPECT_NE(run(R"({{ div 1 0 }})").find("exec:"), std::string::npos);
}

TEST(LogqlPipelineTest, ParsersSetLabelsWithLokisRules) {
  LabelsBuilder lbs;
  model::Labels stream = {{"app", "a"}, {"level", "stream"}};
  std::vector<model::Label> metadata = {{"trace_id", "t1"}};
  auto run = [&](const StagePtr& stage, std::string_view text) {
    lbs.Reset(stream, metadata);
    Line line{text, {}};
    stage->Process(0, line, lbs);
    return model::FormatLabels(lbs.Build());
  };
  EXPECT_EQ(
      run(MakeJsonParser(),
          R"({"level":"info","user":{"id":7,"name":"x"},"tags":[1],"n":null,"9a":"b"})"),
      R"({_9a="b", app="a", level="stream", level_extracted="info", trace_id="t1", user_id="7", user_name="x"})");
  EXPECT_NE(run(MakeJsonParser(), "not json").find("JSONParserErr"), std::string::npos);
  EXPECT_EQ(run(MakeLogfmtParser(false, false), R"(a=1 b="x y" c= a=2 d-e=3)"),
            R"({a="1", app="a", b="x y", d_e="3", level="stream", trace_id="t1"})");
  Result<StagePtr> pattern = MakePatternParser("<ip> - <_> [<ts>] \"<method> <path> <_>\"");
  ASSERT_TRUE(pattern.ok());
  EXPECT_EQ(
      run(*pattern, R"(1.2.3.4 - - [01/Jan] "GET /x HTTP/1.1")"),
      R"({app="a", ip="1.2.3.4", level="stream", method="GET", path="/x", trace_id="t1", ts="01/Jan"})");
  Result<StagePtr> re = MakeRegexpParser(R"((?P<verb>[A-Z]+) (?P<level>\w+))");
  ASSERT_TRUE(re.ok());
  EXPECT_EQ(run(*re, "GET warn"),
            R"({app="a", level="stream", level_extracted="warn", trace_id="t1", verb="GET"})");
  lbs.Reset(stream, metadata);
  Line line{R"({"_entry":"inner line","k":"v","n":3})", {}};
  MakeUnpackParser()->Process(0, line, lbs);
  EXPECT_EQ(line.view, "inner line");
  EXPECT_EQ(*lbs.Get("k"), "v");
  EXPECT_EQ(lbs.Get("n"), nullptr);
}

TEST(LogqlPipelineTest, ConversionsAndAddresses) {
  EXPECT_DOUBLE_EQ(*ParseGoDuration("1h2m3.5s"), 3723.5);
  EXPECT_DOUBLE_EQ(*ParseGoDuration("250\xc2\xb5s"), 0.00025);
  EXPECT_NE(ParseGoDuration("5").status().message().find("missing unit"), std::string::npos);
  EXPECT_NE(ParseGoDuration("1d").status().message().find("unknown unit"), std::string::npos);
  EXPECT_DOUBLE_EQ(*ParseHumanBytes("1.5 KiB"), 1536);
  EXPECT_DOUBLE_EQ(*ParseHumanBytes("2mb"), 2e6);
  EXPECT_FALSE(ParseHumanBytes("oops").ok());
  EXPECT_DOUBLE_EQ(*ParseGoFloat("0x1.8p3"), 12);
  EXPECT_FALSE(ParseGoFloat("0x1A").ok());
  EXPECT_FALSE(ParseGoFloat("1_000").ok());
  Result<IpRange> net = IpRange::Parse("10.0.0.0/8");
  ASSERT_TRUE(net.ok());
  EXPECT_TRUE(net->MatchesWithin("client 10.2.3.4:80 said hi"));
  EXPECT_FALSE(net->MatchesWithin("client 11.2.3.4"));
  Result<IpRange> v6 = IpRange::Parse("2001:db8::/32");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->MatchesWithin("from 2001:db8::1 ok"));
  Result<IpRange> range = IpRange::Parse("192.168.1.1-192.168.1.9");
  ASSERT_TRUE(range.ok());
  EXPECT_TRUE(range->Contains("192.168.1.5"));
  EXPECT_FALSE(range->Contains("192.168.1.10"));
  EXPECT_FALSE(IpRange::Parse("10.0.0.9-10.0.0.1").ok());
}

}  // namespace
}  // namespace pharos::logql

namespace pharos::logql {
namespace {

TEST(FormatQueryTest, CanonicalOnOneLine) {
  auto format = [](std::string_view q) {
    Result<std::string> f = FormatQuery(q);
    return f.ok() ? *f : "error: " + f.status().message();
  };
  EXPECT_EQ(format(R"q({app = "api" ,env=~`prod|stag`}|="err"   or `warn`|json|level = "error")q"),
            R"q({app="api", env=~"prod|stag"} |= "err" or "warn" | json | level="error")q");
  EXPECT_EQ(format(R"q(sum(count_over_time({a="b"}[5m])) by (x,y))q"),
            R"q(sum by (x, y) (count_over_time({a="b"} [5m])))q");
  EXPECT_EQ(format(R"q(topk(3, rate({a="b"} |~ "x\\d" [1m] offset 5m)))q"),
            R"q(topk(3, rate({a="b"} |~ "x\\d" [1m] offset 5m)))q");
  EXPECT_EQ(
      format(
          R"q(quantile_over_time(0.99,{a="b"}|logfmt --strict|unwrap bytes(t)|__error__=""[5m]) by (a))q"),
      R"q(quantile_over_time(0.99, {a="b"} | logfmt --strict | unwrap bytes(t) | __error__="" [5m]) by (a))q");
  EXPECT_EQ(format(R"q((1 + 2) * 3)q"), "9");  // literals fold, as Loki's parser does
  EXPECT_EQ(format(R"q(sum(rate({a="b"}[1m])) / (sum(rate({a="b"}[1m])) + 1))q"),
            R"q(sum(rate({a="b"} [1m])) / (sum(rate({a="b"} [1m])) + 1))q");
  EXPECT_EQ(format(R"q(rate({a="b"}[1m]) > bool on(x) group_left(y) rate({c="d"}[1m]))q"),
            R"q(rate({a="b"} [1m]) > bool on (x) group_left (y) rate({c="d"} [1m]))q");
  EXPECT_EQ(
      format(
          R"q({a="b"} | line_format "{{.x}}\n" | label_format y=x, z="{{.w}}" | drop a, b="c")q"),
      R"q({a="b"} | line_format "{{.x}}\n" | label_format y=x, z="{{.w}}" | drop a, b="c")q");
  EXPECT_EQ(format(R"q({a="b"} | status >= 500 and (dur > 1s or size < 1KB))q"),
            R"q({a="b"} | status>=500 and (dur>1s or size<1KB))q");
  EXPECT_EQ(format(R"q(label_replace(rate({a="b"}[1m]),"dst","$1","src","(.*)"))q"),
            R"q(label_replace(rate({a="b"} [1m]), "dst", "$1", "src", "(.*)"))q");
  EXPECT_EQ(format("vector(1) or vector(2)"), "vector(1) or vector(2)");
  EXPECT_EQ(format("{a=\"b\"} |= ip(\"10.0.0.0/8\")"), R"q({a="b"} |= ip("10.0.0.0/8"))q");
  EXPECT_EQ(format("{a="),
            "error: parse error at line 1, col 4: syntax error: unexpected $end, expecting STRING");
}

TEST(FormatQueryTest, LongQueriesBreakAtTheirStructure) {
  Result<std::string> f = FormatQuery(
      R"q(sum by (service_name) (count_over_time({service_name="checkout", env="production"} |= "payment" | json | status >= 500 [5m])) / sum by (service_name) (count_over_time({service_name="checkout", env="production"} [5m])))q");
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(*f, R"q(  sum by (service_name) (
    count_over_time(
      {service_name="checkout", env="production"}
        |= "payment"
        | json
        | status>=500 [5m]
    )
  )
/
  sum by (service_name) (count_over_time({service_name="checkout", env="production"} [5m])))q");
  // It parses back, and formats to itself.
  Result<std::string> again = FormatQuery(*f);
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_EQ(*again, *f);
}

}  // namespace
}  // namespace pharos::logql
