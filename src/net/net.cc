#include "net/net.h"

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "common/strings.h"

namespace pharos::net {
namespace {

std::string TlsError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// One TCP connection, optionally upgraded to TLS, with a deadline for every operation.
class Conn {
 public:
  ~Conn() {
    if (ssl_) {
      SSL_shutdown(ssl_);
      SSL_free(ssl_);
    }
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
  }

  Status Connect(const std::string& host, const std::string& port, int64_t timeout_ms) {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) return Unavailable(fmt::format("resolve {}: {}", host, gai_strerror(rc)));
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(res, freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* a = res; a; a = a->ai_next) {
      int fd =
          ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
      if (fd < 0) continue;
      rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
      if (rc != 0 && errno == EINPROGRESS) {
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, RemainingMs()) == 1) {
          int err = 0;
          socklen_t len = sizeof err;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          rc = err == 0 ? 0 : -1;
          errno = err;
        } else {
          errno = ETIMEDOUT;
          rc = -1;
        }
      }
      if (rc == 0) {
        fd_ = fd;
        return Status::Ok();
      }
      last = std::strerror(errno);
      ::close(fd);
    }
    return Unavailable(fmt::format("connect {}:{}: {}", host, port, last));
  }

  Status StartTls(const std::string& host) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) return Internal(TlsError());
    SSL_CTX_set_default_verify_paths(ctx_);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, host.c_str());
    SSL_set1_host(ssl_, host.c_str());
    while (true) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return Status::Ok();
      int err = SSL_get_error(ssl_, rc);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        return Unavailable("TLS handshake with " + host + ": " + TlsError());
      }
      PHAROS_RETURN_IF_ERROR(Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
    }
  }

  Status Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n;
      if (ssl_) {
        n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
        if (n <= 0) {
          int err = SSL_get_error(ssl_, static_cast<int>(n));
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            PHAROS_RETURN_IF_ERROR(Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
            continue;
          }
          return Unavailable("write: " + TlsError());
        }
      } else {
        n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) {
            PHAROS_RETURN_IF_ERROR(Wait(POLLOUT));
            continue;
          }
          return Unavailable(fmt::format("write: {}", std::strerror(errno)));
        }
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  // Appends what arrives to `buf`; false at end of stream.
  Result<bool> ReadSome(std::string& buf, size_t limit = 1u << 20) {
    char chunk[8192];
    while (true) {
      ssize_t n;
      if (ssl_) {
        n = SSL_read(ssl_, chunk, sizeof chunk);
        if (n <= 0) {
          int err = SSL_get_error(ssl_, static_cast<int>(n));
          if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
            PHAROS_RETURN_IF_ERROR(Wait(err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT));
            continue;
          }
          if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return false;
          return Unavailable("read: " + TlsError());
        }
      } else {
        n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) {
            PHAROS_RETURN_IF_ERROR(Wait(POLLIN));
            continue;
          }
          return Unavailable(fmt::format("read: {}", std::strerror(errno)));
        }
        if (n == 0) return false;
      }
      if (buf.size() + static_cast<size_t>(n) > limit) {
        return ResourceExhausted(fmt::format("reply larger than {} bytes", limit));
      }
      buf.append(chunk, static_cast<size_t>(n));
      return true;
    }
  }

  // One SMTP reply (possibly multi-line); returns its code and text.
  Result<std::pair<int, std::string>> SmtpReply() {
    std::string text;
    while (true) {
      size_t eol;
      while ((eol = pending_.find("\r\n")) == std::string::npos) {
        Result<bool> more = ReadSome(pending_);
        if (!more.ok()) return more.status();
        if (!*more) return Unavailable("SMTP server closed the connection");
      }
      std::string line = pending_.substr(0, eol);
      pending_.erase(0, eol + 2);
      text += line + "\n";
      if (line.size() < 3) return Unavailable("malformed SMTP reply: " + line);
      if (line.size() == 3 || line[3] == ' ') return std::make_pair(std::atoi(line.c_str()), text);
    }
  }

 private:
  int RemainingMs() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline_ - std::chrono::steady_clock::now())
                    .count();
    return static_cast<int>(std::max<int64_t>(0, left));
  }
  Status Wait(short events) {
    pollfd p{fd_, events, 0};
    int rc = ::poll(&p, 1, RemainingMs());
    if (rc == 0) return DeadlineExceeded("timed out");
    if (rc < 0 && errno != EINTR) return Unavailable(std::strerror(errno));
    return Status::Ok();
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::chrono::steady_clock::time_point deadline_;
  std::string pending_;
};

}  // namespace

Result<Url> ParseUrl(const std::string& text) {
  Url u;
  std::string_view rest = text;
  if (rest.rfind("https://", 0) == 0) {
    u.tls = true;
    rest.remove_prefix(8);
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  } else {
    return InvalidArgument(fmt::format("\"{}\" is not an http:// or https:// URL", text));
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  u.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority.remove_prefix(at + 1);
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("bad IPv6 address in " + text);
    u.host = std::string(authority.substr(1, close - 1));
    authority.remove_prefix(close + 1);
    u.port = authority.size() > 1 && authority[0] == ':' ? std::string(authority.substr(1)) : "";
  } else {
    size_t colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    u.port = colon == std::string_view::npos ? "" : std::string(authority.substr(colon + 1));
  }
  if (u.port.empty()) u.port = u.tls ? "443" : "80";
  if (u.host.empty()) return InvalidArgument("no host in " + text);
  return u;
}

