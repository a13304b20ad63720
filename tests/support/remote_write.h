// Test support: builds Prometheus remote_write 1.0 bodies (protobuf, then snappy).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace pharos::testing {

struct WriteSeries {
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<int64_t, double>> samples;  // (ms, value)
};

/// The WriteRequest protobuf, uncompressed.
std::string EncodeWriteRequest(const std::vector<WriteSeries>& series);
/// Snappy block compression, as remote_write sends.
std::string Snappy(const std::string& data);

}  // namespace pharos::testing
