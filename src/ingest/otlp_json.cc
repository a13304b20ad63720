// OTLP/JSON metrics decoding: proto3 JSON with OTLP's rules (lowerCamelCase keys, 64-bit
// integers as strings or numbers, enums as integers, unknown fields ignored).
#include <simdjson.h>

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/strings.h"
#include "ingest/otlp.h"

namespace pharos::ingest::otlp {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr int kMaxDepth = 16;

Status Bad(std::string_view field, std::string_view want) {
  return InvalidArgument(fmt::format("OTLP JSON: {} must be {}", field, want));
}

// 64-bit integers arrive as decimal strings or numbers.
bool Uint64(element e, uint64_t& out) {
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

bool Int64(element e, int64_t& out) {
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

// Doubles are numbers, or "NaN", "Infinity", "-Infinity".
bool Double(element e, double& out) {
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

Status AnyValueText(element v, std::string& out, int depth);

Status KeyValue(element kv, std::string& key, std::string& value, int depth) {
  if (!kv.is_object()) return Bad("attribute", "an object");
  object o = kv.get_object().value();
  element k, val;
  if (o["key"].get(k) == simdjson::SUCCESS && k.is_string())
    key = std::string(k.get_string().value());
  value.clear();
  if (o["value"].get(val) == simdjson::SUCCESS)
    PHAROS_RETURN_IF_ERROR(AnyValueText(val, value, depth + 1));
  return Status::Ok();
}

Status AnyValueText(element v, std::string& out, int depth) {
  if (depth > kMaxDepth) return InvalidArgument("OTLP attribute value nested too deeply");
  if (!v.is_object()) return Bad("AnyValue", "an object");
  out.clear();
  object fields = v.get_object().value();
  for (auto [key, value] : fields) {
    if (key == "stringValue" && value.is_string()) {
      out = std::string(value.get_string().value());
    } else if (key == "boolValue" && value.is_bool()) {
      out = value.get_bool().value() ? "true" : "false";
    } else if (key == "intValue") {
      int64_t i;
      if (!Int64(value, i)) return Bad("AnyValue.intValue", "an integer");
      out = std::to_string(i);
    } else if (key == "doubleValue") {
      double d;
      if (!Double(value, d)) return Bad("AnyValue.doubleValue", "a number");
      out = fmt::format("{}", d);
    } else if (key == "bytesValue" && value.is_string()) {
      out = std::string(value.get_string().value());  // base64 as sent
    } else if ((key == "arrayValue" || key == "kvlistValue") && value.is_object()) {
      bool map = key == "kvlistValue";
      out = map ? "{" : "[";
      element values;
      if (value.get_object().value()["values"].get(values) == simdjson::SUCCESS &&
          values.is_array()) {
        bool first = true;
        array items = values.get_array().value();
        for (element item : items) {
          if (!first) out += ',';
          first = false;
          std::string k, text;
          if (map) {
            PHAROS_RETURN_IF_ERROR(KeyValue(item, k, text, depth + 1));
            AppendJsonString(out, k);
            out += ':';
          } else {
            PHAROS_RETURN_IF_ERROR(AnyValueText(item, text, depth + 1));
          }
          AppendJsonString(out, text);
        }
      }
      out += map ? "}" : "]";
    }
  }
  return Status::Ok();
}

Status Attributes(object o, std::vector<Attribute>& out) {
  element attrs;
  if (o["attributes"].get(attrs) != simdjson::SUCCESS) return Status::Ok();
  if (!attrs.is_array()) return Bad("attributes", "an array");
  array list = attrs.get_array().value();
  for (element kv : list) {
    Attribute a;
    PHAROS_RETURN_IF_ERROR(KeyValue(kv, a.key, a.value, 0));
    out.push_back(std::move(a));
  }
  return Status::Ok();
}

template <typename T, typename Fn>
Status Each(object o, const char* field, Fn fn) {
  element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (!e.is_array()) return Bad(field, "an array");
  array items = e.get_array().value();
  for (element item : items) {
    if (!item.is_object()) return Bad(field, "an array of objects");
    PHAROS_RETURN_IF_ERROR(fn(item.get_object().value()));
  }
  return Status::Ok();
}

Status U64Field(object o, const char* field, uint64_t& out) {
  element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (!Uint64(e, out)) return Bad(field, "an unsigned integer (string or number)");
  return Status::Ok();
}

Status DoubleField(object o, const char* field, std::optional<double>& out) {
  element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  double d;
  if (!Double(e, d)) return Bad(field, "a number");
  out = d;
  return Status::Ok();
}

Status DecodePoint(object o, Kind kind, Point& p) {
  PHAROS_RETURN_IF_ERROR(Attributes(o, p.attributes));
  PHAROS_RETURN_IF_ERROR(U64Field(o, "startTimeUnixNano", p.start_ns));
  PHAROS_RETURN_IF_ERROR(U64Field(o, "timeUnixNano", p.time_ns));
  uint64_t flags = 0;
  PHAROS_RETURN_IF_ERROR(U64Field(o, "flags", flags));
  p.flags = static_cast<uint32_t>(flags);
  element e;
  if (kind == Kind::kGauge || kind == Kind::kSum) {
    std::optional<double> d;
    PHAROS_RETURN_IF_ERROR(DoubleField(o, "asDouble", d));
    if (d) {
      p.value = *d;
      p.has_value = true;
    }
    if (o["asInt"].get(e) == simdjson::SUCCESS) {
      int64_t i;
      if (!Int64(e, i)) return Bad("asInt", "an integer (string or number)");
      p.value = static_cast<double>(i);
      p.has_value = true;
    }
    if (o["exemplars"].get(e) == simdjson::SUCCESS && e.is_array())
      p.exemplars = e.get_array().value().size();
    return Status::Ok();
  }
  PHAROS_RETURN_IF_ERROR(U64Field(o, "count", p.count));
  PHAROS_RETURN_IF_ERROR(DoubleField(o, "sum", p.sum));
  if (kind == Kind::kHistogram) {
    if (o["bucketCounts"].get(e) == simdjson::SUCCESS) {
      if (!e.is_array()) return Bad("bucketCounts", "an array");
      array counts = e.get_array().value();
      for (element c : counts) {
        uint64_t v;
        if (!Uint64(c, v)) return Bad("bucketCounts", "unsigned integers");
        p.bucket_counts.push_back(v);
      }
    }
    if (o["explicitBounds"].get(e) == simdjson::SUCCESS) {
      if (!e.is_array()) return Bad("explicitBounds", "an array");
      array bounds = e.get_array().value();
      for (element b : bounds) {
        double v;
        if (!Double(b, v)) return Bad("explicitBounds", "numbers");
        p.explicit_bounds.push_back(v);
      }
    }
  } else if (kind == Kind::kExponentialHistogram) {
    int64_t scale = 0;
    if (o["scale"].get(e) == simdjson::SUCCESS && !Int64(e, scale))
      return Bad("scale", "an integer");
    p.scale = static_cast<int32_t>(scale);
    PHAROS_RETURN_IF_ERROR(U64Field(o, "zeroCount", p.zero_count));
    std::optional<double> threshold;
    PHAROS_RETURN_IF_ERROR(DoubleField(o, "zeroThreshold", threshold));
    p.zero_threshold = threshold.value_or(0);
    for (const char* side : {"positive", "negative"}) {
      element b;
      if (o[side].get(b) != simdjson::SUCCESS || !b.is_object()) continue;
      object bo = b.get_object().value();
      int64_t offset = 0;
      element off;
      if (bo["offset"].get(off) == simdjson::SUCCESS && !Int64(off, offset))
        return Bad("offset", "an integer");
      std::vector<uint64_t>& counts = side[0] == 'p' ? p.positive_counts : p.negative_counts;
      (side[0] == 'p' ? p.positive_offset : p.negative_offset) = static_cast<int32_t>(offset);
      element list;
      if (bo["bucketCounts"].get(list) == simdjson::SUCCESS && list.is_array()) {
        array items = list.get_array().value();
        for (element c : items) {
          uint64_t v;
          if (!Uint64(c, v)) return Bad("bucketCounts", "unsigned integers");
          counts.push_back(v);
        }
      }
    }
  } else {  // summary
    return Each<object>(o, "quantileValues", [&p](object q) -> Status {
      std::optional<double> quantile, value;
      PHAROS_RETURN_IF_ERROR(DoubleField(q, "quantile", quantile));
      PHAROS_RETURN_IF_ERROR(DoubleField(q, "value", value));
      p.quantiles.push_back({quantile.value_or(0), value.value_or(0)});
      return Status::Ok();
    });
  }
  return Status::Ok();
}

Status DecodeMetric(object o, Metric& m) {
  element e;
  if (o["name"].get(e) == simdjson::SUCCESS && e.is_string())
    m.name = std::string(e.get_string().value());
  if (o["unit"].get(e) == simdjson::SUCCESS && e.is_string())
    m.unit = std::string(e.get_string().value());
  static const std::pair<const char*, Kind> kKinds[] = {
      {"gauge", Kind::kGauge},
      {"sum", Kind::kSum},
      {"histogram", Kind::kHistogram},
      {"exponentialHistogram", Kind::kExponentialHistogram},
      {"summary", Kind::kSummary}};
  for (const auto& entry : kKinds) {
    // Named copies: clang 14 cannot capture structured bindings in the lambda below.
    const char* field = entry.first;
    Kind kind = entry.second;
    element data;
    if (o[field].get(data) != simdjson::SUCCESS) continue;
    if (!data.is_object()) return Bad(field, "an object");
    object d = data.get_object().value();
    m.kind = kind;
    m.has_data = true;
    element x;
    if (d["aggregationTemporality"].get(x) == simdjson::SUCCESS) {
      int64_t t;
      if (!Int64(x, t))
        return Bad("aggregationTemporality", "an integer (enums are integers in OTLP/JSON)");
      m.temporality = static_cast<Temporality>(t >= 0 && t <= 2 ? t : 0);
    }
    if (d["isMonotonic"].get(x) == simdjson::SUCCESS && x.is_bool())
      m.monotonic = x.get_bool().value();
    Status s = Each<object>(
        d, "dataPoints", [&](object p) { return DecodePoint(p, kind, m.points.emplace_back()); });
    if (!s.ok()) return s.WithContext(fmt::format("metric {}", m.name));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeJson(std::string_view body, Request& out) {
  out.resources.clear();
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  element doc;
  auto error = parser.parse(padded).get(doc);
  if (error) return InvalidArgument(fmt::format("OTLP JSON: {}", simdjson::error_message(error)));
  if (!doc.is_object()) return Bad("the request", "a JSON object");
  return Each<object>(doc.get_object().value(), "resourceMetrics", [&out](object rm) -> Status {
    Resource& res = out.resources.emplace_back();
    element r;
    if (rm["resource"].get(r) == simdjson::SUCCESS && r.is_object()) {
      PHAROS_RETURN_IF_ERROR(Attributes(r.get_object().value(), res.attributes));
    }
    return Each<object>(rm, "scopeMetrics", [&res](object sm) -> Status {
      Scope& scope = res.scopes.emplace_back();
      element s;
      if (sm["scope"].get(s) == simdjson::SUCCESS && s.is_object()) {
        element v;
        object so = s.get_object().value();
        if (so["name"].get(v) == simdjson::SUCCESS && v.is_string())
          scope.name = std::string(v.get_string().value());
        if (so["version"].get(v) == simdjson::SUCCESS && v.is_string())
          scope.version = std::string(v.get_string().value());
      }
      return Each<object>(sm, "metrics", [&scope](object m) {
        return DecodeMetric(m, scope.metrics.emplace_back());
      });
    });
  });
}

}  // namespace pharos::ingest::otlp
