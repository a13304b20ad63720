// The trace store: OTLP spans into colstore records and back (the layout is traces.h's).
#include <algorithm>
#include <deque>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"
#include "ingest/ingest.h"
#include "traces/otlp_encode.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

// Columns with a meaning of their own; attributes are "span.<key>" and "resource.<key>".
constexpr std::string_view kTraceId = "trace_id";
constexpr std::string_view kSpanId = "span_id";
constexpr std::string_view kParentSpanId = "parent_span_id";
constexpr std::string_view kTraceState = "trace_state";
constexpr std::string_view kFlags = "flags";
constexpr std::string_view kDuration = "duration_ns";
constexpr std::string_view kKind = "kind";  // only for numbers OTLP does not define
constexpr std::string_view kStatusCode = "status_code";
constexpr std::string_view kStatusMessage = "status_message";
constexpr std::string_view kScopeName = "scope_name";
constexpr std::string_view kScopeVersion = "scope_version";
constexpr std::string_view kDroppedAttributes = "dropped_attributes";
constexpr std::string_view kDroppedEvents = "dropped_events";
constexpr std::string_view kDroppedLinks = "dropped_links";
// What has no column, as a one-span ExportTraceServiceRequest.
constexpr std::string_view kOtlp = "otlp";
constexpr std::string_view kSpanPrefix = "span.";
constexpr std::string_view kResourcePrefix = "resource.";

constexpr size_t kFixedColumns = 15;
// Resource attributes beyond this many go into the OTLP column.
constexpr size_t kMaxResourceColumns = 128;

constexpr std::string_view kKindNames[] = {"unspecified", "internal", "server",
                                           "client",      "producer", "consumer"};

int32_t KindNumber(std::string_view name) {
  for (size_t i = 0; i < std::size(kKindNames); ++i) {
    if (kKindNames[i] == name) return static_cast<int32_t>(i);
  }
  return 0;
}

bool AllZero(std::string_view id) {
  return std::all_of(id.begin(), id.end(), [](char c) { return c == 0; });
}

// The column value of a scalar attribute; null for those that go into the OTLP column.
colstore::Value ScalarValue(const model::AnyValue& v) {
  switch (v.type) {
    case model::AnyValue::Type::kString: return colstore::Value::String(v.str);
    case model::AnyValue::Type::kInt: return colstore::Value::Int(v.i);
    case model::AnyValue::Type::kDouble: return colstore::Value::Double(v.d);
    default: return {};
  }
}

model::AnyValue AttributeValue(const colstore::Value& v) {
  model::AnyValue out;
  switch (v.type) {
    case colstore::Value::Type::kString: return model::AnyValue::String(std::string(v.s));
    case colstore::Value::Type::kInt:
      out.type = model::AnyValue::Type::kInt;
      out.i = v.i;
      return out;
    case colstore::Value::Type::kDouble:
      out.type = model::AnyValue::Type::kDouble;
      out.d = v.d;
      return out;
    case colstore::Value::Type::kNull: return out;
  }
  return out;
}

size_t ValueBytes(const model::AnyValue& v) {
  size_t n = v.str.size() + 8;
  for (const model::AnyValue& item : v.array) n += ValueBytes(item);
  for (const model::KeyValue& kv : v.kvlist) n += kv.key.size() + ValueBytes(kv.value);
  return n;
}

// One decoded record: the span with its resource and scope.
struct Decoded {
  model::Resource resource;
  model::InstrumentationScope scope;
  model::Span span;
};

