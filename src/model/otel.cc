// OpenTelemetry's AnyValue rendered as text and JSON.
#include <cmath>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/model.h"

namespace pharos::model {

AnyValue AnyValue::String(std::string s) {
  AnyValue v;
  v.type = Type::kString;
  v.str = std::move(s);
  return v;
}

void AnyValue::Reset(Type t) {
  *this = AnyValue();
  type = t;
}

std::string AnyValue::ToText() const {
  switch (type) {
    case Type::kEmpty: return {};
    case Type::kString: return str;
    case Type::kBool: return b ? "true" : "false";
    case Type::kInt: return std::to_string(i);
    case Type::kDouble: return fmt::format("{}", d);
    case Type::kBytes: return Base64Encode(str);
    case Type::kArray: {
      // Arrays and maps as JSON of their elements' text, as Prometheus's translator does.
      std::string out = "[";
      for (size_t k = 0; k < array.size(); ++k) {
        if (k) out += ',';
        AppendJsonString(out, array[k].ToText());
      }
      return out + "]";
    }
    case Type::kKvList: {
      std::string out = "{";
      for (size_t k = 0; k < kvlist.size(); ++k) {
        if (k) out += ',';
        AppendJsonString(out, kvlist[k].key);
        out += ':';
        AppendJsonString(out, kvlist[k].value.ToText());
      }
      return out + "}";
    }
  }
  return {};
}

void AnyValue::AppendJson(std::string& out) const {
  switch (type) {
    case Type::kEmpty: out += "null"; return;
    case Type::kString: AppendJsonString(out, str); return;
    case Type::kBool: out += b ? "true" : "false"; return;
    case Type::kInt: out += std::to_string(i); return;
    case Type::kDouble:
      // JSON has no NaN or infinities; write them as proto3 JSON does, as strings.
      if (std::isnan(d)) {
        out += "\"NaN\"";
      } else if (std::isinf(d)) {
        out += d > 0 ? "\"Infinity\"" : "\"-Infinity\"";
      } else {
        fmt::format_to(std::back_inserter(out), "{}", d);
      }
      return;
    case Type::kBytes: AppendJsonString(out, Base64Encode(str)); return;
    case Type::kArray:
      out += '[';
      for (size_t k = 0; k < array.size(); ++k) {
        if (k) out += ',';
        array[k].AppendJson(out);
      }
      out += ']';
      return;
    case Type::kKvList:
      out += '{';
      for (size_t k = 0; k < kvlist.size(); ++k) {
        if (k) out += ',';
        AppendJsonString(out, kvlist[k].key);
        out += ':';
        kvlist[k].value.AppendJson(out);
      }
      out += '}';
      return;
  }
}

const AnyValue* FindAttribute(const Attributes& attributes, std::string_view key) {
  for (const KeyValue& kv : attributes) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

}  // namespace pharos::model
