// server: Pharos's HTTP/1.1 server (Boost.Beast parser on Asio, C++20 coroutines), its
// router, bearer-token auth with scopes, request limits and body decoding.
//
// Contract:
// - Build a Router, register handlers, then HttpServer::Create() binds the listener and
//   Start() runs the I/O threads. port() tells the bound port (useful with port 0).
// - Handlers run on an I/O thread and must not block, except those registered with
//   HandleBlocking: those of routes that need the write scope run on the write pool
//   (server.handler_threads), all others on the query pool (server.query_threads, threads
//   at a lower CPU priority), so that slow queries never hold a write's thread and take
//   the CPU only when writes leave it; and those registered with HandleControl, which wait
//   on the meta store (silences, alerts, incidents), on the control pool
//   (server.control_threads), so a stalled meta.db holds neither. Handlers may be called
//   concurrently from
//   several threads, so anything they share must be thread-safe. A handler
//   fills the Response; it must not throw (an escaped exception becomes a logged 500).
// - Before a handler runs, the server has read the whole body within server.max_body_bytes
//   (413), the header within max_header_bytes (431), decoded Content-Encoding gzip, deflate
//   or snappy within max_decompressed_bytes (413; unknown encodings get 415), matched the
//   route (404, or 405 with Allow), and checked the bearer token against the route's
//   scopes (401, 403). Every refusal is answered in Prometheus's error envelope and
//   counted in pharos_http_refused_total{reason}. Malformed HTTP gets 400 and the
//   connection is closed.
// - A WebSocket route (Router::HandleWebSocket) answers an upgrade GET, after the same
//   auth, with its LiveFeed's messages (see the class) and closes when the feed ends.
// - Shutdown() stops accepting, closes idle keep-alive connections, lets in-flight
//   requests finish for up to server.shutdown_timeout, then stops the threads. It is
//   idempotent and safe to call from any thread.
// - Beast and Asio stay inside this module's .cc files.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/services.h"
#include "common/status.h"
#include "config/config.h"
#include "selfmon/metrics.h"

namespace pharos::server {

enum class Method : uint8_t { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kOther };
std::string_view MethodName(Method m);

/// One parsed request. Views point into connection-owned buffers that live until the
/// response has been produced: copy what must outlive the handler call.
class Request {
 public:
  Method method() const { return method_; }
  std::string_view target() const { return target_; }
  std::string_view path() const { return path_; }
  std::string_view query() const { return query_; }
  /// A header value by case-insensitive name (the first one when repeated).
  std::optional<std::string_view> Header(std::string_view name) const;
  /// The body, already decoded from its Content-Encoding.
  const std::string& body() const { return *body_; }
  /// The decoded value of a query parameter, or nullopt.
  std::optional<std::string> QueryParam(std::string_view name) const;
  /// Every value of a parameter from the query string and, for a form-encoded POST
  /// (application/x-www-form-urlencoded), from the body, as Prometheus's API reads them.
  std::vector<std::string> FormValues(std::string_view name) const;
  /// The first of FormValues(name), or nullopt.
  std::optional<std::string> FormValue(std::string_view name) const;
  std::string_view request_id() const { return request_id_; }
  /// Scopes granted to the caller (all of them when no tokens are configured).
  uint32_t scopes() const { return scopes_; }
  /// The configured name of the caller's token ("" when anonymous).
  std::string_view principal() const { return principal_; }
  std::string_view remote_address() const { return remote_address_; }

 private:
  friend class RequestBuilder;
  Method method_ = Method::kOther;
  std::string_view target_, path_, query_;
  const std::vector<std::pair<std::string, std::string>>* headers_ = nullptr;
  size_t header_count_ = 0;
  const std::string* body_ = nullptr;
  std::string_view request_id_;
  uint32_t scopes_ = 0;
  std::string_view principal_;
  std::string_view remote_address_;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  /// The body goes on with these, in order: a large answer is built in parts of about
  /// 1 MiB, never one allocation of its whole size.
  std::vector<std::string> more_body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers

