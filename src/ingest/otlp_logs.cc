// OTLP logs (ExportLogsServiceRequest), protobuf and JSON, into model::ResourceLogs. The
// envelope, resource, scope and attributes are otlp_common.cc's; this decodes a LogRecord.
// Field numbers: ../shared/testdata/otlp/FIELDS.md section 5.
#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"
#include "ingest/otlp.h"
#include "ingest/otlp_common.h"

namespace pharos::ingest::otlp {
namespace {

Status DecodeLogRecord(std::string_view data, model::LogRecord& rec) {
  ProtoReader r(data);
  uint32_t f;
  WireType t;
  while (r.Next(f, t)) {
    std::string_view sv;
    uint64_t u = 0;
    uint32_t u32 = 0;
    bool ok = true;
    switch (f) {
      case 1: ok = t == WireType::kFixed64 && r.Fixed64(rec.time_unix_nano); break;
      case 11: ok = t == WireType::kFixed64 && r.Fixed64(rec.observed_time_unix_nano); break;
      case 2:
        ok = t == WireType::kVarint && r.Varint(u);
        rec.severity_number = static_cast<int32_t>(u);
        break;
      case 7:
        ok = t == WireType::kVarint && r.Varint(u);
        rec.dropped_attributes_count = static_cast<uint32_t>(u);
        break;
      case 8:
        ok = t == WireType::kFixed32 && r.Fixed32(u32);
        rec.flags = u32;
        break;
      case 3:
      case 9:
      case 10:
      case 12:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) {
          (f == 3    ? rec.severity_text
           : f == 9  ? rec.trace_id
           : f == 10 ? rec.span_id
                     : rec.event_name)
              .assign(sv);
        }
        break;
      case 5:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeAnyValue(sv, rec.body));
        break;
      case 6:
        ok = t == WireType::kLen && r.Bytes(sv);
        if (ok) PHAROS_RETURN_IF_ERROR(DecodeKeyValue(sv, rec.attributes.emplace_back()));
        break;
      default: ok = r.Skip(t);
    }
    if (!ok) return Malformed(fmt::format("LogRecord field {}", f));
  }
  return r.ok() ? Status::Ok() : Malformed("LogRecord");
}

Status DecodeLogRecordJson(simdjson::dom::object o, model::LogRecord& rec) {
  simdjson::dom::element e;
  auto u64 = [&](const char* field, uint64_t& out) -> Status {
    if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
    if (!JsonUint64(e, out)) return BadJson(field, "an unsigned integer (string or number)");
    return Status::Ok();
  };
  auto str = [&](const char* field, std::string& out) -> Status {
    if (o[field].get(e) != simdjson::SUCCESS) return Status::Ok();
    if (!e.is_string()) return BadJson(field, "a string");
    out = e.get_string().value();
    return Status::Ok();
  };
  PHAROS_RETURN_IF_ERROR(u64("timeUnixNano", rec.time_unix_nano));
  PHAROS_RETURN_IF_ERROR(u64("observedTimeUnixNano", rec.observed_time_unix_nano));
  uint64_t n = 0;
  PHAROS_RETURN_IF_ERROR(u64("severityNumber", n));
  rec.severity_number = static_cast<int32_t>(n);
  n = 0;
  PHAROS_RETURN_IF_ERROR(u64("flags", n));
  rec.flags = static_cast<uint32_t>(n);
  n = 0;
  PHAROS_RETURN_IF_ERROR(u64("droppedAttributesCount", n));
  rec.dropped_attributes_count = static_cast<uint32_t>(n);
  PHAROS_RETURN_IF_ERROR(str("severityText", rec.severity_text));
  PHAROS_RETURN_IF_ERROR(str("eventName", rec.event_name));
  PHAROS_RETURN_IF_ERROR(JsonHexId(o, "traceId", 16, rec.trace_id));
  PHAROS_RETURN_IF_ERROR(JsonHexId(o, "spanId", 8, rec.span_id));
  if (o["body"].get(e) == simdjson::SUCCESS)
    PHAROS_RETURN_IF_ERROR(DecodeAnyValueJson(e, rec.body));
  return DecodeAttributesJson(o, rec.attributes);
}

}  // namespace

Status DecodeLogs(std::string_view body, bool json, std::vector<model::ResourceLogs>& out) {
  return DecodeSignal(body, json, {"ExportLogsServiceRequest", "ResourceLogs", "ScopeLogs"},
                      {"resourceLogs", "scopeLogs", "logRecords"}, &model::ScopeLogs::records,
                      DecodeLogRecord, DecodeLogRecordJson, out);
}

}  // namespace pharos::ingest::otlp
