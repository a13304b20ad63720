// Internal to colstore: the record encoding shared by the WAL and the head, and segment
// files (docs/format/colstore.md): writing one from sorted rows, opening one read-only
// through mmap, and decoding a block's columns.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "colstore/colstore.h"
#include "colstore/gram_filter.h"
#include "common/env.h"
#include "common/status.h"

namespace pharos::colstore::internal {

// ---- records (WAL and head) ----

/// Appends a record's columns: uvarint count, then per column its name, a type byte and
/// the value. The time is kept apart.
void EncodeColumns(std::string& out, std::span<const Column> columns);
/// Decodes what EncodeColumns wrote; views point into `data`. False on malformed input.
bool DecodeColumns(std::string_view data, std::vector<Column>& out);

/// A WAL record: the stream's labels, then (time, columns) per record.
void EncodeWalRecord(std::string& out, std::span<const model::LabelView> labels,
                     std::span<const RecordInput> records);
struct WalRecord {
  model::Labels labels;
  struct Entry {
    int64_t time_ns;
    std::string_view columns;  // EncodeColumns bytes
  };
  std::vector<Entry> entries;
};
bool DecodeWalRecord(std::string_view data, WalRecord& out);

// ---- segments ----

inline constexpr char kSegmentMagic[8] = {'P', 'H', 'C', 'O', 'L', 'S', 'G', '1'};
inline constexpr uint32_t kSegmentVersion = 4;
inline constexpr uint32_t kOldestSegmentVersion = 1;  // read, never written

/// One row on its way into a segment: time and EncodeColumns bytes.
struct RowRef {
  int64_t time_ns;
  std::string_view columns;
};

struct SegmentStreamInput {
  const model::Labels* labels;
  std::vector<RowRef> rows;  // sorted by time
};

struct BlockRef {
  uint64_t offset = 0;
  uint64_t length = 0;  // including the CRC
  uint32_t rows = 0;
  int64_t min_t = 0;
  int64_t max_t = 0;
  /// The block's substring filter of the text column (gram_filter.h), length 0 for none.
  uint64_t filter_offset = 0;
  uint32_t filter_length = 0;  // the words, without their CRC
};

struct SegmentStream {
  model::Labels labels;
  std::vector<BlockRef> blocks;  // by time
};

struct ColumnStats {
  std::string name;
  uint64_t values = 0;  // non-null
  uint64_t bytes = 0;   // encoded, in blocks
};

struct SegmentInfo {
  uint64_t wal_cover = 0;  // every record in WAL segments before this is in a segment
  int64_t min_t = 0;
  int64_t max_t = 0;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  std::vector<ColumnStats> columns;
  /// The column with a substring filter per block (empty: none) and its anchor sampling.
  std::string text_column;
  uint32_t gram_sample_shift = 0;
  /// The column whose whole values the blocks' filters also hold (empty: none; version 3).
  std::string value_column;
  /// Segments (by id) whose rows this one holds: a merge's inputs (version 4). Opening the
  /// store removes any of them still on disk.
  std::vector<uint64_t> replaces;
  bool filtered() const { return !text_column.empty() || !value_column.empty(); }
};

struct WriteOptions {
  uint32_t block_rows = 8192;
  std::string text_column;  // empty: no substring filters
  uint32_t gram_sample_shift = kDefaultGramSampleShift;
  /// A string column whose values go into the blocks' filters too (ValueKey), so that a
  /// scan for one value reads only the blocks that may hold it. Empty: none.
  std::string value_column;
  bool filtered() const { return !text_column.empty() || !value_column.empty(); }
  /// Threads encoding blocks (1: the caller's alone).
  uint32_t threads = 1;
  /// The merged segments this one replaces (SegmentInfo::replaces).
  std::vector<uint64_t> replaces;
};

/// Writes a segment a batch of streams at a time (a merge holds one batch, not the whole
/// segment): to a temporary file, synced, then renamed into place and the directory
/// synced by Finish. Destroyed unfinished, it removes the temporary file.
class SegmentWriter {
 public:
  static Result<std::unique_ptr<SegmentWriter>> Create(Env& env, const std::string& dir,
                                                       const std::string& name,
                                                       const WriteOptions& options);
  ~SegmentWriter();
  /// Streams sorted by labels (and after every stream of earlier calls), each by time;
  /// their blocks are encoded on options.threads threads.
  Status Add(std::span<const SegmentStreamInput> streams);
  Status Finish(uint64_t wal_cover, SegmentInfo* info);

 private:
  SegmentWriter() = default;
  struct State;
  std::unique_ptr<State> state_;
};

/// Writes streams (sorted by labels, each sorted by time) as one segment at `path`: to a
/// temporary file, synced, then renamed into place and the directory synced.
Status WriteSegment(Env& env, const std::string& dir, const std::string& name,
                    std::span<const SegmentStreamInput> streams, uint64_t wal_cover,
                    const WriteOptions& options, SegmentInfo* info);

/// A block's decoded columns. Values view into `buffers` or the mapped file. Reuse one
/// DecodedBlock across ReadBlock calls: its buffers keep their capacity.
struct DecodedBlock {
  std::vector<int64_t> times;
  std::vector<std::string_view> names;      // decoded columns, in block order
  std::vector<std::vector<Value>> columns;  // [column][row], column < names.size()
  std::vector<std::string> buffers;
  std::vector<uint32_t> present_rows;  // scratch
};

class Segment {
 public:
  /// Maps and checks the file (trailer, footer CRC, every reference in bounds, every
  /// filter's CRC).
  static Result<std::unique_ptr<Segment>> Open(Env& env, const std::string& path);
  /// The same over bytes the caller keeps alive (the fuzz target).
  static Result<std::unique_ptr<Segment>> Parse(std::string_view data);

  const std::vector<SegmentStream>& streams() const { return streams_; }
  const SegmentInfo& info() const { return info_; }
  const std::string& path() const { return path_; }

  /// Decodes block `ref`, only the columns `wanted` accepts (every column when null),
  /// checking its CRC. With `only_rows` (a flag per row), only the flagged rows' values are
  /// set: the others hold whatever they held.
  Status ReadBlock(const BlockRef& ref, const std::function<bool(std::string_view)>* wanted,
                   DecodedBlock& out, const std::vector<uint8_t>* only_rows = nullptr) const;
  /// The block's substring filter of info().text_column (checked at open); empty if none.
  std::string_view Filter(const BlockRef& ref) const {
    return data_.substr(ref.filter_offset, ref.filter_length);
  }

 private:
  std::unique_ptr<MappedFile> file_;
  std::string_view data_;
  std::string path_;
  std::vector<std::string> names_;  // the column name table
  std::vector<SegmentStream> streams_;
  SegmentInfo info_;
};

}  // namespace pharos::colstore::internal
