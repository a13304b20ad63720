#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

namespace pharos::testing {

RawConnection::RawConnection(uint16_t port, std::string host) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fd_ = fd;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void RawConnection::CloseWrite() { ::shutdown(fd_, SHUT_WR); }

bool RawConnection::Fill(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buf[65536];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) return false;
  buffer_.append(buf, static_cast<size_t>(n));
  return true;
}

bool RawConnection::WaitClosed(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) return true;
  }
  return false;
}

HttpResponse RawConnection::Read(int timeout_ms, bool head_request) {
  HttpResponse r;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  auto remaining = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    return static_cast<int>(left < 0 ? 0 : left);
  };
  size_t end;
  while (true) {
    // Skip interim 100 Continue responses.
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill(remaining())) return r;
    }
    if (buffer_.rfind("HTTP/1.1 100", 0) == 0) {
      buffer_.erase(0, end + 4);
      continue;
    }
    break;
  }
  std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.size() >= 12) r.status = std::atoi(status_line.c_str() + 9);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      r.headers[name] = line.substr(v);
    }
    pos = next + 2;
  }
  if (head_request || r.status == 204 || r.status == 304) {
    // No body follows, whatever Content-Length announces.
  } else if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    size_t length = std::stoul(it->second);
    while (buffer_.size() < length) {
      if (!Fill(remaining())) {
        r.status = 0;
        return r;
      }
    }
    r.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  } else {
    while (Fill(remaining())) {
    }
    r.body = buffer_;
    buffer_.clear();
  }
  auto conn = r.headers.find("connection");
  r.closed = conn != r.headers.end() && conn->second == "close";
  return r;
}

HttpResponse Get(uint16_t port, std::string_view path, std::string_view extra_headers) {
  RawConnection c(port);
  std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" +
                    std::string(extra_headers) + "\r\n";
  if (!c.Send(req)) return {};
  return c.Read();
}

HttpResponse Post(uint16_t port, std::string_view path, std::string_view body,
                  std::string_view extra_headers) {
  RawConnection c(port);
  std::string req =
      "POST " + std::string(path) +
      " HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
      std::string(extra_headers) + "\r\n" + std::string(body);
  if (!c.Send(req)) return {};
  return c.Read();
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

int RunShell(const std::string& command, std::string& output) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) output.append(buf, n);
  return ::pclose(p);
}

PostAllResult PostAll(uint16_t port, std::string_view path, std::string_view content_type,
                      const std::vector<std::string>& bodies, int connections,
                      const std::function<bool(const HttpResponse&)>& wanted,
                      std::string_view who) {
  std::atomic<size_t> next{0};
  std::atomic<int> failures{0};
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&] {
      auto conn = std::make_unique<RawConnection>(port);
      for (size_t i; (i = next.fetch_add(1)) < bodies.size();) {
        std::string req = "POST " + std::string(path) +
                          " HTTP/1.1\r\nHost: x\r\nContent-Type: " + std::string(content_type) +
                          "\r\nContent-Length: " + std::to_string(bodies[i].size()) + "\r\n\r\n";
        req += bodies[i];
        HttpResponse r;
        for (int attempt = 0; attempt < 50; ++attempt) {
          if (!conn->connected()) conn = std::make_unique<RawConnection>(port);
          conn->Send(req);
          r = conn->Read(60000);
          if (r.closed) conn = std::make_unique<RawConnection>(port);
          if (r.status != 429 && r.status != 503) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!wanted(r) && failures.fetch_add(1) < 3) {
          std::fprintf(stderr, "%.*s: %.*s answered %d: %s\n", static_cast<int>(who.size()),
                       who.data(), static_cast<int>(path.size()), path.data(), r.status,
                       r.body.substr(0, 300).c_str());
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return {std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
          failures.load()};
}

}  // namespace pharos::testing
