// Internal to ingest: OTLP metrics, decoded from protobuf or JSON into one model, then
// translated into Prometheus series the way Prometheus's OTLP receiver names them.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "common/status.h"
#include "model/model.h"

namespace pharos::ingest::otlp {

enum class Kind { kGauge, kSum, kHistogram, kExponentialHistogram, kSummary };
enum class Temporality { kUnspecified = 0, kDelta = 1, kCumulative = 2 };

struct Point {
  model::Attributes attributes;
  uint64_t start_ns = 0;
  uint64_t time_ns = 0;
  uint32_t flags = 0;
  bool has_value = false;
  double value = 0;  // gauge and sum
  // histograms and summaries
  uint64_t count = 0;
  std::optional<double> sum;
  std::vector<uint64_t> bucket_counts;
  std::vector<double> explicit_bounds;
  // exponential histogram
  int32_t scale = 0;
  uint64_t zero_count = 0;
  double zero_threshold = 0;
  int32_t positive_offset = 0;
  std::vector<uint64_t> positive_counts;
  int32_t negative_offset = 0;
  std::vector<uint64_t> negative_counts;
  // summary
  std::vector<std::pair<double, double>> quantiles;  // (quantile, value)
  uint64_t exemplars = 0;
};

struct Metric {
  std::string name;
  std::string unit;
  Kind kind = Kind::kGauge;
  Temporality temporality = Temporality::kUnspecified;
  bool monotonic = false;
  bool has_data = false;
  std::vector<Point> points;
};

struct Scope {
  model::InstrumentationScope scope;
  std::vector<Metric> metrics;
};

struct Resource {
  model::Resource resource;
  std::vector<Scope> scopes;
};

struct Request {
  std::vector<Resource> resources;
};

Status DecodeProto(std::string_view body, Request& out);
/// An ExportLogsServiceRequest, protobuf or (with `json`) OTLP JSON.
Status DecodeLogs(std::string_view body, bool json, std::vector<model::ResourceLogs>& out);
/// An ExportTraceServiceRequest, protobuf or (with `json`) OTLP JSON.
Status DecodeTraces(std::string_view body, bool json, std::vector<model::ResourceSpans>& out);
Status DecodeJson(std::string_view body, Request& out);

/// Prometheus series of one request, with owned label strings.
struct Series {
  model::Labels labels;
  model::Sample sample;
};

struct TranslateResult {
  std::vector<Series> series;
  uint64_t points = 0;
  uint64_t rejected_points = 0;
  std::vector<std::string> errors;
};

/// Keeps running totals so that delta sums and histograms become cumulative series.
class DeltaState {
 public:
  /// Adds `delta` to the running total of `key` and returns the total.
  double Accumulate(const std::string& key, double delta);

 private:
  static constexpr size_t kMaxEntries = 1'000'000;
  Mutex mu_;
  std::unordered_map<std::string, double> totals_ PHAROS_GUARDED_BY(mu_);
};

void Translate(const Request& request, DeltaState& deltas, TranslateResult& out);

/// Prometheus's metric name for an OTLP metric: invalid characters to '_', the unit as a
/// suffix (s -> seconds, By -> bytes, 1 -> ratio for gauges, a/b -> a_per_b), _total for
/// monotonic sums.
std::string MetricName(const Metric& metric);
/// A label name from an attribute key: invalid characters to '_', "key_" before a digit.
std::string LabelName(std::string_view key);

}  // namespace pharos::ingest::otlp
