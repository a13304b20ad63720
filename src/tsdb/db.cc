#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "common/units.h"
#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/series_set.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal_records.h"
#include "wal/wal.h"

namespace pharos::tsdb {
namespace {

constexpr size_t kMaxErrorsReported = 8;
constexpr size_t kSamplesPerRecord = 100'000;  // keeps WAL records well under their cap

struct TsdbMetrics {
  explicit TsdbMetrics(selfmon::Registry& r)
      : series(r.AddGauge("pharos_tsdb_head_series", "Series in the head.").WithLabels({})),
        series_created(
            r.AddCounter("pharos_tsdb_head_series_created_total", "Series created in the head.")
                .WithLabels({})),
        chunks(r.AddGauge("pharos_tsdb_head_chunks", "Chunks in the head.").WithLabels({})),
        samples_appended(r.AddCounter("pharos_tsdb_head_samples_appended_total",
                                      "Samples accepted into the head.")
                             .WithLabels({})),
        out_of_order(r.AddCounter("pharos_tsdb_out_of_order_samples_appended_total",
                                  "Samples accepted inside the out-of-order window.")
                         .WithLabels({})),
        rejected_samples(r.AddCounter("pharos_tsdb_rejected_samples_total",
                                      "Samples refused, by reason.", {"reason"})),
        rejected_series(r.AddCounter("pharos_tsdb_rejected_series_total",
                                     "Series refused with all their samples, by reason.",
                                     {"reason"})),
        min_time(
            r.AddGauge("pharos_tsdb_head_min_time_seconds", "Lowest sample timestamp in the head.")
                .WithLabels({})),
        max_time(
            r.AddGauge("pharos_tsdb_head_max_time_seconds", "Highest sample timestamp in the head.")
                .WithLabels({})),
        blocks(r.AddGauge("pharos_tsdb_blocks", "Blocks on disk.").WithLabels({})),
        blocks_bytes(r.AddGauge("pharos_tsdb_blocks_bytes", "Bytes of all blocks.").WithLabels({})),
        blocks_cut(r.AddCounter("pharos_tsdb_head_cuts_total", "Blocks cut from the head.")
                       .WithLabels({})),
        blocks_merged(r.AddCounter("pharos_tsdb_blocks_merged_total",
                                   "Blocks merged into larger ones (inputs).")
                          .WithLabels({})),
        blocks_expired(r.AddCounter("pharos_tsdb_blocks_expired_total",
                                    "Blocks deleted by time or size retention.")
                           .WithLabels({})),
        corrupt_blocks(r.AddCounter("pharos_tsdb_corrupt_blocks_total",
                                    "Blocks that could not be read at start and were set aside.")
                           .WithLabels({})),
        replay_unapplied(r.AddCounter("pharos_tsdb_wal_replay_unapplied_samples_total",
                                      "WAL samples replay could not apply, by reason (each "
                                      "logged with its segment and offset).",
                                      {"reason"})),
        append_pause(r.AddHistogram("pharos_tsdb_append_pause_seconds",
                                    "How long maintenance kept appends waiting (dropping "
                                    "emptied series from the head).",
                                    {}, selfmon::LatencyBuckets())
                         .WithLabels({})),
        leftover_blocks(r.AddCounter("pharos_tsdb_leftover_blocks_removed_total",
                                     "Inputs of an interrupted merge removed at start (a "
                                     "merged block covers them).")
                            .WithLabels({})) {
    for (const char* reason :
         {"out_of_order", "too_old", "too_far_in_future", "duplicate_timestamp"}) {
      rejected_samples.WithLabels({reason});
    }
    for (const char* reason :
         {"invalid_labels", "no_labels", "missing_metric_name", "too_many_labels",
          "label_name_too_long", "label_value_too_long", "max_series", "max_series_per_metric"}) {
      rejected_series.WithLabels({reason});
    }
    for (const char* reason : {"unknown_series", "conflict"}) replay_unapplied.WithLabels({reason});
  }
  selfmon::Gauge& series;
  selfmon::Counter& series_created;
  selfmon::Gauge& chunks;
  selfmon::Counter& samples_appended;
  selfmon::Counter& out_of_order;
  selfmon::Family<selfmon::Counter>& rejected_samples;
  selfmon::Family<selfmon::Counter>& rejected_series;
  selfmon::Gauge& min_time;
  selfmon::Gauge& max_time;
  selfmon::Gauge& blocks;
  selfmon::Gauge& blocks_bytes;
  selfmon::Counter& blocks_cut;
  selfmon::Counter& blocks_merged;
  selfmon::Counter& blocks_expired;
  selfmon::Counter& corrupt_blocks;
  selfmon::Family<selfmon::Counter>& replay_unapplied;
  selfmon::Histogram& append_pause;
  selfmon::Counter& leftover_blocks;
};

// Lets appends run together and maintenance keep them out for a moment. Unlike
// std::shared_mutex (glibc prefers readers), a waiting Close() is never starved by a
// steady stream of appends: new ones wait behind it.
class AppendGate {
 public:
  void Enter() {
    MutexLock lock(mu_);
    while (closed_) cv_.wait(lock.native());
    ++active_;
  }
  void Leave() {
    MutexLock lock(mu_);
    if (--active_ == 0 && closed_) cv_.notify_all();
  }
  /// Waits for the appends in flight and keeps new ones out until Open().
  void Close() {
    MutexLock lock(mu_);
    closed_ = true;
    while (active_ != 0) cv_.wait(lock.native());
  }
  void Open() {
    {
      MutexLock lock(mu_);
      closed_ = false;
    }
    cv_.notify_all();
  }

 private:
  Mutex mu_;
  std::condition_variable cv_;
  uint64_t active_ PHAROS_GUARDED_BY(mu_) = 0;
  bool closed_ PHAROS_GUARDED_BY(mu_) = false;
};

class GateEntry {
 public:
  explicit GateEntry(AppendGate& gate) : gate_(gate) { gate_.Enter(); }
  ~GateEntry() { gate_.Leave(); }
  GateEntry(const GateEntry&) = delete;
  GateEntry& operator=(const GateEntry&) = delete;

 private:
  AppendGate& gate_;
};

class StoreQuerier final : public Querier {
 public:
  StoreQuerier(Head& head, std::vector<std::shared_ptr<Block>> blocks, ReaderEpoch epoch,
               int64_t mint, int64_t maxt, TaskPool* pool)
      : head_(head), epoch_(std::move(epoch)), mint_(mint), maxt_(maxt), pool_(pool) {
    for (auto& b : blocks) {
      if (b->meta().max_t >= mint && b->meta().min_t <= maxt) blocks_.push_back(std::move(b));
    }
  }

