#include "traces/traces.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "common/strings.h"
#include "ingest/ingest.h"
#include "traces/otlp_encode.h"

namespace pharos::traces {
namespace {

constexpr uint64_t kT0 = 1'700'000'000'000'000'000;  // ns

std::string Id(char fill, size_t bytes, char last) {
  std::string id(bytes, fill);
  id.back() = last;
  return id;
}

model::AnyValue Int(int64_t i) {
  model::AnyValue v;
  v.type = model::AnyValue::Type::kInt;
  v.i = i;
  return v;
}
model::AnyValue Bool(bool b) {
  model::AnyValue v;
  v.type = model::AnyValue::Type::kBool;
  v.b = b;
  return v;
}
model::AnyValue Double(double d) {
  model::AnyValue v;
  v.type = model::AnyValue::Type::kDouble;
  v.d = d;
  return v;
}

model::Span MakeSpan(const std::string& trace, char span, char parent, std::string name,
                     int32_t kind, uint64_t start_ms, uint64_t duration_ms) {
  model::Span s;
  s.trace_id = trace;
  s.span_id = Id('\x01', 8, span);
  if (parent) s.parent_span_id = Id('\x01', 8, parent);
  s.name = std::move(name);
  s.kind = kind;
  s.start_time_unix_nano = kT0 + start_ms * 1'000'000;
  s.end_time_unix_nano = s.start_time_unix_nano + duration_ms * 1'000'000;
  return s;
}

model::ResourceSpans Service(std::string name, std::vector<model::Span> spans) {
  model::ResourceSpans rs;
  rs.resource.attributes.push_back({"service.name", model::AnyValue::String(std::move(name))});
  rs.resource.attributes.push_back({"host.name", model::AnyValue::String("h1")});
  rs.scopes.emplace_back().scope.name = "lib";
  rs.scopes[0].spans = std::move(spans);
  return rs;
}

// A span with every field of FIELDS.md section 3 set, attributes of every type.
model::ResourceSpans EveryField() {
  model::ResourceSpans rs;
  rs.resource.attributes = {{"service.name", model::AnyValue::String("checkout")},
                            {"process.pid", Int(4242)},
                            {"host.arch.bits", Double(64.5)},
                            {"container.ready", Bool(true)}};
  rs.resource.dropped_attributes_count = 3;
  model::ScopeSpans& ss = rs.scopes.emplace_back();
  ss.scope.name = "io.opentelemetry.http";
  ss.scope.version = "1.2.3";
  ss.scope.attributes = {{"scope.attr", model::AnyValue::String("x")}};
  ss.scope.dropped_attributes_count = 1;
  model::Span s = MakeSpan(Id('\xab', 16, '\x01'), 'a', 'z', "POST /pay", 2, 0, 1500);
  s.trace_state = "vendor=1";
  s.flags = 0x301;
  model::AnyValue array;
  array.type = model::AnyValue::Type::kArray;
  array.array = {model::AnyValue::String("a"), Int(2)};
  model::AnyValue map;
  map.type = model::AnyValue::Type::kKvList;
  map.kvlist = {{"inner", Bool(false)}};
  model::AnyValue bytes;
  bytes.type = model::AnyValue::Type::kBytes;
  bytes.str = std::string("\x00\xff", 2);
  s.attributes = {{"http.method", model::AnyValue::String("POST")},
                  {"http.status_code", Int(500)},
                  {"ratio", Double(0.25)},
                  {"retry", Bool(true)},
                  {"list", array},
                  {"map", map},
                  {"raw", bytes}};
  s.dropped_attributes_count = 2;
  s.events.push_back({kT0 + 5, "exception", {{"exception.type", model::AnyValue::String("E")}}, 1});
  s.dropped_events_count = 4;
  s.links.push_back(
      {Id('\x02', 16, '\x09'), Id('\x02', 8, '\x08'), "l=1", {{"link.attr", Int(1)}}, 2, 0x100});
  s.dropped_links_count = 5;
  s.status_code = 2;
  s.status_message = "card declined";
  ss.spans.push_back(s);
  return rs;
}

// A canonical encoding to compare traces: attributes sorted by key everywhere.
std::string Canonical(std::vector<model::ResourceSpans> groups) {
  auto sort = [](model::Attributes& a) {
    std::sort(a.begin(), a.end(),
              [](const model::KeyValue& x, const model::KeyValue& y) { return x.key < y.key; });
  };
  for (model::ResourceSpans& rs : groups) {
    sort(rs.resource.attributes);
    for (model::ScopeSpans& ss : rs.scopes) {
      sort(ss.scope.attributes);
      for (model::Span& s : ss.spans) sort(s.attributes);
    }
  }
  std::string out;
  EncodeResourceSpans(groups, out);
  return out;
}

class TracesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("traces_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    if (store_) (void)store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    store_.reset();
    registry_ = std::make_unique<selfmon::Registry>();
    Options options;
    options.dir = dir_.string();
    options.maintenance_interval = Duration(0);
    options.limits = limits_;
    options.now_ns = [] { return static_cast<int64_t>(kT0) + 3'600'000'000'000; };
    Result<std::unique_ptr<Store>> opened = Store::Open(options, *registry_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
  }
  model::RecordsAppendResult Append(std::vector<model::ResourceSpans> groups) {
    model::RecordsAppendResult result;
    Status s = store_->AppendOtlpSpans(groups, result);
    EXPECT_TRUE(s.ok()) << s.message();
    return result;
  }

  std::filesystem::path dir_;
  Limits limits_;
  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<Store> store_;
};

TEST(OtlpEncodeTest, ProtobufAndJsonRoundTripThroughTheDecoders) {
  std::vector<model::ResourceSpans> in = {EveryField()};
  std::string proto;
  EncodeResourceSpans(in, proto);
  std::vector<model::ResourceSpans> back;
  Status s = ingest::DecodeOtlpTraces(proto, false, back);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(Canonical(back), Canonical(in));
  std::string json;
  AppendTracesJson(in, "resourceSpans", json);
  s = ingest::DecodeOtlpTraces(json, true, back);
  ASSERT_TRUE(s.ok()) << s.message() << "\n" << json;
  EXPECT_EQ(Canonical(back), Canonical(in)) << json;
}

TEST_F(TracesTest, EveryFieldComesBackFromTheHeadTheSegmentsAndAfterReopening) {
  std::vector<model::ResourceSpans> in = {EveryField()};
  model::RecordsAppendResult r = Append(in);
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.rejected, 0u);
  auto check = [&](const char* where) {
    Result<Trace> t = store_->FindTrace(in[0].scopes[0].spans[0].trace_id);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->spans, 1u) << where;
    EXPECT_EQ(Canonical(t->groups), Canonical(in)) << where;
    EXPECT_EQ(t->end_ns - t->start_ns, 1'500'000'000) << where;
  };
  check("head");
  Reopen();  // from the WAL
  check("replayed");
  ASSERT_TRUE(store_->spans().Flush().ok());
  check("segment");
  Reopen();
  check("segment after reopening");
  Result<Trace> none = store_->FindTrace(Id('\x77', 16, '\x01'));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->spans, 0u);
}

