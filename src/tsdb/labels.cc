
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

double StaleNaN() {
  double v;
  std::memcpy(&v, &kStaleNaNBits, 8);
  return v;
}

}  // namespace pharos::tsdb
