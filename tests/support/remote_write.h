// Test support: builds Prometheus remote_write 1.0 bodies (protobuf, then snappy).
#pragma once

#include "tests/support/http_client.h"

#include <cstdint>
#include <string>
#include <string_view>
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

/// The headers a remote_write 1.0 sender puts on its POST.
inline constexpr std::string_view kRemoteWriteHeaders =
    "Content-Encoding: snappy\r\nContent-Type: application/x-protobuf\r\n"
    "X-Prometheus-Remote-Write-Version: 0.1.0\r\n";

/// POST /api/v1/write with `series` on a fresh connection.
HttpResponse RemoteWrite(uint16_t port, const std::vector<WriteSeries>& series);

}  // namespace pharos::testing
