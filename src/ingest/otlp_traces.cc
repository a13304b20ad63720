// OTLP traces (ExportTraceServiceRequest), protobuf and JSON, into model::ResourceSpans. The
// envelope, resource, scope and attributes are otlp_common.cc's; this decodes a Span with
// its events, links and status. Field numbers: ../shared/testdata/otlp/FIELDS.md section 3.
#include <fmt/format.h>

#include "common/protowire.h"
#include "ingest/ingest.h"
#include "ingest/otlp.h"
#include "ingest/otlp_common.h"

namespace pharos::ingest::otlp {
namespace {

// A uint32 varint field (dropped counts).
bool Uint32(ProtoReader& r, WireType t, uint32_t& out) {
  uint64_t u;
  if (t != WireType::kVarint || !r.Varint(u)) return false;
  out = static_cast<uint32_t>(u);
  return true;
}

bool Text(ProtoReader& r, WireType t, std::string& out) {
  std::string_view sv;
  if (t != WireType::kLen || !r.Bytes(sv)) return false;
  out.assign(sv);
  return true;
}

Status DecodeEvent(std::string_view data, model::SpanEvent& ev) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    bool ok = true;
    switch (f) {
      case 1: ok = t == WireType::kFixed64 && r.Fixed64(ev.time_unix_nano); break;
      case 2: ok = Text(r, t, ev.name); break;
      case 3:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, ev.attributes.emplace_back()));
        break;
      case 4: ok = Uint32(r, t, ev.dropped_attributes_count); break;
      default: ok = r.Skip(t);
    }
    if (!ok) return Malformed(fmt::format("Span.Event field {}", f));
  }
  return r.ok() ? Status::Ok() : Malformed("Span.Event");
}

Status DecodeLink(std::string_view data, model::SpanLink& link) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    bool ok = true;
    switch (f) {
      case 1: ok = Text(r, t, link.trace_id); break;
      case 2: ok = Text(r, t, link.span_id); break;
      case 3: ok = Text(r, t, link.trace_state); break;
      case 4:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, link.attributes.emplace_back()));
        break;
      case 5: ok = Uint32(r, t, link.dropped_attributes_count); break;
      case 6: ok = t == WireType::kFixed32 && r.Fixed32(link.flags); break;
      default: ok = r.Skip(t);
    }
    if (!ok) return Malformed(fmt::format("Span.Link field {}", f));
  }
  return r.ok() ? Status::Ok() : Malformed("Span.Link");
}

Status DecodeStatus(std::string_view data, model::Span& span) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    uint64_t u = 0;
    bool ok = true;
    if (f == 2) {
      ok = Text(r, t, span.status_message);
    } else if (f == 3) {
      ok = t == WireType::kVarint && r.Varint(u);
      span.status_code = static_cast<int32_t>(u);
    } else {
      ok = r.Skip(t);
    }
    if (!ok) return Malformed(fmt::format("Status field {}", f));
  }
  return r.ok() ? Status::Ok() : Malformed("Status");
}

Status DecodeSpan(std::string_view data, model::Span& span) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u = 0;
    bool ok = true;
    switch (f) {
      case 1: ok = Text(r, t, span.trace_id); break;
      case 2: ok = Text(r, t, span.span_id); break;
      case 3: ok = Text(r, t, span.trace_state); break;
      case 4: ok = Text(r, t, span.parent_span_id); break;
      case 5: ok = Text(r, t, span.name); break;
      case 6:
        ok = t == WireType::kVarint && r.Varint(u);
        span.kind = static_cast<int32_t>(u);
        break;
      case 7: ok = t == WireType::kFixed64 && r.Fixed64(span.start_time_unix_nano); break;
      case 8: ok = t == WireType::kFixed64 && r.Fixed64(span.end_time_unix_nano); break;
      case 9:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, span.attributes.emplace_back()));
        break;
      case 10: ok = Uint32(r, t, span.dropped_attributes_count); break;
      case 11:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeEvent(sv, span.events.emplace_back()));
        break;
      case 12: ok = Uint32(r, t, span.dropped_events_count); break;
      case 13:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeLink(sv, span.links.emplace_back()));
        break;
      case 14: ok = Uint32(r, t, span.dropped_links_count); break;
      case 15:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeStatus(sv, span));
        break;
      case 16: ok = t == WireType::kFixed32 && r.Fixed32(span.flags); break;
      default: ok = r.Skip(t);
    }
    if (!ok) return Malformed(fmt::format("Span field {}", f));
  }
  return r.ok() ? Status::Ok() : Malformed("Span");
}

// ---- JSON ----