  /// {"status":"success","data":<data_json>} with status 200.
  static Response JsonSuccess(std::string_view data_json);
  /// Prometheus's error envelope {"status":"error","errorType":...,"error":...}.
  static Response Error(int http_status, std::string_view error_type, std::string_view message);
  /// The error envelope for a non-OK Status, with the mapped HTTP status and errorType.
  static Response FromStatus(const Status& status);
  static Response Text(int http_status, std::string body,
                       std::string content_type = "text/plain; charset=utf-8");
  /// Sets a text answer in place, reusing this object's buffers (no allocation once warm).
  void SetText(int http_status, std::string_view text,
               std::string_view type = "text/plain; charset=utf-8");
  /// Back to an empty 200 JSON answer, keeping buffer capacity.
  void Reset();
};

/// The HTTP status and Prometheus errorType for a Status code.
int HttpStatusFor(StatusCode code);
std::string_view ErrorTypeFor(StatusCode code);

using Handler = std::function<void(const Request&, Response&)>;

/// 503, errorType "unavailable", Retry-After: 1: what a route answers while a component it
/// needs is not ready.
Response NotReady(std::string_view message);

/// A handler that needs component T: runs fn(request, response, T&) once T is published in
/// `services`, and answers NotReady(not_ready) before. `services` must outlive the handler.
template <typename T, typename Fn>
Handler WhenReady(const Services& services, std::string not_ready, Fn fn) {
  return [&services, not_ready = std::move(not_ready), fn = std::move(fn)](const Request& req,
                                                                           Response& resp) {
    T* component = services.Get<T>();
    if (component == nullptr) {
      resp = NotReady(not_ready);
      return;
    }
    fn(req, resp, *component);
  };
}

/// Writes a refusal the server makes itself on a route (401, 403, 400/413/415 for a body it
/// cannot decode) in the shape of the route's API family. Routes without one get
/// Prometheus's envelope (Response::Error).
using ErrorShape = std::function<Response(const Request&, int http_status,
                                          std::string_view error_type, std::string_view message)>;

/// A live feed of text messages to a WebSocket client (Loki's /tail): the server calls
/// Poll on the query pool about every interval() until Poll fails, the client closes or
/// goes silent (Beast's suggested server timeouts: pings after 300 s idle), or the server
/// shuts down (close code 1001). Poll is never called concurrently with itself; the feed
/// is destroyed on the query pool or the connection's I/O thread once the socket closes.
class LiveFeed {
 public:
  virtual ~LiveFeed() = default;
  /// Appends the messages to send now. A non-OK status ends the feed after they are sent:
  /// the socket closes with code 1008 (policy) for ResourceExhausted or
  /// DeadlineExceeded, 1011 otherwise, and the status's message as the reason (cut to
  /// the 123 bytes a close frame holds).
  virtual Status Poll(std::vector<std::string>& messages) = 0;
  virtual std::chrono::milliseconds interval() const { return std::chrono::milliseconds(500); }
};

/// Opens a feed for a WebSocket upgrade request (run on the query pool, after auth), or
/// leaves it null and fills `response` with the refusal that is sent instead of the upgrade.
using FeedOpener = std::function<std::unique_ptr<LiveFeed>(const Request&, Response&)>;

/// Scope bits (config::Scope); 0 means the route is public.
inline constexpr uint32_t kPublic = 0;

/// Maps method and path to a handler. Filled before the server starts; read-only after.
class Router {
 public:
  /// An exact path. `label` names the route in metrics (defaults to the path).
  void Handle(Method method, std::string path, uint32_t required_scopes, Handler handler,
              std::string label = "");
  /// Like Handle, for a handler that may block (disk I/O, heavy work): it runs on the
  /// server's handler pool, so the I/O thread keeps serving other connections meanwhile.
  void HandleBlocking(Method method, std::string path, uint32_t required_scopes, Handler handler,
                      std::string label = "");
  /// Like HandleBlocking, on the control pool: for handlers that wait on the meta store.
  void HandleControl(Method method, std::string path, uint32_t required_scopes, Handler handler,
                     std::string label = "");
  /// A GET route that upgrades to a WebSocket (RFC 6455) and streams `open`'s feed; a GET
  /// without the upgrade headers gets 400.
  void HandleWebSocket(std::string path, uint32_t required_scopes, FeedOpener open,
                       std::string label = "");
  /// Where a prefix route's handler runs: as Handle, HandleBlocking or HandleControl.
  enum class Runs { kOnIoThread, kBlocking, kControl };
  /// Every path starting with `prefix` (longest prefix wins over shorter ones).
  void HandlePrefix(Method method, std::string prefix, uint32_t required_scopes, Handler handler,
                    std::string label = "", Runs runs = Runs::kOnIoThread);

  struct Route {
    std::string label;
    uint32_t required_scopes = 0;
    Handler handler;
    bool blocking = false;             // runs on a pool: the write, query or control pool
    bool control = false;              // with blocking: the control pool
    size_t index = 0;                  // 1..route_count(), for per-route state kept in arrays
    ErrorShape error_shape = nullptr;  // null: Prometheus's envelope
    FeedOpener open_feed = nullptr;    // set: a WebSocket route (HandleWebSocket)
  };
  /// Gives every method of the exact path `path` (registered before) its refusals' shape.
  void ShapeErrors(std::string_view path, ErrorShape shape);
  /// The route for method and path; sets `path_known` when another method would match.
  const Route* Find(Method method, std::string_view path, bool& path_known,
                    std::string& allow) const;
  /// Routes registered so far; their indexes are 1..route_count().
  size_t route_count() const { return next_index_ - 1; }

 private:
  struct Entry {
    std::string path;
    std::vector<std::pair<Method, Route>> methods;
  };
  struct TransparentHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  void Add(Entry& e, Method method, Route route);
  const Route* Pick(const Entry& e, Method method, bool& path_known, std::string& allow) const;
  // Exact paths by hash; prefixes longest first.
  std::unordered_map<std::string, Entry, TransparentHash, std::equal_to<>> exact_;
  std::vector<Entry> prefixes_;
  size_t next_index_ = 1;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;

  /// Binds the listener (config.listen) and prepares TLS when configured. Refuses a
  /// non-loopback address when `auth` has no tokens and config.insecure is false.
  static Result<std::unique_ptr<HttpServer>> Create(const config::ServerConfig& config,
                                                    const config::AuthConfig& auth,
                                                    std::shared_ptr<const Router> router,
                                                    selfmon::Registry& registry);

  virtual uint16_t port() const = 0;
  /// Starts the I/O threads; returns at once.
  virtual void Start() = 0;
  /// Graceful stop (see the contract above); blocks until the threads have ended.
  virtual void Shutdown() = 0;
};

/// True when `host` resolves only to loopback addresses (127.0.0.0/8, ::1).
Result<bool> IsLoopbackHost(const std::string& host);

/// Decodes a request body by Content-Encoding ("", "identity", "gzip", "x-gzip", "deflate",
/// "snappy"), refusing output larger than `max_output` (ResourceExhausted), corrupt input
/// (InvalidArgument) and unknown encodings (Unimplemented).
Status DecodeBody(std::string_view encoding, std::string_view input, uint64_t max_output,
                  std::string& output);

}  // namespace pharos::server