TEST_F(TracesTest, ATraceGroupsItsSpansByResourceAndScope) {
  std::string trace = Id('\x10', 16, '\x01');
  Append({Service("frontend", {MakeSpan(trace, 'a', 0, "GET /", 2, 0, 100)}),
          Service("cart", {MakeSpan(trace, 'b', 'a', "cart.get", 2, 10, 20),
                           MakeSpan(trace, 'c', 'b', "SELECT", 3, 12, 5)})});
  Append({Service("cart", {MakeSpan(trace, 'd', 'a', "cart.put", 2, 40, 20)})});
  Result<Trace> t = store_->FindTrace(trace);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->spans, 4u);
  ASSERT_EQ(t->groups.size(), 2u);
  size_t cart =
      model::FindAttribute(t->groups[0].resource.attributes, "service.name")->str == "cart" ? 0 : 1;
  ASSERT_EQ(t->groups[cart].scopes.size(), 1u);
  const std::vector<model::Span>& spans = t->groups[cart].scopes[0].spans;
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_TRUE(std::is_sorted(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    return a.start_time_unix_nano < b.start_time_unix_nano;
  }));
  EXPECT_EQ(t->start_ns, static_cast<int64_t>(kT0));
  EXPECT_EQ(t->end_ns, static_cast<int64_t>(kT0 + 100'000'000));
}

TEST_F(TracesTest, InvalidSpansAreRefusedByNameAndCountedTheRestKept) {
  limits_.max_attributes_per_span = 2;
  limits_.max_attribute_bytes = 100;
  Reopen();
  std::string trace = Id('\x20', 16, '\x01');
  model::Span ok = MakeSpan(trace, 'a', 0, "ok", 1, 0, 1);
  model::Span zero_trace = MakeSpan(std::string(16, '\0'), 'b', 0, "x", 1, 0, 1);
  model::Span short_span = MakeSpan(trace, 'c', 0, "x", 1, 0, 1);
  short_span.span_id = "abc";
  model::Span no_start = MakeSpan(trace, 'd', 0, "x", 1, 0, 1);
  no_start.start_time_unix_nano = 0;
  model::Span many = MakeSpan(trace, 'e', 0, "x", 1, 0, 1);
  many.attributes = {{"a", Int(1)}, {"b", Int(2)}, {"c", Int(3)}};
  model::Span big = MakeSpan(trace, 'f', 0, "x", 1, 0, 1);
  big.attributes = {{"blob", model::AnyValue::String(std::string(200, 'x'))}};
  model::Span bad_parent = MakeSpan(trace, 'g', 0, "x", 1, 0, 1);
  bad_parent.parent_span_id = "12";
  model::RecordsAppendResult r =
      Append({Service("svc", {ok, zero_trace, short_span, no_start, many, big, bad_parent})});
  EXPECT_EQ(r.accepted, 1u);
  EXPECT_EQ(r.rejected, 6u);
  std::string all;
  for (const std::string& e : r.errors) all += e + "\n";
  for (const char* want :
       {"trace id must be 16 bytes", "span id must be 8 bytes", "start_time_unix_nano",
        "3 attributes, over the limit of 2", "attribute \"blob\" is over the limit of 100 bytes",
        "parent span id must be empty or 8 bytes"}) {
    EXPECT_NE(all.find(want), std::string::npos) << want << " in\n" << all;
  }
  std::string text = registry_->Render();
  EXPECT_NE(text.find(R"(pharos_traces_refused_total{reason="attributes"} 1)"), std::string::npos)
      << text;
  Result<Trace> t = store_->FindTrace(trace);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->spans, 1u);
}