Status DecodeRow(const colstore::Row& row, Decoded& out) {
  model::Span& span = out.span;
  span.start_time_unix_nano = static_cast<uint64_t>(row.time_ns);
  span.end_time_unix_nano = span.start_time_unix_nano;
  span.name = model::LabelValue(*row.stream, kNameLabel);
  span.kind = KindNumber(model::LabelValue(*row.stream, kKindLabel));
  std::string residue;
  for (const colstore::Column& c : row.columns) {
    std::string_view name = c.name;
    const colstore::Value& v = c.value;
    auto hex = [&](std::string& id) { HexDecode(v.s, id); };
    if (name.starts_with(kSpanPrefix)) {
      span.attributes.push_back({std::string(name.substr(kSpanPrefix.size())), AttributeValue(v)});
    } else if (name.starts_with(kResourcePrefix)) {
      out.resource.attributes.push_back(
          {std::string(name.substr(kResourcePrefix.size())), AttributeValue(v)});
    } else if (name == kTraceId) {
      hex(span.trace_id);
    } else if (name == kSpanId) {
      hex(span.span_id);
    } else if (name == kParentSpanId) {
      hex(span.parent_span_id);
    } else if (name == kTraceState) {
      span.trace_state = v.s;
    } else if (name == kFlags) {
      span.flags = static_cast<uint32_t>(v.i);
    } else if (name == kDuration) {
      span.end_time_unix_nano = static_cast<uint64_t>(row.time_ns + v.i);
    } else if (name == kKind) {
      span.kind = static_cast<int32_t>(v.i);
    } else if (name == kStatusCode) {
      span.status_code = static_cast<int32_t>(v.i);
    } else if (name == kStatusMessage) {
      span.status_message = v.s;
    } else if (name == kScopeName) {
      out.scope.name = v.s;
    } else if (name == kScopeVersion) {
      out.scope.version = v.s;
    } else if (name == kDroppedAttributes) {
      span.dropped_attributes_count = static_cast<uint32_t>(v.i);
    } else if (name == kDroppedEvents) {
      span.dropped_events_count = static_cast<uint32_t>(v.i);
    } else if (name == kDroppedLinks) {
      span.dropped_links_count = static_cast<uint32_t>(v.i);
    } else if (name == kOtlp) {
      residue = v.s;
    }
  }
  if (residue.empty()) return Status::Ok();
  std::vector<model::ResourceSpans> parts;
  PHAROS_RETURN_IF_ERROR(ingest::DecodeOtlpTraces(residue, false, parts));
  for (model::ResourceSpans& rs : parts) {
    for (model::KeyValue& kv : rs.resource.attributes)
      out.resource.attributes.push_back(std::move(kv));
    out.resource.dropped_attributes_count = rs.resource.dropped_attributes_count;
    for (model::ScopeSpans& ss : rs.scopes) {
      for (model::KeyValue& kv : ss.scope.attributes) out.scope.attributes.push_back(std::move(kv));
      out.scope.dropped_attributes_count = ss.scope.dropped_attributes_count;
      for (model::Span& part : ss.spans) {
        for (model::KeyValue& kv : part.attributes) span.attributes.push_back(std::move(kv));
        for (model::SpanEvent& ev : part.events) span.events.push_back(std::move(ev));
        for (model::SpanLink& link : part.links) span.links.push_back(std::move(link));
      }
    }
  }
  return Status::Ok();
}

bool KeyLess(const model::KeyValue& a, const model::KeyValue& b) { return a.key < b.key; }

// The text a Jaeger tag filter compares with.
std::string ValueText(const colstore::Value& v) {
  switch (v.type) {
    case colstore::Value::Type::kString: return std::string(v.s);
    case colstore::Value::Type::kInt: return std::to_string(v.i);
    case colstore::Value::Type::kDouble: return AttributeValue(v).ToText();
    case colstore::Value::Type::kNull: return {};
  }
  return {};
}

std::string_view StatusName(int64_t code) {
  return code == 1 ? "OK" : code == 2 ? "ERROR" : "UNSET";
}

}  // namespace

std::string_view KindName(int32_t kind) {
  return kind >= 0 && kind < static_cast<int32_t>(std::size(kKindNames)) ? kKindNames[kind]
                                                                         : kKindNames[0];
}

struct Store::Counters {
  explicit Counters(selfmon::Registry& registry)
      : refused(registry.AddCounter("pharos_traces_refused_total",
                                    "Spans the trace store refused, by reason.", {"reason"})) {}
  selfmon::Family<selfmon::Counter>& refused;
};

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const Options& options, selfmon::Registry& registry) {
  colstore::Options co;
  co.dir = options.dir;
  co.env = options.env;
  co.name = "spans";
  co.retention = options.retention;
  co.max_bytes = options.max_bytes;
  co.head_max_bytes = options.head_max_bytes;
  co.maintenance_interval = options.maintenance_interval;
  co.limits.max_record_bytes = options.limits.max_span_bytes;
  co.limits.max_columns_per_record = static_cast<uint32_t>(
      kFixedColumns + options.limits.max_attributes_per_span + kMaxResourceColumns + 1);
  co.limits.max_streams = options.limits.max_streams;
  co.limits.max_labels_per_stream = 3;
  co.block_rows = 1024;  // a trace by id decodes a block in each stream it touches
  co.value_column = std::string(kTraceId);  // trace by id reads only the blocks that may hold it
  Result<std::unique_ptr<colstore::Store>> spans = colstore::Store::Open(co, registry);
  if (!spans.ok()) return spans.status();
  auto store = std::unique_ptr<Store>(new Store());
  store->options_ = options;
  store->counters_ = std::make_unique<Counters>(registry);
  store->spans_ = std::move(spans).value();
  return store;
}

