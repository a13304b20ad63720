// libFuzzer target: Alertmanager configurations and matcher lists.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "alerting/alerting.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)pharos::alerting::ParseConfig(text, "fuzz");
  pharos::Result<std::vector<pharos::model::Matcher>> m = pharos::alerting::ParseMatchers(text);
  if (m.ok()) (void)pharos::model::MatchesAll(*m, {{"a", "b"}, {"job", "x"}});
  return 0;
}
