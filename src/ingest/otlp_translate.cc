// OTLP metrics to Prometheus series, following Prometheus's OTLP receiver (otlptranslator):
// names with unit and type suffixes, service.name/namespace to job, service.instance.id to
// instance, other resource attributes on target_info, scope as otel_scope_name/version.
#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "ingest/otlp.h"

namespace pharos::ingest::otlp {
namespace {

bool IsNameChar(char c, bool first, bool metric) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':') ||
         (!first && c >= '0' && c <= '9');
}

// Replaces invalid characters with '_' and collapses runs of '_' (keeping a leading one).
std::string Sanitize(std::string_view s, bool metric) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = IsNameChar(s[i], false, metric) ? s[i] : '_';
    if (c == '_' && !out.empty() && out.back() == '_') continue;
    out += c;
  }
  return out;
}

const std::map<std::string, std::string>& UnitNames() {
  static const std::map<std::string, std::string> kUnits = {
      {"d", "days"},          {"h", "hours"},         {"min", "minutes"},    {"s", "seconds"},
      {"ms", "milliseconds"}, {"us", "microseconds"}, {"ns", "nanoseconds"}, {"By", "bytes"},
      {"KiBy", "kibibytes"},  {"MiBy", "mebibytes"},  {"GiBy", "gibibytes"}, {"TiBy", "tibibytes"},
      {"KBy", "kilobytes"},   {"MBy", "megabytes"},   {"GBy", "gigabytes"},  {"TBy", "terabytes"},
      {"m", "meters"},        {"V", "volts"},         {"A", "amperes"},      {"J", "joules"},
      {"W", "watts"},         {"g", "grams"},         {"Cel", "celsius"},    {"Hz", "hertz"},
      {"%", "percent"},
  };
  return kUnits;
}

const std::map<std::string, std::string>& PerUnitNames() {
  static const std::map<std::string, std::string> kPer = {
      {"s", "second"}, {"m", "minute"}, {"h", "hour"}, {"d", "day"},
      {"w", "week"},   {"mo", "month"}, {"y", "year"},
  };
  return kPer;
}

std::string UnitWord(std::string_view unit, const std::map<std::string, std::string>& table) {
  auto it = table.find(std::string(unit));
  return it != table.end() ? it->second : std::string(unit);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string AttrValue(const model::Attributes& attrs, std::string_view key) {
  const model::AnyValue* v = model::FindAttribute(attrs, key);
  return v ? v->ToText() : std::string();
}

// Adds `name`=`value`; attributes whose names collide after sanitizing are joined with ';'.
void AddLabel(std::map<std::string, std::string>& labels, const std::string& name,
              const std::string& value) {
  if (value.empty()) return;
  auto [it, inserted] = labels.emplace(name, value);
  if (!inserted && it->second != value) it->second += ";" + value;
}

model::Labels ToLabels(const std::map<std::string, std::string>& m) {
  model::Labels out;
  for (const auto& [k, v] : m) out.push_back({k, v});
  return out;
}

std::string SeriesKey(const model::Labels& labels, uint64_t start_ns) {
  std::string key = std::to_string(start_ns);
  for (const model::Label& l : labels) {
    key += '\xff';
    key += l.name;
    key += '\xfe';
    key += l.value;
  }
  return key;
}

std::string FormatBound(double b) {
  if (std::isinf(b)) return b > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", b);
}

}  // namespace

std::string LabelName(std::string_view key) {
  std::string out = Sanitize(key, false);
  if (out.empty()) return "_";
  if (out[0] >= '0' && out[0] <= '9') out = "key_" + out;
  return out;
}

