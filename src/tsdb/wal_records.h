// Internal to tsdb: the records the TSDB writes into its WAL. Layout: docs/format/tsdb-wal.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

enum class RecordType : uint8_t { kSeries = 1, kSamples = 2, kRefFloor = 3 };

struct RefSample {
  uint64_t ref;
  int64_t t;
  double v;
};

struct SeriesRecordEntry {
  uint64_t ref;
  std::vector<LabelView> labels;  // views into the record
};

void EncodeSeries(uint64_t ref, std::span<const LabelView> labels, std::string& record);
/// Starts a series record in `record` (cleared); add entries with EncodeSeries.
void BeginSeriesRecord(std::string& record);
void BeginSamplesRecord(std::string& record, int64_t base_t);
void EncodeSample(const RefSample& s, int64_t base_t, std::string& record);

/// New series refs start at `next_ref` or above (written after each WAL roll).
void EncodeRefFloor(uint64_t next_ref, std::string& record);

RecordType PeekType(std::string_view record);
Status DecodeSeries(std::string_view record, std::vector<SeriesRecordEntry>& out);
Status DecodeSamples(std::string_view record, std::vector<RefSample>& out);
Status DecodeRefFloor(std::string_view record, uint64_t& next_ref);

}  // namespace pharos::tsdb
