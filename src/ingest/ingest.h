// ingest: receivers that decode wire formats into TSDB appends.
//
// Contract: decoders are pure functions over a request body (already decoded from its
// Content-Encoding by the server) that fill reusable output structures with views into
// the body; they never allocate per label and reject malformed input with InvalidArgument
// naming the field. RegisterRoutes() adds the HTTP endpoints; their handlers are
// thread-safe and answer as the protocol they speak expects (remote_write: 204, 400 with
// the reasons, 415, 429/503 with Retry-After).
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "selfmon/metrics.h"
#include "server/server.h"
#include "tsdb/tsdb.h"

namespace pharos::ingest {

/// A decoded batch: flat label and sample arrays and the series that slice them.
struct DecodedBatch {
  std::vector<tsdb::LabelView> labels;
  std::vector<tsdb::Sample> samples;
  std::vector<tsdb::SeriesInput> series;
  uint64_t histograms = 0;  // native histogram samples seen (not stored yet)
  uint64_t exemplars = 0;
  uint64_t metadata = 0;

  void Clear();
  /// Builds `series` spans once the flat arrays stop growing.
  void Seal();
  // Offsets per series while decoding: label begin/end, sample begin/end.
  struct Range {
    uint32_t label_begin, label_end, sample_begin, sample_end;
  };
  std::vector<Range> ranges;
};

/// Decodes a Prometheus remote_write 1.0 WriteRequest (protobuf, after snappy).
Status DecodeWriteRequest(std::string_view body, DecodedBatch& out);

struct Options {
  /// Concurrent write requests beyond this get 429 with Retry-After.
  uint32_t max_concurrent_writes = 64;
};

/// POST /api/v1/write (remote_write 1.0). `db` is null until storage has recovered;
/// until then writes get 503 with Retry-After.
void RegisterRoutes(server::Router& router, const std::atomic<tsdb::Db*>& db,
                    selfmon::Registry& registry, const Options& options);

}  // namespace pharos::ingest
