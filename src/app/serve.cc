#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "api/api.h"
#include "app/alerting_stack.h"
#include "app/app.h"
#include "app/version.h"
#include "common/log.h"
#include "console/console.h"
#include "ingest/ingest.h"
#include "logs/logs.h"
#include "otlp_grpc/otlp_grpc.h"
#include "promql/promql.h"
#include "scrape/scrape.h"
#include "selfmon/metrics.h"
#include "server/server.h"
#include "syslog/syslog.h"
#include "traces/traces.h"
#include "tsdb/tsdb.h"

namespace pharos::app {
namespace {

Status WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Internal(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  ssize_t n = ::write(fd, content.data(), content.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(content.size())) {
    return Internal(fmt::format("cannot write {}", tmp));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
  }
  return Status::Ok();
}

std::string UrlFor(const config::ServerConfig& server, uint16_t port) {
  std::string host;
  uint16_t ignored = 0;
  (void)config::ParseHostPort(server.listen, host, ignored);
  if (host == "0.0.0.0" || host == "::") host = "127.0.0.1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return fmt::format("{}://{}:{}/", server.tls.enabled() ? "https" : "http", host, port);
}

// Re-reads the config file (or keeps the start-up configuration when there is none) and
// applies what can change while running: log.level, rule files (alert state is kept), the
// alerting section and incident options. Other changes need a restart.
Status Reload(const ServeOptions& options, AlertingStack* stack) {
  config::Config reloaded = options.config;
  if (!options.config_file.empty()) {
    reloaded = config::Config();
    PHAROS_RETURN_IF_ERROR(config::LoadFile(options.config_file, reloaded));
    reloaded.storage = options.config.storage;  // the data directory cannot move
  }
  if (stack) PHAROS_RETURN_IF_ERROR(stack->Reload(reloaded));
  SetLogLevel(reloaded.log.level);
  LogInfo("configuration reloaded: log level, rules, alerting and incidents applied",
          {{"level", LogLevelName(reloaded.log.level)}});
  return Status::Ok();
}

}  // namespace

tsdb::Options TsdbOptions(const config::Config& config) {
  tsdb::Options o;
  o.dir = (std::filesystem::path(config.storage.data_dir) / "tsdb").string();
  o.out_of_order_window = config.storage.out_of_order_window;
  o.future_limit = config.storage.future_limit;
  o.block_duration = config.storage.block_duration;
  o.retention = config.storage.retention;
  o.retention_bytes = config.storage.retention_bytes;
  o.read_threads = config.storage.read_threads == 0
                       ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                       : std::max(0, config.storage.read_threads);
  o.maintenance_interval = config.storage.maintenance_interval;
  o.wal_sync_always = config.storage.wal.sync_always;
  o.wal_sync_interval = config.storage.wal.sync_interval;
  o.wal_segment_bytes = config.storage.wal.segment_bytes;
  o.limits.max_series = config.limits.max_series;
  o.limits.max_series_per_metric = config.limits.max_series_per_metric;
  o.limits.max_labels_per_series = config.limits.max_labels_per_series;
  o.limits.max_label_name_bytes = config.limits.max_label_name_bytes;
  o.limits.max_label_value_bytes = config.limits.max_label_value_bytes;
  return o;
}

Result<int> OpenDataDir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    return Unavailable(
        fmt::format("storage.data_dir: cannot create \"{}\": {}", path, ec.message()));
  }
  std::string lock_path = (std::filesystem::path(path) / "LOCK").string();
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Unavailable(
        fmt::format("storage.data_dir: cannot open \"{}\": {}", lock_path, std::strerror(errno)));
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return FailedPrecondition(
        fmt::format("storage.data_dir: \"{}\" is in use by another pharos process", path));
  }
  return fd;
}

namespace {
// A listener that cannot start: 2 when the configuration is at fault, 1 otherwise.
int ExitCodeFor(const Status& s) {
  return s.code() == StatusCode::kFailedPrecondition || s.code() == StatusCode::kInvalidArgument
             ? 2
             : 1;
}
}  // namespace

