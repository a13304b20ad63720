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

namespace {

// A zigzag varint at `p` (one byte, the common case, without the loop); false when it runs
// past `end` or over 10 bytes.
inline bool ReadVarint(const uint8_t*& p, const uint8_t* end, int64_t& v) {
  uint64_t u;
  if (p < end && *p < 0x80) {
    u = *p++;
  } else {
    u = 0;
    for (int shift = 0;; shift += 7) {
      if (p >= end || shift >= 64) return false;
      uint8_t byte = *p++;
      u |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) break;
    }
  }
  v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
  return true;
}

}  // namespace

Status DecodeSeriesSamples(std::string_view data, int64_t mint, int64_t maxt,
                           std::vector<Sample>& out) {
  ByteReader r(data);
  uint64_t n;
  // Every sample's timestamp takes a byte at least, which bounds what a damaged count asks.
  if (!r.Uvarint(n) || n > data.size()) return DataLoss("block series payload: bad count");
  if (n == 0) return Status::Ok();
  // Decoded in place at the end of `out`, then those outside [mint, maxt] squeezed out.
  const size_t base = out.size();
  out.resize(base + n);
  Sample* s = out.data() + base;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data()) + r.pos();
  const auto* end = reinterpret_cast<const uint8_t*>(data.data()) + data.size();
  auto fail = [&](const char* what) {
    out.resize(base);
    return DataLoss(what);
  };
  int64_t t, delta = 0, v;
  if (!ReadVarint(p, end, t)) return fail("block series payload: bad timestamp");
  s[0].t = t;
  for (uint64_t i = 1; i < n; ++i) {
    if (!ReadVarint(p, end, v)) return fail("block series payload: bad timestamp");
    delta = i == 1 ? v : Wrap(static_cast<uint64_t>(delta) + static_cast<uint64_t>(v));
    t = Wrap(static_cast<uint64_t>(t) + static_cast<uint64_t>(delta));
    s[i].t = t;
  }
  if (p >= end) return fail("block series payload: missing value encoding");
  uint8_t encoding = *p++;
  if (encoding == static_cast<uint8_t>(ValueEncoding::kDecimalDelta)) {
    if (p >= end || *p > kMaxDecimals) return fail("block series payload: bad exponent");
    int decimals = *p++;
    int64_t m = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (!ReadVarint(p, end, v)) return fail("block series payload: bad value");
      m = Wrap(static_cast<uint64_t>(m) + static_cast<uint64_t>(v));
      s[i].v = static_cast<double>(m);
    }
    // Division, not a multiplication by 10^-d: it is what the encoder checked exact. A
    // loop of its own, so the divisions run in vector registers.
    if (decimals > 0) {
      const double scale = kPow10[decimals];
      for (uint64_t i = 0; i < n; ++i) s[i].v /= scale;
    }
  } else if (encoding == static_cast<uint8_t>(ValueEncoding::kRawFloat)) {
    if (static_cast<uint64_t>(end - p) < n * 8) return fail("block series payload: bad value");
    for (uint64_t i = 0; i < n; ++i, p += 8) std::memcpy(&s[i].v, p, 8);
  } else {
    return fail("block series payload: unknown value encoding");
  }
  size_t kept = base;
  for (size_t i = base; i < out.size(); ++i) {
    if (out[i].t >= mint && out[i].t <= maxt) out[kept++] = out[i];
  }
  out.resize(kept);
  return Status::Ok();
}

}  // namespace pharos::tsdb
