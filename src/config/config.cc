#include "config/config.h"

#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "common/strings.h"

namespace pharos::config {
namespace {

using Setter = std::function<Status(std::string_view, Config&)>;
using Getter = std::function<std::string(const Config&)>;

struct Field {
  std::string_view key;
  std::string_view type;
  std::string_view help;
  Setter set;
  Getter get;
};

template <typename Access>
Field StringField(std::string_view key, std::string_view help, Access access,
                  std::function<Status(std::string_view)> check = nullptr) {
  return {key, "string", help,
          [access, check](std::string_view v, Config& c) -> Status {
            if (check) PHAROS_RETURN_IF_ERROR(check(v));
            access(c) = std::string(v);
            return Status::Ok();
          },
          [access](const Config& c) { return access(const_cast<Config&>(c)); }};
}

template <typename Access>
Field BoolField(std::string_view key, std::string_view help, Access access) {
  return {key, "bool", help,
          [access](std::string_view v, Config& c) -> Status {
            if (v == "true") {
              access(c) = true;
            } else if (v == "false") {
              access(c) = false;
            } else {
              return InvalidArgument(fmt::format("expected true or false, got \"{}\"", v));
            }
            return Status::Ok();
          },
          [access](const Config& c) -> std::string {
            return access(const_cast<Config&>(c)) ? "true" : "false";
          }};
}

template <typename Access>
Field IntField(std::string_view key, std::string_view help, Access access, int64_t min,
               int64_t max) {
  return {key, "integer", help,
          [access, min, max](std::string_view v, Config& c) -> Status {
            int64_t n = 0;
            bool negative = !v.empty() && v[0] == '-';
            std::string_view digits = negative ? v.substr(1) : v;
            if (digits.empty() || digits.size() > 18 ||
                !std::all_of(digits.begin(), digits.end(),
                             [](char ch) { return ch >= '0' && ch <= '9'; })) {
              return InvalidArgument(fmt::format("expected an integer, got \"{}\"", v));
            }
            for (char ch : digits) n = n * 10 + (ch - '0');
            if (negative) n = -n;
            if (n < min || n > max) {
              return InvalidArgument(fmt::format("{} is out of range [{}, {}]", n, min, max));
            }
            access(c) = static_cast<std::remove_reference_t<decltype(access(c))>>(n);
            return Status::Ok();
          },
          [access](const Config& c) { return std::to_string(access(const_cast<Config&>(c))); }};
}

template <typename Access>
Field BytesField(std::string_view key, std::string_view help, Access access, uint64_t min,
                 uint64_t max) {
  return {key, "bytes", help,
          [access, min, max](std::string_view v, Config& c) -> Status {
            Result<uint64_t> n = ParseByteSize(v);
            if (!n.ok()) return n.status();
            if (*n < min || *n > max) {
              return InvalidArgument(fmt::format("{} is out of range [{}, {}] bytes", v, min, max));
            }
            access(c) = *n;
            return Status::Ok();
          },
          [access](const Config& c) { return std::to_string(access(const_cast<Config&>(c))); }};
}

template <typename Access>
Field DurationField(std::string_view key, std::string_view help, Access access, Duration min,
                    Duration max) {
  return {key, "duration", help,
          [access, min, max](std::string_view v, Config& c) -> Status {
            Result<Duration> d = ParseDuration(v);
            if (!d.ok()) return d.status();
            if (*d < min || *d > max) {
              return InvalidArgument(fmt::format("{} is out of range [{}, {}]", v,
                                                 FormatDuration(min), FormatDuration(max)));
            }
            access(c) = *d;
            return Status::Ok();
          },
          [access](const Config& c) { return FormatDuration(access(const_cast<Config&>(c))); }};
}

Status CheckListen(std::string_view v) {
  std::string host;
  uint16_t port;
  return ParseHostPort(v, host, port);
}

// A listener that "" turns off.
Status CheckOptionalListen(std::string_view v) { return v.empty() ? Status::Ok() : CheckListen(v); }

const std::vector<Field>& Fields() {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  static const std::vector<Field> fields = {
      DurationField(
          "global.scrape_interval", "how often targets are scraped by default",
          [](Config& c) -> Duration& { return c.global.scrape_interval; }, milliseconds(100),
          hours(24)),
      DurationField(
          "global.scrape_timeout", "how long a scrape may take by default",
          [](Config& c) -> Duration& { return c.global.scrape_timeout; }, milliseconds(10),
          hours(1)),
      BoolField("global.scrape_self", "scrape Pharos's own metrics as job \"pharos\"",
                [](Config& c) -> bool& { return c.global.scrape_self; }),
      DurationField(
          "global.self_scrape_interval", "how often Pharos scrapes itself",
          [](Config& c) -> Duration& { return c.global.self_scrape_interval; }, milliseconds(100),
          hours(24)),
      DurationField(
          "global.evaluation_interval", "how often rule groups are evaluated by default",
          [](Config& c) -> Duration& { return c.global.evaluation_interval; }, seconds(1),
          hours(24)),
      StringField("global.external_url", "Pharos's URL for links in notifications",
                  [](Config& c) -> std::string& { return c.global.external_url; }),
      StringField(
          "server.listen", "address of the HTTP listener, HOST:PORT (port 0 picks one)",
          [](Config& c) -> std::string& { return c.server.listen; }, CheckListen),
      BoolField("server.insecure",
                "allow a non-loopback listener without API tokens (not recommended)",
                [](Config& c) -> bool& { return c.server.insecure; }),
      IntField(
          "server.threads", "I/O threads; 0 means one per core",
          [](Config& c) -> int& { return c.server.threads; }, 0, 256),
      IntField(
          "server.handler_threads",
          "threads for writes (remote_write, OTLP, import); 0 means one per core (2 at least)",
          [](Config& c) -> int& { return c.server.handler_threads; }, 0, 1024),
      IntField(
          "server.query_threads",
          "threads for queries and other blocking reads, at a lower CPU priority than "
          "writes; more queries wait their turn; 0 means one per core (2 at least)",
          [](Config& c) -> int& { return c.server.query_threads; }, 0, 1024),
      IntField(
          "server.control_threads",
          "threads for silences, alerts and incidents, which wait on meta.db: a stalled "
          "meta store holds these, never writes or queries; 0 means one per core (2 at least)",
          [](Config& c) -> int& { return c.server.control_threads; }, 0, 1024),
      BytesField(
          "server.max_body_bytes", "largest request body accepted as sent (413 above)",
          [](Config& c) -> uint64_t& { return c.server.max_body_bytes; }, 1024, 4ULL << 30),
      BytesField(
          "server.max_decompressed_bytes",
          "largest request body after gzip/deflate/snappy decoding (413 above)",
          [](Config& c) -> uint64_t& { return c.server.max_decompressed_bytes; }, 1024,
          16ULL << 30),
      BytesField(
          "server.max_header_bytes", "largest request line plus headers (431 above)",
          [](Config& c) -> uint64_t& { return c.server.max_header_bytes; }, 1024, 1ULL << 20),
      DurationField(
          "server.request_timeout", "time allowed to receive one whole request",
          [](Config& c) -> Duration& { return c.server.request_timeout; }, milliseconds(100),
          hours(1)),
      DurationField(
          "server.idle_timeout", "keep-alive connections idle longer are closed",
          [](Config& c) -> Duration& { return c.server.idle_timeout; }, milliseconds(100),
          hours(24)),
      DurationField(
          "server.shutdown_timeout", "on SIGTERM, how long in-flight requests may take to finish",
          [](Config& c) -> Duration& { return c.server.shutdown_timeout; }, milliseconds(0),
          hours(1)),
      IntField(
          "server.max_connections", "open connections above this are refused",
          [](Config& c) -> uint32_t& { return c.server.max_connections; }, 1, 1000000),
      StringField("server.tls.cert_file", "PEM certificate chain; enables TLS with key_file",
                  [](Config& c) -> std::string& { return c.server.tls.cert_file; }),
      StringField("server.tls.key_file", "PEM private key",
                  [](Config& c) -> std::string& { return c.server.tls.key_file; }),
      StringField(
          "otlp.listen",
          "dedicated OTLP/HTTP listener, HOST:PORT (\"\" turns it off; /v1/metrics is "
          "also on server.listen)",
          [](Config& c) -> std::string& { return c.otlp.listen; }, CheckOptionalListen),
      StringField(
          "otlp.grpc_listen",
          "OTLP/gRPC listener, HOST:PORT (\"\" turns it off); uses server.tls and auth.tokens",
          [](Config& c) -> std::string& { return c.otlp.grpc_listen; }, CheckOptionalListen),
      BytesField(
          "otlp.grpc_max_message_bytes",
          "largest OTLP/gRPC request message after decompression (RESOURCE_EXHAUSTED above)",
          [](Config& c) -> uint64_t& { return c.otlp.grpc_max_message_bytes; }, 1024, 2ULL << 30),
      StringField(
          "syslog.tcp_listen",
          "syslog listener over TCP, HOST:PORT (\"\" turns it off; octet counting or one "
          "message per line); no credentials, so a non-loopback address needs --insecure",
          [](Config& c) -> std::string& { return c.syslog.tcp_listen; }, CheckOptionalListen),
      StringField(
          "syslog.udp_listen", "syslog listener over UDP, HOST:PORT (\"\" turns it off)",
          [](Config& c) -> std::string& { return c.syslog.udp_listen; }, CheckOptionalListen),
      BytesField(
          "syslog.max_message_bytes",
          "longest syslog message (a longer TCP frame closes its connection; a longer "
          "datagram is dropped)",
          [](Config& c) -> uint64_t& { return c.syslog.max_message_bytes; }, 480, 16ULL << 20),
      {"log.level", "string", "debug, info, warn or error",
       [](std::string_view v, Config& c) -> Status {
         Result<LogLevel> level = ParseLogLevel(v);
         if (!level.ok()) return level.status();
         c.log.level = *level;
         return Status::Ok();
       },
       [](const Config& c) { return std::string(LogLevelName(c.log.level)); }},
      BytesField(
          "logs.max_line_size", "longest log line a push may carry (Loki's max_line_size)",
          [](Config& c) -> uint64_t& { return c.logs.max_line_size; }, 1, 64ULL << 20),
      BytesField(
          "logs.ingestion_rate",
          "bytes per second of log lines accepted over time; pushes beyond get 429 with "
          "Retry-After (Loki's ingestion_rate_mb)",
          [](Config& c) -> uint64_t& { return c.logs.ingestion_rate; }, 1, 1ULL << 40),
      BytesField(
          "logs.ingestion_burst",
          "bytes a burst may carry above the rate (ingestion_burst_size_mb)",
          [](Config& c) -> uint64_t& { return c.logs.ingestion_burst; }, 1, 1ULL << 40),
      BytesField(
          "logs.max_query_bytes_read",
          "line bytes one LogQL query may read before it is refused (max_query_bytes_read; 0: "
          "no limit)",
          [](Config& c) -> uint64_t& { return c.logs.max_query_bytes_read; }, 0, 1ULL << 50),
      DurationField(
          "logs.maintenance_interval",
          "how often the log store cuts an old head, merges segments and applies retention "
          "(a full head is cut at once)",
          [](Config& c) -> Duration& { return c.logs.maintenance_interval; }, milliseconds(10),
          hours(1)),
      BoolField("logs.discover_log_levels",
                "give each line without a level label the structured metadata detected_level "
                "(trace, debug, info, warn, error, critical, fatal) from a level field or word, "
                "as Loki 3's discover_log_levels",
                [](Config& c) -> bool& { return c.logs.discover_log_levels; }),
      DurationField(
          "logs.reject_old_samples_max_age",
          "log lines older than this are refused (0 accepts any age)",
          [](Config& c) -> Duration& { return c.logs.reject_old_samples_max_age; }, milliseconds(0),
          hours(24 * 365 * 10)),
      DurationField(
          "logs.creation_grace_period", "log lines further ahead of the clock are refused",
          [](Config& c) -> Duration& { return c.logs.creation_grace_period; }, milliseconds(0),
          hours(24 * 365)),
      IntField(
          "logs.max_label_names_per_series", "labels a log stream may have",
          [](Config& c) -> uint32_t& { return c.logs.max_label_names_per_series; }, 1, 1024),
      BytesField(
          "logs.head_max_bytes",
          "log lines held in memory (and the WAL) before they are cut into a segment",
          [](Config& c) -> uint64_t& { return c.logs.head_max_bytes; }, 64 << 10, 4ULL << 30),
      IntField(
          "logs.max_streams", "log streams the store holds in its head at once",
          [](Config& c) -> uint64_t& { return c.logs.max_streams; }, 1, 100'000'000),
      IntField(
          "traces.max_attributes_per_span", "attributes a span may have (more: it is refused)",
          [](Config& c) -> uint32_t& { return c.traces.max_attributes_per_span; }, 1, 4096),
      BytesField(
          "traces.max_attribute_bytes",
          "bytes of one span attribute, key and value (more: the span is refused)",
          [](Config& c) -> uint64_t& { return c.traces.max_attribute_bytes; }, 64, 16ULL << 20),
      BytesField(
          "traces.max_span_bytes", "bytes one span stores, all fields together",
          [](Config& c) -> uint64_t& { return c.traces.max_span_bytes; }, 1024, 64ULL << 20),
      IntField(
          "traces.max_streams",
          "span streams (service, span name and kind) the trace store holds in its head",
          [](Config& c) -> uint64_t& { return c.traces.max_streams; }, 1, 100'000'000),
      BytesField(
          "traces.head_max_bytes",
          "spans held in memory (and the WAL) before they are cut into a segment",
          [](Config& c) -> uint64_t& { return c.traces.head_max_bytes; }, 64 << 10, 4ULL << 30),
      DurationField(
          "traces.maintenance_interval",
          "how often the trace store cuts an old head, merges segments and applies retention",
          [](Config& c) -> Duration& { return c.traces.maintenance_interval; }, milliseconds(10),
          hours(1)),
      DurationField(
          "traces.metrics_interval",
          "how often span metrics and the service graph are written to the metrics store "
          "(0 turns them off)",
          [](Config& c) -> Duration& { return c.traces.metrics_interval; }, milliseconds(0),
          hours(1)),
      IntField(
          "traces.metrics_max_series",
          "span metric series (service, span name, kind, status) kept; spans of more are "
          "not counted",
          [](Config& c) -> uint64_t& { return c.traces.metrics_max_series; }, 1, 10'000'000),
      DurationField(
          "traces.service_graph_wait",
          "how long a client or server span waits for its other half to make a service graph "
          "edge",
          [](Config& c) -> Duration& { return c.traces.service_graph_wait; }, milliseconds(1),
          hours(1)),
      IntField(
          "traces.service_graph_max_pending",
          "client and server spans waiting for their other half at once",
          [](Config& c) -> uint64_t& { return c.traces.service_graph_max_pending; }, 1,
          100'000'000),
      StringField(
          "storage.data_dir", "directory that holds all of Pharos's data",
          [](Config& c) -> std::string& { return c.storage.data_dir; },
          [](std::string_view v) -> Status {
            if (v.empty()) return InvalidArgument("must not be empty");
            return Status::Ok();
          }),
      DurationField(
          "storage.out_of_order_window",
          "samples this much older than a series' newest are still accepted (0 "
          "refuses any out-of-order sample)",
          [](Config& c) -> Duration& { return c.storage.out_of_order_window; }, milliseconds(0),
          hours(24 * 7)),
      DurationField(
          "storage.future_limit",
          "samples further ahead of the server's clock are refused (too_far_in_future)",
          [](Config& c) -> Duration& { return c.storage.future_limit; }, milliseconds(0),
          hours(24 * 365)),
      DurationField(
          "storage.block_duration",
          "span of the blocks the head is cut into (once it holds 1.5 times as much)",
          [](Config& c) -> Duration& { return c.storage.block_duration; }, seconds(1), hours(24)),
      DurationField(
          "storage.retention", "blocks older than this are deleted (0 keeps all)",
          [](Config& c) -> Duration& { return c.storage.retention; }, milliseconds(0),
          hours(24 * 365 * 100)),
      BytesField(
          "storage.retention_size",
          "oldest blocks are deleted while all blocks are larger (0: no limit)",
          [](Config& c) -> uint64_t& { return c.storage.retention_bytes; }, 0, 1ULL << 50),
      IntField(
          "storage.read_threads",
          "threads that decode a large select's series ahead of the query evaluating them, on "
          "the other cores; 0 means one per core, -1 decodes on the query's own thread",
          [](Config& c) -> int& { return c.storage.read_threads; }, -1, 1024),
      DurationField(
          "storage.maintenance_interval",
          "how often blocks are cut from the head, merged and expired",
          [](Config& c) -> Duration& { return c.storage.maintenance_interval; }, milliseconds(100),
          hours(24)),
      DurationField(
          "storage.history_retention",
          "alert transitions and notifications older than this are deleted from meta.db",
          [](Config& c) -> Duration& { return c.storage.history_retention; }, hours(1),
          hours(24 * 3650)),
      {"storage.wal.sync", "string",
       "interval: acknowledge once written to the OS, fdatasync every sync_interval; always: "
       "fdatasync before acknowledging",
       [](std::string_view v, Config& c) -> Status {
         if (v == "always") {
           c.storage.wal.sync_always = true;
         } else if (v == "interval") {
           c.storage.wal.sync_always = false;
         } else {
           return InvalidArgument(fmt::format("expected always or interval, got \"{}\"", v));
         }
         return Status::Ok();
       },
       [](const Config& c) {
         return std::string(c.storage.wal.sync_always ? "always" : "interval");
       }},
      DurationField(
          "storage.wal.sync_interval", "how often the WAL is synced under sync: interval",
          [](Config& c) -> Duration& { return c.storage.wal.sync_interval; }, milliseconds(1),
          hours(1)),
      BytesField(
          "storage.wal.segment_bytes", "size at which a WAL segment is closed",
          [](Config& c) -> uint64_t& { return c.storage.wal.segment_bytes; }, 1ULL << 20,
          1ULL << 30),
      IntField(
          "limits.max_series", "active series; new series above are refused",
          [](Config& c) -> uint64_t& { return c.limits.max_series; }, 1, 1'000'000'000'000LL),
      IntField(
          "limits.max_series_per_metric", "active series of one metric name",
          [](Config& c) -> uint64_t& { return c.limits.max_series_per_metric; }, 1,
          1'000'000'000'000LL),
      IntField(
          "limits.max_labels_per_series", "labels of one series, __name__ included",
          [](Config& c) -> uint32_t& { return c.limits.max_labels_per_series; }, 1, 1024),
      IntField(
          "limits.max_label_name_bytes", "length of a label name",
          [](Config& c) -> uint32_t& { return c.limits.max_label_name_bytes; }, 1, 65536),
      IntField(
          "limits.max_label_value_bytes", "length of a label value",
          [](Config& c) -> uint32_t& { return c.limits.max_label_value_bytes; }, 1, 1 << 20),
      IntField(
          "limits.max_concurrent_writes",
          "write requests handled at once; more get 429 with Retry-After",
          [](Config& c) -> uint32_t& { return c.limits.max_concurrent_writes; }, 1, 65536),
      DurationField(
          "query.timeout",
          "a query running longer is stopped (the timeout= parameter can "
          "only shorten it)",
          [](Config& c) -> Duration& { return c.query.timeout; }, milliseconds(1), hours(24)),
      IntField(
          "query.max_samples", "samples one query may hold in memory at once",
          [](Config& c) -> uint64_t& { return c.query.max_samples; }, 1, 1'000'000'000'000LL),
      IntField(
          "query.max_series", "series one selector of a query may fetch (0: no limit)",
          [](Config& c) -> uint64_t& { return c.query.max_series; }, 0, 1'000'000'000'000LL),
      IntField(
          "query.max_concurrency", "queries evaluated at once; more wait in line",
          [](Config& c) -> uint32_t& { return c.query.max_concurrency; }, 1, 4096),
      DurationField(
          "query.lookback_delta", "how far back an instant selector looks for a sample",
          [](Config& c) -> Duration& { return c.query.lookback_delta; }, milliseconds(1),
          hours(24 * 7)),
      IntField(
          "query.max_points_per_series", "points per series a range query may return",
          [](Config& c) -> uint32_t& { return c.query.max_points_per_series; }, 1, 10'000'000),
      DurationField(
          "query.log_slow", "queries slower than this are logged with their text (0: never)",
          [](Config& c) -> Duration& { return c.query.log_slow; }, milliseconds(0), hours(24)),
      BoolField("query.prometheus2_windows",
                "Prometheus 2.x selection windows: range selectors and the lookback delta "
                "include a sample exactly at their left edge (Prometheus 3 excludes it)",
                [](Config& c) -> bool& { return c.query.prometheus2_windows; }),
      DurationField(
          "rules.resend_delay", "how often firing alerts are sent again to the notifier",
          [](Config& c) -> Duration& { return c.rules.resend_delay; }, seconds(1), hours(24)),
      DurationField(
          "rules.outage_tolerance",
          "how long Pharos may be down and still restore the `for` state of alerts",
          [](Config& c) -> Duration& { return c.rules.outage_tolerance; }, seconds(1),
          hours(24 * 7)),
      DurationField(
          "rules.for_grace_period",
          "after a restart, an alert whose `for` is longer than this waits at least this long",
          [](Config& c) -> Duration& { return c.rules.for_grace_period; }, seconds(0), hours(24)),
      IntField(
          "rules.concurrency", "rule groups evaluated at once (0: one per core)",
          [](Config& c) -> int& { return c.rules.concurrency; }, 0, 1024),
      DurationField(
          "incidents.p0.respond_within", "P0: acknowledge within",
          [](Config& c) -> Duration& { return c.incidents.respond_within[0]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p0.resolve_within", "P0: resolve within",
          [](Config& c) -> Duration& { return c.incidents.resolve_within[0]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p1.respond_within", "P1: acknowledge within",
          [](Config& c) -> Duration& { return c.incidents.respond_within[1]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p1.resolve_within", "P1: resolve within",
          [](Config& c) -> Duration& { return c.incidents.resolve_within[1]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p2.respond_within", "P2: acknowledge within",
          [](Config& c) -> Duration& { return c.incidents.respond_within[2]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p2.resolve_within", "P2: resolve within",
          [](Config& c) -> Duration& { return c.incidents.resolve_within[2]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p3.respond_within", "P3: acknowledge within",
          [](Config& c) -> Duration& { return c.incidents.respond_within[3]; }, seconds(1),
          hours(24 * 30)),
      DurationField(
          "incidents.p3.resolve_within", "P3: resolve within",
          [](Config& c) -> Duration& { return c.incidents.resolve_within[3]; }, seconds(1),
          hours(24 * 30)),
      BoolField("incidents.open_from_alerts",
                "firing alerts open incidents (or join the open one of their group)",
                [](Config& c) -> bool& { return c.incidents.open_from_alerts; }),
      BoolField("incidents.auto_resolve",
                "an incident resolves itself when every linked alert has resolved",
                [](Config& c) -> bool& { return c.incidents.auto_resolve; }),
      StringField("incidents.default_escalation_policy",
                  "the escalation policy of incidents that name none",
                  [](Config& c) -> std::string& { return c.incidents.default_escalation_policy; }),
  };
  return fields;
}

const Field* FindField(std::string_view key) {
  for (const Field& f : Fields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

// True when `prefix` names a section: some key starts with "prefix.".
bool IsSection(std::string_view prefix) {
  if (prefix == "auth" || prefix == "global" || prefix == "incidents") return true;
  for (const Field& f : Fields()) {
    if (f.key.size() > prefix.size() && f.key.substr(0, prefix.size()) == prefix &&
        f.key[prefix.size()] == '.') {
      return true;
    }
  }
  return false;
}

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string_view NodeKind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "an undefined value";
  }
}

class YamlLoader {
 public:
  YamlLoader(std::string_view source, Config& config) : source_(source), config_(config) {}

  Status LoadRoot(const YAML::Node& root) {
    if (root.IsNull()) return Status::Ok();  // an empty file keeps the defaults
    if (!root.IsMap())
      return Error(root, "", fmt::format("expected a map, got {}", NodeKind(root)));
    return LoadMap(root, "");
  }

 private:
  Status Error(const YAML::Node& node, std::string_view key, std::string_view reason) {
    int line = node.Mark().line + 1;
    if (key.empty()) return InvalidArgument(fmt::format("{}:{}: {}", source_, line, reason));
    return InvalidArgument(fmt::format("{}:{}: {}: {}", source_, line, key, reason));
  }

  Status LoadMap(const YAML::Node& map, const std::string& prefix) {
    std::vector<std::string> seen;
    for (const auto& kv : map) {
      std::string name = kv.first.as<std::string>();
      std::string key = prefix.empty() ? name : prefix + "." + name;
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
        return Error(kv.first, key, "duplicate key");
      }
      seen.push_back(name);
      const YAML::Node& value = kv.second;
      if (key == "auth.tokens") {
        PHAROS_RETURN_IF_ERROR(LoadTokens(value, kv.first));
        continue;
      }
      if (key == "scrape_configs") {
        PHAROS_RETURN_IF_ERROR(LoadScrapeConfigs(value, kv.first));
        continue;
      }
      if (key == "rule_files") {
        PHAROS_RETURN_IF_ERROR(LoadStringList(value, kv.first, key, config_.rule_files));
        continue;
      }
      if (key == "log_rule_files") {
        PHAROS_RETURN_IF_ERROR(LoadStringList(value, kv.first, key, config_.log_rule_files));
        continue;
      }
      if (key == "alerting") {
        PHAROS_RETURN_IF_ERROR(LoadAlerting(value, kv.first));
        continue;
      }
      if (key == "traces.tail_sampling") {  // the Collector's keys, checked by traces
        if (value.IsNull()) continue;
        if (!value.IsMap())
          return Error(kv.first, key, fmt::format("expected a map, got {}", NodeKind(value)));
        YAML::Emitter text;
        text << value;
        config_.traces.tail_sampling_yaml = text.c_str();
        continue;
      }
      if (key == "global.external_labels") {
        if (!value.IsMap() && !value.IsNull()) {
          return Error(kv.first, key, fmt::format("expected a map, got {}", NodeKind(value)));
        }
        config_.global.external_labels.clear();
        for (const auto& l : value) {
          config_.global.external_labels.emplace_back(l.first.as<std::string>(),
                                                      l.second.as<std::string>());
        }
        continue;
      }
      if (key == "incidents.severity_levels") {
        if (!value.IsMap()) {
          return Error(kv.first, key, fmt::format("expected a map, got {}", NodeKind(value)));
        }
        config_.incidents.severity_levels.clear();
        for (const auto& l : value) {
          std::string level = l.second.as<std::string>();
          if (level.size() != 2 || (level[0] != 'P' && level[0] != 'p') || level[1] < '0' ||
              level[1] > '3') {
            return Error(l.second, key + "." + l.first.as<std::string>(),
                         fmt::format("expected P0, P1, P2 or P3, got \"{}\"", level));
          }
          config_.incidents.severity_levels.emplace_back(l.first.as<std::string>(), level[1] - '0');
        }
        continue;
      }
      if (key == "incidents.escalation_policies") {
        PHAROS_RETURN_IF_ERROR(LoadEscalationPolicies(value, kv.first));
        continue;
      }
      if (const Field* f = FindField(key)) {
        if (!value.IsScalar()) {
          return Error(kv.first, key,
                       fmt::format("expected a {}, got {}", f->type, NodeKind(value)));
        }
        Status s = f->set(value.Scalar(), config_);
        if (!s.ok()) return Error(value, key, s.message());
        continue;
      }
      if (IsSection(key)) {
        if (value.IsNull()) continue;
        if (!value.IsMap()) {
          return Error(kv.first, key, fmt::format("expected a map, got {}", NodeKind(value)));
        }
        PHAROS_RETURN_IF_ERROR(LoadMap(value, key));
        continue;
      }
      return Error(kv.first, key, "unknown key");
    }
    return Status::Ok();
  }

  Status LoadStringList(const YAML::Node& value, const YAML::Node& at, const std::string& key,
                        std::vector<std::string>& out) {
    if (value.IsNull()) return Status::Ok();
    if (!value.IsSequence()) {
      return Error(at, key, fmt::format("expected a list, got {}", NodeKind(value)));
    }
    out.clear();
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].IsScalar()) {
        return Error(value[i], fmt::format("{}[{}]", key, i), "expected a string");
      }
      out.push_back(value[i].Scalar());
    }
    return Status::Ok();
  }

  // Keeps the Alertmanager configuration as text; a copy with secrets hidden is rendered.
  Status LoadAlerting(const YAML::Node& value, const YAML::Node& at) {
    if (value.IsNull()) return Status::Ok();
    if (!value.IsMap()) {
      return Error(at, "alerting", fmt::format("expected a map, got {}", NodeKind(value)));
    }
    YAML::Emitter plain;
    plain << value;
    config_.alerting.yaml = plain.c_str();
    YAML::Node redacted = YAML::Clone(value);
    Redact(redacted);
    YAML::Emitter hidden;
    hidden << redacted;
    config_.alerting.redacted_yaml = hidden.c_str();
    return Status::Ok();
  }

  static void Redact(YAML::Node node) {
    if (node.IsMap()) {
      for (auto kv : node) {
        std::string k = kv.first.as<std::string>();
        if (kv.second.IsScalar() &&
            (k.find("password") != std::string::npos || k.find("secret") != std::string::npos ||
             k == "credentials" || k == "bearer_token" || k.find("api_key") != std::string::npos ||
             k.find("token") != std::string::npos)) {
          kv.second = "<secret>";
        } else {
          Redact(kv.second);
        }
      }
    } else if (node.IsSequence()) {
      for (auto item : node) Redact(item);
    }
  }

  Status LoadEscalationPolicies(const YAML::Node& value, const YAML::Node& at) {
    const std::string key = "incidents.escalation_policies";
    if (!value.IsSequence()) {
      return Error(at, key, fmt::format("expected a list, got {}", NodeKind(value)));
    }
    std::vector<EscalationPolicyConfig> policies;
    for (size_t i = 0; i < value.size(); ++i) {
      const YAML::Node& p = value[i];
      std::string base = fmt::format("{}[{}]", key, i);
      if (!p.IsMap() || !p["name"] || !p["name"].IsScalar()) {
        return Error(p, base, "expected a map with a name and steps");
      }
      EscalationPolicyConfig policy;
      policy.name = p["name"].Scalar();
      for (const auto& kv : p) {
        std::string k = kv.first.as<std::string>();
        if (k != "name" && k != "steps") return Error(kv.first, base + "." + k, "unknown key");
      }
      const YAML::Node& steps = p["steps"];
      if (!steps || !steps.IsSequence() || steps.size() == 0) {
        return Error(p, base + ".steps", "expected a non-empty list of steps");
      }
      for (size_t j = 0; j < steps.size(); ++j) {
        std::string sb = fmt::format("{}.steps[{}]", base, j);
        const YAML::Node& st = steps[j];
        if (!st.IsMap() || !st["receiver"] || !st["receiver"].IsScalar()) {
          return Error(st, sb, "expected a map with a receiver and an optional delay");
        }
        EscalationStepConfig step;
        step.receiver = st["receiver"].Scalar();
        for (const auto& kv : st) {
          std::string k = kv.first.as<std::string>();
          if (k == "delay") {
            Result<Duration> d = ParseDuration(kv.second.as<std::string>());
            if (!d.ok()) return Error(kv.second, sb + ".delay", d.status().message());
            step.delay = *d;
          } else if (k != "receiver") {
            return Error(kv.first, sb + "." + k, "unknown key");
          }
        }
        policy.steps.push_back(std::move(step));
      }
      for (const auto& other : policies) {
        if (other.name == policy.name) {
          return Error(p, base + ".name",
                       fmt::format("policy \"{}\" is defined twice", policy.name));
        }
      }
      policies.push_back(std::move(policy));
    }
    config_.incidents.escalation_policies = std::move(policies);
    return Status::Ok();
  }

  // ---- scrape_configs ----

  Status ExpectScalar(const YAML::Node& v, const std::string& key, std::string& out) {
    if (!v.IsScalar()) return Error(v, key, fmt::format("expected a string, got {}", NodeKind(v)));
    out = v.Scalar();
    return Status::Ok();
  }

  Status ExpectStringList(const YAML::Node& v, const std::string& key,
                          std::vector<std::string>& out) {
    if (v.IsNull()) return Status::Ok();
    if (!v.IsSequence()) return Error(v, key, fmt::format("expected a list, got {}", NodeKind(v)));
    for (size_t i = 0; i < v.size(); ++i) {
      std::string item;
      PHAROS_RETURN_IF_ERROR(ExpectScalar(v[i], fmt::format("{}[{}]", key, i), item));
      out.push_back(std::move(item));
    }
    return Status::Ok();
  }

  Status ExpectStringMap(const YAML::Node& v, const std::string& key,
                         std::vector<std::pair<std::string, std::string>>& out, bool label_names) {
    if (v.IsNull()) return Status::Ok();
    if (!v.IsMap()) return Error(v, key, fmt::format("expected a map, got {}", NodeKind(v)));
    for (const auto& kv : v) {
      std::string name = kv.first.as<std::string>();
      std::string value;
      if (kv.second.IsSequence() && !label_names && kv.second.size() > 0) {
        // Prometheus's params map to lists of values.
        for (size_t i = 0; i < kv.second.size(); ++i) {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second[i], key + "." + name, value));
          out.emplace_back(name, value);
        }
        continue;
      }
      PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key + "." + name, value));
      if (label_names && !IsValidLabelName(name)) {
        return Error(kv.first, key + "." + name, "invalid label name");
      }
      out.emplace_back(name, value);
    }
    return Status::Ok();
  }

