// colstore: Pharos's embedded store for wide, timestamped records with many unique values
// (log lines, spans, product events). Records belong to a stream (a label set, indexed like
// a series) and carry named columns of strings, integers and doubles. Format:
// docs/format/colstore.md.
//
// Contract:
// - Append() validates every record (size, column count, stream labels, the stream limit),
//   writes what it accepts to the WAL (the wal module) and only then makes it visible and
//   returns. When it returns OK the accepted records survive a kill -9; when the WAL fails
//   it returns Unavailable and nothing is acknowledged. Each refusal is counted by reason
//   (pharos_colstore_refused_total) and described in AppendResult; it never fails the
//   records around it.
// - Open() replays the WAL into the head. A record is in exactly one of: the WAL segments
//   after the newest segment file's cover mark, or a segment file; so replay after a crash
//   at any point (mid-cut, mid-retention) neither loses nor duplicates a record.
// - Maintain() (and the background worker, every Options::maintenance_interval) cuts the
//   head into an immutable segment once it holds head_max_bytes or spans
//   head_max_duration, and deletes segments past retention (time) or over max_bytes
//   (oldest first). A cut pauses appends only to roll the WAL and swap the head.
// - Merge() (and the background merger, every maintenance_interval, beside the worker so a
//   long merge never holds a cut back) rewrites merge_fan_in consecutive segments of one
//   size tier as one, a batch of streams at a time, with full blocks: the new segment names
//   the ones it replaces, so a crash at any point leaves either the inputs or the merged
//   segment (Open removes inputs a merged segment names), never both.
// - Scan() answers a plan (time range, stream matchers, column filters, projection, limit,
//   direction): rows in time order across every stream (ties by stream order), from the
//   segments and the head as one store, reading only blocks whose stream matches and whose
//   time range overlaps. It holds one decoded block per matching stream at a time. The plan
//   is data, not a callback into the store, so another backend (ClickHouse) can answer it.
// - Every method is safe for concurrent use.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/env.h"
#include "common/status.h"
#include "common/units.h"
#include "model/model.h"
#include "selfmon/metrics.h"

namespace pharos::colstore {

/// A column value. Strings are views: into the caller's request on the way in, into a
/// decoded block during a Scan callback.
struct Value {
  enum class Type : uint8_t { kNull = 0, kString = 1, kInt = 2, kDouble = 3 };
  Type type = Type::kNull;
  std::string_view s;
  int64_t i = 0;
  double d = 0;

