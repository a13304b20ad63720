// The HTTP server: an io_context per I/O thread, an acceptor that hands sockets out round
// robin, one coroutine per connection, and a per-thread sweeper that closes connections
// past their deadline (no timer per operation, so keep-alive requests arm nothing).
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "server/request_parser.h"
#include "server/server.h"
#include "server/server_metrics.h"
#include "server/websocket.h"

namespace pharos::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

class RequestBuilder {
 public:
  static void Fill(Request& r, const RequestData& d, std::string_view request_id,
                   std::string_view remote) {
    r.method_ = d.method;
    r.target_ = d.target;
    size_t q = r.target_.find('?');
    r.path_ = r.target_.substr(0, q);
    r.query_ = q == std::string_view::npos ? std::string_view() : r.target_.substr(q + 1);
    r.headers_ = &d.headers;
    r.header_count_ = d.header_count;
    r.body_ = &d.decoded_body;
    r.request_id_ = request_id;
    r.remote_address_ = remote;
    r.scopes_ = 0;
    r.principal_ = {};
  }
  static void Grant(Request& r, uint32_t scopes, std::string_view principal) {
    r.scopes_ = scopes;
    r.principal_ = principal;
  }
};

// Query threads run at nice 10 (CFS weight 110 against a write thread's 1024), so a
// burst of heavy queries leaves writes their latency. Linux sets niceness per thread.
void internal::LowerThisThreadsPriority() {
  thread_local bool lowered = false;
  if (lowered) return;
  lowered = true;
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) != 0) {
    LogDebug("cannot lower the query thread's priority", {{"error", std::strerror(errno)}});
  }
}

