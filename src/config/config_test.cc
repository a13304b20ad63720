#include "config/config.h"

#include <gtest/gtest.h>

namespace pharos::config {
namespace {

TEST(ConfigTest, DefaultsWork) {
  Config c;
  EXPECT_EQ(c.server.listen, "127.0.0.1:7070");
  EXPECT_EQ(c.storage.data_dir, "./data");
  EXPECT_TRUE(Validate(c).ok());
}

TEST(ConfigTest, LoadsYaml) {
  Config c;
  Status s = LoadYaml(R"(
server:
  listen: "0.0.0.0:9090"
  threads: 4
  max_body_bytes: 8MiB
  idle_timeout: 1m30s
  tls:
    cert_file: /c.pem
    key_file: /k.pem
log:
  level: debug
storage:
  data_dir: /var/lib/pharos
auth:
  tokens:
    - name: grafana
      token: "0123456789abcdef-grafana"
      scopes: [read]
    - name: agent
      token_sha256: "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
      scopes: [write, admin]
)",
                      "test.yaml", c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.server.listen, "0.0.0.0:9090");
  EXPECT_EQ(c.server.threads, 4);
  EXPECT_EQ(c.server.max_body_bytes, 8u << 20);
  EXPECT_EQ(c.server.idle_timeout.count(), 90000);
  EXPECT_TRUE(c.server.tls.enabled());
  EXPECT_EQ(c.log.level, LogLevel::kDebug);
  EXPECT_EQ(c.storage.data_dir, "/var/lib/pharos");
  ASSERT_EQ(c.auth.tokens.size(), 2u);
  EXPECT_EQ(c.auth.tokens[0].name, "grafana");
  EXPECT_EQ(c.auth.tokens[0].scopes, kScopeRead);
  EXPECT_EQ(c.auth.tokens[0].sha256.size(), 32u);
  EXPECT_EQ(c.auth.tokens[1].scopes, kScopeWrite | kScopeAdmin);
  EXPECT_EQ(static_cast<unsigned char>(c.auth.tokens[1].sha256[0]), 0x9F);
}

struct BadCase {
  const char* yaml;
  const char* expect;  // substring of the error
};

TEST(ConfigTest, RejectsBadInputNamingTheKey) {
  const BadCase cases[] = {
      {"server:\n  listn: x\n", "test.yaml:2: server.listn: unknown key"},
      {"sever: {}\n", "test.yaml:1: sever: unknown key"},
      {"server:\n  threads: many\n", "server.threads: expected an integer, got \"many\""},
      {"server:\n  threads: 100000\n", "server.threads: 100000 is out of range [0, 256]"},
      {"server:\n  listen: [a]\n", "server.listen: expected a string, got a list"},
      {"server:\n  listen: nohost\n", "server.listen: \"nohost\" is not HOST:PORT"},
      {"server:\n  listen: \"x:70000\"\n", "port must be a number 0-65535"},
      {"server:\n  insecure: yes\n", "server.insecure: expected true or false"},
      {"server:\n  idle_timeout: 5\n", "server.idle_timeout: invalid duration"},
      {"server:\n  max_body_bytes: 12\n", "server.max_body_bytes: 12 is out of range"},
      {"server: 5\n", "server: expected a map, got a scalar"},
      {"log:\n  level: loud\n", "log.level: unknown log level \"loud\""},
      {"server:\n  threads: 1\n  threads: 2\n", "server.threads: duplicate key"},
      {"server:\n  tls:\n    cert_file: a\n", "cert_file and key_file must be given together"},
      {"auth:\n  tokens:\n    - name: a\n      token: short\n      scopes: [read]\n",
       "auth.tokens[0].token: too short"},
      {"auth:\n  tokens:\n    - name: a\n      token: 0123456789abcdefXYZ\n      scopes: [rw]\n",
       "auth.tokens[0].scopes: unknown scope \"rw\""},
      {"auth:\n  tokens:\n    - token: 0123456789abcdefXYZ\n      scopes: [read]\n",
       "auth.tokens[0].name: required"},
      {"auth:\n  tokens:\n    - name: a\n      token: 0123456789abcdefXYZ\n",
       "auth.tokens[0].scopes: required"},
      {"auth:\n  tokens:\n    - name: a\n      scopes: [read]\n", "needs exactly one of token"},
      {"auth:\n  tokens:\n    - name: a\n      token_sha256: abc\n      scopes: [read]\n",
       "expected 64 hex digits"},
      {"server: [\n", "invalid YAML"},
      {"- a\n- b\n", "expected a map, got a list"},
  };
  for (const BadCase& bc : cases) {
    Config c;
    Status s = LoadYaml(bc.yaml, "test.yaml", c);
    ASSERT_FALSE(s.ok()) << bc.yaml;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(bc.expect), std::string::npos)
        << "yaml: " << bc.yaml << "\nerror: " << s.message();
  }
}

