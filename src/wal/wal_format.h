// Constants of the write-ahead log's on-disk format. Spec: docs/format/wal.md.
#pragma once

#include <cstdint>
#include <string_view>

namespace pharos::wal {

// A segment starts with kSegmentMagic (4 bytes LE) then kFormatVersion (4 bytes LE).
inline constexpr uint32_t kSegmentMagic = 0x4C415750;  // "PWAL" read as little-endian
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kSegmentHeaderBytes = 8;

// Each record: payload length (u32 LE, > 0), CRC-32C of the payload (u32 LE), payload.
inline constexpr uint64_t kRecordHeaderBytes = 8;

// Segment files are named by their sequence number, zero-padded to this many digits.
inline constexpr int kSegmentNameDigits = 8;

// A checkpoint is a file in the segment format named this prefix and the number of the
// first segment it does not cover ("checkpoint.00000042"); ".tmp" while being written.
inline constexpr std::string_view kCheckpointPrefix = "checkpoint.";

}  // namespace pharos::wal
