// Internal to tsdb: immutable on-disk blocks. A block holds every sample of its series in
// [min_t, max_t], in one data file read in place through Env::OpenMapped, index included:
// opening a block reads its footer and frame table, and symbols, series entries and
// postings are decoded when a query reaches them, so memory after opening a data directory
// grows with the number of blocks, not with the series in them.
// Format: docs/format/tsdb-block.md (version 2; version 1 blocks are rewritten on open).
#pragma once

#include <atomic>
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
/// series), never the block's samples: cuts and merges stream through it. Finish()
/// additionally holds the postings (4 bytes per label per series) while writing the index.
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
  /// Finishes into an existing block directory, replacing its data file and meta.json
  /// (each by an atomic rename): how a block of an older format version is rewritten.
  Status FinishReplacing(const std::string& block_dir, BlockMeta& meta);

 private:
  BlockWriter() = default;
  Status FlushFrame();
  Status WriteIndex();

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
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  ~Block();

  /// Opens a version-2 block; any other version is refused with a message naming it.
  static Result<std::unique_ptr<Block>> Open(Env* env, const std::string& dir);

  const BlockMeta& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }
  uint64_t size_bytes() const { return file_->data().size(); }
  /// Bytes of the index sections (symbols, series, postings, label table) on disk.
  uint64_t index_bytes() const;
  uint64_t num_series() const { return num_series_; }

  /// Where a series is and what it is called (label symbols: name, value, name, value...).
  struct SeriesEntry {
    std::vector<uint32_t> label_syms;
    uint32_t frame = 0;
    uint32_t offset = 0;
    uint32_t length = 0;
    int64_t min_t = 0;
    int64_t max_t = 0;
  };
  /// Decodes series `series` (< num_series()) into `out`, checking the index sections it
  /// reads against their checksums the first time.
  Status Entry(uint64_t series, SeriesEntry& out) const;
  /// A symbol's text, a view into the mapped file. Ids from Entry() are valid; any other
  /// id gives "".
  std::string_view Symbol(uint32_t id) const;
  Result<Labels> LabelsOf(uint64_t series) const;
  /// The labels of an entry Entry() decoded.
  Labels LabelsOf(const SeriesEntry& entry) const;

  /// Series indexes matching the matchers, ascending.
  Result<std::vector<uint64_t>> Postings(std::span<const Matcher> matchers) const;
  /// Appends the samples of `series` within [mint, maxt]; `cache` is the caller's.
  Status Read(uint64_t series, int64_t mint, int64_t maxt, FrameCache& cache,
              std::vector<Sample>& out) const;
  Status Read(const SeriesEntry& entry, int64_t mint, int64_t maxt, FrameCache& cache,
              std::vector<Sample>& out) const;
  Result<std::vector<std::string>> LabelNames() const;
  Result<std::vector<std::string>> LabelValues(const std::string& name) const;

 private:
  friend class BlockIndexView;
  enum Section { kSymbols, kFrames, kSeries, kPostings, kLabels, kNumSections };
  struct SectionRef {
    uint64_t offset = 0;
    uint64_t length = 0;
    uint32_t crc = 0;
  };
  // A label name's entry in the label table.
  struct NameEntry {
    uint32_t name_sym;
    uint32_t first_value;
    uint32_t value_count;
  };

  Block() = default;
  Status Load(Env* env);
  /// The section's bytes, once they matched their checksum.
  Status View(Section s, std::string_view& out) const;
  Status FrameData(uint32_t frame, std::string& out) const;
  uint32_t num_names() const { return num_names_; }
  NameEntry Name(uint32_t i) const;
  /// The label table index of `name`, or UINT32_MAX.
  uint32_t FindName(std::string_view name) const;
  /// Value entry `i` of the label table: its symbol, and its postings list's place.
  void Value(uint32_t i, uint32_t& value_sym, uint32_t& count, uint64_t& offset) const;
  /// Appends the postings list of value entry `i` to `out`.
  Status AppendPostings(uint32_t value, std::vector<uint64_t>& out) const;

  std::string dir_;
  BlockMeta meta_;
  std::unique_ptr<MappedFile> file_;
  SectionRef sections_[kNumSections];
  // 0: not checked yet, 1: matches its checksum, 2: damaged.
  mutable std::atomic<uint8_t> verified_[kNumSections] = {};
  uint64_t num_symbols_ = 0;
  uint64_t num_frames_ = 0;
  uint64_t num_series_ = 0;
  uint32_t num_names_ = 0;
};

/// The block's meta.json (any supported version).
Result<BlockMeta> ReadBlockMeta(Env* env, const std::string& dir);
/// The format version of the block in `dir` (from its data file's footer).
Result<uint32_t> BlockFormatVersion(Env* env, const std::string& dir);
/// Rewrites a version-1 block in `dir` as the current version, in place. A crash at any
/// point leaves either the old or the new data file, both readable.
Status UpgradeBlockFromV1(Env* env, const std::string& dir);

}  // namespace pharos::tsdb
