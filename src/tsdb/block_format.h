// Constants of the TSDB block format. Spec: docs/format/tsdb-block.md.
#pragma once

#include <cstdint>

namespace pharos::tsdb {

inline constexpr char kBlockMagic[8] = {'P', 'H', 'B', 'L', 'O', 'C', 'K', '1'};
inline constexpr uint32_t kBlockVersion = 1;
// Footer: index offset (u64), index compressed length (u64), index raw length (u64),
// CRC-32C of the compressed index (u32), version (u32), magic (8 bytes).
inline constexpr uint64_t kBlockFooterBytes = 8 + 8 + 8 + 4 + 4 + 8;
// Series payloads are packed into frames of about this many raw bytes, each compressed
// with zstd on its own, so a query decompresses only the frames it touches.
inline constexpr uint64_t kFrameTargetBytes = 256 * 1024;
inline constexpr int kZstdLevel = 3;

// Value encodings of a series payload.
enum class ValueEncoding : uint8_t {
  kDecimalDelta = 0,  // common decimal exponent, zigzag varint deltas of integer mantissas
  kRawFloat = 1,      // 8 bytes per value, little-endian IEEE 754 bits
};

}  // namespace pharos::tsdb
