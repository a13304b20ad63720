// The record encoding shared by the WAL and the head.
#include <cstring>

#include "colstore/segment.h"
#include "common/varint.h"

namespace pharos::colstore::internal {

void EncodeColumns(std::string& out, std::span<const Column> columns) {
  PutUvarint(out, columns.size());
  for (const Column& c : columns) {
    PutUvarint(out, c.name.size());
    out.append(c.name);
    out.push_back(static_cast<char>(c.value.type));
    switch (c.value.type) {
      case Value::Type::kNull: break;
      case Value::Type::kString:
        PutUvarint(out, c.value.s.size());
        out.append(c.value.s);
        break;
      case Value::Type::kInt: PutVarint(out, c.value.i); break;
      case Value::Type::kDouble: {
        char b[8];
        std::memcpy(b, &c.value.d, 8);
        out.append(b, 8);
        break;
      }
    }
  }
}

bool DecodeColumns(std::string_view data, std::vector<Column>& out) {
  out.clear();
  ByteReader r(data);
  uint64_t n;
  if (!r.Uvarint(n) || n > data.size()) return false;
  out.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    Column c;
    uint8_t type;
    if (!r.String(c.name) || !r.Byte(type)) return false;
    switch (static_cast<Value::Type>(type)) {
      case Value::Type::kNull: break;
      case Value::Type::kString:
        c.value.type = Value::Type::kString;
        if (!r.String(c.value.s)) return false;
        break;
      case Value::Type::kInt:
        c.value.type = Value::Type::kInt;
        if (!r.Varint(c.value.i)) return false;
        break;
      case Value::Type::kDouble:
        c.value.type = Value::Type::kDouble;
        if (!r.Double(c.value.d)) return false;
        break;
      default: return false;
    }
    out.push_back(c);
  }
  return r.done();
}

void EncodeWalRecord(std::string& out, std::span<const model::LabelView> labels,
                     std::span<const RecordInput> records) {
  out.push_back(1);  // record type: stream records
  PutUvarint(out, labels.size());
  for (const model::LabelView& l : labels) {
    PutUvarint(out, l.name.size());
    out.append(l.name);
    PutUvarint(out, l.value.size());
    out.append(l.value);
  }
  PutUvarint(out, records.size());
  std::string columns;
  for (const RecordInput& rec : records) {
    PutVarint(out, rec.time_ns);
    columns.clear();
    EncodeColumns(columns, rec.columns);
    PutUvarint(out, columns.size());
    out.append(columns);
  }
}

bool DecodeWalRecord(std::string_view data, WalRecord& out) {
  out.labels.clear();
  out.entries.clear();
  ByteReader r(data);
  uint8_t type;
  uint64_t n;
  if (!r.Byte(type) || type != 1 || !r.Uvarint(n) || n > data.size()) return false;
  for (uint64_t k = 0; k < n; ++k) {
    std::string_view name, value;
    if (!r.String(name) || !r.String(value)) return false;
    out.labels.push_back({std::string(name), std::string(value)});
  }
  if (!r.Uvarint(n) || n > data.size()) return false;
  out.entries.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    WalRecord::Entry e;
    if (!r.Varint(e.time_ns) || !r.String(e.columns)) return false;
    out.entries.push_back(e);
  }
  return r.done();
}

}  // namespace pharos::colstore::internal
