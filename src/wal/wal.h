// wal: a segmented write-ahead log of opaque records, reusable by every store.
//
// Contract:
// - Open() replays every intact record, oldest first, through the callback: the newest
//   checkpoint first, then every segment from the checkpoint's on; then it opens the newest
//   segment for appending. A torn or corrupt tail (short header, length past the end, bad
//   CRC, zero length) is truncated and reported in the ReplayReport, never fatal: the file
//   is cut at the last good record and later segments are removed, as Prometheus's WAL
//   repair does. A record the callback refuses fails Open() with the file and offset, or,
//   under Options::truncate_at_bad_record, is treated as such a tail.
// - Checkpoint(N, filter) keeps what `filter` keeps of the current checkpoint and of every
//   segment before N in a new checkpoint file (written aside, synced, renamed into place),
//   then removes what it replaces. A crash at any point leaves either the old or the new
//   checkpoint with everything it covered. It streams: memory is one segment.
// - Append()/AppendBatch() are safe from any thread. Concurrent callers are grouped: one
//   leader writes everyone's records with one write() (and one fdatasync under
//   SyncPolicy::kAlways). When it returns OK the records are in the OS and survive the
//   process being killed; under kAlways they are also on stable storage; under kInterval
//   a background thread syncs every sync_interval.
// - A failed fsync makes the log fail every later append (Unavailable): after a failed
//   fsync the page cache cannot be trusted, so the owner must reopen. A failed write (a
//   full disk) cuts the partial batch off and refuses appends until a retry, at most once
//   a second, can start a fresh segment: writing resumes by itself once space returns.
// - Records never span segments; a segment is rolled when the next batch would pass
//   segment_bytes. Owners drop old segments with RemoveSegmentsBefore() once what they
//   hold is persisted elsewhere.
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
#include "selfmon/metrics.h"

namespace pharos::wal {

enum class SyncPolicy {
  kAlways,    // fdatasync before acknowledging (group commit amortizes it)
  kInterval,  // acknowledge once written to the OS; fdatasync every sync_interval
};

struct Options {
  std::string dir;
  uint64_t segment_bytes = 64ULL << 20;
  uint32_t max_record_bytes = 64U << 20;
  SyncPolicy sync = SyncPolicy::kInterval;
  Duration sync_interval = std::chrono::milliseconds(200);
  Env* env = DefaultEnv();
  selfmon::Registry* registry = nullptr;  // optional: where to declare WAL metrics
  /// A record the replay callback refuses is cut off like a torn tail (the repair an
  /// operator asks for), instead of failing Open().
  bool truncate_at_bad_record = false;
  /// With truncate_at_bad_record: find and report what a repair would drop, change nothing.
  bool repair_dry_run = false;
};

/// Where a replayed record starts: the file ("00000003", "checkpoint.00000003") and the
/// byte offset of its header.
struct RecordPosition {
  std::string_view file;
  uint64_t offset = 0;
};

struct ReplayReport {
  uint64_t records = 0;
  uint64_t segments = 0;
  uint64_t bytes = 0;
  bool repaired = false;       // a torn or corrupt tail was cut off
  uint64_t dropped_bytes = 0;  // bytes removed by the repair
  std::string repair_reason;   // what was wrong, with segment and offset
};

/// Called for each replayed record; the view is valid during the call only. An error
/// stops the replay and fails Open() (see Options::truncate_at_bad_record).
using ReplayFn = std::function<Status(std::string_view record, const RecordPosition& at)>;

/// For Checkpoint(): returns whether to keep the record, writing what to keep into `kept`
/// (the record itself, or a filtered copy). An error stops the checkpoint; nothing changes.
using CheckpointFilter = std::function<Result<bool>(std::string_view record, std::string& kept)>;

struct CheckpointReport {
  uint64_t records_read = 0;
  uint64_t records_kept = 0;
  uint64_t bytes = 0;  // of the new checkpoint
};

class Wal {
 public:
  virtual ~Wal() = default;

  static Result<std::unique_ptr<Wal>> Open(const Options& options, const ReplayFn& replay,
                                           ReplayReport* report);

  virtual Status Append(std::string_view record) = 0;
  virtual Status AppendBatch(std::span<const std::string_view> records) = 0;
  /// fdatasync now.
  virtual Status Sync() = 0;
  /// Starts a new segment; returns its number. Records appended after the call land there.
  virtual Result<uint64_t> Roll() = 0;
  virtual Status RemoveSegmentsBefore(uint64_t segment) = 0;
  /// See the contract above. `segment` must be a segment number Roll() returned.
  virtual Result<CheckpointReport> Checkpoint(uint64_t segment, const CheckpointFilter& filter) = 0;
  /// Segment numbers on disk, ascending.
  virtual std::vector<uint64_t> Segments() const = 0;
  /// Syncs and stops the background thread; later appends fail.
  virtual Status Close() = 0;
};

/// The file name of a segment ("00000042").
std::string SegmentName(uint64_t segment);
/// The file name of the checkpoint that covers every segment before `segment`.
std::string CheckpointName(uint64_t segment);

}  // namespace pharos::wal
