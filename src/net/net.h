// net: outbound connections for notifications and the command-line client: HTTP/1.1
// requests and SMTP submission, over TCP or TLS (OpenSSL, verifying the peer against the
// system trust store and the host name).
//
// Contract: blocking calls, safe from any thread; every call has a deadline covering
// resolution, connection, TLS and the whole exchange. Replies are read whole, bounded by
// max_reply_bytes (chunked transfer encoding is decoded). Nothing here throws; failures are
// Unavailable (connection, TLS, protocol), DeadlineExceeded or ResourceExhausted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pharos::net {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, "/" at least
};
/// http://host[:port]/path or https://...; IPv6 hosts in brackets.
Result<Url> ParseUrl(const std::string& text);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::string content_type;  // sent when the body is not empty
  std::vector<std::pair<std::string, std::string>> headers;
  int64_t timeout_ms = 10'000;
  size_t max_reply_bytes = 16u << 20;
};

struct HttpReply {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
};

/// Sends one request (Connection: close) and reads the whole reply, of any status.
Result<HttpReply> Fetch(const HttpRequest& request);

struct MailSubmission {
  std::string smarthost;  // host:port; port 465 is TLS from the start
  std::string hello = "localhost";
  std::string username;  // AUTH PLAIN when set
  std::string password;
  bool require_tls = true;  // refuse a server that does not offer STARTTLS
  std::string from;
  std::vector<std::string> recipients;
  std::string message;  // headers, blank line, body; CRLF line ends
};

/// EHLO, STARTTLS when offered, AUTH, MAIL FROM, RCPT TO, DATA (dot-stuffed), QUIT.
Status SendMail(const MailSubmission& mail, int64_t timeout_ms);

}  // namespace pharos::net
