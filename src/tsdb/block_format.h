// Constants of the TSDB block format. Spec: docs/format/tsdb-block.md.
#pragma once

#include <cstdint>

namespace pharos::tsdb {

inline constexpr char kBlockMagic[8] = {'P', 'H', 'B', 'L', 'O', 'C', 'K', '1'};
inline constexpr uint32_t kBlockVersion = 2;
// Every version ends with: version (u32), magic (8 bytes).
inline constexpr uint64_t kBlockTrailerBytes = 4 + 8;
// Version 2 footer: five sections (offset u64, length u64, CRC-32C u32), the CRC-32C of
// those 100 bytes (u32), then the trailer.
inline constexpr int kBlockSections = 5;
inline constexpr uint64_t kBlockSectionRefBytes = 8 + 8 + 4;
inline constexpr uint64_t kBlockFooterBytes =
    kBlockSections * kBlockSectionRefBytes + 4 + kBlockTrailerBytes;
// Version 1 footer: index offset (u64), index compressed length (u64), index raw length
// (u64), CRC-32C of the compressed index (u32), then the trailer.
inline constexpr uint64_t kBlockV1FooterBytes = 8 + 8 + 8 + 4 + kBlockTrailerBytes;
// Fixed-width entries of the frame table and the label table.
inline constexpr uint64_t kFrameEntryBytes = 16;  // offset u64, compressed u32, raw u32
inline constexpr uint64_t kLabelEntryBytes = 16;
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