int64_t Store::NowNs() const {
  return options_.now_ns ? options_.now_ns() : UnixNowMs() * 1'000'000;
}

Status Store::AppendOtlpSpans(std::span<const model::ResourceSpans> groups,
                              model::RecordsAppendResult& result) {
  result = model::RecordsAppendResult();
  const Limits& limits = options_.limits;
  // Owned strings for everything the records view, kept until the append returns.
  std::deque<std::string> strings;
  auto keep = [&strings](std::string s) -> std::string_view {
    return strings.emplace_back(std::move(s));
  };
  // Every record's columns in one vector, reserved whole so the records' spans into it
  // stay valid.
  size_t most = 0;
  for (const model::ResourceSpans& rs : groups)
    for (const model::ScopeSpans& ss : rs.scopes)
      for (const model::Span& span : ss.spans)
        most += kFixedColumns + rs.resource.attributes.size() + span.attributes.size();
  std::vector<colstore::Column> columns;
  columns.reserve(most);
  struct StreamRecords {
    std::vector<model::LabelView> labels;
    std::vector<colstore::RecordInput> records;
  };
  std::map<std::tuple<std::string_view, std::string_view, std::string_view>, StreamRecords> streams;
  auto refuse = [&](std::string_view reason, std::string message) {
    ++result.rejected;
    counters_->refused.WithLabels({std::string(reason)}).Inc();
    if (result.errors.size() < 8) result.errors.push_back(std::move(message));
  };
  for (const model::ResourceSpans& rs : groups) {
    std::string_view service = "unknown_service";
    if (const model::AnyValue* v = model::FindAttribute(rs.resource.attributes, "service.name");
        v != nullptr && v->type == model::AnyValue::Type::kString && !v->str.empty())
      service = v->str;
    // The resource's columns and the part of it that has none, once per resource.
    std::vector<colstore::Column> resource_columns;
    std::string resource_residue;
    for (const model::KeyValue& kv : rs.resource.attributes) {
      colstore::Value v = ScalarValue(kv.value);
      bool duplicate = std::any_of(resource_columns.begin(), resource_columns.end(),
                                   [&](const colstore::Column& c) {
                                     return c.name.substr(kResourcePrefix.size()) == kv.key;
                                   });
      if (v.type != colstore::Value::Type::kNull && !duplicate &&
          resource_columns.size() < kMaxResourceColumns) {
        resource_columns.push_back({keep(std::string(kResourcePrefix) + kv.key), v});
      } else {
        EncodeAttribute(1, kv, resource_residue);
      }
    }
    if (rs.resource.dropped_attributes_count)
      PutVarintField(resource_residue, 2, rs.resource.dropped_attributes_count);
    for (const model::ScopeSpans& ss : rs.scopes) {
      std::string scope_residue;
      for (const model::KeyValue& kv : ss.scope.attributes) EncodeAttribute(3, kv, scope_residue);
      if (ss.scope.dropped_attributes_count)
        PutVarintField(scope_residue, 4, ss.scope.dropped_attributes_count);
      for (const model::Span& span : ss.spans) {
        auto named = [&] {
          return fmt::format("span {} of trace {}", HexEncode(span.span_id),
                             HexEncode(span.trace_id));
        };
        if (span.trace_id.size() != 16 || AllZero(span.trace_id)) {
          refuse("trace_id",
                 fmt::format("{}: the trace id must be 16 bytes, not all zero", named()));
          continue;
        }
        if (span.span_id.size() != 8 || AllZero(span.span_id)) {
          refuse("span_id", fmt::format("{}: the span id must be 8 bytes, not all zero", named()));
          continue;
        }
        if (!span.parent_span_id.empty() && span.parent_span_id.size() != 8) {
          refuse("parent_span_id",
                 fmt::format("{}: the parent span id must be empty or 8 bytes", named()));
          continue;
        }
        if (span.start_time_unix_nano == 0 ||
            span.start_time_unix_nano > static_cast<uint64_t>(INT64_MAX) ||
            span.end_time_unix_nano > static_cast<uint64_t>(INT64_MAX)) {
          refuse("start_time",
                 fmt::format("{}: start_time_unix_nano is missing or out of range", named()));
          continue;
        }
        if (span.attributes.size() > limits.max_attributes_per_span) {
          refuse("attributes", fmt::format("{}: {} attributes, over the limit of {}", named(),
                                           span.attributes.size(), limits.max_attributes_per_span));
          continue;
        }
        const model::KeyValue* too_big = nullptr;
        for (const model::KeyValue& kv : span.attributes) {
          if (kv.key.size() + ValueBytes(kv.value) > limits.max_attribute_bytes) too_big = &kv;
        }
        if (too_big != nullptr) {
          refuse("attribute_size",
                 fmt::format("{}: attribute {} is over the limit of {} bytes", named(),
                             QuoteGo(too_big->key), limits.max_attribute_bytes));
          continue;
        }
        const size_t first = columns.size();
        auto add = [&](std::string_view name, colstore::Value v) { columns.push_back({name, v}); };
        add(kTraceId, colstore::Value::String(keep(HexEncode(span.trace_id))));
        add(kSpanId, colstore::Value::String(keep(HexEncode(span.span_id))));
        if (!span.parent_span_id.empty())
          add(kParentSpanId, colstore::Value::String(keep(HexEncode(span.parent_span_id))));
        if (!span.trace_state.empty()) add(kTraceState, colstore::Value::String(span.trace_state));
        if (span.flags) add(kFlags, colstore::Value::Int(span.flags));
        add(kDuration, colstore::Value::Int(static_cast<int64_t>(span.end_time_unix_nano) -
                                            static_cast<int64_t>(span.start_time_unix_nano)));
        if (KindName(span.kind) == kKindNames[0] && span.kind != 0)
          add(kKind, colstore::Value::Int(span.kind));
        if (span.status_code) add(kStatusCode, colstore::Value::Int(span.status_code));
        if (!span.status_message.empty())
          add(kStatusMessage, colstore::Value::String(span.status_message));
        if (!ss.scope.name.empty()) add(kScopeName, colstore::Value::String(ss.scope.name));
        if (!ss.scope.version.empty())
          add(kScopeVersion, colstore::Value::String(ss.scope.version));
        if (span.dropped_attributes_count)
          add(kDroppedAttributes, colstore::Value::Int(span.dropped_attributes_count));
        if (span.dropped_events_count)
          add(kDroppedEvents, colstore::Value::Int(span.dropped_events_count));
        if (span.dropped_links_count)
          add(kDroppedLinks, colstore::Value::Int(span.dropped_links_count));
        for (const colstore::Column& c : resource_columns) columns.push_back(c);
        std::string span_residue;
        const size_t attributes_first = columns.size();
        for (const model::KeyValue& kv : span.attributes) {
          colstore::Value v = ScalarValue(kv.value);
          bool duplicate = std::any_of(columns.begin() + static_cast<ptrdiff_t>(attributes_first),
                                       columns.end(), [&](const colstore::Column& c) {
                                         return c.name.substr(kSpanPrefix.size()) == kv.key;
                                       });
          if (v.type != colstore::Value::Type::kNull && !duplicate) {
            add(keep(std::string(kSpanPrefix) + kv.key), v);
          } else {
            EncodeAttribute(9, kv, span_residue);
          }
        }
        std::string one;
        for (const model::SpanEvent& ev : span.events) {
          one.clear();
          EncodeEvent(ev, one);
          PutBytesField(span_residue, 11, one);
        }
        for (const model::SpanLink& link : span.links) {
          one.clear();
          EncodeLink(link, one);
          PutBytesField(span_residue, 13, one);
        }
        if (!resource_residue.empty() || !scope_residue.empty() || !span_residue.empty()) {
          // ExportTraceServiceRequest{ResourceSpans{Resource, ScopeSpans{Scope, Span}}}.
          std::string scope_group, resource_group, request;
          PutBytesField(scope_group, 1, scope_residue);
          PutBytesField(scope_group, 2, span_residue);
          PutBytesField(resource_group, 1, resource_residue);
          PutBytesField(resource_group, 2, scope_group);
          PutBytesField(request, 1, resource_group);
          add(kOtlp, colstore::Value::String(keep(std::move(request))));
        }
        std::string_view kind = KindName(span.kind);
        StreamRecords& stream = streams[{service, span.name, kind}];
        if (stream.labels.empty()) {
          // Sorted by name, as a stream's labels are.
          stream.labels = {{kServiceLabel, service}, {kKindLabel, kind}, {kNameLabel, span.name}};
        }
        stream.records.push_back(
            {static_cast<int64_t>(span.start_time_unix_nano),
             std::span<const colstore::Column>(columns).subspan(first, columns.size() - first)});
      }
    }
  }
  std::vector<colstore::StreamInput> batch;
  batch.reserve(streams.size());
  for (auto& [key, stream] : streams) batch.push_back({stream.labels, stream.records});
  colstore::AppendResult appended;
  Status s = spans_->Append(batch, appended);
  result.accepted = appended.accepted;
  result.rejected += appended.rejected;
  for (std::string& e : appended.errors)
    if (result.errors.size() < 8) result.errors.push_back(std::move(e));
  return s;
}

