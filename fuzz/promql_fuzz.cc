// libFuzzer target: the PromQL parser and printer. Any input must parse or fail cleanly
// (no crash, no unbounded recursion), and what parses must print to text that parses back
// to the same canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "promql/promql.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  pharos::Result<pharos::promql::ExprPtr> e = pharos::promql::ParseExpr(text);
  if (!e.ok()) return 0;
  std::string canonical = pharos::promql::Format(**e);
  pharos::Result<pharos::promql::ExprPtr> again = pharos::promql::ParseExpr(canonical);
  if (!again.ok()) {
    std::fprintf(stderr, "canonical form does not parse: %s\n  %s\n", canonical.c_str(),
                 again.status().message().c_str());
    std::abort();
  }
  std::string twice = pharos::promql::Format(**again);
  if (twice != canonical) {
    std::fprintf(stderr, "canonical form is not stable:\n  %s\n  %s\n", canonical.c_str(),
                 twice.c_str());
    std::abort();
  }
  return 0;
}
