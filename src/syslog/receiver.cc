// The syslog listener: a thread accepting TCP connections, a thread per connection reading
// frames and writing them per read (blocking: a refused write holds the connection's
// reads, which slows the sender through TCP), and a thread reading UDP datagrams.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/units.h"
#include "config/config.h"
#include "logs/logs.h"
#include "server/server.h"
#include "syslog/syslog.h"

namespace pharos::syslog {
namespace {

constexpr size_t kMaxConnections = 256;
constexpr auto kRetryPause = std::chrono::milliseconds(200);

Result<int> Bind(const std::string& listen, int type, bool insecure) {
  std::string host;
  uint16_t port = 0;
  PHAROS_RETURN_IF_ERROR(config::ParseHostPort(listen, host, port));
  if (!insecure) {  // an empty host is every address
    Result<bool> loopback = host.empty() ? Result<bool>(false) : server::IsLoopbackHost(host);
    if (!loopback.ok()) return loopback.status().WithContext("syslog listen " + listen);
    if (!*loopback)
      return FailedPrecondition(
          fmt::format("refusing to listen for syslog on non-loopback address {}: syslog carries no "
                      "credentials; pass --insecure to accept it from the network",
                      listen));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = type;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port_text.c_str(), &hints, &found);
  if (rc != 0)
    return InvalidArgument(fmt::format("syslog listen {}: {}", listen, gai_strerror(rc)));
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, freeaddrinfo);
  int fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return Unavailable(fmt::format("syslog listen {}: socket: {}", listen, strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, found->ai_addr, found->ai_addrlen) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, 64) != 0)) {
    Status s = Unavailable(fmt::format("syslog listen {}: {}", listen, strerror(errno)));
    close(fd);
    return s;
  }
  if (type == SOCK_DGRAM) {
    int size = 4 << 20;  // bursts wait in the kernel while a batch is written
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  return fd;
}

int PortOf(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
}

struct Metrics {
  explicit Metrics(selfmon::Registry& r)
      : messages(r.AddCounter("pharos_syslog_messages_total",
                              "Syslog messages received, by transport and outcome (stored; "
                              "invalid: kept whole with the parse error as metadata; refused: "
                              "by the log store's limits; dropped: UDP not written).",
                              {"transport", "outcome"})),
        connections(r.AddCounter("pharos_syslog_connections_total",
                                 "TCP connections, by outcome (accepted; refused: over the "
                                 "limit; closed_bad_frame: a frame over max_message_bytes).",
                                 {"outcome"})) {}
  selfmon::Family<selfmon::Counter>& messages;
  selfmon::Family<selfmon::Counter>& connections;
};

class ReceiverImpl : public Receiver {
 public:
  ReceiverImpl(const Options& options, const Services& services, selfmon::Registry& registry)
      : options_(options), services_(services), metrics_(registry) {}
  ~ReceiverImpl() override { Stop(); }

  Status Init() {
    if (!options_.tcp_listen.empty()) {
      Result<int> fd = Bind(options_.tcp_listen, SOCK_STREAM, options_.insecure);
      if (!fd.ok()) return fd.status();
      tcp_fd_ = *fd;
      tcp_port_ = PortOf(tcp_fd_);
    }
    if (!options_.udp_listen.empty()) {
      Result<int> fd = Bind(options_.udp_listen, SOCK_DGRAM, options_.insecure);
      if (!fd.ok()) return fd.status();
      udp_fd_ = *fd;
      udp_port_ = PortOf(udp_fd_);
    }
    if (tcp_fd_ >= 0) accept_thread_ = std::thread([this] { AcceptLoop(); });
    if (udp_fd_ >= 0) udp_thread_ = std::thread([this] { UdpLoop(); });
    return Status::Ok();
  }

  int tcp_port() const override { return tcp_port_; }
  int udp_port() const override { return udp_port_; }