Result<HttpReply> Fetch(const HttpRequest& request) {
  Result<Url> url = ParseUrl(request.url);
  if (!url.ok()) return url.status();
  Conn conn;
  PHAROS_RETURN_IF_ERROR(conn.Connect(url->host, url->port, request.timeout_ms));
  if (url->tls) PHAROS_RETURN_IF_ERROR(conn.StartTls(url->host));
  std::string host = url->host.find(':') != std::string::npos ? "[" + url->host + "]" : url->host;
  std::string head = fmt::format("{} {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: Pharos\r\n",
                                 request.method, url->target, host, url->port);
  if (!request.body.empty() || request.method == "POST" || request.method == "PUT") {
    if (!request.content_type.empty()) head += "Content-Type: " + request.content_type + "\r\n";
    head += fmt::format("Content-Length: {}\r\n", request.body.size());
  }
  for (const auto& [name, value] : request.headers) head += name + ": " + value + "\r\n";
  head += "Connection: close\r\n\r\n";
  PHAROS_RETURN_IF_ERROR(conn.Write(head + request.body));
  std::string reply;
  while (true) {
    Result<bool> more = conn.ReadSome(reply, request.max_reply_bytes);
    if (!more.ok()) return more.status();
    if (!*more) break;
  }
  size_t end = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12 || end == std::string::npos) {
    return Unavailable("malformed HTTP reply");
  }
  HttpReply r;
  r.status = std::atoi(reply.c_str() + 9);
  bool chunked = false;
  size_t line_start = reply.find("\r\n") + 2;
  while (line_start < end) {
    size_t eol = reply.find("\r\n", line_start);
    std::string line = reply.substr(line_start, eol - line_start);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = ToLower(line.substr(0, colon));
      std::string value(Trim(std::string_view(line).substr(colon + 1)));
      if (name == "transfer-encoding" && ToLower(value).find("chunked") != std::string::npos) {
        chunked = true;
      }
      r.headers.emplace_back(std::move(name), std::move(value));
    }
    line_start = eol + 2;
  }
  std::string body = reply.substr(end + 4);
  if (chunked) {
    std::string decoded;
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eol = body.find("\r\n", pos);
      if (eol == std::string::npos) return Unavailable("malformed chunked body");
      size_t n = std::strtoul(body.c_str() + pos, nullptr, 16);
      if (n == 0) break;
      if (eol + 2 + n > body.size()) return Unavailable("truncated chunked body");
      decoded.append(body, eol + 2, n);
      pos = eol + 2 + n + 2;
    }
    body = std::move(decoded);
  }
  r.body = std::move(body);
  return r;
}

Status SendMail(const MailSubmission& config, int64_t timeout_ms) {
  size_t colon = config.smarthost.rfind(':');
  std::string host = config.smarthost.substr(0, colon);
  std::string port = config.smarthost.substr(colon + 1);
  Conn conn;
  PHAROS_RETURN_IF_ERROR(conn.Connect(host, port, timeout_ms));
  bool implicit_tls = port == "465";
  if (implicit_tls) PHAROS_RETURN_IF_ERROR(conn.StartTls(host));
  auto expect = [&](int want, std::string_view step) -> Result<std::string> {
    Result<std::pair<int, std::string>> r = conn.SmtpReply();
    if (!r.ok()) return r.status();
    if (r->first / 100 != want / 100) {
      return Unavailable(fmt::format("SMTP {}: {}", step, Trim(r->second)));
    }
    return r->second;
  };
  auto command = [&](const std::string& line, int want,
                     std::string_view step) -> Result<std::string> {
    PHAROS_RETURN_IF_ERROR(conn.Write(line + "\r\n"));
    return expect(want, step);
  };
  Result<std::string> r = expect(220, "greeting");
  if (!r.ok()) return r.status();
  r = command("EHLO " + config.hello, 250, "EHLO");
  if (!r.ok()) return r.status();
  if (!implicit_tls) {
    bool offers_tls = r->find("STARTTLS") != std::string::npos;
    if (offers_tls) {
      Result<std::string> s = command("STARTTLS", 220, "STARTTLS");
      if (!s.ok()) return s.status();
      PHAROS_RETURN_IF_ERROR(conn.StartTls(host));
      r = command("EHLO " + config.hello, 250, "EHLO");
      if (!r.ok()) return r.status();
    } else if (config.require_tls) {
      return FailedPrecondition(fmt::format(
          "SMTP server {} does not offer STARTTLS and require_tls is set", config.smarthost));
    }
  }
  if (!config.username.empty()) {
    std::string token = Base64Encode(std::string("\0", 1) + config.username + std::string("\0", 1) +
                                     config.password);
    Result<std::string> a = command("AUTH PLAIN " + token, 235, "AUTH");
    if (!a.ok()) return a.status();
  }
  Result<std::string> m = command("MAIL FROM:<" + config.from + ">", 250, "MAIL FROM");
  if (!m.ok()) return m.status();
  for (const std::string& to : config.recipients) {
    Result<std::string> t = command("RCPT TO:<" + to + ">", 250, "RCPT TO");
    if (!t.ok()) return t.status();
  }
  Result<std::string> d = command("DATA", 354, "DATA");
  if (!d.ok()) return d.status();
  // Dot-stuffing: a line starting with '.' gets another.
  std::string stuffed;
  const std::string& message = config.message;
  size_t start = 0;
  while (start < message.size()) {
    size_t eol = message.find("\r\n", start);
    std::string line =
        message.substr(start, eol == std::string::npos ? std::string::npos : eol - start);
    if (!line.empty() && line[0] == '.') stuffed += '.';
    stuffed += line + "\r\n";
    if (eol == std::string::npos) break;
    start = eol + 2;
  }
  Result<std::string> end = command(stuffed + ".", 250, "message");
  if (!end.ok()) return end.status();
  (void)command("QUIT", 221, "QUIT");
  return Status::Ok();
}

}  // namespace pharos::net
