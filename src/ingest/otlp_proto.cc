// OTLP metrics protobuf decoding (ExportMetricsServiceRequest). Field numbers:
// ../shared/testdata/otlp/FIELDS.md section 4 (the envelope and common messages are
// otlp_common.cc's).
#include <cstring>

#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"
#include "ingest/otlp.h"
#include "ingest/otlp_common.h"

namespace pharos::ingest::otlp {
namespace {

// Packed or unpacked repeated fixed64 / double.
bool Fixed64s(ProtoReader& r, WireType t, std::vector<uint64_t>& out) {
  if (t == WireType::kFixed64) {
    uint64_t v;
    if (!r.Fixed64(v)) return false;
    out.push_back(v);
    return true;
  }
  std::string_view packed;
  if (t != WireType::kLen || !r.Bytes(packed) || packed.size() % 8 != 0) return false;
  for (size_t i = 0; i < packed.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, packed.data() + i, 8);
    out.push_back(v);
  }
  return true;
}
bool Doubles(ProtoReader& r, WireType t, std::vector<double>& out) {
  std::vector<uint64_t> bits;
  if (!Fixed64s(r, t, bits)) return false;
  for (uint64_t b : bits) {
    double d;
    std::memcpy(&d, &b, 8);
    out.push_back(d);
  }
  return true;
}
bool Varints(ProtoReader& r, WireType t, std::vector<uint64_t>& out) {
  if (t == WireType::kVarint) {
    uint64_t v;
    if (!r.Varint(v)) return false;
    out.push_back(v);
    return true;
  }
  std::string_view packed;
  if (t != WireType::kLen || !r.Bytes(packed)) return false;
  ProtoReader inner(packed);
  while (!inner.done()) {
    uint64_t v;
    if (!inner.Varint(v)) return false;
    out.push_back(v);
  }
  return true;
}

int32_t ZigZag32(uint64_t v) { return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1)); }

Status DecodeBuckets(std::string_view data, int32_t& offset, std::vector<uint64_t>& counts) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    uint64_t u;
    if (f == 1 && t == WireType::kVarint) {
      if (!r.Varint(u)) break;
      offset = ZigZag32(u);
    } else if (f == 2) {
      if (!Varints(r, t, counts)) break;
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed("ExponentialHistogramDataPoint.Buckets");
}

// One data point of any kind. Field numbers differ per kind; `kind` picks the table.
Status DecodePoint(std::string_view data, Kind kind, Point& p) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  uint32_t attr_field = kind == Kind::kHistogram ? 9 : kind == Kind::kExponentialHistogram ? 1 : 7;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u;
    double d;
    if (f == attr_field && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, p.attributes.emplace_back()));
    } else if (f == 2 && t == WireType::kFixed64) {
      if (!r.Fixed64(p.start_ns)) break;
    } else if (f == 3 && t == WireType::kFixed64) {
      if (!r.Fixed64(p.time_ns)) break;
    } else if (kind == Kind::kGauge || kind == Kind::kSum) {
      if (f == 4 && t == WireType::kFixed64) {
        if (!r.Double(p.value)) break;
        p.has_value = true;
      } else if (f == 6 && t == WireType::kFixed64) {
        if (!r.Fixed64(u)) break;
        p.value = static_cast<double>(static_cast<int64_t>(u));
        p.has_value = true;
      } else if (f == 8 && t == WireType::kVarint) {
        if (!r.Varint(u)) break;
        p.flags = static_cast<uint32_t>(u);
      } else if (f == 5) {
        ++p.exemplars;
        if (!r.Skip(t)) break;
      } else if (!r.Skip(t)) {
        break;
      }
    } else if (kind == Kind::kHistogram) {
      if (f == 4 && t == WireType::kFixed64) {
        if (!r.Fixed64(p.count)) break;
      } else if (f == 5 && t == WireType::kFixed64) {
        if (!r.Double(d)) break;
        p.sum = d;
      } else if (f == 6) {
        if (!Fixed64s(r, t, p.bucket_counts)) break;
      } else if (f == 7) {
        if (!Doubles(r, t, p.explicit_bounds)) break;
      } else if (f == 10 && t == WireType::kVarint) {
        if (!r.Varint(u)) break;
        p.flags = static_cast<uint32_t>(u);
      } else if (!r.Skip(t)) {
        break;
      }
    } else if (kind == Kind::kExponentialHistogram) {
      if (f == 4 && t == WireType::kFixed64) {
        if (!r.Fixed64(p.count)) break;
      } else if (f == 5 && t == WireType::kFixed64) {
        if (!r.Double(d)) break;
        p.sum = d;
      } else if (f == 6 && t == WireType::kVarint) {
        if (!r.Varint(u)) break;
        p.scale = ZigZag32(u);
      } else if (f == 7 && t == WireType::kFixed64) {
        if (!r.Fixed64(p.zero_count)) break;
      } else if ((f == 8 || f == 9) && t == WireType::kLen) {
        if (!r.Bytes(sv)) break;
        PHAROS_RETURN_IF_ERROR(f == 8 ? DecodeBuckets(sv, p.positive_offset, p.positive_counts)
                                      : DecodeBuckets(sv, p.negative_offset, p.negative_counts));
      } else if (f == 10 && t == WireType::kVarint) {
        if (!r.Varint(u)) break;
        p.flags = static_cast<uint32_t>(u);
      } else if (f == 14 && t == WireType::kFixed64) {
        if (!r.Double(p.zero_threshold)) break;
      } else if (!r.Skip(t)) {
        break;
      }
    } else {  // summary
      if (f == 4 && t == WireType::kFixed64) {
        if (!r.Fixed64(p.count)) break;
      } else if (f == 5 && t == WireType::kFixed64) {
        if (!r.Double(d)) break;
        p.sum = d;
      } else if (f == 6 && t == WireType::kLen) {
        if (!r.Bytes(sv)) break;
        ProtoReader q(sv);
        uint32_t g;
        WireType gt;
        double quantile = 0, value = 0;
        while (q.Next(g, gt)) {
          if (g == 1 && gt == WireType::kFixed64) {
            if (!q.Double(quantile)) break;
          } else if (g == 2 && gt == WireType::kFixed64) {
            if (!q.Double(value)) break;
          } else if (!q.Skip(gt)) {
            break;
          }
        }
        if (!q.ok()) return Malformed("ValueAtQuantile");
        p.quantiles.push_back({quantile, value});
      } else if (f == 8 && t == WireType::kVarint) {
        if (!r.Varint(u)) break;
        p.flags = static_cast<uint32_t>(u);
      } else if (!r.Skip(t)) {
        break;
      }
    }
  }
  return r.ok() ? Status::Ok() : Malformed("data point");
}

