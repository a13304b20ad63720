// The pharos command line: subcommands, help, exit codes.
#include <gtest/gtest.h>

#include "tests/integration/pharos_process.h"

namespace pharos::testing {
namespace {

TEST(CliTest, Version) {
  std::string out;
  EXPECT_EQ(RunPharos({"version"}, &out, nullptr), 0);
  EXPECT_EQ(out.rfind("pharos ", 0), 0u) << out;
}

TEST(CliTest, HelpForEachCommand) {
  std::string out;
  EXPECT_EQ(RunPharos({"--help"}, &out, nullptr), 0);
  EXPECT_NE(out.find("pharos serve"), std::string::npos);
  EXPECT_EQ(RunPharos({"serve", "--help"}, &out, nullptr), 0);
  EXPECT_NE(out.find("--port-file FILE"), std::string::npos);
  EXPECT_NE(out.find("server.max_body_bytes"), std::string::npos);
  EXPECT_EQ(RunPharos({"version", "--help"}, &out, nullptr), 0);
  EXPECT_EQ(RunPharos({"check-config", "--help"}, &out, nullptr), 0);
  EXPECT_NE(out.find("check-config FILE"), std::string::npos);
}

TEST(CliTest, UnknownCommandAndFlag) {
  std::string err;
  EXPECT_EQ(RunPharos({"frobnicate"}, nullptr, &err), 2);
  EXPECT_NE(err.find("unknown command"), std::string::npos);
  EXPECT_EQ(RunPharos({"serve", "--frob"}, nullptr, &err), 2);
  EXPECT_NE(err.find("unknown flag --frob"), std::string::npos);
  EXPECT_EQ(RunPharos({}, nullptr, nullptr), 2);
}

TEST(CliTest, CheckConfig) {
  PharosProcess scratch;
  std::string good = scratch.WriteFile("good.yaml", "server:\n  listen: 127.0.0.1:9090\n");
  std::string bad = scratch.WriteFile("bad.yaml", "server:\n  lsten: 127.0.0.1:9090\n");
  std::string out, err;
  EXPECT_EQ(RunPharos({"check-config", good}, &out, &err), 0) << err;
  EXPECT_NE(out.find("valid"), std::string::npos);
  EXPECT_EQ(RunPharos({"check-config", bad}, &out, &err), 2);
  EXPECT_NE(err.find("server.lsten: unknown key"), std::string::npos) << err;
  EXPECT_EQ(RunPharos({"check-config", scratch.dir() + "/missing.yaml"}, &out, &err), 2);
  EXPECT_NE(err.find("cannot read config file"), std::string::npos);
}

TEST(CliTest, ExampleConfigIsValid) {
  std::string err;
  EXPECT_EQ(
      RunPharos({"check-config", PHAROS_SOURCE_DIR "/config/pharos.example.yaml"}, nullptr, &err),
      0)
      << err;
}

TEST(CliTest, EnvironmentVariableErrorsNameTheVariable) {
  PharosProcess p;
  ::setenv("PHAROS_SERVER_THREADS", "lots", 1);
  p.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0",
           "--listen", "127.0.0.1:0", "--data", p.dir() + "/data"});
  ::unsetenv("PHAROS_SERVER_THREADS");
  EXPECT_EQ(p.Wait(), 2);
  EXPECT_NE(p.Stderr().find("PHAROS_SERVER_THREADS (server.threads): expected an integer"),
            std::string::npos)
      << p.Stderr();
}

}  // namespace
}  // namespace pharos::testing
