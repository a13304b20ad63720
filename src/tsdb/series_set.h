// Internal to tsdb: the series set of one select over blocks and the head. Series come in
// label order; a large select is decoded ahead on the Db's read pool, a few batches in
// front of the caller, so decoding runs on other cores while the caller evaluates.
//
// Contract: the samples decoded ahead and not yet handed out are at most kReadAheadBatches
// batches of at most kBatchSamples samples (plus one series each); everything else is
// SeriesSet's. Destroying the set waits for its batches still being decoded.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/task_pool.h"
#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

// Blocks and head as one store. Queriers hold the epoch of the block list they were made
// with; a cut that publishes a block drops the cut samples from the head only once no
// querier of the older list is left, so a query racing a cut sees each sample in the block
// or in the head.
using ReaderEpoch = std::shared_ptr<const int>;

/// Where a series' samples are and its label symbols (in the set's symbol buffer): 24
/// bytes a series plus 4 a symbol, never its label strings.
struct SeriesRef {
  static constexpr uint32_t kHead = UINT32_MAX;
  uint32_t block;         // index into the set's blocks, or kHead
  uint32_t num_symbols;   // label symbols at symbols[first_symbol...]
  uint64_t first_symbol;  // (the block's or the head's symbol ids)
  uint64_t id;            // the block's series index, or the head's series ref
};

inline constexpr size_t kReadAheadBatches = 3;
inline constexpr size_t kBatchSamples = 128 * 1024;

/// `pool` may be null (everything is decoded on the caller's thread).
std::unique_ptr<SeriesSet> NewStoreSeriesSet(Head& head, std::vector<std::shared_ptr<Block>> blocks,
                                             ReaderEpoch epoch, int64_t mint, int64_t maxt,
                                             uint64_t limit, std::vector<SeriesRef> refs,
                                             std::vector<uint32_t> symbols, TaskPool* pool);

/// One series' samples gathered from several sources (blocks, the head), each ascending:
/// whether those appended from `before` on still follow the earlier ones.
bool AppendedInOrder(const std::vector<Sample>& samples, size_t before);

/// Ascending by time, the first of equal timestamps kept (sources are added oldest first).
void SortOnePerTimestamp(std::vector<Sample>& samples);

}  // namespace pharos::tsdb
