// Test support: a protobuf writer for building requests by field number, so tests can
// write exactly the bytes a spec describes (and bytes no encoder would write).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace pharos::testing {

/// Pb().Len(1, Pb().Varint(...).out).out: chained field writers over `out`.
struct Pb {
  std::string out;

  Pb& Varint(uint64_t v) {
    while (v >= 0x80) {
      out.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
    return *this;
  }
  Pb& Key(uint32_t field, uint32_t wire_type) { return Varint((field << 3) | wire_type); }
  /// A length-delimited field (string, bytes, message, packed repeated).
  Pb& Len(uint32_t field, const std::string& bytes) {
    Key(field, 2).Varint(bytes.size());
    out += bytes;
    return *this;
  }
  /// A varint field (int32/int64/uint32/uint64/bool/enum).
  Pb& Int(uint32_t field, int64_t v) { return Key(field, 0).Varint(static_cast<uint64_t>(v)); }
  /// A fixed64 field.
  Pb& Fixed(uint32_t field, uint64_t v) {
    Key(field, 1);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return *this;
  }
  Pb& Double(uint32_t field, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return Fixed(field, bits);
  }
};

}  // namespace pharos::testing