Result<Trace> Store::FindTrace(std::string_view trace_id, int64_t mint_ns, int64_t maxt_ns) {
  Trace trace;
  if (trace_id.size() != 16) return trace;
  std::string hex = HexEncode(trace_id);
  colstore::ScanPlan plan;
  plan.mint_ns = mint_ns;
  plan.maxt_ns = maxt_ns;
  plan.filters.push_back(
      {std::string(kTraceId), colstore::Filter::Op::kEqual, colstore::Value::String(hex)});
  plan.value_hints.emplace_back(kTraceId, hex);
  // Spans grouped by their resource, then scope (each encoded, attributes sorted, as keys).
  std::map<std::string, size_t> group_of;
  std::map<std::pair<size_t, std::string>, size_t> scope_of;
  Status failed = Status::Ok();
  std::string resource_key, scope_key;
  Result<colstore::ScanStats> scanned = spans_->Scan(plan, [&](const colstore::Row& row) {
    Decoded d;
    failed = DecodeRow(row, d);
    if (!failed.ok()) return false;
    std::sort(d.resource.attributes.begin(), d.resource.attributes.end(), KeyLess);
    std::sort(d.scope.attributes.begin(), d.scope.attributes.end(), KeyLess);
    resource_key.clear();
    EncodeResource(d.resource, resource_key);
    scope_key.clear();
    EncodeScope(d.scope, scope_key);
    auto [g, new_group] = group_of.try_emplace(resource_key, trace.groups.size());
    if (new_group) trace.groups.emplace_back().resource = std::move(d.resource);
    model::ResourceSpans& rs = trace.groups[g->second];
    auto [sc, new_scope] = scope_of.try_emplace({g->second, scope_key}, rs.scopes.size());
    if (new_scope) rs.scopes.emplace_back().scope = std::move(d.scope);
    model::Span& span = rs.scopes[sc->second].spans.emplace_back(std::move(d.span));
    int64_t start = static_cast<int64_t>(span.start_time_unix_nano);
    int64_t end = static_cast<int64_t>(span.end_time_unix_nano);
    if (trace.spans++ == 0 || start < trace.start_ns) trace.start_ns = start;
    if (trace.spans == 1 || end > trace.end_ns) trace.end_ns = end;
    return true;
  });
  // Rows come in time order, so each scope's spans are already in start order.
  if (!scanned.ok()) return scanned.status();
  PHAROS_RETURN_IF_ERROR(failed.WithContext("a stored span"));
  return trace;
}

