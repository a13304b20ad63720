#include "logs/logs.h"

#include <gtest/gtest.h>

#include "logs/push.h"
#include "tests/support/protobuf.h"

namespace pharos::logs {
namespace {

using pharos::testing::Pb;

std::string Entry(int64_t seconds, int64_t nanos, const std::string& line,
                  std::vector<std::pair<std::string, std::string>> metadata = {}) {
  Pb e;
  e.Len(1, Pb().Int(1, seconds).Int(2, nanos).out).Len(2, line);
  for (const auto& [k, v] : metadata) e.Len(3, Pb().Len(1, k).Len(2, v).out);
  return e.out;
}

TEST(PushTest, ProtobufStreamsEntriesAndMetadata) {
  std::string stream = Pb().Len(1, R"({app="api", env="prod"})")
                           .Len(2, Entry(1700000000, 5, "first", {{"trace_id", "abc"}}))
                           .Len(2, Entry(1700000001, 0, "second"))
                           .Int(3, 12345)  // hash: ignored
                           .out;
  DecodedPush push;
  Status s = DecodeProtoPush(Pb().Len(1, stream).out, push);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(push.streams.size(), 1u);
  const PushStream& ps = push.streams[0];
  ASSERT_EQ(ps.labels.size(), 2u);
  EXPECT_EQ(ps.labels[1].value, "prod");
  ASSERT_EQ(ps.records.size(), 2u);
  EXPECT_EQ(ps.records[0].time_ns, 1'700'000'000'000'000'005);
  ASSERT_EQ(ps.records[0].columns.size(), 2u);
  EXPECT_EQ(ps.records[0].columns[0].value.s, "first");
  EXPECT_EQ(ps.records[0].columns[1].name, "trace_id");
  EXPECT_EQ(ps.records[1].columns[0].value.s, "second");
}

TEST(PushTest, ProtobufRefusals) {
  auto decode = [](const std::string& stream) {
    DecodedPush push;
    Status s = DecodeProtoPush(Pb().Len(1, stream).out, push);
    return s.ok() ? std::string("ok") : s.message();
  };
  EXPECT_NE(decode(Pb().Len(1, R"({app=~"a.*"})").out).find("only name"), std::string::npos);
  EXPECT_NE(decode(Pb().Len(1, "not labels").out).find("stream labels"), std::string::npos);
  EXPECT_NE(
      decode(Pb().Len(1, R"({a="b"})").Len(2, Pb().Len(2, "no time").out).out).find("no timestamp"),
      std::string::npos);
  EXPECT_NE(decode(Pb().Len(1, R"({a="b"})").Len(2, Entry(1, 2'000'000'000, "x")).out)
                .find("out of range"),
            std::string::npos);
  DecodedPush push;
  EXPECT_FALSE(DecodeProtoPush(std::string("\x0a\x05"
                                           "ab",
                                           4),
                               push)
                   .ok());  // truncated
}

TEST(PushTest, JsonRefusalsNameTheProblem) {
  auto decode = [](std::string_view json) {
    simdjson::dom::parser parser;
    simdjson::padded_string padded(json);
    DecodedPush push;
    Status s = DecodeJsonPush(parser.parse(padded).value(), push);
    return s.ok() ? std::string("ok") : s.message();
  };
  EXPECT_EQ(decode(R"({"streams":[{"stream":{"a":"b"},"values":[["1","x",{"k":"v"}]]}]})"), "ok");
  EXPECT_NE(decode(R"({"streams":{}})").find("array"), std::string::npos);
  EXPECT_NE(decode(R"({"streams":[{"stream":{"a":1},"values":[]}]})").find("label a"),
            std::string::npos);
  EXPECT_NE(decode(R"({"streams":[{"stream":{"a":"b"},"values":[[1,"x"]]}]})").find("strings"),
            std::string::npos);
  EXPECT_NE(
      decode(R"({"streams":[{"stream":{"a":"b"},"values":[["-5","x"]]}]})").find("nanoseconds"),
      std::string::npos);
  EXPECT_NE(decode(R"({"streams":[{"stream":{"a":"b"},"values":[["1","x",{"line":"v"}]]}]})")
                .find("may not be called"),
            std::string::npos);
}

}  // namespace
}  // namespace pharos::logs
