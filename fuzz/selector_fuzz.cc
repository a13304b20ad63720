// libFuzzer target: the PromQL series selector parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "promql/promql.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)pharos::promql::ParseSeriesSelector(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
