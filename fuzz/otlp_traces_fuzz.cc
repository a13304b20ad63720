// libFuzzer target: OTLP trace decoding and Zipkin v2 JSON (the first byte picks protobuf,
// OTLP JSON or Zipkin) and the trace store's OTLP encoder. What decodes must encode to protobuf
// that decodes again into the same encoding: the encoder loses nothing the decoder kept.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/ingest.h"
#include "traces/otlp_encode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  int format = data[0] % 3;  // 0 protobuf, 1 OTLP JSON, 2 Zipkin v2 JSON
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<pharos::model::ResourceSpans> spans;
  pharos::Status decoded = format == 2 ? pharos::ingest::DecodeZipkinSpans(body, spans)
                                       : pharos::ingest::DecodeOtlpTraces(body, format == 1, spans);
  if (!decoded.ok()) return 0;
  std::string encoded;
  pharos::traces::EncodeResourceSpans(spans, encoded);
  std::vector<pharos::model::ResourceSpans> again;
  if (!pharos::ingest::DecodeOtlpTraces(encoded, false, again).ok()) std::abort();
  std::string reencoded;
  pharos::traces::EncodeResourceSpans(again, reencoded);
  if (reencoded != encoded) std::abort();
  std::string text;
  pharos::traces::AppendTracesJson(spans, "resourceSpans", text);
  return 0;
}
