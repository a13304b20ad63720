// libFuzzer target: Loki push bodies (JSON and protobuf) and LogQL queries. Whatever the
// bytes, decoding and parsing return a value or an error, never crash or hang.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "logs/logs.h"
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
  pharos::Result<pharos::logs::LogQuery> q = pharos::logs::ParseLogQuery(bytes);
  if (q.ok()) {
    for (const auto& f : q->filters) (void)f.Matches("a line 4bf92f3577b34da6 status=500");
  }
  return 0;
}
