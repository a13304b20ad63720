// Writers of protobuf fields, and a bounds-checked reader of the protobuf wire format, for decoders
// that view strings in place instead of building message objects (the write paths decode millions
// of labels and lines a second and must not allocate per field). Shared by every protobuf decoder.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/varint.h"

namespace pharos {

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

class ProtoReader {
 public:
  explicit ProtoReader(std::string_view data) : data_(data) {}

  bool done() const { return pos_ >= data_.size(); }
  bool ok() const { return ok_; }

  /// Reads the next field key. False at the end or on a malformed key.
  bool Next(uint32_t& field, WireType& type) {
    if (done() || !ok_) return false;
    uint64_t key;
    if (!Varint(key)) return false;
    field = static_cast<uint32_t>(key >> 3);
    uint32_t wt = static_cast<uint32_t>(key & 7);
    if (field == 0 || (wt != 0 && wt != 1 && wt != 2 && wt != 5)) return Fail();
    type = static_cast<WireType>(wt);
    return true;
  }

  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return Fail();
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return Fail();
  }
  bool Fixed64(uint64_t& v) {
    if (data_.size() - pos_ < 8) return Fail();
    std::memcpy(&v, data_.data() + pos_, 8);
    pos_ += 8;
    return true;
  }
  bool Fixed32(uint32_t& v) {
    if (data_.size() - pos_ < 4) return Fail();
    std::memcpy(&v, data_.data() + pos_, 4);
    pos_ += 4;
    return true;
  }
  bool Double(double& v) {
    uint64_t bits;
    if (!Fixed64(bits)) return false;
    std::memcpy(&v, &bits, 8);
    return true;
  }
  bool Bytes(std::string_view& v) {
    uint64_t n;
    if (!Varint(n)) return false;
    if (n > data_.size() - pos_) return Fail();
    v = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool Skip(WireType type) {
    uint64_t u64;
    uint32_t u32;
    std::string_view sv;
    switch (type) {
      case WireType::kVarint: return Varint(u64);
      case WireType::kFixed64: return Fixed64(u64);
      case WireType::kFixed32: return Fixed32(u32);
      case WireType::kLen: return Bytes(sv);
    }
    return Fail();
  }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// ---- writers (append one field to `out`) ----

inline void PutTag(std::string& out, uint32_t field, WireType type) {
  PutUvarint(out, static_cast<uint64_t>(field) << 3 | static_cast<uint32_t>(type));
}
inline void PutVarintField(std::string& out, uint32_t field, uint64_t v) {
  PutTag(out, field, WireType::kVarint);
  PutUvarint(out, v);
}
inline void PutFixed64Field(std::string& out, uint32_t field, uint64_t v) {
  PutTag(out, field, WireType::kFixed64);
  PutFixed64(out, v);
}
inline void PutFixed32Field(std::string& out, uint32_t field, uint32_t v) {
  PutTag(out, field, WireType::kFixed32);
  PutFixed32(out, v);
}
inline void PutDoubleField(std::string& out, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutFixed64Field(out, field, bits);
}
/// A string, bytes or an encoded message.
inline void PutBytesField(std::string& out, uint32_t field, std::string_view bytes) {
  PutTag(out, field, WireType::kLen);
  PutUvarint(out, bytes.size());
  out.append(bytes);
}

}  // namespace pharos
