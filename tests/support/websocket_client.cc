#include "tests/support/websocket_client.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace pharos::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WebSocketClient::Impl {
  asio::io_context ioc;
  websocket::stream<tcp::socket> ws{ioc};
  bool connected = false;
  int refusal_status = 0;
  std::string refusal_body;
  beast::flat_buffer buffer;
};

WebSocketClient::WebSocketClient(uint16_t port, const std::string& target,
                                 const std::vector<std::pair<std::string, std::string>>& headers)
    : impl_(std::make_unique<Impl>()) {
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
  if (ec) return;
  impl_->ws.set_option(websocket::stream_base::decorator([headers](websocket::request_type& req) {
    for (const auto& [name, value] : headers) req.set(name, value);
  }));
  websocket::response_type response;
  impl_->ws.handshake(response, "127.0.0.1", target, ec);
  if (ec) {
    impl_->refusal_status = static_cast<int>(response.result_int());
    impl_->refusal_body = response.body();
    return;
  }
  impl_->connected = true;
}

WebSocketClient::~WebSocketClient() {
  beast::error_code ec;
  beast::get_lowest_layer(impl_->ws).close(ec);
}

bool WebSocketClient::connected() const { return impl_->connected; }
int WebSocketClient::refusal_status() const { return impl_->refusal_status; }
const std::string& WebSocketClient::refusal_body() const { return impl_->refusal_body; }

std::optional<std::string> WebSocketClient::Read(std::chrono::milliseconds timeout) {
  if (!impl_->connected) return std::nullopt;
  impl_->buffer.clear();
  bool done = false;
  beast::error_code result;
  impl_->ws.async_read(impl_->buffer, [&](beast::error_code ec, size_t) {
    done = true;
    result = ec;
  });
  impl_->ioc.restart();
  impl_->ioc.run_for(timeout);
  if (!done) {
    // Timed out: drop the connection so the pending read completes.
    beast::error_code ec;
    beast::get_lowest_layer(impl_->ws).close(ec);
    impl_->ioc.restart();
    impl_->ioc.run();
    impl_->connected = false;
    return std::nullopt;
  }
  if (result) {
    impl_->connected = false;
    return std::nullopt;
  }
  return beast::buffers_to_string(impl_->buffer.data());
}

uint16_t WebSocketClient::close_code() const { return impl_->ws.reason().code; }
std::string WebSocketClient::close_reason() const {
  return std::string(impl_->ws.reason().reason.data(), impl_->ws.reason().reason.size());
}

void WebSocketClient::Close() {
  if (!impl_->connected) return;
  beast::error_code ec;
  impl_->ws.close(websocket::close_code::normal, ec);
  impl_->connected = false;
}

}  // namespace pharos::testing
