#include "tests/support/remote_write.h"

#include "tests/support/protobuf.h"

#include <snappy.h>

#include <cstring>

namespace pharos::testing {

std::string EncodeWriteRequest(const std::vector<WriteSeries>& series) {
  Pb req;
  for (const WriteSeries& s : series) {
    Pb ts;
    for (const auto& [name, value] : s.labels) ts.Len(1, Pb().Len(1, name).Len(2, value).out);
    for (const auto& [t, v] : s.samples) ts.Len(2, Pb().Double(1, v).Int(2, t).out);
    req.Len(1, ts.out);
  }
  return req.out;
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