namespace {

constexpr uint32_t kAllScopes = config::kScopeRead | config::kScopeWrite | config::kScopeAdmin;

constexpr std::string_view kRequestTimeout =
    "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    "Content-Length: 80\r\n\r\n"
    "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"request not received in time\"}\n";

size_t PoolSize(int configured) {
  return static_cast<size_t>(configured > 0 ? configured
                                            : std::max(2u, std::thread::hardware_concurrency()));
}

using internal::LowerThisThreadsPriority;

/// A connection as the sweeper and shutdown see it. Lives in the session's frame.
struct Conn {
  tcp::socket* socket = nullptr;  // lowest layer, closed to cancel whatever is pending
  SteadyClock::time_point deadline;
  struct Worker* worker = nullptr;
  // In the server's list of idle connections, oldest first (guarded by its lock).
  Conn* lru_prev = nullptr;
  Conn* lru_next = nullptr;
  bool in_lru = false;
  std::atomic<bool> evicting{false};  // chosen to make room; closed by its own thread
  bool idle = true;                   // waiting for the first byte of a request
  bool reading = false;               // a request has begun and is not read in full yet
  bool tls = false;
  bool timed_out = false;
};

/// One I/O thread with its own io_context. Everything but `ioc.post` is confined to it.
struct Worker {
  std::unordered_set<Conn*> conns;
  bool shutting_down = false;
  std::string date;  // the HTTP Date header value, refreshed by the sweeper
  std::thread thread;
  asio::io_context ioc{1};  // last: destroyed first, so frames unregister from conns
};

void RefreshDate(std::string& out) {
  time_t now = std::time(nullptr);
  struct tm tm;
  gmtime_r(&now, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  out.assign(buf, n);
}

bool ValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

void NewRequestId(std::string& out) {
  thread_local uint64_t state = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 0x9E3779B97F4A7C15ULL;
  }();
  // splitmix64: cheap and well distributed; request ids need uniqueness, not secrecy.
  state += 0x9E3779B97F4A7C15ULL;
  uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  static constexpr char kHex[] = "0123456789abcdef";
  out.resize(16);
  for (int i = 15; i >= 0; --i, z >>= 4) out[static_cast<size_t>(i)] = kHex[z & 0xF];
}

void SerializeHead(const Response& r, size_t body_size, bool keep_alive, bool http10,
                   std::string_view request_id, std::string_view date, std::string& out) {
  out.clear();
  out += "HTTP/1.1 ";
  out += std::to_string(r.status);
  out += ' ';
  beast::string_view reason = http::obsolete_reason(static_cast<http::status>(r.status));
  out.append(reason.data(), reason.size());
  out += "\r\nServer: pharos\r\nDate: ";
  out += date;
  // 204 and 304 carry no body and must not announce one (RFC 9110 8.6).
  if (r.status != 204 && r.status != 304) {
    out += "\r\nContent-Type: ";
    out += r.content_type;
    out += "\r\nContent-Length: ";
    out += std::to_string(body_size);
  }
  out += "\r\nX-Request-Id: ";
  out += request_id;
  for (const auto& [k, v] : r.headers) {
    out += "\r\n";
    out += k;
    out += ": ";
    out += v;
  }
  if (!keep_alive) {
    out += "\r\nConnection: close";
  } else if (http10) {
    out += "\r\nConnection: keep-alive";
  }
  out += "\r\n\r\n";
}

class HttpServerImpl final : public HttpServer {
 public:
  HttpServerImpl(const config::ServerConfig& config, const config::AuthConfig& auth,
                 std::shared_ptr<const Router> router, selfmon::Registry& registry)
      : config_(config),
        auth_(auth),
        router_(std::move(router)),
        metrics_(registry),
        handler_pool_(PoolSize(config.handler_threads)),
        query_pool_(PoolSize(config.query_threads)),
        control_pool_(PoolSize(config.control_threads)) {
    int threads = config_.threads > 0 ? config_.threads
                                      : static_cast<int>(std::thread::hardware_concurrency());
    if (threads <= 0) threads = 1;
    metrics_.SetRouteCount(router_->route_count());
    for (int i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
    for (auto& w : workers_) RefreshDate(w->date);
  }

  ~HttpServerImpl() override { Shutdown(); }

  Status Bind(const std::string& host, uint16_t port) {
    try {
      tcp::resolver resolver(workers_[0]->ioc);
      auto results = resolver.resolve(host, std::to_string(port),
                                      tcp::resolver::numeric_service | tcp::resolver::passive);
      if (results.empty()) return InvalidArgument(fmt::format("cannot resolve \"{}\"", host));
      tcp::endpoint endpoint = results.begin()->endpoint();
      acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->ioc);
      acceptor_->open(endpoint.protocol());
      acceptor_->set_option(asio::socket_base::reuse_address(true));
      acceptor_->bind(endpoint);
      acceptor_->listen(asio::socket_base::max_listen_connections);
      port_ = acceptor_->local_endpoint().port();
    } catch (const boost::system::system_error& e) {
      return Unavailable(
          fmt::format("cannot listen on {}: {}", config_.listen, e.code().message()));
    }
    return Status::Ok();
  }

  Status SetUpTls() {
    if (!config_.tls.enabled()) return Status::Ok();
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                          asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                          asio::ssl::context::no_tlsv1_1,
                      ec);
    tls_->use_certificate_chain_file(config_.tls.cert_file, ec);
    if (ec) {
      return InvalidArgument(fmt::format("server.tls.cert_file: cannot load \"{}\": {}",
                                         config_.tls.cert_file, ec.message()));
    }
    tls_->use_private_key_file(config_.tls.key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return InvalidArgument(fmt::format("server.tls.key_file: cannot load \"{}\": {}",
                                         config_.tls.key_file, ec.message()));
    }
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }

  void Start() override {
    for (auto& w : workers_) {
      asio::co_spawn(w->ioc, Sweep(*w), asio::detached);
    }
    asio::co_spawn(workers_[0]->ioc, Accept(), asio::detached);
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->thread = std::thread([worker] {
        auto guard = asio::make_work_guard(worker->ioc);
        worker->ioc.run();
      });
    }
    started_ = true;
  }

  void Shutdown() override {
    if (shutdown_.exchange(true)) return;
    if (!started_) return;
    asio::post(workers_[0]->ioc, [this] {
      boost::system::error_code ec;
      acceptor_->close(ec);
    });
    for (auto& w : workers_) {
      Worker* worker = w.get();
      asio::post(worker->ioc, [worker] {
        worker->shutting_down = true;
        for (Conn* c : worker->conns) {
          boost::system::error_code ec;
          if (c->idle) c->socket->close(ec);
        }
      });
    }
    auto deadline = SteadyClock::now() + config_.shutdown_timeout;
    while (open_.load() > 0 && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (open_.load() > 0) {
      LogWarn("shutdown timeout: closing connections with requests in flight",
              {{"connections", static_cast<int64_t>(open_.load())}});
    }
    for (auto& w : workers_) w->ioc.stop();
    for (auto& w : workers_) {
      if (w->thread.joinable()) w->thread.join();
    }
    handler_pool_.stop();
    query_pool_.stop();
    control_pool_.stop();
    handler_pool_.join();
    query_pool_.join();
    control_pool_.join();
  }

 private:
  Worker& NextWorker() {
    size_t i = next_worker_++ % workers_.size();
    return *workers_[i];
  }

  asio::awaitable<void> Sweep(Worker& w) {
    asio::steady_timer timer(w.ioc);
    std::vector<Conn*> expired;
    while (true) {
      RefreshDate(w.date);
      auto now = SteadyClock::now();
      expired.clear();
      for (Conn* c : w.conns) {
        if (c->deadline < now) expired.push_back(c);
      }
      for (Conn* c : expired) {
        c->timed_out = true;
        boost::system::error_code ec;
        if (c->reading && !c->tls) {
          // A request that arrives too slowly (a header byte a second) gets an answer
          // before the close. The coroutine is parked in a read, so this write is the
          // socket's only one.
          c->socket->non_blocking(true, ec);
          c->socket->write_some(asio::buffer(kRequestTimeout.data(), kRequestTimeout.size()), ec);
        }
        c->socket->close(ec);
      }
      timer.expires_after(std::chrono::milliseconds(250));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }

  // At the connection limit, the connection idle the longest makes room for a new client
  // (as Envoy's overload manager does): chosen here from the server-wide list, closed on
  // its own I/O thread. False when no connection is idle.
  bool EvictOldestIdle() {
    Conn* victim = nullptr;
    {
      MutexLock lock(lru_mu_);
      for (Conn* c = lru_head_; c; c = c->lru_next) {
        if (!c->evicting.load()) {
          victim = c;
          break;
        }
      }
      if (!victim) return false;
      victim->evicting = true;
      Worker* worker = victim->worker;
      asio::post(worker->ioc, [this, worker, victim] {
        // Still there (not ended meanwhile) and still idle: close it.
        if (!worker->conns.count(victim) || !victim->evicting.load() || !victim->idle) return;
        victim->timed_out = true;
        boost::system::error_code ec;
        victim->socket->close(ec);
        metrics_.Refused("idle_evicted").Inc();
      });
    }
    return true;
  }

  asio::awaitable<void> Accept() {
    while (true) {
      Worker& target = NextWorker();
      auto [ec, socket] =
          co_await acceptor_->async_accept(target.ioc, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
        // Out of descriptors and the like: back off rather than spin.
        LogWarn("accept failed", {{"error", ec.message()}});
        asio::steady_timer pause(workers_[0]->ioc, std::chrono::milliseconds(50));
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (open_.load() >= config_.max_connections &&
          open_.load() < config_.max_connections + kEvictionHeadroom && EvictOldestIdle()) {
        // Admitted: the oldest idle connection closes to make room.
      } else if (open_.load() >= config_.max_connections) {
        metrics_.Refused("max_connections").Inc();
        static const std::string kBusy = [] {
          Response r = Response::Error(503, "unavailable", "too many open connections");
          return fmt::format(
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: {}\r\nConnection: close\r\n"
              "Content-Length: {}\r\n\r\n{}",
              r.content_type, r.body.size(), r.body);
        }();
        boost::system::error_code wec;
        socket.non_blocking(true, wec);
        socket.write_some(asio::buffer(kBusy.data(), kBusy.size()), wec);
        socket.close(wec);
        continue;
      }
      boost::system::error_code opt_ec;
      socket.set_option(tcp::no_delay(true), opt_ec);
      open_.fetch_add(1);
      metrics_.accepted.Inc();
      metrics_.open_connections.Inc();
      asio::co_spawn(target.ioc, Connection(target, std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> Connection(Worker& w, tcp::socket socket) {
    std::string remote;
    {
      boost::system::error_code ec;
      auto ep = socket.remote_endpoint(ec);
      if (!ec) remote = fmt::format("{}:{}", ep.address().to_string(), ep.port());
    }
    Conn conn;
    conn.tls = tls_ != nullptr;
    conn.worker = &w;
    conn.idle = false;
    SetIdle(conn, true);  // a new connection starts idle
    w.conns.insert(&conn);
    try {
      if (tls_) {
        asio::ssl::stream<tcp::socket> stream(std::move(socket), *tls_);
        conn.socket = &stream.next_layer();
        conn.deadline = SteadyClock::now() + config_.request_timeout;
        auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                    asio::as_tuple(asio::use_awaitable));
        if (ec) {
          metrics_.tls_handshake_errors.Inc();
          LogDebug("TLS handshake failed", {{"remote", remote}, {"error", ec.message()}});
        } else {
          co_await Serve(w, conn, stream, remote);
          [[maybe_unused]] auto [shutdown_ec] =
              co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
        }
      } else {
        conn.socket = &socket;
        co_await Serve(w, conn, socket, remote);
        boost::system::error_code ec;
        socket.shutdown(tcp::socket::shutdown_send, ec);
      }
    } catch (const std::exception& e) {
      LogError("connection failed", {{"remote", remote}, {"error", e.what()}});
    }
    w.conns.erase(&conn);
    SetIdle(conn, false);  // out of the idle list before the frame goes
    open_.fetch_sub(1);
    metrics_.open_connections.Dec();
  }

  template <typename Stream>
  asio::awaitable<void> Serve(Worker& w, Conn& conn, Stream& stream, const std::string& remote) {
    beast::flat_buffer buffer;
    RequestData data;
    std::string head;
    std::string request_id;
    std::string allow;
    Request request;
    Response response;  // reused: a warm keep-alive connection allocates nothing for it
    std::vector<asio::const_buffer> buffers;  // the head and the body's parts, reused too
    bool keep_alive = true;
    while (keep_alive && !w.shutting_down) {
      data.Clear();
      std::optional<RequestParser> parser;
      parser.emplace(data);
      parser->eager(true);
      parser->header_limit(static_cast<uint32_t>(config_.max_header_bytes));
      parser->body_limit(config_.max_body_bytes);
      SetIdle(conn, buffer.size() == 0);
      conn.reading = !conn.idle;
      conn.deadline =
          SteadyClock::now() + (conn.idle ? config_.idle_timeout : config_.request_timeout);
      bool in_flight = false;
      auto start = SteadyClock::now();
      if (!conn.idle) {
        in_flight = true;
        metrics_.in_flight.Inc();
      }
      struct InFlightGuard {
        bool& flag;
        selfmon::Gauge& gauge;
        ~InFlightGuard() {
          if (flag) gauge.Dec();
        }
      } guard{in_flight, metrics_.in_flight};

      // ---- read one request ----
      beast::error_code parse_ec;
      bool sent_continue = false;
      bool connection_lost = false;
      while (!parser->is_done()) {
        if (buffer.size() > 0) {
          size_t used = parser->put(buffer.data(), parse_ec);
          buffer.consume(used);
          if (parse_ec == http::error::need_more) {
            parse_ec = {};
          } else if (parse_ec) {
            break;
          }
          if (parser->is_done()) break;
          if (parser->is_header_done() && data.expect_continue && !sent_continue) {
            sent_continue = true;
            static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
            auto [wec, wn] =
                co_await asio::async_write(stream, asio::buffer(kContinue.data(), kContinue.size()),
                                           asio::as_tuple(asio::use_awaitable));
            if (wec) {
              connection_lost = true;
              break;
            }
          }
          if (used > 0 && buffer.size() > 0) continue;
        }
        // Read in large pieces: a reserved buffer avoids Beast's ~512-byte reads.
        size_t want = 64 * 1024;
        if (parser->is_header_done()) {
          if (auto remaining = parser->content_length_remaining()) {
            want = static_cast<size_t>(
                std::clamp<uint64_t>(*remaining + 1024, 16 * 1024, 4 * 1024 * 1024));
          }
        }
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(want),
                                                       asio::as_tuple(asio::use_awaitable));
        buffer.commit(n);
        if (n > 0) {
          metrics_.received_bytes.Inc(static_cast<double>(n));
          if (conn.idle) {
            SetIdle(conn, false);
            conn.reading = true;
            conn.deadline = SteadyClock::now() + config_.request_timeout;
            start = SteadyClock::now();
            in_flight = true;
            metrics_.in_flight.Inc();
          }
        }
        if (ec) {
          if (ec == asio::error::eof && buffer.size() == 0 && parser->got_some()) {
            parser->put_eof(parse_ec);
            if (!parse_ec) break;
          }
          if (conn.timed_out && !conn.idle) metrics_.Refused("request_timeout").Inc();
          connection_lost = true;
          break;
        }
      }
      if (connection_lost) co_return;
      // Read: what follows is bounded by the handlers' own limits (a query's timeout), not
      // by the time to read a request, until the response is written.
      conn.reading = false;
      conn.deadline = SteadyClock::time_point::max();

      response.Reset();
      const Router::Route* route = nullptr;
      std::string_view label = "none";
      bool close_after = false;

      if (parse_ec) {
        close_after = true;
        if (parse_ec == http::error::header_limit) {
          metrics_.Refused("header_too_large").Inc();
          response = Response::Error(431, "header_too_large",
                                     fmt::format("request header exceeds the limit of {} bytes",
                                                 config_.max_header_bytes));
        } else if (parse_ec == http::error::body_limit) {
          metrics_.Refused("body_too_large").Inc();
          response = Response::Error(
              413, "too_large",
              fmt::format("request body exceeds the limit of {} bytes", config_.max_body_bytes));
        } else {
          metrics_.Refused("malformed").Inc();
          response = Response::Error(400, "bad_data",
                                     fmt::format("malformed HTTP request: {}", parse_ec.message()));
        }
        request_id.clear();
        NewRequestId(request_id);
      } else {
        keep_alive = parser->keep_alive();
        std::optional<std::string_view> id_header;
        for (size_t i = 0; i < data.header_count; ++i) {
          if (EqualsIgnoreCase(data.headers[i].first, "X-Request-Id")) {
            id_header = data.headers[i].second;
            break;
          }
        }
        if (id_header && ValidRequestId(*id_header)) {
          request_id.assign(*id_header);
        } else {
          NewRequestId(request_id);
        }
        RequestBuilder::Fill(request, data, request_id, remote);
        bool run_handler = false;
        route = Dispatch(request, data, allow, response, close_after, run_handler);
        if (route) label = route->label;
        if (run_handler && route->open_feed && internal::IsWebSocketUpgrade(data)) {
          // A WebSocket route: open the feed on the query pool; when it opens, this
          // connection streams it until the end and then closes.
          std::unique_ptr<LiveFeed> feed;
          const Router::Route* r = route;
          co_await asio::co_spawn(
              query_pool_,
              [r, &request, &response, &feed]() -> asio::awaitable<void> {
                LowerThisThreadsPriority();
                RunGuarded(*r, request, response, [&] { feed = r->open_feed(request, response); });
                co_return;
              },
              asio::use_awaitable);
          if (feed) {
            uint64_t sent = 0;
            bool upgraded = co_await internal::ServeLiveFeed(stream, data, std::move(feed),
                                                             query_pool_, w.shutting_down, sent);
            metrics_.sent_bytes.Inc(static_cast<double>(sent));
            double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
            metrics_.Observe(route->index, route->label, upgraded ? 101 : 400, seconds);
            co_return;
          }
        } else if (run_handler && route->blocking) {
          // Run on the handler pool; this coroutine resumes on its own I/O thread when the
          // handler is done, and that thread serves other connections meanwhile.
          const Router::Route* r = route;
          bool query = !r->control && !(r->required_scopes & config::kScopeWrite);
          asio::thread_pool& pool = r->control ? control_pool_
                                    : query    ? query_pool_
                                               : handler_pool_;
          co_await asio::co_spawn(
              pool,
              [r, query, &request, &response]() -> asio::awaitable<void> {
                if (query) LowerThisThreadsPriority();
                RunHandler(*r, request, response);
                co_return;
              },
              asio::use_awaitable);
        } else if (run_handler) {
          RunHandler(*route, request, response);
        }
      }

      // ---- write the response ----
      if (close_after || w.shutting_down) keep_alive = false;
      bool head_only = (!parse_ec && data.method == Method::kHead) || response.status == 204 ||
                       response.status == 304;
      size_t body_size = response.body.size();
      for (const std::string& part : response.more_body) body_size += part.size();
      SerializeHead(response, body_size, keep_alive, data.version == 10, request_id, w.date, head);
      buffers.assign(1, asio::buffer(head));
      if (!head_only) {
        buffers.push_back(asio::buffer(response.body));
        for (const std::string& part : response.more_body) buffers.push_back(asio::buffer(part));
      }
      auto [wec, written] =
          co_await asio::async_write(stream, buffers, asio::as_tuple(asio::use_awaitable));
      metrics_.sent_bytes.Inc(static_cast<double>(written));
      double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
      metrics_.Observe(route ? route->index : 0, label, response.status, seconds);
      if (LogEnabled(LogLevel::kDebug)) {
        LogDebug("request", {{"method", MethodName(data.method)},
                             {"path", request.path()},
                             {"status", response.status},
                             {"seconds", seconds},
                             {"request_id", request_id},
                             {"remote", remote}});
      }
      if (wec) co_return;
      if (parse_ec) {
        co_await LingeringClose(conn, stream);
        co_return;
      }
      // Large one-off bodies should not pin memory on an idle keep-alive connection.
      if (data.body.capacity() > (1u << 20)) std::string().swap(data.body);
      if (data.decoded_body.capacity() > (1u << 20)) std::string().swap(data.decoded_body);
      if (response.body.capacity() > (1u << 20)) std::string().swap(response.body);
      std::vector<std::string>().swap(response.more_body);
    }
  }

  // After refusing a request whose body is still arriving, closing at once would make the
  // kernel reset the connection and could discard our error response before the client
  // reads it. So stop sending, then read and drop what the client still sends, for a
  // bounded time (the sweeper closes the socket at the deadline).
  template <typename Stream>
  asio::awaitable<void> LingeringClose(Conn& conn, Stream& stream) {
    boost::system::error_code ec;
    conn.socket->shutdown(tcp::socket::shutdown_send, ec);
    conn.deadline = SteadyClock::now() + std::chrono::seconds(2);
    std::array<char, 16384> scratch;
    size_t drained = 0;
    while (drained < (64u << 20)) {
      auto [rec, n] = co_await conn.socket->async_read_some(asio::buffer(scratch),
                                                            asio::as_tuple(asio::use_awaitable));
      if (rec) break;
      drained += n;
    }
  }

  // Runs decoding, routing, auth and the handler. Returns the matched route, if any.
  // Routes, authorizes and decodes the body. Sets `run_handler` when the route's handler
  // should answer; otherwise `response` already holds the refusal.
  const Router::Route* Dispatch(Request& request, RequestData& data, std::string& allow,
                                Response& response, bool& close_after, bool& run_handler) {
    run_handler = false;
    std::string_view path = request.path();
    if (path.empty() || path[0] != '/') {
      metrics_.Refused("malformed").Inc();
      response = Response::Error(400, "bad_data", "request target must be an absolute path");
      close_after = true;
      return nullptr;
    }
    bool path_known = false;
    const Router::Route* route = router_->Find(data.method, path, path_known, allow);
    if (!route) {
      if (path_known) {
        response = Response::Error(405, "method_not_allowed",
                                   fmt::format("method {} is not allowed on {} (allowed: {})",
                                               MethodName(data.method), path, allow));
        response.headers.emplace_back("Allow", allow);
      } else {
        response = Response::Error(404, "not_found", fmt::format("no route for {}", path));
      }
      return nullptr;
    }
    // Auth before decoding, so an anonymous client cannot make us inflate anything.
    if (route->required_scopes != kPublic || !auth_.tokens.empty()) {
      if (!Authorize(request, data, *route, response)) return route;
    } else {
      RequestBuilder::Grant(request, kAllScopes, {});
    }
    std::string_view encoding = request.Header("Content-Encoding").value_or("");
    if (!data.body.empty() || !encoding.empty()) {
      Status s = DecodeBody(encoding, data.body, config_.max_decompressed_bytes, data.decoded_body);
      if (!s.ok()) {
        switch (s.code()) {
          case StatusCode::kResourceExhausted:
            metrics_.Refused("decompressed_too_large").Inc();
            response = Refusal(*route, request, 413, "too_large", s.message());
            break;
          case StatusCode::kUnimplemented:
            metrics_.Refused("unsupported_encoding").Inc();
            response = Refusal(*route, request, 415, "unsupported_media_type", s.message());
            break;
          default:
            metrics_.Refused("bad_encoding").Inc();
            response = Refusal(*route, request, 400, "bad_data", s.message());
        }
        return route;
      }
    }
    run_handler = true;
    return route;
  }

  // A refusal on a matched route, in the shape of its API family.
  static Response Refusal(const Router::Route& route, const Request& request, int status,
                          std::string_view type, std::string_view message) {
    return route.error_shape ? route.error_shape(request, status, type, message)
                             : Response::Error(status, type, message);
  }

  static void RunHandler(const Router::Route& route, const Request& request, Response& response) {
    RunGuarded(route, request, response, [&] { route.handler(request, response); });
  }

  // Runs a route's code; an exception that escapes it becomes a logged 500.
  template <typename Fn>
  static void RunGuarded(const Router::Route& route, const Request& request, Response& response,
                         Fn&& fn) {
    try {
      fn();
    } catch (const std::exception& e) {
      LogError("handler threw",
               {{"route", route.label}, {"error", e.what()}, {"request_id", request.request_id()}});
      response = Response::Error(500, "internal", "internal error");
    }
  }

  bool Authorize(Request& request, const RequestData& data, const Router::Route& route,
                 Response& response) {
    if (auth_.tokens.empty()) {
      RequestBuilder::Grant(request, kAllScopes, {});
      return true;
    }
    std::optional<std::string_view> header = request.Header("Authorization");
    std::string websocket_bearer;
    if (!header && route.open_feed) {
      websocket_bearer = internal::WebSocketBearer(data);
      if (!websocket_bearer.empty()) header = websocket_bearer;
    }
    const config::TokenConfig* match = header ? config::FindBearerToken(auth_, *header) : nullptr;
    if (match) RequestBuilder::Grant(request, match->scopes, match->name);
    if (route.required_scopes == kPublic) return true;
    if (!match) {
      metrics_.Refused("unauthenticated").Inc();
      response = Refusal(
          route, request, 401, "unauthorized",
          header ? "invalid bearer token" : "missing bearer token (Authorization: Bearer ...)");
      response.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"pharos\"");
      return false;
    }
    if ((match->scopes & route.required_scopes) != route.required_scopes) {
      metrics_.Refused("forbidden").Inc();
      std::string need;
      if (route.required_scopes & config::kScopeRead) need += " read";
      if (route.required_scopes & config::kScopeWrite) need += " write";
      if (route.required_scopes & config::kScopeAdmin) need += " admin";
      response = Refusal(
          route, request, 403, "forbidden",
          fmt::format("token \"{}\" lacks the scope this route needs:{}", match->name, need));
      return false;
    }
    return true;
  }

  config::ServerConfig config_;
  config::AuthConfig auth_;
  std::shared_ptr<const Router> router_;
  ServerMetrics metrics_;
  std::unique_ptr<asio::ssl::context> tls_;
  // Requires the connection's own I/O thread. Keeps the server-wide idle list, oldest
  // first: two uncontended lock operations per request.
  void SetIdle(Conn& conn, bool idle) {
    if (idle == conn.idle) return;
    conn.idle = idle;
    MutexLock lock(lru_mu_);
    if (idle) {
      conn.lru_prev = lru_tail_;
      conn.lru_next = nullptr;
      (lru_tail_ ? lru_tail_->lru_next : lru_head_) = &conn;
      lru_tail_ = &conn;
      conn.in_lru = true;
    } else if (conn.in_lru) {
      (conn.lru_prev ? conn.lru_prev->lru_next : lru_head_) = conn.lru_next;
      (conn.lru_next ? conn.lru_next->lru_prev : lru_tail_) = conn.lru_prev;
      conn.lru_prev = conn.lru_next = nullptr;
      conn.in_lru = false;
      conn.evicting = false;  // busy again: no longer a candidate
    }
  }

  static constexpr uint32_t kEvictionHeadroom =
      64;  // admitted past the limit while idle ones close
  std::atomic<uint32_t> open_{0};
  Mutex lru_mu_;
  Conn* lru_head_ PHAROS_GUARDED_BY(lru_mu_) = nullptr;  // idle connections, oldest first
  Conn* lru_tail_ PHAROS_GUARDED_BY(lru_mu_) = nullptr;
  std::atomic<size_t> next_worker_{0};
  std::atomic<bool> shutdown_{false};
  bool started_ = false;
  uint16_t port_ = 0;
  asio::thread_pool handler_pool_;  // blocking handlers of write routes
  asio::thread_pool query_pool_;    // every other blocking handler, at a lower priority
  asio::thread_pool control_pool_;  // handlers that wait on the meta store
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<tcp::acceptor> acceptor_;  // on workers_[0]; destroyed before it
};

}  // namespace

Result<bool> IsLoopbackHost(const std::string& host) {
  try {
    asio::io_context ioc;
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, "0", tcp::resolver::numeric_service);
    if (results.empty()) return InvalidArgument(fmt::format("cannot resolve \"{}\"", host));
    for (const auto& r : results) {
      if (!r.endpoint().address().is_loopback()) return false;
    }
    return true;
  } catch (const boost::system::system_error& e) {
    return InvalidArgument(fmt::format("cannot resolve \"{}\": {}", host, e.code().message()));
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(const config::ServerConfig& config,
                                                       const config::AuthConfig& auth,
                                                       std::shared_ptr<const Router> router,
                                                       selfmon::Registry& registry) {
  std::string host;
  uint16_t port = 0;
  PHAROS_RETURN_IF_ERROR(
      config::ParseHostPort(config.listen, host, port).WithContext("server.listen"));
  Result<bool> loopback = IsLoopbackHost(host);
  if (!loopback.ok()) return loopback.status().WithContext("server.listen");
  if (!*loopback && auth.tokens.empty() && !config.insecure) {
    return FailedPrecondition(fmt::format(
        "refusing to listen on non-loopback address {} without API tokens: configure "
        "auth.tokens, or pass --insecure to accept unauthenticated access from the network",
        config.listen));
  }
  auto server = std::make_unique<HttpServerImpl>(config, auth, std::move(router), registry);
  PHAROS_RETURN_IF_ERROR(server->SetUpTls());
  PHAROS_RETURN_IF_ERROR(server->Bind(host, port));
  return std::unique_ptr<HttpServer>(std::move(server));
}

}  // namespace pharos::server