Result<std::vector<std::string>> Store::Search(const SearchQuery& q) {
  colstore::ScanPlan plan;
  plan.mint_ns = q.mint_ns;
  plan.maxt_ns = q.maxt_ns;
  plan.backward = true;
  auto equal = model::Matcher::Equal;
  if (!q.service.empty()) plan.streams.push_back(equal(kServiceLabel, q.service));
  if (!q.operation.empty()) plan.streams.push_back(equal(kNameLabel, q.operation));
  if (!q.span_kind.empty()) plan.streams.push_back(equal(kKindLabel, q.span_kind));
  plan.columns = {std::string(kTraceId), std::string(kDuration)};
  bool residue = false;
  // Each tag's span and resource column names, built once for the scan (by tag index).
  std::vector<std::pair<std::string, std::string>> tag_columns;
  for (const auto& [key, value] : q.tags) {
    tag_columns.emplace_back(std::string(kSpanPrefix) + key, std::string(kResourcePrefix) + key);
    if (key == "error" || key == "otel.status_code") {
      plan.columns.emplace_back(kStatusCode);
    } else if (key == "otel.status_description") {
      plan.columns.emplace_back(kStatusMessage);
    } else if (key != "span.kind") {
      plan.columns.push_back(tag_columns.back().first);
      plan.columns.push_back(tag_columns.back().second);
      residue = true;  // bools, arrays and the like are only in the OTLP column
    }
  }
  if (residue) plan.columns.emplace_back(kOtlp);
  std::vector<std::string> ids;
  std::unordered_map<std::string, bool> seen;
  auto find = [](const colstore::Row& row, std::string_view name) -> const colstore::Value* {
    for (const colstore::Column& c : row.columns)
      if (c.name == name) return &c.value;
    return nullptr;
  };
  Result<colstore::ScanStats> scanned = spans_->Scan(plan, [&](const colstore::Row& row) {
    const colstore::Value* duration = find(row, kDuration);
    int64_t d = duration ? duration->i : 0;
    if (q.min_duration_ns > 0 && d < q.min_duration_ns) return true;
    if (q.max_duration_ns > 0 && d > q.max_duration_ns) return true;
    std::optional<Decoded> decoded;  // the OTLP column, decoded for the first tag needing it
    for (size_t t = 0; t < q.tags.size(); ++t) {
      const auto& [key, want] = q.tags[t];
      bool ok = false;
      if (key == "error") {
        const colstore::Value* code = find(row, kStatusCode);
        ok = (code != nullptr && code->i == 2) == (want == "true");
      } else if (key == "otel.status_code") {
        const colstore::Value* code = find(row, kStatusCode);
        ok = StatusName(code ? code->i : 0) == want;
      } else if (key == "otel.status_description") {
        const colstore::Value* msg = find(row, kStatusMessage);
        ok = msg != nullptr && msg->s == want;
      } else if (key == "span.kind") {
        ok = model::LabelValue(*row.stream, kKindLabel) == want;
      } else {
        const colstore::Value* v = find(row, tag_columns[t].first);
        if (v == nullptr) v = find(row, tag_columns[t].second);
        if (v != nullptr) {
          ok = ValueText(*v) == want;
        } else if (find(row, kOtlp) != nullptr) {
          if (!decoded) {
            decoded.emplace();
            if (!DecodeRow(row, *decoded).ok()) return true;
          }
          const model::AnyValue* a = model::FindAttribute(decoded->span.attributes, key);
          if (a == nullptr) a = model::FindAttribute(decoded->resource.attributes, key);
          ok = a != nullptr && a->ToText() == want;
        }
      }
      if (!ok) return true;
    }
    const colstore::Value* id = find(row, kTraceId);
    if (id == nullptr) return true;
    std::string raw;
    if (!HexDecode(id->s, raw)) return true;
    if (seen.try_emplace(raw, true).second) ids.push_back(std::move(raw));
    return ids.size() < q.limit;
  });
  if (!scanned.ok()) return scanned.status();
  return ids;
}

