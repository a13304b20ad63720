// libFuzzer target: both text formats, lenient and strict, on arbitrary input.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/ingest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pharos::ingest::TextBatch batch;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  using pharos::ingest::TextFormat;
  (void)pharos::ingest::ParseText(text, TextFormat::kPrometheus, 0, batch);
  (void)pharos::ingest::ParseText(text, TextFormat::kOpenMetrics, 0, batch);
  (void)pharos::ingest::ParseText(text, TextFormat::kOpenMetrics, 0, batch, /*strict=*/true);
  return 0;
}