TEST_F(TracesTest, SearchByServiceOperationTagsAndDurationNewestFirst) {
  std::vector<std::string> traces;
  for (char i = 1; i <= 6; ++i) traces.push_back(Id('\x30', 16, i));
  auto pay = [&](int i, uint64_t start_ms, uint64_t duration_ms, int status, bool retry) {
    model::Span s = MakeSpan(traces[i], 'p', 'a', "charge", 2, start_ms, duration_ms);
    s.attributes = {{"http.status_code", Int(status)},
                    {"card", model::AnyValue::String(i % 2 ? "visa" : "amex")},
                    {"retry", Bool(retry)}};
    if (status >= 500) s.status_code = 2;
    return s;
  };
  Append({Service("payment", {pay(0, 0, 100, 200, false), pay(1, 1000, 2500, 500, true),
                              pay(2, 2000, 50, 200, false), pay(3, 3000, 1200, 503, false)}),
          Service("frontend", {MakeSpan(traces[4], 'a', 0, "GET /", 2, 4000, 10)})});
  ASSERT_TRUE(store_->spans().Flush().ok());  // half in a segment, half in the head
  Append({Service("payment", {pay(5, 5000, 10, 200, true)})});
  // A query for the payment service, changed by `edit`.
  auto query = [](auto edit) {
    SearchQuery q;
    q.service = "payment";
    edit(q);
    return q;
  };
  auto search = [&](SearchQuery q) {
    Result<std::vector<std::string>> ids = store_->Search(q);
    EXPECT_TRUE(ids.ok()) << ids.status().message();
    std::vector<int> which;
    for (const std::string& id : *ids)
      which.push_back(
          static_cast<int>(std::find(traces.begin(), traces.end(), id) - traces.begin()));
    return which;
  };
  using Q = SearchQuery&;
  EXPECT_EQ(search(query([](Q) {})), (std::vector<int>{5, 3, 2, 1, 0}));
  EXPECT_EQ(search(query([](Q q) { q.limit = 2; })), (std::vector<int>{5, 3}));
  EXPECT_EQ(search(query([](Q q) { q.operation = "nope"; })), std::vector<int>{});
  EXPECT_EQ(search(query([](Q q) {
              q.service = "frontend";
              q.span_kind = "server";
            })),
            std::vector<int>{4});
  EXPECT_EQ(search(query([](Q q) {
              q.tags = {{"http.status_code", "500"}};
            })),
            std::vector<int>{1});
  EXPECT_EQ(search(query([](Q q) { q.tags = {{"error", "true"}}; })), (std::vector<int>{3, 1}));
  EXPECT_EQ(search(query([](Q q) { q.tags = {{"retry", "true"}}; })), (std::vector<int>{5, 1}));
  EXPECT_EQ(search(query([](Q q) {
              q.tags = {{"card", "visa"}, {"retry", "false"}};
            })),
            std::vector<int>{3});
  EXPECT_EQ(search(query([](Q q) { q.tags = {{"host.name", "h1"}}; })).size(), 5u);
  EXPECT_EQ(search(query([](Q q) { q.min_duration_ns = 1'000'000'000; })),
            (std::vector<int>{3, 1}));
  EXPECT_EQ(search(query([](Q q) {
              q.min_duration_ns = 1'000'000'000;
              q.max_duration_ns = 2'000'000'000;
            })),
            std::vector<int>{3});
  int64_t t2 = static_cast<int64_t>(kT0) + 2'000'000'000;
  EXPECT_EQ(search(query([&](Q q) {
              q.mint_ns = t2;
              q.maxt_ns = t2 + 1'500'000'000;
            })),
            (std::vector<int>{3, 2}));
}

TEST_F(TracesTest, ServicesOperationsAndDependencies) {
  std::string trace = Id('\x40', 16, '\x01');
  Append({Service("frontend", {MakeSpan(trace, 'a', 0, "GET /", 2, 0, 100),
                               MakeSpan(trace, 'b', 'a', "HTTP POST", 3, 1, 50)}),
          Service("checkout", {MakeSpan(trace, 'c', 'b', "POST /checkout", 2, 2, 40),
                               MakeSpan(trace, 'd', 'c', "charge", 3, 3, 10)}),
          Service("payment", {MakeSpan(trace, 'e', 'd', "charge", 2, 4, 5)})});
  Result<std::vector<std::string>> services = store_->Services();
  ASSERT_TRUE(services.ok());
  EXPECT_EQ(*services, (std::vector<std::string>{"checkout", "frontend", "payment"}));
  Result<std::vector<Operation>> ops = store_->Operations("frontend");
  ASSERT_TRUE(ops.ok());
  ASSERT_EQ(ops->size(), 2u);
  EXPECT_EQ((*ops)[0].name, "GET /");
  EXPECT_EQ((*ops)[0].span_kind, "server");
  EXPECT_EQ((*ops)[1].span_kind, "client");
  auto deps = store_->Dependencies(INT64_MIN, INT64_MAX);
  ASSERT_TRUE(deps.ok());
  using Edge = std::pair<std::pair<std::string, std::string>, uint64_t>;
  EXPECT_EQ(*deps,
            (std::vector<Edge>{{{"checkout", "payment"}, 1}, {{"frontend", "checkout"}, 1}}));
  auto capped = store_->Dependencies(INT64_MIN, INT64_MAX, 2);
  EXPECT_EQ(capped.status().code(), StatusCode::kResourceExhausted);
}

TEST(KindNameTest, JaegerWords) {
  EXPECT_EQ(KindName(0), "unspecified");
  EXPECT_EQ(KindName(2), "server");
  EXPECT_EQ(KindName(5), "consumer");
  EXPECT_EQ(KindName(9), "unspecified");
  EXPECT_EQ(KindName(-1), "unspecified");
}

}  // namespace
}  // namespace pharos::traces

namespace pharos::traces {
namespace {

using Groups = std::vector<model::ResourceSpans>;

// A metrics store that keeps the last value written of each series.
class FakeMetrics : public model::MetricsSink {
 public:
  Status Append(std::span<const model::SeriesInput> batch, model::AppendResult& result) override {
    for (const model::SeriesInput& s : batch) {
      last[model::FormatLabels(s.labels)] = s.samples.back().v;
      ++result.samples_accepted;
    }
    return Status::Ok();
  }
  int64_t NowMs() const override { return 0; }
  std::map<std::string, double> last;
};

class FakeExemplars : public model::ExemplarSink {
 public:
  void AppendExemplars(std::span<const model::ExemplarInput> in) override {
    for (const auto& e : in) got.emplace_back(model::FormatLabels(e.series), e.exemplar);
  }
  std::vector<std::pair<std::string, model::Exemplar>> got;
};

class NullSpans : public model::SpansSink {
 public:
  Status AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                         model::RecordsAppendResult& result) override {
    for (const auto& rs : spans)
      for (const auto& ss : rs.scopes) result.accepted += ss.spans.size();
    return Status::Ok();
  }
};

TEST(MetricsGeneratorTest, SpanMetricsAndServiceGraphAsTheCollectorAndTempoNameThem) {
  Services services;
  FakeMetrics metrics;
  services.Publish<model::MetricsSink>(&metrics);
  FakeExemplars exemplars;
  services.Publish<model::ExemplarSink>(&exemplars);
  selfmon::Registry registry;
  NullSpans store;
  int64_t now = static_cast<int64_t>(kT0);
  GeneratorOptions options;
  options.flush_interval = Duration(0);
  options.now_ns = [&now] { return now; };
  MetricsGenerator generator(services, registry, options, store);
  std::string trace = Id('\x50', 16, '\x01');
  model::Span client = MakeSpan(trace, 'a', 0, "HTTP POST", 3, 0, 300);  // 0.3 s
  model::Span server = MakeSpan(trace, 'b', 'a', "POST /pay", 2, 10, 250);
  server.status_code = 2;
  model::Span lonely = MakeSpan(Id('\x51', 16, '\x01'), 'c', 0, "HTTP GET", 3, 0, 5);
  model::RecordsAppendResult r;
  // The two halves of a request arrive in separate exports, the server's first.
  ASSERT_TRUE(generator.AppendOtlpSpans(Groups{Service("payment", {server})}, r).ok());
  EXPECT_EQ(r.accepted, 1u);
  ASSERT_TRUE(generator.AppendOtlpSpans(Groups{Service("checkout", {client, lonely})}, r).ok());
  ASSERT_TRUE(generator.Flush().ok());
  auto at = [&](const std::string& series) {
    auto it = metrics.last.find(series);
    return it == metrics.last.end() ? -1.0 : it->second;
  };
  EXPECT_EQ(
      at(R"({__name__="traces_span_metrics_calls_total", service_name="payment", )"
         R"(span_kind="SPAN_KIND_SERVER", span_name="POST /pay", status_code="STATUS_CODE_ERROR"})"),
      1);
  EXPECT_EQ(
      at(R"({__name__="traces_span_metrics_calls_total", service_name="checkout", )"
         R"(span_kind="SPAN_KIND_CLIENT", span_name="HTTP GET", status_code="STATUS_CODE_UNSET"})"),
      1);
  const std::string base = R"(service_name="checkout", span_kind="SPAN_KIND_CLIENT", )"
                           R"(span_name="HTTP POST", status_code="STATUS_CODE_UNSET")";
  EXPECT_EQ(
      at(R"({__name__="traces_span_metrics_duration_seconds_bucket", le="0.2", )" + base + "}"), 0);
  EXPECT_EQ(
      at(R"({__name__="traces_span_metrics_duration_seconds_bucket", le="0.4", )" + base + "}"), 1);
  EXPECT_EQ(
      at(R"({__name__="traces_span_metrics_duration_seconds_bucket", le="+Inf", )" + base + "}"),
      1);
  EXPECT_DOUBLE_EQ(at(R"({__name__="traces_span_metrics_duration_seconds_sum", )" + base + "}"),
                   0.3);
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_total", client="checkout", server="payment"})"),
      1);
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_failed_total", client="checkout", server="payment"})"),
      1);
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_server_seconds_bucket", client="checkout", le="0.4", server="payment"})"),
      1);
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_client_seconds_count", client="checkout", server="payment"})"),
      1);
  // The slowest span of each series is an exemplar on the bucket it fell in.
  ASSERT_FALSE(exemplars.got.empty());
  bool found = false;
  for (const auto& [series, e] : exemplars.got) {
    if (series.find(R"(span_name="HTTP POST")") == std::string::npos) continue;
    found = true;
    EXPECT_NE(series.find(R"(le="0.4")"), std::string::npos) << series;
    EXPECT_EQ(model::LabelValue(e.labels, "trace_id"), HexEncode(trace));
    EXPECT_EQ(model::LabelValue(e.labels, "span_id"), HexEncode(client.span_id));
    EXPECT_DOUBLE_EQ(e.value, 0.3);
  }
  EXPECT_TRUE(found);

  // The lonely client span waits for its server, then expires and is counted.
  now += 11'000'000'000;
  ASSERT_TRUE(generator.Flush().ok());
  EXPECT_NE(
      registry.Render().find(R"(pharos_traces_generator_dropped_total{reason="edge_expired"} 1)"),
      std::string::npos)
      << registry.Render();
  // Counters are cumulative: a second request adds to the first.
  model::Span again = MakeSpan(trace, 'd', 0, "HTTP POST", 3, 0, 1);
  model::Span again_server = MakeSpan(trace, 'e', 'd', "POST /pay", 2, 0, 1);
  ASSERT_TRUE(generator
                  .AppendOtlpSpans(
                      Groups{Service("checkout", {again}), Service("payment", {again_server})}, r)
                  .ok());
  ASSERT_TRUE(generator.Flush().ok());
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_total", client="checkout", server="payment"})"),
      2);
  EXPECT_EQ(
      at(R"({__name__="traces_service_graph_request_failed_total", client="checkout", server="payment"})"),
      1);
}

