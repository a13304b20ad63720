// Varints (LEB128, zigzag for signed), fixed-width little-endian integers and a
// bounds-checked reader of byte strings: the encodings every Pharos format uses for integers.
//
// Contract: writers append; the reader never reads past its view and reports failure
// instead (a false return), so corrupt input cannot crash or loop.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace pharos {

inline void PutUvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

inline void PutVarint(std::string& out, int64_t v) { PutUvarint(out, ZigZag(v)); }

// Fixed-width little-endian integers (every Pharos format is little-endian, as is every
// machine it builds for).
static_assert(std::endian::native == std::endian::little, "formats assume little-endian");
inline void PutFixed32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}
inline void PutFixed64(std::string& out, uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  out.append(b, 8);
}
/// Reads 4 (8) bytes at `p`; the caller has checked they are there.
inline uint32_t DecodeFixed32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t DecodeFixed64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data, size_t pos = 0) : data_(data), pos_(pos) {}

  bool Uvarint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Varint(int64_t& v) {
    uint64_t u;
    if (!Uvarint(u)) return false;
    v = UnZigZag(u);
    return true;
  }
  bool Byte(uint8_t& b) {
    if (pos_ >= data_.size()) return false;
    b = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool Bytes(uint64_t n, std::string_view& out) {
    if (n > data_.size() - pos_) return false;
    out = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  /// A uvarint length, then that many bytes.
  bool String(std::string_view& out) {
    uint64_t n;
    return Uvarint(n) && Bytes(n, out);
  }
  bool Double(double& v) {
    std::string_view b;
    if (!Bytes(8, b)) return false;
    std::memcpy(&v, b.data(), 8);
    return true;
  }
  bool done() const { return pos_ >= data_.size(); }
  size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  size_t pos_;
};

}  // namespace pharos
