#include "ingest/otlp_common.h"

#include <gtest/gtest.h>

#include "common/env.h"
#include "common/strings.h"
#include "ingest/ingest.h"
#include "ingest/otlp.h"
#include "tests/support/protobuf.h"

namespace pharos::ingest::otlp {
namespace {

using pharos::testing::Pb;

std::string StringValue(const std::string& s) { return Pb().Len(1, s).out; }
std::string KeyValue(const std::string& k, const std::string& any_value) {
  return Pb().Len(1, k).Len(2, any_value).out;
}

struct Collected {
  std::vector<model::Resource> resources;
  std::vector<model::InstrumentationScope> scopes;
  std::vector<std::string> items;
};

EnvelopeVisitor Collect(Collected& c) {
  return {.resource =
              [&c](model::Resource&& r) {
                c.resources.push_back(std::move(r));
                return Status::Ok();
              },
          .scope =
              [&c](model::InstrumentationScope&& s) {
                c.scopes.push_back(std::move(s));
                return Status::Ok();
              },
          .item =
              [&c](std::string_view item) {
                c.items.emplace_back(item);
                return Status::Ok();
              }};
}

constexpr EnvelopeNames kLogs = {"ExportLogsServiceRequest", "ResourceLogs", "ScopeLogs"};

TEST(OtlpCommonTest, EnvelopeSeesResourceAndScopeWhateverTheFieldOrder) {
  std::string resource = Pb().Len(1, KeyValue("service.name", StringValue("api")))
                             .Int(2, 3)  // dropped_attributes_count
                             .out;
  std::string scope =
      Pb().Len(1, "lib").Len(2, "1.0").Len(3, KeyValue("k", StringValue("v"))).Int(4, 1).out;
  // Items first, then the scope; scope groups first, then the resource: still complete.
  std::string scope_group = Pb().Len(2, "item-a").Len(2, "item-b").Len(1, scope).out;
  std::string resource_group = Pb().Len(2, scope_group).Len(1, resource).Len(3, "schema").out;
  Collected c;
  ASSERT_TRUE(DecodeEnvelope(Pb().Len(1, resource_group).out, kLogs, Collect(c)).ok());
  ASSERT_EQ(c.resources.size(), 1u);
  EXPECT_EQ(c.resources[0].attributes[0].value.ToText(), "api");
  EXPECT_EQ(c.resources[0].dropped_attributes_count, 3u);
  ASSERT_EQ(c.scopes.size(), 1u);
  EXPECT_EQ(c.scopes[0].name, "lib");
  EXPECT_EQ(c.scopes[0].version, "1.0");
  EXPECT_EQ(c.scopes[0].attributes[0].key, "k");
  EXPECT_EQ(c.scopes[0].dropped_attributes_count, 1u);
  EXPECT_EQ(c.items, (std::vector<std::string>{"item-a", "item-b"}));
}

TEST(OtlpCommonTest, AnyValueKindsInProtobufAndJsonAgree) {
  std::string bytes = "\x01\xfe";
  std::string array = Pb().Len(1, StringValue("x")).Len(1, Pb().Int(3, -2).out).out;
  std::string kvlist = Pb().Len(1, KeyValue("b", Pb().Int(2, 1).out)).out;
  std::string proto_values[] = {StringValue("s"),       Pb().Int(2, 1).out,
                                Pb().Int(3, -7).out,    Pb().Double(4, 0.5).out,
                                Pb().Len(5, array).out, Pb().Len(6, kvlist).out,
                                Pb().Len(7, bytes).out, ""};
  const char* json_values[] = {
      R"({"stringValue":"s"})",
      R"({"boolValue":true})",
      R"({"intValue":"-7"})",
      R"({"doubleValue":0.5})",
      R"({"arrayValue":{"values":[{"stringValue":"x"},{"intValue":-2}]}})",
      R"({"kvlistValue":{"values":[{"key":"b","value":{"boolValue":true}}]}})",
      R"({"bytesValue":"Af4="})",
      R"({})"};
  const char* texts[] = {"s", "true", "-7", "0.5", R"(["x","-2"])", R"({"b":"true"})", "Af4=", ""};
  simdjson::dom::parser parser;
  for (size_t i = 0; i < std::size(texts); ++i) {
    model::AnyValue from_proto, from_json;
    ASSERT_TRUE(DecodeAnyValue(proto_values[i], from_proto).ok()) << i;
    simdjson::padded_string padded(std::string_view(json_values[i]));
    ASSERT_TRUE(DecodeAnyValueJson(parser.parse(padded).value(), from_json).ok()) << i;
    EXPECT_EQ(from_proto.ToText(), texts[i]) << i;
    EXPECT_EQ(from_json.ToText(), texts[i]) << i;
    EXPECT_EQ(from_proto.type, from_json.type) << i;
  }
}

TEST(OtlpCommonTest, RefusesDeepNestingAndBadInput) {
  std::string v = StringValue("leaf");
  for (int i = 0; i < model::kMaxAnyValueDepth + 2; ++i) v = Pb().Len(5, Pb().Len(1, v).out).out;
  model::AnyValue out;
  Status deep = DecodeAnyValue(v, out);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.message().find("nested too deeply"), std::string::npos) << deep.message();

