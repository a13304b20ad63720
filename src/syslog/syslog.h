// syslog: a listener for syslog messages (RFC 5424 and RFC 3164) over TCP and UDP, written
// into the log store.
//
// Contract:
// - ParseMessage reads one message: RFC 5424 (`<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD
//   MSG`) when a version follows the priority, else RFC 3164 (`<PRI>Mmm dd hh:mm:ss HOST
//   TAG[PID]: MSG`, the year and zone taken as the receiver's, UTC). A message that follows
//   neither is kept whole as the line (RFC 3164 section 4.3.3: priority 13, user.notice),
//   never dropped; ParseMessage fails only on a priority above 191 or an invalid
//   RFC 5424 header, naming the field.
// - FrameSplitter cuts a TCP byte stream into messages as RFC 6587 does: octet counting
//   (`LEN SP MSG`) when a frame starts with a digit, else one message per line (LF, with a
//   trailing CR dropped). A frame longer than max_message_bytes is an error (the
//   connection is closed), so a peer cannot make it buffer without bound.
// - Receiver listens on TCP and/or UDP (each optional), turns each message into a log line
//   of stream {job="syslog", host, app} (hostname and app-name or tag, when present) with
//   structured metadata severity, facility, procid, msgid and each structured-data
//   parameter as <sd-id>_<name> ('.', '@', '-' and other characters outside
//   [A-Za-z0-9_] as '_'), and writes it through logs::Store::Ingest (its limits apply). A
//   TCP connection's messages are written per read; while the store refuses them for its
//   rate limit, a full head or before it is ready, the connection stops reading (the
//   sender is slowed down, nothing is lost). A UDP datagram that cannot be written is
//   dropped and counted. Every message is counted by transport and outcome
//   (pharos_syslog_messages_total).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/services.h"
#include "common/status.h"
#include "selfmon/metrics.h"

namespace pharos::syslog {

struct Message {
  int facility = 1;     // user
  int severity = 5;     // notice
  int64_t time_ns = 0;  // 0: none given (the receiver's clock is used)
  std::string_view hostname;
  std::string_view app_name;
  std::string_view procid;
  std::string_view msgid;
  std::string_view message;
  /// RFC 5424 structured data: (sd-id, param-name, value), values unescaped.
  struct Param {
    std::string_view id;
    std::string_view name;
    std::string value;
  };
  std::vector<Param> structured;
};

/// Parses `raw` (views into it). `now_ns` places an RFC 3164 timestamp's year.
Status ParseMessage(std::string_view raw, int64_t now_ns, Message& out);

/// RFC 5424's keywords: "emerg".."debug" and "kern".."local7".
std::string_view SeverityName(int severity);
std::string_view FacilityName(int facility);

class FrameSplitter {
 public:
  explicit FrameSplitter(size_t max_message_bytes) : max_(max_message_bytes) {}
  /// Appends bytes and calls fn(message) for each whole frame; an error when a frame is
  /// longer than the limit or its length is malformed.
  template <typename Fn>
  Status Feed(std::string_view bytes, Fn&& fn) {
    buffer_.append(bytes);
    size_t at = 0;
    Status s;
    while (true) {
      std::string_view frame;
      size_t next = 0;
      s = NextFrame(std::string_view(buffer_).substr(at), frame, next);
      if (!s.ok() || next == 0) break;
      if (!frame.empty()) fn(frame);  // empty: blank lines between frames
      at += next;
    }
    buffer_.erase(0, at);
    return s;
  }
  size_t buffered() const { return buffer_.size(); }

 private:
  // The first frame of `data`: `consumed` is 0 when it is not whole yet.
  Status NextFrame(std::string_view data, std::string_view& frame, size_t& consumed) const;

  size_t max_;
  std::string buffer_;
};

struct Options {
  std::string tcp_listen;  // host:port; empty: no TCP listener
  std::string udp_listen;  // host:port; empty: no UDP listener
  size_t max_message_bytes = 64 * 1024;
  /// Syslog carries no credentials: without this, a non-loopback address is refused.
  bool insecure = false;
};

class Receiver {
 public:
  /// Binds and starts serving on its own thread; the log store is taken from `services`
  /// (logs::Store) when messages arrive.
  static Result<std::unique_ptr<Receiver>> Start(const Options& options, const Services& services,
                                                 selfmon::Registry& registry);
  virtual ~Receiver() = default;
  virtual int tcp_port() const = 0;  // 0 when not listening
  virtual int udp_port() const = 0;
  /// Stops listening, closes connections and joins the thread.
  virtual void Stop() = 0;
};

}  // namespace pharos::syslog
