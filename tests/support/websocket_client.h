// A WebSocket client for tests (Beast, over loopback): upgrades a GET, reads text
// messages with a timeout, and reports how the server closed.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pharos::testing {

class WebSocketClient {
 public:
  /// Connects to 127.0.0.1:port and asks to upgrade `target`. When the server refuses,
  /// connected() is false and refusal_status()/refusal_body() tell its HTTP answer.
  WebSocketClient(uint16_t port, const std::string& target,
                  const std::vector<std::pair<std::string, std::string>>& headers = {});
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  bool connected() const;
  int refusal_status() const;
  const std::string& refusal_body() const;
  /// The next text message, or nullopt on close, error or timeout.
  std::optional<std::string> Read(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// After Read returned nullopt for a close: the server's close code and reason (0 and
  /// "" when the connection ended without a close frame or the read timed out).
  uint16_t close_code() const;
  std::string close_reason() const;
  /// Sends a close frame and waits for the server's.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pharos::testing