TEST(MetricsGeneratorTest, MemoryIsBoundedAndWhatIsDroppedCounted) {
  Services services;
  FakeMetrics metrics;
  services.Publish<model::MetricsSink>(&metrics);
  selfmon::Registry registry;
  NullSpans store;
  GeneratorOptions options;
  options.flush_interval = Duration(0);
  options.max_series = 2;
  options.max_pending_edges = 1;
  MetricsGenerator generator(services, registry, options, store);
  std::vector<model::Span> spans;
  for (char i = 1; i <= 4; ++i)
    spans.push_back(MakeSpan(Id('\x60', 16, i), 'a', 0, std::string("op") + i, 3, 0, 1));
  model::RecordsAppendResult r;
  ASSERT_TRUE(generator.AppendOtlpSpans(Groups{Service("svc", spans)}, r).ok());
  ASSERT_TRUE(generator.Flush().ok());
  size_t calls = 0;
  for (const auto& [series, v] : metrics.last)
    calls += series.starts_with(R"({__name__="traces_span_metrics_calls_total")");
  EXPECT_EQ(calls, 2u);
  std::string text = registry.Render();
  EXPECT_NE(text.find(R"(pharos_traces_generator_dropped_total{reason="series"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(pharos_traces_generator_dropped_total{reason="edge_pending"} 3)"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace pharos::traces

#include "traces/traceql.h"

namespace pharos::traces::traceql {
namespace {

// frontend GET /checkout (server, 900 ms) -> checkout POST (client) -> payment charge
// (server, error, 700 ms, card=visa) -> payment SELECT (client, db.system=postgresql);
// frontend also calls cart (server, 20 ms).
class TraceQLTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string t = Id('\x70', 16, '\x01');
    model::Span root = MakeSpan(t, 'a', 0, "GET /checkout", 2, 0, 900);
    root.attributes = {{"http.response.status_code", Int(500)}};
    model::Span call = MakeSpan(t, 'b', 'a', "POST", 3, 10, 800);
    model::Span charge = MakeSpan(t, 'c', 'b', "charge", 2, 20, 700);
    charge.status_code = 2;
    charge.attributes = {
        {"card", model::AnyValue::String("visa")}, {"amount", Double(42.5)}, {"retry", Bool(true)}};
    model::Span query = MakeSpan(t, 'd', 'c', "SELECT", 3, 30, 5);
    query.attributes = {{"db.system", model::AnyValue::String("postgresql")}};
    model::Span cart = MakeSpan(t, 'e', 'a', "cart.Get", 2, 40, 20);
    groups_ = {Service("frontend", {root, call}), Service("payment", {charge, query}),
               Service("cart", {cart})};
    trace_ = Trace::From(groups_);
  }
  // The names of the spans the query yields.
  std::vector<std::string> Run(const std::string& text) {
    Result<Query> q = Parse(text);
    EXPECT_TRUE(q.ok()) << text << ": " << q.status().message();
    if (!q.ok()) return {"<parse error>"};
    std::vector<std::string> names;
    for (size_t i : Evaluate(*q, trace_)) names.push_back(trace_.spans[i].span->name);
    std::sort(names.begin(), names.end());
    return names;
  }
  std::vector<model::ResourceSpans> groups_;
  Trace trace_;
};

using Names = std::vector<std::string>;

TEST_F(TraceQLTest, SpansetFiltersOnIntrinsicsAndAttributes) {
  EXPECT_EQ(Run("{}").size(), 5u);
  EXPECT_EQ(Run(R"({ name = "charge" })"), Names{"charge"});
  EXPECT_EQ(Run("{ status = error }"), Names{"charge"});
  EXPECT_EQ(Run("{ kind = client }"), (Names{"POST", "SELECT"}));
  EXPECT_EQ(Run("{ duration > 600ms }"), (Names{"GET /checkout", "POST", "charge"}));
  EXPECT_EQ(Run("{ duration <= 20ms && kind = server }"), Names{"cart.Get"});
  EXPECT_EQ(Run(R"({ span.card = "visa" })"), Names{"charge"});
  EXPECT_EQ(Run(R"({ resource.card = "visa" })"), Names{});
  EXPECT_EQ(Run(R"({ resource.service.name = "payment" })"), (Names{"SELECT", "charge"}));
  EXPECT_EQ(Run(R"({ .service.name = "cart" || .db.system = "postgresql" })"),
            (Names{"SELECT", "cart.Get"}));
  EXPECT_EQ(Run("{ .http.response.status_code >= 500 }"), Names{"GET /checkout"});
  EXPECT_EQ(Run(R"({ .http.response.status_code = "500" })"), Names{});  // types differ
  EXPECT_EQ(Run("{ .amount > 40 && .retry = true }"), Names{"charge"});
  EXPECT_EQ(Run(R"({ name =~ "GET.*|cart\\..*" })"), (Names{"GET /checkout", "cart.Get"}));
  EXPECT_EQ(Run(R"({ name =~ "GET" })"), Names{});  // anchored
  EXPECT_EQ(Run(R"({ name !~ ".*[a-z].*" })"), (Names{"POST", "SELECT"}));
  EXPECT_EQ(Run("{ .card != nil }"), Names{"charge"});
  EXPECT_EQ(Run("{ .card = nil && kind = server }"), (Names{"GET /checkout", "cart.Get"}));
  EXPECT_EQ(Run("{ !(kind = server) }"), (Names{"POST", "SELECT"}));
  EXPECT_EQ(Run(R"({ rootServiceName = "frontend" && status = error })"), Names{"charge"});
  EXPECT_EQ(Run(R"({ rootName = "GET /checkout" && traceDuration > 800ms && name = "SELECT" })"),
            Names{"SELECT"});
  EXPECT_EQ(Run(R"({ span:name = "charge" && trace:rootService = "frontend" })"), Names{"charge"});
}

TEST_F(TraceQLTest, SpansetOperatorsAndPipelines) {
  EXPECT_EQ(Run("{ status = error } && { kind = client }"), (Names{"POST", "SELECT", "charge"}));
  EXPECT_EQ(Run(R"({ status = error } && { name = "nope" })"), Names{});
  EXPECT_EQ(Run(R"({ name = "nope" } || { kind = client })"), (Names{"POST", "SELECT"}));
  EXPECT_EQ(Run("{ kind = client } > { kind = server }"), Names{"charge"});
  EXPECT_EQ(Run(R"({ name = "GET /checkout" } >> { kind = client })"), (Names{"POST", "SELECT"}));
  EXPECT_EQ(Run(R"({ name = "POST" } ~ { kind = server })"), Names{"cart.Get"});
  EXPECT_EQ(Run(R"(({ name = "POST" } ~ { kind = server }) || { status = error })"),
            (Names{"cart.Get", "charge"}));
  EXPECT_EQ(Run("{ kind = server } | count() > 2").size(), 3u);
  EXPECT_EQ(Run("{ kind = server } | count() > 3"), Names{});
  EXPECT_EQ(Run("{ kind = server } | avg(duration) > 500ms").size(), 3u);
  EXPECT_EQ(Run("{ kind = server } | max(duration) < 500ms"), Names{});
  EXPECT_EQ(Run("{ kind = client } | sum(duration) = 805ms").size(), 2u);
  EXPECT_EQ(Run("{ status = error } | select(span.card, resource.service.name)"), Names{"charge"});
  Result<Query> q = Parse("{ status = error } | select(span.card, .amount) | count() = 1");
  ASSERT_TRUE(q.ok());
  std::vector<Field> fields = ReferencedFields(*q);
  ASSERT_EQ(fields.size(), 3u);
  EXPECT_EQ(fields[1].ToString(), "span.card");
  size_t charge = Evaluate(*q, trace_).at(0);
  EXPECT_EQ(FieldValue(fields[2], trace_, charge).n, 42.5);
}

TEST_F(TraceQLTest, ParseErrorsNameThePosition) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"", "col 1: syntax error: unexpected end of query, expecting \"{\""},
           {"{ name = }", "col 10: syntax error: unexpected \"}\", expecting a value"},
           {"{ foo = 1 }", "unknown field foo"},
           {"{ name == \"x\" }", "col 9"},
           {"{ .a = \"x\" ", "expecting \"}\""},
           {"{ name = \"x }", "unterminated string"},
           {"{ name =~ \"(\" }", "invalid regular expression"},
           {"{ name =~ 3 }", "must be a string"},
           {"{} | by(name)", "by() is not supported"},
           {"{} | count() =~ 3", "expecting a comparison operator"},
           {"{ duration > 3parsecs }", "invalid number or duration"},
           {"{} }", "expecting end of query"},
       }) {
    Result<Query> q = Parse(text);
    ASSERT_FALSE(q.ok()) << text;
    EXPECT_NE(q.status().message().find(want), std::string::npos)
        << text << ": " << q.status().message();
  }
  std::string deep(200, '(');
  EXPECT_NE(Parse(deep + "{}").status().message().find("nests too deeply"), std::string::npos);
}

