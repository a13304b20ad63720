// config: Pharos's configuration schema, loading and validation.
//
// Contract: a Config is a plain value. It is built from defaults, then a YAML file, then
// PHAROS_* environment variables, then command-line overrides, in that order; each step
// returns a Status whose message names the key (as a dotted path, with the file and line
// for YAML) and the reason: unknown key, wrong type, or a value out of range. Nothing here
// throws: yaml-cpp's exceptions are converted at this boundary. Every key is listed once
// in the field table in config.cc, which the YAML loader, the environment and the
// `--set key=value` flag all share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "common/units.h"

namespace pharos::config {

/// Scopes a token can hold. `admin` does not imply the others: list what a token may do.
enum Scope : uint32_t { kScopeRead = 1, kScopeWrite = 2, kScopeAdmin = 4 };

struct TokenConfig {
  std::string name;     // shown in logs instead of the secret
  std::string sha256;   // raw 32-byte SHA-256 digest of the token
  uint32_t scopes = 0;  // bit set of Scope
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerConfig {
  std::string listen = "127.0.0.1:7070";
  bool insecure = false;    // allow a non-loopback listener without tokens
  int threads = 0;          // I/O threads; 0 = one per core
  int handler_threads = 0;  // threads for blocking writes; 0 = one per core (2 at least)
  int query_threads = 0;    // threads for blocking reads (niced); 0 = one per core (2 at least)
  int control_threads = 2;  // threads for handlers that wait on the meta store
  uint64_t max_body_bytes = 32ULL << 20;
  uint64_t max_decompressed_bytes = 128ULL << 20;
  uint64_t max_header_bytes = 16ULL << 10;
  Duration request_timeout = std::chrono::seconds(30);   // to read one whole request
  Duration idle_timeout = std::chrono::seconds(120);     // keep-alive with no request
  Duration shutdown_timeout = std::chrono::seconds(10);  // drain in-flight requests
  uint32_t max_connections = 10000;
  TlsConfig tls;
};

struct OtlpConfig {
  /// The dedicated OTLP/HTTP listener (OpenTelemetry's default port); "" turns it off.
  /// /v1/metrics is served on the main listener as well.
  std::string listen = "127.0.0.1:4318";
  /// The OTLP/gRPC listener (OpenTelemetry's default port); "" turns it off. It takes the
  /// main listener's TLS certificate and API tokens.
  std::string grpc_listen = "127.0.0.1:4317";
  /// Largest gRPC request message, after decompression (RESOURCE_EXHAUSTED above).
  uint64_t grpc_max_message_bytes = 16ULL << 20;
};

/// The syslog listener (RFC 5424 and RFC 3164, issue "Logs: ..."): off by default.
/// Syslog carries no credentials: a non-loopback address needs server.insecure.
struct SyslogConfig {
  std::string tcp_listen;  // HOST:PORT; "" turns it off
  std::string udp_listen;  // HOST:PORT; "" turns it off
  uint64_t max_message_bytes = 64 * 1024;
};

struct AuthConfig {
  std::vector<TokenConfig> tokens;
};

/// The token an `Authorization` header value ("Bearer <secret>") presents, or null. Every
/// configured token is compared in constant time, so timing does not tell which matched.
const TokenConfig* FindBearerToken(const AuthConfig& auth, std::string_view authorization);

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
};

struct WalConfig {
  bool sync_always =
      false;  // "always": fdatasync before acknowledging; "interval": every sync_interval
  Duration sync_interval = std::chrono::milliseconds(200);
  uint64_t segment_bytes = 64ULL << 20;
};

struct StorageConfig {
  std::string data_dir = "./data";
  Duration out_of_order_window = std::chrono::minutes(10);
  Duration future_limit = std::chrono::minutes(10);
  Duration block_duration = std::chrono::hours(2);
  Duration retention = std::chrono::hours(24 * 15);
  uint64_t retention_bytes = 0;
  Duration maintenance_interval = std::chrono::minutes(1);
  /// Threads decoding large selects ahead of the query: 0 one per core, -1 none.
  int read_threads = 0;
  /// Alert transitions and notifications older than this are deleted from meta.db.
  Duration history_retention = std::chrono::hours(24 * 90);
  WalConfig wal;
};

struct LimitsConfig {
  uint64_t max_series = 10'000'000;
  uint64_t max_series_per_metric = 1'000'000;
  uint32_t max_labels_per_series = 64;
  uint32_t max_label_name_bytes = 256;
  uint32_t max_label_value_bytes = 4096;
  uint32_t max_concurrent_writes = 64;
};

/// The log store's push limits, as Loki's (its names in comments). Each refusal names the
/// limit; the rate limit answers 429 with Retry-After.
struct LogsConfig {
  uint64_t max_line_size = 256 * 1024;      // max_line_size
  uint64_t ingestion_rate = 64ULL << 20;    // bytes per second (ingestion_rate_mb)
  uint64_t ingestion_burst = 256ULL << 20;  // ingestion_burst_size_mb
  Duration reject_old_samples_max_age = std::chrono::hours(24 * 7);  // 0 accepts any age
  Duration creation_grace_period = std::chrono::minutes(10);         // how far ahead
  uint32_t max_label_names_per_series = 15;                          // max_label_names_per_series
  uint64_t max_streams = 100'000;                                    // max_global_streams_per_user
  uint64_t head_max_bytes = 64ULL << 20;  // lines kept in memory before a cut
  uint64_t max_query_bytes_read = 0;      // line bytes a query may read; 0: no limit
  bool discover_log_levels = true;        // detected_level metadata, as Loki 3
  Duration maintenance_interval = std::chrono::seconds(10);  // cuts by age, merges, retention
};

struct TracesConfig {
  uint32_t max_attributes_per_span = 128;  // the OpenTelemetry SDKs' default
  uint64_t max_attribute_bytes = 64 * 1024;
  uint64_t max_span_bytes = 1 << 20;
  uint64_t max_streams = 100'000;         // services x span names x kinds in the head
  uint64_t head_max_bytes = 64ULL << 20;  // spans kept in memory before a cut
  Duration maintenance_interval = std::chrono::seconds(10);  // cuts by age, merges, retention
  Duration metrics_interval = std::chrono::seconds(15);      // span metrics written; 0: off
  uint64_t metrics_max_series = 10'000;                      // span metric series kept
  Duration service_graph_wait = std::chrono::seconds(10);    // for a span's other half
  uint64_t service_graph_max_pending = 10'000;               // spans waiting at once
  /// The OpenTelemetry Collector's tail_sampling processor configuration, as YAML text
  /// ("" when absent: every span is kept); parsed by traces::ParseTailSampling.
  std::string tail_sampling_yaml;
};

/// PromQL evaluation limits (Prometheus's --query.* flags).
struct QueryConfig {
  Duration timeout = std::chrono::minutes(2);
  uint64_t max_samples = 50'000'000;
  uint64_t max_series = 1'000'000;
  uint32_t max_concurrency = 20;
  Duration lookback_delta = std::chrono::minutes(5);
  uint32_t max_points_per_series = 11'000;
  bool prometheus2_windows = false;
  Duration log_slow = std::chrono::seconds(10);  // 0: no slow-query log
};

/// One relabeling step, as Prometheus's relabel_config.
struct RelabelConfig {
  std::vector<std::string> source_labels;
  std::string separator = ";";
  std::string regex = "(.*)";
  std::string target_label;
  std::string replacement = "$1";
  std::string action = "replace";  // replace, keep, drop, labeldrop, labelkeep, labelmap, hashmod,
                                   // lowercase, uppercase
  uint64_t modulus = 0;
};

struct StaticConfig {
  std::vector<std::string> targets;                         // host:port
  std::vector<std::pair<std::string, std::string>> labels;  // added to every target
};

/// Client TLS for https scrape targets, as Prometheus's tls_config.
struct TlsClientConfig {
  std::string ca_file;    // empty: the system's trust store
  std::string cert_file;  // client certificate, with key_file
  std::string key_file;
  std::string server_name;  // for SNI and verification; empty: the target's host
  bool insecure_skip_verify = false;
};

/// One entry of scrape_configs, in Prometheus's shape.
struct ScrapeConfig {
  std::string job_name;
  Duration scrape_interval{0};  // 0: global.scrape_interval
  Duration scrape_timeout{0};   // 0: global.scrape_timeout (capped at the interval)
  std::string metrics_path = "/metrics";
  std::string scheme = "http";
  std::vector<std::pair<std::string, std::string>> params;
  bool honor_labels = false;
  bool honor_timestamps = true;
  uint64_t body_size_limit = 64ULL << 20;
  uint64_t sample_limit = 0;  // 0: none
  std::vector<StaticConfig> static_configs;
  std::vector<RelabelConfig> relabel_configs;
  std::vector<RelabelConfig> metric_relabel_configs;
  TlsClientConfig tls_config;
};

/// Rule evaluation (Prometheus's rule manager flags).
struct RulesConfig {
  Duration resend_delay = std::chrono::minutes(1);
  Duration outage_tolerance = std::chrono::hours(1);
  Duration for_grace_period = std::chrono::minutes(10);
  int concurrency = 0;  // groups evaluated at once; 0: one per core
};

/// The `alerting` section: an Alertmanager configuration kept as YAML text, parsed and
/// checked by the alerting module (config cannot know its schema without depending on it).
struct AlertingSection {
  std::string yaml;           // "" when the config has no alerting section
  std::string redacted_yaml;  // the same with passwords and tokens as "<secret>"
};

struct EscalationStepConfig {
  std::string receiver;
  Duration delay{0};
};

struct EscalationPolicyConfig {
  std::string name;
  std::vector<EscalationStepConfig> steps;
};

/// Incident levels P0..P3: response and resolution clocks, the severity mapping, policies.
struct IncidentsConfig {
  Duration respond_within[4] = {std::chrono::minutes(5), std::chrono::minutes(15),
                                std::chrono::hours(1), std::chrono::hours(4)};
  Duration resolve_within[4] = {std::chrono::hours(1), std::chrono::hours(4),
                                std::chrono::hours(24), std::chrono::hours(72)};
  std::vector<std::pair<std::string, int>> severity_levels = {
      {"critical", 1}, {"warning", 2}, {"info", 3}};
  bool open_from_alerts = true;
  bool auto_resolve = true;
  std::vector<EscalationPolicyConfig> escalation_policies;
  std::string default_escalation_policy;
};

struct GlobalConfig {
  Duration scrape_interval = std::chrono::minutes(1);
  Duration scrape_timeout = std::chrono::seconds(10);
  /// Pharos scrapes its own metrics in-process as job "pharos" (no HTTP, no token).
  bool scrape_self = true;
  Duration self_scrape_interval = std::chrono::seconds(15);
  /// How often rule groups without their own interval are evaluated.
  Duration evaluation_interval = std::chrono::minutes(1);
  /// Pharos's URL as users reach it, for links in notifications ("" : the listener's).
  std::string external_url;
  /// Added to alerts sent to receivers, as Prometheus's external_labels.
  std::vector<std::pair<std::string, std::string>> external_labels;
};

struct Config {
  GlobalConfig global;
  std::vector<ScrapeConfig> scrape_configs;
  /// Rule files: paths and globs, relative ones against config_dir.
  std::vector<std::string> rule_files;
  /// Rule files in Loki ruler's format: LogQL expressions over the logs.
  std::vector<std::string> log_rule_files;
  RulesConfig rules;
  AlertingSection alerting;
  IncidentsConfig incidents;
  /// The directory of the loaded config file ("." when none was loaded).
  std::string config_dir = ".";
  ServerConfig server;
  OtlpConfig otlp;
  SyslogConfig syslog;
  AuthConfig auth;
  LogConfig log;
  StorageConfig storage;
  LogsConfig logs;
  TracesConfig traces;
  LimitsConfig limits;
  QueryConfig query;
};

/// Loads YAML from a file into `config` (on top of what it holds).
Status LoadFile(const std::string& path, Config& config);
/// Loads YAML text; `source` names it in error messages.
Status LoadYaml(std::string_view text, std::string_view source, Config& config);
/// Applies PHAROS_<SECTION>_<KEY> variables from `environ`. Variables under a known section
/// prefix that name no key are refused; other PHAROS_* variables are ignored.
Status ApplyEnvironment(char** environ, Config& config);
/// Sets one scalar key from text, as `--set server.threads=4` does.
Status ApplyOverride(std::string_view key, std::string_view value, Config& config);
/// Cross-field checks (TLS cert without key, and the like).
Status Validate(const Config& config);

/// The config in effect as YAML, with token digests shown as "<hidden>".
std::string RenderYaml(const Config& config);

/// Splits "host:port" or "[v6]:port"; the port must be 0..65535.
Status ParseHostPort(std::string_view text, std::string& host, uint16_t& port);

/// Every scalar key, as a dotted path, with its documentation (for `--help`).
struct KeyDoc {
  std::string_view key;
  std::string_view type;
  std::string_view help;
};
std::vector<KeyDoc> ListKeys();

}  // namespace pharos::config
