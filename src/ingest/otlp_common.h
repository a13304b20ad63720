// Internal to ingest: what every OTLP signal's decoder shares, in protobuf and in JSON.
// AnyValue, KeyValue, Resource and InstrumentationScope decode into model's types, and the
// envelope every export request has (Export*ServiceRequest -> Resource* -> Scope* -> items)
// is walked once here, so a signal's decoder only decodes its own item (a Metric, a
// LogRecord, a Span). Field numbers: ../shared/testdata/otlp/FIELDS.md sections 1 and 2.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <string_view>

#include "common/status.h"
#include "model/model.h"

namespace pharos::ingest::otlp {

/// "malformed OTLP protobuf: <what>".
Status Malformed(std::string_view what);
/// "OTLP JSON: <field> must be <want>".
Status BadJson(std::string_view field, std::string_view want);

// ---- protobuf ----

Status DecodeAnyValue(std::string_view data, model::AnyValue& out, int depth = 0);
Status DecodeKeyValue(std::string_view data, model::KeyValue& out, int depth = 0);
Status DecodeResource(std::string_view data, model::Resource& out);
Status DecodeScope(std::string_view data, model::InstrumentationScope& out);

/// Names of one signal's envelope messages, for error messages.
struct EnvelopeNames {
  const char* request;         // "ExportMetricsServiceRequest"
  const char* resource_group;  // "ResourceMetrics"
  const char* scope_group;     // "ScopeMetrics"
};

/// Called once per resource group and once per scope group, before their items, so a
/// decoder can open the containers its items go into; then once per item (the raw bytes of
/// a Metric, LogRecord or Span). Resource and scope are complete whatever the field order.
struct EnvelopeVisitor {
  std::function<Status(model::Resource&&)> resource;
  std::function<Status(model::InstrumentationScope&&)> scope;
  std::function<Status(std::string_view item)> item;
  /// Optional: told how many items the scope holds before the first, to reserve room.
  std::function<void(size_t items)> expect;
};

Status DecodeEnvelope(std::string_view body, const EnvelopeNames& names,
                      const EnvelopeVisitor& visit);

// ---- JSON (proto3 JSON with OTLP's rules: lowerCamelCase keys, 64-bit integers as strings
// or numbers, enums as integers, bytes as base64, unknown fields ignored) ----

bool JsonUint64(simdjson::dom::element e, uint64_t& out);
bool JsonInt64(simdjson::dom::element e, int64_t& out);
/// A number, or "NaN", "Infinity", "-Infinity".
bool JsonDouble(simdjson::dom::element e, double& out);

/// The id `field` of `o` in hex (OTLP JSON's ids), `bytes` long; absent or "" is empty.
Status JsonHexId(simdjson::dom::object o, const char* field, size_t bytes, std::string& out);
Status DecodeAnyValueJson(simdjson::dom::element v, model::AnyValue& out, int depth = 0);
/// The "attributes" array of `parent` (absent is empty).
Status DecodeAttributesJson(simdjson::dom::object parent, model::Attributes& out);

struct JsonEnvelopeNames {
  const char* resource_groups;  // "resourceMetrics"
  const char* scope_groups;     // "scopeMetrics"
  const char* items;            // "metrics"
};

struct JsonEnvelopeVisitor {
  std::function<Status(model::Resource&&)> resource;
  std::function<Status(model::InstrumentationScope&&)> scope;
  std::function<Status(simdjson::dom::object item)> item;
};

/// Parses `body` and walks the envelope as DecodeEnvelope does.
Status DecodeEnvelopeJson(std::string_view body, const JsonEnvelopeNames& names,
                          const JsonEnvelopeVisitor& visit);

/// The resource and scope callbacks every signal's visitor shares: they open a group in
/// `groups` (a vector of {resource, scopes}) and a scope (a {scope, items}) in its last
/// group, for the item callback to fill.
template <typename Groups>
auto CollectResource(Groups& groups) {
  return [&groups](model::Resource&& r) {
    groups.emplace_back().resource = std::move(r);
    return Status::Ok();
  };
}
template <typename Groups>
auto CollectScope(Groups& groups) {
  return [&groups](model::InstrumentationScope&& s) {
    groups.back().scopes.emplace_back().scope = std::move(s);
    return Status::Ok();
  };
}

/// Decodes a whole export request of one signal into `out`, a vector of {resource,
/// scopes} whose scopes hold their items in the member `items` (&ScopeSpans::spans):
/// `decode(bytes, item)` decodes one protobuf item, `decode_json(object, item)` one JSON
/// item.
template <typename Groups, typename ItemsMember, typename Decode, typename DecodeJson>
Status DecodeSignal(std::string_view body, bool json, const EnvelopeNames& names,
                    const JsonEnvelopeNames& json_names, ItemsMember items, Decode decode,
                    DecodeJson decode_json, Groups& out) {
  out.clear();
  auto scope_items = [&out, items ]() -> auto& { return out.back().scopes.back().*items; };
  if (json) {
    return DecodeEnvelopeJson(body, json_names,
                              {.resource = CollectResource(out),
                               .scope = CollectScope(out),
                               .item = [&](simdjson::dom::object item) {
                                 return decode_json(item, scope_items().emplace_back());
                               }});
  }
  return DecodeEnvelope(
      body, names,
      {.resource = CollectResource(out),
       .scope = CollectScope(out),
       .item = [&](std::string_view item) { return decode(item, scope_items().emplace_back()); },
       .expect = [&](size_t n) { scope_items().reserve(n); }});
}

/// Calls fn(object) for each element of the array `field` of `o` (absent is empty).
template <typename Fn>
Status EachJsonObject(simdjson::dom::object o, const char* field, Fn fn) {
  simdjson::dom::element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (!e.is_array()) return BadJson(field, "an array");
  simdjson::dom::array items = e.get_array().value();
  for (simdjson::dom::element item : items) {
    if (!item.is_object()) return BadJson(field, "an array of objects");
    PHAROS_RETURN_IF_ERROR(fn(item.get_object().value()));
  }
  return Status::Ok();
}

}  // namespace pharos::ingest::otlp