  Status truncated = DecodeAnyValue(std::string("\x0a\x05xy", 4), out);
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.message().find("AnyValue"), std::string::npos) << truncated.message();

  simdjson::dom::parser parser;
  simdjson::padded_string bad_base64(std::string_view(R"({"bytesValue":"!!"})"));
  Status b64 = DecodeAnyValueJson(parser.parse(bad_base64).value(), out);
  ASSERT_FALSE(b64.ok());
  EXPECT_NE(b64.message().find("bytesValue"), std::string::npos) << b64.message();
}

TEST(OtlpCommonTest, JsonEnvelope) {
  std::string body = R"({"resourceLogs":[{"resource":{"attributes":[
      {"key":"service.name","value":{"stringValue":"api"}}],"droppedAttributesCount":2},
    "scopeLogs":[{"scope":{"name":"lib","version":"2","attributes":[
      {"key":"a","value":{"intValue":"5"}}]},"logRecords":[{"x":1},{"x":2}]}]}]})";
  int items = 0;
  model::Resource resource;
  model::InstrumentationScope scope;
  Status s = DecodeEnvelopeJson(body, {"resourceLogs", "scopeLogs", "logRecords"},
                                {.resource =
                                     [&](model::Resource&& r) {
                                       resource = std::move(r);
                                       return Status::Ok();
                                     },
                                 .scope =
                                     [&](model::InstrumentationScope&& sc) {
                                       scope = std::move(sc);
                                       return Status::Ok();
                                     },
                                 .item =
                                     [&](simdjson::dom::object) {
                                       ++items;
                                       return Status::Ok();
                                     }});
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(items, 2);
  EXPECT_EQ(resource.attributes[0].value.ToText(), "api");
  EXPECT_EQ(resource.dropped_attributes_count, 2u);
  EXPECT_EQ(scope.name, "lib");
  EXPECT_EQ(scope.attributes[0].value.i, 5);
  EXPECT_FALSE(
      DecodeEnvelopeJson(R"({"resourceLogs":{}})", {"resourceLogs", "scopeLogs", "logRecords"},
                         {.resource = [](model::Resource&&) { return Status::Ok(); },
                          .scope = [](model::InstrumentationScope&&) { return Status::Ok(); },
                          .item = [](simdjson::dom::object) { return Status::Ok(); }})
          .ok());
}

}  // namespace
}  // namespace pharos::ingest::otlp

