#include "tsdb/chunk.h"

#include <malloc.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pharos::tsdb {
namespace {

// Delta-of-delta buckets: (prefix bits, prefix length, value bits).
struct Bucket {
  uint64_t prefix;
  int prefix_bits;
  int value_bits;
};
constexpr Bucket kBuckets[] = {{0b10, 2, 14}, {0b110, 3, 17}, {0b1110, 4, 20}};

bool Fits(int64_t v, int bits) {
  int64_t lo = -(int64_t{1} << (bits - 1)) + 1;
  int64_t hi = int64_t{1} << (bits - 1);
  return v >= lo && v <= hi;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
// Two's-complement wrap-around, so extreme timestamps cannot overflow (the reader wraps
// back the same way).
int64_t Sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
int64_t Add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

}  // namespace

XorChunk::~XorChunk() { std::free(data_); }

std::string_view XorChunk::bytes() const {
  static constexpr char kEmpty[2] = {0, 0};
  if (data_ == nullptr) return {kEmpty, 2};
  return {reinterpret_cast<const char*>(data_), size_};
}

int64_t XorChunk::first_t() const {
  uint64_t w;
  std::memcpy(&w, data_ + 2, 8);
  return UnZigZag(__builtin_bswap64(w));
}

void XorChunk::Restart() {
  size_ = 0;
  count_ = 0;
  bit_pos_ = 0;
  leading_ = 0xFF;
  trailing_ = 0;
  t_delta_ = 0;
}

void XorChunk::Release() {
  Restart();
  std::free(data_);
  data_ = nullptr;
  capacity_ = 0;
}

// Starts at 64 bytes (the count, a first sample and about ten more of a busy series) and
// grows by half, taking whatever the allocator's size class gave. Measured at a million
// series of 20 samples: starting at 24 left the small size classes' pages full of holes
// when most chunks moved on (319 MB resident against 296 MB); 128 wasted more than it saved.
void XorChunk::Reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  size_t want = std::max<size_t>({bytes, size_t{capacity_} + capacity_ / 2, 64});
  want = std::min<size_t>(want, UINT16_MAX);
  void* grown = std::realloc(data_, want);
  if (grown == nullptr) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(grown);
  capacity_ = static_cast<uint16_t>(std::min<size_t>(malloc_usable_size(grown), UINT16_MAX));
}

void XorChunk::WriteBits(uint64_t value, int bits) {
  while (bits > 0) {
    if (bit_pos_ == 0) {
      Reserve(size_t{size_} + 1);
      data_[size_++] = 0;
    }
    int room = 8 - bit_pos_;
    int take = bits < room ? bits : room;
    uint64_t chunk = (value >> (bits - take)) & ((uint64_t{1} << take) - 1);
    data_[size_ - 1] = static_cast<uint8_t>(data_[size_ - 1] | (chunk << (room - take)));
    bit_pos_ = static_cast<uint8_t>((bit_pos_ + take) & 7);
    bits -= take;
  }
}

void XorChunk::WriteValue(uint64_t bits) {
  uint64_t x = bits ^ v_bits_;
  if (x == 0) {
    WriteBit(false);
    return;
  }
  WriteBit(true);
  uint8_t leading = static_cast<uint8_t>(std::countl_zero(x));
  uint8_t trailing = static_cast<uint8_t>(std::countr_zero(x));
  if (leading > 31) leading = 31;  // 5 bits on the wire
  if (leading_ != 0xFF && leading >= leading_ && trailing >= trailing_) {
    WriteBit(false);  // reuse the previous window
    WriteBits(x >> trailing_, 64 - leading_ - trailing_);
    return;
  }
  leading_ = leading;
  trailing_ = trailing;
  WriteBit(true);
  WriteBits(leading, 5);
  int significant = 64 - leading - trailing;
  // 64 significant bits do not fit in 6 bits; 0 stands for 64 (0 itself is impossible).
  WriteBits(static_cast<uint64_t>(significant & 63), 6);
  WriteBits(x >> trailing, significant);
}

bool XorChunk::Append(int64_t t, double v) {
  if (count_ == UINT16_MAX) return false;
  // The encoder keeps the last gap in 32 bits (a series' state is small); a wider one
  // starts another chunk, whose first sample is written in full.
  const int64_t delta = Sub(t, t_);
  if (count_ > 0 && (delta < INT32_MIN || delta > INT32_MAX)) return false;
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  if (count_ == 0) {
    Reserve(size_t{size_} + 18);  // the count and the first sample, written in full
    size_ = 2;
    WriteBits(ZigZag(t), 64);
    WriteBits(bits, 64);
  } else if (count_ == 1) {
    t_delta_ = static_cast<int32_t>(delta);
    // A varint made of bits: 7 data bits per group, a leading continuation bit.
    uint64_t z = ZigZag(t_delta_);
    while (z >= 0x80) {
      WriteBits(0x80 | (z & 0x7F), 8);
      z >>= 7;
    }
    WriteBits(z, 8);
    WriteValue(bits);
  } else {
    int64_t dod = Sub(delta, t_delta_);
    t_delta_ = static_cast<int32_t>(delta);
    if (dod == 0) {
      WriteBit(false);
    } else {
      bool written = false;
      for (const Bucket& b : kBuckets) {
        if (Fits(dod, b.value_bits)) {
          WriteBits(b.prefix, b.prefix_bits);
          WriteBits(static_cast<uint64_t>(dod) & ((uint64_t{1} << b.value_bits) - 1), b.value_bits);
          written = true;
          break;
        }
      }
      if (!written) {
        WriteBits(0b1111, 4);
        WriteBits(static_cast<uint64_t>(dod), 64);
      }
    }
    WriteValue(bits);
  }
  t_ = t;
  v_bits_ = bits;
  ++count_;
  data_[0] = static_cast<uint8_t>(count_ >> 8);
  data_[1] = static_cast<uint8_t>(count_ & 0xFF);
  return true;
}

