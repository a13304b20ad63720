// Internal to colstore: the in-memory head (records not yet in a segment) and the cursors
// a scan merges (one per stream and source, each yielding rows in time order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "colstore/segment.h"
#include "common/mutex.h"

namespace pharos::colstore::internal {

struct HeadOptions {
  uint32_t block_rows = 8192;
  std::string text_column;   // empty: no substring filters
  std::string value_column;  // empty: no value keys in the filters
  bool filtered() const { return !text_column.empty() || !value_column.empty(); }
};

/// Records per stream, as the WAL holds them (EncodeColumns bytes in chunks per stream that
/// never move, so a scan copies out entries, not records, and reads them after the lock).
/// With a text column, each stream's entries fall in blocks of arrival order, each with a
/// substring filter (gram_filter.h) built as records arrive, so that a needle scan copies
/// out of the head only the blocks that may hold it.
class Head {
 public:
  struct Entry {
    int64_t time_ns;
    const char* data;  // in one of the stream's chunks
    uint32_t length;
    std::string_view bytes() const { return {data, length}; }
  };
  struct Block {
    size_t begin = 0;  // entries [begin, end); the last block is open and grows
    size_t end = 0;
    int64_t min_t = INT64_MAX;
    int64_t max_t = INT64_MIN;
    uint64_t anchors = 0;          // inserted into the filter, repeats included
    uint64_t capacity = 0;         // anchors the filter was sized for
    std::vector<uint64_t> filter;  // empty without a text column
  };
  struct Stream {
    model::Labels labels;
    std::vector<std::unique_ptr<char[]>> chunks;
    size_t chunk_size = 0;  // of the last chunk; each next one twice as large, up to 1 MiB
    size_t chunk_used = 0;
    std::vector<Entry> entries;  // arrival order
    std::vector<Block> blocks;   // cover entries in order
  };

  Head(uint64_t wal_cover, HeadOptions options)
      : options_(std::move(options)), wal_cover_(wal_cover) {}
  const HeadOptions& options() const { return options_; }

  /// Whether a stream with these (sorted) labels exists.
  bool Has(const std::string& key) const;
  size_t StreamCount() const;
  struct Record {
    int64_t time_ns;
    std::string_view columns;  // EncodeColumns bytes
    std::string_view text;     // the text column's value (may view into `columns`)
    std::string_view value;    // the value column's value (empty: none)
  };
  /// Adds a stream's records, creating the stream. `key` is StreamKey(labels). Anchors are
  /// computed before the lock, and the lock is taken once for all the records.
  void Add(const std::string& key, const model::Labels& labels, std::span<const Record> records);

  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t rows() const { return rows_.load(std::memory_order_relaxed); }
  /// The WAL segment this head's records start in: a cut covers the segments before the
  /// one it rolls to.
  uint64_t wal_cover() const { return wal_cover_; }

  /// Streams sorted by labels with rows sorted by time (stable), viewing into the head:
  /// valid while the head lives and takes no more appends (a head being cut).
  std::vector<SegmentStreamInput> Sorted() const;

  /// Calls fn(stream) for each stream under the head's lock.
  void ForEachStream(const std::function<void(const Stream&)>& fn) const;

 private:
  // One record into stream `s` (under mu_); returns the bytes it added.
  size_t AddLocked(Stream& s, const Record& record, std::span<const uint64_t> anchors)
      PHAROS_REQUIRES(mu_);

  const HeadOptions options_;
  mutable Mutex mu_;
  std::unordered_map<std::string, std::unique_ptr<Stream>> streams_ PHAROS_GUARDED_BY(mu_);
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> rows_{0};
  uint64_t wal_cover_;
};

/// The head's key of a label set (sorted, unique names).
std::string StreamKey(const model::Labels& labels);

/// One stream's rows from one source, in time order (newest first when backward), filtered
/// by time range and the plan's filters.
class Cursor {
 public:
  virtual ~Cursor() = default;
  /// Moves to the next row; false at the end or on an error (see status()).
  virtual bool Next() = 0;
  const model::Labels* labels = nullptr;
  int64_t time_ns = 0;
  std::vector<Column> columns;  // the current row's present, projected columns
  Status status;
  /// No row of this cursor comes before `bound` in scan order (the earliest time it may
  /// hold going forward, the latest going backward), known before anything is decoded, so
  /// a time-ordered scan opens a cursor only when its rows may be next.
  int64_t bound = 0;
  bool empty = false;  // nothing in range: never opened
  ScanStats stats;     // this cursor's share of the scan's
};

/// The plan's projection and filters, resolved once per scan.
struct Selection {
  int64_t mint, maxt;
  bool backward;
  bool all_columns;
  std::vector<std::string> projection;
  std::vector<Filter> filters;
  std::vector<std::string> skip;
  /// The plan's value hints as (column, the value's filter keys), hashed once per scan.
  std::vector<std::pair<std::string, std::array<uint64_t, kValueKeys>>> value_keys = {};
  /// Whether column `name` must be decoded (projected or filtered).
  bool Wanted(std::string_view name) const;
  bool Projected(std::string_view name) const;
  /// Applies the filters to a row's columns (all decoded ones).
  bool Passes(std::span<const Column> columns) const;
  /// Whether a block's substring filter (of `text_column`, anchors sampled at `shift`) may
  /// hold every "contains" needle of the filters. The needles' anchors are computed once
  /// per scan (and again only for a segment written with another column or sampling):
  /// call it while the scan's cursors are made, on the scan's thread.
  /// `filter`: a stored filter (std::string_view) or a head block's words; empty: none.
  /// With a `value_column`, also whether it may hold every value hinted for that column
  /// (hints are skipped for a stream with a label of the column's name: `labels`).
  template <class FilterWords>
  bool MayHold(std::string_view text_column, uint32_t shift, std::string_view value_column,
               const model::Labels& labels, const FilterWords& filter) const {
    if (filter.empty()) return true;
    if (!text_column.empty()) {
      for (const std::vector<uint64_t>& grams : Needles(text_column, shift)) {
        if (!GramFilterMayContain(filter, grams)) return false;
      }
    }
    if (!value_column.empty()) {
      for (const auto& [column, keys] : value_keys) {
        if (column != value_column || !model::LabelValue(labels, column).empty()) continue;
        if (!GramFilterMayContain(filter, std::span<const uint64_t>(keys))) return false;
      }
    }
    return true;
  }
  const std::vector<std::vector<uint64_t>>& Needles(std::string_view text_column,
                                                    uint32_t shift) const;

  // The needles' anchors for one text column and sampling (Needles' cache).
  mutable std::string needles_column = {};
  mutable uint32_t needles_shift = 0;
  mutable std::vector<std::vector<uint64_t>> needles = {};
};

std::unique_ptr<Cursor> SegmentCursor(std::shared_ptr<const Segment> segment, size_t stream,
                                      const Selection* selection);
/// Copies the stream's rows in range out of the head now (under its lock), from the blocks
/// whose time range overlaps and whose filter may hold the plan's needles.
/// `stream` is one of `head`'s (the cursor keeps the head alive while it reads).
std::unique_ptr<Cursor> HeadCursor(std::shared_ptr<const Head> head, const Head::Stream& stream,
                                   const Selection* selection);

}  // namespace pharos::colstore::internal