TEST_F(TraceQLTest, APrefilterPassesEverySpanOfAMatchingTrace) {
  Result<Query> q = Parse(R"({ status = error } && { .db.system = "postgresql" })");
  ASSERT_TRUE(q.ok());
  size_t passed = 0;
  for (const Trace::Span& s : trace_.spans) passed += AnyFilterMatches(*q, *s.resource, *s.span);
  EXPECT_EQ(passed, 2u);                // charge and SELECT
  q = Parse("{ traceDuration > 1h }");  // a trace-level field: every span is a candidate
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(AnyFilterMatches(*q, *trace_.spans[0].resource, *trace_.spans[0].span));
  EXPECT_TRUE(Evaluate(*q, trace_).empty());
}

}  // namespace
}  // namespace pharos::traces::traceql

namespace pharos::traces {
namespace {

// A store that keeps what reaches it.
class CollectingSpans : public model::SpansSink {
 public:
  Status AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                         model::RecordsAppendResult& result) override {
    for (const auto& rs : spans)
      for (const auto& ss : rs.scopes)
        for (const auto& s : ss.spans) {
          ++by_trace[s.trace_id];
          ++result.accepted;
        }
    return Status::Ok();
  }
  std::map<std::string, int> by_trace;
};

constexpr char kSamplingYaml[] = R"(
decision_wait: 10s
num_traces: 100000
expected_new_traces_per_sec: 100
policies:
  - name: errors
    type: status_code
    status_code: {status_codes: [ERROR]}
  - name: slow
    type: latency
    latency: {threshold_ms: 1000}
  - name: some-but-no-health-checks
    type: and
    and:
      and_sub_policy:
        - {name: some, type: probabilistic, probabilistic: {sampling_percentage: 10}}
        - name: no-health-checks
          type: string_attribute
          string_attribute: {key: http.route, values: ["/health.*"], enabled_regex_matching: true, invert_match: true}
)";

