// selfmon: Pharos's own metrics registry and the Prometheus text exposition of it.
//
// Contract: every module declares its metrics in one place (a `FooMetrics` struct built
// from a Registry&) and keeps references to the children it updates. Counter, Gauge and
// Histogram updates are lock-free atomics, safe from any thread. Looking up a child by
// label values takes the family's mutex; hot paths look up once and cache the reference.
// Children live as long as the Registry, so cached references stay valid. Registering the
// same name twice with the same type and labels returns the existing family; a clash of
// type or labels is a programming error and aborts at start-up. Render() is safe to call
// concurrently with updates and produces the text format 0.0.4, families sorted by name.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/mutex.h"
#include "common/strings.h"

namespace pharos::selfmon {

class Counter {
 public:
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Add(-1); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  /// `upper_bounds` ascending; the +Inf bucket is implicit.
  explicit Histogram(const std::vector<double>& upper_bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;

 private:
  std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // upper_bounds_.size() + 1
  std::atomic<double> sum_{0};
};

/// Buckets for request latencies in seconds: 0.5 ms to 60 s.
std::vector<double> LatencyBuckets();
/// `count` buckets starting at `start`, each `factor` times the previous.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

/// A metric family: one name, help text, label names, and one child per label values.
template <typename M>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::vector<double> buckets)
      : label_names_(std::move(label_names)), buckets_(std::move(buckets)) {}

  /// The child for these label values (created on first use). The count of values must
  /// match the label names; a mismatch is a programming error and aborts.
  M& WithLabels(std::initializer_list<std::string_view> values);
  M& WithLabels(const std::vector<std::string>& values);
  const std::vector<std::string>& label_names() const { return label_names_; }

  /// Calls `fn(values, child)` for every child, in label order, under the family lock.
  void ForEach(const std::function<void(const std::vector<std::string>&, const M&)>& fn) const;

 private:
  M& Get(std::vector<std::string> key);
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> children_ PHAROS_GUARDED_BY(mu_);
};

/// Writes samples for collectors that compute values at scrape time.
class SampleWriter {
 public:
  virtual ~SampleWriter() = default;
  virtual void Family(std::string_view name, std::string_view help, MetricType type) = 0;
  /// labels: name/value pairs.
  virtual void Sample(std::string_view name,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                      double value) = 0;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> upper_bounds);

  /// A callback run at every Render(), for values read at scrape time (process stats).
  void AddCollector(std::function<void(SampleWriter&)> collector);

  /// The whole registry in the Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  struct Entry {
    std::string help;
    MetricType type;
    std::vector<std::string> label_names;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry& AddEntry(std::string name, std::string help, MetricType type,
                  std::vector<std::string> label_names) PHAROS_REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<std::string, Entry> families_ PHAROS_GUARDED_BY(mu_);
  std::vector<std::function<void(SampleWriter&)>> collectors_ PHAROS_GUARDED_BY(mu_);
};

/// Adds process_* metrics (CPU seconds, resident and virtual memory, open and max file
/// descriptors, start time) read from /proc at scrape time.
void RegisterProcessCollector(Registry& registry);

/// Adds pharos_build_info{version,revision} = 1.
void RegisterBuildInfo(Registry& registry, std::string_view version, std::string_view revision);

using pharos::IsValidLabelName;   // common/strings.h
using pharos::IsValidMetricName;  // common/strings.h

/// Appends a float the way Prometheus writes it: shortest round-trip, "+Inf", "-Inf", "NaN".
void AppendPrometheusFloat(std::string& out, double v);

}  // namespace pharos::selfmon