std::string MetricName(const Metric& metric) {
  std::string name = Sanitize(metric.name, true);
  if (name.empty()) name = "_";
  if (name[0] >= '0' && name[0] <= '9') name = "_" + name;
  // Unit: strip annotations in braces, map UCUM to words, "a/b" to "a_per_b".
  std::string unit = metric.unit;
  size_t brace;
  while ((brace = unit.find('{')) != std::string::npos) {
    size_t close = unit.find('}', brace);
    unit.erase(brace, close == std::string::npos ? std::string::npos : close - brace + 1);
  }
  std::string suffix;
  if (unit == "1" && metric.kind == Kind::kGauge) {
    suffix = "ratio";
  } else if (!unit.empty() && unit != "1") {
    size_t slash = unit.find('/');
    std::string main = UnitWord(unit.substr(0, slash), UnitNames());
    if (slash != std::string::npos) {
      std::string per = UnitWord(unit.substr(slash + 1), PerUnitNames());
      suffix = main.empty() ? "per_" + per : main + "_per_" + per;
    } else {
      suffix = main;
    }
    suffix = Sanitize(suffix, false);
    while (!suffix.empty() && suffix.front() == '_') suffix.erase(suffix.begin());
    while (!suffix.empty() && suffix.back() == '_') suffix.pop_back();
  }
  if (!suffix.empty() && !EndsWith(name, "_" + suffix)) name += "_" + suffix;
  bool counter = metric.kind == Kind::kSum && metric.monotonic;
  if (counter && !EndsWith(name, "_total")) name += "_total";
  return name;
}

double DeltaState::Accumulate(const std::string& key, double delta) {
  MutexLock lock(mu_);
  if (totals_.size() >= kMaxEntries && !totals_.count(key)) totals_.clear();  // bounded memory
  double& total = totals_[key];
  total += delta;
  return total;
}

