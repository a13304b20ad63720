// Loki's API on the real binary: lines pushed as Loki's JSON, read back through
// query_range, labels, label values and series in Loki's shapes; bad pushes refused with
// the reason; acknowledged lines still there after a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/protobuf.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

constexpr std::string_view kJson = "Content-Type: application/json\r\n";

std::string Ns(int64_t seconds_ago) {
  int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return std::to_string(now_ns - seconds_ago * 1'000'000'000);
}

TEST(LokiApiTest, PushQueryLabelsAndRestart) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  std::string t1 = Ns(30), t2 = Ns(20), t3 = Ns(10);
  std::string body = R"({"streams":[
    {"stream":{"app":"api","env":"prod"},"values":[[")" +
                     t1 + R"(","GET /cart 200 trace=4bf92f3577b34da6"],
                                                    [")" +
                     t3 + R"(","GET /pay 500 error",{"trace_id":"abc"}]]},
    {"stream":{"app":"web","env":"prod"},"values":[[")" +
                     t2 + R"(","render home 12ms"]]}]})";
  HttpResponse r = Post(pharos.port(), "/loki/api/v1/push", body, kJson);
  ASSERT_EQ(r.status, 204) << r.body;

  std::string q = "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D&limit=10";
  r = Get(pharos.port(), q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(R"("resultType":"streams")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"({"stream":{"app":"api","env":"prod"},"values":[[")" + t3 +
                        R"(","GET /pay 500 error"],[")" + t1),
            std::string::npos)
      << r.body;  // newest first (backward)
  EXPECT_NE(r.body.find(R"("stats":{"summary")"), std::string::npos);

  // A needle with a line filter; a regex filter; forward with a limit.
  r = Get(
      pharos.port(),
      "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D%20%7C%3D%20%224bf92f3577b34da6%22");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("render home"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?query=%7Bapp%3D~%22.%2B%22%7D%20%7C~%20%22%5Cd%2Bms%22");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("render home 12ms"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("GET /"), std::string::npos) << r.body;
  r = Get(pharos.port(),
          "/loki/api/v1/query_range?query=%7Benv%3D%22prod%22%7D&direction=forward&limit=1");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /cart"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("render home"), std::string::npos) << r.body;

  // Loki's protobuf push, snappy-compressed without a Content-Encoding, as promtail sends.
  int64_t now_s = std::stoll(t3) / 1'000'000'000;
  std::string entry = Pb().Len(1, Pb().Int(1, now_s).Int(2, 7).out).Len(2, "from protobuf").out;
  std::string proto = Pb().Len(1, Pb().Len(1, R"({app="proto", env="dev"})").Len(2, entry).out).out;
  r = Post(pharos.port(), "/loki/api/v1/push", Snappy(proto),
           "Content-Type: application/x-protobuf\r\n");
  ASSERT_EQ(r.status, 204) << r.body;
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22proto%22%7D");
  EXPECT_NE(r.body.find("[\"" + std::to_string(now_s) + "000000007\",\"from protobuf\"]"),
            std::string::npos)
      << r.body;

  r = Get(pharos.port(), "/loki/api/v1/labels");
  EXPECT_EQ(r.body, R"({"status":"success","data":["app","env"]})");
  r = Get(pharos.port(), "/loki/api/v1/label/app/values");
  EXPECT_EQ(r.body, R"({"status":"success","data":["api","proto","web"]})");
  r = Get(pharos.port(), "/loki/api/v1/series?match%5B%5D=%7Bapp%3D%22web%22%7D");
  EXPECT_EQ(r.body, R"({"status":"success","data":[{"app":"web","env":"prod"}]})");

  // Bad input: a Loki-style plain-text 400 naming the problem.
  r = Post(pharos.port(), "/loki/api/v1/push",
           R"({"streams":[{"stream":{},"values":[[")" + t1 + R"(","x"]]}]})", kJson);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("at least one label"), std::string::npos) << r.body;
  r = Post(pharos.port(), "/loki/api/v1/push",
           R"({"streams":[{"stream":{"a":"b"},"values":[["yesterday","x"]]}]})", kJson);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nanoseconds"), std::string::npos) << r.body;
  r = Post(pharos.port(), "/loki/api/v1/push", "{", kJson);
  EXPECT_EQ(r.status, 400);
  r = Get(pharos.port(), "/loki/api/v1/query_range?query=%7Bapp%3D%22api%22%7D%20%7C%20json");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not implemented yet"), std::string::npos) << r.body;

  // Acknowledged lines survive a restart (the WAL).
  pharos.Signal(SIGKILL);
  pharos.Wait();
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  r = Get(pharos.port(), q);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find("GET /pay 500 error"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("render home 12ms"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace pharos::testing
