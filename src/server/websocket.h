// Internal to the server module: a WebSocket route's session (RFC 6455 through Beast), which
// upgrades an HTTP request and streams a LiveFeed's messages until one side ends it.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "common/strings.h"
#include "server/request_parser.h"
#include "server/server.h"

namespace pharos::server::internal {

/// Query threads run at a lower priority (http_server.cc).
void LowerThisThreadsPriority();

/// A GET that asks to become a WebSocket ("Connection: Upgrade", "Upgrade: websocket").
inline bool IsWebSocketUpgrade(const RequestData& data) {
  if (data.method != Method::kGet) return false;
  bool upgrade = false, websocket = false;
  for (size_t i = 0; i < data.header_count; ++i) {
    const auto& [name, value] = data.headers[i];
    if (EqualsIgnoreCase(name, "Connection")) {
      for (std::string_view token : Split(value, ',')) {
        if (EqualsIgnoreCase(Trim(token), "upgrade")) upgrade = true;
      }
    } else if (EqualsIgnoreCase(name, "Upgrade")) {
      websocket = EqualsIgnoreCase(Trim(value), "websocket");
    }
  }
  return upgrade && websocket;
}

/// The subprotocols the client offers (Sec-WebSocket-Protocol, every header, trimmed).
inline std::vector<std::string_view> OfferedProtocols(const RequestData& data) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < data.header_count; ++i) {
    if (!EqualsIgnoreCase(data.headers[i].first, "Sec-WebSocket-Protocol")) continue;
    for (std::string_view offered : Split(data.headers[i].second, ','))
      out.push_back(Trim(offered));
  }
  return out;
}

/// Browsers cannot set Authorization on a WebSocket, so the console offers its token as a
/// subprotocol, "pharos.bearer.<base64url of the token>", beside "pharos.v1" (which the
/// server then selects, as browsers require). Returns "Bearer <token>", or "" when absent.
inline std::string WebSocketBearer(const RequestData& data) {
  constexpr std::string_view kPrefix = "pharos.bearer.";
  for (std::string_view offered : OfferedProtocols(data)) {
    std::string token;
    if (offered.starts_with(kPrefix) && Base64Decode(offered.substr(kPrefix.size()), token) &&
        !token.empty()) {
      return "Bearer " + token;
    }
  }
  return {};
}

/// What a feed's writer and its reader share (on the connection's one I/O thread).
struct FeedState {
  explicit FeedState(const boost::asio::any_io_executor& ex) : wake(ex) {}
  boost::asio::steady_timer wake;  // the writer's pause; the reader cancels it when it ends
  bool client_gone = false;
  bool reader_done = false;
};

/// Reads (and drops) the client's frames until the connection closes. A coroutine
/// function, not a capturing lambda: its arguments live in its own frame.
template <typename WebSocket>
boost::asio::awaitable<void> ReadUntilClosed(WebSocket& ws, std::shared_ptr<FeedState> state) {
  namespace asio = boost::asio;
  boost::beast::flat_buffer scratch;
  while (true) {
    auto [ec, n] = co_await ws.async_read(scratch, asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    scratch.consume(scratch.size());
  }
  state->client_gone = true;
  state->reader_done = true;
  state->wake.cancel();
}

/// Upgrades the connection and runs `feed` until it fails, the client closes, or `stopping`
/// (the I/O thread's shutdown flag) becomes true. Polls run on `pool`. Returns false when
/// the handshake failed (nothing was sent that the caller should follow).
template <typename Stream>
boost::asio::awaitable<bool> ServeLiveFeed(Stream& stream, const RequestData& data,
                                           std::unique_ptr<LiveFeed> feed,
                                           boost::asio::thread_pool& pool, const bool& stopping,
                                           uint64_t& bytes_sent) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace websocket = beast::websocket;
  beast::http::request<beast::http::empty_body> upgrade;
  upgrade.method(beast::http::verb::get);
  upgrade.target(data.target);
  upgrade.version(data.version);
  for (size_t i = 0; i < data.header_count; ++i) {
    upgrade.insert(data.headers[i].first, data.headers[i].second);
  }
  websocket::stream<Stream&> ws(stream);
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  if (std::ranges::count(OfferedProtocols(data), std::string_view("pharos.v1")) > 0) {
    ws.set_option(websocket::stream_base::decorator([](websocket::response_type& response) {
      response.set(beast::http::field::sec_websocket_protocol, "pharos.v1");
    }));
  }
  ws.read_message_max(64 * 1024);  // clients of a feed send nothing but control frames
  auto [accept_ec] = co_await ws.async_accept(upgrade, asio::as_tuple(asio::use_awaitable));
  if (accept_ec) co_return false;

  // The reader answers pings and notices the client's close; it ends before this frame does.
  auto shared = std::make_shared<FeedState>(co_await asio::this_coro::executor);
  asio::co_spawn(co_await asio::this_coro::executor, ReadUntilClosed(ws, shared), asio::detached);

  std::vector<std::string> messages;
  Status ended;
  while (!shared->client_gone && !stopping) {
    messages.clear();
    co_await asio::co_spawn(
        pool,
        [&]() -> asio::awaitable<void> {
          LowerThisThreadsPriority();
          ended = feed->Poll(messages);
          co_return;
        },
        asio::use_awaitable);
    for (const std::string& m : messages) {
      ws.text(true);
      auto [ec, n] = co_await ws.async_write(asio::buffer(m.data(), m.size()),
                                             asio::as_tuple(asio::use_awaitable));
      if (ec) {
        shared->client_gone = true;
        break;
      }
      bytes_sent += n;
    }
    if (!ended.ok()) break;
    shared->wake.expires_after(feed->interval());
    co_await shared->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!shared->client_gone) {
    websocket::close_reason reason;
    if (stopping) {
      reason = websocket::close_reason(websocket::close_code::going_away, "server shutting down");
    } else {
      bool policy = ended.code() == StatusCode::kResourceExhausted ||
                    ended.code() == StatusCode::kDeadlineExceeded;
      // A close frame's reason holds at most 123 bytes.
      std::string text(TruncateUtf8(ended.message(), 123));
      reason = websocket::close_reason(
          policy ? websocket::close_code::policy_error : websocket::close_code::internal_error,
          text);
    }
    co_await ws.async_close(reason, asio::as_tuple(asio::use_awaitable));
  }
  // The reader ends with the close handshake; a client that never answers it is cut off.
  for (int waited = 0; !shared->reader_done; ++waited) {
    if (waited == 5) {
      boost::system::error_code ec;
      beast::get_lowest_layer(ws).close(ec);
    }
    shared->wake.expires_after(std::chrono::seconds(1));
    co_await shared->wake.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  feed.reset();
  co_return true;
}

}  // namespace pharos::server::internal
