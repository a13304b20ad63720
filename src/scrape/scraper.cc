#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "common/log.h"
#include "common/mutex.h"
#include "ingest/ingest.h"
#include "scrape/scrape.h"
#include "server/server.h"

namespace pharos::scrape {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr std::string_view kAccept =
    "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

uint64_t HashLabels(const model::Labels& labels) {
  std::string buf;
  for (const model::Label& l : labels) {
    buf += l.name;
    buf += '\xff';
    buf += l.value;
    buf += '\xff';
  }
  return std::hash<std::string>{}(buf);
}

struct ScrapeMetrics {
  explicit ScrapeMetrics(selfmon::Registry& r)
      : scrapes(r.AddCounter("pharos_scrape_total", "Scrapes run, by job and outcome.",
                             {"job", "outcome"})),
        duration(r.AddHistogram("pharos_scrape_duration_seconds", "Time a scrape took, by job.",
                                {"job"}, selfmon::LatencyBuckets())),
        targets(r.AddGauge("pharos_scrape_targets", "Scrape targets, by job.", {"job"})),
        rejected(r.AddCounter("pharos_scrape_samples_rejected_total",
                              "Scraped samples the store refused, by job.", {"job"})) {}
  selfmon::Family<selfmon::Counter>& scrapes;
  selfmon::Family<selfmon::Histogram>& duration;
  selfmon::Family<selfmon::Gauge>& targets;
  selfmon::Family<selfmon::Counter>& rejected;
};

struct Target {
  TargetStatus status;  // guarded by the scraper's mutex once running
  std::string host;
  std::string port;
  std::string request_target;                    // path and query
  const config::ScrapeConfig* config = nullptr;  // null for the self target
  std::shared_ptr<asio::ssl::context> tls;       // for https targets
  std::vector<CompiledRelabel> metric_relabel;
  // Series written by the previous scrape (for staleness markers); scrape thread only.
  std::unordered_map<uint64_t, model::Labels> previous;
  bool has_report = false;
  std::vector<ingest::FamilyMetadata> metadata;  // guarded by the scraper's mutex
};

std::string UrlEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class ScraperImpl final : public Scraper {
 public:
  ScraperImpl(const config::Config& config, model::MetricsSink& db, selfmon::Registry& registry,
              std::function<std::string()> self_metrics)
      : config_(config), db_(db), metrics_(registry), self_metrics_(std::move(self_metrics)) {}

  ~ScraperImpl() override { Stop(); }

  Status Build(const std::string& self_instance) {
    if (config_.global.scrape_self && self_metrics_) {
      auto t = std::make_unique<Target>();
      t->status.job = "pharos";
      t->status.url = "internal:///metrics";
      t->status.labels = {{"instance", self_instance}, {"job", "pharos"}};
      t->status.health = "unknown";
      t->status.interval = config_.global.self_scrape_interval;
      t->status.timeout = std::min(config_.global.scrape_timeout, t->status.interval);
      targets_.push_back(std::move(t));
    }
    for (size_t i = 0; i < config_.scrape_configs.size(); ++i) {
      const config::ScrapeConfig& sc = config_.scrape_configs[i];
      std::string where = fmt::format("scrape_configs[{}]", i);
      Result<std::vector<CompiledRelabel>> relabel =
          CompileRelabel(sc.relabel_configs, where + ".relabel_configs");
      if (!relabel.ok()) return relabel.status();
      Result<std::vector<CompiledRelabel>> metric_relabel =
          CompileRelabel(sc.metric_relabel_configs, where + ".metric_relabel_configs");
      if (!metric_relabel.ok()) return metric_relabel.status();
      std::shared_ptr<asio::ssl::context> tls;
      if (sc.scheme == "https") {
        Result<std::shared_ptr<asio::ssl::context>> made =
            MakeTls(sc.tls_config, where + ".tls_config");
        if (!made.ok()) return made.status();
        tls = *made;
      }
      Duration interval =
          sc.scrape_interval.count() ? sc.scrape_interval : config_.global.scrape_interval;
      Duration timeout =
          sc.scrape_timeout.count() ? sc.scrape_timeout : config_.global.scrape_timeout;
      timeout = std::min(timeout, interval);
      for (const config::StaticConfig& st : sc.static_configs) {
        for (const std::string& address : st.targets) {
          model::Labels labels;
          for (const auto& [k, v] : st.labels) labels.push_back({k, v});
          labels.push_back({"__address__", address});
          labels.push_back({"__metrics_path__", sc.metrics_path});
          labels.push_back({"__scheme__", sc.scheme});
          labels.push_back({"job", sc.job_name});
          for (const auto& [k, v] : sc.params) labels.push_back({"__param_" + k, v});
          std::sort(labels.begin(), labels.end(),
                    [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
          labels.erase(std::unique(labels.begin(), labels.end(),
                                   [](const model::Label& a, const model::Label& b) {
                                     return a.name == b.name;
                                   }),
                       labels.end());
          if (!Relabel(*relabel, labels)) continue;  // dropped by relabeling
          auto get = [&labels](std::string_view n) -> std::string {
            for (const model::Label& l : labels) {
              if (l.name == n) return l.value;
            }
            return "";
          };
          std::string addr = get("__address__");
          if (addr.empty()) continue;
          std::string host;
          uint16_t port = 0;
          if (!config::ParseHostPort(addr, host, port).ok()) {
            LogWarn("scrape target dropped: __address__ is not host:port",
                    {{"job", sc.job_name}, {"address", addr}});
            continue;
          }
          auto t = std::make_unique<Target>();
          t->config = &sc;
          t->tls = tls;
          t->host = host;
          t->port = std::to_string(port);
          t->request_target = get("__metrics_path__");
          std::string query;
          for (const model::Label& l : labels) {
            if (l.name.rfind("__param_", 0) == 0) {
              query += query.empty() ? '?' : '&';
              query += UrlEncode(l.name.substr(8)) + "=" + UrlEncode(l.value);
            }
          }
          t->request_target += query;
          if (get("instance").empty()) labels.push_back({"instance", addr});
          labels.erase(
              std::remove_if(labels.begin(), labels.end(),
                             [](const model::Label& l) { return l.name.rfind("__", 0) == 0; }),
              labels.end());
          std::sort(labels.begin(), labels.end(),
                    [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
          t->status.job = sc.job_name;
          t->status.url = fmt::format("{}://{}{}", sc.scheme, addr, t->request_target);
          t->status.labels = std::move(labels);
          t->status.health = "unknown";
          t->status.interval = interval;
          t->status.timeout = timeout;
          t->metric_relabel = *metric_relabel;
          targets_.push_back(std::move(t));
        }
      }
    }
    for (const auto& t : targets_) metrics_.targets.WithLabels({t->status.job}).Inc();
    return Status::Ok();
  }

  static Result<std::shared_ptr<asio::ssl::context>> MakeTls(const config::TlsClientConfig& c,
                                                             const std::string& where) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    boost::system::error_code ec;
    if (c.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(c.ca_file, ec);
    }
    if (ec) return InvalidArgument(fmt::format("{}.ca_file: {}", where, ec.message()));
    ctx->set_verify_mode(c.insecure_skip_verify ? asio::ssl::verify_none : asio::ssl::verify_peer);
    if (!c.cert_file.empty()) {
      ctx->use_certificate_chain_file(c.cert_file, ec);
      if (ec) return InvalidArgument(fmt::format("{}.cert_file: {}", where, ec.message()));
      ctx->use_private_key_file(c.key_file, asio::ssl::context::pem, ec);
      if (ec) return InvalidArgument(fmt::format("{}.key_file: {}", where, ec.message()));
    }
    return ctx;
  }

  void Start() override {
    for (auto& t : targets_) asio::co_spawn(ioc_, Loop(*t), asio::detached);
    thread_ = std::thread([this] {
      auto guard = asio::make_work_guard(ioc_);
      ioc_.run();
    });
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    if (!thread_.joinable()) return;
    ioc_.stop();
    thread_.join();
    // The targets go away: their series end now.
    int64_t now = db_.NowMs();
    for (auto& t : targets_) {
      std::vector<model::Labels> ended;
      for (auto& [hash, labels] : t->previous) ended.push_back(labels);
      if (t->has_report) {
        for (const char* name : {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                                 "scrape_samples_post_metric_relabeling", "scrape_series_added"}) {
          model::Labels l = t->status.labels;
          l.push_back({"__name__", name});
          std::sort(l.begin(), l.end(),
                    [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
          ended.push_back(std::move(l));
        }
      }
      WriteStale(ended, now);
    }
  }

  std::vector<TargetStatus> Targets() const override {
    MutexLock lock(mu_);
    std::vector<TargetStatus> out;
    for (const auto& t : targets_) out.push_back(t->status);
    return out;
  }

  std::vector<ingest::FamilyMetadata> Metadata() const override {
    MutexLock lock(mu_);
    std::vector<ingest::FamilyMetadata> out;
    for (const auto& t : targets_) out.insert(out.end(), t->metadata.begin(), t->metadata.end());
    return out;
  }

 private:
  asio::awaitable<void> Loop(Target& t) {
    asio::steady_timer timer(ioc_);
    // Spread targets over the interval, stably per target, as Prometheus does.
    int64_t interval_ms = t.status.interval.count();
    int64_t offset = static_cast<int64_t>(std::hash<std::string>{}(t.status.url) %
                                          static_cast<uint64_t>(interval_ms));
    auto next = std::chrono::steady_clock::now() +
                std::chrono::milliseconds(offset % std::max<int64_t>(interval_ms, 1));
    if (!t.config) next = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (true) {
      timer.expires_at(next);
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      next += t.status.interval;
      co_await ScrapeOnce(t);
    }
  }

  asio::awaitable<std::string> Fetch(Target& t, std::string& content_type, Status& status) {
    std::string body;
    tcp::resolver resolver(ioc_);
    auto [rec, results] =
        co_await resolver.async_resolve(t.host, t.port, asio::as_tuple(asio::use_awaitable));
    if (rec) {
      status = Unavailable(fmt::format("resolve {}: {}", t.host, rec.message()));
      co_return body;
    }
    if (!t.tls) {
      beast::tcp_stream stream(ioc_);
      stream.expires_after(t.status.timeout);
      auto [cec, ep] = co_await stream.async_connect(results, asio::as_tuple(asio::use_awaitable));
      if (cec) {
        status =
            Unavailable(cec == beast::error::timeout ? "context deadline exceeded" : cec.message());
        co_return body;
      }
      co_return co_await Exchange(t, stream, content_type, status);
    }
    beast::ssl_stream<beast::tcp_stream> stream(ioc_, *t.tls);
    beast::get_lowest_layer(stream).expires_after(t.status.timeout);
    const std::string& name =
        t.config->tls_config.server_name.empty() ? t.host : t.config->tls_config.server_name;
    if (!SSL_set_tlsext_host_name(stream.native_handle(), name.c_str())) {
      status = Unavailable("cannot set TLS server name");
      co_return body;
    }
    if (!t.config->tls_config.insecure_skip_verify) {
      stream.set_verify_callback(asio::ssl::host_name_verification(name));
    }
    auto [cec, ep] = co_await beast::get_lowest_layer(stream).async_connect(
        results, asio::as_tuple(asio::use_awaitable));
    if (cec) {
      status =
          Unavailable(cec == beast::error::timeout ? "context deadline exceeded" : cec.message());
      co_return body;
    }
    auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client,
                                                 asio::as_tuple(asio::use_awaitable));
    if (hec) {
      status = Unavailable(fmt::format("TLS handshake: {}", hec.message()));
      co_return body;
    }
    co_return co_await Exchange(t, stream, content_type, status);
  }

  // One GET over a connected (plain or TLS) stream.
  template <typename Stream>
  asio::awaitable<std::string> Exchange(Target& t, Stream& stream, std::string& content_type,
                                        Status& status) {
    std::string body;
    http::request<http::empty_body> req{http::verb::get, t.request_target, 11};
    req.set(http::field::host, t.host + ":" + t.port);
    req.set(http::field::user_agent, "Pharos/0.1");
    req.set(http::field::accept, kAccept);
    req.set(http::field::accept_encoding, "gzip");
    req.set("X-Prometheus-Scrape-Timeout-Seconds",
            fmt::format("{}", std::chrono::duration<double>(t.status.timeout).count()));
    auto [wec, wn] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
    if (wec) {
      status =
          Unavailable(wec == beast::error::timeout ? "context deadline exceeded" : wec.message());
      co_return body;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(t.config ? t.config->body_size_limit : (64u << 20));
    auto [rdec, rn] =
        co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (rdec) {
      status = Unavailable(rdec == beast::error::timeout     ? "context deadline exceeded"
                           : rdec == http::error::body_limit ? "body size limit exceeded"
                                                             : rdec.message());
      co_return body;
    }
    auto& res = parser.get();
    if (res.result_int() != 200) {
      status = Unavailable(fmt::format("server returned HTTP status {}", res.result_int()));
      co_return body;
    }
    content_type = std::string(res[http::field::content_type]);
    std::string encoding(res[http::field::content_encoding]);
    if (!encoding.empty()) {
      std::string decoded;
      Status s = server::DecodeBody(encoding, res.body(),
                                    t.config ? t.config->body_size_limit : (64u << 20), decoded);
      if (!s.ok()) {
        status = s;
        co_return body;
      }
      body = std::move(decoded);
    } else {
      body = std::move(res.body());
    }
    co_return body;
  }

  asio::awaitable<void> ScrapeOnce(Target& t) {
    int64_t scrape_ts = db_.NowMs();
    auto start = std::chrono::steady_clock::now();
    std::string content_type;
    Status status;
    std::string body;
    if (t.config) {
      body = co_await Fetch(t, content_type, status);
    } else {
      body = self_metrics_();
      content_type = "text/plain; version=0.0.4";
    }
    ingest::TextBatch parsed;
    if (status.ok()) {
      status = ingest::ParseText(body, ingest::TextFormatFor(content_type), scrape_ts, parsed);
    }
    uint64_t scraped = 0, post_relabel = 0, added = 0;
    std::vector<model::Labels> series;
    std::vector<model::Sample> samples;
    if (status.ok()) {
      scraped = parsed.batch.series.size();
      series.reserve(scraped);
      for (const model::SeriesInput& in : parsed.batch.series) {
        model::Labels labels = MergeLabels(t, in.labels);
        if (!t.metric_relabel.empty() && !Relabel(t.metric_relabel, labels)) continue;
        int64_t ts = (t.config && !t.config->honor_timestamps) ? scrape_ts : in.samples[0].t;
        series.push_back(std::move(labels));
        samples.push_back({ts, in.samples[0].v});
      }
      post_relabel = series.size();
      if (t.config && t.config->sample_limit && post_relabel > t.config->sample_limit) {
        status = ResourceExhausted(fmt::format("sample limit of {} exceeded ({} samples)",
                                               t.config->sample_limit, post_relabel));
      }
    }
    std::unordered_map<uint64_t, model::Labels> current;
    if (status.ok()) {
      for (const model::Labels& l : series) {
        uint64_t h = HashLabels(l);
        if (!t.previous.count(h)) ++added;
        current.emplace(h, l);
      }
    } else {
      series.clear();
      samples.clear();
    }
    // Series that were there last time and are gone now (all of them when the scrape
    // failed) get a staleness marker.
    for (auto& [h, labels] : t.previous) {
      if (!current.count(h)) {
        series.push_back(labels);
        samples.push_back({scrape_ts, model::StaleNaN()});
      }
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto report = [&](const char* name, double v) {
      model::Labels l = t.status.labels;
      l.push_back({"__name__", name});
      std::sort(l.begin(), l.end(),
                [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
      series.push_back(std::move(l));
      samples.push_back({scrape_ts, v});
    };
    report("up", status.ok() ? 1 : 0);
    report("scrape_duration_seconds", seconds);
    report("scrape_samples_scraped", static_cast<double>(scraped));
    report("scrape_samples_post_metric_relabeling", static_cast<double>(post_relabel));
    report("scrape_series_added", static_cast<double>(added));
    t.has_report = true;
    uint64_t rejected = Write(series, samples);
    if (rejected) metrics_.rejected.WithLabels({t.status.job}).Inc(static_cast<double>(rejected));
    t.previous = std::move(current);
    metrics_.scrapes.WithLabels({t.status.job, status.ok() ? "ok" : "failed"}).Inc();
    metrics_.duration.WithLabels({t.status.job}).Observe(seconds);
    MutexLock lock(mu_);
    if (status.ok()) t.metadata = std::move(parsed.families);
    t.status.health = status.ok() ? "up" : "down";
    t.status.last_error = status.ok() ? "" : status.message();
    t.status.last_scrape_ms = scrape_ts;
    t.status.last_duration_seconds = seconds;
    t.status.last_samples = post_relabel;
  }

  // Target labels win over scraped ones unless honor_labels; a scraped label that loses
  // is kept as exported_<name>.
  model::Labels MergeLabels(const Target& t, std::span<const model::LabelView> scraped) {
    model::Labels out;
    out.reserve(scraped.size() + t.status.labels.size());
    for (const model::LabelView& l : scraped)
      out.push_back({std::string(l.name), std::string(l.value)});
    bool honor = t.config && t.config->honor_labels;
    for (const model::Label& tl : t.status.labels) {
      auto it = std::find_if(out.begin(), out.end(),
                             [&](const model::Label& l) { return l.name == tl.name; });
      if (it == out.end()) {
        out.push_back(tl);
      } else if (!honor) {
        std::string exported = "exported_" + it->name;
        std::string value = std::move(it->value);
        it->value = tl.value;
        out.push_back({exported, std::move(value)});
      }
    }
    out.erase(std::remove_if(out.begin(), out.end(),
                             [](const model::Label& l) { return l.value.empty(); }),
              out.end());
    std::sort(out.begin(), out.end(),
              [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
    return out;
  }

  uint64_t Write(const std::vector<model::Labels>& series,
                 const std::vector<model::Sample>& samples) {
    std::vector<std::vector<model::LabelView>> views(series.size());
    std::vector<model::SeriesInput> batch(series.size());
    for (size_t i = 0; i < series.size(); ++i) {
      for (const model::Label& l : series[i]) views[i].push_back({l.name, l.value});
      batch[i] = model::SeriesInput{views[i], std::span<const model::Sample>(&samples[i], 1)};
    }
    model::AppendResult result;
    Status s = db_.Append(batch, result);
    if (!s.ok()) {
      LogWarn("scraped samples not stored", {{"error", s.message()}});
      return samples.size();
    }
    return result.samples_rejected;
  }

  void WriteStale(const std::vector<model::Labels>& series, int64_t ts) {
    std::vector<model::Sample> samples(series.size(), model::Sample{ts, model::StaleNaN()});
    if (!series.empty()) Write(series, samples);
  }

  const config::Config config_;
  model::MetricsSink& db_;
  ScrapeMetrics metrics_;
  std::function<std::string()> self_metrics_;
  asio::io_context ioc_{1};
  std::thread thread_;
  std::atomic<bool> stopped_{false};
  mutable Mutex mu_;  // guards each target's status (per object: not expressible to the analysis)
  std::vector<std::unique_ptr<Target>> targets_;
};

}  // namespace

Result<std::unique_ptr<Scraper>> Scraper::Create(const config::Config& config,
                                                 model::MetricsSink& db,
                                                 selfmon::Registry& registry,
                                                 std::function<std::string()> self_metrics,
                                                 std::string self_instance) {
  auto scraper = std::make_unique<ScraperImpl>(config, db, registry, std::move(self_metrics));
  PHAROS_RETURN_IF_ERROR(scraper->Build(self_instance));
  return std::unique_ptr<Scraper>(std::move(scraper));
}

}  // namespace pharos::scrape
