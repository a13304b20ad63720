// Test support: a loopback server that records each request it receives (a webhook
// receiver, a fake Alertmanager) and answers with a chosen status; in SMTP mode it plays a
// minimal mail server and records each message.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pharos::testing {

class Sink {
 public:
  explicit Sink(bool smtp = false);
  ~Sink();
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  void set_status(int s) { status_ = s; }
  /// Request bodies (or mail messages), in arrival order.
  std::vector<std::string> bodies();
  /// Request lines ("POST /hook HTTP/1.1"), or SMTP commands.
  std::vector<std::string> targets();
  /// Waits until at least `n` bodies arrived; false after `timeout_ms`.
  bool WaitFor(size_t n, int timeout_ms);

 private:
  void Loop();
  void Smtp(int c);
  bool smtp_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> status_{200};
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::vector<std::string> targets_;
};

}  // namespace pharos::testing
