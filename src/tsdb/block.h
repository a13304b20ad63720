// Internal to tsdb: immutable on-disk blocks. A block holds every sample of its series in
// [min_t, max_t], in one data file read through mmap. Format: docs/format/tsdb-block.md.
#pragma once

#include <memory>
#include <span>
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

/// Writes a block series by series, in label order, into `blocks_dir`/`tmp_name`; Finish()
/// syncs it and renames it to `blocks_dir`/`meta.id`. Memory while writing: the frame being
/// filled (kFrameTargetBytes), the symbol table and the series index (about 20 bytes a
/// series), never the block's samples: cuts and merges stream through it.
class BlockWriter {
 public:
  static Result<std::unique_ptr<BlockWriter>> Create(Env* env, std::string blocks_dir,
                                                     std::string tmp_name);
  ~BlockWriter();
  /// Adds a series; `labels` must not sort before the previous series' (LabelsLess). Empty
  /// series are skipped.
  Status Add(const Labels& labels, std::span<const Sample> samples);
  uint64_t num_series() const { return num_series_; }
  /// The oldest sample added (INT64_MAX before any).
  int64_t min_t() const { return min_t_; }
  /// Writes the index and meta.json (counts filled into `meta`), syncs and renames the
  /// block into place as `meta.id`.
  Status Finish(BlockMeta& meta);

 private:
  BlockWriter() = default;
  Status FlushFrame();

  Env* env_ = nullptr;
  std::string blocks_dir_;
  std::string tmp_;
  std::unique_ptr<AppendFile> file_;
  std::unordered_map<std::string, uint32_t> symbol_ids_;  // in first-use order
  std::vector<std::string_view> symbols_;                 // keys of symbol_ids_, by id
  std::string frame_;
  std::string index_series_;
  std::string payload_;
  struct FrameInfo {
    uint64_t offset, compressed, raw;
  };
  std::vector<FrameInfo> frames_;
  uint64_t num_series_ = 0;
  uint64_t num_samples_ = 0;
  int64_t min_t_ = INT64_MAX;
  Labels last_;
};

/// Writes a whole block at once through BlockWriter. `series` must be sorted by labels.
/// Fills in the counts of `meta`.
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
  /// The series' label symbols (name, value, name, value...) and a symbol's text: views
  /// that live as long as the block, for comparing label sets without copying them.
  const std::vector<uint32_t>& LabelSymbols(uint64_t series) const {
    return series_[series].label_syms;
  }
  std::string_view Symbol(uint32_t id) const { return symbols_[id]; }
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
