#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"
#include "tsdb/head.h"
#include "tsdb/tsdb.h"
#include "tsdb/wal_records.h"
#include "wal/wal.h"

namespace pharos::tsdb {
namespace {

constexpr size_t kMaxErrorsReported = 8;
constexpr size_t kSamplesPerRecord = 100'000;  // keeps WAL records well under their cap

bool ValidLabelName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool ValidMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

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
};

class DbImpl;

class HeadQuerier final : public Querier {
 public:
  HeadQuerier(Head& head, int64_t mint, int64_t maxt) : head_(head), mint_(mint), maxt_(maxt) {}

  Result<std::vector<SeriesData>> Select(std::span<const Matcher> matchers) override {
    std::vector<SeriesData> out;
    std::vector<Sample> samples;
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (!s) continue;
      {
        std::lock_guard<std::mutex> lock(head_.Stripe(ref));
        head_.Read(*s, mint_, maxt_, samples);
      }
      if (samples.empty()) continue;
      out.push_back(SeriesData{head_.LabelsOf(*s), samples});
    }
    SortByLabels(out);
    return out;
  }

  Result<std::vector<Labels>> Series(std::span<const Matcher> matchers) override {
    std::vector<Labels> out;
    for (uint64_t ref : head_.Postings(matchers)) {
      MemSeries* s = head_.ByRef(ref);
      if (!s || !HasSamplesInRange(*s)) continue;
      out.push_back(head_.LabelsOf(*s));
    }
    std::sort(out.begin(), out.end(), LabelsLess);
    return out;
  }

  Result<std::vector<std::string>> LabelNames(std::span<const Matcher> matchers) override {
    if (matchers.empty()) return head_.LabelNames();
    std::vector<std::string> names;
    Result<std::vector<Labels>> series = Series(matchers);
    if (!series.ok()) return series.status();
    for (const Labels& ls : *series) {
      for (const Label& l : ls) names.push_back(l.name);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
  }

  Result<std::vector<std::string>> LabelValues(const std::string& name,
                                               std::span<const Matcher> matchers) override {
    if (matchers.empty()) return head_.LabelValues(name);
    std::vector<std::string> values;
    Result<std::vector<Labels>> series = Series(matchers);
    if (!series.ok()) return series.status();
    for (const Labels& ls : *series) {
      for (const Label& l : ls) {
        if (l.name == name) values.push_back(l.value);
      }
    }
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    return values;
  }

 private:
  static bool LabelsLess(const Labels& a, const Labels& b) {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(), [](const Label& x, const Label& y) {
          return x.name != y.name ? x.name < y.name : x.value < y.value;
        });
  }
  static void SortByLabels(std::vector<SeriesData>& v) {
    std::sort(v.begin(), v.end(), [](const SeriesData& a, const SeriesData& b) {
      return LabelsLess(a.labels, b.labels);
    });
  }
  bool HasSamplesInRange(const MemSeries& s) {
    std::lock_guard<std::mutex> lock(head_.Stripe(s.ref));
    std::vector<Sample> samples;
    head_.Read(s, mint_, maxt_, samples);
    return !samples.empty();
  }

  Head& head_;
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
                  ++unknown_refs;
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
    return std::make_unique<HeadQuerier>(head_, mint, maxt);
  }

  Stats GetStats(size_t limit) override { return head_.GetStats(limit); }

  Status Close() override {
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
      if (!ValidLabelName(l.name) || (i > 0 && labels[i - 1].name == l.name) ||
          (l.name == "__name__" && !ValidMetricName(l.value)) || !ValidUtf8(l.value)) {
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

  Options options_;
  selfmon::Registry& registry_;
  TsdbMetrics metrics_;
  Head head_;
  std::unique_ptr<wal::Wal> wal_;
};

}  // namespace

Result<std::unique_ptr<Db>> Db::Open(const Options& options, selfmon::Registry& registry) {
  PHAROS_RETURN_IF_ERROR(options.env->MakeDirs(options.dir));
  auto db = std::make_unique<DbImpl>(options, registry);
  PHAROS_RETURN_IF_ERROR(db->OpenWal());
  return std::unique_ptr<Db>(std::move(db));
}

}  // namespace pharos::tsdb
