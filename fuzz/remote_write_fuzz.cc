// libFuzzer target: the remote_write decoder must reject or decode any bytes, never crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ingest/ingest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static pharos::ingest::DecodedBatch batch;
  std::string_view body(reinterpret_cast<const char*>(data), size);
  pharos::Status s = pharos::ingest::DecodeWriteRequest(body, batch);
  if (s.ok()) {
    // Every view must point inside the body.
    for (const auto& series : batch.series) {
      for (const auto& l : series.labels) {
        if (!l.name.empty() &&
            (l.name.data() < body.data() || l.name.data() + l.name.size() > body.data() + size)) {
          __builtin_trap();
        }
      }
    }
  }
  return 0;
}