namespace pharos::ingest::otlp {
namespace {

TEST(OtlpLogsTest, DecodesTheSpecificationExampleAndProtobuf) {
  const char* dir = std::getenv("PHAROS_TESTDATA");
  std::string path = std::string(dir ? dir : "../shared/testdata") + "/otlp/examples/logs.json";
  Result<std::string> json = DefaultEnv()->ReadFile(path);
  if (!json.ok()) GTEST_SKIP() << "no OTLP examples at " << path << " (set PHAROS_TESTDATA)";
  std::vector<model::ResourceLogs> logs;
  Status s = DecodeLogs(*json, true, logs);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(logs.size(), 1u);
  ASSERT_EQ(logs[0].scopes.size(), 1u);
  EXPECT_EQ(logs[0].scopes[0].scope.name, "my.library");
  ASSERT_FALSE(logs[0].scopes[0].records.empty());
  const model::LogRecord& rec = logs[0].scopes[0].records[0];
  EXPECT_EQ(rec.time_unix_nano, 1544712660300000000u);
  EXPECT_EQ(rec.severity_number, 10);
  EXPECT_EQ(rec.severity_text, "Information");
  EXPECT_EQ(HexEncode(rec.trace_id), "5b8efff798038103d269b633813fc60c");
  EXPECT_EQ(HexEncode(rec.span_id), "eee19b7ec3c1b174");
  EXPECT_EQ(rec.body.ToText(), "Example log record");
  EXPECT_EQ(model::FindAttribute(rec.attributes, "int.attribute")->i, 10);

  // The same fields in protobuf.
  std::string record = Pb().Fixed(1, 1544712660300000000ULL)
                           .Int(2, 17)
                           .Len(3, "ERROR")
                           .Len(5, StringValue("boom"))
                           .Len(6, KeyValue("http.status_code", Pb().Int(3, 500).out))
                           .Len(9, std::string(16, '\x11'))
                           .Len(10, std::string(8, '\x22'))
                           .Fixed(11, 1544712660400000000ULL)
                           .Len(12, "app.crash")
                           .out;
  std::string scope_logs = Pb().Len(1, Pb().Len(1, "lib").out).Len(2, record).out;
  std::string resource_logs =
      Pb().Len(1, Pb().Len(1, KeyValue("service.name", StringValue("api"))).out)
          .Len(2, scope_logs)
          .out;
  s = DecodeLogs(Pb().Len(1, resource_logs).out, false, logs);
  ASSERT_TRUE(s.ok()) << s.message();
  const model::LogRecord& p = logs[0].scopes[0].records[0];
  EXPECT_EQ(p.severity_number, 17);
  EXPECT_EQ(p.severity_text, "ERROR");
  EXPECT_EQ(p.body.ToText(), "boom");
  EXPECT_EQ(p.trace_id.size(), 16u);
  EXPECT_EQ(p.span_id, std::string(8, '\x22'));
  EXPECT_EQ(p.observed_time_unix_nano, 1544712660400000000u);
  EXPECT_EQ(p.event_name, "app.crash");
  EXPECT_EQ(p.attributes[0].value.i, 500);
  // A wrong wire type is refused naming the field; a bad hex id in JSON too.
  EXPECT_FALSE(
      DecodeLogs(Pb().Len(1, Pb().Len(2, Pb().Len(2, Pb().Int(1, 5).out).out).out).out, false, logs)
          .ok());
  s = DecodeLogs(R"({"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"xyz"}]}]}]})", true,
                 logs);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("traceId"), std::string::npos) << s.message();
}

