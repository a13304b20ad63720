// libFuzzer target: the server's HTTP request parser and body decoders. The first byte
// picks how the input is split into reads, so partial deliveries are covered too.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/request_parser.h"
#include "server/server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t piece = 1 + data[0] % 64;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  pharos::server::RequestData request;
  pharos::server::RequestParser parser(request);
  parser.eager(true);
  parser.header_limit(8192);
  parser.body_limit(1 << 20);
  std::string buffer;
  size_t fed = 0;
  while (fed < input.size() && !parser.is_done()) {
    buffer.append(input.substr(fed, piece));
    fed += std::min(piece, input.size() - fed);
    boost::beast::error_code ec;
    size_t used = parser.put(boost::asio::buffer(buffer.data(), buffer.size()), ec);
    buffer.erase(0, used);
    if (ec && ec != boost::beast::http::error::need_more) return 0;
  }
  if (parser.is_done()) {
    std::string decoded;
    for (std::string_view encoding : {"gzip", "deflate", "snappy"}) {
      (void)pharos::server::DecodeBody(encoding, request.body, 1 << 20, decoded);
    }
  }
  return 0;
}
