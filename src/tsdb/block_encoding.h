// Internal to tsdb: how one series' samples are encoded inside a block. Timestamps as
// delta-of-delta zigzag varints; values, when they are all exact decimals with a shared
// exponent (counters in whole units or cents, gauges with limited precision), as varint
// deltas of integer mantissas, otherwise as raw IEEE bits. zstd over whole frames then
// squeezes the runs (a regular scrape interval encodes as a run of zero bytes).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

void EncodeSeriesSamples(std::span<const Sample> samples, std::string& out);
/// Appends the decoded samples with t in [mint, maxt] to `out`.
Status DecodeSeriesSamples(std::string_view data, int64_t mint, int64_t maxt,
                           std::vector<Sample>& out);

}  // namespace pharos::tsdb