// Reads the members of one OTLP JSON object by name, each checked for its type.
class JsonFields {
 public:
  explicit JsonFields(simdjson::dom::object o) : o_(o) {}
  Status U64(const char* field, uint64_t& out) {
    if (!Find(field)) return Status::Ok();
    if (!JsonUint64(e_, out)) return BadJson(field, "an unsigned integer (string or number)");
    return Status::Ok();
  }
  Status U32(const char* field, uint32_t& out) {
    uint64_t v = out;
    PHAROS_RETURN_IF_ERROR(U64(field, v));
    if (v > UINT32_MAX) return BadJson(field, "a 32-bit unsigned integer");
    out = static_cast<uint32_t>(v);
    return Status::Ok();
  }
  Status Str(const char* field, std::string& out) {
    if (!Find(field)) return Status::Ok();
    if (!e_.is_string()) return BadJson(field, "a string");
    out = e_.get_string().value();
    return Status::Ok();
  }
  /// An enum: its number, or (as proto3 JSON parsers accept) its name from `names`.
  Status Enum(const char* field, std::span<const std::string_view> names, int32_t& out) {
    if (!Find(field)) return Status::Ok();
    if (e_.is_string()) {
      std::string_view name = e_.get_string().value();
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) {
          out = static_cast<int32_t>(i);
          return Status::Ok();
        }
      }
      return BadJson(field, "an enum number or name");
    }
    int64_t v = 0;
    if (!JsonInt64(e_, v) || v < INT32_MIN || v > INT32_MAX)
      return BadJson(field, "an enum number or name");
    out = static_cast<int32_t>(v);
    return Status::Ok();
  }

 private:
  bool Find(const char* field) { return o_[field].get(e_) == simdjson::SUCCESS; }
  simdjson::dom::object o_;
  simdjson::dom::element e_;
};

constexpr std::string_view kKindNames[] = {"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL",
                                           "SPAN_KIND_SERVER",      "SPAN_KIND_CLIENT",
                                           "SPAN_KIND_PRODUCER",    "SPAN_KIND_CONSUMER"};
constexpr std::string_view kStatusNames[] = {"STATUS_CODE_UNSET", "STATUS_CODE_OK",
                                             "STATUS_CODE_ERROR"};

Status DecodeSpanJson(simdjson::dom::object o, model::Span& span) {
  JsonFields j(o);
  PHAROS_RETURN_IF_ERROR(JsonHexId(o, "traceId", 16, span.trace_id));
  PHAROS_RETURN_IF_ERROR(JsonHexId(o, "spanId", 8, span.span_id));
  PHAROS_RETURN_IF_ERROR(JsonHexId(o, "parentSpanId", 8, span.parent_span_id));
  PHAROS_RETURN_IF_ERROR(j.Str("traceState", span.trace_state));
  PHAROS_RETURN_IF_ERROR(j.U32("flags", span.flags));
  PHAROS_RETURN_IF_ERROR(j.Str("name", span.name));
  PHAROS_RETURN_IF_ERROR(j.Enum("kind", kKindNames, span.kind));
  PHAROS_RETURN_IF_ERROR(j.U64("startTimeUnixNano", span.start_time_unix_nano));
  PHAROS_RETURN_IF_ERROR(j.U64("endTimeUnixNano", span.end_time_unix_nano));
  PHAROS_RETURN_IF_ERROR(DecodeAttributesJson(o, span.attributes));
  PHAROS_RETURN_IF_ERROR(j.U32("droppedAttributesCount", span.dropped_attributes_count));
  PHAROS_RETURN_IF_ERROR(j.U32("droppedEventsCount", span.dropped_events_count));
  PHAROS_RETURN_IF_ERROR(j.U32("droppedLinksCount", span.dropped_links_count));
  PHAROS_RETURN_IF_ERROR(EachJsonObject(o, "events", [&span](simdjson::dom::object e) {
    model::SpanEvent& ev = span.events.emplace_back();
    JsonFields je(e);
    PHAROS_RETURN_IF_ERROR(je.U64("timeUnixNano", ev.time_unix_nano));
    PHAROS_RETURN_IF_ERROR(je.Str("name", ev.name));
    PHAROS_RETURN_IF_ERROR(je.U32("droppedAttributesCount", ev.dropped_attributes_count));
    return DecodeAttributesJson(e, ev.attributes);
  }));
  PHAROS_RETURN_IF_ERROR(EachJsonObject(o, "links", [&span](simdjson::dom::object l) {
    model::SpanLink& link = span.links.emplace_back();
    JsonFields jl(l);
    PHAROS_RETURN_IF_ERROR(JsonHexId(l, "traceId", 16, link.trace_id));
    PHAROS_RETURN_IF_ERROR(JsonHexId(l, "spanId", 8, link.span_id));
    PHAROS_RETURN_IF_ERROR(jl.Str("traceState", link.trace_state));
    PHAROS_RETURN_IF_ERROR(jl.U32("flags", link.flags));
    PHAROS_RETURN_IF_ERROR(jl.U32("droppedAttributesCount", link.dropped_attributes_count));
    return DecodeAttributesJson(l, link.attributes);
  }));
  simdjson::dom::element status;
  if (o["status"].get(status) == simdjson::SUCCESS) {
    if (!status.is_object()) return BadJson("status", "an object");
    JsonFields js(status.get_object().value());
    PHAROS_RETURN_IF_ERROR(js.Str("message", span.status_message));
    PHAROS_RETURN_IF_ERROR(js.Enum("code", kStatusNames, span.status_code));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeTraces(std::string_view body, bool json, std::vector<model::ResourceSpans>& out) {
  return DecodeSignal(body, json, {"ExportTraceServiceRequest", "ResourceSpans", "ScopeSpans"},
                      {"resourceSpans", "scopeSpans", "spans"}, &model::ScopeSpans::spans,
                      DecodeSpan, DecodeSpanJson, out);
}

}  // namespace pharos::ingest::otlp

namespace pharos::ingest {

Status DecodeOtlpTraces(std::string_view body, bool json, std::vector<model::ResourceSpans>& out) {
  return otlp::DecodeTraces(body, json, out);
}

}  // namespace pharos::ingest
