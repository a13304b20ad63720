// `pharos serve` as a user runs it: the real binary, spoken to over loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <zlib.h>

#include <thread>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"

namespace pharos::testing {
namespace {

std::string Gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pharos_.StartServe()) << pharos_.Stderr(); }
  void TearDown() override {
    if (pharos_.Running()) {
      pharos_.Signal(SIGTERM);
      EXPECT_EQ(pharos_.Wait(), 0) << pharos_.Stderr();
    }
  }
  uint16_t port() { return pharos_.port(); }
  PharosProcess pharos_;
};

TEST_F(ServeTest, HealthAndReadiness) {
  HttpResponse health = Get(port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "Pharos is Healthy.\n");
  // Ready once the data directory is open; poll briefly since that follows the listener.
  int ready = 0;
  for (int i = 0; i < 200 && ready != 200; ++i) {
    ready = Get(port(), "/readyz").status;
    if (ready != 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(ready, 200);
  EXPECT_EQ(Get(port(), "/-/healthy").status, 200);
}

TEST_F(ServeTest, MetricsExposeServerAndProcess) {
  ASSERT_EQ(Get(port(), "/healthz").status, 200);
  ASSERT_EQ(Get(port(), "/nope").status, 404);
  // A request is counted once its response is written, which can be just after the client
  // has read it: look again for a moment.
  HttpResponse m;
  for (int i = 0; i < 100; ++i) {
    m = Get(port(), "/metrics");
    if (m.body.find(R"(pharos_http_requests_total{route="none",code="404"} 1)") !=
        std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  for (const char* want : {
           "pharos_http_requests_total{route=\"/healthz\",code=\"200\"} 1\n",
           "pharos_http_requests_total{route=\"none\",code=\"404\"} 1\n",
           "# TYPE pharos_http_request_duration_seconds histogram\n",
           "pharos_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 1\n",
           "# TYPE pharos_http_requests_in_flight gauge\n",
           "pharos_http_refused_total{reason=\"body_too_large\"} 0\n",
           "# TYPE pharos_http_received_bytes_total counter\n",
           "# TYPE pharos_http_sent_bytes_total counter\n",
           "# TYPE pharos_http_open_connections gauge\n",
           "pharos_http_accepted_connections_total ",
           "pharos_build_info{version=\"",
           "\nprocess_cpu_seconds_total ",
           "\nprocess_resident_memory_bytes ",
           "\nprocess_open_fds ",
           "\nprocess_start_time_seconds ",
       }) {
    EXPECT_NE(m.body.find(want), std::string::npos) << "missing: " << want;
  }
}

TEST_F(ServeTest, BuildInfoInPrometheusShape) {
  HttpResponse r = Get(port(), "/api/v1/status/buildinfo");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body.rfind(R"({"status":"success","data":{"version":")", 0), 0u) << r.body;
  EXPECT_NE(r.body.find(R"("goVersion":)"), std::string::npos);
}

TEST_F(ServeTest, ErrorsUsePrometheusEnvelope) {
  HttpResponse nf = Get(port(), "/api/v1/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body,
            R"({"status":"error","errorType":"not_found","error":"no route for /api/v1/nothing"})");
  HttpResponse na = Post(port(), "/healthz", "x");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers["allow"], "GET, HEAD");
  EXPECT_NE(na.body.find("\"errorType\":\"method_not_allowed\""), std::string::npos);
}

TEST_F(ServeTest, LimitsOnBodyAndHeader) {
  HttpResponse big = Post(port(), "/-/reload", std::string(33 << 20, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("request body exceeds the limit of 33554432 bytes"), std::string::npos);
  HttpResponse header = Get(port(), "/healthz", "X-Big: " + std::string(20000, 'h') + "\r\n");
  EXPECT_EQ(header.status, 431);
}

TEST_F(ServeTest, ChunkedAndGzipBodies) {
  RawConnection c(port());
  ASSERT_TRUE(
      c.Send("POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "3\r\nabc\r\n0\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 200);
  std::string gz = Gzip("a small gzip body");
  EXPECT_EQ(Post(port(), "/-/reload", gz, "Content-Encoding: gzip\r\n").status, 200);
  // Chunked and gzip together, as an OpenTelemetry exporter sends.
  RawConnection both(port());
  ASSERT_TRUE(
      both.Send("POST /-/reload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                "Content-Encoding: gzip\r\n\r\n"));
  char size[16];
  std::snprintf(size, sizeof(size), "%zx\r\n", gz.size());
  ASSERT_TRUE(both.Send(std::string(size) + gz + "\r\n0\r\n\r\n"));
  EXPECT_EQ(both.Read().status, 200);
  EXPECT_EQ(Post(port(), "/-/reload", "not gzip", "Content-Encoding: gzip\r\n").status, 400);
}

TEST_F(ServeTest, ZipBombIsRefused) {
  // 512 MiB of zeros is about 500 KiB gzipped: small on the wire, over the 128 MiB cap.
  std::string zeros(512 << 20, '\0');
  std::string bomb = Gzip(zeros);
  zeros.clear();
  zeros.shrink_to_fit();
  HttpResponse r = Post(port(), "/-/reload", bomb, "Content-Encoding: gzip\r\n");
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("decompressed body exceeds the limit"), std::string::npos);
  EXPECT_EQ(Get(port(), "/healthz").status, 200);
  EXPECT_NE(Get(port(), "/metrics")
                .body.find("pharos_http_refused_total{reason=\"decompressed_too_large\"} 1"),
            std::string::npos);
}

TEST_F(ServeTest, MalformedHttpGets400AndClose) {
  RawConnection c(port());
  ASSERT_TRUE(c.Send("BLAH BLAH BLAH\r\n\r\n"));
  HttpResponse r = c.Read();
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(r.closed);
  EXPECT_TRUE(c.WaitClosed());
  EXPECT_EQ(Get(port(), "/healthz").status, 200);
}

TEST_F(ServeTest, RequestIdOnEveryResponse) {
  EXPECT_EQ(Get(port(), "/healthz", "X-Request-Id: trace-42\r\n").headers["x-request-id"],
            "trace-42");
  EXPECT_EQ(Get(port(), "/nope").headers["x-request-id"].size(), 16u);
}

TEST_F(ServeTest, LogsAreJsonLines) {
  ASSERT_EQ(Get(port(), "/healthz").status, 200);
  std::string err = pharos_.Stderr();
  ASSERT_FALSE(err.empty());
  size_t start = 0;
  int lines = 0;
  while (start < err.size()) {
    size_t end = err.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "unterminated line";
    std::string line = err.substr(start, end - start);
    EXPECT_EQ(line.rfind("{\"ts\":\"", 0), 0u) << line;
    EXPECT_EQ(line.back(), '}') << line;
    ++lines;
    start = end + 1;
  }
  EXPECT_GE(lines, 2);
  EXPECT_NE(err.find("\"msg\":\"listening\""), std::string::npos);
}

TEST_F(ServeTest, SecondServerOnSameDataDirIsRefused) {
  PharosProcess second;
  second.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set",
                "otlp.grpc_listen=127.0.0.1:0", "--listen", "127.0.0.1:0", "--data",
                pharos_.dir() + "/data"});
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_NE(second.Stderr().find("in use by another pharos process"), std::string::npos);
}

TEST(ServeShutdownTest, SigtermFinishesInFlightRequest) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  RawConnection slow(pharos.port());
  ASSERT_TRUE(slow.Send("POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  pharos.Signal(SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_TRUE(pharos.Running()) << "exited with a request in flight";
  // New connections are no longer accepted.
  RawConnection late(pharos.port());
  EXPECT_FALSE(late.connected() && late.Send("GET /healthz HTTP/1.1\r\n\r\n") &&
               late.Read(1000).status == 200);
  ASSERT_TRUE(slow.Send("world"));
  HttpResponse r = slow.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(pharos.Wait(), 0) << pharos.Stderr();
  EXPECT_NE(pharos.Stderr().find("\"msg\":\"stopped\""), std::string::npos);
}

TEST(ServeShutdownTest, SigintExitsCleanly) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe()) << pharos.Stderr();
  ASSERT_EQ(Get(pharos.port(), "/healthz").status, 200);
  pharos.Signal(SIGINT);
  EXPECT_EQ(pharos.Wait(), 0);
}

TEST(ServeAuthTest, TokenScopes) {
  PharosProcess pharos;
  std::string cfg = pharos.WriteFile("pharos.yaml", R"(
auth:
  tokens:
    - name: dashboards
      token: reader-0123456789abcdef
      scopes: [read]
    - name: operator
      token: admin-0123456789abcdef
      scopes: [read, admin]
)");
  ASSERT_TRUE(pharos.StartServe({"--config", cfg})) << pharos.Stderr();
  uint16_t port = pharos.port();
  EXPECT_EQ(Get(port, "/healthz").status, 200);  // probes need no token
  EXPECT_EQ(Get(port, "/metrics").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "Authorization: Bearer nope-0123456789abcdef\r\n").status, 401);
  EXPECT_EQ(Get(port, "/metrics", "Authorization: Bearer reader-0123456789abcdef\r\n").status, 200);
  EXPECT_EQ(Post(port, "/-/reload", "", "Authorization: Bearer reader-0123456789abcdef\r\n").status,
            403);
  EXPECT_EQ(Post(port, "/-/reload", "", "Authorization: Bearer admin-0123456789abcdef\r\n").status,
            200);
  HttpResponse cfg_view =
      Get(port, "/api/v1/status/config", "Authorization: Bearer admin-0123456789abcdef\r\n");
  EXPECT_EQ(cfg_view.status, 200);
  EXPECT_EQ(cfg_view.body.find("0123456789abcdef"), std::string::npos) << "secret leaked";
  EXPECT_EQ(pharos.Stderr().find("0123456789abcdef"), std::string::npos) << "secret logged";
  pharos.Signal(SIGTERM);
  EXPECT_EQ(pharos.Wait(), 0);
}

TEST(ServeAuthTest, NonLoopbackWithoutTokensIsRefused) {
  PharosProcess pharos;
  pharos.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set",
                "otlp.grpc_listen=127.0.0.1:0", "--listen", "0.0.0.0:0", "--data",
                pharos.dir() + "/data"});
  EXPECT_EQ(pharos.Wait(), 2);
  std::string err = pharos.Stderr();
  EXPECT_NE(err.find("refusing to listen on non-loopback address 0.0.0.0:0"), std::string::npos)
      << err;
  EXPECT_NE(err.find("--insecure"), std::string::npos);
}