Status DecodeData(std::string_view data, Kind kind, Metric& m) {
  m.kind = kind;
  m.has_data = true;
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u;
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      Status s = DecodePoint(sv, kind, m.points.emplace_back());
      if (!s.ok()) return s.WithContext(fmt::format("metric {}", m.name));
    } else if (f == 2 && t == WireType::kVarint && kind != Kind::kGauge && kind != Kind::kSummary) {
      if (!r.Varint(u)) break;
      m.temporality = static_cast<Temporality>(u <= 2 ? u : 0);
    } else if (f == 3 && t == WireType::kVarint && kind == Kind::kSum) {
      if (!r.Varint(u)) break;
      m.monotonic = u != 0;
    } else if (!r.Skip(t)) {
      break;
    }
  }
  return r.ok() ? Status::Ok() : Malformed("metric data");
}

Status DecodeMetric(std::string_view data, Metric& m) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  std::string_view sv;
  // Name first: errors inside the data mention it, and it may come after the data.
  while (r.Next(f, t)) {
    if (f == 1 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      m.name.assign(sv);
    } else if (f == 3 && t == WireType::kLen) {
      if (!r.Bytes(sv)) break;
      m.unit.assign(sv);
    } else if (!r.Skip(t)) {
      break;
    }
  }
  if (!r.ok()) return Malformed("Metric");
  ProtoReader again(data);
  while (again.Next(f, t)) {
    if (t == WireType::kLen && (f == 5 || f == 7 || f == 9 || f == 10 || f == 11)) {
      if (!again.Bytes(sv)) break;
      Kind kind = f == 5    ? Kind::kGauge
                  : f == 7  ? Kind::kSum
                  : f == 9  ? Kind::kHistogram
                  : f == 10 ? Kind::kExponentialHistogram
                            : Kind::kSummary;
      PHAROS_RETURN_IF_ERROR(DecodeData(sv, kind, m));
    } else if (!again.Skip(t)) {
      break;
    }
  }
  return again.ok() ? Status::Ok() : Malformed("Metric");
}

}  // namespace

Status DecodeProto(std::string_view body, Request& out) {
  out.resources.clear();
  static constexpr EnvelopeNames kNames = {"ExportMetricsServiceRequest", "ResourceMetrics",
                                           "ScopeMetrics"};
  return DecodeEnvelope(
      body, kNames,
      {.resource = CollectResource(out.resources),
       .scope = CollectScope(out.resources),
       .item =
           [&out](std::string_view metric) {
             return DecodeMetric(metric, out.resources.back().scopes.back().metrics.emplace_back());
           },
       .expect =
           [&out](size_t items) { out.resources.back().scopes.back().metrics.reserve(items); }});
}

}  // namespace pharos::ingest::otlp
