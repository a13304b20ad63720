#include "console/console.h"

#include <gtest/gtest.h>

#include "server/server.h"

namespace pharos::console {
namespace {

TEST(ConsoleTest, EmbedsTheBuiltConsole) {
  std::span<const Asset> assets = Assets();
  ASSERT_EQ(assets.size(), 3u);
  EXPECT_EQ(assets[0].path, "/");
  EXPECT_NE(assets[0].body.find("assets/app.js"), std::string_view::npos);
  EXPECT_GT(assets[1].body.size(), 10'000u) << "the bundled JavaScript";
  for (const Asset& a : assets) {
    EXPECT_LT(a.gzip_body.size(), a.body.size()) << a.path;
    EXPECT_EQ(a.gzip_body.substr(0, 2), std::string_view("\x1f\x8b", 2)) << a.path;
  }
}

TEST(ConsoleTest, ServesGzipAndRevalidates) {
  server::Router router;
  RegisterRoutes(router);
  bool known = false;
  std::string allow;
  const server::Router::Route* route =
      router.Find(server::Method::kGet, "/assets/app.js", known, allow);
  ASSERT_NE(route, nullptr);
  EXPECT_EQ(route->required_scopes, server::kPublic);
  EXPECT_NE(router.Find(server::Method::kGet, "/", known, allow), nullptr);
  EXPECT_EQ(router.Find(server::Method::kGet, "/assets/nope.js", known, allow), nullptr);
}

}  // namespace
}  // namespace pharos::console
