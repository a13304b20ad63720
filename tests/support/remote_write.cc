#include "tests/support/remote_write.h"

#include <snappy.h>

#include <cstring>

namespace pharos::testing {
namespace {

void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void Len(std::string& out, uint32_t field, const std::string& bytes) {
  Varint(out, (field << 3) | 2);
  Varint(out, bytes.size());
  out += bytes;
}

}  // namespace

std::string EncodeWriteRequest(const std::vector<WriteSeries>& series) {
  std::string req;
  for (const WriteSeries& s : series) {
    std::string ts;
    for (const auto& [name, value] : s.labels) {
      std::string label;
      Len(label, 1, name);
      Len(label, 2, value);
      Len(ts, 1, label);
    }
    for (const auto& [t, v] : s.samples) {
      std::string sample;
      Varint(sample, (1 << 3) | 1);
      char b[8];
      std::memcpy(b, &v, 8);
      sample.append(b, 8);
      Varint(sample, (2 << 3) | 0);
      Varint(sample, static_cast<uint64_t>(t));
      Len(ts, 2, sample);
    }
    Len(req, 1, ts);
  }
  return req;
}

std::string Snappy(const std::string& data) {
  std::string out;
  snappy::Compress(data.data(), data.size(), &out);
  return out;
}

HttpResponse RemoteWrite(uint16_t port, const std::vector<WriteSeries>& series) {
  return Post(port, "/api/v1/write", Snappy(EncodeWriteRequest(series)), kRemoteWriteHeaders);
}

}  // namespace pharos::testing
