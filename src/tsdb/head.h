// Internal to tsdb: the in-memory head. Series are interned label sets with compressed
// chunks; an inverted index maps label pairs to series refs. See README.md.
#pragma once

#include <array>
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/mutex.h"
#include "tsdb/chunk.h"
#include "tsdb/head_index.h"
#include "tsdb/tsdb.h"

namespace pharos::tsdb {

/// Interned strings, counted by the series that hold them. Lookups take no lock: blocks of
/// ids are preallocated and published. A string no series holds any more is freed one
/// collection after it was released, and its id is reused: by then no query can hold it
/// (a cut waits for the readers of the block list it replaces before it collects).
class SymbolTable {
 public:
  SymbolTable();
  /// The id of `s`, interning it; one more reference.
  uint32_t Intern(std::string_view s);
  /// One reference fewer for each id (a series that held them left the head).
  void Release(std::span<const uint32_t> ids);
  /// Frees the strings released to no reference before this call and not interned again
  /// since; returns how many. Called at the start of a head collection, so what it frees
  /// was released by an earlier one.
  size_t Sweep();
  /// Strings held (interned and not freed).
  size_t live() const;
  /// The id of `s`, or 0 when it was never interned (id 0 is the empty string).
  uint32_t Find(std::string_view s) const;
  std::string_view Get(uint32_t id) const {
    return blocks_[id >> kBlockBits].load(std::memory_order_acquire)[id & kBlockMask];
  }
  size_t size() const { return count_.load(std::memory_order_acquire); }

 private:
  static constexpr uint32_t kBlockBits = 16;
  static constexpr uint32_t kBlockMask = (1u << kBlockBits) - 1;
  static constexpr uint32_t kMaxBlocks = 1u << 14;
  std::atomic<uint32_t>& Refs(uint32_t id) const {
    return refs_[id >> kBlockBits].load(std::memory_order_acquire)[id & kBlockMask];
  }

  mutable SharedMutex mu_;
  std::deque<std::string> strings_ PHAROS_GUARDED_BY(mu_);
  // Reference counts, in blocks parallel to `blocks_`.
  std::unique_ptr<std::atomic<std::atomic<uint32_t>*>[]> refs_;
  std::vector<std::unique_ptr<std::atomic<uint32_t>[]>> owned_refs_ PHAROS_GUARDED_BY(mu_);
  std::vector<uint32_t> free_ids_ PHAROS_GUARDED_BY(mu_);
  std::vector<uint32_t> released_ PHAROS_GUARDED_BY(mu_);  // reached zero since the last Sweep
  std::unordered_map<std::string_view, uint32_t> ids_ PHAROS_GUARDED_BY(mu_);
  std::unique_ptr<std::atomic<std::string_view*>[]> blocks_;
  std::vector<std::unique_ptr<std::string_view[]>> owned_ PHAROS_GUARDED_BY(mu_);
  std::atomic<uint32_t> count_{0};
};

struct ClosedChunk {
  int64_t min_t;
  int64_t max_t;
  std::string data;
};

/// What a series has only after a while or rarely: closed chunks and out-of-order samples,
/// allocated when first needed (a fresh series is all head chunk).
struct SeriesHistory {
  std::vector<ClosedChunk> closed;
  std::vector<Sample> out_of_order;  // sorted by t
};

struct MemSeries;
struct MemSeriesDeleter {
  void operator()(MemSeries* s) const;
};
using MemSeriesPtr = std::unique_ptr<MemSeries, MemSeriesDeleter>;

/// One series, in one allocation with its label symbols (72 bytes and 8 a label: a
/// million series is a few hundred megabytes, so every field counts). Label symbols are
/// fixed at creation; everything else is guarded by the series' stripe lock (Head::Stripe).
struct MemSeries {
  /// A series with these label symbols (name, value, name, value... sorted by name).
  static MemSeriesPtr New(std::span<const uint32_t> label_syms);
  std::span<const uint32_t> label_syms() const {
    return {reinterpret_cast<const uint32_t*>(this + 1), num_label_syms};
  }
  /// The last in-order sample's timestamp (INT64_MIN before any) and value bits: later
  /// appends are ordered against them.
  int64_t max_t() const { return chunk.last_t(); }
  uint64_t last_bits() const { return chunk.last_bits(); }
  bool HoldsNoSamples() const {
    return chunk.count() == 0 &&
           (!history || (history->closed.empty() && history->out_of_order.empty()));
  }

