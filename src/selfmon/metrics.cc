#include "selfmon/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"

namespace pharos::selfmon {

// ---- Histogram ----

Histogram::Histogram(const std::vector<double>& upper_bounds)
    : upper_bounds_(upper_bounds),
      counts_(std::make_unique<std::atomic<uint64_t>[]>(upper_bounds.size() + 1)) {}

void Histogram::Observe(double v) {
  size_t i = static_cast<size_t>(std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), v) -
                                 upper_bounds_.begin());
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  s.cumulative_counts.resize(upper_bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative_counts[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

// ---- Family ----

template <typename M>
M& Family<M>::WithLabels(std::initializer_list<std::string_view> values) {
  return Get(std::vector<std::string>(values.begin(), values.end()));
}

template <typename M>
M& Family<M>::WithLabels(const std::vector<std::string>& values) {
  return Get(values);
}

template <typename M>
M& Family<M>::Get(std::vector<std::string> key) {
  if (key.size() != label_names_.size()) {
    LogError("metric label count mismatch", {{"want", label_names_.size()}, {"got", key.size()}});
    std::abort();
  }
  MutexLock lock(mu_);
  auto it = children_.find(key);
  if (it != children_.end()) return *it->second;
  std::unique_ptr<M> child;
  if constexpr (std::is_same_v<M, Histogram>) {
    child = std::make_unique<Histogram>(buckets_);
  } else {
    child = std::make_unique<M>();
  }
  M& ref = *child;
  children_.emplace(std::move(key), std::move(child));
  return ref;
}

template <typename M>
void Family<M>::ForEach(
    const std::function<void(const std::vector<std::string>&, const M&)>& fn) const {
  MutexLock lock(mu_);
  for (const auto& [values, child] : children_) fn(values, *child);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---- names and values ----

void AppendPrometheusFloat(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

namespace {

void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

std::string_view TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

void AppendHeader(std::string& out, std::string_view name, std::string_view help, MetricType t) {
  out += "# HELP ";
  out += name;
  out += ' ';
  AppendHelp(out, help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += TypeName(t);
  out += '\n';
}

// Appends `name{l1="v1",...,extra_name="extra_value"} value\n`.
void AppendSample(std::string& out, std::string_view name, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view extra_name,
                  std::string_view extra_value, double value) {
  out += name;
  if (!names.empty() || !extra_name.empty()) {
    out += '{';
    bool first = true;
    for (size_t i = 0; i < names.size(); ++i) {
      if (!first) out += ',';
      first = false;
      out += names[i];
      out += "=\"";
      AppendLabelValue(out, values[i]);
      out += '"';
    }
    if (!extra_name.empty()) {
      if (!first) out += ',';
      out += extra_name;
      out += "=\"";
      out += extra_value;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendPrometheusFloat(out, value);
  out += '\n';
}

class TextWriter : public SampleWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}
  void Family(std::string_view name, std::string_view help, MetricType type) override {
    AppendHeader(out_, name, help, type);
  }
  void Sample(std::string_view name,
              std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value) override {
    out_ += name;
    if (labels.size() > 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        AppendLabelValue(out_, v);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    AppendPrometheusFloat(out_, value);
    out_ += '\n';
  }

 private:
  std::string& out_;
};

}  // namespace

// ---- Registry ----

Registry::Entry& Registry::AddEntry(std::string name, std::string help, MetricType type,
                                    std::vector<std::string> label_names) {
  if (!IsValidMetricName(name)) {
    LogError("invalid metric name", {{"name", name}});
    std::abort();
  }
  for (const std::string& l : label_names) {
    if (!IsValidLabelName(l)) {
      LogError("invalid label name", {{"metric", name}, {"label", l}});
      std::abort();
    }
  }
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (it->second.type != type || it->second.label_names != label_names) {
      LogError("metric registered twice with a different type or labels", {{"name", name}});
      std::abort();
    }
    return it->second;
  }
  Entry& e = families_[name];
  e.help = std::move(help);
  e.type = type;
  e.label_names = std::move(label_names);
  return e;
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  MutexLock lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), MetricType::kCounter, label_names);
  if (!e.counter)
    e.counter = std::make_unique<Family<Counter>>(std::move(label_names), std::vector<double>{});
  return *e.counter;
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  MutexLock lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), MetricType::kGauge, label_names);
  if (!e.gauge)
    e.gauge = std::make_unique<Family<Gauge>>(std::move(label_names), std::vector<double>{});
  return *e.gauge;
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> upper_bounds) {
  std::sort(upper_bounds.begin(), upper_bounds.end());
  upper_bounds.erase(std::unique(upper_bounds.begin(), upper_bounds.end()), upper_bounds.end());
  MutexLock lock(mu_);
  Entry& e = AddEntry(std::move(name), std::move(help), MetricType::kHistogram, label_names);
  if (!e.histogram) {
    e.histogram =
        std::make_unique<Family<Histogram>>(std::move(label_names), std::move(upper_bounds));
  }
  return *e.histogram;
}

void Registry::AddCollector(std::function<void(SampleWriter&)> collector) {
  MutexLock lock(mu_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::Render() const {
  std::string out;
  out.reserve(16 * 1024);
  MutexLock lock(mu_);
  for (const auto& family : families_) {
    // Named references, not structured bindings: lambdas below capture them.
    const std::string& name = family.first;
    const Entry& e = family.second;
    AppendHeader(out, name, e.help, e.type);
    switch (e.type) {
      case MetricType::kCounter:
        e.counter->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
          AppendSample(out, name, e.label_names, values, {}, {}, c.Value());
        });
        break;
      case MetricType::kGauge:
        e.gauge->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
          AppendSample(out, name, e.label_names, values, {}, {}, g.Value());
        });
        break;
      case MetricType::kHistogram: {
        std::string bucket = name + "_bucket";
        std::string sum = name + "_sum";
        std::string count = name + "_count";
        e.histogram->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
          Histogram::Snapshot s = h.Snap();
          std::string le;
          for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
            le.clear();
            AppendPrometheusFloat(le, s.upper_bounds[i]);
            AppendSample(out, bucket, e.label_names, values, "le", le,
                         static_cast<double>(s.cumulative_counts[i]));
          }
          AppendSample(out, bucket, e.label_names, values, "le", "+Inf",
                       static_cast<double>(s.count));
          AppendSample(out, sum, e.label_names, values, {}, {}, s.sum);
          AppendSample(out, count, e.label_names, values, {}, {}, static_cast<double>(s.count));
        });
        break;
      }
    }
  }
  TextWriter writer(out);
  for (const auto& collector : collectors_) collector(writer);
  return out;
}

}  // namespace pharos::selfmon
