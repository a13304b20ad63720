// Span metrics and the service graph, computed as spans arrive (traces.h: MetricsGenerator).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

// The names the OpenTelemetry Collector's spanmetrics connector gives, through the
// Prometheus exporter.
std::string_view KindEnum(int32_t kind) {
  static constexpr std::string_view kNames[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                                "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                                "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
  return kind >= 0 && kind < 6 ? kNames[kind] : kNames[0];
}
std::string_view StatusEnum(int32_t code) {
  return code == 1 ? "STATUS_CODE_OK" : code == 2 ? "STATUS_CODE_ERROR" : "STATUS_CODE_UNSET";
}

std::string ServiceOf(const model::Resource& resource) {
  const model::AnyValue* v = model::FindAttribute(resource.attributes, "service.name");
  return v != nullptr && !v->str.empty() ? v->ToText() : "unknown_service";
}

// A key from parts that cannot run into each other (each is length-prefixed).
std::string Key(std::initializer_list<std::string_view> parts) {
  std::string key;
  for (std::string_view p : parts) {
    key += std::to_string(p.size());
    key += ':';
    key += p;
  }
  return key;
}

}  // namespace

void MetricsGenerator::Histogram::Observe(double seconds, std::span<const double> bounds) {
  size_t i = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
  if (counts.empty()) counts.assign(bounds.size() + 1, 0);
  ++counts[i];
  sum += seconds;
  ++count;
}

MetricsGenerator::MetricsGenerator(const Services& services, selfmon::Registry& registry,
                                   GeneratorOptions options, model::SpansSink& next)
    : services_(services),
      options_(std::move(options)),
      next_(next),
      dropped_(registry.AddCounter(
          "pharos_traces_generator_dropped_total",
          "Spans and edges the span metrics and service graph did not count, by reason "
          "(series: over max_series; edge_pending: over the pending edges; edge_expired: "
          "no other half within the wait).",
          {"reason"})) {
  std::sort(options_.buckets.begin(), options_.buckets.end());
  if (options_.flush_interval.count() > 0) {
    flusher_ = std::thread([this] {
      MutexLock lock(mu_);
      while (!stop_) {
        cv_.wait_for(lock.native(), options_.flush_interval);
        if (stop_) break;
        lock.Unlock();
        if (Status s = Flush(); !s.ok())
          LogWarn("writing span metrics failed", {{"error", s.message()}});
        lock.Lock();
      }
    });
  }
}

MetricsGenerator::~MetricsGenerator() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
}

int64_t MetricsGenerator::NowNs() const {
  return options_.now_ns ? options_.now_ns()
                         : std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
}

Status MetricsGenerator::AppendOtlpSpans(std::span<const model::ResourceSpans> spans,
                                         model::RecordsAppendResult& result) {
  Observe(spans);
  return next_.AppendOtlpSpans(spans, result);
}

