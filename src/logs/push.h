// Internal to logs: Loki push bodies decoded into colstore stream inputs that view the
// body (and, for protobuf, label strings the decoder keeps).
#pragma once

#include <simdjson.h>

#include <deque>
#include <string>
#include <vector>

#include "colstore/colstore.h"
#include "common/status.h"
#include "logs/logs.h"

namespace pharos::logs {

using PushStream = IngestStream;

/// What a decoded push keeps alive: the stream inputs and the storage they view.
struct DecodedPush {
  std::vector<PushStream> streams;
  std::deque<std::vector<colstore::Column>> columns;  // one per entry; a deque never moves them
  std::deque<model::Labels> labels;                   // parsed label strings (protobuf)
};

/// Loki's JSON push: {"streams":[{"stream":{...},"values":[["ns","line",{md}]]}]}.
Status DecodeJsonPush(simdjson::dom::element doc, DecodedPush& out);
/// Loki's PushRequest protobuf (uncompressed): streams with a label string
/// `{a="b", c="d"}`, entries with a google.protobuf.Timestamp, the line and structured
/// metadata.
Status DecodeProtoPush(std::string_view body, DecodedPush& out);

}  // namespace pharos::logs
