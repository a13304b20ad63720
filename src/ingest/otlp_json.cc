// OTLP/JSON metrics decoding (the envelope, attributes and number rules are otlp_common.cc's).
#include <simdjson.h>

#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "common/strings.h"
#include "ingest/otlp.h"
#include "ingest/otlp_common.h"

namespace pharos::ingest::otlp {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

Status U64Field(object o, const char* field, uint64_t& out) {
  element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  if (!JsonUint64(e, out)) return BadJson(field, "an unsigned integer (string or number)");
  return Status::Ok();
}

Status DoubleField(object o, const char* field, std::optional<double>& out) {
  element e;
  if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
  double d;
  if (!JsonDouble(e, d)) return BadJson(field, "a number");
  out = d;
  return Status::Ok();
}

Status DecodePoint(object o, Kind kind, Point& p) {
  PHAROS_RETURN_IF_ERROR(DecodeAttributesJson(o, p.attributes));
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
      if (!JsonInt64(e, i)) return BadJson("asInt", "an integer (string or number)");
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
      if (!e.is_array()) return BadJson("bucketCounts", "an array");
      array counts = e.get_array().value();
      for (element c : counts) {
        uint64_t v;
        if (!JsonUint64(c, v)) return BadJson("bucketCounts", "unsigned integers");
        p.bucket_counts.push_back(v);
      }
    }
    if (o["explicitBounds"].get(e) == simdjson::SUCCESS) {
      if (!e.is_array()) return BadJson("explicitBounds", "an array");
      array bounds = e.get_array().value();
      for (element b : bounds) {
        double v;
        if (!JsonDouble(b, v)) return BadJson("explicitBounds", "numbers");
        p.explicit_bounds.push_back(v);
      }
    }
  } else if (kind == Kind::kExponentialHistogram) {
    int64_t scale = 0;
    if (o["scale"].get(e) == simdjson::SUCCESS && !JsonInt64(e, scale))
      return BadJson("scale", "an integer");
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
      if (bo["offset"].get(off) == simdjson::SUCCESS && !JsonInt64(off, offset))
        return BadJson("offset", "an integer");
      std::vector<uint64_t>& counts = side[0] == 'p' ? p.positive_counts : p.negative_counts;
      (side[0] == 'p' ? p.positive_offset : p.negative_offset) = static_cast<int32_t>(offset);
      element list;
      if (bo["bucketCounts"].get(list) == simdjson::SUCCESS && list.is_array()) {
        array items = list.get_array().value();
        for (element c : items) {
          uint64_t v;
          if (!JsonUint64(c, v)) return BadJson("bucketCounts", "unsigned integers");
          counts.push_back(v);
        }
      }
    }
  } else {  // summary
    return EachJsonObject(o, "quantileValues", [&p](object q) -> Status {
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
    if (!data.is_object()) return BadJson(field, "an object");
    object d = data.get_object().value();
    m.kind = kind;
    m.has_data = true;
    element x;
    if (d["aggregationTemporality"].get(x) == simdjson::SUCCESS) {
      int64_t t;
      if (!JsonInt64(x, t))
        return BadJson("aggregationTemporality", "an integer (enums are integers in OTLP/JSON)");
      m.temporality = static_cast<Temporality>(t >= 0 && t <= 2 ? t : 0);
    }
    if (d["isMonotonic"].get(x) == simdjson::SUCCESS && x.is_bool())
      m.monotonic = x.get_bool().value();
    Status s = EachJsonObject(
        d, "dataPoints", [&](object p) { return DecodePoint(p, kind, m.points.emplace_back()); });
    if (!s.ok()) return s.WithContext(fmt::format("metric {}", m.name));
  }
  return Status::Ok();
}

}  // namespace

Status DecodeJson(std::string_view body, Request& out) {
  out.resources.clear();
  static constexpr JsonEnvelopeNames kNames = {"resourceMetrics", "scopeMetrics", "metrics"};
  return DecodeEnvelopeJson(
      body, kNames,
      {.resource = CollectResource(out.resources),
       .scope = CollectScope(out.resources),
       .item = [&out](object metric) {
         return DecodeMetric(metric, out.resources.back().scopes.back().metrics.emplace_back());
       }});
}

}  // namespace pharos::ingest::otlp