  uint64_t ref = 0;
  XorChunk chunk;  // in-order samples after the closed chunks
  std::unique_ptr<SeriesHistory> history;
  uint32_t num_label_syms = 0;
  uint32_t label_hash = 0;  // the low bits of Head::HashLabels, for the series table
  bool deleted = false;     // removed from the index by Collect
  /// Its series record is in the WAL; until then every request that writes samples for it
  /// logs the record too, so that no samples record precedes its series record.
  std::atomic<bool> logged{false};
};

enum class SampleVerdict {
  kAppend,      // in order
  kOutOfOrder,  // older than max_t but inside the window
  kDuplicate,   // same timestamp and value as stored: accepted, nothing to do
  kConflict,    // same timestamp, another value
  kTooOld,      // older than the out-of-order window allows
};

class Head {
 public:
  Head(const Options& options);

  static constexpr size_t kStripes = 4096;
  std::mutex& Stripe(uint64_t ref) { return stripes_[ref & (kStripes - 1)]; }

  /// The series with exactly these (sorted, validated) labels, or nullptr.
  MemSeries* Find(std::span<const LabelView> labels, uint64_t hash);
  /// Creates the series; `ref` 0 assigns the next ref, as does a `ref` another series
  /// holds (replay of a damaged WAL). Returns the existing series when another thread
  /// created it first (its ref may differ from `ref`).
  MemSeries* Create(std::span<const LabelView> labels, uint64_t hash, uint64_t ref, bool& created);
  MemSeries* ByRef(uint64_t ref) const;
  uint64_t NumSeries() const { return num_series_.load(std::memory_order_relaxed); }
  /// Series currently carrying this metric name.
  uint64_t SeriesForMetric(std::string_view name) const;

  /// Requires the stripe lock. Without `enforce_window` a sample older than the series'
  /// newest is accepted however old (down to the minimum append time): for samples the WAL
  /// already holds.
  SampleVerdict Check(const MemSeries& s, int64_t t, double v, bool enforce_window = true) const;
  /// Requires the stripe lock; `verdict` from Check.
  void Apply(MemSeries& s, SampleVerdict verdict, int64_t t, double v);
  /// Appends the samples of `s` in [mint, maxt] to `out`, ascending; requires the stripe
  /// lock.
  void Read(const MemSeries& s, int64_t mint, int64_t maxt, std::vector<Sample>& out) const;

  /// Refs of series matching every matcher, ascending.
  std::vector<uint64_t> Postings(std::span<const Matcher> matchers) const;
  Labels LabelsOf(const MemSeries& s) const;
  /// The series' labels into `out`, reusing its strings.
  void LabelsOf(const MemSeries& s, Labels& out) const;
  /// Label order (as LabelsLess) of two series, compared through the interned strings:
  /// negative, zero or positive.
  int CompareLabels(const MemSeries& a, const MemSeries& b) const;
  /// An interned string; the view lives as long as the head.
  std::string_view Symbol(uint32_t id) const { return symbols_.Get(id); }
  std::vector<std::string> LabelNames() const;
  std::vector<std::string> LabelValues(std::string_view name) const;
  Stats GetStats(size_t limit) const;
  uint64_t NumChunks() const { return num_chunks_.load(std::memory_order_relaxed); }
  /// One past the highest series ref handed out.
  uint64_t RefLimit() const;
  /// Slots of the ref table (live series and the dead ones between them), for tests.
  size_t RefSlots() const;
  /// Interned strings currently held, for tests and statistics.
  size_t LiveSymbols() const { return symbols_.live(); }
  /// New series get refs from `limit` on (refs of series that left the head stay unused).
  void RaiseRefLimit(uint64_t limit);