TEST(ConfigTest, EmptyFileKeepsDefaults) {
  Config c;
  ASSERT_TRUE(LoadYaml("", "empty.yaml", c).ok());
  ASSERT_TRUE(LoadYaml("# only a comment\n", "empty.yaml", c).ok());
  EXPECT_EQ(c.server.listen, "127.0.0.1:7070");
}

TEST(ConfigTest, EnvironmentOverrides) {
  Config c;
  std::string a = "PHAROS_SERVER_LISTEN=127.0.0.1:0";
  std::string b = "PHAROS_SERVER_MAX_BODY_BYTES=1MiB";
  std::string d = "PHAROS_TESTDATA=/elsewhere";  // not config: ignored
  std::string e = "HOME=/root";
  char* env[] = {a.data(), b.data(), d.data(), e.data(), nullptr};
  ASSERT_TRUE(ApplyEnvironment(env, c).ok());
  EXPECT_EQ(c.server.listen, "127.0.0.1:0");
  EXPECT_EQ(c.server.max_body_bytes, 1u << 20);

  std::string bad = "PHAROS_SERVER_LISTN=x";
  char* env2[] = {bad.data(), nullptr};
  Status s = ApplyEnvironment(env2, c);
  EXPECT_NE(s.message().find("PHAROS_SERVER_LISTN: unknown"), std::string::npos) << s.message();

  // Every section is checked, those set only in the YAML file too; other PHAROS_
  // variables (the CLI's token and URL) are not configuration.
  for (const char* typo : {"PHAROS_RULES_EVALUATION_INTERVL=1m", "PHAROS_OTLP_GRPC_LISTN=x",
                           "PHAROS_INCIDENTS_NOPE=1", "PHAROS_ALERTING_ROUTE=x"}) {
    std::string entry = typo;
    char* env_typo[] = {entry.data(), nullptr};
    s = ApplyEnvironment(env_typo, c);
    EXPECT_NE(s.message().find("unknown configuration variable"), std::string::npos) << typo;
  }
  std::string token = "PHAROS_TOKEN=secret-secret-secret";
  std::string grpc = "PHAROS_OTLP_GRPC_LISTEN=127.0.0.1:0";
  char* env_ok[] = {token.data(), grpc.data(), nullptr};
  s = ApplyEnvironment(env_ok, c);
  EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(c.otlp.grpc_listen, "127.0.0.1:0");

  std::string bad_value = "PHAROS_LOG_LEVEL=loud";
  char* env3[] = {bad_value.data(), nullptr};
  s = ApplyEnvironment(env3, c);
  EXPECT_NE(s.message().find("PHAROS_LOG_LEVEL (log.level): unknown log level"), std::string::npos)
      << s.message();
}

TEST(ConfigTest, OverridesByKey) {
  Config c;
  ASSERT_TRUE(ApplyOverride("server.threads", "2", c).ok());
  EXPECT_EQ(c.server.threads, 2);
  Status s = ApplyOverride("server.thread", "2", c);
  EXPECT_EQ(s.message(), "server.thread: unknown key");
  s = ApplyOverride("server.threads", "-1", c);
  EXPECT_EQ(s.message(), "server.threads: -1 is out of range [0, 256]");
}

TEST(ConfigTest, RenderHidesSecrets) {
  Config c;
  ASSERT_TRUE(LoadYaml("auth:\n  tokens:\n    - name: ci\n      token: super-secret-token-123\n"
                       "      scopes: [read, write]\n",
                       "t.yaml", c)
                  .ok());
  std::string yaml = RenderYaml(c);
  EXPECT_EQ(yaml.find("super-secret"), std::string::npos);
  EXPECT_NE(yaml.find("name: \"ci\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("scopes: [read, write]"), std::string::npos);
  EXPECT_NE(yaml.find("server:\n  listen: \"127.0.0.1:7070\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  tls:\n    cert_file: \"\""), std::string::npos) << yaml;
  // What RenderYaml prints loads back (secrets aside).
  Config round;
  std::string no_auth = yaml.substr(0, yaml.find("auth:"));
  Status loaded = LoadYaml(no_auth, "round.yaml", round);
  EXPECT_TRUE(loaded.ok()) << loaded.message();
}

TEST(ConfigTest, HostPort) {
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(ParseHostPort("[::1]:0", host, port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseHostPort("localhost:7070", host, port).ok());
  EXPECT_EQ(host, "localhost");
  EXPECT_FALSE(ParseHostPort("::1:80", host, port).ok());
  EXPECT_FALSE(ParseHostPort(":80", host, port).ok());
  EXPECT_FALSE(ParseHostPort("a:", host, port).ok());
}

}  // namespace
}  // namespace pharos::config