  Status LoadDuration(const YAML::Node& v, const std::string& key, Duration& out) {
    std::string text;
    PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, text));
    Result<Duration> d = ParseDuration(text);
    if (!d.ok()) return Error(v, key, d.status().message());
    if (d->count() <= 0) return Error(v, key, "must be greater than 0");
    out = *d;
    return Status::Ok();
  }

  Status LoadBool(const YAML::Node& v, const std::string& key, bool& out) {
    std::string text;
    PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, text));
    if (text != "true" && text != "false") {
      return Error(v, key, fmt::format("expected true or false, got \"{}\"", text));
    }
    out = text == "true";
    return Status::Ok();
  }

  Status LoadRelabelConfigs(const YAML::Node& list, const std::string& base,
                            std::vector<RelabelConfig>& out) {
    if (list.IsNull()) return Status::Ok();
    if (!list.IsSequence())
      return Error(list, base, fmt::format("expected a list, got {}", NodeKind(list)));
    static const char* kActions[] = {"replace",  "keep",    "drop",      "labeldrop", "labelkeep",
                                     "labelmap", "hashmod", "lowercase", "uppercase"};
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& item = list[i];
      std::string at = fmt::format("{}[{}]", base, i);
      if (!item.IsMap())
        return Error(item, at, fmt::format("expected a map, got {}", NodeKind(item)));
      RelabelConfig rc;
      for (const auto& kv : item) {
        std::string name = kv.first.as<std::string>();
        std::string key = at + "." + name;
        if (name == "source_labels") {
          PHAROS_RETURN_IF_ERROR(ExpectStringList(kv.second, key, rc.source_labels));
        } else if (name == "separator") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, rc.separator));
        } else if (name == "regex") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, rc.regex));
        } else if (name == "target_label") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, rc.target_label));
        } else if (name == "replacement") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, rc.replacement));
        } else if (name == "modulus") {
          std::string text;
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, text));
          char* end = nullptr;
          rc.modulus = std::strtoull(text.c_str(), &end, 10);
          if (*end != '\0' || rc.modulus == 0)
            return Error(kv.second, key, "expected a positive integer");
        } else if (name == "action") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(kv.second, key, rc.action));
          rc.action = ToLower(rc.action);
          if (std::find(std::begin(kActions), std::end(kActions), rc.action) ==
              std::end(kActions)) {
            return Error(kv.second, key, fmt::format("unknown relabel action \"{}\"", rc.action));
          }
        } else {
          return Error(kv.first, key, "unknown key");
        }
      }
      if ((rc.action == "replace" || rc.action == "hashmod" || rc.action == "lowercase" ||
           rc.action == "uppercase") &&
          rc.target_label.empty()) {
        return Error(item, at + ".target_label", fmt::format("required for action {}", rc.action));
      }
      if (rc.action == "hashmod" && rc.modulus == 0) {
        return Error(item, at + ".modulus", "required for action hashmod");
      }
      out.push_back(std::move(rc));
    }
    return Status::Ok();
  }

  Status LoadScrapeConfigs(const YAML::Node& list, const YAML::Node& at) {
    if (list.IsNull()) return Status::Ok();
    if (!list.IsSequence()) {
      return Error(at, "scrape_configs", fmt::format("expected a list, got {}", NodeKind(list)));
    }
    std::vector<ScrapeConfig> configs;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& item = list[i];
      std::string base = fmt::format("scrape_configs[{}]", i);
      if (!item.IsMap())
        return Error(item, base, fmt::format("expected a map, got {}", NodeKind(item)));
      ScrapeConfig sc;
      for (const auto& kv : item) {
        std::string name = kv.first.as<std::string>();
        std::string key = base + "." + name;
        const YAML::Node& v = kv.second;
        if (name == "job_name") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, sc.job_name));
        } else if (name == "scrape_interval") {
          PHAROS_RETURN_IF_ERROR(LoadDuration(v, key, sc.scrape_interval));
        } else if (name == "scrape_timeout") {
          PHAROS_RETURN_IF_ERROR(LoadDuration(v, key, sc.scrape_timeout));
        } else if (name == "metrics_path") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, sc.metrics_path));
          if (sc.metrics_path.empty() || sc.metrics_path[0] != '/') {
            return Error(v, key, "must start with /");
          }
        } else if (name == "scheme") {
          PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, sc.scheme));
          if (sc.scheme != "http" && sc.scheme != "https") {
            return Error(v, key, fmt::format("scheme \"{}\" is not http or https", sc.scheme));
          }
        } else if (name == "params") {
          PHAROS_RETURN_IF_ERROR(ExpectStringMap(v, key, sc.params, false));
        } else if (name == "honor_labels") {
          PHAROS_RETURN_IF_ERROR(LoadBool(v, key, sc.honor_labels));
        } else if (name == "honor_timestamps") {
          PHAROS_RETURN_IF_ERROR(LoadBool(v, key, sc.honor_timestamps));
        } else if (name == "sample_limit") {
          std::string text;
          PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, text));
          char* end = nullptr;
          sc.sample_limit = std::strtoull(text.c_str(), &end, 10);
          if (*end != '\0') return Error(v, key, "expected a non-negative integer");
        } else if (name == "body_size_limit") {
          std::string text;
          PHAROS_RETURN_IF_ERROR(ExpectScalar(v, key, text));
          Result<uint64_t> n = ParseByteSize(text);
          if (!n.ok()) return Error(v, key, n.status().message());
          sc.body_size_limit = *n;
        } else if (name == "static_configs") {
          if (!v.IsSequence())
            return Error(v, key, fmt::format("expected a list, got {}", NodeKind(v)));
          for (size_t k = 0; k < v.size(); ++k) {
            std::string skey = fmt::format("{}[{}]", key, k);
            if (!v[k].IsMap())
              return Error(v[k], skey, fmt::format("expected a map, got {}", NodeKind(v[k])));
            StaticConfig st;
            for (const auto& sv : v[k]) {
              std::string sname = sv.first.as<std::string>();
              if (sname == "targets") {
                PHAROS_RETURN_IF_ERROR(ExpectStringList(sv.second, skey + ".targets", st.targets));
                for (size_t t = 0; t < st.targets.size(); ++t) {
                  std::string host;
                  uint16_t port;
                  Status hp = ParseHostPort(st.targets[t], host, port);
                  if (!hp.ok())
                    return Error(sv.second, fmt::format("{}.targets[{}]", skey, t), hp.message());
                }
              } else if (sname == "labels") {
                PHAROS_RETURN_IF_ERROR(
                    ExpectStringMap(sv.second, skey + ".labels", st.labels, true));
              } else {
                return Error(sv.first, skey + "." + sname, "unknown key");
              }
            }
            sc.static_configs.push_back(std::move(st));
          }
        } else if (name == "tls_config") {
          if (!v.IsMap()) return Error(v, key, fmt::format("expected a map, got {}", NodeKind(v)));
          for (const auto& tv : v) {
            std::string tname = tv.first.as<std::string>();
            std::string tkey = key + "." + tname;
            if (tname == "ca_file") {
              PHAROS_RETURN_IF_ERROR(ExpectScalar(tv.second, tkey, sc.tls_config.ca_file));
            } else if (tname == "cert_file") {
              PHAROS_RETURN_IF_ERROR(ExpectScalar(tv.second, tkey, sc.tls_config.cert_file));
            } else if (tname == "key_file") {
              PHAROS_RETURN_IF_ERROR(ExpectScalar(tv.second, tkey, sc.tls_config.key_file));
            } else if (tname == "server_name") {
              PHAROS_RETURN_IF_ERROR(ExpectScalar(tv.second, tkey, sc.tls_config.server_name));
            } else if (tname == "insecure_skip_verify") {
              PHAROS_RETURN_IF_ERROR(LoadBool(tv.second, tkey, sc.tls_config.insecure_skip_verify));
            } else {
              return Error(tv.first, tkey, "unknown key");
            }
          }
          if (sc.tls_config.cert_file.empty() != sc.tls_config.key_file.empty()) {
            return Error(v, key, "cert_file and key_file must be given together");
          }
        } else if (name == "relabel_configs") {
          PHAROS_RETURN_IF_ERROR(LoadRelabelConfigs(v, key, sc.relabel_configs));
        } else if (name == "metric_relabel_configs") {
          PHAROS_RETURN_IF_ERROR(LoadRelabelConfigs(v, key, sc.metric_relabel_configs));
        } else {
          return Error(kv.first, key, "unknown key");
        }
      }
      if (sc.job_name.empty()) return Error(item, base + ".job_name", "required");
      for (const ScrapeConfig& other : configs) {
        if (other.job_name == sc.job_name) {
          return Error(item, base + ".job_name",
                       fmt::format("duplicate job name \"{}\"", sc.job_name));
        }
      }
      configs.push_back(std::move(sc));
    }
    config_.scrape_configs = std::move(configs);
    return Status::Ok();
  }

  Status LoadTokens(const YAML::Node& list, const YAML::Node& at) {
    if (list.IsNull()) return Status::Ok();
    if (!list.IsSequence()) {
      return Error(at, "auth.tokens", fmt::format("expected a list, got {}", NodeKind(list)));
    }
    std::vector<TokenConfig> tokens;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node& item = list[i];
      std::string base = fmt::format("auth.tokens[{}]", i);
      if (!item.IsMap()) {
        return Error(item, base, fmt::format("expected a map, got {}", NodeKind(item)));
      }
      TokenConfig token;
      int secrets = 0;
      bool has_scopes = false;
      for (const auto& kv : item) {
        std::string name = kv.first.as<std::string>();
        std::string key = base + "." + name;
        const YAML::Node& v = kv.second;
        if (name == "scopes") {
          if (!v.IsSequence()) {
            return Error(kv.first, key, fmt::format("expected a list, got {}", NodeKind(v)));
          }
          has_scopes = true;
          for (const auto& s : v) {
            std::string scope = s.IsScalar() ? s.Scalar() : "";
            if (scope == "read") {
              token.scopes |= kScopeRead;
            } else if (scope == "write") {
              token.scopes |= kScopeWrite;
            } else if (scope == "admin") {
              token.scopes |= kScopeAdmin;
            } else {
              return Error(s, key,
                           fmt::format("unknown scope \"{}\" (want read, write or admin)", scope));
            }
          }
          continue;
        }
        if (!v.IsScalar()) {
          return Error(kv.first, key, fmt::format("expected a string, got {}", NodeKind(v)));
        }
        const std::string& text = v.Scalar();
        if (name == "name") {
          token.name = text;
        } else if (name == "token") {
          if (text.size() < 16) return Error(v, key, "too short (at least 16 characters)");
          token.sha256 = Sha256(text);
          ++secrets;
        } else if (name == "token_file") {
          std::ifstream in(text);
          if (!in) return Error(v, key, fmt::format("cannot read \"{}\"", text));
          std::stringstream ss;
          ss << in.rdbuf();
          std::string secret(Trim(ss.str()));
          if (secret.size() < 16) {
            return Error(
                v, key, fmt::format("token in \"{}\" is too short (at least 16 characters)", text));
          }
          token.sha256 = Sha256(secret);
          ++secrets;
        } else if (name == "token_sha256") {
          std::string lower = ToLower(text);
          if (lower.size() != 64 ||
              lower.find_first_not_of("0123456789abcdef") != std::string::npos) {
            return Error(v, key, "expected 64 hex digits (sha256sum of the token)");
          }
          token.sha256.clear();
          for (size_t k = 0; k < 64; k += 2) {
            token.sha256 += static_cast<char>(std::stoi(lower.substr(k, 2), nullptr, 16));
          }
          ++secrets;
        } else {
          return Error(kv.first, key, "unknown key");
        }
      }
      if (token.name.empty()) return Error(item, base + ".name", "required");
      if (secrets != 1) {
        return Error(item, base, "needs exactly one of token, token_file or token_sha256");
      }
      if (!has_scopes || token.scopes == 0) {
        return Error(item, base + ".scopes", "required: a list of read, write, admin");
      }
      tokens.push_back(std::move(token));
    }
    config_.auth.tokens = std::move(tokens);
    return Status::Ok();
  }

  std::string_view source_;
  Config& config_;
};

}  // namespace

