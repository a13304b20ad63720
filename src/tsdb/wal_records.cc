#include "tsdb/wal_records.h"

#include <cstring>

namespace pharos::tsdb {
namespace {

void PutUvarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutVarint(std::string& out, int64_t v) {
  PutUvarint(out, (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}

class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Uvarint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= data_.size()) return false;
      uint8_t b = static_cast<uint8_t>(data_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Varint(int64_t& v) {
    uint64_t u;
    if (!Uvarint(u)) return false;
    v = static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1);
    return true;
  }
  bool Bytes(size_t n, std::string_view& out) {
    if (data_.size() - pos_ < n) return false;
    out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Double(double& v) {
    std::string_view b;
    if (!Bytes(8, b)) return false;
    std::memcpy(&v, b.data(), 8);
    return true;
  }
  bool String(std::string_view& out) {
    uint64_t n;
    return Uvarint(n) && n <= data_.size() && Bytes(static_cast<size_t>(n), out);
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  std::string_view data_;
  size_t pos_ = 1;  // past the type byte
};

}  // namespace

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

RecordType PeekType(std::string_view record) {
  return static_cast<RecordType>(record.empty() ? 0 : static_cast<uint8_t>(record[0]));
}

Status DecodeSeries(std::string_view record, std::vector<SeriesRecordEntry>& out) {
  out.clear();
  Reader r(record);
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
  Reader r(record);
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
