// Internal to tsdb: the XOR chunk, Gorilla-style compression of (timestamp, value) pairs:
// delta-of-delta timestamps in variable-width buckets and XOR'd float bits. Values keep
// their exact bits (NaN payloads, the staleness marker, -0). Layout: docs/format/chunk.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pharos::tsdb {

/// Appends samples to a growing byte string. Not thread-safe.
class XorAppender {
 public:
  /// Starts an empty chunk in `out` (cleared).
  explicit XorAppender(std::string* out);
  void Append(int64_t t, double v);
  uint16_t count() const { return count_; }

 private:
  void WriteBits(uint64_t value, int bits);
  void WriteBit(bool bit) { WriteBits(bit ? 1 : 0, 1); }
  void WriteValue(uint64_t bits);

  std::string* out_;
  int bit_pos_ = 0;  // bits used in the last byte of *out_ (0 = need a new byte)
  uint16_t count_ = 0;
  int64_t t_ = 0;
  int64_t t_delta_ = 0;
  uint64_t v_bits_ = 0;
  uint8_t leading_ = 0xFF;  // 0xFF: no previous window
  uint8_t trailing_ = 0;
};

/// Reads a chunk written by XorAppender.
class XorIterator {
 public:
  explicit XorIterator(std::string_view chunk);
  /// Advances to the next sample; false at the end or on corrupt input.
  bool Next();
  int64_t t() const { return t_; }
  double v() const;
  bool corrupt() const { return corrupt_; }

 private:
  uint64_t Word(size_t byte) const;
  bool ReadBits(int bits, uint64_t& out);
  bool ReadBit(bool& out);
  bool ReadValue();

  std::string_view data_;
  size_t bit_ = 16;  // skip the 2-byte count
  uint16_t total_ = 0;
  uint16_t read_ = 0;
  int64_t t_ = 0;
  int64_t t_delta_ = 0;
  uint64_t v_bits_ = 0;
  uint8_t leading_ = 0;
  uint8_t trailing_ = 0;
  bool has_window_ = false;
  bool corrupt_ = false;
};

}  // namespace pharos::tsdb