  void Stop() override {
    if (stopping_.exchange(true)) return;
    if (tcp_fd_ >= 0) shutdown(tcp_fd_, SHUT_RDWR);
    if (udp_fd_ >= 0) shutdown(udp_fd_, SHUT_RDWR);
    if (accept_thread_.joinable()) accept_thread_.join();
    if (udp_thread_.joinable()) udp_thread_.join();
    std::list<Connection> connections;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (Connection& c : connections_) shutdown(c.fd, SHUT_RDWR);
      connections.splice(connections.end(), connections_);
    }
    for (Connection& c : connections) {
      if (c.thread.joinable()) c.thread.join();
      close(c.fd);
    }
    if (tcp_fd_ >= 0) close(tcp_fd_);
    if (udp_fd_ >= 0) close(udp_fd_);
    tcp_fd_ = udp_fd_ = -1;
  }

 private:
  struct Connection {
    int fd;
    std::thread thread;
    bool done = false;
  };

  void AcceptLoop() {
    while (!stopping_) {
      if (!Readable(tcp_fd_)) continue;
      int fd = accept4(tcp_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        std::this_thread::sleep_for(kRetryPause);  // EMFILE and the like: let some close
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      ReapLocked();
      if (connections_.size() >= kMaxConnections) {
        metrics_.connections.WithLabels({"refused"}).Inc();
        close(fd);
        continue;
      }
      metrics_.connections.WithLabels({"accepted"}).Inc();
      Connection& c = connections_.emplace_back();
      c.fd = fd;
      c.thread = std::thread([this, &c] {
        Serve(c.fd);
        shutdown(c.fd, SHUT_RDWR);  // the peer sees the end now; the fd closes when reaped
        std::lock_guard<std::mutex> done_lock(mu_);
        c.done = true;
      });
    }
  }

  // Waits a little for `fd` to be readable, so that the loops see Stop() in time.
  static bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return poll(&p, 1, 250) > 0;
  }

  // Joins the threads of connections that ended.
  void ReapLocked() {
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->done) {
        it->thread.join();
        close(it->fd);
        it = connections_.erase(it);
      } else {
        ++it;
      }
    }
  }

  void Serve(int fd) {
    FrameSplitter splitter(options_.max_message_bytes);
    std::string buffer(64 * 1024, '\0');
    std::string frames;        // this read's whole frames, back to back
    std::vector<size_t> ends;  // of each frame in `frames`
    while (!stopping_) {
      ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
      if (n == 0) return;
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      frames.clear();
      ends.clear();
      Status s = splitter.Feed(std::string_view(buffer.data(), static_cast<size_t>(n)),
                               [&](std::string_view frame) {
                                 frames.append(frame);
                                 ends.push_back(frames.size());
                               });
      if (!ends.empty()) Write(frames, ends, "tcp", /*wait=*/true);
      if (!s.ok()) {
        metrics_.connections.WithLabels({"closed_bad_frame"}).Inc();
        return;
      }
    }
  }

  void UdpLoop() {
    std::string datagram(std::max<size_t>(options_.max_message_bytes, 1) + 1, '\0');
    std::string frames;
    std::vector<size_t> ends;
    while (!stopping_) {
      if (!Readable(udp_fd_)) continue;
      frames.clear();
      ends.clear();
      // One blocking read, then whatever else is already queued, written as one batch.
      for (int k = 0; k < 1024; ++k) {
        ssize_t n = recv(udp_fd_, datagram.data(), datagram.size(), MSG_DONTWAIT);
        if (n < 0) break;  // nothing more queued
        if (static_cast<size_t>(n) > options_.max_message_bytes) {
          metrics_.messages.WithLabels({"udp", "dropped"}).Inc();
          continue;
        }
        frames.append(datagram.data(), static_cast<size_t>(n));
        ends.push_back(frames.size());
      }
      if (!ends.empty()) Write(frames, ends, "udp", /*wait=*/false);
    }
  }

  // Parses and writes a batch of frames. With `wait`, a write the store refuses for now
  // (not ready, rate limit, full head, WAL failure) is retried until it goes or the
  // receiver stops; without, it is dropped and counted.
  void Write(std::string_view frames, const std::vector<size_t>& ends, std::string_view transport,
             bool wait) {
    const int64_t now = UnixNowMs() * 1'000'000;
    std::deque<std::string> strings;  // names and values the columns view
    std::vector<Message> messages(ends.size());
    std::vector<std::string> errors(ends.size());
    std::map<std::pair<std::string_view, std::string_view>, size_t> stream_of;
    std::vector<logs::IngestStream> streams;
    std::vector<std::vector<colstore::Column>> columns(ends.size());
    uint64_t invalid = 0;
    for (size_t i = 0; i < ends.size(); ++i) {
      size_t begin = i == 0 ? 0 : ends[i - 1];
      std::string_view raw = frames.substr(begin, ends[i] - begin);
      Message& m = messages[i];
      Status s = ParseMessage(raw, now, m);
      std::vector<colstore::Column>& cols = columns[i];
      if (!s.ok()) {
        ++invalid;
        m = Message();
        m.message = raw;
        errors[i] = s.message();
      }
      cols.push_back({logs::kLineColumn, colstore::Value::String(m.message)});
      cols.push_back({"severity", colstore::Value::String(SeverityName(m.severity))});
      cols.push_back({"facility", colstore::Value::String(FacilityName(m.facility))});
      if (!m.procid.empty()) cols.push_back({"procid", colstore::Value::String(m.procid)});
      if (!m.msgid.empty()) cols.push_back({"msgid", colstore::Value::String(m.msgid)});
      if (!errors[i].empty()) cols.push_back({"parse_error", colstore::Value::String(errors[i])});
      for (const Message::Param& p : m.structured) {
        std::string_view name =
            strings.emplace_back(logs::LabelName(fmt::format("{}_{}", p.id, p.name)));
        bool seen = false;
        for (const colstore::Column& c : cols) seen |= c.name == name;
        if (!seen) cols.push_back({name, colstore::Value::String(p.value)});
      }
      auto [it, added] = stream_of.emplace(std::make_pair(m.hostname, m.app_name), streams.size());
      if (added) {  // labels in name order: app, host, job
        logs::IngestStream& st = streams.emplace_back();
        if (!m.app_name.empty()) st.labels.push_back({"app", m.app_name});
        if (!m.hostname.empty()) st.labels.push_back({"host", m.hostname});
        st.labels.push_back({"job", "syslog"});
      }
      streams[it->second].records.push_back({m.time_ns ? m.time_ns : now, cols});
    }
    if (invalid)
      metrics_.messages.WithLabels({transport, "invalid"}).Inc(static_cast<double>(invalid));
    const auto total = static_cast<double>(ends.size());
    while (true) {
      logs::Store* store = services_.Get<logs::Store>();
      Status s;
      logs::IngestResult result;
      if (store == nullptr) {
        s = Unavailable("the log store is not ready");
      } else {
        std::vector<logs::IngestStream> attempt = streams;  // Ingest trims what it refuses
        s = store->Ingest(attempt, result);
      }
      if (s.ok()) {
        metrics_.messages.WithLabels({transport, "stored"})
            .Inc(static_cast<double>(result.accepted));
        if (result.rejected)
          metrics_.messages.WithLabels({transport, "refused"})
              .Inc(static_cast<double>(result.rejected));
        return;
      }
      if (!wait || stopping_) {
        metrics_.messages.WithLabels({transport, "dropped"}).Inc(total);
        return;
      }
      std::this_thread::sleep_for(result.retry_after_s > 0 ? std::chrono::milliseconds(1000)
                                                           : kRetryPause);
    }
  }

  const Options options_;
  const Services& services_;
  Metrics metrics_;
  int tcp_fd_ = -1;
  int udp_fd_ = -1;
  int tcp_port_ = 0;
  int udp_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::thread udp_thread_;
  std::mutex mu_;
  std::list<Connection> connections_;  // list: a connection's thread holds its element
};

}  // namespace

Result<std::unique_ptr<Receiver>> Receiver::Start(const Options& options, const Services& services,
                                                  selfmon::Registry& registry) {
  if (options.max_message_bytes == 0)
    return InvalidArgument("syslog: max_message_bytes must be positive");
  auto receiver = std::make_unique<ReceiverImpl>(options, services, registry);
  PHAROS_RETURN_IF_ERROR(receiver->Init());
  return std::unique_ptr<Receiver>(std::move(receiver));
}

}  // namespace pharos::syslog
