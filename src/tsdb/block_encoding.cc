#include "tsdb/block_encoding.h"

#include <cmath>
#include <cstring>

#include "common/varint.h"
#include "tsdb/block_format.h"

namespace pharos::tsdb {
namespace {

constexpr int kMaxDecimals = 12;
constexpr double kPow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12};
constexpr double kMaxExactMantissa = 9007199254740992.0;  // 2^53

int64_t Wrap(uint64_t v) { return static_cast<int64_t>(v); }

// The fewest decimals that represent v exactly, or -1.
int Decimals(double v) {
  if (!std::isfinite(v) || std::fabs(v) >= kMaxExactMantissa) return -1;
  if (v == 0 && std::signbit(v)) return -1;  // -0 must keep its sign bit
  for (int d = 0; d <= kMaxDecimals; ++d) {
    double scaled = v * kPow10[d];
    if (std::fabs(scaled) >= kMaxExactMantissa) return -1;
    double m = std::nearbyint(scaled);
    if (m / kPow10[d] == v) return d;
  }
  return -1;
}

}  // namespace

void EncodeSeriesSamples(std::span<const Sample> samples, std::string& out) {
  PutUvarint(out, samples.size());
  if (samples.empty()) return;
  // Timestamps: first, first delta, then delta-of-delta (wrapping arithmetic).
  PutVarint(out, samples[0].t);
  int64_t prev = samples[0].t, prev_delta = 0;
  for (size_t i = 1; i < samples.size(); ++i) {
    int64_t delta = Wrap(static_cast<uint64_t>(samples[i].t) - static_cast<uint64_t>(prev));
    PutVarint(out, i == 1 ? delta
                          : Wrap(static_cast<uint64_t>(delta) - static_cast<uint64_t>(prev_delta)));
    prev_delta = delta;
    prev = samples[i].t;
  }
  // Values: decimal mantissas with a common exponent when every value allows it.
  int decimals = 0;
  for (const Sample& s : samples) {
    int d = Decimals(s.v);
    if (d < 0) {
      decimals = -1;
      break;
    }
    decimals = std::max(decimals, d);
  }
  if (decimals >= 0) {
    std::vector<int64_t> mantissas;
    mantissas.reserve(samples.size());
    for (const Sample& s : samples) {
      double m = std::nearbyint(s.v * kPow10[decimals]);
      if (std::fabs(m) >= kMaxExactMantissa || m / kPow10[decimals] != s.v) {
        decimals = -1;
        break;
      }
      mantissas.push_back(static_cast<int64_t>(m));
    }
    if (decimals >= 0) {
      out.push_back(static_cast<char>(ValueEncoding::kDecimalDelta));
      out.push_back(static_cast<char>(decimals));
      int64_t prev_m = 0;
      for (int64_t m : mantissas) {
        PutVarint(out, m - prev_m);
        prev_m = m;
      }
      return;
    }
  }
  out.push_back(static_cast<char>(ValueEncoding::kRawFloat));
  for (const Sample& s : samples) {
    char b[8];
    std::memcpy(b, &s.v, 8);
    out.append(b, 8);
  }
}

Status DecodeSeriesSamples(std::string_view data, int64_t mint, int64_t maxt,
                           std::vector<Sample>& out) {
  ByteReader r(data);
  uint64_t n;
  if (!r.Uvarint(n) || n > data.size() * 8 + 1) return DataLoss("block series payload: bad count");
  if (n == 0) return Status::Ok();
  std::vector<int64_t> ts(n);
  int64_t t, delta = 0;
  if (!r.Varint(t)) return DataLoss("block series payload: bad timestamp");
  ts[0] = t;
  for (uint64_t i = 1; i < n; ++i) {
    int64_t v;
    if (!r.Varint(v)) return DataLoss("block series payload: bad timestamp");
    delta = i == 1 ? v : Wrap(static_cast<uint64_t>(delta) + static_cast<uint64_t>(v));
    t = Wrap(static_cast<uint64_t>(t) + static_cast<uint64_t>(delta));
    ts[i] = t;
  }
  uint8_t encoding;
  if (!r.Byte(encoding)) return DataLoss("block series payload: missing value encoding");
  if (encoding == static_cast<uint8_t>(ValueEncoding::kDecimalDelta)) {
    uint8_t decimals;
    if (!r.Byte(decimals) || decimals > kMaxDecimals)
      return DataLoss("block series payload: bad exponent");
    int64_t m = 0;
    for (uint64_t i = 0; i < n; ++i) {
      int64_t d;
      if (!r.Varint(d)) return DataLoss("block series payload: bad value");
      m = Wrap(static_cast<uint64_t>(m) + static_cast<uint64_t>(d));
      if (ts[i] >= mint && ts[i] <= maxt) {
        out.push_back(Sample{ts[i], static_cast<double>(m) / kPow10[decimals]});
      }
    }
    return Status::Ok();
  }
  if (encoding == static_cast<uint8_t>(ValueEncoding::kRawFloat)) {
    for (uint64_t i = 0; i < n; ++i) {
      double v;
      if (!r.Double(v)) return DataLoss("block series payload: bad value");
      if (ts[i] >= mint && ts[i] <= maxt) out.push_back(Sample{ts[i], v});
    }
    return Status::Ok();
  }
  return DataLoss("block series payload: unknown value encoding");
}

}  // namespace pharos::tsdb
