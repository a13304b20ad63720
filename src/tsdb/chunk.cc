#include "tsdb/chunk.h"

#include <bit>
#include <cstring>

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

XorAppender::XorAppender(std::string* out) : out_(out) {
  out_->clear();
  out_->append(2, '\0');  // sample count, patched on every append
}

void XorAppender::WriteBits(uint64_t value, int bits) {
  while (bits > 0) {
    if (bit_pos_ == 0) out_->push_back('\0');
    int room = 8 - bit_pos_;
    int take = bits < room ? bits : room;
    uint64_t chunk = (value >> (bits - take)) & ((uint64_t{1} << take) - 1);
    out_->back() = static_cast<char>(static_cast<uint8_t>(out_->back()) | (chunk << (room - take)));
    bit_pos_ = (bit_pos_ + take) & 7;
    bits -= take;
  }
}

void XorAppender::WriteValue(uint64_t bits) {
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

void XorAppender::Append(int64_t t, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  if (count_ == 0) {
    WriteBits(ZigZag(t), 64);
    WriteBits(bits, 64);
  } else if (count_ == 1) {
    t_delta_ = Sub(t, t_);
    // A varint made of bits: 7 data bits per group, a leading continuation bit.
    uint64_t z = ZigZag(t_delta_);
    while (z >= 0x80) {
      WriteBits(0x80 | (z & 0x7F), 8);
      z >>= 7;
    }
    WriteBits(z, 8);
    WriteValue(bits);
  } else {
    int64_t delta = Sub(t, t_);
    int64_t dod = Sub(delta, t_delta_);
    t_delta_ = delta;
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
  (*out_)[0] = static_cast<char>(count_ >> 8);
  (*out_)[1] = static_cast<char>(count_ & 0xFF);
}

XorIterator::XorIterator(std::string_view chunk) : data_(chunk) {
  if (chunk.size() < 2) {
    corrupt_ = chunk.size() != 0;
    return;
  }
  total_ =
      static_cast<uint16_t>((static_cast<uint8_t>(chunk[0]) << 8) | static_cast<uint8_t>(chunk[1]));
}

// The 8 bytes from `byte` on as a big-endian word, zeros past the end.
uint64_t XorIterator::Word(size_t byte) const {
  uint64_t w = 0;
  if (byte + 8 <= data_.size()) {
    std::memcpy(&w, data_.data() + byte, 8);
    return __builtin_bswap64(w);
  }
  for (size_t i = 0; i < 8; ++i) {
    w <<= 8;
    if (byte + i < data_.size()) w |= static_cast<uint8_t>(data_[byte + i]);
  }
  return w;
}

// One unaligned word load per read (two for more than 56 bits) instead of a loop over
// bytes: decoding is most of what a query over the head costs.
bool XorIterator::ReadBits(int bits, uint64_t& out) {
  if (bit_ + static_cast<size_t>(bits) > data_.size() * 8) {
    corrupt_ = true;
    return false;
  }
  if (bits == 0) {
    out = 0;
    return true;
  }
  if (bits > 56) {
    uint64_t hi, lo;
    ReadBits(bits - 32, hi);
    ReadBits(32, lo);
    out = (hi << 32) | lo;
    return true;
  }
  int offset = static_cast<int>(bit_ & 7);
  out = (Word(bit_ >> 3) << offset) >> (64 - bits);
  bit_ += static_cast<size_t>(bits);
  return true;
}

bool XorIterator::ReadBit(bool& out) {
  uint64_t v;
  if (!ReadBits(1, v)) return false;
  out = v != 0;
  return true;
}

bool XorIterator::ReadValue() {
  bool changed;
  if (!ReadBit(changed)) return false;
  if (!changed) return true;
  bool new_window;
  if (!ReadBit(new_window)) return false;
  if (new_window) {
    uint64_t leading, significant;
    if (!ReadBits(5, leading) || !ReadBits(6, significant)) return false;
    if (significant == 0) significant = 64;
    if (leading + significant > 64) {
      corrupt_ = true;
      return false;
    }
    leading_ = static_cast<uint8_t>(leading);
    trailing_ = static_cast<uint8_t>(64 - leading - significant);
    has_window_ = true;
  } else if (!has_window_) {
    // "Reuse the window" before any window exists cannot be written.
    corrupt_ = true;
    return false;
  }
  int significant = 64 - leading_ - trailing_;
  uint64_t x;
  if (!ReadBits(significant, x)) return false;
  v_bits_ ^= x << trailing_;
  return true;
}

bool XorIterator::Next() {
  if (corrupt_ || read_ >= total_) return false;
  if (read_ == 0) {
    uint64_t t, v;
    if (!ReadBits(64, t) || !ReadBits(64, v)) return false;
    t_ = UnZigZag(t);
    v_bits_ = v;
  } else if (read_ == 1) {
    uint64_t z = 0;
    for (int shift = 0;; shift += 7) {
      uint64_t group;
      if (shift > 63 || !ReadBits(8, group)) {
        corrupt_ = true;
        return false;
      }
      z |= (group & 0x7F) << shift;
      if (!(group & 0x80)) break;
    }
    t_delta_ = UnZigZag(z);
    t_ = Add(t_, t_delta_);
    if (!ReadValue()) return false;
  } else {
    int prefix = 0;
    bool bit;
    while (prefix < 4) {
      if (!ReadBit(bit)) return false;
      if (!bit) break;
      ++prefix;
    }
    int64_t dod = 0;
    if (prefix > 0) {
      int width = prefix == 1 ? 14 : prefix == 2 ? 17 : prefix == 3 ? 20 : 64;
      uint64_t raw;
      if (!ReadBits(width, raw)) return false;
      if (width < 64) {
        // Sign-extend: values above 2^(width-1) are negative.
        if (raw > (uint64_t{1} << (width - 1))) raw -= uint64_t{1} << width;
      }
      dod = static_cast<int64_t>(raw);
    }
    t_delta_ = Add(t_delta_, dod);
    t_ = Add(t_, t_delta_);
    if (!ReadValue()) return false;
  }
  ++read_;
  return true;
}

double XorIterator::v() const {
  double v;
  std::memcpy(&v, &v_bits_, 8);
  return v;
}

}  // namespace pharos::tsdb
