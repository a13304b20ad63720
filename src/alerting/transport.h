// Internal to alerting: blocking outbound HTTP/1.1 and SMTP clients for notifications,
// over plain TCP or TLS (OpenSSL, verifying the peer against the system trust store).
// Every call has a deadline; nothing here throws.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "alerting/alerting.h"

namespace pharos::alerting {

struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  // path and query, "/" at least
};
Result<Url> ParseUrl(const std::string& text);

struct HttpReply {
  int status = 0;
  std::string body;
};

/// POSTs `body`; a reply of any status is OK at this level (the caller judges it).
Result<HttpReply> HttpPost(const Url& url, const std::string& body, const std::string& content_type,
                           const HttpAuth& auth, int64_t timeout_ms);

/// Sends one message (headers and body, CRLF line ends) over SMTP with EHLO, STARTTLS
/// when offered (required when require_tls), AUTH PLAIN when a username is set.
Status SendMail(const EmailConfig& config, const std::vector<std::string>& recipients,
                const std::string& message, int64_t timeout_ms);

}  // namespace pharos::alerting
