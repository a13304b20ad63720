// Field numbers: ../shared/testdata/otlp/FIELDS.md sections 1 to 3.
#include "traces/otlp_encode.h"

#include <cmath>

#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"

namespace pharos::traces {
namespace {

void EncodeKeyValue(const model::KeyValue& kv, std::string& out);

void EncodeAnyValue(const model::AnyValue& v, std::string& out) {
  using Type = model::AnyValue::Type;
  std::string nested;
  switch (v.type) {
    case Type::kEmpty: return;
    case Type::kString: PutBytesField(out, 1, v.str); return;
    case Type::kBool: PutVarintField(out, 2, v.b ? 1 : 0); return;
    case Type::kInt: PutVarintField(out, 3, static_cast<uint64_t>(v.i)); return;
    case Type::kDouble: PutDoubleField(out, 4, v.d); return;
    case Type::kArray:
      for (const model::AnyValue& item : v.array) {
        std::string one;
        EncodeAnyValue(item, one);
        PutBytesField(nested, 1, one);
      }
      PutBytesField(out, 5, nested);
      return;
    case Type::kKvList:
      for (const model::KeyValue& kv : v.kvlist) {
        std::string one;
        EncodeKeyValue(kv, one);
        PutBytesField(nested, 1, one);
      }
      PutBytesField(out, 6, nested);
      return;
    case Type::kBytes: PutBytesField(out, 7, v.str); return;
  }
}

void EncodeKeyValue(const model::KeyValue& kv, std::string& out) {
  PutBytesField(out, 1, kv.key);
  std::string value;
  EncodeAnyValue(kv.value, value);
  PutBytesField(out, 2, value);
}

void PutStringIfSet(std::string& out, uint32_t field, std::string_view s) {
  if (!s.empty()) PutBytesField(out, field, s);
}
void PutVarintIfSet(std::string& out, uint32_t field, uint64_t v) {
  if (v != 0) PutVarintField(out, field, v);
}

// ---- JSON ----

void AppendHexField(std::string_view name, std::string_view id, std::string& out) {
  fmt::format_to(std::back_inserter(out), ",\"{}\":\"{}\"", name, HexEncode(id));
}

void AppendUint64Field(std::string_view name, uint64_t v, std::string& out) {
  fmt::format_to(std::back_inserter(out), ",\"{}\":\"{}\"", name, v);
}

void AppendScopeJson(const model::InstrumentationScope& scope, std::string& out) {
  out += "{\"name\":";
  AppendJsonString(out, scope.name);
  out += ",\"version\":";
  AppendJsonString(out, scope.version);
  out += ",\"attributes\":";
  AppendAttributesJson(scope.attributes, out);
  if (scope.dropped_attributes_count)
    fmt::format_to(std::back_inserter(out), ",\"droppedAttributesCount\":{}",
                   scope.dropped_attributes_count);
  out += '}';
}

void AppendSpanJson(const model::Span& span, std::string& out) {
  out += "{\"traceId\":\"" + HexEncode(span.trace_id) + "\"";
  AppendHexField("spanId", span.span_id, out);
  if (!span.parent_span_id.empty()) AppendHexField("parentSpanId", span.parent_span_id, out);
  if (!span.trace_state.empty()) {
    out += ",\"traceState\":";
    AppendJsonString(out, span.trace_state);
  }
  if (span.flags) fmt::format_to(std::back_inserter(out), ",\"flags\":{}", span.flags);
  out += ",\"name\":";
  AppendJsonString(out, span.name);
  fmt::format_to(std::back_inserter(out), ",\"kind\":{}", span.kind);
  AppendUint64Field("startTimeUnixNano", span.start_time_unix_nano, out);
  AppendUint64Field("endTimeUnixNano", span.end_time_unix_nano, out);
  out += ",\"attributes\":";
  AppendAttributesJson(span.attributes, out);
  if (span.dropped_attributes_count)
    fmt::format_to(std::back_inserter(out), ",\"droppedAttributesCount\":{}",
                   span.dropped_attributes_count);
  if (!span.events.empty()) {
    out += ",\"events\":[";
    for (size_t i = 0; i < span.events.size(); ++i) {
      const model::SpanEvent& ev = span.events[i];
      if (i) out += ',';
      fmt::format_to(std::back_inserter(out),
                     "{{\"timeUnixNano\":\"{}\",\"name\":", ev.time_unix_nano);
      AppendJsonString(out, ev.name);
      out += ",\"attributes\":";
      AppendAttributesJson(ev.attributes, out);
      if (ev.dropped_attributes_count)
        fmt::format_to(std::back_inserter(out), ",\"droppedAttributesCount\":{}",
                       ev.dropped_attributes_count);
      out += '}';
    }
    out += ']';
  }
  if (span.dropped_events_count)
    fmt::format_to(std::back_inserter(out), ",\"droppedEventsCount\":{}",
                   span.dropped_events_count);
  if (!span.links.empty()) {
    out += ",\"links\":[";
    for (size_t i = 0; i < span.links.size(); ++i) {
      const model::SpanLink& link = span.links[i];
      if (i) out += ',';
      out += "{\"traceId\":\"" + HexEncode(link.trace_id) + "\"";
      AppendHexField("spanId", link.span_id, out);
      if (!link.trace_state.empty()) {
        out += ",\"traceState\":";
        AppendJsonString(out, link.trace_state);
      }
      if (link.flags) fmt::format_to(std::back_inserter(out), ",\"flags\":{}", link.flags);
      out += ",\"attributes\":";
      AppendAttributesJson(link.attributes, out);
      if (link.dropped_attributes_count)
        fmt::format_to(std::back_inserter(out), ",\"droppedAttributesCount\":{}",
                       link.dropped_attributes_count);
      out += '}';
    }
    out += ']';
  }
  if (span.dropped_links_count)
    fmt::format_to(std::back_inserter(out), ",\"droppedLinksCount\":{}", span.dropped_links_count);
  out += ",\"status\":{";
  if (!span.status_message.empty()) {
    out += "\"message\":";
    AppendJsonString(out, span.status_message);
  }
  if (span.status_code) {
    if (!span.status_message.empty()) out += ',';
    fmt::format_to(std::back_inserter(out), "\"code\":{}", span.status_code);
  }
  out += "}}";
}

}  // namespace

void EncodeAttribute(uint32_t field, const model::KeyValue& kv, std::string& out) {
  std::string one;
  EncodeKeyValue(kv, one);
  PutBytesField(out, field, one);
}

void EncodeEvent(const model::SpanEvent& ev, std::string& out) {
  if (ev.time_unix_nano) PutFixed64Field(out, 1, ev.time_unix_nano);
  PutStringIfSet(out, 2, ev.name);
  for (const model::KeyValue& kv : ev.attributes) EncodeAttribute(3, kv, out);
  PutVarintIfSet(out, 4, ev.dropped_attributes_count);
}

void EncodeLink(const model::SpanLink& link, std::string& out) {
  PutStringIfSet(out, 1, link.trace_id);
  PutStringIfSet(out, 2, link.span_id);
  PutStringIfSet(out, 3, link.trace_state);
  for (const model::KeyValue& kv : link.attributes) EncodeAttribute(4, kv, out);
  PutVarintIfSet(out, 5, link.dropped_attributes_count);
  if (link.flags) PutFixed32Field(out, 6, link.flags);
}

void EncodeResource(const model::Resource& resource, std::string& out) {
  for (const model::KeyValue& kv : resource.attributes) EncodeAttribute(1, kv, out);
  PutVarintIfSet(out, 2, resource.dropped_attributes_count);
}

void EncodeScope(const model::InstrumentationScope& scope, std::string& out) {
  PutStringIfSet(out, 1, scope.name);
  PutStringIfSet(out, 2, scope.version);
  for (const model::KeyValue& kv : scope.attributes) EncodeAttribute(3, kv, out);
  PutVarintIfSet(out, 4, scope.dropped_attributes_count);
}

void EncodeSpan(const model::Span& span, std::string& out) {
  PutStringIfSet(out, 1, span.trace_id);
  PutStringIfSet(out, 2, span.span_id);
  PutStringIfSet(out, 3, span.trace_state);
  PutStringIfSet(out, 4, span.parent_span_id);
  PutStringIfSet(out, 5, span.name);
  PutVarintIfSet(out, 6, static_cast<uint64_t>(static_cast<int64_t>(span.kind)));
  if (span.start_time_unix_nano) PutFixed64Field(out, 7, span.start_time_unix_nano);
  if (span.end_time_unix_nano) PutFixed64Field(out, 8, span.end_time_unix_nano);
  for (const model::KeyValue& kv : span.attributes) EncodeAttribute(9, kv, out);
  PutVarintIfSet(out, 10, span.dropped_attributes_count);
  std::string one;
  for (const model::SpanEvent& ev : span.events) {
    one.clear();
    EncodeEvent(ev, one);
    PutBytesField(out, 11, one);
  }
  PutVarintIfSet(out, 12, span.dropped_events_count);
  for (const model::SpanLink& link : span.links) {
    one.clear();
    EncodeLink(link, one);
    PutBytesField(out, 13, one);
  }
  PutVarintIfSet(out, 14, span.dropped_links_count);
  if (!span.status_message.empty() || span.status_code != 0) {
    one.clear();
    PutStringIfSet(one, 2, span.status_message);
    PutVarintIfSet(one, 3, static_cast<uint64_t>(static_cast<int64_t>(span.status_code)));
    PutBytesField(out, 15, one);
  }
  if (span.flags) PutFixed32Field(out, 16, span.flags);
}

void EncodeResourceSpans(std::span<const model::ResourceSpans> groups, std::string& out) {
  std::string group, part, item;
  for (const model::ResourceSpans& rs : groups) {
    group.clear();
    part.clear();
    EncodeResource(rs.resource, part);
    PutBytesField(group, 1, part);
    for (const model::ScopeSpans& ss : rs.scopes) {
      part.clear();
      item.clear();
      EncodeScope(ss.scope, item);
      PutBytesField(part, 1, item);
      for (const model::Span& span : ss.spans) {
        item.clear();
        EncodeSpan(span, item);
        PutBytesField(part, 2, item);
      }
      PutBytesField(group, 2, part);
    }
    PutBytesField(out, 1, group);
  }
}

void AppendAnyValueJson(const model::AnyValue& v, std::string& out) {
  using Type = model::AnyValue::Type;
  switch (v.type) {
    case Type::kEmpty: out += "{}"; return;
    case Type::kString:
      out += "{\"stringValue\":";
      AppendJsonString(out, v.str);
      out += '}';
      return;
    case Type::kBool: out += v.b ? "{\"boolValue\":true}" : "{\"boolValue\":false}"; return;
    case Type::kInt:
      fmt::format_to(std::back_inserter(out), "{{\"intValue\":\"{}\"}}", v.i);
      return;
    case Type::kDouble:
      out += "{\"doubleValue\":";
      if (std::isnan(v.d)) {
        out += "\"NaN\"";
      } else if (std::isinf(v.d)) {
        out += v.d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        fmt::format_to(std::back_inserter(out), "{}", v.d);
      }
      out += '}';
      return;
    case Type::kBytes: out += "{\"bytesValue\":\"" + Base64Encode(v.str) + "\"}"; return;
    case Type::kArray:
      out += "{\"arrayValue\":{\"values\":[";
      for (size_t i = 0; i < v.array.size(); ++i) {
        if (i) out += ',';
        AppendAnyValueJson(v.array[i], out);
      }
      out += "]}}";
      return;
    case Type::kKvList:
      out += "{\"kvlistValue\":{\"values\":";
      AppendAttributesJson(v.kvlist, out);
      out += "}}";
      return;
  }
}

void AppendAttributesJson(const model::Attributes& attributes, std::string& out) {
  out += '[';
  for (size_t i = 0; i < attributes.size(); ++i) {
    if (i) out += ',';
    out += "{\"key\":";
    AppendJsonString(out, attributes[i].key);
    out += ",\"value\":";
    AppendAnyValueJson(attributes[i].value, out);
    out += '}';
  }
  out += ']';
}

void AppendTracesJson(std::span<const model::ResourceSpans> groups, std::string_view key,
                      std::string& out) {
  fmt::format_to(std::back_inserter(out), "{{\"{}\":[", key);
  for (size_t g = 0; g < groups.size(); ++g) {
    const model::ResourceSpans& rs = groups[g];
    if (g) out += ',';
    out += "{\"resource\":{\"attributes\":";
    AppendAttributesJson(rs.resource.attributes, out);
    if (rs.resource.dropped_attributes_count)
      fmt::format_to(std::back_inserter(out), ",\"droppedAttributesCount\":{}",
                     rs.resource.dropped_attributes_count);
    out += "},\"scopeSpans\":[";
    for (size_t s = 0; s < rs.scopes.size(); ++s) {
      if (s) out += ',';
      out += "{\"scope\":";
      AppendScopeJson(rs.scopes[s].scope, out);
      out += ",\"spans\":[";
      for (size_t i = 0; i < rs.scopes[s].spans.size(); ++i) {
        if (i) out += ',';
        AppendSpanJson(rs.scopes[s].spans[i], out);
      }
      out += "]}";
    }
    out += "]}";
  }
  out += "]}";
}

}  // namespace pharos::traces