Status Store::ScanSpans(
    std::span<const model::Matcher> streams, int64_t mint_ns, int64_t maxt_ns,
    const std::function<bool(const model::Resource&, const model::Span&)>& visit) {
  colstore::ScanPlan plan;
  plan.mint_ns = mint_ns;
  plan.maxt_ns = maxt_ns;
  plan.backward = true;
  plan.streams.assign(streams.begin(), streams.end());
  Status failed = Status::Ok();
  Result<colstore::ScanStats> scanned = spans_->Scan(plan, [&](const colstore::Row& row) {
    Decoded d;
    failed = DecodeRow(row, d);
    return failed.ok() && visit(d.resource, d.span);
  });
  if (!scanned.ok()) return scanned.status();
  return failed.WithContext("a stored span");
}

Result<std::vector<std::string>> Store::Services(int64_t mint_ns, int64_t maxt_ns) {
  Result<std::vector<model::Labels>> streams = spans_->Streams({}, mint_ns, maxt_ns);
  if (!streams.ok()) return streams.status();
  std::vector<std::string> out;
  for (const model::Labels& s : *streams) out.emplace_back(model::LabelValue(s, kServiceLabel));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<Operation>> Store::Operations(std::string_view service, int64_t mint_ns,
                                                 int64_t maxt_ns) {
  std::vector<model::Matcher> matchers;
  matchers.push_back(model::Matcher::Equal(kServiceLabel, std::string(service)));
  Result<std::vector<model::Labels>> streams = spans_->Streams(matchers, mint_ns, maxt_ns);
  if (!streams.ok()) return streams.status();
  std::vector<Operation> out;
  for (const model::Labels& s : *streams)
    out.push_back({std::string(model::LabelValue(s, kNameLabel)),
                   std::string(model::LabelValue(s, kKindLabel))});
  std::sort(out.begin(), out.end(), [](const Operation& a, const Operation& b) {
    return std::tie(a.name, a.span_kind) < std::tie(b.name, b.span_kind);
  });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Operation& a, const Operation& b) {
                          return a.name == b.name && a.span_kind == b.span_kind;
                        }),
            out.end());
  return out;
}

