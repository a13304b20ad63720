#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <shared_mutex>
#include <thread>

#include <fmt/format.h>

#include "common/log.h"
#include "common/strings.h"
#include "tsdb/block.h"
#include "tsdb/head.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal_records.h"
#include "wal/wal.h"

namespace pharos::tsdb {
namespace {

constexpr size_t kMaxErrorsReported = 8;
constexpr size_t kSamplesPerRecord = 100'000;  // keeps WAL records well under their cap

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

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
                           .WithLabels({})) {
    for (const char* reason : {"out_of_order", "duplicate_timestamp"}) {
      rejected_samples.WithLabels({reason});
    }
    for (const char* reason : {"invalid_labels", "too_many_labels", "label_name_too_long",
                               "label_value_too_long", "max_series", "max_series_per_metric"}) {
      rejected_series.WithLabels({reason});
    }
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
};

bool LabelsLess(const Labels& a, const Labels& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](const Label& x, const Label& y) {
        return x.name != y.name ? x.name < y.name : x.value < y.value;
      });
}
struct LabelsLessFn {
  bool operator()(const Labels& a, const Labels& b) const { return LabelsLess(a, b); }
};

// Blocks and head as one store. Holds its blocks alive while it reads them.
class StoreQuerier final : public Querier {
 public:
  StoreQuerier(Head& head, std::vector<std::shared_ptr<Block>> blocks, int64_t mint, int64_t maxt)
      : head_(head), mint_(mint), maxt_(maxt) {
    for (auto& b : blocks) {
      if (b->meta().max_t >= mint && b->meta().min_t <= maxt) blocks_.push_back(std::move(b));
    }
  }

