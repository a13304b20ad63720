// tsdb: Pharos's embedded time-series store for metrics.
//
// Contract:
// - Db::Open() replays the write-ahead log into the in-memory head and is then ready.
//   Every method is safe for concurrent use.
// - Append() validates each series (label names, sizes and counts, a metric name, series
//   limits) and each sample (order per series, out-of-order window, not before the head's
//   minimum time, not more than future_limit ahead of the clock), writes what it accepts to
//   the WAL, and only then makes it visible and returns. When it returns OK, the accepted
//   samples survive a kill -9; a WAL failure returns Unavailable and nothing is
//   acknowledged. Rejected series and samples are counted by reason and described in
//   AppendResult (each message bounded, naming the series abbreviated); they never fail the
//   samples around them.
// - Replay never drops a sample the WAL holds, whatever the order of its records: samples
//   are applied regardless of the out-of-order window; what cannot be applied (an unknown
//   series, a conflicting value) is counted and logged with its segment and offset.
// - A Querier sees a consistent view of each series at the time it reads it. A select
//   streams: it holds the selected series' labels and one series' samples at a time. Matchers
//   follow Prometheus: a matcher that matches the empty string also selects series that
//   lack the label.
// - Label sets are sorted by name with unique names; a label with an empty value is the
//   same as an absent label and is dropped on the way in.
// - A background worker cuts the head into immutable blocks once it spans 1.5 block
//   durations, checkpoints the WAL, merges runs of small blocks and deletes blocks past
//   retention. Queries see blocks and head as one store. The head's minimum time never
//   passes the clock minus the out-of-order window, so no sample, however far ahead its
//   clock, can stop current ingestion. A cut pauses appends only to roll the WAL and to
//   drop emptied series (pharos_tsdb_append_pause_seconds).
#pragma once

#include <bit>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/env.h"
#include "common/mutex.h"
#include "common/status.h"
#include "common/units.h"
#include "model/model.h"
#include "selfmon/metrics.h"

namespace pharos::tsdb {

// The label model is model's; these names keep tsdb's API (and its callers) spelled as before.
using model::Label;
using model::Labels;
using model::LabelView;
using model::Matcher;
using model::MatchType;

using model::AppendResult;
using model::IsStaleNaN;
using model::kStaleNaNBits;
using model::Sample;
using model::SeriesInput;
using model::StaleNaN;

struct Limits {
  uint64_t max_series = 10'000'000;
  uint64_t max_series_per_metric = 1'000'000;
  uint32_t max_labels_per_series = 64;
  uint32_t max_label_name_bytes = 256;
  uint32_t max_label_value_bytes = 4096;
};

/// Steps of a cut and a merge, named for tests that act in between (a write during a cut).
enum class MaintenanceStep { kCutWalRolled, kCutBlockWritten, kCutCheckpointed, kMergeWritten };

struct Options {
  std::string dir;  // the TSDB's own directory (WAL under dir/wal, blocks under dir/blocks)
  Duration out_of_order_window = std::chrono::minutes(10);
  /// Samples further ahead of the clock than this are refused (too_far_in_future).
  Duration future_limit = std::chrono::minutes(10);
  /// The head is cut into a block of this span once it holds 1.5 times as much.
  Duration block_duration = std::chrono::hours(2);
  /// Blocks entirely older than this are deleted; 0 keeps everything.
  Duration retention = std::chrono::hours(24 * 15);
  /// Oldest blocks are deleted while all blocks together are larger; 0: no size limit.
  uint64_t retention_bytes = 0;
  /// How often the background worker cuts, merges and expires blocks.
  Duration maintenance_interval = std::chrono::minutes(1);
  bool wal_sync_always = false;
  Duration wal_sync_interval = std::chrono::milliseconds(200);
  uint64_t wal_segment_bytes = 64ULL << 20;
  /// At start-up, a WAL record that cannot be decoded truncates the WAL there (what is
  /// dropped is logged) instead of failing Open(); the operator's explicit repair.
  bool wal_truncate_at_bad_record = false;
  /// With wal_truncate_at_bad_record: only report what the repair would drop (Recovery()).
  bool wal_repair_dry_run = false;
  Limits limits;
  /// Threads that decode a large select's series ahead of the query reading them, on other
  /// cores (0: each query decodes on its own thread).
  int read_threads = static_cast<int>(std::thread::hardware_concurrency());
  /// Files, the clock (the future limit, the cut boundary, retention) and randomness.
  Env* env = DefaultEnv();
  /// Called after each step of a cut or merge (tests only).
  std::function<void(MaintenanceStep)> on_step;
};

struct SeriesData {
  Labels labels;
  std::vector<Sample> samples;  // ascending by time
};

/// What a select is for, as Prometheus's SelectHints: the store may read less. The range
/// narrows the querier's; `limit` stops the set after that many series.
struct SelectHints {
  int64_t mint = INT64_MIN;  // ms, inclusive
  int64_t maxt = INT64_MAX;
  int64_t step_ms = 0;   // the query's step (0: instant)
  int64_t range_ms = 0;  // a range selector's window
  std::string_view func;
  uint64_t limit = 0;  // 0: every series
};

/// The series of one select, in label order, loaded one at a time: only the current
/// series' samples are in memory, so a caller can count and stop as it goes.
class SeriesSet {
 public:
  virtual ~SeriesSet() = default;
  /// Moves to the next series that has samples in the range; false at the end or on an
  /// error (then status() says which).
  virtual bool Next() = 0;
  /// The current series' labels and samples (ascending, one per timestamp, head and
  /// blocks merged); valid until the next call of Next().
  virtual const Labels& labels() const = 0;
  virtual const std::vector<Sample>& samples() const = 0;
  /// Moves the current samples out (the caller keeps them; the set reads the next anew).
  virtual std::vector<Sample> TakeSamples() = 0;
  /// Exchanges the current samples with `other`: the caller gets them and the set reuses
  /// the caller's previous buffer for the next series (no allocation per series).
  virtual void SwapSamples(std::vector<Sample>& other) = 0;
  /// How many samples were read for the current series (before a transform).
  virtual uint64_t loaded() const = 0;
  /// Runs `fn` on each series' samples on the thread that decodes them (a read-ahead
  /// thread for a large select) before Next() hands them out, so that a range function
  /// turning raw samples into per-step results computes on other cores too. Set it before
  /// the first Next(); `fn` must be thread-safe. A series with samples in range is handed
  /// out even when `fn` leaves none.
  virtual void SetTransform(std::function<void(std::vector<Sample>&)> fn) = 0;
  virtual Status status() const = 0;
};

class Querier {
 public:
  virtual ~Querier() = default;
  /// The series matching all `matchers`, streamed in label order. Series without a sample
  /// in [mint, maxt] (narrowed by the hints) are left out.
  virtual Result<std::unique_ptr<SeriesSet>> SelectSeries(std::span<const Matcher> matchers,
                                                          const SelectHints& hints = {}) = 0;
  /// Every series of SelectSeries() with all their samples in memory at once: for small
  /// selections (rules, tests). Queries stream.
  Result<std::vector<SeriesData>> Select(std::span<const Matcher> matchers);
  /// Label sets only, for series with samples in [mint, maxt].
  virtual Result<std::vector<Labels>> Series(std::span<const Matcher> matchers) = 0;
  /// Sorted label names (of series matching `matchers`, or all when empty).
  virtual Result<std::vector<std::string>> LabelNames(std::span<const Matcher> matchers) = 0;
  /// Sorted values of `name`.
  virtual Result<std::vector<std::string>> LabelValues(const std::string& name,
                                                       std::span<const Matcher> matchers) = 0;
};

struct Stats {
  uint64_t num_blocks = 0;
  uint64_t blocks_bytes = 0;
  uint64_t blocks_samples = 0;
  int64_t min_append_time = 0;  // ms: older samples are refused (they belong to blocks)
  uint64_t num_series = 0;
  uint64_t num_samples = 0;
  uint64_t num_chunks = 0;
  int64_t min_time = 0;  // ms; 0 when empty
  int64_t max_time = 0;
  uint64_t num_label_pairs = 0;
  struct Count {
    std::string name;
    uint64_t value;
  };
  std::vector<Count> series_count_by_metric_name;
  std::vector<Count> label_value_count_by_label_name;
  std::vector<Count> memory_in_bytes_by_label_name;
  std::vector<Count> series_count_by_label_value_pair;
};

/// What Open() found and did while recovering the WAL.
struct RecoveryReport {
  uint64_t wal_records = 0;
  uint64_t samples = 0;       // applied to the head
  bool wal_repaired = false;  // a torn or bad tail was cut (or would be, in a dry run)
  std::string wal_repair;     // where and why
  uint64_t wal_dropped_bytes = 0;
  uint64_t unknown_series_samples = 0;
  uint64_t conflicting_samples = 0;
};

/// The metrics store; as a model::MetricsSink it is what metric receivers write to.
class Db : public model::MetricsSink {
 public:
  static Result<std::unique_ptr<Db>> Open(const Options& options, selfmon::Registry& registry);

