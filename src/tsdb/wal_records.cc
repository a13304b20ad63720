#include "tsdb/wal_records.h"

#include <cstring>

#include "common/varint.h"

namespace pharos::tsdb {

void BeginSeriesRecord(std::string& record) {
  record.clear();
  record.push_back(static_cast<char>(RecordType::kSeries));
}

void EncodeSeries(uint64_t ref, std::span<const LabelView> labels, std::string& record) {
  PutUvarint(record, ref);
  PutUvarint(record, labels.size());
  for (const LabelView& l : labels) {
    PutUvarint(record, l.name.size());
    record.append(l.name);
    PutUvarint(record, l.value.size());
    record.append(l.value);
  }
}

void BeginSamplesRecord(std::string& record, int64_t base_t) {
  record.clear();
  record.push_back(static_cast<char>(RecordType::kSamples));
  PutVarint(record, base_t);
}

void EncodeSample(const RefSample& s, int64_t base_t, std::string& record) {
  PutUvarint(record, s.ref);
  PutVarint(record,
            static_cast<int64_t>(static_cast<uint64_t>(s.t) - static_cast<uint64_t>(base_t)));
  char b[8];
  std::memcpy(b, &s.v, 8);
  record.append(b, 8);
}

void EncodeRefFloor(uint64_t next_ref, std::string& record) {
  record.clear();
  record.push_back(static_cast<char>(RecordType::kRefFloor));
  PutUvarint(record, next_ref);
}

Status DecodeRefFloor(std::string_view record, uint64_t& next_ref) {
  ByteReader r(record, 1);  // past the type byte
  if (!r.Uvarint(next_ref) || !r.done()) return DataLoss("bad ref floor record");
  return Status::Ok();
}

RecordType PeekType(std::string_view record) {
  return static_cast<RecordType>(record.empty() ? 0 : static_cast<uint8_t>(record[0]));
}

Status DecodeSeries(std::string_view record, std::vector<SeriesRecordEntry>& out) {
  out.clear();
  ByteReader r(record, 1);  // past the type byte
  while (!r.done()) {
    SeriesRecordEntry e;
    uint64_t n;
    if (!r.Uvarint(e.ref) || !r.Uvarint(n) || n > 4096) return DataLoss("bad series record");
    e.labels.resize(static_cast<size_t>(n));
    for (LabelView& l : e.labels) {
      if (!r.String(l.name) || !r.String(l.value)) return DataLoss("bad series record label");
    }
    out.push_back(std::move(e));
  }
  return Status::Ok();
}

Status DecodeSamples(std::string_view record, std::vector<RefSample>& out) {
  out.clear();
  ByteReader r(record, 1);  // past the type byte
  int64_t base;
  if (!r.Varint(base)) return DataLoss("bad samples record");
  while (!r.done()) {
    RefSample s;
    int64_t delta;
    if (!r.Uvarint(s.ref) || !r.Varint(delta) || !r.Double(s.v)) {
      return DataLoss("bad samples record");
    }
    s.t = static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(delta));
    out.push_back(s);
  }
  return Status::Ok();
}

}  // namespace pharos::tsdb