TEST(ServeAuthTest, NonLoopbackWithInsecureStarts) {
  PharosProcess pharos;
  pharos.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set",
                "otlp.grpc_listen=127.0.0.1:0", "--listen", "0.0.0.0:0", "--insecure", "--data",
                pharos.dir() + "/data", "--port-file", pharos.dir() + "/port"});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int i = 0; i < 100 && pharos.Running(); ++i) {
    if (pharos.Stderr().find("\"msg\":\"ready\"") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(pharos.Running()) << pharos.Stderr();
  pharos.Signal(SIGTERM);
  EXPECT_EQ(pharos.Wait(), 0);
}

TEST(ServeConfigTest, InvalidConfigIsRejectedNamingTheKey) {
  PharosProcess pharos;
  std::string cfg = pharos.WriteFile("bad.yaml", "server:\n  listen: 127.0.0.1:0\n  max_bdy: 5\n");
  pharos.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set",
                "otlp.grpc_listen=127.0.0.1:0", "--config", cfg});
  EXPECT_EQ(pharos.Wait(), 2);
  EXPECT_NE(pharos.Stderr().find("bad.yaml:3: server.max_bdy: unknown key"), std::string::npos)
      << pharos.Stderr();

  PharosProcess range;
  std::string cfg2 = range.WriteFile("range.yaml", "server:\n  threads: 100000\n");
  range.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0",
               "--config", cfg2});
  EXPECT_EQ(range.Wait(), 2);
  EXPECT_NE(range.Stderr().find("server.threads: 100000 is out of range [0, 256]"),
            std::string::npos)
      << range.Stderr();

  PharosProcess type;
  std::string cfg3 = type.WriteFile("type.yaml", "log:\n  level: [a, b]\n");
  type.Spawn({"serve", "--set", "otlp.listen=127.0.0.1:0", "--set", "otlp.grpc_listen=127.0.0.1:0",
              "--config", cfg3});
  EXPECT_EQ(type.Wait(), 2);
  EXPECT_NE(type.Stderr().find("log.level: expected a string, got a list"), std::string::npos)
      << type.Stderr();
}

}  // namespace
}  // namespace pharos::testing
