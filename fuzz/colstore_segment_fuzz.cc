// libFuzzer target: colstore segment files (footer, block references, every column
// encoding, substring filters) and colstore WAL records. Whatever the bytes, reading must fail
// cleanly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "colstore/segment.h"

using namespace pharos::colstore::internal;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  WalRecord record;
  if (DecodeWalRecord(bytes, record)) {
    std::vector<pharos::colstore::Column> columns;
    for (const auto& e : record.entries) (void)DecodeColumns(e.columns, columns);
  }
  pharos::Result<std::unique_ptr<Segment>> seg = Segment::Parse(bytes);
  if (!seg.ok()) return 0;
  DecodedBlock block;
  const uint32_t shift = (*seg)->info().gram_sample_shift;
  const std::vector<uint64_t> needle = NeedleGrams("4bf92f3577b34da6", shift ? shift : 1);
  for (const SegmentStream& s : (*seg)->streams()) {
    for (const BlockRef& ref : s.blocks) {
      (void)(*seg)->ReadBlock(ref, nullptr, block);
      if (ref.filter_length > 0) (void)GramFilterMayContain((*seg)->Filter(ref), needle);
    }
  }
  return 0;
}
