// Test support: a blocking HTTP/1.1 client over raw sockets, able to send anything
// (malformed requests, partial bodies, slow uploads) and read one response at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pharos::testing {

struct HttpResponse {
  int status = 0;                              // 0 when no response could be read
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  bool closed = false;  // the server closed the connection after this response
};

class RawConnection {
 public:
  explicit RawConnection(uint16_t port, std::string host = "127.0.0.1");
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool Send(std::string_view bytes);
  /// Reads one response (by Content-Length, or until close). Times out after
  /// `timeout_ms`, returning status 0. `head` says the request was HEAD (no body follows).
  HttpResponse Read(int timeout_ms = 10000, bool head = false);
  /// True when the peer has closed (read returns 0) within `timeout_ms`.
  bool WaitClosed(int timeout_ms = 5000);
  void CloseWrite();

 private:
  bool Fill(int timeout_ms);
  int fd_ = -1;
  std::string buffer_;
};

/// One request on a fresh connection.
HttpResponse Get(uint16_t port, std::string_view path, std::string_view extra_headers = "");
HttpResponse Post(uint16_t port, std::string_view path, std::string_view body,
                  std::string_view extra_headers = "");

/// Posts every body to `path` over `connections` keep-alive connections at once (the
/// benchmarks' senders), retrying one answered 429 or 503 up to 50 times, 100 ms apart.
/// `wanted` says whether an answer is the one expected; the first three that are not are
/// printed to stderr after `who`.
struct PostAllResult {
  double seconds = 0;
  int failures = 0;
};
PostAllResult PostAll(uint16_t port, std::string_view path, std::string_view content_type,
                      const std::vector<std::string>& bodies, int connections,
                      const std::function<bool(const HttpResponse&)>& wanted, std::string_view who);

/// A loopback TCP port nothing listens on right now.
uint16_t FreePort();

/// Runs `command` through the shell with stderr joined to stdout; the output goes to
/// `output` and the exit status (as pclose gives it, 0 on success) is returned.
int RunShell(const std::string& command, std::string& output);

}  // namespace pharos::testing