  Result<std::unique_ptr<SeriesSet>> SelectSeries(std::span<const Matcher> matchers,
                                                  const SelectHints& hints) override {
    int64_t mint = std::max(mint_, hints.mint);
    int64_t maxt = std::min(maxt_, hints.maxt);
    std::vector<SeriesRef> refs;
    std::vector<uint32_t> symbols;  // every series' label symbols, end to end
    Block::SeriesEntry entry;
    for (size_t b = 0; b < blocks_.size(); ++b) {
      const Block& block = *blocks_[b];
      Result<std::vector<uint64_t>> ids = block.Postings(matchers);
      if (!ids.ok()) return ids.status();
      for (uint64_t id : *ids) {
        PHAROS_RETURN_IF_ERROR(block.Entry(id, entry));
        if (entry.max_t < mint || entry.min_t > maxt) continue;
        refs.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(entry.label_syms.size()),
                        symbols.size(), id});
        symbols.insert(symbols.end(), entry.label_syms.begin(), entry.label_syms.end());
      }
    }
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (s == nullptr) continue;
      // Label symbols never change and interned strings live as long as the head, so the
      // set keeps symbol ids (about 40 bytes a series), not the series or its labels.
      std::span<const uint32_t> syms = s->label_syms();
      refs.push_back({SeriesRef::kHead, static_cast<uint32_t>(syms.size()), symbols.size(), ref});
      symbols.insert(symbols.end(), syms.begin(), syms.end());
    }
    return NewStoreSeriesSet(head_, blocks_, epoch_, mint, maxt, hints.limit, std::move(refs),
                             std::move(symbols), pool_);
  }

  Result<std::vector<Labels>> Series(std::span<const Matcher> matchers) override {
    std::vector<Labels> out;
    Block::SeriesEntry entry;
    for (const auto& block : blocks_) {
      Result<std::vector<uint64_t>> ids = block->Postings(matchers);
      if (!ids.ok()) return ids.status();
      for (uint64_t id : *ids) {
        PHAROS_RETURN_IF_ERROR(block->Entry(id, entry));
        if (entry.max_t < mint_ || entry.min_t > maxt_) continue;
        out.push_back(block->LabelsOf(entry));
      }
    }
    std::vector<Sample> samples;
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        samples.clear();
        head_.Read(*s, mint_, maxt_, samples);
      }
      if (!samples.empty()) out.push_back(head_.LabelsOf(*s));
    }
    std::sort(out.begin(), out.end(), model::LabelsLess);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelNames(std::span<const Matcher> matchers) override {
    std::vector<std::string> names;
    if (matchers.empty()) {
      names = head_.LabelNames();
      for (const auto& block : blocks_) {
        Result<std::vector<std::string>> more = block->LabelNames();
        if (!more.ok()) return more.status();
        names.insert(names.end(), more->begin(), more->end());
      }
    } else {
      Result<std::vector<Labels>> series = Series(matchers);
      if (!series.ok()) return series.status();
      for (const Labels& ls : *series) {
        for (const Label& l : ls) names.push_back(l.name);
      }
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  Result<std::vector<std::string>> LabelValues(const std::string& name,
                                               std::span<const Matcher> matchers) override {
    std::vector<std::string> values;
    if (matchers.empty()) {
      values = head_.LabelValues(name);
      for (const auto& block : blocks_) {
        Result<std::vector<std::string>> more = block->LabelValues(name);
        if (!more.ok()) return more.status();
        values.insert(values.end(), more->begin(), more->end());
      }
    } else {
      Result<std::vector<Labels>> series = Series(matchers);
      if (!series.ok()) return series.status();
      for (const Labels& ls : *series) {
        for (const Label& l : ls) {
          if (l.name == name) values.push_back(l.value);
        }
      }
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
  }

 private:
  Head& head_;
  std::vector<std::shared_ptr<Block>> blocks_;
  ReaderEpoch epoch_;
  int64_t mint_;
  int64_t maxt_;
  TaskPool* pool_;
};

class DbImpl final : public Db {
 public:
  DbImpl(const Options& options, selfmon::Registry& registry)
      : options_(options), registry_(registry), metrics_(registry), head_(options) {
    if (options_.read_threads > 0) read_pool_ = std::make_unique<TaskPool>(options_.read_threads);
  }

  ~DbImpl() override { (void)Close(); }

  Status OpenWal() {
    wal::Options wo;
    wo.dir = options_.dir + "/wal";
    wo.env = options_.env;
    wo.segment_bytes = options_.wal_segment_bytes;
    wo.sync = options_.wal_sync_always ? wal::SyncPolicy::kAlways : wal::SyncPolicy::kInterval;
    wo.sync_interval = options_.wal_sync_interval;
    wo.registry = &registry_;
    wo.truncate_at_bad_record = options_.wal_truncate_at_bad_record;
    wo.repair_dry_run = options_.wal_repair_dry_run;
    auto start = std::chrono::steady_clock::now();
    Replayer replayer(*this);
    wal::ReplayReport report;
    Result<std::unique_ptr<wal::Wal>> opened = wal::Wal::Open(
        wo,
        [&](std::string_view record, const wal::RecordPosition& at) {
          return replayer.Record(record, at);
        },
        &report);
    if (!opened.ok()) return opened.status();
    wal_ = std::move(opened).value();
    replayer.Finish();
    replay_aliases_ = replayer.AliasRefs();
    recovery_.wal_records = report.records;
    recovery_.samples = replayer.applied;
    recovery_.wal_repaired = report.repaired;
    recovery_.wal_repair = report.repair_reason;
    recovery_.wal_dropped_bytes = report.dropped_bytes;
    recovery_.unknown_series_samples = replayer.unknown;
    recovery_.conflicting_samples = replayer.conflicts;
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LogInfo("TSDB WAL replayed", {{"records", recovery_.wal_records},
                                  {"segments", report.segments},
                                  {"series", head_.NumSeries()},
                                  {"samples", recovery_.samples},
                                  {"seconds", seconds},
                                  {"repaired", recovery_.wal_repaired},
                                  {"repair", recovery_.wal_repair},
                                  {"unknown_series_samples", recovery_.unknown_series_samples},
                                  {"conflicting_samples", recovery_.conflicting_samples}});
    UpdateGauges();
    return Status::Ok();
  }

  // Applies WAL records to the head in any order: samples go in regardless of the
  // out-of-order window (the WAL holds only what was accepted), samples whose series
  // record comes later wait for the end, and what still cannot be applied is counted and
  // logged with where it is.
  class Replayer {
   public:
    explicit Replayer(DbImpl& db) : db_(db), head_(db.head_) {}

    Status Record(std::string_view record, const wal::RecordPosition& at) {
      switch (PeekType(record)) {
        case RecordType::kSeries: {
          PHAROS_RETURN_IF_ERROR(DecodeSeries(record, series_));
          for (const SeriesRecordEntry& e : series_) {
            bool created;
            MemSeries* s = head_.Create(e.labels, Head::HashLabels(e.labels), e.ref, created);
            s->logged.store(true, std::memory_order_relaxed);
            if (created) db_.metrics_.series_created.Inc();
            if (s->ref != e.ref) {
              aliases_[e.ref] = s;  // the same labels under another ref, or the ref taken
            } else {
              aliases_.erase(e.ref);
            }
          }
          return Status::Ok();
        }
        case RecordType::kSamples: {
          PHAROS_RETURN_IF_ERROR(DecodeSamples(record, samples_));
          for (const RefSample& s : samples_) {
            MemSeries* series = Lookup(s.ref);
            if (!series) {
              deferred_.push_back(Deferred{s, std::string(at.file), at.offset});
              continue;
            }
            Apply(*series, s, at.file, at.offset);
          }
          return Status::Ok();
        }
        case RecordType::kRefFloor: {
          uint64_t floor;
          PHAROS_RETURN_IF_ERROR(DecodeRefFloor(record, floor));
          head_.RaiseRefLimit(floor);
          return Status::Ok();
        }
      }
      return DataLoss(
          fmt::format("unknown TSDB WAL record type {}", static_cast<int>(PeekType(record))));
    }

    void Finish() {
      for (const Deferred& d : deferred_) {
        MemSeries* series = Lookup(d.sample.ref);
        if (!series) {
          ++unknown;
          db_.metrics_.replay_unapplied.WithLabels({"unknown_series"}).Inc();
          if (unknown <= kMaxLogged) {
            LogWarn(
                "TSDB WAL replay: sample of a series the WAL does not define",
                {{"file", d.file}, {"offset", d.offset}, {"ref", d.sample.ref}, {"t", d.sample.t}});
          }
          continue;
        }
        Apply(*series, d.sample, d.file, d.offset);
      }
      deferred_.clear();
    }

    /// Refs the WAL uses for series that replay gave another ref, and those refs.
    std::unordered_map<uint64_t, uint64_t> AliasRefs() const {
      std::unordered_map<uint64_t, uint64_t> out;
      for (const auto& [ref, series] : aliases_) out[ref] = series->ref;
      return out;
    }

    uint64_t applied = 0;
    uint64_t unknown = 0;
    uint64_t conflicts = 0;

   private:
    struct Deferred {
      RefSample sample;
      std::string file;
      uint64_t offset;
    };
    static constexpr uint64_t kMaxLogged = 10;

    MemSeries* Lookup(uint64_t ref) {
      auto it = aliases_.find(ref);
      return it != aliases_.end() ? it->second : head_.ByRef(ref);
    }

    void Apply(MemSeries& series, const RefSample& s, std::string_view file, uint64_t offset) {
      std::lock_guard<std::mutex> lock(head_.Stripe(series.ref));
      SampleVerdict verdict = head_.Check(series, s.t, s.v, /*enforce_window=*/false);
      switch (verdict) {
        case SampleVerdict::kAppend:
        case SampleVerdict::kOutOfOrder:
          head_.Apply(series, verdict, s.t, s.v);
          ++applied;
          return;
        case SampleVerdict::kDuplicate:
        case SampleVerdict::kTooOld:  // before the newest block: the block holds it
          return;
        case SampleVerdict::kConflict:
          ++conflicts;
          db_.metrics_.replay_unapplied.WithLabels({"conflict"}).Inc();
          if (conflicts <= kMaxLogged) {
            LogWarn("TSDB WAL replay: a second value for a timestamp; the first is kept",
                    {{"file", file}, {"offset", offset}, {"ref", s.ref}, {"t", s.t}});
          }
          return;
      }
    }

    DbImpl& db_;
    Head& head_;
    std::vector<SeriesRecordEntry> series_;
    std::vector<RefSample> samples_;
    std::vector<Deferred> deferred_;
    std::unordered_map<uint64_t, MemSeries*> aliases_;
  };

  Status Append(std::span<const SeriesInput> batch, AppendResult& result) override {
    // Appends run together; maintenance keeps them out only while it drops emptied series.
    GateEntry in_flight(gate_);
    thread_local Scratch scratch;
    Scratch& sc = scratch;
    sc.Clear();
    BeginSeriesRecord(sc.series_record);
    int64_t base_t = 0;
    bool base_set = false;
    const int64_t now = Now();
    const int64_t future_limit = now > INT64_MAX - options_.future_limit.count()
                                     ? INT64_MAX
                                     : now + options_.future_limit.count();

    for (const SeriesInput& in : batch) {
      MemSeries* series = Resolve(in.labels, result, sc);
      if (!series) {
        result.samples_rejected += in.samples.size();
        continue;
      }
      std::lock_guard<std::mutex> lock(head_.Stripe(series->ref));
      for (const Sample& s : in.samples) {
        if (s.t > future_limit) {
          RejectFuture(*series, s, future_limit, result);
          continue;
        }
        SampleVerdict verdict = head_.Check(*series, s.t, s.v);
        if (verdict == SampleVerdict::kConflict || verdict == SampleVerdict::kTooOld) {
          RejectSample(verdict, *series, s, result);
          continue;
        }
        if (!base_set) {
          base_t = s.t;
          base_set = true;
        }
        sc.accepted.push_back(RefSample{series->ref, s.t, s.v});
        sc.targets.push_back(series);
      }
    }

    // Durable first: log new series and accepted samples, then make them visible.
    if (sc.series_record.size() > 1) sc.records.push_back(sc.series_record);
    for (size_t i = 0; i < sc.accepted.size(); i += kSamplesPerRecord) {
      std::string record;
      BeginSamplesRecord(record, base_t);
      size_t end = std::min(sc.accepted.size(), i + kSamplesPerRecord);
      record.reserve(16 + (end - i) * 14);
      for (size_t k = i; k < end; ++k) EncodeSample(sc.accepted[k], base_t, record);
      sc.records.push_back(std::move(record));
    }
    for (const std::string& r : sc.records) sc.views.push_back(r);
    if (!sc.views.empty()) {
      Status s = wal_->AppendBatch(sc.views);
      if (!s.ok()) {
        result.samples_rejected += sc.accepted.size();
        sc.Trim();
        return s;
      }
    }
    for (MemSeries* series : sc.unlogged) series->logged.store(true, std::memory_order_release);

    uint64_t appended = 0;
    uint64_t out_of_order = 0;
    for (size_t i = 0; i < sc.accepted.size(); ++i) {
      const RefSample& s = sc.accepted[i];
      MemSeries& series = *sc.targets[i];
      std::lock_guard<std::mutex> lock(head_.Stripe(s.ref));
      // Re-check: another request may have appended to this series meanwhile. The WAL
      // holds this sample now and replay applies it whatever the window, so the window is
      // not applied again: what is acknowledged is what a restart brings back.
      SampleVerdict verdict = head_.Check(series, s.t, s.v, /*enforce_window=*/false);
      if (verdict == SampleVerdict::kConflict || verdict == SampleVerdict::kTooOld) {
        RejectSample(verdict, series, Sample{s.t, s.v}, result);
        continue;
      }
      head_.Apply(series, verdict, s.t, s.v);
      ++appended;
      if (verdict == SampleVerdict::kOutOfOrder) ++out_of_order;
    }
    result.samples_accepted += appended;
    metrics_.samples_appended.Inc(static_cast<double>(appended));
    if (out_of_order) metrics_.out_of_order.Inc(static_cast<double>(out_of_order));
    UpdateGauges();
    sc.Trim();
    return Status::Ok();
  }

  std::unique_ptr<Querier> Query(int64_t mint, int64_t maxt) override {
    ReaderLock lock(blocks_mu_);
    return std::make_unique<StoreQuerier>(head_, blocks_, epoch_, mint, maxt, read_pool_.get());
  }

  RecoveryReport Recovery() const override { return recovery_; }
  int64_t NowMs() const override { return Now(); }

  Stats GetStats(size_t limit) override {
    Stats st = head_.GetStats(limit);
    for (const auto& b : Blocks()) {
      ++st.num_blocks;
      st.blocks_bytes += b->size_bytes();
      st.blocks_samples += b->meta().num_samples;
    }
    st.min_append_time = head_.MinAppendTime() == INT64_MIN ? 0 : head_.MinAppendTime();
    return st;
  }

  // ---- blocks ----

  Status OpenBlocks() {
    blocks_dir_ = options_.dir + "/blocks";
    PHAROS_RETURN_IF_ERROR(options_.env->MakeDirs(blocks_dir_));
    Result<std::vector<std::string>> names = options_.env->ListDir(blocks_dir_);
    if (!names.ok()) return names.status();
    std::vector<std::shared_ptr<Block>> blocks;
    for (const std::string& name : *names) {
      std::string path = blocks_dir_ + "/" + name;
      if (name.size() > 4 && (name.ends_with(".tmp") || name.ends_with(".del"))) {
        // An interrupted write or delete: finish it.
        PHAROS_RETURN_IF_ERROR(options_.env->RemoveAll(path));
        continue;
      }
      // Set aside at an earlier start, for the operator: not read, not renamed again.
      if (name.ends_with(".corrupt")) continue;
      Result<std::unique_ptr<Block>> block = Block::Open(options_.env, path);
      // Only a block Open refuses for its version is looked at again: an older format is
      // rewritten in place and opened anew.
      if (!block.ok() && block.status().code() == StatusCode::kFailedPrecondition) {
        Result<uint32_t> version = BlockFormatVersion(options_.env, path);
        if (version.ok() && *version == 1) {
          LogInfo("TSDB block of format version 1: rewriting it as version 2", {{"block", name}});
          Status upgraded = UpgradeBlockFromV1(options_.env, path);
          if (upgraded.ok()) {
            block = Block::Open(options_.env, path);
          } else {
            LogError("TSDB block could not be rewritten",
                     {{"block", name}, {"error", upgraded.message()}});
          }
        }
      }
      if (!block.ok()) {
        // A damaged block is set aside, not fatal: the rest of the store still serves.
        LogError("TSDB block cannot be read; moving it aside",
                 {{"block", name}, {"error", block.status().message()}});
        metrics_.corrupt_blocks.Inc();
        (void)options_.env->Rename(path, path + ".corrupt");
        continue;
      }
      blocks.push_back(std::shared_ptr<Block>(std::move(block).value()));
    }
    std::sort(blocks.begin(), blocks.end(),
              [](const auto& a, const auto& b) { return a->meta().min_t < b->meta().min_t; });
    PHAROS_RETURN_IF_ERROR(RemoveMergedInputs(blocks));
    if (!blocks.empty()) {
      int64_t boundary = blocks.back()->meta().max_t + 1;
      head_.SetMinAppendTime(boundary);
      head_.SetMinReadTime(boundary);
    }
    SetBlocks(std::move(blocks));
    return Status::Ok();
  }

  // A merge that was interrupted after its output was renamed into place, before all its
  // inputs were deleted, leaves blocks that a higher-level block covers entirely: the
  // merged block holds all their samples, so they go (never read twice).
  Status RemoveMergedInputs(std::vector<std::shared_ptr<Block>>& blocks) {
    std::vector<std::shared_ptr<Block>> keep;
    for (const auto& b : blocks) {
      bool covered = false;
      for (const auto& other : blocks) {
        if (other != b && other->meta().level > b->meta().level &&
            other->meta().min_t <= b->meta().min_t && other->meta().max_t >= b->meta().max_t) {
          covered = true;
          break;
        }
      }
      if (!covered) {
        keep.push_back(b);
        continue;
      }
      LogWarn("TSDB block left over from an interrupted merge; removing it",
              {{"block", b->meta().id}});
      metrics_.leftover_blocks.Inc();
      PHAROS_RETURN_IF_ERROR(DeleteBlock(*b));
    }
    blocks = std::move(keep);
    return Status::Ok();
  }

  void StartMaintenance() {
    maintenance_ = std::thread([this] {
      MutexLock lock(stop_mu_);
      while (!stopping_) {
        stop_cv_.wait_for(lock.native(), options_.maintenance_interval);
        if (stopping_) break;
        lock.Unlock();
        Status s = Maintain();
        if (!s.ok()) LogError("TSDB maintenance failed", {{"error", s.message()}});
        lock.Lock();
      }
    });
  }

  Status Maintain() override {
    int64_t head_min = head_.MinTime();
    int64_t head_max = head_.MaxTime();
    int64_t span = options_.block_duration.count();
    if (head_.NumSeries() > 0 && head_min != INT64_MAX && head_max - head_min >= span + span / 2) {
      // Cut whole block-duration periods, aligned, up to the one the head's start is in;
      // never past what the out-of-order window of the clock still accepts, so a sample
      // from a clock far ahead cannot push the head's minimum time past now.
      int64_t boundary = (FloorDiv(head_min, span) + 1) * span;
      if (boundary <= OldestAcceptable()) PHAROS_RETURN_IF_ERROR(Cut(boundary));
    }
    PHAROS_RETURN_IF_ERROR(MergeBlocks());
    return ApplyRetention();
  }

  Status Flush() override {
    int64_t head_max = head_.MaxTime();
    if (head_.NumSeries() == 0 || head_max == INT64_MIN) return Status::Ok();
    return Cut(std::min(head_max + 1, OldestAcceptable()));
  }

  // The oldest time a current sample may have: the clock minus the out-of-order window.
  int64_t OldestAcceptable() const {
    int64_t now = Now();
    int64_t window = options_.out_of_order_window.count();
    return window > 0 && now > INT64_MIN + window ? now - window : now;
  }

  Status Close() override {
    {
      MutexLock lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    if (maintenance_.joinable()) maintenance_.join();
    if (!wal_) return Status::Ok();
    Status s = wal_->Close();
    wal_.reset();
    return s;
  }

 private:
  // Per-thread buffers of Append, reused across requests; a huge request's are given
  // back afterwards (Trim) so that one bad request does not pin its memory.
  struct Scratch {
    std::vector<LabelView> labels;
    std::string series_record;
    std::vector<RefSample> accepted;
    std::vector<MemSeries*> targets;
    std::vector<MemSeries*> unlogged;  // series whose record this request writes
    std::vector<std::string> records;
    std::vector<std::string_view> views;

    void Clear() {
      accepted.clear();
      targets.clear();
      unlogged.clear();
      records.clear();
      views.clear();
    }
    void Trim() {
      constexpr size_t kKeep = 1 << 16;
      if (labels.capacity() > kKeep) std::vector<LabelView>().swap(labels);
      if (series_record.capacity() > (kKeep << 4)) std::string().swap(series_record);
      if (accepted.capacity() > kKeep) std::vector<RefSample>().swap(accepted);
      if (targets.capacity() > kKeep) std::vector<MemSeries*>().swap(targets);
      if (unlogged.capacity() > kKeep) std::vector<MemSeries*>().swap(unlogged);
      records.clear();
      if (records.capacity() > 64) std::vector<std::string>().swap(records);
    }
  };

  int64_t Now() const { return options_.env->NowMs(); }

  void AddError(AppendResult& result, std::string message) {
    if (result.errors.size() < kMaxErrorsReported) result.errors.push_back(std::move(message));
  }

  MemSeries* RejectSeries(std::string_view reason, std::string message, AppendResult& result,
                          uint64_t samples) {
    metrics_.rejected_series.WithLabels({reason}).Inc();
    if (samples) metrics_.rejected_samples.WithLabels({reason}).Inc(static_cast<double>(samples));
    ++result.series_rejected;
    AddError(result, std::move(message));
    return nullptr;
  }

  void RejectSample(SampleVerdict verdict, const MemSeries& series, const Sample& s,
                    AppendResult& result) {
    int64_t min_append = head_.MinAppendTime();
    std::string_view reason = verdict == SampleVerdict::kConflict ? "duplicate_timestamp"
                              : s.t < min_append                  ? "too_old"
                                                                  : "out_of_order";
    metrics_.rejected_samples.WithLabels({reason}).Inc();
    ++result.samples_rejected;
    if (result.errors.size() >= kMaxErrorsReported) return;
    std::string labels = FormatSeries(series);
    if (verdict == SampleVerdict::kConflict) {
      AddError(result,
               fmt::format("duplicate sample with a different value at {} for {}", s.t, labels));
    } else if (reason == "too_old") {
      AddError(result, fmt::format("too old: sample at {} for {} is before the head's minimum "
                                   "time {} (older samples are in blocks)",
                                   s.t, labels, min_append));
    } else {
      AddError(result, fmt::format("out of order sample at {} for {}: more than the "
                                   "out-of-order window of {} before the series' newest "
                                   "sample at {}",
                                   s.t, labels, FormatDuration(options_.out_of_order_window),
                                   series.max_t()));
    }
  }

  void RejectFuture(const MemSeries& series, const Sample& s, int64_t limit, AppendResult& result) {
    metrics_.rejected_samples.WithLabels({"too_far_in_future"}).Inc();
    ++result.samples_rejected;
    if (result.errors.size() >= kMaxErrorsReported) return;
    AddError(result,
             fmt::format("too far in the future: sample at {} for {} is more than {} "
                         "ahead of the server's clock ({}); check the sender's clock",
                         s.t, FormatSeries(series), FormatDuration(options_.future_limit), Now()));
  }

  std::string FormatSeries(const MemSeries& series) const {
    return FormatLabelsBounded(head_.LabelsOf(series));
  }

  // Validates and sorts the labels, then finds or creates the series. A series whose
  // record is not in the WAL yet gets it logged with this request's samples.
  MemSeries* Resolve(std::span<const LabelView> raw, AppendResult& result, Scratch& sc) {
    const Limits& limits = options_.limits;
    std::vector<LabelView>& labels = sc.labels;
    labels.clear();
    for (const LabelView& l : raw) {
      if (!l.value.empty()) labels.push_back(l);
    }
    size_t samples = 0;  // counted by the caller
    if (labels.size() > limits.max_labels_per_series) {
      return RejectSeries(
          "too_many_labels",
          fmt::format("series {} has {} labels, more than the limit of {}",
                      FormatLabelsBounded(labels), labels.size(), limits.max_labels_per_series),
          result, samples);
    }
    if (labels.empty()) {
      return RejectSeries("no_labels", "a series has no labels (every series needs __name__)",
                          result, samples);
    }
    if (!std::is_sorted(labels.begin(), labels.end(),
                        [](const LabelView& a, const LabelView& b) { return a.name < b.name; })) {
      std::sort(labels.begin(), labels.end(),
                [](const LabelView& a, const LabelView& b) { return a.name < b.name; });
    }
    std::string_view metric;
    for (size_t i = 0; i < labels.size(); ++i) {
      const LabelView& l = labels[i];
      if (l.name.size() > limits.max_label_name_bytes) {
        return RejectSeries(
            "label_name_too_long",
            fmt::format("label name of {} bytes is longer than the limit of {} "
                        "in series {}",
                        l.name.size(), limits.max_label_name_bytes, FormatLabelsBounded(labels)),
            result, samples);
      }
      if (l.value.size() > limits.max_label_value_bytes) {
        return RejectSeries(
            "label_value_too_long",
            fmt::format("value of label {} is {} bytes, longer than the limit of {} in series {}",
                        l.name.substr(0, 256), l.value.size(), limits.max_label_value_bytes,
                        FormatLabelsBounded(labels)),
            result, samples);
      }
      if (!IsValidLabelName(l.name) || (i > 0 && labels[i - 1].name == l.name) ||
          (l.name == "__name__" && !IsValidMetricName(l.value)) || !IsValidUtf8(l.value)) {
        return RejectSeries("invalid_labels",
                            fmt::format("invalid metric name, label name or value, or duplicate "
                                        "label name in {}",
                                        FormatLabelsBounded(labels)),
                            result, samples);
      }
      if (l.name == "__name__") metric = l.value;
    }
    if (metric.empty()) {
      return RejectSeries(
          "missing_metric_name",
          fmt::format("series {} has no metric name (__name__)", FormatLabelsBounded(labels)),
          result, samples);
    }
    uint64_t hash = Head::HashLabels(labels);
    MemSeries* s = head_.Find(labels, hash);
    if (!s) {
      if (head_.NumSeries() >= limits.max_series) {
        return RejectSeries("max_series",
                            fmt::format("limit of {} series reached; refusing new series {}",
                                        limits.max_series, FormatLabelsBounded(labels)),
                            result, samples);
      }
      if (head_.SeriesForMetric(metric) >= limits.max_series_per_metric) {
        return RejectSeries(
            "max_series_per_metric",
            fmt::format("limit of {} series for metric {} reached; refusing {}",
                        limits.max_series_per_metric, metric, FormatLabelsBounded(labels)),
            result, samples);
      }
      bool created = false;
      s = head_.Create(labels, hash, 0, created);
      if (created) {
        ++result.series_created;
        metrics_.series_created.Inc();
      }
    }
    // A series twice in one request is logged twice: replay takes the second as the first.
    if (!s->logged.load(std::memory_order_acquire)) {
      EncodeSeries(s->ref, labels, sc.series_record);
      sc.unlogged.push_back(s);
    }
    return s;
  }

  void UpdateGauges() {
    metrics_.series.Set(static_cast<double>(head_.NumSeries()));
    metrics_.chunks.Set(static_cast<double>(head_.NumChunks()));
    if (head_.NumSeries() > 0 && head_.MinTime() != INT64_MAX) {
      metrics_.min_time.Set(static_cast<double>(head_.MinTime()) / 1000);
      metrics_.max_time.Set(static_cast<double>(head_.MaxTime()) / 1000);
    }
  }

  static int64_t FloorDiv(int64_t a, int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
  }

  std::vector<std::shared_ptr<Block>> Blocks() const {
    ReaderLock lock(blocks_mu_);
    return blocks_;
  }
  // Publishes a new block list; returns the epoch of the old one, which expires when the
  // last querier made with it is gone.
  std::weak_ptr<const int> SetBlocks(std::vector<std::shared_ptr<Block>> blocks) {
    uint64_t bytes = 0;
    for (const auto& b : blocks) bytes += b->size_bytes();
    metrics_.blocks.Set(static_cast<double>(blocks.size()));
    metrics_.blocks_bytes.Set(static_cast<double>(bytes));
    WriterLock lock(blocks_mu_);
    blocks_ = std::move(blocks);
    std::weak_ptr<const int> old = epoch_;
    epoch_ = std::make_shared<const int>(0);
    return old;
  }

  // Waits until no querier made before a block was published is left (queriers live for
  // one selector, so this is short; a slow one is logged).
  void WaitForReaders(const std::weak_ptr<const int>& epoch) {
    auto start = std::chrono::steady_clock::now();
    bool logged = false;
    while (!epoch.expired()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!logged && std::chrono::steady_clock::now() - start > std::chrono::seconds(10)) {
        LogWarn("TSDB cut waits for a long query to finish before dropping cut samples", {});
        logged = true;
      }
    }
  }

  std::string BlockId(int64_t min_t, int64_t max_t, int level) {
    return fmt::format("{:016x}-{:016x}-{}", static_cast<uint64_t>(min_t),
                       static_cast<uint64_t>(max_t), level);
  }

  // Moves every head sample older than `boundary` into a block, then checkpoints the WAL so
  // that it holds only what the head still serves. Appends go on throughout, but for the
  // short pause in which emptied series leave the head.
  Status Cut(int64_t boundary) {
    MutexLock cut_lock(cut_mu_);
    if (boundary <= head_.MinAppendTime()) return Status::Ok();
    auto start = std::chrono::steady_clock::now();
    // From here on, older samples are refused. An append that checked the old minimum
    // re-checks under its series' stripe lock, which the reads below take after this.
    head_.SetMinAppendTime(boundary);
    Result<uint64_t> segment = wal_->Roll();
    if (!segment.ok()) return segment.status();
    // New series refs start above every ref the WAL before the roll used, even after the
    // series that held them leave the head (so no sample can meet another series' ref).
    std::string floor;
    EncodeRefFloor(head_.RefLimit(), floor);
    PHAROS_RETURN_IF_ERROR(wal_->Append(floor));
    Step(MaintenanceStep::kCutWalRolled);
    uint64_t limit = head_.RefLimit();
    // Series sorted by their interned labels (16 bytes a series: no label strings are
    // copied to sort), then each one's labels and samples read and written in turn: the
    // cut holds one series' samples, never the block's. Only this cut removes series from
    // the head (Collect, below), so the pointers stay valid.
    struct CutRef {
      const MemSeries* series;
      uint64_t ref;
    };
    std::vector<CutRef> refs;
    refs.reserve(head_.NumSeries());
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (s != nullptr) refs.push_back({s, ref});
    }
    std::sort(refs.begin(), refs.end(), [this](const CutRef& a, const CutRef& b) {
      return head_.CompareLabels(*a.series, *b.series) < 0;
    });
    Result<std::unique_ptr<BlockWriter>> writer =
        BlockWriter::Create(options_.env, blocks_dir_, "cut.tmp");
    if (!writer.ok()) return writer.status();
    std::vector<Sample> samples;
    Labels labels;
    for (const CutRef& r : refs) {
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(r.ref));
        samples.clear();
        head_.Read(*r.series, INT64_MIN, boundary - 1, samples);
      }
      head_.LabelsOf(*r.series, labels);
      PHAROS_RETURN_IF_ERROR((*writer)->Add(labels, samples));
    }
    uint64_t cut_series = (*writer)->num_series();
    std::vector<std::shared_ptr<Block>> blocks = Blocks();
    std::weak_ptr<const int> old_readers;
    if (cut_series > 0) {
      BlockMeta meta;
      meta.min_t = (*writer)->min_t();
      meta.max_t = boundary - 1;
      meta.level = 1;
      meta.id = BlockId(meta.min_t, meta.max_t, meta.level);
      PHAROS_RETURN_IF_ERROR((*writer)->Finish(meta));
      Result<std::unique_ptr<Block>> block = Block::Open(options_.env, blocks_dir_ + "/" + meta.id);
      if (!block.ok()) return block.status();
      blocks.push_back(std::shared_ptr<Block>(std::move(block).value()));
      std::sort(blocks.begin(), blocks.end(),
                [](const auto& a, const auto& b) { return a->meta().min_t < b->meta().min_t; });
      old_readers = SetBlocks(blocks);
      metrics_.blocks_cut.Inc();
    }
    writer->reset();
    // Finish() renamed the directory into place; with nothing to cut, it is left empty.
    if (cut_series == 0) PHAROS_RETURN_IF_ERROR(options_.env->RemoveAll(blocks_dir_ + "/cut.tmp"));
    Step(MaintenanceStep::kCutBlockWritten);
    WaitForReaders(old_readers);
    head_.SetMinReadTime(boundary);
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      std::lock_guard<std::mutex> lock(head_.Stripe(ref));
      head_.Truncate(*s, boundary);
    }
    std::vector<uint64_t> empty = head_.EmptySeries();
    size_t collected = 0;
    double paused = 0;
    if (!empty.empty()) {
      auto pause = std::chrono::steady_clock::now();
      gate_.Close();
      collected = head_.Collect(empty);
      gate_.Open();
      paused = std::chrono::duration<double>(std::chrono::steady_clock::now() - pause).count();
      metrics_.append_pause.Observe(paused);
    }
    PHAROS_RETURN_IF_ERROR(Checkpoint(*segment, boundary));
    Step(MaintenanceStep::kCutCheckpointed);
    UpdateGauges();
    LogInfo("TSDB head cut into a block",
            {{"boundary_ms", boundary},
             {"series", cut_series},
             {"series_removed_from_head", collected},
             {"append_pause_seconds", paused},
             {"seconds",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
    return Status::Ok();
  }

  // Rewrites the WAL before `segment` (the previous checkpoint and the segments since) into
  // a new checkpoint that keeps, in their order, the series still in the head and their
  // samples from `boundary` on. Built from the WAL, not from the head, so it holds exactly
  // what those segments held: every acknowledged sample, including those of appends that
  // wrote the WAL but had not reached the head yet, and each once.
  Status Checkpoint(uint64_t segment, int64_t boundary) {
    std::vector<SeriesRecordEntry> entries;
    std::vector<RefSample> samples;
    // A WAL ref is live when its series is in the head, also under the ref replay gave it.
    auto live = [&](uint64_t ref) {
      if (head_.ByRef(ref)) return true;
      auto it = replay_aliases_.find(ref);
      return it != replay_aliases_.end() && head_.ByRef(it->second) != nullptr;
    };
    Result<wal::CheckpointReport> report =
        wal_->Checkpoint(segment, [&](std::string_view record, std::string& kept) -> Result<bool> {
          switch (PeekType(record)) {
            case RecordType::kSeries: {
              PHAROS_RETURN_IF_ERROR(DecodeSeries(record, entries));
              BeginSeriesRecord(kept);
              for (const SeriesRecordEntry& e : entries) {
                if (live(e.ref)) EncodeSeries(e.ref, e.labels, kept);
              }
              return kept.size() > 1;
            }
            case RecordType::kSamples: {
              PHAROS_RETURN_IF_ERROR(DecodeSamples(record, samples));
              BeginSamplesRecord(kept, boundary);
              bool any = false;
              for (const RefSample& smp : samples) {
                if (smp.t < boundary || !live(smp.ref)) continue;
                EncodeSample(smp, boundary, kept);
                any = true;
              }
              return any;
            }
            case RecordType::kRefFloor:
              return false;  // the segment at `segment` starts with a newer one
          }
          return DataLoss(
              fmt::format("unknown TSDB WAL record type {}", static_cast<int>(PeekType(record))));
        });
    if (!report.ok()) return report.status();
    return Status::Ok();
  }

  void Step(MaintenanceStep step) {
    if (options_.on_step) options_.on_step(step);
  }

  // Merges, as Prometheus compacts, three adjacent blocks of one level into one block of
  // the next, when they fall into one aligned window of block_duration * 3^level; windows
  // stop growing at a tenth of retention (31 days without retention). Each block is thus
  // rewritten a few times at most.
  Status MergeBlocks() {
    MutexLock cut_lock(cut_mu_);
    std::vector<std::shared_ptr<Block>> blocks = Blocks();
    int64_t max_span = options_.retention.count() > 0 ? options_.retention.count() / 10
                                                      : int64_t{31} * 24 * 3600 * 1000;
    for (size_t i = 0; i + 2 < blocks.size(); ++i) {
      int level = blocks[i]->meta().level;
      int64_t window = options_.block_duration.count();
      for (int l = 0; l < level && window <= max_span; ++l) window *= 3;
      if (window > max_span) continue;
      int64_t start = FloorDiv(blocks[i]->meta().min_t, window);
      size_t j = i;
      while (j + 1 < blocks.size() && j - i < 2 && blocks[j + 1]->meta().level == level &&
             FloorDiv(blocks[j + 1]->meta().max_t, window) == start) {
        ++j;
      }
      if (j - i + 1 < 3) continue;
      std::vector<std::shared_ptr<Block>> inputs(blocks.begin() + static_cast<ptrdiff_t>(i),
                                                 blocks.begin() + static_cast<ptrdiff_t>(j) + 1);
      level += 1;
      BlockMeta meta;
      meta.min_t = inputs.front()->meta().min_t;
      meta.max_t = inputs.back()->meta().max_t;
      meta.level = level;
      meta.id = BlockId(meta.min_t, meta.max_t, meta.level);
      PHAROS_RETURN_IF_ERROR(MergeInto(inputs, meta));
      Result<std::unique_ptr<Block>> block = Block::Open(options_.env, blocks_dir_ + "/" + meta.id);
      if (!block.ok()) return block.status();
      std::vector<std::shared_ptr<Block>> next(blocks.begin(),
                                               blocks.begin() + static_cast<ptrdiff_t>(i));
      next.push_back(std::shared_ptr<Block>(std::move(block).value()));
      next.insert(next.end(), blocks.begin() + static_cast<ptrdiff_t>(j) + 1, blocks.end());
      SetBlocks(std::move(next));
      Step(MaintenanceStep::kMergeWritten);
      // A crash from here until the inputs are gone leaves blocks that the merged one
      // covers; OpenBlocks removes them.
      for (const auto& b : inputs) PHAROS_RETURN_IF_ERROR(DeleteBlock(*b));
      metrics_.blocks_merged.Inc(static_cast<double>(inputs.size()));
      LogInfo("TSDB blocks merged",
              {{"inputs", inputs.size()}, {"level", level}, {"series", meta.num_series}});
      return Status::Ok();  // one merge per round keeps each round short
    }
    return Status::Ok();
  }

  // Writes the union of `inputs` (each in label order) as one block: a k-way merge on the
  // series' labels, one series' samples in memory at a time.
  Status MergeInto(const std::vector<std::shared_ptr<Block>>& inputs, BlockMeta& meta) {
    // A cursor holds its series' decoded entry, so each series' index entry is read once.
    struct Cursor {
      size_t input;
      uint64_t id;
      Block::SeriesEntry entry;
      Labels labels;
      Status Load(const Block& b) {
        PHAROS_RETURN_IF_ERROR(b.Entry(id, entry));
        labels = b.LabelsOf(entry);
        return Status::Ok();
      }
    };
    auto later = [](const Cursor& a, const Cursor& b) {
      if (LabelsLess(b.labels, a.labels)) return true;
      if (LabelsLess(a.labels, b.labels)) return false;
      return a.input > b.input;
    };
    std::vector<Cursor> heap;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k]->num_series() == 0) continue;
      Cursor c{k, 0, {}, {}};
      PHAROS_RETURN_IF_ERROR(c.Load(*inputs[k]));
      heap.push_back(std::move(c));
    }
    std::make_heap(heap.begin(), heap.end(), later);
    std::vector<FrameCache> frames(inputs.size());
    Result<std::unique_ptr<BlockWriter>> writer =
        BlockWriter::Create(options_.env, blocks_dir_, meta.id + ".tmp");
    if (!writer.ok()) return writer.status();
    std::vector<Sample> samples;
    Labels labels;
    while (!heap.empty()) {
      labels = heap.front().labels;
      samples.clear();
      bool sorted = true;
      // Inputs are time-ordered, so equal series come oldest first.
      while (!heap.empty() && heap.front().labels == labels) {
        std::pop_heap(heap.begin(), heap.end(), later);
        Cursor& c = heap.back();
        size_t before = samples.size();
        PHAROS_RETURN_IF_ERROR(
            inputs[c.input]->Read(c.entry, INT64_MIN, INT64_MAX, frames[c.input], samples));
        sorted = sorted && AppendedInOrder(samples, before);
        if (++c.id < inputs[c.input]->num_series()) {
          PHAROS_RETURN_IF_ERROR(c.Load(*inputs[c.input]));
          std::push_heap(heap.begin(), heap.end(), later);
        } else {
          heap.pop_back();
        }
      }
      if (!sorted) SortOnePerTimestamp(samples);
      PHAROS_RETURN_IF_ERROR((*writer)->Add(labels, samples));
    }
    return (*writer)->Finish(meta);
  }

  // Renamed first, so an interrupted delete is finished at the next start.
  Status DeleteBlock(const Block& b) {
    std::string path = b.dir();
    PHAROS_RETURN_IF_ERROR(options_.env->Rename(path, path + ".del"));
    return options_.env->RemoveAll(path + ".del");
  }

  Status ApplyRetention() {
    MutexLock cut_lock(cut_mu_);
    std::vector<std::shared_ptr<Block>> blocks = Blocks();
    int64_t now = Now();
    std::vector<std::shared_ptr<Block>> keep, drop;
    uint64_t total = 0;
    for (const auto& b : blocks) total += b->size_bytes();
    for (const auto& b : blocks) {
      bool too_old =
          options_.retention.count() > 0 && b->meta().max_t < now - options_.retention.count();
      bool too_big = options_.retention_bytes > 0 && total > options_.retention_bytes;
      if (too_old || too_big) {
        drop.push_back(b);
        total -= b->size_bytes();
      } else {
        keep.push_back(b);
      }
    }
    if (drop.empty()) return Status::Ok();
    SetBlocks(std::move(keep));
    for (const auto& b : drop) {
      PHAROS_RETURN_IF_ERROR(DeleteBlock(*b));
      LogInfo("TSDB block deleted by retention", {{"block", b->meta().id}});
    }
    metrics_.blocks_expired.Inc(static_cast<double>(drop.size()));
    return Status::Ok();
  }

  Options options_;
  selfmon::Registry& registry_;
  TsdbMetrics metrics_;
  Head head_;
  std::unique_ptr<wal::Wal> wal_;
  std::string blocks_dir_;
  mutable SharedMutex blocks_mu_;
  std::vector<std::shared_ptr<Block>> blocks_ PHAROS_GUARDED_BY(blocks_mu_);  // by min_t
  ReaderEpoch epoch_ PHAROS_GUARDED_BY(blocks_mu_) = std::make_shared<const int>(0);
  Mutex cut_mu_;             // one cut, merge or expiry at a time
  AppendGate gate_;          // appends enter it; a cut closes it while emptied series leave
  RecoveryReport recovery_;  // written by Open() only
  std::unordered_map<uint64_t, uint64_t> replay_aliases_;  // written by Open(); WAL ref -> ref
  Mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ PHAROS_GUARDED_BY(stop_mu_) = false;
  std::thread maintenance_;
  std::unique_ptr<TaskPool> read_pool_;  // decodes large selects ahead of the query
};

}  // namespace

Result<std::vector<SeriesData>> Querier::Select(std::span<const Matcher> matchers) {
  Result<std::unique_ptr<SeriesSet>> set = SelectSeries(matchers);
  if (!set.ok()) return set.status();
  std::vector<SeriesData> out;
  while ((*set)->Next()) out.push_back(SeriesData{(*set)->labels(), (*set)->TakeSamples()});
  PHAROS_RETURN_IF_ERROR((*set)->status());
  return out;
}

Result<std::unique_ptr<Db>> Db::Open(const Options& options, selfmon::Registry& registry) {
  PHAROS_RETURN_IF_ERROR(options.env->MakeDirs(options.dir));
  auto db = std::make_unique<DbImpl>(options, registry);
  PHAROS_RETURN_IF_ERROR(db->OpenBlocks());
  PHAROS_RETURN_IF_ERROR(db->OpenWal());
  if (!options.wal_repair_dry_run) db->StartMaintenance();
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace pharos::tsdb