  /// Samples older than `t` are refused from now on (they belong to blocks).
  void SetMinAppendTime(int64_t t) { min_append_t_.store(t, std::memory_order_release); }
  int64_t MinAppendTime() const { return min_append_t_.load(std::memory_order_acquire); }
  /// Reads skip samples older than `t` (a block serves them).
  void SetMinReadTime(int64_t t) { min_read_t_.store(t, std::memory_order_release); }
  /// Drops the series' samples older than `boundary`; requires the stripe lock.
  void Truncate(MemSeries& s, int64_t boundary);
  /// Refs of series that hold no samples any more (all went into blocks). Takes only
  /// stripe locks, so appends go on meanwhile.
  std::vector<uint64_t> EmptySeries() const;
  /// Removes those of `candidates` that are still empty from the index, so they count
  /// against no limit. Their memory is freed at the next collection, as a query may still
  /// hold them. The caller keeps appends out while this runs (it is short: the candidates).
  size_t Collect(std::span<const uint64_t> candidates);
  int64_t MinTime() const { return min_t_.load(std::memory_order_relaxed); }
  int64_t MaxTime() const { return max_t_.load(std::memory_order_relaxed); }

  static uint64_t HashLabels(std::span<const LabelView> labels);

 private:
  class IndexView;
  static constexpr size_t kHashShards = 256;
  struct HashShard {
    Mutex mu;
    SeriesTable table PHAROS_GUARDED_BY(mu);
  };
  static uint64_t PairKey(uint32_t name, uint32_t value) {
    return (static_cast<uint64_t>(name) << 32) | value;
  }
  bool SameLabels(const MemSeries& s, std::span<const LabelView> labels) const;
  std::vector<uint64_t> AllRefs() const PHAROS_REQUIRES_SHARED(index_mu_);
  // Union of postings of `name`'s values that satisfy `pred` (index lock held).
  template <typename Pred>
  std::vector<uint64_t> UnionWhere(uint32_t name, Pred pred) const
      PHAROS_REQUIRES_SHARED(index_mu_);

  Options options_;
  SymbolTable symbols_;
  std::array<std::mutex, kStripes> stripes_;
  std::array<HashShard, kHashShards> shards_;
  mutable SharedMutex index_mu_;
  // [ref - ref_base_]: refs are handed out in increasing order and never reused, so under
  // churn the oldest refs die first; Collect drops the dead slots at the front, and the
  // table stays as long as the span of live refs, not every series ever created.
  std::deque<MemSeriesPtr> by_ref_ PHAROS_GUARDED_BY(index_mu_);
  uint64_t ref_base_ PHAROS_GUARDED_BY(index_mu_) = 0;
  std::unordered_map<uint64_t, PostingList> postings_ PHAROS_GUARDED_BY(index_mu_);
  std::unordered_map<uint32_t, std::vector<uint32_t>> values_ PHAROS_GUARDED_BY(index_mu_);
  std::unordered_map<uint32_t, uint64_t> series_per_metric_ PHAROS_GUARDED_BY(index_mu_);
  uint64_t next_ref_ PHAROS_GUARDED_BY(index_mu_) = 1;
  // Freed at the next collection.
  std::vector<MemSeriesPtr> graveyard_ PHAROS_GUARDED_BY(index_mu_);
  std::atomic<uint64_t> num_series_{0};
  std::atomic<uint64_t> num_chunks_{0};
  std::atomic<int64_t> min_t_{INT64_MAX};
  std::atomic<int64_t> min_append_t_{INT64_MIN};
  std::atomic<int64_t> min_read_t_{INT64_MIN};
  std::atomic<int64_t> max_t_{INT64_MIN};
};

}  // namespace pharos::tsdb
