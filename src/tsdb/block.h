// Internal to tsdb: immutable on-disk blocks. A block holds every sample of its series in
// [min_t, max_t], in one data file read through mmap. Format: docs/format/tsdb-block.md.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/env.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

struct BlockMeta {
  std::string id;  // directory name
  int64_t min_t = 0;
  int64_t max_t = 0;  // inclusive
  uint64_t num_series = 0;
  uint64_t num_samples = 0;
  int level = 1;  // 1 for a block cut from the head; merged blocks are one more than their inputs
};

struct BlockSeries {
  Labels labels;
  std::vector<Sample> samples;  // ascending, within the block's range
};

/// Writes a block into `blocks_dir`/`meta.id` atomically (a temporary directory renamed into
/// place once synced). `series` must be sorted by labels. Fills in the counts of `meta`.
Status WriteBlock(Env* env, const std::string& blocks_dir, BlockMeta& meta,
                  const std::vector<BlockSeries>& series);

/// The last frame a reader decompressed, kept by the reader (a query, a merge): series
/// are read in index order, so consecutive reads hit the same frame, and concurrent
/// readers of one block share no lock.
struct FrameCache {
  int64_t frame = -1;
  std::string data;
};

class Block {
 public:
  ~Block();
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  static Result<std::unique_ptr<Block>> Open(const std::string& dir);

  const BlockMeta& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }
  uint64_t size_bytes() const { return size_; }
  uint64_t num_series() const { return series_.size(); }

  /// Series indexes matching the matchers, ascending.
  std::vector<uint64_t> Postings(std::span<const Matcher> matchers) const;
  Labels LabelsOf(uint64_t series) const;
  /// True when the series has samples somewhere in [mint, maxt] (by its time bounds).
  bool Overlaps(uint64_t series, int64_t mint, int64_t maxt) const {
    return series_[series].max_t >= mint && series_[series].min_t <= maxt;
  }
  /// Appends the samples of `series` within [mint, maxt]; `cache` is the caller's.
  Status Read(uint64_t series, int64_t mint, int64_t maxt, FrameCache& cache,
              std::vector<Sample>& out) const;
  std::vector<std::string> LabelNames() const;
  std::vector<std::string> LabelValues(const std::string& name) const;

 private:
  friend class BlockIndexView;
  struct SeriesEntry {
    std::vector<uint32_t> label_syms;
    uint32_t frame;
    uint32_t offset;
    uint32_t length;
    int64_t min_t;
    int64_t max_t;
  };
  struct Frame {
    uint64_t offset;
    uint64_t compressed;
    uint64_t raw;
  };
  Block() = default;
  Status Load();
  Status FrameData(uint32_t frame, std::string& out) const;

  std::string dir_;
  BlockMeta meta_;
  int fd_ = -1;
  const char* map_ = nullptr;
  uint64_t size_ = 0;
  std::vector<std::string> symbols_;
  std::unordered_map<std::string_view, uint32_t> symbol_ids_;
  std::vector<Frame> frames_;
  std::vector<SeriesEntry> series_;
  // name sym -> value sym -> series indexes
  std::unordered_map<uint32_t, std::unordered_map<uint32_t, std::vector<uint64_t>>> postings_;
};

}  // namespace pharos::tsdb
