#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "app/app.h"

namespace pharos::app {
namespace {

TEST(ServeArgsTest, FlagsOverrideEnvironment) {
  std::string env_listen = "PHAROS_SERVER_LISTEN=127.0.0.1:9999";
  char* env[] = {env_listen.data(), nullptr};
  Result<ServeOptions> o =
      ParseServeArgs({"--listen", "127.0.0.1:0", "--data=/tmp/d", "--port-file", "/tmp/p",
                      "--insecure", "--set", "server.max_body_bytes=2MiB", "--log-level", "debug"},
                     env);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->config.server.listen, "127.0.0.1:0");
  EXPECT_EQ(o->config.storage.data_dir, "/tmp/d");
  EXPECT_EQ(o->port_file, "/tmp/p");
  EXPECT_TRUE(o->config.server.insecure);
  EXPECT_EQ(o->config.server.max_body_bytes, 2u << 20);
  EXPECT_EQ(o->config.log.level, LogLevel::kDebug);
}

TEST(ServeArgsTest, EnvironmentAppliesWithoutFlags) {
  std::string env_listen = "PHAROS_SERVER_LISTEN=127.0.0.1:9999";
  char* env[] = {env_listen.data(), nullptr};
  Result<ServeOptions> o = ParseServeArgs({}, env);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config.server.listen, "127.0.0.1:9999");
}

TEST(ServeArgsTest, RejectsBadFlags) {
  char* env[] = {nullptr};
  EXPECT_EQ(ParseServeArgs({"--lisen", "x"}, env).status().message(),
            "unknown flag --lisen (see pharos serve --help)");
  EXPECT_EQ(ParseServeArgs({"--listen"}, env).status().message(), "--listen needs a value");
  EXPECT_EQ(ParseServeArgs({"--set", "novalue"}, env).status().message(),
            "--set wants KEY=VALUE, got \"novalue\"");
  EXPECT_EQ(ParseServeArgs({"--threads", "x"}, env).status().message(),
            "server.threads: expected an integer, got \"x\"");
  EXPECT_EQ(ParseServeArgs({"stray"}, env).status().message(), "unexpected argument \"stray\"");
  EXPECT_EQ(ParseServeArgs({"--config", "/nonexistent.yaml"}, env).status().code(),
            StatusCode::kNotFound);
}

TEST(DataDirTest, SecondOpenIsRefused) {
  std::string dir = ::testing::TempDir() + "pharos_datadir_test_" + std::to_string(::getpid());
  Result<int> first = OpenDataDir(dir + "/nested");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  Result<int> second = OpenDataDir(dir + "/nested");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.status().message().find("in use by another pharos process"), std::string::npos);
  ::close(*first);
  Result<int> third = OpenDataDir(dir + "/nested");
  EXPECT_TRUE(third.ok());
  if (third.ok()) ::close(*third);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pharos::app