TEST(TailSamplingTest, TheCollectorsConfigurationAndItsRefusals) {
  Result<SamplingOptions> o = ParseTailSampling(kSamplingYaml);
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->decision_wait, std::chrono::seconds(10));
  ASSERT_EQ(o->policies.size(), 3u);
  EXPECT_EQ(o->policies[2].sub[1].patterns.size(), 1u);
  o = ParseTailSampling(R"(
policies:
  - {name: a, type: and, and: {and_sub_policy: [{name: b, type: numeric_attribute, numeric_attribute: {key: x, min_value: 1, max_value: 5}}, {name: c, type: rate_limiting, rate_limiting: {spans_per_second: 100}}]}}
  - {name: d, type: always_sample})");
  ASSERT_TRUE(o.ok()) << o.status().message();
  EXPECT_EQ(o->policies[0].sub[0].max_value, 5);
  for (const auto& [yaml, want] : std::vector<std::pair<std::string, std::string>>{
           {"policies: [{name: a, type: composite, composite: {}}]",
            "traces.tail_sampling.policies[0].type: \"composite\" is not supported"},
           {"policies: [{name: a, type: latency, latency: {threshold: 3}}]",
            "traces.tail_sampling.policies[0].latency.threshold: unknown or unsupported key"},
           {"policies: [{name: a, type: probabilistic, probabilistic: {sampling_percentage: 140}}]",
            "sampling_percentage: must be between 0 and 100"},
           {"policies: [{name: a, type: string_attribute, string_attribute: {values: [x]}}]",
            "string_attribute.key: required"},
           {"decision_wait: soon\npolicies: [{type: always_sample}]", "decision_wait: expected"},
           {"policies: []", "policies: expected a list"},
           {"spans: 3\npolicies: [{type: always_sample}]", "traces.tail_sampling.spans: unknown"},
       }) {
    Result<SamplingOptions> bad = ParseTailSampling(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(want), std::string::npos)
        << yaml << ": " << bad.status().message();
  }
}

