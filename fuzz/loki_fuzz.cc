// libFuzzer target: Loki push bodies (JSON and protobuf). Whatever the bytes, decoding
// returns a value or an error, never crashes or hangs. LogQL has its own target (logql).
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "logs/push.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  pharos::logs::DecodedPush proto;
  (void)pharos::logs::DecodeProtoPush(bytes, proto);
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(bytes);
  simdjson::dom::element doc;
  if (!parser.parse(padded).get(doc)) {
    pharos::logs::DecodedPush json;
    (void)pharos::logs::DecodeJsonPush(doc, json);
  }
  return 0;
}
