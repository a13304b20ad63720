// The server in-process on port 0, spoken to over loopback with raw sockets.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <thread>

#include "common/strings.h"
#include "server/server.h"
#include "tests/support/http_client.h"
#include "tests/support/websocket_client.h"

namespace pharos::server {
namespace {

using pharos::testing::Get;
using pharos::testing::Post;
using pharos::testing::RawConnection;
using pharos::testing::WebSocketClient;

// Counts to `last` one message per poll, then ends with `end` (unless OK); counts the
// feeds alive so a test can see the server destroy them.
class CountingFeed : public LiveFeed {
 public:
  CountingFeed(int last, Status end, std::atomic<int>& alive)
      : last_(last), end_(std::move(end)), alive_(alive) {
    ++alive_;
  }
  ~CountingFeed() override { --alive_; }
  Status Poll(std::vector<std::string>& messages) override {
    if (next_ <= last_) messages.push_back(fmt::format("message {}", next_++));
    if (next_ > last_) return end_;
    return Status::Ok();
  }
  std::chrono::milliseconds interval() const override { return std::chrono::milliseconds(10); }

 private:
  int last_;
  int next_ = 1;
  Status end_;
  std::atomic<int>& alive_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(config::ServerConfig cfg = {}, config::AuthConfig auth = {}) {
    cfg.listen = "127.0.0.1:0";
    cfg.threads = 2;
    auto router = std::make_shared<Router>();
    router->Handle(Method::kPost, "/echo", config::kScopeWrite,
                   [](const Request& req, Response& r) {
                     r = Response::Text(200, req.body());
                     r.headers.emplace_back("X-Principal", std::string(req.principal()));
                   });
    router->Handle(Method::kGet, "/read", config::kScopeRead, [](const Request& req, Response& r) {
      r = Response::Text(200, req.QueryParam("q").value_or("none"));
    });
    router->Handle(Method::kGet, "/public", kPublic,
                   [](const Request&, Response& r) { r = Response::Text(200, "hi"); });
    router->Handle(Method::kGet, "/throw", kPublic,
                   [](const Request&, Response&) { throw std::runtime_error("boom"); });
    router->Handle(Method::kPost, "/shaped", config::kScopeWrite,
                   [](const Request&, Response& r) { r = Response::Text(200, "in"); });
    router->ShapeErrors(
        "/shaped", [](const Request&, int status, std::string_view type, std::string_view message) {
          return Response::Text(status, fmt::format("shaped {} {}: {}", status, type, message));
        });
    router->HandleWebSocket("/feed", config::kScopeRead, [this](const Request& req, Response& r) {
      std::string kind = req.QueryParam("end").value_or("none");
      int last = std::stoi(req.QueryParam("last").value_or("3"));
      if (kind == "refuse") {
        r = Response::Text(400, "no feed for you\n");
        return std::unique_ptr<LiveFeed>();
      }
      Status end = kind == "limit"  ? ResourceExhausted("too many lines for this tail")
                   : kind == "fail" ? Internal("the store went away")
                                    : Status::Ok();
      return std::unique_ptr<LiveFeed>(new CountingFeed(last, end, feeds_alive_));
    });
    auto created = HttpServer::Create(cfg, auth, router, registry_);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    server_ = std::move(created).value();
    server_->Start();
    port_ = server_->port();
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  selfmon::Registry registry_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
  std::atomic<int> feeds_alive_{0};
};

bool WaitFor(const std::function<bool()>& condition) {
  for (int i = 0; i < 500 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

TEST_F(HttpServerTest, KeepAliveAndPipelining) {
  StartServer();
  RawConnection c(port_);
  ASSERT_TRUE(c.connected());
  // Three requests in one write; answers must come back in order on the same connection.
  ASSERT_TRUE(
      c.Send("GET /read?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /read?q=two%202 HTTP/1.1\r\nHost: x\r\n\r\n"
             "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  auto r1 = c.Read();
  auto r2 = c.Read();
  auto r3 = c.Read();
  EXPECT_EQ(r1.status, 200);
  EXPECT_EQ(r1.body, "1");
  EXPECT_EQ(r2.body, "two 2");
  EXPECT_EQ(r3.body, "abc");
  EXPECT_FALSE(r3.closed);
  EXPECT_EQ(r1.headers["x-request-id"].size(), 16u);
  EXPECT_NE(r1.headers["x-request-id"], r2.headers["x-request-id"]);
  EXPECT_FALSE(r1.headers["date"].empty());
}

TEST_F(HttpServerTest, RequestIdIsTakenFromRequest) {
  StartServer();
  auto r = Get(port_, "/public", "X-Request-Id: abc-123\r\n");
  EXPECT_EQ(r.headers["x-request-id"], "abc-123");
  auto bad = Get(port_, "/public", "X-Request-Id: has space\"quote\r\n");
  EXPECT_EQ(bad.headers["x-request-id"].size(), 16u);
}

TEST_F(HttpServerTest, ChunkedBody) {
  StartServer();
  RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n"));
  ASSERT_TRUE(c.Send("6\r\n world\r\n0\r\n\r\n"));
  auto r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello world");
}

TEST_F(HttpServerTest, LargeBodyInPieces) {
  StartServer();
  std::string body(5 << 20, 'z');
  auto r = Post(port_, "/echo", body);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), body.size());
}

TEST_F(HttpServerTest, ExpectContinue) {
  StartServer();
  RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
             "Expect: 100-continue\r\n\r\n"));
  // The client waits for 100 Continue before sending the body.
  pharos::testing::RawConnection* conn = &c;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(conn->Send("ok"));
  auto r = c.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
}

TEST_F(HttpServerTest, Limits) {
  config::ServerConfig cfg;
  cfg.max_body_bytes = 1500;
  cfg.max_header_bytes = 1024;
  cfg.max_decompressed_bytes = 4096;
  StartServer(cfg);
  auto big = Post(port_, "/echo", std::string(2000, 'a'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("exceeds the limit of 1500 bytes"), std::string::npos);
  EXPECT_TRUE(big.closed);
  auto header = Get(port_, "/public", "X-Big: " + std::string(2000, 'h') + "\r\n");
  EXPECT_EQ(header.status, 431);
  EXPECT_NE(header.body.find("\"errorType\":\"header_too_large\""), std::string::npos);

  // A chunked body over the limit is refused too.
  RawConnection c(port_);
  ASSERT_TRUE(
      c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
             "800\r\n" +
             std::string(2048, 'q') + "\r\n0\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 413);

  // 1 MiB of zeros gzips to about 1 KiB: under the body limit, over the decoded limit.
  std::string zeros(1 << 20, '\0');
  z_stream zs{};
  deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);
  std::string gz(deflateBound(&zs, zeros.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(zeros.data());
  zs.avail_in = static_cast<uInt>(zeros.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  deflate(&zs, Z_FINISH);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  ASSERT_LT(gz.size(), 1500u);
  auto bomb = Post(port_, "/echo", gz, "Content-Encoding: gzip\r\n");
  EXPECT_EQ(bomb.status, 413);
  EXPECT_NE(bomb.body.find("decompressed body exceeds the limit of 4096 bytes"), std::string::npos);

  auto unknown = Post(port_, "/echo", "x", "Content-Encoding: br\r\n");
  EXPECT_EQ(unknown.status, 415);

  std::string metrics = registry_.Render();
  EXPECT_NE(metrics.find("pharos_http_refused_total{reason=\"body_too_large\"} 2"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("pharos_http_refused_total{reason=\"header_too_large\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("pharos_http_refused_total{reason=\"decompressed_too_large\"} 1"),
            std::string::npos);
  EXPECT_NE(metrics.find("pharos_http_refused_total{reason=\"unsupported_encoding\"} 1"),
            std::string::npos);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndClose) {
  StartServer();
  for (std::string_view junk :
       {std::string_view("GARBAGE\r\n\r\n"), std::string_view("GET / HTTP/9.9\r\n\r\n"),
        std::string_view("GET /public HTTP/1.1\r\nBad Header\r\n\r\n"),
        std::string_view("POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        std::string_view("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        std::string_view("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        std::string_view("GET nopath HTTP/1.1\r\n\r\n")}) {
    RawConnection c(port_);
    ASSERT_TRUE(c.Send(junk));
    auto r = c.Read();
    EXPECT_EQ(r.status, 400) << junk;
    EXPECT_TRUE(r.closed) << junk;
    EXPECT_TRUE(c.WaitClosed()) << junk;
  }
  // Binary noise, then a half-sent request: neither takes the server down.
  RawConnection noise(port_);
  std::string bytes;
  for (int i = 0; i < 4096; ++i) bytes += static_cast<char>((i * 7919) & 0xFF);
  noise.Send(bytes);
  RawConnection half(port_);
  half.Send("GET /pub");
  half.CloseWrite();
  EXPECT_EQ(Get(port_, "/public").status, 200);
}

TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  StartServer();
  auto nf = Get(port_, "/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.body, R"({"status":"error","errorType":"not_found","error":"no route for /nope"})");
  auto na = Post(port_, "/public", "");
  EXPECT_EQ(na.status, 405);
  EXPECT_EQ(na.headers["allow"], "GET, HEAD");
  RawConnection c(port_);
  c.Send("HEAD /public HTTP/1.1\r\nHost: x\r\n\r\nGET /public HTTP/1.1\r\nHost: x\r\n\r\n");
  auto head = c.Read(10000, /*head=*/true);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.headers["content-length"], "2");
  EXPECT_EQ(head.body, "");
  // The HEAD response had no body, so the next response parses cleanly.
  auto get = c.Read();
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "hi");
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  StartServer();
  auto r = Get(port_, "/throw");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(Get(port_, "/public").status, 200);
}

TEST_F(HttpServerTest, TokensAndScopes) {
  config::AuthConfig auth;
  config::Config parsed;
  ASSERT_TRUE(
      config::LoadYaml("auth:\n  tokens:\n"
                       "    - {name: reader, token: reader-token-0123456789, scopes: [read]}\n"
                       "    - {name: writer, token: writer-token-0123456789, scopes: [write]}\n",
                       "t", parsed)
          .ok());
  StartServer({}, parsed.auth);
  EXPECT_EQ(Get(port_, "/public").status, 200);
  auto none = Get(port_, "/read");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.headers["www-authenticate"], "Bearer realm=\"pharos\"");
  EXPECT_EQ(Get(port_, "/read", "Authorization: Bearer wrong-token-0123456789\r\n").status, 401);
  EXPECT_EQ(Get(port_, "/read", "Authorization: Basic abc\r\n").status, 401);
  EXPECT_EQ(Get(port_, "/read", "Authorization: Bearer reader-token-0123456789\r\n").status, 200);
  EXPECT_EQ(Get(port_, "/read", "Authorization: bearer reader-token-0123456789\r\n").status, 200);
  auto forbidden = Post(port_, "/echo", "x", "Authorization: Bearer reader-token-0123456789\r\n");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_NE(forbidden.body.find("token \\\"reader\\\" lacks the scope this route needs: write"),
            std::string::npos)
      << forbidden.body;
  auto ok = Post(port_, "/echo", "x", "Authorization: Bearer writer-token-0123456789\r\n");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.headers["x-principal"], "writer");
}

// A route's API family writes the server's own refusals on it (OTLP's google.rpc.Status,
// say); other routes keep Prometheus's envelope.
TEST_F(HttpServerTest, RefusalsTakeTheRoutesShape) {
  config::Config parsed;
  ASSERT_TRUE(
      config::LoadYaml("auth:\n  tokens:\n"
                       "    - {name: reader, token: reader-token-0123456789, scopes: [read]}\n",
                       "t", parsed)
          .ok());
  StartServer({}, parsed.auth);
  auto none = Post(port_, "/shaped", "x");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body.rfind("shaped 401 unauthorized: missing bearer token", 0), 0u) << none.body;
  auto forbidden = Post(port_, "/shaped", "x", "Authorization: Bearer reader-token-0123456789\r\n");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.body.rfind("shaped 403 forbidden", 0), 0u) << forbidden.body;
  auto encoding = Post(port_, "/shaped", "x",
                       "Authorization: Bearer reader-token-0123456789\r\nContent-Encoding: br\r\n");
  EXPECT_EQ(encoding.status, 403);  // auth comes first: nothing is decoded for a refused call
  auto plain = Post(port_, "/echo", "x");
  EXPECT_EQ(plain.status, 401);
  EXPECT_NE(plain.body.find("\"errorType\":\"unauthorized\""), std::string::npos) << plain.body;
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  config::ServerConfig cfg;
  cfg.idle_timeout = std::chrono::milliseconds(300);
  StartServer(cfg);
  RawConnection c(port_);
  ASSERT_TRUE(c.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.Read().status, 200);
  EXPECT_TRUE(c.WaitClosed(3000));
}

TEST_F(HttpServerTest, SlowRequestTimesOut) {
  config::ServerConfig cfg;
  cfg.request_timeout = std::chrono::milliseconds(300);
  StartServer(cfg);
  RawConnection c(port_);
  ASSERT_TRUE(c.Send("GET /public HTTP/1.1\r\nHo"));
  // A client too slow with its request is answered 408 before the close.
  testing::HttpResponse r = c.Read(3000);
  EXPECT_EQ(r.status, 408);
  EXPECT_NE(r.body.find("request not received in time"), std::string::npos);
  EXPECT_TRUE(c.WaitClosed(3000));
  // The connection's coroutine counts the refusal right after the socket closes.
  bool counted = false;
  for (int i = 0; i < 200 && !counted; ++i) {
    counted = registry_.Render().find("pharos_http_refused_total{reason=\"request_timeout\"} 1") !=
              std::string::npos;
    if (!counted) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(counted);
}

TEST_F(HttpServerTest, MaxConnections) {
  config::ServerConfig cfg;
  cfg.max_connections = 2;
  StartServer(cfg);
  RawConnection a(port_), b(port_);
  ASSERT_TRUE(a.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(b.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(a.Read().status, 200);
  EXPECT_EQ(b.Read().status, 200);
  // At the limit, the keep-alive connection idle the longest makes room for a new client.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(b.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));  // b is busy more recently
  EXPECT_EQ(b.Read().status, 200);
  RawConnection third(port_);
  ASSERT_TRUE(third.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(third.Read().status, 200);
  EXPECT_TRUE(a.WaitClosed(3000));
  EXPECT_NE(registry_.Render().find("pharos_http_refused_total{reason=\"idle_evicted\"} 1"),
            std::string::npos);
  // With no idle connection to close, a new client is refused.
  ASSERT_TRUE(b.Send("GET /public HTTP/1.1\r\nHo"));  // b and third are mid-request
  ASSERT_TRUE(third.Send("GET /public HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  RawConnection fourth(port_);
  auto r = fourth.Read();
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(registry_.Render().find("pharos_http_refused_total{reason=\"max_connections\"} 1"),
            std::string::npos);
}

TEST_F(HttpServerTest, ShutdownFinishesInFlightRequest) {
  StartServer();
  RawConnection idle(port_);
  ASSERT_TRUE(idle.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(idle.Read().status, 200);

  RawConnection slow(port_);
  ASSERT_TRUE(slow.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::thread stopper([&] { server_->Shutdown(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // The idle keep-alive connection was closed; the in-flight one is still being served.
  EXPECT_TRUE(idle.WaitClosed(2000));
  ASSERT_TRUE(slow.Send("world"));
  auto r = slow.Read();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "helloworld");
  EXPECT_TRUE(r.closed);
  stopper.join();
  // Not accepting any more.
  RawConnection after(port_);
  EXPECT_FALSE(after.connected() && after.Send("GET / HTTP/1.1\r\n\r\n") && after.Read().status);
}

TEST_F(HttpServerTest, WebSocketFeedStreamsUntilItEnds) {
  StartServer();
  {
    WebSocketClient ws(port_, "/feed?last=3&end=limit");
    ASSERT_TRUE(ws.connected()) << ws.refusal_status() << " " << ws.refusal_body();
    EXPECT_EQ(ws.Read(), "message 1");
    EXPECT_EQ(ws.Read(), "message 2");
    EXPECT_EQ(ws.Read(), "message 3");
    // A limit ends the feed with a policy close and the status's message.
    EXPECT_EQ(ws.Read(), std::nullopt);
    EXPECT_EQ(ws.close_code(), 1008);
    EXPECT_EQ(ws.close_reason(), "too many lines for this tail");
  }
  {
    WebSocketClient ws(port_, "/feed?last=1&end=fail");
    ASSERT_TRUE(ws.connected());
    EXPECT_EQ(ws.Read(), "message 1");
    EXPECT_EQ(ws.Read(), std::nullopt);
    EXPECT_EQ(ws.close_code(), 1011);
    EXPECT_EQ(ws.close_reason(), "the store went away");
  }
  EXPECT_TRUE(WaitFor([&] { return feeds_alive_ == 0; }));
  // The connection counts as one request of its route, answered 101.
  std::string exposition = registry_.Render();
  EXPECT_NE(exposition.find("code=\"101\""), std::string::npos);
}

TEST_F(HttpServerTest, WebSocketClientCloseEndsTheFeed) {
  StartServer();
  WebSocketClient ws(port_, "/feed?last=1000000");
  ASSERT_TRUE(ws.connected());
  EXPECT_EQ(ws.Read(), "message 1");
  EXPECT_EQ(feeds_alive_, 1);
  ws.Close();
  EXPECT_TRUE(WaitFor([&] { return feeds_alive_ == 0; }));
  // A client that vanishes without a close frame ends it too.
  auto gone = std::make_unique<WebSocketClient>(port_, "/feed?last=1000000");
  ASSERT_TRUE(gone->connected());
  EXPECT_TRUE(gone->Read().has_value());
  gone.reset();
  EXPECT_TRUE(WaitFor([&] { return feeds_alive_ == 0; }));
}

TEST_F(HttpServerTest, WebSocketRefusalsAreHttpAnswers) {
  config::Config parsed;
  ASSERT_TRUE(
      config::LoadYaml("auth:\n  tokens:\n"
                       "    - {name: reader, token: secret-read-0123456789, scopes: [read]}\n",
                       "t", parsed)
          .ok());
  StartServer({}, parsed.auth);
  // No token: 401 instead of the upgrade.
  WebSocketClient anonymous(port_, "/feed");
  EXPECT_FALSE(anonymous.connected());
  EXPECT_EQ(anonymous.refusal_status(), 401);
  // The opener's own refusal.
  WebSocketClient refused(port_, "/feed?end=refuse",
                          {{"Authorization", "Bearer secret-read-0123456789"}});
  EXPECT_FALSE(refused.connected());
  EXPECT_EQ(refused.refusal_status(), 400);
  EXPECT_EQ(refused.refusal_body(), "no feed for you\n");
  // A plain GET of a WebSocket route.
  auto plain = Get(port_, "/feed", "Authorization: Bearer secret-read-0123456789\r\n");
  EXPECT_EQ(plain.status, 400);
  EXPECT_NE(plain.body.find("WebSocket"), std::string::npos);
  WebSocketClient ok(port_, "/feed?last=1", {{"Authorization", "Bearer secret-read-0123456789"}});
  ASSERT_TRUE(ok.connected());
  EXPECT_EQ(ok.Read(), "message 1");
  // A browser offers the token as a subprotocol; the server selects "pharos.v1".
  WebSocketClient browser(port_, "/feed?last=1",
                          {{"Sec-WebSocket-Protocol",
                            "pharos.v1, pharos.bearer." + Base64Encode("secret-read-0123456789")}});
  ASSERT_TRUE(browser.connected()) << browser.refusal_status();
  EXPECT_EQ(browser.Read(), "message 1");
  WebSocketClient wrong(
      port_, "/feed",
      {{"Sec-WebSocket-Protocol", "pharos.v1, pharos.bearer." + Base64Encode("nope")}});
  EXPECT_EQ(wrong.refusal_status(), 401);
}

TEST_F(HttpServerTest, ShutdownClosesWebSocketsAsGoingAway) {
  StartServer();
  WebSocketClient ws(port_, "/feed?last=1000000");
  ASSERT_TRUE(ws.connected());
  EXPECT_TRUE(ws.Read().has_value());
  std::thread stopper([&] { server_->Shutdown(); });
  std::optional<std::string> m;
  do {
    m = ws.Read();
  } while (m.has_value());
  EXPECT_EQ(ws.close_code(), 1001);
  stopper.join();
  EXPECT_EQ(feeds_alive_, 0);
}

TEST(HttpServerBlockingTest, BlockingHandlersLeaveTheIoThreadFree) {
  selfmon::Registry registry;
  config::ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.threads = 1;  // one I/O thread: a handler blocking it would stall every connection
  cfg.handler_threads = 2;
  // /slow waits until the test has had an answer from /fast. Were /slow blocking the only
  // I/O thread, /fast could not be answered and /slow would give up.
  auto fast_answered = std::make_shared<std::atomic<bool>>(false);
  auto router = std::make_shared<Router>();
  router->HandleBlocking(Method::kGet, "/slow", kPublic,
                         [fast_answered](const Request&, Response& r) {
                           for (int i = 0; i < 1000 && !fast_answered->load(); ++i) {
                             std::this_thread::sleep_for(std::chrono::milliseconds(10));
                           }
                           r = Response::Text(200, fast_answered->load() ? "saw fast" : "gave up");
                         });
  router->Handle(Method::kGet, "/fast", kPublic,
                 [](const Request&, Response& r) { r = Response::Text(200, "fast"); });
  auto created = HttpServer::Create(cfg, {}, router, registry);
  ASSERT_TRUE(created.ok());
  auto& server = *created;
  server->Start();
  RawConnection slow(server->port());
  ASSERT_TRUE(slow.Send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto fast = Get(server->port(), "/fast");
  EXPECT_EQ(fast.body, "fast");
  fast_answered->store(true);
  EXPECT_EQ(slow.Read(15000).body, "saw fast");
  // Keep-alive goes on on the I/O thread after the handler pool answered.
  ASSERT_TRUE(slow.Send("GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(slow.Read().body, "fast");
  server->Shutdown();
}

TEST(HttpServerCreateTest, RefusesNonLoopbackWithoutTokens) {
  selfmon::Registry registry;
  config::ServerConfig cfg;
  cfg.listen = "0.0.0.0:0";
  auto router = std::make_shared<Router>();
  auto created = HttpServer::Create(cfg, {}, router, registry);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(created.status().message().find("--insecure"), std::string::npos);
  cfg.insecure = true;
  auto insecure = HttpServer::Create(cfg, {}, router, registry);
  EXPECT_TRUE(insecure.ok()) << insecure.status().ToString();
}

TEST(HttpServerCreateTest, ReportsBindFailure) {
  selfmon::Registry registry;
  config::ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  auto router = std::make_shared<Router>();
  auto first = HttpServer::Create(cfg, {}, router, registry);
  ASSERT_TRUE(first.ok());
  cfg.listen = "127.0.0.1:" + std::to_string((*first)->port());
  auto second = HttpServer::Create(cfg, {}, router, registry);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("cannot listen on"), std::string::npos);
}

}  // namespace
}  // namespace pharos::server

namespace pharos::server {
namespace {

std::string RunCommand(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(HttpServerTlsTest, ServesOverTls) {
  std::string dir = ::testing::TempDir() + "pharos_tls_" + std::to_string(::getpid());
  RunCommand("mkdir -p " + dir +
             " && openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost -keyout " +
             dir + "/key.pem -out " + dir + "/cert.pem 2>/dev/null");
  config::ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.threads = 1;
  cfg.tls.cert_file = dir + "/cert.pem";
  cfg.tls.key_file = dir + "/key.pem";
  selfmon::Registry registry;
  auto router = std::make_shared<Router>();
  router->Handle(Method::kGet, "/public", kPublic,
                 [](const Request&, Response& r) { r = Response::Text(200, "secure hi"); });
  auto created = HttpServer::Create(cfg, {}, router, registry);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto& server = *created;
  server->Start();
  std::string port = std::to_string(server->port());
  // Two requests on one TLS connection: keep-alive works through the TLS stream.
  std::string out = RunCommand("curl -sS --cacert " + dir + "/cert.pem https://localhost:" + port +
                               "/public https://localhost:" + port + "/public 2>&1");
  EXPECT_EQ(out, "secure hisecure hi");
  // Plain HTTP to a TLS port fails the handshake and is counted.
  pharos::testing::RawConnection plain(server->port());
  plain.Send("GET /public HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(plain.WaitClosed(3000));
  server->Shutdown();
  EXPECT_NE(registry.Render().find("pharos_http_tls_handshake_errors_total 1"), std::string::npos);
  RunCommand("rm -rf " + dir);
}

TEST(HttpServerTlsTest, BadCertificateIsAConfigError) {
  config::ServerConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.tls.cert_file = "/nonexistent/cert.pem";
  cfg.tls.key_file = "/nonexistent/key.pem";
  selfmon::Registry registry;
  auto created = HttpServer::Create(cfg, {}, std::make_shared<Router>(), registry);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.status().message().find("server.tls.cert_file: cannot load"),
            std::string::npos);
}

}  // namespace
}  // namespace pharos::server
