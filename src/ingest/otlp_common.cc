// OTLP's common messages and export envelope, decoded once for every signal.
#include "ingest/otlp_common.h"

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"

namespace pharos::ingest::otlp {

using simdjson::dom::element;
using simdjson::dom::object;

Status Malformed(std::string_view what) {
  return InvalidArgument(fmt::format("malformed OTLP protobuf: {}", what));
}

Status BadJson(std::string_view field, std::string_view want) {
  return InvalidArgument(fmt::format("OTLP JSON: {} must be {}", field, want));
}

namespace {

Status TooDeep() {
  return InvalidArgument(fmt::format("OTLP attribute value nested too deeply (more than {} levels)",
                                     model::kMaxAnyValueDepth));
}

// Calls fn(item bytes) for each length-delimited field 1 of `data` (ArrayValue.values and
// KeyValueList.values).
template <typename Fn>
Status EachValue(std::string_view data, std::string_view what, Fn fn) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view item;
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(item)) break;
      PHAROS_RETURN_IF_ERROR(fn(item));
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed(what);
}

}  // namespace

Status JsonHexId(simdjson::dom::object o, const char* field, size_t bytes, std::string& out) {
  simdjson::dom::element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (!e.is_string()) return BadJson(field, "a hex string");
  std::string_view hex = e.get_string().value();
  if (hex.empty()) return Status::Ok();
  if (hex.size() != bytes * 2 || !HexDecode(hex, out))
    return BadJson(field, fmt::format("{} hex digits", bytes * 2));
  return Status::Ok();
}

Status DecodeAnyValue(std::string_view data, model::AnyValue& out, int depth) {
  using Type = model::AnyValue::Type;
  if (depth > model::kMaxAnyValueDepth) return TooDeep();
  out = model::AnyValue();
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u;
    // A oneof: the last member on the wire wins, as protobuf parsers do.
    switch (f) {
      case 1:
        if (t != WireType::kLen || !r.Bytes(sv)) return Malformed("AnyValue.string_value");
        if (out.type != Type::kEmpty) out.Reset(Type::kEmpty);
        out.type = Type::kString;
        out.str.assign(sv);
        break;
      case 2:
        if (t != WireType::kVarint || !r.Varint(u)) return Malformed("AnyValue.bool_value");
        out.Reset(Type::kBool);
        out.b = u != 0;
        break;
      case 3:
        if (t != WireType::kVarint || !r.Varint(u)) return Malformed("AnyValue.int_value");
        out.Reset(Type::kInt);
        out.i = static_cast<int64_t>(u);
        break;
      case 4: {
        double d;
        if (t != WireType::kFixed64 || !r.Double(d)) return Malformed("AnyValue.double_value");
        out.Reset(Type::kDouble);
        out.d = d;
        break;
      }
      case 5:
        if (t != WireType::kLen || !r.Bytes(sv)) return Malformed("AnyValue.array_value");
        out.Reset(Type::kArray);
        PHAROS_RETURN_IF_ERROR(EachValue(sv, "ArrayValue", [&](std::string_view item) {
          return DecodeAnyValue(item, out.array.emplace_back(), depth + 1);
        }));
        break;
      case 6:
        if (t != WireType::kLen || !r.Bytes(sv)) return Malformed("AnyValue.kvlist_value");
        out.Reset(Type::kKvList);
        PHAROS_RETURN_IF_ERROR(EachValue(sv, "KeyValueList", [&](std::string_view item) {
          return DecodeKeyValue(item, out.kvlist.emplace_back(), depth + 1);
        }));
        break;
      case 7:
        if (t != WireType::kLen || !r.Bytes(sv)) return Malformed("AnyValue.bytes_value");
        out.Reset(Type::kBytes);
        out.str.assign(sv);
        break;
      default:  // 8, string_value_strindex, is for profiles only: the value stays absent
        if (!r.Skip(t)) return Malformed("AnyValue");
    }
  }
  return r.ok() ? Status::Ok() : Malformed("AnyValue");
}

Status DecodeKeyValue(std::string_view data, model::KeyValue& out, int depth) {
  if (depth > model::kMaxAnyValueDepth) return TooDeep();
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      out.key.assign(sv);
    } else if (f == 2 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      PHAROS_RETURN_IF_ERROR(DecodeAnyValue(sv, out.value, depth + 1));
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed("KeyValue");
}

Status DecodeResource(std::string_view data, model::Resource& out) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u;
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, out.attributes.emplace_back()));
    } else if (f == 2 && t == WireType::kVarint) {
      if (!r.Varint(u)) break;
      out.dropped_attributes_count = static_cast<uint32_t>(u);
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed("Resource");
}

Status DecodeScope(std::string_view data, model::InstrumentationScope& out) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u;
    if ((f == 1 || f == 2) && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      (f == 1 ? out.name : out.version).assign(sv);
    } else if (f == 3 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, out.attributes.emplace_back()));
    } else if (f == 4 && t == WireType::kVarint) {
      if (!r.Varint(u)) break;
      out.dropped_attributes_count = static_cast<uint32_t>(u);
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed("InstrumentationScope");
}