  static Value String(std::string_view v) { return {Type::kString, v, 0, 0}; }
  static Value Int(int64_t v) { return {Type::kInt, {}, v, 0}; }
  static Value Double(double v) { return {Type::kDouble, {}, 0, v}; }
  bool operator==(const Value&) const = default;
};

struct Column {
  std::string_view name;
  Value value;
};

struct RecordInput {
  int64_t time_ns = 0;
  std::span<const Column> columns;  // names unique within a record
};

struct StreamInput {
  std::span<const model::LabelView> labels;
  std::span<const RecordInput> records;
};

/// A stream's records as an append kept them (Options::on_append).
struct AppendedStream {
  const model::Labels* labels;  // sorted and valid
  std::span<const RecordInput> records;
};

struct AppendResult {
  uint64_t accepted = 0;
  uint64_t rejected = 0;
  /// The first few reasons, each naming the stream and the limit.
  std::vector<std::string> errors;
};

struct Limits {
  uint32_t max_record_bytes = 256 * 1024;  // the sum of column names and values
  uint32_t max_columns_per_record = 128;
  uint32_t max_labels_per_stream = 32;
  uint32_t max_label_bytes = 1024;  // a name or a value
  uint64_t max_streams = 100'000;   // in the head
};

struct Options {
  std::string dir;
  Env* env = DefaultEnv();
  Limits limits;
  uint64_t head_max_bytes = 64ULL << 20;
  Duration head_max_duration = std::chrono::hours(2);
  Duration retention = std::chrono::hours(24 * 15);
  uint64_t max_bytes = 0;  // 0: no size limit
  /// 0 disables the background worker (tests and tools call Maintain()).
  Duration maintenance_interval = std::chrono::seconds(10);
  /// Rows per block: the unit a scan decodes.
  uint32_t block_rows = 8192;
  /// A string column whose blocks get a substring filter (about 4.4 bytes per line of
  /// log text), so that a kContains filter on it reads only the blocks that may hold the
  /// needle. Needles under 8 bytes are never filtered, nine in ten of 16 bytes are, and
  /// nearly all of 24 or more.
  std::string text_column;
  /// A string column whose whole values go into the blocks' filters too, so that a scan
  /// hinted with one value (ScanPlan::value_hints: a trace id) reads only the blocks that
  /// may hold it. About 3 bits a row that has it.
  std::string value_column;
  /// A name for metrics ("logs", "spans", "events").
  std::string name = "records";
  /// While a cut writes the previous head, appends that find the new head at
  /// head_max_bytes wait for the cut this long, then are refused (ResourceExhausted).
  Duration max_cut_wait = std::chrono::seconds(10);
  /// Tests: called between the steps of a cut, to crash or write in between.
  std::function<void(std::string_view step)> on_step;
  /// Merges: merge_fan_in consecutive segments of one size tier (a factor of 4 per tier
  /// from 1 MiB) become one, while the result stays within merge_max_bytes and spans at
  /// most merge_max_span (retention drops whole segments). 0 fan-in: no merges.
  uint32_t merge_fan_in = 4;
  uint64_t merge_max_bytes = 1ULL << 30;
  Duration merge_max_span = std::chrono::hours(24);
  /// Called with the records of each append that the WAL acknowledged (refused ones left
  /// out), before Append returns, while appends are held off from a cut: it must not call
  /// back into the store. Live tails take their lines here.
  std::function<void(std::span<const AppendedStream> kept)> on_append;
};

/// Compares a column with a value. A missing column is null: it never equals, contains or
/// matches anything, and `!=` is true for it.
struct Filter {
  /// kContainsAnyCase: contains the value with its ASCII letters in any case.
  enum class Op : uint8_t { kEqual, kNotEqual, kContains, kNotContains, kContainsAnyCase };
  std::string column;
  Op op = Op::kEqual;
  Value value;
};

struct ScanPlan {
  int64_t mint_ns = INT64_MIN;            // inclusive
  int64_t maxt_ns = INT64_MAX;            // inclusive
  std::vector<model::Matcher> streams;    // all must match; empty selects every stream
  std::vector<Filter> filters;            // all must hold
  std::vector<std::string> columns;       // projection; empty means every column
  std::vector<std::string> skip_columns;  // never decoded nor returned (unless filtered on)
  uint64_t limit = 0;                     // 0: no limit
  bool backward = false;                  // newest first
  /// False: rows come stream by stream (each in time order) instead of merged by time, one
  /// stream's cursor at a time, so a scan holds one decoded block however many streams it
  /// reads. For readers that group rows themselves (metric queries).
  bool time_ordered = true;
  /// Not time_ordered: streams are decoded and filtered by up to this many threads; the
  /// visitor is still called for one row at a time (from any of them).
  uint32_t threads = 1;
  /// (column, value) pairs every row sought holds. Where `column` is the store's
  /// value_column, only blocks whose filter may hold the value are read, except in streams
  /// with a label of that name (which may stand in for the column, as LogQL's labels do).
  /// A hint only skips blocks: the rows of a block read are not checked against it.
  std::vector<std::pair<std::string, std::string>> value_hints;
};

struct Row {
  const model::Labels* stream;
  int64_t time_ns;
  std::span<const Column> columns;  // present (non-null) projected columns
};

/// Return false to stop the scan early.
using RowVisitor = std::function<bool(const Row& row)>;

struct ScanStats {
  uint64_t segments_read = 0;
  uint64_t blocks_read = 0;      // decoded
  uint64_t blocks_skipped = 0;   // by stream or time without decoding
  uint64_t blocks_filtered = 0;  // by the text column's substring filter, without decoding
  uint64_t rows_scanned = 0;
  uint64_t rows_returned = 0;
};

/// A time range, both ends inclusive.
struct TimeWindow {
  int64_t mint_ns;
  int64_t maxt_ns;
};

/// counts[i]: the stream's rows in windows[i].
using CountVisitor =
    std::function<void(const model::Labels& stream, std::span<const uint64_t> counts)>;

struct Stats {
  uint64_t head_rows = 0;
  uint64_t head_bytes = 0;
  uint64_t head_streams = 0;
  uint64_t segments = 0;
  uint64_t segment_bytes = 0;
  uint64_t segment_rows = 0;
  uint64_t merged_segments = 0;  // segments written by a merge
};

class Store {
 public:
  virtual ~Store() = default;
  static Result<std::unique_ptr<Store>> Open(const Options& options, selfmon::Registry& registry);

  /// See the contract above. `result` is filled even when an error is returned.
  virtual Status Append(std::span<const StreamInput> batch, AppendResult& result) = 0;
  virtual Result<ScanStats> Scan(const ScanPlan& plan, const RowVisitor& visit) = 0;
  /// Counts the rows of each stream matching every matcher in each window (windows sorted:
  /// each one's mint and maxt at least the previous one's). A block inside a window counts
  /// by its row count, unread; a block across a window's edge decodes its times only. A
  /// stream is visited once per segment and head that holds rows of it in some window:
  /// callers add up by labels.
  virtual Result<ScanStats> Count(std::span<const model::Matcher> streams,
                                  std::span<const TimeWindow> windows,
                                  const CountVisitor& visit) = 0;
  /// The streams with records in [mint_ns, maxt_ns] (by segment and head, not by record:
  /// a stream whose segment overlaps the range is listed) that match every matcher, sorted.
  virtual Result<std::vector<model::Labels>> Streams(std::span<const model::Matcher> matchers,
                                                     int64_t mint_ns, int64_t maxt_ns) = 0;
  /// Cuts the whole head into a segment now.
  virtual Status Flush() = 0;
  /// One round of background maintenance now: cut if due, then retention.
  virtual Status Maintain() = 0;
  /// One merge, when segments call for it (see the contract). Sets `merged` when it wrote one.
  virtual Status Merge(bool* merged = nullptr) = 0;
  virtual Stats GetStats() = 0;
  virtual Status Close() = 0;
};

}  // namespace pharos::colstore