void Translate(const Request& request, DeltaState& deltas, TranslateResult& out) {
  auto reject = [&out](uint64_t n, std::string message) {
    out.rejected_points += n;
    if (out.errors.size() < 8) out.errors.push_back(std::move(message));
  };
  for (const Resource& group : request.resources) {
    const model::Resource& resource = group.resource;
    std::string service = AttrValue(resource.attributes, "service.name");
    std::string ns = AttrValue(resource.attributes, "service.namespace");
    std::string job = ns.empty() ? service : ns + "/" + service;
    std::string instance = AttrValue(resource.attributes, "service.instance.id");
    int64_t latest_ms = 0;
    for (const Scope& scope_group : group.scopes) {
      const model::InstrumentationScope& scope = scope_group.scope;
      for (const Metric& metric : scope_group.metrics) {
        if (!metric.has_data) {
          reject(0, fmt::format("metric {} has no data", metric.name));
          continue;
        }
        std::string name = MetricName(metric);
        for (const Point& p : metric.points) {
          ++out.points;
          if (p.time_ns == 0) {
            reject(1, fmt::format("data point of {} has no time_unix_nano", metric.name));
            continue;
          }
          if ((metric.kind == Kind::kSum || metric.kind == Kind::kHistogram ||
               metric.kind == Kind::kExponentialHistogram) &&
              metric.temporality == Temporality::kUnspecified) {
            reject(1, fmt::format("{} has no aggregation temporality", metric.name));
            continue;
          }
          int64_t ts = static_cast<int64_t>(p.time_ns / 1000000);
          latest_ms = std::max(latest_ms, ts);
          bool stale = (p.flags & 1) != 0;
          std::map<std::string, std::string> base;
          for (const model::KeyValue& a : p.attributes)
            AddLabel(base, LabelName(a.key), a.value.ToText());
          if (!scope.name.empty()) base["otel_scope_name"] = scope.name;
          if (!scope.version.empty()) base["otel_scope_version"] = scope.version;
          if (!job.empty()) base["job"] = job;
          if (!instance.empty()) base["instance"] = instance;
          auto emit = [&](const std::string& metric_name, std::map<std::string, std::string> labels,
                          double v) {
            labels["__name__"] = metric_name;
            out.series.push_back(
                Series{ToLabels(labels), model::Sample{ts, stale ? model::StaleNaN() : v}});
          };
          bool delta = metric.temporality == Temporality::kDelta;
          // Delta points become cumulative: a running total per series and start time.
          auto cumulative = [&](const std::string& metric_name,
                                const std::map<std::string, std::string>& labels, double v) {
            if (!delta || stale) return v;
            std::map<std::string, std::string> with_name = labels;
            with_name["__name__"] = metric_name;
            return deltas.Accumulate(SeriesKey(ToLabels(with_name), 0), v);
          };
          switch (metric.kind) {
            case Kind::kGauge:
            case Kind::kSum: {
              if (!p.has_value && !stale) {
                reject(1, fmt::format("data point of {} has no value", metric.name));
                continue;
              }
              bool counter = metric.kind == Kind::kSum && metric.monotonic;
              emit(name, base, counter ? cumulative(name, base, p.value) : p.value);
              break;
            }
            case Kind::kHistogram: {
              if (!p.bucket_counts.empty() &&
                  p.bucket_counts.size() != p.explicit_bounds.size() + 1) {
                reject(1, fmt::format("histogram {}: {} bucket counts for {} bounds", metric.name,
                                      p.bucket_counts.size(), p.explicit_bounds.size()));
                continue;
              }
              uint64_t running = 0;
              for (size_t i = 0; i < p.bucket_counts.size(); ++i) {
                running += p.bucket_counts[i];
                std::map<std::string, std::string> l = base;
                l["le"] = i < p.explicit_bounds.size() ? FormatBound(p.explicit_bounds[i]) : "+Inf";
                emit(name + "_bucket", l,
                     cumulative(name + "_bucket", l, static_cast<double>(running)));
              }
              if (p.bucket_counts.empty()) {
                std::map<std::string, std::string> l = base;
                l["le"] = "+Inf";
                emit(name + "_bucket", l,
                     cumulative(name + "_bucket", l, static_cast<double>(p.count)));
              }
              if (p.sum) emit(name + "_sum", base, cumulative(name + "_sum", base, *p.sum));
              emit(name + "_count", base,
                   cumulative(name + "_count", base, static_cast<double>(p.count)));
              break;
            }
            case Kind::kExponentialHistogram: {
              // Classic buckets at the exponential bounds: every bucket count is kept, so the
              // exponential histogram can be rebuilt from the le labels.
              if (p.scale < -10 || p.scale > 20) {
                reject(1, fmt::format("exponential histogram {}: scale {} out of range",
                                      metric.name, p.scale));
                continue;
              }
              double base_value = std::pow(2.0, std::pow(2.0, -p.scale));
              std::vector<std::pair<double, uint64_t>> buckets;  // (upper bound, count)
              for (size_t i = p.negative_counts.size(); i-- > 0;) {
                int64_t k = static_cast<int64_t>(p.negative_offset) + static_cast<int64_t>(i);
                buckets.push_back(
                    {-std::pow(base_value, static_cast<double>(k)), p.negative_counts[i]});
              }
              buckets.push_back({p.zero_threshold, p.zero_count});
              for (size_t i = 0; i < p.positive_counts.size(); ++i) {
                int64_t k = static_cast<int64_t>(p.positive_offset) + static_cast<int64_t>(i);
                buckets.push_back(
                    {std::pow(base_value, static_cast<double>(k + 1)), p.positive_counts[i]});
              }
              uint64_t running = 0;
              for (const auto& [bound, count] : buckets) {
                running += count;
                std::map<std::string, std::string> l = base;
                l["le"] = FormatBound(bound);
                emit(name + "_bucket", l,
                     cumulative(name + "_bucket", l, static_cast<double>(running)));
              }
              std::map<std::string, std::string> inf = base;
              inf["le"] = "+Inf";
              emit(name + "_bucket", inf,
                   cumulative(name + "_bucket", inf, static_cast<double>(p.count)));
              if (p.sum) emit(name + "_sum", base, cumulative(name + "_sum", base, *p.sum));
              emit(name + "_count", base,
                   cumulative(name + "_count", base, static_cast<double>(p.count)));
              break;
            }
            case Kind::kSummary: {
              for (const auto& [q, v] : p.quantiles) {
                std::map<std::string, std::string> l = base;
                l["quantile"] = FormatBound(q);
                emit(name, l, v);
              }
              emit(name + "_sum", base, p.sum.value_or(0));
              emit(name + "_count", base, static_cast<double>(p.count));
              break;
            }
          }
        }
      }
    }
    // target_info carries the resource attributes that are not job or instance.
    std::map<std::string, std::string> info;
    for (const model::KeyValue& a : resource.attributes) {
      if (a.key == "service.name" || a.key == "service.namespace" || a.key == "service.instance.id")
        continue;
      AddLabel(info, LabelName(a.key), a.value.ToText());
    }
    if (!info.empty() && latest_ms > 0 && (!job.empty() || !instance.empty())) {
      if (!job.empty()) info["job"] = job;
      if (!instance.empty()) info["instance"] = instance;
      info["__name__"] = "target_info";
      out.series.push_back(Series{ToLabels(info), model::Sample{latest_ms, 1}});
    }
  }
}

}  // namespace pharos::ingest::otlp
