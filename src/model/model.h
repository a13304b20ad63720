// model: the data model every signal shares — labels, label matchers and OpenTelemetry's
// resource, scope and attribute values. Modules that only need these depend on model, not on
// a store.
//
// Contract:
// - Pure values and pure functions; no I/O, no global state. Safe for concurrent use.
// - A label set (`Labels`) is sorted by name with unique names when it comes out of a store;
//   SortLabels puts one in that order. An absent label and a label with an empty value are
//   the same thing to every matcher.
// - Matcher regexes are RE2 (linear time) and anchored at both ends. The Prometheus dialect
//   compiles them with `(?s)` as Prometheus does (`.` matches a newline); the Alertmanager
//   dialect does not, as Alertmanager does not.
// - FormatLabels* and the JSON writers escape as Go's encoding/json does (each invalid
//   UTF-8 byte becomes U+FFFD), so what Pharos prints matches what Prometheus prints.
// - AnyValue holds OpenTelemetry's AnyValue as it arrived; nesting is bounded by the
//   decoders (kMaxAnyValueDepth), not here.
// - Sinks are where receivers write a signal. A sink's Append returns OK only once what it
//   accepted is durable (in a WAL); what it refuses is counted and described in the result,
//   never silently dropped. Receivers depend on sinks, not on a store.
#pragma once

#include <bit>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace re2 {
class RE2;
}

namespace pharos::model {

// ---- labels ----

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
};
using Labels = std::vector<Label>;

/// A label by reference, for the write path (views into a decoded request).
struct LabelView {
  std::string_view name;
  std::string_view value;
};

/// `{__name__="x", a="b"}` in Prometheus's notation, for messages.
std::string FormatLabels(std::span<const LabelView> labels);
std::string FormatLabels(const Labels& labels);
/// The same, cut after about `max_bytes` (long values at a UTF-8 boundary, with their size)
/// and the number of labels left out, so that an error about a huge series stays small:
/// {a="b", c="d", ... 999998 more labels}.
std::string FormatLabelsBounded(std::span<const LabelView> labels, size_t max_bytes = 512);
std::string FormatLabelsBounded(const Labels& labels, size_t max_bytes = 512);
/// Prometheus's label-set fingerprint (FNV-1a 64 over sorted names and values, each followed
/// by 0xff) as 16 hex digits: the fingerprint Alertmanager shows. `labels` must be sorted.
std::string Fingerprint(const Labels& labels);
/// The value of `name`, or "" when the set lacks it.
std::string_view LabelValue(const Labels& labels, std::string_view name);
/// Sorts by name (stable for equal names; stores refuse duplicates before this).
void SortLabels(Labels& labels);
/// The order of label sets (each sorted by name): label by label, name then value, a
/// prefix first. Series in blocks, selects and query results follow it.
bool LabelsLess(const Labels& a, const Labels& b);
/// `{"a":"b"}` as the Prometheus and Alertmanager APIs print a label set.
void AppendLabelsJson(std::string& out, const Labels& labels);
std::string LabelsJson(const Labels& labels);

// ---- matchers ----

enum class MatchType { kEqual, kNotEqual, kRegexMatch, kRegexNoMatch };
/// The operator as selectors write it: "=", "!=", "=~", "!~".
std::string_view MatchTypeText(MatchType type);
/// Whose regex rules a matcher follows (see the contract above).
enum class RegexDialect { kPrometheus, kAlertmanager };

class Matcher {
 public:
  static Result<Matcher> Make(MatchType type, std::string name, std::string value,
                              RegexDialect dialect = RegexDialect::kPrometheus);
  /// `name="value"`, which cannot fail.
  static Matcher Equal(std::string name, std::string value);
  /// Matches one label value ("" when the label is absent).
  bool Matches(std::string_view value) const;
  /// Matches the value `name()` has in `labels`.
  bool Matches(const Labels& labels) const;
  MatchType type() const { return type_; }
  const std::string& name() const { return name_; }
  const std::string& value() const { return value_; }
  /// `name="value"` with the value JSON-quoted, as Alertmanager and PromQL print it.
  std::string ToString() const;

 private:
  MatchType type_ = MatchType::kEqual;
  std::string name_;
  std::string value_;
  std::shared_ptr<const re2::RE2> re_;
};

bool MatchesAll(std::span<const Matcher> matchers, const Labels& labels);

// ---- OpenTelemetry resources, scopes and attributes ----

inline constexpr int kMaxAnyValueDepth = 32;

struct KeyValue;

/// OpenTelemetry's AnyValue: a string, bool, int, double, bytes, array or key-value list,
/// or empty (no field set).
struct AnyValue {
  enum class Type { kEmpty, kString, kBool, kInt, kDouble, kBytes, kArray, kKvList };
  Type type = Type::kEmpty;
  std::string str;  // string and bytes
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::vector<AnyValue> array;
  std::vector<KeyValue> kvlist;

  static AnyValue String(std::string s);
  /// Empties the value and gives it type `t` (a oneof member arriving replaces the last).
  void Reset(Type t);
  /// The value as text, the way Prometheus's OTLP translator turns an attribute into a
  /// label value: strings as they are, numbers and bools printed, bytes as base64, arrays
  /// and maps as JSON.
  std::string ToText() const;
  /// The value as plain JSON (a string, number, bool, array or object; bytes as base64).
  void AppendJson(std::string& out) const;
};

struct KeyValue {
  std::string key;
  AnyValue value;
};
using Attributes = std::vector<KeyValue>;

struct Resource {
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
};