Result<std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>>> Store::Dependencies(
    int64_t mint_ns, int64_t maxt_ns, uint64_t max_spans) {
  colstore::ScanPlan plan;
  plan.mint_ns = mint_ns;
  plan.maxt_ns = maxt_ns;
  plan.time_ordered = false;
  plan.columns = {std::string(kTraceId), std::string(kSpanId), std::string(kParentSpanId)};
  // Spans by (trace, span) id folded to 64 bits, and each service once.
  std::deque<std::string> services;
  std::unordered_map<std::string_view, uint32_t> service_index;  // views into `services`
  std::unordered_map<uint64_t, uint32_t> service_of_span;
  std::vector<std::pair<uint64_t, uint32_t>> children;  // (parent key, service)
  uint64_t read = 0;
  bool over = false;
  auto key_of = [](std::string_view trace_hex, std::string_view span_hex) {
    return std::hash<std::string_view>()(trace_hex) * 0x9E3779B97F4A7C15ULL ^
           std::hash<std::string_view>()(span_hex);
  };
  Result<colstore::ScanStats> scanned = spans_->Scan(plan, [&](const colstore::Row& row) {
    if (++read > max_spans) {
      over = true;
      return false;
    }
    std::string_view service = model::LabelValue(*row.stream, kServiceLabel);
    auto it = service_index.find(service);
    if (it == service_index.end()) {
      auto index = static_cast<uint32_t>(services.size());
      it = service_index.emplace(services.emplace_back(service), index).first;
    }
    std::string_view trace, span, parent;
    for (const colstore::Column& c : row.columns) {
      if (c.name == kTraceId) trace = c.value.s;
      if (c.name == kSpanId) span = c.value.s;
      if (c.name == kParentSpanId) parent = c.value.s;
    }
    service_of_span[key_of(trace, span)] = it->second;
    if (!parent.empty()) children.emplace_back(key_of(trace, parent), it->second);
    return true;
  });
  if (!scanned.ok()) return scanned.status();
  if (over)
    return ResourceExhausted(
        fmt::format("more than {} spans in the window: shorten the lookback", max_spans));
  std::map<std::pair<std::string, std::string>, uint64_t> edges;
  for (const auto& [parent, child_service] : children) {
    auto it = service_of_span.find(parent);
    if (it == service_of_span.end() || it->second == child_service) continue;
    ++edges[{services[it->second], services[child_service]}];
  }
  return std::vector<std::pair<std::pair<std::string, std::string>, uint64_t>>(edges.begin(),
                                                                               edges.end());
}

}  // namespace pharos::traces