  Result<std::vector<SeriesData>> Select(std::span<const Matcher> matchers) override {
    std::map<Labels, std::vector<Sample>, LabelsLessFn> merged;
    std::vector<Sample> samples;
    for (const auto& block : blocks_) {
      for (uint64_t id : block->Postings(matchers)) {
        if (!block->Overlaps(id, mint_, maxt_)) continue;
        samples.clear();
        PHAROS_RETURN_IF_ERROR(block->Read(id, mint_, maxt_, samples));
        if (samples.empty()) continue;
        auto& dst = merged[block->LabelsOf(id)];
        dst.insert(dst.end(), samples.begin(), samples.end());
      }
    }
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        head_.Read(*s, mint_, maxt_, samples);
      }
      if (samples.empty()) continue;
      auto& dst = merged[head_.LabelsOf(*s)];
      dst.insert(dst.end(), samples.begin(), samples.end());
    }
    std::vector<SeriesData> out;
    out.reserve(merged.size());
    for (auto& [labels, data] : merged) {
      // Blocks are disjoint and older than the head, but a block being cut may briefly
      // repeat head samples: keep one sample per timestamp.
      if (!std::is_sorted(data.begin(), data.end(),
                          [](const Sample& a, const Sample& b) { return a.t < b.t; })) {
        std::stable_sort(data.begin(), data.end(),
                         [](const Sample& a, const Sample& b) { return a.t < b.t; });
      }
      data.erase(std::unique(data.begin(), data.end(),
                             [](const Sample& a, const Sample& b) { return a.t == b.t; }),
                 data.end());
      out.push_back(SeriesData{labels, std::move(data)});
    }
    return out;
  }

  Result<std::vector<Labels>> Series(std::span<const Matcher> matchers) override {
    std::vector<Labels> out;
    for (const auto& block : blocks_) {
      for (uint64_t id : block->Postings(matchers)) {
        if (block->Overlaps(id, mint_, maxt_)) out.push_back(block->LabelsOf(id));
      }
    }
    std::vector<Sample> samples;
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        head_.Read(*s, mint_, maxt_, samples);
      }
      if (!samples.empty()) out.push_back(head_.LabelsOf(*s));
    }
    std::sort(out.begin(), out.end(), LabelsLess);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<std::vector<std::string>> LabelNames(std::span<const Matcher> matchers) override {
    std::vector<std::string> names;
    if (matchers.empty()) {
      names = head_.LabelNames();
      for (const auto& block : blocks_) {
        std::vector<std::string> more = block->LabelNames();
        names.insert(names.end(), more.begin(), more.end());
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
        std::vector<std::string> more = block->LabelValues(name);
        values.insert(values.end(), more.begin(), more.end());
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
  int64_t mint_;
  int64_t maxt_;
};

class DbImpl final : public Db {
 public:
  DbImpl(const Options& options, selfmon::Registry& registry)
      : options_(options), registry_(registry), metrics_(registry), head_(options) {}

  ~DbImpl() override { (void)Close(); }

  Status OpenWal() {
    wal::Options wo;
    wo.dir = options_.dir + "/wal";
    wo.env = options_.env;
    wo.segment_bytes = options_.wal_segment_bytes;
    wo.sync = options_.wal_sync_always ? wal::SyncPolicy::kAlways : wal::SyncPolicy::kInterval;
    wo.sync_interval = options_.wal_sync_interval;
    wo.registry = &registry_;
    auto start = std::chrono::steady_clock::now();
    std::vector<SeriesRecordEntry> series;
    std::vector<RefSample> samples;
    uint64_t unknown_refs = 0;
    std::vector<RefSample> deferred;
    wal::ReplayReport report;
    Result<std::unique_ptr<wal::Wal>> opened = wal::Wal::Open(
        wo,
        [&](std::string_view record) -> Status {
          switch (PeekType(record)) {
            case RecordType::kSeries: {
              PHAROS_RETURN_IF_ERROR(DecodeSeries(record, series));
              for (const SeriesRecordEntry& e : series) {
                bool created;
                head_.Create(e.labels, Head::HashLabels(e.labels), e.ref, created);
                if (created) metrics_.series_created.Inc();
              }
              return Status::Ok();
            }
            case RecordType::kSamples: {
              PHAROS_RETURN_IF_ERROR(DecodeSamples(record, samples));
              for (const RefSample& s : samples) {
                MemSeries* series_ptr = head_.ByRef(s.ref);
                if (!series_ptr) {
                  // Its series record may come later (written by a concurrent request, or
                  // by a checkpoint): try again at the end.
                  deferred.push_back(s);
                  continue;
                }
                std::lock_guard<std::mutex> lock(head_.Stripe(s.ref));
                SampleVerdict verdict = head_.Check(*series_ptr, s.t, s.v);
                head_.Apply(*series_ptr, verdict, s.t, s.v);
              }
              return Status::Ok();
            }
          }
          return DataLoss(
              fmt::format("unknown TSDB WAL record type {}", static_cast<int>(PeekType(record))));
        },
        &report);
    if (!opened.ok()) return opened.status();
    wal_ = std::move(opened).value();
    for (const RefSample& s : deferred) {
      MemSeries* series_ptr = head_.ByRef(s.ref);
      if (!series_ptr) {
        ++unknown_refs;
        continue;
      }
      std::lock_guard<std::mutex> lock(head_.Stripe(s.ref));
      head_.Apply(*series_ptr, head_.Check(*series_ptr, s.t, s.v), s.t, s.v);
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    LogInfo("TSDB WAL replayed", {{"records", report.records},
                                  {"segments", report.segments},
                                  {"series", head_.NumSeries()},
                                  {"seconds", seconds},
                                  {"repaired", report.repaired},
                                  {"unknown_series_refs", unknown_refs}});
    UpdateGauges();
    return Status::Ok();
  }

  Status Append(std::span<const SeriesInput> batch, AppendResult& result) override {
    // Shared: appends run together; the head's garbage collection takes it exclusively.
    std::shared_lock<std::shared_mutex> append_lock(append_mu_);
    thread_local Scratch scratch;
    Scratch& sc = scratch;
    sc.accepted.clear();
    sc.targets.clear();
    BeginSeriesRecord(sc.series_record);
    bool any_new_series = false;
    int64_t base_t = 0;
    bool base_set = false;

    for (const SeriesInput& in : batch) {
      MemSeries* series = Resolve(in.labels, result, sc, any_new_series);
      if (!series) {
        result.samples_rejected += in.samples.size();
        continue;
      }
      std::lock_guard<std::mutex> lock(head_.Stripe(series->ref));
      for (const Sample& s : in.samples) {
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
    sc.records.clear();
    sc.views.clear();
    if (any_new_series) sc.records.push_back(sc.series_record);
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
        return s;
      }
    }

    uint64_t appended = 0;
    uint64_t out_of_order = 0;
    for (size_t i = 0; i < sc.accepted.size(); ++i) {
      const RefSample& s = sc.accepted[i];
      MemSeries& series = *sc.targets[i];
      std::lock_guard<std::mutex> lock(head_.Stripe(s.ref));
      // Re-check: another request may have appended to this series meanwhile.
      SampleVerdict verdict = head_.Check(series, s.t, s.v);
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
    return Status::Ok();
  }

  std::unique_ptr<Querier> Query(int64_t mint, int64_t maxt) override {
    return std::make_unique<StoreQuerier>(head_, Blocks(), mint, maxt);
  }

  Stats GetStats(size_t limit) override {
    Stats st = head_.GetStats(limit);
    for (const auto& b : Blocks()) {
      ++st.num_blocks;
      st.blocks_bytes += b->size_bytes();
    }
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
      Result<std::unique_ptr<Block>> block = Block::Open(path);
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
    if (!blocks.empty()) {
      int64_t boundary = blocks.back()->meta().max_t + 1;
      head_.SetMinAppendTime(boundary);
      head_.SetMinReadTime(boundary);
    }
    SetBlocks(std::move(blocks));
    return Status::Ok();
  }

  void StartMaintenance() {
    maintenance_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(stop_mu_);
      while (!stopping_) {
        stop_cv_.wait_for(lock, options_.maintenance_interval);
        if (stopping_) break;
        lock.unlock();
        Status s = Maintain();
        if (!s.ok()) LogError("TSDB maintenance failed", {{"error", s.message()}});
        lock.lock();
      }
    });
  }

  Status Maintain() override {
    int64_t head_min = head_.MinTime();
    int64_t head_max = head_.MaxTime();
    int64_t span = options_.block_duration.count();
    if (head_.NumSeries() > 0 && head_min != INT64_MAX && head_max - head_min >= span + span / 2) {
      // Cut whole block-duration periods, aligned, up to the one the head's start is in.
      int64_t boundary = (FloorDiv(head_min, span) + 1) * span;
      PHAROS_RETURN_IF_ERROR(Cut(boundary));
    }
    PHAROS_RETURN_IF_ERROR(MergeBlocks());
    return ApplyRetention();
  }

  Status Flush() override {
    int64_t head_max = head_.MaxTime();
    if (head_.NumSeries() == 0 || head_max == INT64_MIN) return Status::Ok();
    return Cut(head_max + 1);
  }

  Status Close() override {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
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
  struct Scratch {
    std::vector<LabelView> labels;
    std::string series_record;
    std::vector<RefSample> accepted;
    std::vector<MemSeries*> targets;
    std::vector<std::string> records;
    std::vector<std::string_view> views;
  };

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
    std::string_view reason =
        verdict == SampleVerdict::kConflict ? "duplicate_timestamp" : "out_of_order";
    metrics_.rejected_samples.WithLabels({reason}).Inc();
    ++result.samples_rejected;
    if (result.errors.size() < kMaxErrorsReported) {
      AddError(result, fmt::format("{} sample at {} for {}",
                                   verdict == SampleVerdict::kConflict
                                       ? "duplicate sample with a different value"
                                       : "out of order",
                                   s.t, FormatLabels(head_.LabelsOf(series))));
    }
  }

  // Validates and sorts the labels, then finds or creates the series.
  MemSeries* Resolve(std::span<const LabelView> raw, AppendResult& result, Scratch& sc,
                     bool& any_new_series) {
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
          fmt::format("series {} has {} labels, more than the limit of {}", FormatLabels(labels),
                      labels.size(), limits.max_labels_per_series),
          result, samples);
    }
    if (!std::is_sorted(labels.begin(), labels.end(),
                        [](const LabelView& a, const LabelView& b) { return a.name < b.name; })) {
      std::sort(labels.begin(), labels.end(),
                [](const LabelView& a, const LabelView& b) { return a.name < b.name; });
    }
    for (size_t i = 0; i < labels.size(); ++i) {
      const LabelView& l = labels[i];
      if (l.name.size() > limits.max_label_name_bytes) {
        return RejectSeries("label_name_too_long",
                            fmt::format("label name of {} bytes is longer than the limit of {}",
                                        l.name.size(), limits.max_label_name_bytes),
                            result, samples);
      }
      if (l.value.size() > limits.max_label_value_bytes) {
        return RejectSeries(
            "label_value_too_long",
            fmt::format("value of label {} is {} bytes, longer than the limit of {}", l.name,
                        l.value.size(), limits.max_label_value_bytes),
            result, samples);
      }
      if (!IsValidLabelName(l.name) || (i > 0 && labels[i - 1].name == l.name) ||
          (l.name == "__name__" && !IsValidMetricName(l.value)) || !ValidUtf8(l.value)) {
        return RejectSeries("invalid_labels",
                            fmt::format("invalid metric name, label name or value, or duplicate "
                                        "label name in {}",
                                        FormatLabels(labels)),
                            result, samples);
      }
    }
    uint64_t hash = Head::HashLabels(labels);
    if (MemSeries* s = head_.Find(labels, hash)) return s;
    if (head_.NumSeries() >= limits.max_series) {
      return RejectSeries("max_series",
                          fmt::format("limit of {} series reached; refusing new series {}",
                                      limits.max_series, FormatLabels(labels)),
                          result, samples);
    }
    std::string_view metric;
    for (const LabelView& l : labels) {
      if (l.name == "__name__") metric = l.value;
    }
    if (!metric.empty() && head_.SeriesForMetric(metric) >= limits.max_series_per_metric) {
      return RejectSeries("max_series_per_metric",
                          fmt::format("limit of {} series for metric {} reached; refusing {}",
                                      limits.max_series_per_metric, metric, FormatLabels(labels)),
                          result, samples);
    }
    bool created = false;
    MemSeries* s = head_.Create(labels, hash, 0, created);
    if (created) {
      EncodeSeries(s->ref, labels, sc.series_record);
      any_new_series = true;
      ++result.series_created;
      metrics_.series_created.Inc();
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
    std::shared_lock<std::shared_mutex> lock(blocks_mu_);
    return blocks_;
  }
  void SetBlocks(std::vector<std::shared_ptr<Block>> blocks) {
    uint64_t bytes = 0;
    for (const auto& b : blocks) bytes += b->size_bytes();
    metrics_.blocks.Set(static_cast<double>(blocks.size()));
    metrics_.blocks_bytes.Set(static_cast<double>(bytes));
    std::unique_lock<std::shared_mutex> lock(blocks_mu_);
    blocks_ = std::move(blocks);
  }

  std::string BlockId(int64_t min_t, int64_t max_t, int level) {
    return fmt::format("{:016x}-{:016x}-{}", static_cast<uint64_t>(min_t),
                       static_cast<uint64_t>(max_t), level);
  }

  // Moves every head sample older than `boundary` into a block, then checkpoints the WAL so
  // it holds only what the head still serves.
  Status Cut(int64_t boundary) {
    std::lock_guard<std::mutex> cut_lock(cut_mu_);
    if (boundary <= head_.MinAppendTime()) return Status::Ok();
    auto start = std::chrono::steady_clock::now();
    // From here on, older samples are refused; what was applied before is in the snapshot.
    head_.SetMinAppendTime(boundary);
    Result<uint64_t> segment = wal_->Roll();
    if (!segment.ok()) return segment.status();
    uint64_t limit = head_.RefLimit();
    std::vector<BlockSeries> series;
    std::vector<Sample> samples;
    int64_t min_t = INT64_MAX, max_t = INT64_MIN;
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        head_.Read(*s, INT64_MIN, boundary - 1, samples);
      }
      if (samples.empty()) continue;
      min_t = std::min(min_t, samples.front().t);
      max_t = std::max(max_t, samples.back().t);
      series.push_back(BlockSeries{head_.LabelsOf(*s), samples});
    }
    std::vector<std::shared_ptr<Block>> blocks = Blocks();
    if (!series.empty()) {
      std::sort(series.begin(), series.end(), [](const BlockSeries& a, const BlockSeries& b) {
        return LabelsLess(a.labels, b.labels);
      });
      BlockMeta meta;
      meta.min_t = min_t;
      meta.max_t = boundary - 1;
      meta.level = 1;
      meta.id = BlockId(meta.min_t, meta.max_t, meta.level);
      PHAROS_RETURN_IF_ERROR(WriteBlock(options_.env, blocks_dir_, meta, series));
      Result<std::unique_ptr<Block>> block = Block::Open(blocks_dir_ + "/" + meta.id);
      if (!block.ok()) return block.status();
      blocks.push_back(std::shared_ptr<Block>(std::move(block).value()));
      std::sort(blocks.begin(), blocks.end(),
                [](const auto& a, const auto& b) { return a->meta().min_t < b->meta().min_t; });
      SetBlocks(blocks);
      metrics_.blocks_cut.Inc();
    }
    head_.SetMinReadTime(boundary);
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      std::lock_guard<std::mutex> lock(head_.Stripe(ref));
      head_.Truncate(*s, boundary);
    }
    size_t collected;
    {
      std::unique_lock<std::shared_mutex> no_appends(append_mu_);
      collected = head_.GarbageCollect();
    }
    PHAROS_RETURN_IF_ERROR(Checkpoint(*segment, boundary));
    UpdateGauges();
    LogInfo("TSDB head cut into a block",
            {{"boundary_ms", boundary},
             {"series", series.size()},
             {"series_removed_from_head", collected},
             {"seconds",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}});
    return Status::Ok();
  }

  // Rewrites what the head holds into the WAL's current segment (every series, and the
  // samples from `boundary` on), then drops the segments before `segment`.
  Status Checkpoint(uint64_t segment, int64_t boundary) {
    uint64_t limit = head_.RefLimit();
    std::vector<std::string> records;
    std::string record;
    BeginSeriesRecord(record);
    std::vector<LabelView> views;
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      Labels labels = head_.LabelsOf(*s);
      views.clear();
      for (const Label& l : labels) views.push_back({l.name, l.value});
      EncodeSeries(ref, views, record);
      if (record.size() > (4u << 20)) {
        records.push_back(std::move(record));
        BeginSeriesRecord(record);
      }
    }
    if (record.size() > 1) records.push_back(std::move(record));
    std::vector<Sample> samples;
    BeginSamplesRecord(record, boundary);
    size_t in_record = 0;
    for (uint64_t ref = 1; ref < limit; ++ref) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        head_.Read(*s, boundary, INT64_MAX, samples);
      }
      for (const Sample& smp : samples) {
        EncodeSample(RefSample{ref, smp.t, smp.v}, boundary, record);
        if (++in_record == kSamplesPerRecord) {
          records.push_back(std::move(record));
          BeginSamplesRecord(record, boundary);
          in_record = 0;
        }
      }
    }
    if (in_record) records.push_back(std::move(record));
    std::vector<std::string_view> views_of_records(records.begin(), records.end());
    if (!views_of_records.empty()) PHAROS_RETURN_IF_ERROR(wal_->AppendBatch(views_of_records));
    PHAROS_RETURN_IF_ERROR(wal_->Sync());
    return wal_->RemoveSegmentsBefore(segment);
  }

  // Merges, as Prometheus compacts, three adjacent blocks of one level into one block of
  // the next, when they fall into one aligned window of block_duration * 3^level; windows
  // stop growing at a tenth of retention (31 days without retention). Each block is thus
  // rewritten a few times at most.
  Status MergeBlocks() {
    std::lock_guard<std::mutex> cut_lock(cut_mu_);
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
      std::map<Labels, std::vector<Sample>, LabelsLessFn> merged;
      level += 1;
      for (const auto& b : inputs) {
        for (uint64_t id = 0; id < b->num_series(); ++id) {
          PHAROS_RETURN_IF_ERROR(b->Read(id, INT64_MIN, INT64_MAX, merged[b->LabelsOf(id)]));
        }
      }
      std::vector<BlockSeries> series;
      series.reserve(merged.size());
      for (auto& [labels, samples] : merged)
        series.push_back(BlockSeries{labels, std::move(samples)});
      BlockMeta meta;
      meta.min_t = inputs.front()->meta().min_t;
      meta.max_t = inputs.back()->meta().max_t;
      meta.level = level;
      meta.id = BlockId(meta.min_t, meta.max_t, meta.level);
      PHAROS_RETURN_IF_ERROR(WriteBlock(options_.env, blocks_dir_, meta, series));
      Result<std::unique_ptr<Block>> block = Block::Open(blocks_dir_ + "/" + meta.id);
      if (!block.ok()) return block.status();
      std::vector<std::shared_ptr<Block>> next(blocks.begin(),
                                               blocks.begin() + static_cast<ptrdiff_t>(i));
      next.push_back(std::shared_ptr<Block>(std::move(block).value()));
      next.insert(next.end(), blocks.begin() + static_cast<ptrdiff_t>(j) + 1, blocks.end());
      SetBlocks(std::move(next));
      for (const auto& b : inputs) PHAROS_RETURN_IF_ERROR(DeleteBlock(*b));
      metrics_.blocks_merged.Inc(static_cast<double>(inputs.size()));
      LogInfo("TSDB blocks merged",
              {{"inputs", inputs.size()}, {"level", level}, {"series", series.size()}});
      return Status::Ok();  // one merge per round keeps each round short
    }
    return Status::Ok();
  }

  // Renamed first, so an interrupted delete is finished at the next start.
  Status DeleteBlock(const Block& b) {
    std::string path = b.dir();
    PHAROS_RETURN_IF_ERROR(options_.env->Rename(path, path + ".del"));
    return options_.env->RemoveAll(path + ".del");
  }

  Status ApplyRetention() {
    std::lock_guard<std::mutex> cut_lock(cut_mu_);
    std::vector<std::shared_ptr<Block>> blocks = Blocks();
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
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
  mutable std::shared_mutex blocks_mu_;
  std::vector<std::shared_ptr<Block>> blocks_;  // guarded by blocks_mu_; by min_t
  std::mutex cut_mu_;                           // one cut, merge or expiry at a time
  std::shared_mutex append_mu_;  // appends take it shared, head garbage collection exclusive
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread maintenance_;
};

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const Options& options, selfmon::Registry& registry) {
  PHAROS_RETURN_IF_ERROR(options.env->MakeDirs(options.dir));
  auto db = std::make_unique<DbImpl>(options, registry);
  PHAROS_RETURN_IF_ERROR(db->OpenBlocks());
  PHAROS_RETURN_IF_ERROR(db->OpenWal());
  db->StartMaintenance();
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace pharos::tsdb