struct InstrumentationScope {
  std::string name;
  std::string version;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
};

/// The attribute called `key`, or nullptr.
const AnyValue* FindAttribute(const Attributes& attributes, std::string_view key);

// ---- logs ----

/// OpenTelemetry's LogRecord (FIELDS.md section 5). Ids are raw bytes (16 and 8 when set).
struct LogRecord {
  uint64_t time_unix_nano = 0;
  uint64_t observed_time_unix_nano = 0;
  int32_t severity_number = 0;
  std::string severity_text;
  AnyValue body;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
  std::string trace_id;
  std::string span_id;
  std::string event_name;
};

struct ScopeLogs {
  InstrumentationScope scope;
  std::vector<LogRecord> records;
};

struct ResourceLogs {
  Resource resource;
  std::vector<ScopeLogs> scopes;
};

/// What a sink of records (log lines, spans) kept and refused.
struct RecordsAppendResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  std::vector<std::string> errors;  // the first few, each naming the stream and the reason
};
using LogsAppendResult = RecordsAppendResult;

/// Where OTLP log receivers (HTTP and gRPC) write.
class LogsSink {
 public:
  virtual ~LogsSink() = default;
  /// OK means what was accepted survives a kill -9; a failure to make anything durable is
  /// Unavailable. `result` is filled even when an error is returned.
  virtual Status AppendOtlpLogs(std::span<const ResourceLogs> logs, LogsAppendResult& result) = 0;
};

// ---- traces ----

/// OpenTelemetry's Span (FIELDS.md section 3). Ids are raw bytes (16 and 8 when valid).
struct SpanEvent {
  uint64_t time_unix_nano = 0;
  std::string name;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
};

struct SpanLink {
  std::string trace_id;
  std::string span_id;
  std::string trace_state;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  uint32_t flags = 0;
};

enum class SpanKind : int32_t {
  kUnspecified = 0,
  kInternal = 1,
  kServer = 2,
  kClient = 3,
  kProducer = 4,
  kConsumer = 5
};
enum class StatusCode : int32_t { kUnset = 0, kOk = 1, kError = 2 };

struct Span {
  std::string trace_id;
  std::string span_id;
  std::string trace_state;
  std::string parent_span_id;
  uint32_t flags = 0;
  std::string name;
  int32_t kind = 0;  // SpanKind; other numbers are kept as they arrived
  uint64_t start_time_unix_nano = 0;
  uint64_t end_time_unix_nano = 0;
  Attributes attributes;
  uint32_t dropped_attributes_count = 0;
  std::vector<SpanEvent> events;
  uint32_t dropped_events_count = 0;
  std::vector<SpanLink> links;
  uint32_t dropped_links_count = 0;
  std::string status_message;
  int32_t status_code = 0;  // StatusCode
};

struct ScopeSpans {
  InstrumentationScope scope;
  std::vector<Span> spans;
};

struct ResourceSpans {
  Resource resource;
  std::vector<ScopeSpans> scopes;
};

/// Where OTLP trace receivers (HTTP and gRPC) write.
class SpansSink {
 public:
  virtual ~SpansSink() = default;
  /// OK means what was accepted survives a kill -9; a failure to make anything durable is
  /// Unavailable. `result` is filled even when an error is returned.
  virtual Status AppendOtlpSpans(std::span<const ResourceSpans> spans,
                                 RecordsAppendResult& result) = 0;
};

// ---- metrics ----

struct Sample {
  int64_t t;  // milliseconds since the Unix epoch
  double v;
};

/// The NaN bit pattern Prometheus uses to mark a series as stale.
inline constexpr uint64_t kStaleNaNBits = 0x7ff0000000000002ULL;
inline double StaleNaN() { return std::bit_cast<double>(kStaleNaNBits); }
inline bool IsStaleNaN(double v) { return std::bit_cast<uint64_t>(v) == kStaleNaNBits; }

/// One series of an append request.
struct SeriesInput {
  std::span<const LabelView> labels;
  std::span<const Sample> samples;
};

struct AppendResult {
  uint64_t samples_accepted = 0;
  uint64_t samples_rejected = 0;
  uint64_t series_rejected = 0;
  uint64_t series_created = 0;
  /// The first few reasons, each naming the series ("out of order sample for {...}").
  std::vector<std::string> errors;
};

/// An exemplar: a sample of one observation behind a series' value (a trace id and span
/// id with the duration of one request), as Prometheus's exemplar API returns them.
struct Exemplar {
  Labels labels;  // e.g. trace_id, span_id
  double value = 0;
  int64_t t_ms = 0;
};

struct ExemplarInput {
  std::span<const LabelView> series;  // the series it belongs to, sorted
  Exemplar exemplar;
};

/// Where generators of metrics (span metrics) leave exemplars; kept in memory, bounded.
class ExemplarSink {
 public:
  virtual ~ExemplarSink() = default;
  virtual void AppendExemplars(std::span<const ExemplarInput> exemplars) = 0;
};

// ---- sinks ----

/// Where metric receivers (remote_write, OTLP, the text format, scraping) write.
class MetricsSink {
 public:
  virtual ~MetricsSink() = default;
  /// Validates and stores; OK means what was accepted survives a kill -9. A failure to make
  /// anything durable is Unavailable. `result` is filled even when an error is returned.
  virtual Status Append(std::span<const SeriesInput> batch, AppendResult& result) = 0;
  /// The sink's clock, for samples that arrive without a timestamp.
  virtual int64_t NowMs() const = 0;
};

}  // namespace pharos::model