TEST(TailSamplingTest, DecisionsOnALabelledSetAreExactAndTheShareWithinOnePercent) {
  Result<SamplingOptions> o = ParseTailSampling(kSamplingYaml);
  ASSERT_TRUE(o.ok());
  int64_t now = static_cast<int64_t>(kT0);
  o->now_ns = [&now] { return now; };
  selfmon::Registry registry;
  CollectingSpans store;
  TailSampler sampler(std::move(o).value(), registry, store);
  // 20,000 traces of three spans each, the root and its children in separate exports:
  // 1% fail, 1% are slow, 1% are health checks (never kept by the probabilistic share).
  std::mt19937_64 rng(7);
  std::vector<std::string> errors, slow, health, plain;
  for (int i = 0; i < 20'000; ++i) {
    std::string trace(16, '\0');
    for (char& c : trace) c = static_cast<char>(rng());
    int kind = i % 100;  // 0 error, 1 slow, 2 health check, else plain
    model::Span root = MakeSpan(trace, 'a', 0, "GET /", 2, 0, kind == 1 ? 1500 : 40);
    root.attributes = {{"http.route", model::AnyValue::String(kind == 2 ? "/healthz" : "/")}};
    model::Span db = MakeSpan(trace, 'b', 'a', "SELECT", 3, 1, 5);
    model::Span cache = MakeSpan(trace, 'c', 'a', "GET cache", 3, 2, 1);
    if (kind == 0) db.status_code = 2;
    model::RecordsAppendResult r;
    ASSERT_TRUE(sampler.AppendOtlpSpans(Groups{Service("api", {root})}, r).ok());
    ASSERT_TRUE(sampler.AppendOtlpSpans(Groups{Service("db", {db, cache})}, r).ok());
    (kind == 0 ? errors : kind == 1 ? slow : kind == 2 ? health : plain).push_back(trace);
  }
  EXPECT_EQ(sampler.Pending(), 20'000u);
  sampler.Decide(now + 9'000'000'000);  // not yet: they wait decision_wait
  EXPECT_TRUE(store.by_trace.empty());
  now += 10'000'000'000;
  sampler.Decide(now);
  EXPECT_EQ(sampler.Pending(), 0u);
  for (const std::string& t : errors) EXPECT_EQ(store.by_trace[t], 3) << "every error trace, whole";
  for (const std::string& t : slow) EXPECT_EQ(store.by_trace[t], 3) << "every slow trace, whole";
  for (const std::string& t : health) EXPECT_EQ(store.by_trace.count(t), 0u) << "inverted match";
  size_t kept = 0;
  for (const std::string& t : plain) kept += store.by_trace.count(t);
  double share = static_cast<double>(kept) / static_cast<double>(plain.size());
  EXPECT_NEAR(share, 0.10, 0.01) << kept << " of " << plain.size();
  // A late span follows its trace's decision.
  model::RecordsAppendResult r;
  ASSERT_TRUE(sampler
                  .AppendOtlpSpans(
                      Groups{Service("late", {MakeSpan(errors[0], 'z', 'a', "late", 1, 3, 1)})}, r)
                  .ok());
  ASSERT_TRUE(sampler
                  .AppendOtlpSpans(
                      Groups{Service("late", {MakeSpan(health[0], 'z', 'a', "late", 1, 3, 1)})}, r)
                  .ok());
  EXPECT_EQ(store.by_trace[errors[0]], 4);
  EXPECT_EQ(store.by_trace.count(health[0]), 0u);
  std::string text = registry.Render();
  EXPECT_NE(text.find(R"(pharos_traces_sampling_late_spans_total{decision="sampled"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(pharos_traces_sampling_traces_total{decision="sampled"} )" +
                      std::to_string(store.by_trace.size())),
            std::string::npos)
      << text;
}

TEST(TailSamplingTest, AnInvertedMatchRefusesATraceWhateverElseSamplesIt) {
  Result<SamplingOptions> o = ParseTailSampling(R"(
policies:
  - {name: all, type: always_sample}
  - name: no-health-checks
    type: string_attribute
    string_attribute: {key: http.route, values: [/healthz], invert_match: true})");
  ASSERT_TRUE(o.ok()) << o.status().message();
  selfmon::Registry registry;
  CollectingSpans store;
  TailSampler sampler(std::move(o).value(), registry, store);
  std::string health = Id('\x03', 16, '\x01'), order = Id('\x03', 16, '\x02');
  model::Span h = MakeSpan(health, 'a', 0, "GET", 2, 0, 1);
  h.attributes = {{"http.route", model::AnyValue::String("/healthz")}};
  h.status_code = 2;
  model::Span k = MakeSpan(order, 'a', 0, "POST", 2, 0, 1);
  k.attributes = {{"http.route", model::AnyValue::String("/order")}};
  model::RecordsAppendResult r;
  ASSERT_TRUE(sampler.AppendOtlpSpans(Groups{Service("s", {h, k})}, r).ok());
  sampler.Decide(INT64_MAX);
  EXPECT_EQ(store.by_trace.count(health), 0u);
  EXPECT_EQ(store.by_trace.count(order), 1u);
}

TEST(TailSamplingTest, AtMostNumTracesWaitTheOldestDroppedAndCounted) {
  Result<SamplingOptions> o =
      ParseTailSampling("num_traces: 100\npolicies: [{type: always_sample}]");
  ASSERT_TRUE(o.ok());
  int64_t now = static_cast<int64_t>(kT0);
  o->now_ns = [&now] { return now; };
  selfmon::Registry registry;
  CollectingSpans store;
  TailSampler sampler(std::move(o).value(), registry, store);
  std::vector<std::string> ids;
  for (int i = 0; i < 250; ++i) {
    std::string trace = Id('\x01', 16, static_cast<char>(i % 250 + 1));
    trace[0] = static_cast<char>(i / 250 + 2);
    trace[1] = static_cast<char>(i);
    ids.push_back(trace);
    model::RecordsAppendResult r;
    ASSERT_TRUE(
        sampler.AppendOtlpSpans(Groups{Service("s", {MakeSpan(trace, 'a', 0, "op", 2, 0, 1)})}, r)
            .ok());
    EXPECT_LE(sampler.Pending(), 100u);
  }
  sampler.Decide(INT64_MAX);
  EXPECT_EQ(store.by_trace.size(), 100u);
  EXPECT_EQ(store.by_trace.count(ids.back()), 1u);  // the newest waited
  EXPECT_EQ(store.by_trace.count(ids.front()), 0u);
  EXPECT_NE(registry.Render().find(
                R"(pharos_traces_sampling_traces_total{decision="dropped_early"} 150)"),
            std::string::npos);
}

TEST(TailSamplingTest, RateLimitingAndAnd) {
  Result<SamplingOptions> o = ParseTailSampling(R"(
policies:
  - name: big-orders-within-budget
    type: and
    and:
      and_sub_policy:
        - {name: big, type: numeric_attribute, numeric_attribute: {key: order.items, min_value: 10}}
        - {name: budget, type: rate_limiting, rate_limiting: {spans_per_second: 3}})");
  ASSERT_TRUE(o.ok()) << o.status().message();
  int64_t now = static_cast<int64_t>(kT0);
  o->now_ns = [&now] { return now; };
  selfmon::Registry registry;
  CollectingSpans store;
  TailSampler sampler(std::move(o).value(), registry, store);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    std::string trace = Id('\x02', 16, static_cast<char>(i + 1));
    model::Span s = MakeSpan(trace, 'a', 0, "order", 2, 0, 1);
    s.attributes = {{"order.items", Int(i < 5 ? 12 : 2)}};
    model::RecordsAppendResult r;
    ASSERT_TRUE(sampler.AppendOtlpSpans(Groups{Service("shop", {s})}, r).ok());
    ids.push_back(trace);
  }
  sampler.Decide(now + 31'000'000'000);
  // Three big orders fit the budget of three spans a second; the small one never counts.
  EXPECT_EQ(store.by_trace.size(), 3u);
  EXPECT_EQ(store.by_trace.count(ids[5]), 0u);
}

}  // namespace
}  // namespace pharos::traces
