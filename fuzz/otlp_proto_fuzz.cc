// libFuzzer target: OTLP metrics protobuf decoding and translation to series.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/otlp.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pharos::ingest::otlp::DeltaState deltas;
  pharos::ingest::otlp::Request request;
  if (pharos::ingest::otlp::DecodeProto(std::string_view(reinterpret_cast<const char*>(data), size),
                                        request)
          .ok()) {
    pharos::ingest::otlp::TranslateResult out;
    pharos::ingest::otlp::Translate(request, deltas, out);
  }
  return 0;
}