int Serve(const ServeOptions& options) {
  const config::Config& config = options.config;
  SetLogLevel(config.log.level);

  // Every thread inherits this mask; only this thread receives the signals, via sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  selfmon::Registry registry;
  // The OTLP listener's HTTP metrics live apart: both servers declare the same names.
  selfmon::Registry otlp_registry;
  selfmon::RegisterProcessCollector(registry);
  selfmon::RegisterBuildInfo(registry, PHAROS_VERSION, PHAROS_REVISION);

  api::BuildInfo build{PHAROS_VERSION, PHAROS_REVISION, "main", __DATE__, PHAROS_COMPILER};
  std::atomic<bool> ready{false};
  auto router = std::make_shared<server::Router>();
  api::RegisterStatusRoutes(*router, build, ready, registry, config);
  console::RegisterRoutes(*router);
  // What becomes ready after the listeners start (storage, scraping, the alerting stack):
  // handlers find it here and answer 503 until it is published.
  Services services;
  api::RegisterTsdbRoutes(*router, services);
  ingest::Options ingest_options;
  ingest_options.max_concurrent_writes = config.limits.max_concurrent_writes;
  // One set of receivers for both listeners: one write cap and one OTLP delta table.
  ingest::Receivers receivers(services, registry, ingest_options);
  receivers.RegisterRoutes(*router);
  receivers.RegisterOtlpRoutes(*router);
  api::RegisterTargetRoutes(*router, services);
  promql::EngineOptions engine_options;
  engine_options.timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.query.timeout);
  engine_options.max_samples = config.query.max_samples;
  engine_options.max_series = config.query.max_series;
  engine_options.max_concurrent_queries = static_cast<int>(config.query.max_concurrency);
  engine_options.lookback_delta_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.query.lookback_delta).count();
  engine_options.prometheus2_windows = config.query.prometheus2_windows;
  promql::Engine engine(engine_options);
  api::RegisterQueryRoutes(*router, services, engine, config, registry);
  logs::RegisterRoutes(*router, services, registry);
  traces::RegisterRoutes(*router, services, registry);
  api::RegisterAlertingRoutes(*router, services);
  api::RegisterIncidentRoutes(*router, services);
  // Loki's and Tempo's ingester flush: every column store's head becomes a segment now, and
  // segments due a merge are merged (benchmarks, backups: the stores as they settle).
  router->HandleBlocking(
      server::Method::kPost, "/flush", config::kScopeAdmin,
      [&services](const server::Request&, server::Response& r) {
        logs::Store* logs = services.Get<logs::Store>();
        traces::Store* spans = services.Get<traces::Store>();
        if (logs == nullptr || spans == nullptr)
          return void(r = server::NotReady("the log and trace stores are not open yet"));
        for (colstore::Store* store : {&logs->records(), &spans->spans()}) {
          Status s = store->Flush();
          for (bool merged = s.ok(); merged && s.ok();) s = store->Merge(&merged);
          if (!s.ok())
            return void(
                r = server::Response::Text(500, s.message() + "\n", "text/plain; charset=utf-8"));
        }
        r = server::Response::Text(204, "", "text/plain");
      });
  // Prometheus's lifecycle endpoint: the same reload as SIGHUP.
  router->HandleBlocking(
      server::Method::kPost, "/-/reload", config::kScopeAdmin,
      [&options, &services](const server::Request&, server::Response& r) {
        Status s = Reload(options, services.Get<AlertingStack>());
        if (!s.ok()) {
          LogError("reload failed; keeping the running configuration", {{"error", s.message()}});
          r = server::Response::Error(500, "internal", s.message());
          return;
        }
        r = server::Response::Text(200, "Reloaded.\n");
      });

  Result<std::unique_ptr<server::HttpServer>> created =
      server::HttpServer::Create(config.server, config.auth, router, registry);
  if (!created.ok()) {
    const Status& s = created.status();
    LogError("cannot start the HTTP server", {{"error", s.message()}});
    return ExitCodeFor(s);
  }
  std::unique_ptr<server::HttpServer> http = std::move(created).value();
  // The dedicated OTLP/HTTP listener: its own router with only the OTLP endpoints.
  std::unique_ptr<server::HttpServer> otlp_http;
  if (!config.otlp.listen.empty()) {
    auto otlp_router = std::make_shared<server::Router>();
    receivers.RegisterOtlpRoutes(*otlp_router);
    config::ServerConfig otlp_config = config.server;
    otlp_config.listen = config.otlp.listen;
    otlp_config.threads = 1;
    Result<std::unique_ptr<server::HttpServer>> made_otlp =
        server::HttpServer::Create(otlp_config, config.auth, otlp_router, otlp_registry);
    if (!made_otlp.ok()) {
      const Status& s = made_otlp.status();
      LogError("cannot start the OTLP listener",
               {{"error", s.message()}, {"listen", config.otlp.listen}});
      return ExitCodeFor(s);
    }
    otlp_http = std::move(made_otlp).value();
  }
  // OTLP over gRPC: the same receivers, tokens and TLS certificate.
  std::unique_ptr<otlp_grpc::Receiver> otlp_grpc;
  if (!config.otlp.grpc_listen.empty()) {
    otlp_grpc::Options grpc_options;
    grpc_options.listen = config.otlp.grpc_listen;
    grpc_options.max_message_bytes = config.otlp.grpc_max_message_bytes;
    grpc_options.threads = std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
    grpc_options.tls = config.server.tls;
    grpc_options.auth = config.auth;
    grpc_options.insecure = config.server.insecure;
    Result<std::unique_ptr<otlp_grpc::Receiver>> made_grpc =
        otlp_grpc::Receiver::Start(grpc_options, receivers, registry);
    if (!made_grpc.ok()) {
      const Status& s = made_grpc.status();
      LogError("cannot start the OTLP/gRPC listener",
               {{"error", s.message()}, {"listen", config.otlp.grpc_listen}});
      return ExitCodeFor(s);
    }
    otlp_grpc = std::move(made_grpc).value();
  }
  http->Start();
  if (otlp_http) {
    otlp_http->Start();
    LogInfo("OTLP/HTTP listening", {{"port", static_cast<int>(otlp_http->port())}});
  }
  if (otlp_grpc) LogInfo("OTLP/gRPC listening", {{"port", otlp_grpc->port()}});
  std::string url = UrlFor(config.server, http->port());
  if (!options.port_file.empty()) {
    Status s = WriteFileAtomically(options.port_file, std::to_string(http->port()) + "\n");
    if (!s.ok()) {
      LogError("cannot write the port file", {{"error", s.message()}});
      http->Shutdown();
      return 1;
    }
  }
  LogInfo("listening", {{"url", url},
                        {"port", static_cast<int>(http->port())},
                        {"tls", config.server.tls.enabled()},
                        {"tokens", config.auth.tokens.size()},
                        {"version", PHAROS_VERSION}});

  // Storage recovery happens behind a live /healthz, with /readyz answering 503 until done.
  Result<int> lock = OpenDataDir(config.storage.data_dir);
  if (!lock.ok()) {
    LogError("cannot open the data directory", {{"error", lock.status().message()}});
    http->Shutdown();
    return 1;
  }
  Result<std::unique_ptr<tsdb::Db>> opened = tsdb::Db::Open(TsdbOptions(config), registry);
  if (!opened.ok()) {
    if (opened.status().code() == StatusCode::kDataLoss) {
      LogError(
          "the metrics store is damaged; see what a repair would drop with 'pharos "
          "repair-wal --data DIR', then repair with --yes (docs/operations.md)",
          {{"error", opened.status().message()}, {"data_dir", config.storage.data_dir}});
      http->Shutdown();
      return kExitDamagedStore;
    }
    LogError("cannot open the metrics store", {{"error", opened.status().message()}});
    http->Shutdown();
    return 1;
  }
  std::unique_ptr<tsdb::Db> db = std::move(opened).value();
  logs::Options logs_options;
  logs_options.dir = config.storage.data_dir + "/logs";
  logs_options.retention = config.storage.retention;
  logs_options.head_max_bytes = config.logs.head_max_bytes;
  logs_options.push.max_line_size = config.logs.max_line_size;
  logs_options.push.ingestion_rate = config.logs.ingestion_rate;
  logs_options.push.ingestion_burst = config.logs.ingestion_burst;
  logs_options.push.max_age = config.logs.reject_old_samples_max_age;
  logs_options.push.grace = config.logs.creation_grace_period;
  logs_options.max_query_bytes_read = config.logs.max_query_bytes_read;
  logs_options.discover_log_levels = config.logs.discover_log_levels;
  logs_options.maintenance_interval = config.logs.maintenance_interval;
  logs_options.limits.max_labels_per_stream = config.logs.max_label_names_per_series;
  logs_options.limits.max_streams = config.logs.max_streams;
  // Room for the line and its structured metadata.
  logs_options.limits.max_record_bytes =
      static_cast<uint32_t>(std::min<uint64_t>(config.logs.max_line_size + (64 << 10), 1u << 30));
  Result<std::unique_ptr<logs::Store>> opened_logs = logs::Store::Open(logs_options, registry);
  if (!opened_logs.ok()) {
    LogError("cannot open the log store",
             {{"error", opened_logs.status().message()}, {"dir", logs_options.dir}});
    http->Shutdown();
    (void)db->Close();
    return opened_logs.status().code() == StatusCode::kDataLoss ? kExitDamagedStore : 1;
  }
  std::unique_ptr<logs::Store> log_store = std::move(opened_logs).value();
  services.Publish(log_store.get());
  services.Publish<model::LogsSink>(log_store.get());
  traces::Options traces_options;
  traces_options.dir = config.storage.data_dir + "/traces";
  traces_options.retention = config.storage.retention;
  traces_options.head_max_bytes = config.traces.head_max_bytes;
  traces_options.maintenance_interval = config.traces.maintenance_interval;
  traces_options.limits.max_attributes_per_span = config.traces.max_attributes_per_span;
  traces_options.limits.max_attribute_bytes =
      static_cast<uint32_t>(config.traces.max_attribute_bytes);
  traces_options.limits.max_span_bytes = static_cast<uint32_t>(config.traces.max_span_bytes);
  traces_options.limits.max_streams = config.traces.max_streams;
  Result<std::unique_ptr<traces::Store>> opened_traces =
      traces::Store::Open(traces_options, registry);
  if (!opened_traces.ok()) {
    LogError("cannot open the trace store",
             {{"error", opened_traces.status().message()}, {"dir", traces_options.dir}});
    http->Shutdown();
    (void)log_store->Close();
    (void)db->Close();
    return opened_traces.status().code() == StatusCode::kDataLoss ? kExitDamagedStore : 1;
  }
  std::unique_ptr<traces::Store> trace_store = std::move(opened_traces).value();
  services.Publish(trace_store.get());
  // Tail sampling (when configured) decides which traces the store keeps; span metrics
  // and the service graph see every span before it.
  std::unique_ptr<traces::TailSampler> sampler;
  model::SpansSink* spans_sink = trace_store.get();
  if (!config.traces.tail_sampling_yaml.empty()) {
    Result<traces::SamplingOptions> sampling =
        traces::ParseTailSampling(config.traces.tail_sampling_yaml);
    if (!sampling.ok()) {  // check-config refuses it first; a reload cannot change it
      LogError("invalid configuration", {{"error", sampling.status().message()}});
      http->Shutdown();
      (void)trace_store->Close();
      (void)log_store->Close();
      (void)db->Close();
      return 2;
    }
    sampler =
        std::make_unique<traces::TailSampler>(std::move(sampling).value(), registry, *trace_store);
    spans_sink = sampler.get();
  }
  std::unique_ptr<traces::MetricsGenerator> span_metrics;
  if (config.traces.metrics_interval.count() > 0) {
    traces::GeneratorOptions generator_options;
    generator_options.flush_interval = config.traces.metrics_interval;
    generator_options.max_series = config.traces.metrics_max_series;
    generator_options.edge_wait = config.traces.service_graph_wait;
    generator_options.max_pending_edges = config.traces.service_graph_max_pending;
    span_metrics = std::make_unique<traces::MetricsGenerator>(services, registry, generator_options,
                                                              *spans_sink);
    spans_sink = span_metrics.get();
  }
  services.Publish<model::SpansSink>(spans_sink);
  services.Publish(db.get());
  services.Publish<model::MetricsSink>(db.get());
  // Exemplars (span metrics' traces) in memory, as Prometheus keeps them.
  tsdb::ExemplarStore exemplars;
  services.Publish(&exemplars);
  services.Publish<model::ExemplarSink>(&exemplars);
  // Syslog writes into the log store: started once it is published, stopped before it
  // closes (declared after it).
  std::unique_ptr<syslog::Receiver> syslog_receiver;
  if (!config.syslog.tcp_listen.empty() || !config.syslog.udp_listen.empty()) {
    syslog::Options syslog_options;
    syslog_options.tcp_listen = config.syslog.tcp_listen;
    syslog_options.udp_listen = config.syslog.udp_listen;
    syslog_options.max_message_bytes = config.syslog.max_message_bytes;
    syslog_options.insecure = config.server.insecure;
    Result<std::unique_ptr<syslog::Receiver>> started =
        syslog::Receiver::Start(syslog_options, services, registry);
    if (!started.ok()) {
      LogError("cannot start the syslog listener", {{"error", started.status().message()}});
      http->Shutdown();
      (void)db->Close();
      return ExitCodeFor(started.status());
    }
    syslog_receiver = std::move(started).value();
    LogInfo("syslog listening",
            {{"tcp_port", syslog_receiver->tcp_port()}, {"udp_port", syslog_receiver->udp_port()}});
  }
  std::string self_instance = url.substr(url.find("://") + 3);
  self_instance.pop_back();  // the trailing '/'
  Result<std::unique_ptr<scrape::Scraper>> made = scrape::Scraper::Create(
      config, *db, registry, [&registry] { return registry.Render(); }, self_instance);
  if (!made.ok()) {
    LogError("invalid scrape configuration", {{"error", made.status().message()}});
    http->Shutdown();
    return 2;
  }
  std::unique_ptr<scrape::Scraper> scraper = std::move(made).value();
  scraper->Start();
  services.Publish(scraper.get());
  // Log rule files evaluate LogQL over the log store, once it is published.
  rules::InstantQuery logql_query =
      [&services](const std::string& expr,
                  int64_t ts_ms) -> Result<std::vector<std::pair<model::Labels, double>>> {
    logs::Store* logs = services.Get<logs::Store>();
    if (logs == nullptr) return Unavailable("the log store is not open yet");
    logs::StoreSource source(logs->records());
    logql::QueryParams params;
    params.instant = true;
    params.start_ns = params.end_ns = ts_ms * 1'000'000;
    Result<logql::QueryResult> r = logql::Engine().Query(source, expr, params);
    if (!r.ok()) return r.status();
    std::vector<std::pair<model::Labels, double>> samples;
    if (r->type == logql::ResultType::kScalar) {
      samples.emplace_back(model::Labels{}, r->scalar);
      return samples;
    }
    for (logql::Series& s : r->series) {
      if (!s.samples.empty()) samples.emplace_back(std::move(s.labels), s.samples.back().v);
    }
    return samples;
  };
  Result<std::unique_ptr<AlertingStack>> made_stack = AlertingStack::Create(
      config, url.substr(0, url.size() - 1), *db, engine, registry, std::move(logql_query));
  if (!made_stack.ok()) {
    bool damaged = made_stack.status().code() == StatusCode::kDataLoss;
    LogError(damaged ? "meta.db is damaged" : "invalid rules, alerting or incidents configuration",
             {{"error", made_stack.status().message()}});
    http->Shutdown();
    scraper->Stop();
    (void)db->Close();
    return damaged ? kExitDamagedMeta : 2;
  }
  std::unique_ptr<AlertingStack> stack = std::move(made_stack).value();
  stack->Start(services);
  services.Publish(stack.get());
  ready.store(true, std::memory_order_release);
  LogInfo("ready", {{"data_dir", config.storage.data_dir}});

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig == SIGHUP) {
      Status s = Reload(options, stack.get());
      if (!s.ok()) {
        LogError("reload failed; keeping the running configuration", {{"error", s.message()}});
      }
      continue;
    }
    LogInfo("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    break;
  }
  ready.store(false, std::memory_order_release);
  http->Shutdown();  // in-flight writes finish first
  if (otlp_http) otlp_http->Shutdown();
  if (otlp_grpc) {
    otlp_grpc->Shutdown(
        std::chrono::duration_cast<std::chrono::milliseconds>(config.server.shutdown_timeout));
  }
  if (syslog_receiver) syslog_receiver->Stop();
  services.Withdraw<AlertingStack>();
  stack->Stop(services);
  services.Withdraw<scrape::Scraper>();
  scraper->Stop();  // writes staleness markers for what it scraped
  services.Withdraw<model::SpansSink>();
  if (span_metrics) {  // its last counts, while the metrics store still takes them
    if (Status s = span_metrics->Flush(); !s.ok())
      LogError("writing span metrics failed", {{"error", s.message()}});
    span_metrics.reset();
  }
  if (sampler) {  // a clean stop decides the traces still waiting rather than lose them
    sampler->Decide(INT64_MAX);
    sampler.reset();
  }
  services.Withdraw<model::ExemplarSink>();
  services.Withdraw<tsdb::ExemplarStore>();
  services.Withdraw<model::MetricsSink>();
  services.Withdraw<tsdb::Db>();
  services.Withdraw<model::LogsSink>();
  services.Withdraw<logs::Store>();
  services.Withdraw<traces::Store>();
  if (Status s = trace_store->Close(); !s.ok())
    LogError("closing the trace store failed", {{"error", s.message()}});
  if (Status s = log_store->Close(); !s.ok())
    LogError("closing the log store failed", {{"error", s.message()}});
  Status closed = db->Close();
  if (!closed.ok()) LogError("closing the metrics store failed", {{"error", closed.message()}});
  ::close(*lock);
  LogInfo("stopped");
  return 0;
}

}  // namespace pharos::app
