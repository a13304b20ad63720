#include "tests/support/webhook_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace pharos::testing {
namespace {

bool ReadLine(int c, std::string& buf, std::string& line) {
  while (true) {
    size_t eol = buf.find("\r\n");
    if (eol != std::string::npos) {
      line = buf.substr(0, eol);
      buf.erase(0, eol + 2);
      return true;
    }
    char tmp[4096];
    ssize_t n = ::recv(c, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

}  // namespace

Sink::Sink(bool smtp) : smtp_(smtp) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd_, 64);
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

Sink::~Sink() {
  stop_ = true;
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  thread_.join();
}

std::vector<std::string> Sink::bodies() {
  std::lock_guard lock(mu_);
  return bodies_;
}

std::vector<std::string> Sink::targets() {
  std::lock_guard lock(mu_);
  return targets_;
}

bool Sink::WaitFor(size_t n, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      if (bodies_.size() >= n) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void Sink::Smtp(int c) {
  auto say = [c](const std::string& s) { (void)!::send(c, s.data(), s.size(), MSG_NOSIGNAL); };
  say("220 sink ESMTP\r\n");
  std::string buf, line, data;
  bool in_data = false;
  while (ReadLine(c, buf, line)) {
    if (in_data) {
      if (line == ".") {
        in_data = false;
        {
          std::lock_guard lock(mu_);
          bodies_.push_back(data);
        }
        say("250 OK queued\r\n");
      } else {
        data += line + "\n";
      }
      continue;
    }
    {
      std::lock_guard lock(mu_);
      targets_.push_back(line);
    }
    if (line.rfind("EHLO", 0) == 0) {
      say("250-sink\r\n250 AUTH PLAIN\r\n");
    } else if (line == "DATA") {
      in_data = true;
      say("354 go ahead\r\n");
    } else if (line == "QUIT") {
      say("221 bye\r\n");
      return;
    } else if (line.rfind("AUTH", 0) == 0) {
      say("235 ok\r\n");
    } else {
      say("250 OK\r\n");
    }
  }
}

void Sink::Loop() {
  while (!stop_) {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    if (smtp_) {
      Smtp(c);
      ::close(c);
      continue;
    }
    std::string req;
    char buf[8192];
    size_t need = std::string::npos;
    while (true) {
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      size_t end = req.find("\r\n\r\n");
      if (end != std::string::npos && need == std::string::npos) {
        size_t cl = req.find("Content-Length: ");
        need = cl == std::string::npos ? end + 4 : end + 4 + std::stoul(req.substr(cl + 16));
      }
      if (need != std::string::npos && req.size() >= need) break;
    }
    size_t head_end = req.find("\r\n\r\n");
    {
      std::lock_guard lock(mu_);
      targets_.push_back(req.substr(0, req.find("\r\n")));
      bodies_.push_back(head_end == std::string::npos ? "" : req.substr(head_end + 4));
    }
    std::string reply = "HTTP/1.1 " + std::to_string(status_.load()) +
                        " X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    (void)!::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    ::close(c);
  }
}

}  // namespace pharos::testing