TEST(OtlpTracesTest, DecodesTheSpecificationExampleAndEveryFieldInProtobuf) {
  const char* dir = std::getenv("PHAROS_TESTDATA");
  std::string path = std::string(dir ? dir : "../shared/testdata") + "/otlp/examples/trace.json";
  std::vector<model::ResourceSpans> spans;
  Result<std::string> json = DefaultEnv()->ReadFile(path);
  if (json.ok()) {
    Status s = DecodeTraces(*json, true, spans);
    ASSERT_TRUE(s.ok()) << s.message();
    ASSERT_EQ(spans.size(), 1u);
    ASSERT_EQ(spans[0].scopes.size(), 1u);
    EXPECT_EQ(spans[0].scopes[0].scope.attributes.size(), 1u);
    ASSERT_EQ(spans[0].scopes[0].spans.size(), 1u);
    const model::Span& span = spans[0].scopes[0].spans[0];
    EXPECT_EQ(HexEncode(span.trace_id), "5b8efff798038103d269b633813fc60c");
    EXPECT_EQ(HexEncode(span.parent_span_id), "eee19b7ec3c1b173");
    EXPECT_EQ(span.kind, 2);
    EXPECT_EQ(span.end_time_unix_nano - span.start_time_unix_nano, 1'000'000'000u);
    EXPECT_EQ(model::FindAttribute(span.attributes, "my.span.attr")->str, "some value");
  }
  // Every Span field in protobuf, events, links and status included.
  std::string event =
      Pb().Fixed(1, 7).Len(2, "exception").Len(3, KeyValue("k", StringValue("v"))).Int(4, 1).out;
  std::string link = Pb().Len(1, std::string(16, '\x33'))
                         .Len(2, std::string(8, '\x44'))
                         .Len(3, "ts")
                         .Len(4, KeyValue("lk", StringValue("lv")))
                         .Int(5, 2)
                         .Key(6, 5)
                         .out;
  link += std::string("\x00\x01\x00\x00", 4);  // fixed32 flags = 256
  std::string span = Pb().Len(1, std::string(16, '\x11'))
                         .Len(2, std::string(8, '\x22'))
                         .Len(3, "rojo=1")
                         .Len(4, std::string(8, '\x21'))
                         .Len(5, "GET /")
                         .Int(6, 3)
                         .Fixed(7, 100)
                         .Fixed(8, 250)
                         .Len(9, KeyValue("http.status_code", Pb().Int(3, 404).out))
                         .Int(10, 1)
                         .Len(11, event)
                         .Int(12, 2)
                         .Len(13, link)
                         .Int(14, 3)
                         .Len(15, Pb().Len(2, "not found").Int(3, 2).out)
                         .Key(16, 5)
                         .out;
  span += std::string("\x01\x03\x00\x00", 4);  // fixed32 flags = 0x301
  std::string scope_spans = Pb().Len(1, Pb().Len(1, "lib").out).Len(2, span).out;
  std::string resource_spans =
      Pb().Len(1, Pb().Len(1, KeyValue("service.name", StringValue("api"))).out)
          .Len(2, scope_spans)
          .out;
  Status s = DecodeTraces(Pb().Len(1, resource_spans).out, false, spans);
  ASSERT_TRUE(s.ok()) << s.message();
  const model::Span& p = spans.at(0).scopes.at(0).spans.at(0);
  EXPECT_EQ(p.trace_state, "rojo=1");
  EXPECT_EQ(p.parent_span_id, std::string(8, '\x21'));
  EXPECT_EQ(p.name, "GET /");
  EXPECT_EQ(p.kind, 3);
  EXPECT_EQ(p.start_time_unix_nano, 100u);
  EXPECT_EQ(p.end_time_unix_nano, 250u);
  EXPECT_EQ(p.attributes.at(0).value.i, 404);
  EXPECT_EQ(p.dropped_attributes_count, 1u);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.events[0].time_unix_nano, 7u);
  EXPECT_EQ(p.events[0].name, "exception");
  EXPECT_EQ(p.events[0].dropped_attributes_count, 1u);
  EXPECT_EQ(p.dropped_events_count, 2u);
  ASSERT_EQ(p.links.size(), 1u);
  EXPECT_EQ(p.links[0].trace_state, "ts");
  EXPECT_EQ(p.links[0].attributes.at(0).key, "lk");
  EXPECT_EQ(p.links[0].dropped_attributes_count, 2u);
  EXPECT_EQ(p.links[0].flags, 256u);
  EXPECT_EQ(p.dropped_links_count, 3u);
  EXPECT_EQ(p.status_message, "not found");
  EXPECT_EQ(p.status_code, 2);
  EXPECT_EQ(p.flags, 0x301u);
  // Wrong wire types and bad JSON are refused naming the field.
  s = DecodeTraces(Pb().Len(1, Pb().Len(2, Pb().Len(2, Pb().Int(7, 5).out).out).out).out, false,
                   spans);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("Span field 7"), std::string::npos) << s.message();
  s = DecodeTraces(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"12"}]}]}]})", true,
                   spans);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("spanId"), std::string::npos) << s.message();
  s = DecodeTraces(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_CLIENT",)"
                   R"("status":{"code":"STATUS_CODE_ERROR"}}]}]}]})",
                   true, spans);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(spans[0].scopes[0].spans[0].kind, 3);
  EXPECT_EQ(spans[0].scopes[0].spans[0].status_code, 2);
  s = DecodeTraces(R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SIDEWAYS"}]}]}]})", true,
                   spans);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("kind"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace pharos::ingest::otlp

namespace pharos::ingest {
namespace {

TEST(ZipkinTest, V2JsonMapsAsTheCollectorsZipkinReceiver) {
  std::vector<model::ResourceSpans> out;
  Status s = DecodeZipkinSpans(R"([
    {"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"352bff9a74ca9ad2",
     "name":"get /api","kind":"SERVER","timestamp":1556604172355737,"duration":1431,
     "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.1","port":3306},
     "remoteEndpoint":{"serviceName":"frontend","ipv4":"172.19.0.2","port":58648},
     "tags":{"http.method":"GET","http.path":"/api","error":"timeout"},
     "annotations":[{"timestamp":1556604172355800,"value":"cache miss"}]},
    {"traceId":"463ac35c9f6413ad48485a3953bb6124","id":"a2fb4a1d1a96d312","name":"query",
     "timestamp":1556604172355900,"duration":10,"localEndpoint":{"serviceName":"db"}},
    {"traceId":"5af7183fb1d4cf5f","id":"0000000000000007","kind":"CLIENT",
     "timestamp":1556604172355737,"localEndpoint":{"serviceName":"backend"}}])",
                               out);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(out.size(), 2u);  // backend and db
  EXPECT_EQ(model::FindAttribute(out[0].resource.attributes, "service.name")->str, "backend");
  ASSERT_EQ(out[0].scopes[0].spans.size(), 2u);
  const model::Span& span = out[0].scopes[0].spans[0];
  EXPECT_EQ(HexEncode(span.trace_id), "00000000000000005af7183fb1d4cf5f");
  EXPECT_EQ(HexEncode(span.span_id), "6b221d5bc9e6496c");
  EXPECT_EQ(HexEncode(span.parent_span_id), "352bff9a74ca9ad2");
  EXPECT_EQ(span.kind, 2);
  EXPECT_EQ(span.start_time_unix_nano, 1556604172355737000u);
  EXPECT_EQ(span.end_time_unix_nano - span.start_time_unix_nano, 1431000u);
  EXPECT_EQ(span.status_code, 2);
  EXPECT_EQ(span.status_message, "timeout");
  EXPECT_EQ(model::FindAttribute(span.attributes, "http.method")->str, "GET");
  EXPECT_EQ(model::FindAttribute(span.attributes, "peer.service")->str, "frontend");
  EXPECT_EQ(model::FindAttribute(span.attributes, "network.peer.port")->i, 58648);
  ASSERT_EQ(span.events.size(), 1u);
  EXPECT_EQ(span.events[0].name, "cache miss");
  EXPECT_EQ(out[0].scopes[0].spans[1].kind, 3);
  EXPECT_EQ(HexEncode(out[1].scopes[0].spans[0].trace_id), "463ac35c9f6413ad48485a3953bb6124");
  // Bad input names what is wrong.
  for (const auto& [body, want] : std::vector<std::pair<std::string, std::string>>{
           {"{}", "array of spans"},
           {"[1]", "each span must be an object"},
           {R"([{"id":"6b221d5bc9e6496c"}])", "traceId"},
           {R"([{"traceId":"5af7183fb1d4cf5f","id":"6b22"}])", "id must be 16 hex digits"},
           {R"([{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","tags":{"a":1}}])",
            "tag \"a\" must be a string"},
           {"[", "Zipkin v2 JSON"}}) {
    s = DecodeZipkinSpans(body, out);
    ASSERT_FALSE(s.ok()) << body;
    EXPECT_NE(s.message().find(want), std::string::npos) << body << ": " << s.message();
  }
}

}  // namespace
}  // namespace pharos::ingest