void MetricsGenerator::Observe(std::span<const model::ResourceSpans> groups) {
  const int64_t now = NowNs();
  uint64_t dropped_series = 0, dropped_edges = 0;
  MutexLock lock(mu_);
  for (const model::ResourceSpans& rs : groups) {
    std::string service = ServiceOf(rs.resource);
    for (const model::ScopeSpans& ss : rs.scopes) {
      for (const model::Span& span : ss.spans) {
        if (span.trace_id.size() != 16 || span.span_id.size() != 8) continue;  // refused later
        double seconds =
            span.end_time_unix_nano > span.start_time_unix_nano
                ? static_cast<double>(span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
                : 0.0;
        std::string key =
            Key({service, span.name, KindEnum(span.kind), StatusEnum(span.status_code)});
        auto it = calls_.find(key);
        if (it == calls_.end()) {
          if (calls_.size() >= options_.max_series) {
            ++dropped_series;
          } else {
            it = calls_
                     .emplace(key, SpanSeries{service,
                                              span.name,
                                              std::string(KindEnum(span.kind)),
                                              std::string(StatusEnum(span.status_code)),
                                              {},
                                              {}})
                     .first;
          }
        }
        if (it != calls_.end()) {
          it->second.duration.Observe(seconds, options_.buckets);
          Pick& pick = it->second.exemplar;
          if (!pick.set || seconds > pick.seconds) {
            pick = {true, seconds, static_cast<int64_t>(span.end_time_unix_nano / 1'000'000),
                    HexEncode(span.trace_id), HexEncode(span.span_id)};
          }
        }
        // The service graph: a client (producer) span and the server (consumer) span whose
        // parent it is make one request from the one's service to the other's.
        bool client = span.kind == 3 || span.kind == 4;
        bool server = span.kind == 2 || span.kind == 5;
        if (!client && !server) continue;
        std::string half_key = span.trace_id + (client ? span.span_id : span.parent_span_id);
        if (server && span.parent_span_id.empty()) continue;
        Half mine{service, seconds, span.status_code == 2, client, span.kind >= 4, now};
        auto pending = pending_.find(half_key);
        if (pending != pending_.end() && pending->second.client != client) {
          const Half& c = client ? mine : pending->second;
          const Half& s = client ? pending->second : mine;
          Edge& edge = edges_[Key({c.service, s.service, c.messaging ? "messaging_system" : ""})];
          if (edge.client.empty()) {
            edge.client = c.service;
            edge.server = s.service;
            edge.messaging = c.messaging;
          }
          ++edge.requests;
          edge.failed += c.failed || s.failed;
          edge.client_seconds.Observe(c.seconds, options_.buckets);
          edge.server_seconds.Observe(s.seconds, options_.buckets);
          pending_.erase(pending);
        } else if (pending_.size() >= options_.max_pending_edges) {
          ++dropped_edges;
        } else {
          pending_.insert_or_assign(std::move(half_key), std::move(mine));
        }
      }
    }
  }
  lock.Unlock();
  if (dropped_series) dropped_.WithLabels({"series"}).Inc(static_cast<double>(dropped_series));
  if (dropped_edges) dropped_.WithLabels({"edge_pending"}).Inc(static_cast<double>(dropped_edges));
}

Status MetricsGenerator::Flush() {
  const int64_t now_ns = NowNs();
  const int64_t now_ms = now_ns / 1'000'000;
  // Series with owned label strings, then views for the sink.
  std::vector<std::pair<model::Labels, double>> series;
  auto add = [&series](model::Labels labels, double value) {
    model::SortLabels(labels);
    series.emplace_back(std::move(labels), value);
  };
  auto histogram = [&](const std::string& name, const model::Labels& base, const Histogram& h) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= options_.buckets.size(); ++i) {
      cumulative += h.counts.empty() ? 0 : h.counts[i];
      model::Labels labels = base;
      labels.push_back({"__name__", name + "_bucket"});
      labels.push_back(
          {"le", i < options_.buckets.size() ? fmt::format("{}", options_.buckets[i]) : "+Inf"});
      add(std::move(labels), static_cast<double>(cumulative));
    }
    model::Labels sum = base, count = base;
    sum.push_back({"__name__", name + "_sum"});
    count.push_back({"__name__", name + "_count"});
    add(std::move(sum), h.sum);
    add(std::move(count), static_cast<double>(h.count));
  };
  uint64_t expired = 0;
  std::vector<std::pair<model::Labels, model::Exemplar>> exemplars;
  {
    MutexLock lock(mu_);
    const int64_t wait_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.edge_wait).count();
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (now_ns - it->second.seen_ns > wait_ns) {
        it = pending_.erase(it);
        ++expired;
      } else {
        ++it;
      }
    }
    for (auto& [key, s] : calls_) {
      model::Labels base = {{"service_name", s.service},
                            {"span_name", s.name},
                            {"span_kind", s.kind},
                            {"status_code", s.status}};
      if (s.exemplar.set) {
        size_t b =
            std::lower_bound(options_.buckets.begin(), options_.buckets.end(), s.exemplar.seconds) -
            options_.buckets.begin();
        model::Labels labels = base;
        labels.push_back({"__name__", "traces_span_metrics_duration_seconds_bucket"});
        labels.push_back(
            {"le", b < options_.buckets.size() ? fmt::format("{}", options_.buckets[b]) : "+Inf"});
        model::SortLabels(labels);
        exemplars.push_back({std::move(labels),
                             {{{"span_id", s.exemplar.span_id}, {"trace_id", s.exemplar.trace_id}},
                              s.exemplar.seconds,
                              s.exemplar.t_ms}});
        s.exemplar = Pick();
      }
      model::Labels calls = base;
      calls.push_back({"__name__", "traces_span_metrics_calls_total"});
      add(std::move(calls), static_cast<double>(s.duration.count));
      histogram("traces_span_metrics_duration_seconds", base, s.duration);
    }
    for (const auto& [key, e] : edges_) {
      model::Labels base = {{"client", e.client}, {"server", e.server}};
      if (e.messaging) base.push_back({"connection_type", "messaging_system"});
      model::Labels requests = base, failed = base;
      requests.push_back({"__name__", "traces_service_graph_request_total"});
      failed.push_back({"__name__", "traces_service_graph_request_failed_total"});
      add(std::move(requests), static_cast<double>(e.requests));
      add(std::move(failed), static_cast<double>(e.failed));
      histogram("traces_service_graph_request_client_seconds", base, e.client_seconds);
      histogram("traces_service_graph_request_server_seconds", base, e.server_seconds);
    }
  }
  if (expired) dropped_.WithLabels({"edge_expired"}).Inc(static_cast<double>(expired));
  if (model::ExemplarSink* sink = services_.Get<model::ExemplarSink>();
      sink != nullptr && !exemplars.empty()) {
    std::vector<std::vector<model::LabelView>> views(exemplars.size());
    std::vector<model::ExemplarInput> inputs;
    inputs.reserve(exemplars.size());
    for (size_t i = 0; i < exemplars.size(); ++i) {
      for (const model::Label& l : exemplars[i].first) views[i].push_back({l.name, l.value});
      inputs.push_back({views[i], exemplars[i].second});
    }
    sink->AppendExemplars(inputs);
  }
  if (series.empty()) return Status::Ok();
  model::MetricsSink* sink = services_.Get<model::MetricsSink>();
  if (sink == nullptr) return Unavailable("the metrics store is not open yet");
  std::vector<std::vector<model::LabelView>> views(series.size());
  std::vector<model::Sample> samples(series.size());
  std::vector<model::SeriesInput> batch(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    for (const model::Label& l : series[i].first) views[i].push_back({l.name, l.value});
    samples[i] = {now_ms, series[i].second};
    batch[i] = {views[i], std::span<const model::Sample>(&samples[i], 1)};
  }
  model::AppendResult appended;
  PHAROS_RETURN_IF_ERROR(sink->Append(batch, appended));
  if (!appended.errors.empty())
    return Internal(fmt::format("{} span metric samples refused: {}", appended.samples_rejected,
                                appended.errors[0]));
  return Status::Ok();
}

}  // namespace pharos::traces
