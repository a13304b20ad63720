// Internal to api: JSON fragments several API families write.
#pragma once

#include <string>

#include "common/strings.h"
#include "tsdb/tsdb.h"

namespace pharos::api {

/// {"name":"value",...} for a label set, as Prometheus writes a metric.
inline void AppendLabelsObject(std::string& out, const tsdb::Labels& labels) {
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, labels[i].name);
    out += ':';
    AppendJsonString(out, labels[i].value);
  }
  out += '}';
}

}  // namespace pharos::api