namespace {

// The 64 bits from bit `pos` on (at least 57 of them valid): one unaligned load, since
// the padding makes every position a sample can reach readable.
inline uint64_t Peek(const XorCursor& c) {
  uint64_t w;
  std::memcpy(&w, c.data + (c.bit >> 3), 8);
  return __builtin_bswap64(w) << (c.bit & 7);
}

// 1 to 56 bits.
inline uint64_t Take(XorCursor& c, int bits) {
  uint64_t v = Peek(c) >> (64 - bits);
  c.bit += static_cast<size_t>(bits);
  return v;
}

// 1 to 64 bits.
inline uint64_t TakeWide(XorCursor& c, int bits) {
  if (bits <= 56) return Take(c, bits);
  uint64_t hi = Take(c, bits - 32);
  return (hi << 32) | Take(c, 32);
}

inline bool ReadValue(XorCursor& c) {
  uint64_t w = Peek(c);
  if (!(w >> 63)) {  // unchanged
    c.bit += 1;
    return true;
  }
  if ((w >> 62) & 1) {  // a new window: 5 bits of leading zeros, 6 of significant bits
    uint64_t leading = (w >> 57) & 31;
    uint64_t significant = (w >> 51) & 63;
    if (significant == 0) significant = 64;
    if (leading + significant > 64) return false;
    c.leading = static_cast<uint8_t>(leading);
    c.trailing = static_cast<uint8_t>(64 - leading - significant);
    c.has_window = true;
    c.bit += 13;
  } else {
    // "Reuse the window" before any window exists cannot be written.
    if (!c.has_window) return false;
    c.bit += 2;
  }
  uint64_t x = TakeWide(c, 64 - c.leading - c.trailing);
  c.v_bits ^= x << c.trailing;
  return true;
}

inline bool ReadFirstDelta(XorCursor& c) {
  uint64_t z = 0;
  for (int shift = 0;; shift += 7) {
    if (shift > 63) return false;
    uint64_t group = Take(c, 8);
    z |= (group & 0x7F) << shift;
    if (!(group & 0x80)) break;
  }
  c.t_delta = UnZigZag(z);
  return true;
}

// Decodes the next sample into c.t and c.v_bits; false at the end or when corrupt.
inline bool NextSample(XorCursor& c) {
  if (c.corrupt || c.read >= c.total) return false;
  bool ok = true;
  if (c.read >= 2) {
    uint64_t w = Peek(c);
    if (w >> 63) {
      int prefix = std::countl_one(w);
      int64_t dod;
      if (prefix < 4) {
        int width = prefix == 1 ? 14 : prefix == 2 ? 17 : 20;
        c.bit += static_cast<size_t>(prefix + 1);
        uint64_t raw = Take(c, width);
        // Sign-extend: values above 2^(width-1) are negative.
        if (raw > (uint64_t{1} << (width - 1))) raw -= uint64_t{1} << width;
        dod = static_cast<int64_t>(raw);
      } else {
        c.bit += 4;
        dod = static_cast<int64_t>(TakeWide(c, 64));
      }
      c.t_delta = Add(c.t_delta, dod);
    } else {
      c.bit += 1;
    }
    c.t = Add(c.t, c.t_delta);
    ok = ReadValue(c);
  } else if (c.read == 0) {
    c.t = UnZigZag(TakeWide(c, 64));
    c.v_bits = TakeWide(c, 64);
  } else {
    ok = ReadFirstDelta(c);
    if (ok) {
      c.t = Add(c.t, c.t_delta);
      ok = ReadValue(c);
    }
  }
  if (!ok || c.bit > c.size_bits) {
    c.corrupt = true;
    return false;
  }
  ++c.read;
  return true;
}

// Points the cursor at `padded` (the chunk and then the padding).
void Start(XorCursor& c, std::string_view padded, size_t chunk_size) {
  c.data = reinterpret_cast<const uint8_t*>(padded.data());
  c.size_bits = chunk_size * 8;
  if (chunk_size < 2) {
    c.corrupt = chunk_size != 0;
    return;
  }
  c.total = static_cast<uint16_t>(XorChunkCount(padded));
}

}  // namespace

XorIterator::XorIterator(std::string_view chunk) {
  padded_.reserve(chunk.size() + XorCursor::kPadding);
  padded_.append(chunk);
  padded_.append(XorCursor::kPadding, '\0');
  Start(c_, padded_, chunk.size());
}

bool XorIterator::Next() { return NextSample(c_); }

double XorIterator::v() const { return std::bit_cast<double>(c_.v_bits); }

bool DecodeXorChunk(std::string_view chunk, int64_t mint, int64_t maxt, std::vector<Sample>& out) {
  // Copying a chunk (a few hundred bytes) to pad it costs less than checking every read.
  thread_local std::string padded;
  padded.assign(chunk);
  padded.append(XorCursor::kPadding, '\0');
  XorCursor c;
  Start(c, padded, chunk.size());
  while (NextSample(c)) {
    if (c.t < mint) continue;
    if (c.t > maxt) break;
    out.push_back(Sample{c.t, std::bit_cast<double>(c.v_bits)});
  }
  return !c.corrupt;
}

}  // namespace pharos::tsdb