  /// See the contract above. `result` is filled even when an error is returned.
  Status Append(std::span<const SeriesInput> batch, AppendResult& result) override = 0;
  virtual std::unique_ptr<Querier> Query(int64_t mint, int64_t maxt) = 0;
  /// Head statistics with the top `limit` entries per list, as /api/v1/status/tsdb shows.
  virtual Stats GetStats(size_t limit) = 0;
  /// Cuts the head into a block now: every sample older than the clock minus the
  /// out-of-order window (all of them when the newest is older), so that current samples
  /// are still accepted afterwards. Used by the flush admin endpoint and benchmarks.
  virtual Status Flush() = 0;
  virtual RecoveryReport Recovery() const = 0;
  /// The store's clock (Options::env): what ingest paths stamp samples with.
  int64_t NowMs() const override = 0;
  /// Runs one round of background maintenance now: cut, merge, expire.
  virtual Status Maintain() = 0;
  virtual Status Close() = 0;
};

/// Exemplars in memory, as Prometheus keeps them (its circular exemplar storage): the
/// newest `capacity` of all series together, lost on restart. As a model::ExemplarSink it
/// takes them from generators (span metrics); Select answers /api/v1/query_exemplars.
/// Thread-safe.
class ExemplarStore : public model::ExemplarSink {
 public:
  explicit ExemplarStore(size_t capacity = 100'000) : capacity_(capacity) {}
  void AppendExemplars(std::span<const model::ExemplarInput> exemplars) override;
  struct SeriesExemplars {
    Labels series;
    std::vector<model::Exemplar> exemplars;  // oldest first
  };
  /// The exemplars in [mint_ms, maxt_ms] of the series every matcher matches, by series
  /// (sorted by labels).
  std::vector<SeriesExemplars> Select(std::span<const Matcher> matchers, int64_t mint_ms,
                                      int64_t maxt_ms);

 private:
  struct Entry {
    std::string series_key;
    model::Exemplar exemplar;
  };
  const size_t capacity_;
  Mutex mu_;
  std::deque<Entry> entries_ PHAROS_GUARDED_BY(mu_);  // oldest first
  struct Series {
    Labels labels;
    size_t exemplars = 0;  // in entries_
  };
  std::map<std::string, Series> series_ PHAROS_GUARDED_BY(mu_);
};

}  // namespace pharos::tsdb