namespace {

// The one field-1 submessage of a group (its Resource or InstrumentationScope), wherever
// it sits on the wire; the last one wins, as protobuf merges it.
template <typename T, typename DecodeFn>
Status GroupHeader(std::string_view group, std::string_view what, DecodeFn decode, T& out) {
  ProtoReader r(group);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      out = T();
      PHAROS_RETURN_IF_ERROR(decode(sv, out));
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed(what);
}

// The items (field 2) of a scope group; a malformed group counts what precedes the fault
// (the decoding pass that follows reports it).
size_t CountItems(std::string_view scope_group) {
  ProtoReader r(scope_group);
  uint32_t f;
  WireType t;
  size_t n = 0;
  while (r.Next(f, t)) {
    n += f == 2 && t == WireType::kLen;
    if (!r.Skip(t)) break;
  }
  return n;
}

}  // namespace

Status DecodeEnvelope(std::string_view body, const EnvelopeNames& names,
                      const EnvelopeVisitor& visit) {
  return EachValue(body, names.request, [&](std::string_view resource_group) -> Status {
    model::Resource resource;
    PHAROS_RETURN_IF_ERROR(GroupHeader(
        resource_group, names.resource_group,
        [](std::string_view d, model::Resource& r) { return DecodeResource(d, r); }, resource));
    PHAROS_RETURN_IF_ERROR(visit.resource(std::move(resource)));
    ProtoReader r(resource_group);
    uint32_t f;
    WireType t;
    while (r.Next(f, t)) {
      std::string_view scope_group;
      if (f == 2 && t == WireType::kLen) {
        if (!r.Bytes(scope_group)) break;
        model::InstrumentationScope scope;
        PHAROS_RETURN_IF_ERROR(GroupHeader(
            scope_group, names.scope_group,
            [](std::string_view d, model::InstrumentationScope& s) { return DecodeScope(d, s); },
            scope));
        PHAROS_RETURN_IF_ERROR(visit.scope(std::move(scope)));
        if (visit.expect) visit.expect(CountItems(scope_group));
        ProtoReader items(scope_group);
        uint32_t g;
        WireType gt;
        while (items.Next(g, gt)) {
          std::string_view item;
          if (g == 2 && gt == WireType::kLen) {
            if (!items.Bytes(item)) break;
            PHAROS_RETURN_IF_ERROR(visit.item(item));
          } else if (!items.Skip(gt)) {
            break;
          }
        }
        if (!items.ok()) return Malformed(names.scope_group);
      } else if (!r.Skip(t)) {
        break;
      }
    }
    return r.ok() ? Status::Ok() : Malformed(names.resource_group);
  });
}

// ---- JSON ----

bool JsonUint64(element e, uint64_t& out) {
  if (e.is_string()) {
    std::string_view s = e.get_string().value();
    if (s.empty() || s.size() > 20) return false;
    std::string copy(s);
    char* end = nullptr;
    out = std::strtoull(copy.c_str(), &end, 10);
    return *end == '\0' && copy[0] != '-';
  }
  if (e.is_uint64()) {
    out = e.get_uint64().value();
    return true;
  }
  if (e.is_int64() && e.get_int64().value() >= 0) {
    out = static_cast<uint64_t>(e.get_int64().value());
    return true;
  }
  return false;
}

bool JsonInt64(element e, int64_t& out) {
  if (e.is_string()) {
    std::string copy(e.get_string().value());
    if (copy.empty() || copy.size() > 20) return false;
    char* end = nullptr;
    out = std::strtoll(copy.c_str(), &end, 10);
    return *end == '\0';
  }
  if (e.is_int64()) {
    out = e.get_int64().value();
    return true;
  }
  return false;
}

bool JsonDouble(element e, double& out) {
  if (e.is_number()) {
    out = e.get_double().value();
    return true;
  }
  if (e.is_string()) {
    std::string_view s = e.get_string().value();
    if (s == "NaN")
      out = NAN;
    else if (s == "Infinity")
      out = INFINITY;
    else if (s == "-Infinity")
      out = -INFINITY;
    else
      return false;
    return true;
  }
  return false;
}

namespace {

Status DecodeKeyValueJson(element kv, model::KeyValue& out, int depth) {
  if (!kv.is_object()) return BadJson("attribute", "an object");
  object o = kv.get_object().value();
  element k, val;
  if (o["key"].get(k) == simdjson::SUCCESS && k.is_string()) out.key = k.get_string().value();
  if (o["value"].get(val) == simdjson::SUCCESS)
    PHAROS_RETURN_IF_ERROR(DecodeAnyValueJson(val, out.value, depth + 1));
  return Status::Ok();
}

// ArrayValue and KeyValueList: {"values": [...]}.
template <typename Fn>
Status EachJsonValue(element holder, Fn fn) {
  element values;
  if (!holder.is_object()) return Status::Ok();
  if (holder.get_object().value()["values"].get(values) != simdjson::SUCCESS) return Status::Ok();
  if (!values.is_array()) return BadJson("values", "an array");
  simdjson::dom::array items = values.get_array().value();
  for (element item : items) PHAROS_RETURN_IF_ERROR(fn(item));
  return Status::Ok();
}

}  // namespace

