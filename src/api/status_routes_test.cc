#include <gtest/gtest.h>

#include "api/api.h"

namespace pharos::api {
namespace {

using server::Method;

struct Fixture {
  server::Router router;
  std::atomic<bool> ready{false};
  selfmon::Registry registry;
  config::Config config;
  BuildInfo build{"0.1.0", "abc123", "main", "2026-11-26", "gcc 12"};
  Fixture() { RegisterStatusRoutes(router, build, ready, registry, config); }

  server::Response Call(std::string_view path) {
    bool known = false;
    std::string allow;
    const server::Router::Route* route = router.Find(Method::kGet, path, known, allow);
    EXPECT_NE(route, nullptr) << path;
    server::Response r;
    if (route) route->handler(server::Request(), r);
    return r;
  }
};

TEST(StatusRoutesTest, ReadinessFollowsFlag) {
  Fixture f;
  EXPECT_EQ(f.Call("/readyz").status, 503);
  f.ready = true;
  EXPECT_EQ(f.Call("/readyz").status, 200);
  EXPECT_EQ(f.Call("/-/ready").status, 200);
  EXPECT_EQ(f.Call("/healthz").status, 200);
}

TEST(StatusRoutesTest, BuildInfoInPrometheusShape) {
  Fixture f;
  server::Response r = f.Call("/api/v1/status/buildinfo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"status":"success","data":{"version":"0.1.0","revision":"abc123","branch":"main",)"
            R"("buildUser":"","buildDate":"2026-11-26","goVersion":"gcc 12"}})");
}

TEST(StatusRoutesTest, MetricsRendersRegistry) {
  Fixture f;
  f.registry.AddCounter("x_total", "X.").WithLabels({}).Inc(3);
  server::Response r = f.Call("/metrics");
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("x_total 3\n"), std::string::npos);
}

TEST(StatusRoutesTest, ScopesPerRoute) {
  Fixture f;
  bool known = false;
  std::string allow;
  EXPECT_EQ(f.router.Find(Method::kGet, "/healthz", known, allow)->required_scopes,
            server::kPublic);
  EXPECT_EQ(f.router.Find(Method::kGet, "/metrics", known, allow)->required_scopes,
            config::kScopeRead);
  EXPECT_EQ(f.router.Find(Method::kGet, "/api/v1/status/config", known, allow)->required_scopes,
            config::kScopeAdmin);
}

// Handlers that may wait on the meta store or on a lock held across I/O must never run on
// an I/O thread, nor on the write pool that ingest needs: they run on the control pool.
// Health and metrics stay inline so they answer while the disk is slow.
TEST(RoutesTest, EverythingThatTouchesTheMetaStoreRunsOnTheControlPool) {
  Fixture f;
  Services services;
  RegisterAlertingRoutes(f.router, services);
  RegisterIncidentRoutes(f.router, services);
  auto blocking = [&](Method m, std::string_view path) {
    bool known = false;
    std::string allow;
    const server::Router::Route* route = f.router.Find(m, path, known, allow);
    EXPECT_NE(route, nullptr) << path;
    return route != nullptr && route->blocking && route->control;
  };
  for (std::string_view path :
       {"/api/v1/rules", "/api/v1/alerts", "/api/v2/alerts", "/api/v2/alerts/groups",
        "/api/v2/silences", "/api/v2/silence/abc", "/api/v2/receivers", "/api/v2/status",
        "/api/v1/alerts/history", "/api/v1/notifications", "/api/v1/incidents",
        "/api/v1/incidents/7"}) {
    EXPECT_TRUE(blocking(Method::kGet, path)) << path;
  }
  EXPECT_TRUE(blocking(Method::kPost, "/api/v2/silences"));
  EXPECT_TRUE(blocking(Method::kDelete, "/api/v2/silence/abc"));
  EXPECT_TRUE(blocking(Method::kPost, "/api/v2/alerts"));
  EXPECT_FALSE(blocking(Method::kGet, "/healthz"));
  EXPECT_FALSE(blocking(Method::kGet, "/readyz"));
}

}  // namespace
}  // namespace pharos::api