Status LoadYaml(std::string_view text, std::string_view source, Config& config) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    YamlLoader loader(source, config);
    PHAROS_RETURN_IF_ERROR(loader.LoadRoot(root));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(fmt::format("{}:{}: invalid YAML: {}", source, e.mark.line + 1, e.msg));
  }
  return Validate(config);
}

Status LoadFile(const std::string& path, Config& config) {
  std::ifstream in(path);
  if (!in) return NotFound(fmt::format("cannot read config file \"{}\"", path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = std::filesystem::path(path).parent_path().string();
  config.config_dir = dir.empty() ? "." : dir;
  return LoadYaml(ss.str(), path, config);
}

Status ApplyOverride(std::string_view key, std::string_view value, Config& config) {
  const Field* f = FindField(key);
  if (!f) return InvalidArgument(fmt::format("{}: unknown key", key));
  Status s = f->set(value, config);
  if (!s.ok()) return s.WithContext(key);
  return Status::Ok();
}

Status ApplyEnvironment(char** environ, Config& config) {
  if (!environ) return Status::Ok();
  for (char** e = environ; *e; ++e) {
    std::string_view entry(*e);
    if (entry.substr(0, 7) != "PHAROS_") continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view name = entry.substr(0, eq);
    std::string_view value = entry.substr(eq + 1);
    // PHAROS_SERVER_MAX_BODY_BYTES -> server.max_body_bytes: match against the table,
    // since keys hold underscores themselves.
    std::string lower = ToLower(name.substr(7));
    const Field* match = nullptr;
    for (const Field& f : Fields()) {
      std::string flat(f.key);
      std::replace(flat.begin(), flat.end(), '.', '_');
      if (flat == lower) match = &f;
    }
    if (match) {
      Status s = match->set(value, config);
      if (!s.ok()) return s.WithContext(fmt::format("{} ({})", name, match->key));
      continue;
    }
    // A variable naming a section Pharos has (one of the table's, or one only the YAML file
    // sets) but no key of it is a typo: refused, naming it. Others (PHAROS_TOKEN,
    // PHAROS_TESTDATA, ...) are not configuration.
    bool in_section = false;
    for (const Field& f : Fields()) {
      std::string_view section = f.key.substr(0, f.key.find('.'));
      in_section = in_section ||
                   (lower.size() > section.size() &&
                    lower.compare(0, section.size(), section) == 0 && lower[section.size()] == '_');
    }
    for (std::string_view section :
         {"alerting_", "scrape_configs_", "rule_files_", "log_rule_files_"}) {
      in_section = in_section || lower.rfind(section, 0) == 0;
    }
    if (in_section) {
      return InvalidArgument(fmt::format("{}: unknown configuration variable", name));
    }
  }
  return Validate(config);
}

const TokenConfig* FindBearerToken(const AuthConfig& auth, std::string_view authorization) {
  if (authorization.size() <= 7 || !EqualsIgnoreCase(authorization.substr(0, 7), "Bearer ")) {
    return nullptr;
  }
  std::string digest = Sha256(Trim(authorization.substr(7)));
  const TokenConfig* match = nullptr;
  for (const TokenConfig& t : auth.tokens) {
    // No early exit: every token is compared, in constant time each.
    if (ConstantTimeEquals(digest, t.sha256) && !match) match = &t;
  }
  return match;
}

Status Validate(const Config& config) {
  const TlsConfig& tls = config.server.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return InvalidArgument("server.tls: cert_file and key_file must be given together");
  }
  const IncidentsConfig& inc = config.incidents;
  if (!inc.default_escalation_policy.empty() &&
      std::none_of(inc.escalation_policies.begin(), inc.escalation_policies.end(),
                   [&](const EscalationPolicyConfig& p) {
                     return p.name == inc.default_escalation_policy;
                   })) {
    return InvalidArgument(
        fmt::format("incidents.default_escalation_policy: no policy named \"{}\" in "
                    "incidents.escalation_policies",
                    inc.default_escalation_policy));
  }
  return Status::Ok();
}

std::string RenderYaml(const Config& config) {
  std::string out;
  std::string section;
  for (const Field& f : Fields()) {
    size_t dot = f.key.rfind('.');
    std::string parent(f.key.substr(0, dot));
    if (parent != section) {
      // Print each path component that changed, indented by depth.
      std::vector<std::string_view> old_parts = Split(section, '.');
      std::vector<std::string_view> new_parts = Split(parent, '.');
      size_t common = 0;
      while (!section.empty() && common < old_parts.size() && common < new_parts.size() &&
             old_parts[common] == new_parts[common]) {
        ++common;
      }
      for (size_t d = common; d < new_parts.size(); ++d) {
        out += std::string(d * 2, ' ');
        out += new_parts[d];
        out += ":\n";
      }
      section = parent;
    }
    size_t depth = static_cast<size_t>(std::count(f.key.begin(), f.key.end(), '.'));
    out += std::string(depth * 2, ' ');
    out += f.key.substr(dot + 1);
    out += ": ";
    out += JsonString(f.get(config));
    out += '\n';
  }
  out += "rule_files:";
  if (config.rule_files.empty()) out += " []";
  out += '\n';
  for (const std::string& f : config.rule_files) out += "  - " + JsonString(f) + "\n";
  out += "log_rule_files:";
  if (config.log_rule_files.empty()) out += " []";
  out += '\n';
  for (const std::string& f : config.log_rule_files) out += "  - " + JsonString(f) + "\n";
  if (!config.alerting.redacted_yaml.empty()) {
    out += "alerting:\n";
    for (std::string_view line : Split(config.alerting.redacted_yaml, '\n')) {
      out += "  ";
      out += line;
      out += '\n';
    }
  }
  out += "scrape_configs:";
  if (config.scrape_configs.empty()) out += " []";
  out += '\n';
  for (const ScrapeConfig& sc : config.scrape_configs) {
    out += "  - job_name: " + JsonString(sc.job_name) + "\n";
    if (sc.scrape_interval.count())
      out += "    scrape_interval: " + FormatDuration(sc.scrape_interval) + "\n";
    if (sc.scrape_timeout.count())
      out += "    scrape_timeout: " + FormatDuration(sc.scrape_timeout) + "\n";
    out += "    metrics_path: " + JsonString(sc.metrics_path) + "\n";
    out += "    static_configs:\n";
    for (const StaticConfig& st : sc.static_configs) {
      out += "      - targets: [";
      for (size_t i = 0; i < st.targets.size(); ++i)
        out += (i ? ", " : "") + JsonString(st.targets[i]);
      out += "]\n";
    }
    if (!sc.relabel_configs.empty()) {
      out += fmt::format("    # {} relabel_configs\n", sc.relabel_configs.size());
    }
    if (!sc.metric_relabel_configs.empty()) {
      out += fmt::format("    # {} metric_relabel_configs\n", sc.metric_relabel_configs.size());
    }
  }
  out += "auth:\n  tokens:";
  if (config.auth.tokens.empty()) out += " []";
  out += '\n';
  for (const TokenConfig& t : config.auth.tokens) {
    out += "    - name: " + JsonString(t.name) + "\n      token: \"<hidden>\"\n      scopes: [";
    std::vector<std::string> scopes;
    if (t.scopes & kScopeRead) scopes.emplace_back("read");
    if (t.scopes & kScopeWrite) scopes.emplace_back("write");
    if (t.scopes & kScopeAdmin) scopes.emplace_back("admin");
    for (size_t i = 0; i < scopes.size(); ++i) out += (i ? ", " : "") + scopes[i];
    out += "]\n";
  }
  return out;
}

Status ParseHostPort(std::string_view text, std::string& host, uint16_t& port) {
  size_t colon;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgument(fmt::format("\"{}\" is not HOST:PORT", text));
    }
    host = std::string(text.substr(1, close - 1));
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidArgument(fmt::format("\"{}\" is not HOST:PORT", text));
    }
    host = std::string(text.substr(0, colon));
    if (host.find(':') != std::string::npos) {
      return InvalidArgument(fmt::format("\"{}\": write IPv6 addresses as [addr]:port", text));
    }
  }
  std::string_view p = text.substr(colon + 1);
  if (p.empty() || p.size() > 5 ||
      !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgument(fmt::format("\"{}\": port must be a number 0-65535", text));
  }
  int n = std::stoi(std::string(p));
  if (n > 65535) return InvalidArgument(fmt::format("\"{}\": port must be a number 0-65535", text));
  if (host.empty()) return InvalidArgument(fmt::format("\"{}\": host is missing", text));
  port = static_cast<uint16_t>(n);
  return Status::Ok();
}

std::vector<KeyDoc> ListKeys() {
  std::vector<KeyDoc> out;
  for (const Field& f : Fields()) out.push_back({f.key, f.type, f.help});
  return out;
}

}  // namespace pharos::config
