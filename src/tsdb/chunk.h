// Internal to tsdb: the XOR chunk, Gorilla-style compression of (timestamp, value) pairs:
// delta-of-delta timestamps in variable-width buckets and XOR'd float bits. Values keep
// their exact bits (NaN payloads, the staleness marker, -0). Layout: docs/format/chunk.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tsdb/tsdb.h"

namespace pharos::tsdb {

/// A chunk being appended to, with the encoder's state: one per head series, so it is laid
/// out small (40 bytes) and owns a buffer grown in small steps rather than doubled. It also
/// remembers the newest sample's timestamp and value bits after Restart(), because the head
/// orders later appends by them. Not thread-safe.
class XorChunk {
 public:
  XorChunk() = default;
  ~XorChunk();
  XorChunk(const XorChunk&) = delete;
  XorChunk& operator=(const XorChunk&) = delete;

  /// Appends a sample newer than the last; false (nothing appended) when this chunk cannot
  /// take it, its gap from the last sample being wider than 32 bits of milliseconds (about
  /// 24 days) or the chunk full at 65,535 samples: start another chunk for it.
  [[nodiscard]] bool Append(int64_t t, double v);
  /// Samples in the chunk.
  uint16_t count() const { return count_; }
  /// The encoded chunk (its 2-byte count first).
  std::string_view bytes() const;
  /// The oldest sample's timestamp; requires count() > 0.
  int64_t first_t() const;
  /// The newest appended sample's timestamp (INT64_MIN before any) and value bits; kept
  /// by Restart and Release.
  int64_t last_t() const { return t_; }
  uint64_t last_bits() const { return v_bits_; }
  /// Starts a new empty chunk in the same buffer (the next one grows as this one did).
  void Restart();
  /// Starts a new empty chunk and frees the buffer (an idle series holds none).
  void Release();
  /// Bytes allocated for the buffer.
  size_t capacity() const { return capacity_; }

 private:
  void Reserve(size_t bytes);
  void WriteBits(uint64_t value, int bits);
  void WriteBit(bool bit) { WriteBits(bit ? 1 : 0, 1); }
  void WriteValue(uint64_t bits);

  uint8_t* data_ = nullptr;  // malloc'd
  int64_t t_ = INT64_MIN;
  uint64_t v_bits_ = 0;
  int32_t t_delta_ = 0;
  uint16_t size_ = 0;
  uint16_t capacity_ = 0;
  uint16_t count_ = 0;
  uint8_t bit_pos_ = 0;     // bits used in the last byte (0 = need a new byte)
  uint8_t leading_ = 0xFF;  // 0xFF: no previous window
  uint8_t trailing_ = 0;
};

/// The decoder's state: a cursor over a chunk's bytes followed by kXorPadding zero bytes
/// (so a sample is read with unchecked word loads and checked once, at its end).
struct XorCursor {
  static constexpr size_t kPadding = 32;  // > the longest sample (145 bits) + one word
  const uint8_t* data = nullptr;          // chunk bytes, then kPadding zeros
  size_t size_bits = 0;                   // the chunk's size without the padding
  size_t bit = 16;                        // skip the 2-byte count
  uint16_t total = 0;
  uint16_t read = 0;
  int64_t t = 0;
  int64_t t_delta = 0;
  uint64_t v_bits = 0;
  uint8_t leading = 0;
  uint8_t trailing = 0;
  bool has_window = false;
  bool corrupt = false;
};

/// Reads a chunk written by XorChunk, one sample at a time (tests, fuzzing).
class XorIterator {
 public:
  explicit XorIterator(std::string_view chunk);
  /// Advances to the next sample; false at the end or on corrupt input.
  bool Next();
  int64_t t() const { return c_.t; }
  double v() const;
  bool corrupt() const { return c_.corrupt; }

 private:
  std::string padded_;
  XorCursor c_;
};

/// The number of samples a chunk holds (its first two bytes).
inline size_t XorChunkCount(std::string_view chunk) {
  if (chunk.size() < 2) return 0;
  return (static_cast<size_t>(static_cast<uint8_t>(chunk[0])) << 8) |
         static_cast<uint8_t>(chunk[1]);
}

/// Appends the chunk's samples with mint <= t <= maxt to `out` (ascending): the query
/// path's decoder, a whole chunk in one tight loop. False when the chunk is corrupt (the
/// samples before the damage are kept).
bool DecodeXorChunk(std::string_view chunk, int64_t mint, int64_t maxt, std::vector<Sample>& out);

}  // namespace pharos::tsdb