Status DecodeAnyValueJson(element v, model::AnyValue& out, int depth) {
  using Type = model::AnyValue::Type;
  if (depth > model::kMaxAnyValueDepth) return TooDeep();
  if (!v.is_object()) return BadJson("AnyValue", "an object");
  out = model::AnyValue();
  object fields = v.get_object().value();
  for (auto field : fields) {
    std::string_view key = field.key;
    element value = field.value;
    if (key == "stringValue" && value.is_string()) {
      out = model::AnyValue::String(std::string(value.get_string().value()));
    } else if (key == "boolValue" && value.is_bool()) {
      out.Reset(Type::kBool);
      out.b = value.get_bool().value();
    } else if (key == "intValue") {
      out.Reset(Type::kInt);
      if (!JsonInt64(value, out.i)) return BadJson("AnyValue.intValue", "an integer");
    } else if (key == "doubleValue") {
      out.Reset(Type::kDouble);
      if (!JsonDouble(value, out.d)) return BadJson("AnyValue.doubleValue", "a number");
    } else if (key == "bytesValue" && value.is_string()) {
      out.Reset(Type::kBytes);
      if (!Base64Decode(value.get_string().value(), out.str))
        return BadJson("AnyValue.bytesValue", "base64");
    } else if (key == "arrayValue") {
      out.Reset(Type::kArray);
      PHAROS_RETURN_IF_ERROR(EachJsonValue(value, [&](element item) {
        return DecodeAnyValueJson(item, out.array.emplace_back(), depth + 1);
      }));
    } else if (key == "kvlistValue") {
      out.Reset(Type::kKvList);
      PHAROS_RETURN_IF_ERROR(EachJsonValue(value, [&](element item) {
        return DecodeKeyValueJson(item, out.kvlist.emplace_back(), depth + 1);
      }));
    }
  }
  return Status::Ok();
}

Status DecodeAttributesJson(object parent, model::Attributes& out) {
  element attrs;
  if (parent["attributes"].get(attrs) != simdjson::SUCCESS) return Status::Ok();
  if (!attrs.is_array()) return BadJson("attributes", "an array");
  simdjson::dom::array list = attrs.get_array().value();
  for (element kv : list) {
    PHAROS_RETURN_IF_ERROR(DecodeKeyValueJson(kv, out.emplace_back(), 0));
  }
  return Status::Ok();
}

namespace {

uint32_t DroppedCount(object o) {
  element e;
  uint64_t n = 0;
  if (o["droppedAttributesCount"].get(e) == simdjson::SUCCESS) JsonUint64(e, n);
  return static_cast<uint32_t>(n);
}

}  // namespace

Status DecodeEnvelopeJson(std::string_view body, const JsonEnvelopeNames& names,
                          const JsonEnvelopeVisitor& visit) {
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element doc;
  auto error = parser.parse(padded).get(doc);
  if (error) return InvalidArgument(fmt::format("OTLP JSON: {}", simdjson::error_message(error)));
  if (!doc.is_object()) return BadJson("the request", "a JSON object");
  return EachJsonObject(doc.get_object().value(), names.resource_groups, [&](object rg) -> Status {
    model::Resource resource;
    element r;
    if (rg["resource"].get(r) == simdjson::SUCCESS && r.is_object()) {
      object ro = r.get_object().value();
      PHAROS_RETURN_IF_ERROR(DecodeAttributesJson(ro, resource.attributes));
      resource.dropped_attributes_count = DroppedCount(ro);
    }
    PHAROS_RETURN_IF_ERROR(visit.resource(std::move(resource)));
    return EachJsonObject(rg, names.scope_groups, [&](object sg) -> Status {
      model::InstrumentationScope scope;
      element s;
      if (sg["scope"].get(s) == simdjson::SUCCESS && s.is_object()) {
        object so = s.get_object().value();
        element v;
        if (so["name"].get(v) == simdjson::SUCCESS && v.is_string())
          scope.name = v.get_string().value();
        if (so["version"].get(v) == simdjson::SUCCESS && v.is_string())
          scope.version = v.get_string().value();
        PHAROS_RETURN_IF_ERROR(DecodeAttributesJson(so, scope.attributes));
        scope.dropped_attributes_count = DroppedCount(so);
      }
      PHAROS_RETURN_IF_ERROR(visit.scope(std::move(scope)));
      return EachJsonObject(sg, names.items, visit.item);
    });
  });
}

}  // namespace pharos::ingest::otlp
