#include <gtest/gtest.h>

#include "server/server.h"

namespace pharos::server {
namespace {

Handler Named(std::string name) {
  return [name](const Request&, Response& r) { r.body = name; };
}

std::string Call(const Router& router, Method m, std::string_view path, bool* known = nullptr,
                 std::string* allow = nullptr) {
  bool k = false;
  std::string a;
  const Router::Route* route = router.Find(m, path, k, a);
  if (known) *known = k;
  if (allow) *allow = a;
  if (!route) return "";
  Response r;
  route->handler(Request(), r);
  return r.body;
}

struct Storage {
  int value = 7;
};
struct Scheduler {};

// The readiness registry: a route that needs a component answers 503 with Retry-After
// until it is published, serves once it is, and 503 again once it is withdrawn.
TEST(ServicesTest, WhenReadyAnswers503UntilPublished) {
  Services services;
  Storage storage;
  Handler h = WhenReady<Storage>(
      services, "storage is recovering",
      [](const Request&, Response& r, Storage& s) { r.body = std::to_string(s.value); });
  Response before;
  h(Request(), before);
  EXPECT_EQ(before.status, 503);
  EXPECT_NE(before.body.find(R"("errorType":"unavailable")"), std::string::npos) << before.body;
  EXPECT_NE(before.body.find("storage is recovering"), std::string::npos) << before.body;
  ASSERT_EQ(before.headers.size(), 1u);
  EXPECT_EQ(before.headers[0].first, "Retry-After");

  services.Publish(&storage);
  EXPECT_EQ(services.Get<Scheduler>(), nullptr);  // one slot per type
  Response ready;
  h(Request(), ready);
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "7");

  services.Withdraw<Storage>();
  Response after;
  h(Request(), after);
  EXPECT_EQ(after.status, 503);
}

TEST(RouterTest, ExactBeforePrefixLongestPrefixFirst) {
  Router router;
  router.HandlePrefix(Method::kGet, "/api/", kPublic, Named("api"));
  router.HandlePrefix(Method::kGet, "/api/v1/label/", kPublic, Named("label"));
  router.Handle(Method::kGet, "/api/v1/labels", kPublic, Named("labels"));
  EXPECT_EQ(Call(router, Method::kGet, "/api/v1/labels"), "labels");
  EXPECT_EQ(Call(router, Method::kGet, "/api/v1/label/job/values"), "label");
  EXPECT_EQ(Call(router, Method::kGet, "/api/other"), "api");
  bool known = true;
  EXPECT_EQ(Call(router, Method::kGet, "/nope", &known), "");
  EXPECT_FALSE(known);
}

TEST(RouterTest, MethodNotAllowedListsAllow) {
  Router router;
  router.Handle(Method::kGet, "/x", kPublic, Named("get"));
  router.Handle(Method::kPost, "/x", kPublic, Named("post"));
  bool known = false;
  std::string allow;
  EXPECT_EQ(Call(router, Method::kDelete, "/x", &known, &allow), "");
  EXPECT_TRUE(known);
  EXPECT_EQ(allow, "GET, HEAD, POST");
  EXPECT_EQ(Call(router, Method::kHead, "/x"), "get");
  EXPECT_EQ(Call(router, Method::kPost, "/x"), "post");
}

TEST(RouterTest, LabelsDefaultToPath) {
  Router router;
  router.Handle(Method::kGet, "/a", kPublic, Named("a"));
  router.HandlePrefix(Method::kGet, "/p/", kPublic, Named("p"));
  router.Handle(Method::kGet, "/b", kPublic, Named("b"), "custom");
  bool k;
  std::string a;
  EXPECT_EQ(router.Find(Method::kGet, "/a", k, a)->label, "/a");
  EXPECT_EQ(router.Find(Method::kGet, "/p/x", k, a)->label, "/p/*");
  EXPECT_EQ(router.Find(Method::kGet, "/b", k, a)->label, "custom");
}

TEST(ResponseTest, ErrorEnvelope) {
  Response r = Response::Error(400, "bad_data", "parse error at char 3: \"x\"");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"({"status":"error","errorType":"bad_data","error":"parse error at char 3: \"x\""})");
  Response s = Response::FromStatus(DeadlineExceeded("query timed out"));
  EXPECT_EQ(s.status, 503);
  EXPECT_EQ(s.body, R"({"status":"error","errorType":"timeout","error":"query timed out"})");
  EXPECT_EQ(Response::FromStatus(FailedPrecondition("x")).status, 422);
  EXPECT_EQ(ErrorTypeFor(StatusCode::kFailedPrecondition), "execution");
}

}  // namespace
}  // namespace pharos::server
