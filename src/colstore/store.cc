// The column store: WAL, head, cuts into segments, retention and merged scans.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <queue>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "colstore/colstore.h"
#include "colstore/head.h"
#include "colstore/segment.h"
#include "common/log.h"
#include "common/mutex.h"
#include "common/strings.h"
#include "wal/wal.h"

namespace pharos::colstore {
namespace {

using internal::Head;
using internal::Segment;

constexpr size_t kMaxErrors = 8;

struct Metrics {
  explicit Metrics(selfmon::Registry& r, const std::string& name)
      : appended(r.AddCounter("pharos_colstore_records_appended_total",
                              "Records the column store acknowledged.", {"store"})
                     .WithLabels({name})),
        refused(r.AddCounter("pharos_colstore_refused_total",
                             "Records the column store refused, by reason.", {"store", "reason"})),
        cuts(r.AddCounter("pharos_colstore_cuts_total", "Heads cut into segments.", {"store"})
                 .WithLabels({name})),
        cut_failures(r.AddCounter("pharos_colstore_cut_failures_total",
                                  "Cuts that failed (retried at the next maintenance).", {"store"})
                         .WithLabels({name})),
        segments_deleted(r.AddCounter("pharos_colstore_segments_deleted_total",
                                      "Segments deleted by retention.", {"store", "reason"})),
        merges(r.AddCounter("pharos_colstore_merges_total",
                            "Merges of segments into one, by outcome.", {"store", "outcome"})),
        waits(r.AddCounter("pharos_colstore_append_waits_total",
                           "Appends that waited for a cut because the head was full.", {"store"})
                  .WithLabels({name})),
        name_(name) {}

  void Refuse(std::string_view reason, uint64_t n = 1) {
    refused.WithLabels({name_, std::string(reason)}).Inc(static_cast<double>(n));
  }

  selfmon::Counter& appended;
  selfmon::Family<selfmon::Counter>& refused;
  selfmon::Counter& cuts;
  selfmon::Counter& cut_failures;
  selfmon::Family<selfmon::Counter>& segments_deleted;
  selfmon::Family<selfmon::Counter>& merges;
  selfmon::Counter& waits;
  std::string name_;
};

std::string SegmentFileName(uint64_t id) { return fmt::format("{:016x}.seg", id); }

// The id in a segment's file name (16 hex digits).
uint64_t SegmentId(const std::string& path) {
  size_t slash = path.find_last_of('/');
  std::string name = path.substr(slash == std::string::npos ? 0 : slash + 1, 16);
  return std::strtoull(name.c_str(), nullptr, 16);
}

// A merge tier: segments within a factor of 4 of each other in size, from 1 MiB.
int SizeTier(uint64_t bytes) {
  int tier = 0;
  for (uint64_t b = bytes >> 20; b >= 4; b >>= 2) ++tier;
  return tier;
}

class StoreImpl : public Store {
 public:
  StoreImpl(const Options& options, selfmon::Registry& registry)
      : options_(options), env_(*options.env), metrics_(registry, options.name) {}

  ~StoreImpl() override { (void)Close(); }

  Status Init() {
    segments_dir_ = options_.dir + "/segments";
    PHAROS_RETURN_IF_ERROR(env_.MakeDirs(segments_dir_));
    Result<std::vector<std::string>> files = env_.ListDir(segments_dir_);
    if (!files.ok()) return files.status();
    std::vector<std::string> names = *files;
    std::sort(names.begin(), names.end());
    uint64_t cover = 0;
    uint64_t next_id = 1;
    std::vector<std::shared_ptr<const Segment>> segments;
    for (const std::string& f : names) {
      std::string path = segments_dir_ + "/" + f;
      if (f.ends_with(".tmp")) {
        (void)env_.Remove(path);  // a cut that did not finish: its records are in the WAL
        continue;
      }
      if (!f.ends_with(".seg")) continue;
      Result<std::unique_ptr<Segment>> seg = Segment::Open(env_, path);
      if (!seg.ok()) return seg.status();
      cover = std::max(cover, (*seg)->info().wal_cover);
      next_id = std::max<uint64_t>(next_id, SegmentId(path) + 1);
      segments.push_back(std::move(seg).value());
    }
    // A merge that crashed after writing its result but before removing its inputs: the
    // result holds their rows, so they go now.
    std::set<uint64_t> replaced;
    for (const auto& seg : segments)
      replaced.insert(seg->info().replaces.begin(), seg->info().replaces.end());
    std::vector<std::shared_ptr<const Segment>> live;
    for (auto& seg : segments) {
      if (replaced.count(SegmentId(seg->path()))) {
        PHAROS_RETURN_IF_ERROR(env_.Remove(seg->path()));
        continue;
      }
      live.push_back(std::move(seg));
    }
    segments = std::move(live);
    // Oldest first (retention by size drops from the front): a merged segment sits where
    // its rows' times put it, not where its new id would.
    std::stable_sort(segments.begin(), segments.end(), [](const auto& a, const auto& b) {
      return a->info().max_t < b->info().max_t;
    });
    wal::Options wo;
    wo.dir = options_.dir + "/wal";
    wo.env = &env_;
    auto head = std::make_shared<Head>(cover, NewHeadOptions());
    internal::WalRecord record;
    const bool filtered = NewHeadOptions().filtered();  // records' filter values are decoded
    auto replay = [&](std::string_view data, const wal::RecordPosition& at) -> Status {
      uint64_t segment = 0;
      if (!at.file.starts_with("checkpoint")) {
        segment = std::strtoull(std::string(at.file).c_str(), nullptr, 10);
        if (segment < cover) return Status::Ok();  // already in a segment file
      }
      if (!internal::DecodeWalRecord(data, record))
        return DataLoss(
            fmt::format("undecodable colstore WAL record in {} at {}", at.file, at.offset));
      model::Labels labels = record.labels;
      std::string key = internal::StreamKey(labels);
      std::vector<Column> columns;
      std::vector<Head::Record> records;
      for (const auto& e : record.entries) {
        std::string_view text, value;
        if (filtered) {
          if (!internal::DecodeColumns(e.columns, columns))
            return DataLoss(
                fmt::format("undecodable colstore WAL record in {} at {}", at.file, at.offset));
          text = TextOf(columns);  // views into e.columns, which outlives the Add
          value = ValueOf(columns);
        }
        records.push_back({e.time_ns, e.columns, text, value});
      }
      head->Add(key, labels, records);
      return Status::Ok();
    };
    Result<std::unique_ptr<wal::Wal>> opened = wal::Wal::Open(wo, replay, nullptr);
    if (!opened.ok()) return opened.status();
    wal_ = std::move(opened).value();
    PHAROS_RETURN_IF_ERROR(wal_->RemoveSegmentsBefore(cover));
    {
      MutexLock lock(state_mu_);
      segments_ = std::move(segments);
      next_segment_id_ = next_id;
      head_ = std::move(head);
      head_started_ms_ = env_.NowMs();
    }
    if (options_.maintenance_interval.count() > 0) {
      worker_ = std::thread([this] { Work(); });
      merger_ = std::thread([this] { MergeLoop(); });
    }
    return Status::Ok();
  }

  Status Append(std::span<const StreamInput> batch, AppendResult& result) override {
    result = AppendResult();
    PHAROS_RETURN_IF_ERROR(WaitWhileHeadIsFull());
    auto refuse = [&](std::string_view reason, uint64_t n, std::string message) {
      metrics_.Refuse(reason, n);
      result.rejected += n;
      if (result.errors.size() < kMaxErrors) result.errors.push_back(std::move(message));
    };
    struct Accepted {
      model::Labels labels;
      std::string key;
      std::vector<RecordInput> records;
    };
    std::vector<Accepted> accepted;
    ReaderLock append_lock(append_mu_);
    std::shared_ptr<Head> head = CurrentHead();
    size_t new_streams = 0;
    for (const StreamInput& in : batch) {
      model::Labels labels;
      std::string why, reason;
      if (!ValidLabels(in.labels, labels, why, reason)) {
        refuse(reason, in.records.size(), why);
        continue;
      }
      std::string key = internal::StreamKey(labels);
      bool existing = head->Has(key);
      if (!existing && head->StreamCount() + new_streams >= options_.limits.max_streams) {
        refuse("streams", in.records.size(),
               fmt::format("stream {} refused: the store holds {} streams (limit max_streams)",
                           model::FormatLabelsBounded(labels, 256), options_.limits.max_streams));
        continue;
      }
      Accepted a{std::move(labels), std::move(key), {}};
      for (const RecordInput& rec : in.records) {
        if (ValidRecord(rec, a.labels, why, reason)) {
          a.records.push_back(rec);
        } else {
          refuse(reason, 1, why);
        }
      }
      if (!a.records.empty()) {
        if (!existing) ++new_streams;
        accepted.push_back(std::move(a));
      }
    }
    if (accepted.empty()) return Status::Ok();
    std::vector<std::string> wal_records(accepted.size());
    std::vector<std::string_view> views;
    std::vector<model::LabelView> label_views;
    for (size_t i = 0; i < accepted.size(); ++i) {
      label_views.clear();
      for (const model::Label& l : accepted[i].labels) label_views.push_back({l.name, l.value});
      internal::EncodeWalRecord(wal_records[i], label_views, accepted[i].records);
      views.push_back(wal_records[i]);
    }
    Status s = wal_->AppendBatch(views);
    if (!s.ok()) {
      metrics_.Refuse("wal");
      return Unavailable(
          fmt::format("the {} WAL refused the write: {}", options_.name, s.message()));
    }
    // Each stream's records encoded into one buffer, then added under one lock.
    std::string columns;
    std::vector<size_t> ends;
    std::vector<Head::Record> records;
    for (const Accepted& a : accepted) {
      columns.clear();
      ends.clear();
      for (const RecordInput& rec : a.records) {
        internal::EncodeColumns(columns, rec.columns);
        ends.push_back(columns.size());
      }
      records.clear();
      for (size_t i = 0; i < a.records.size(); ++i) {  // views taken once `columns` is whole
        size_t begin = i == 0 ? 0 : ends[i - 1];
        records.push_back({a.records[i].time_ns,
                           std::string_view(columns).substr(begin, ends[i] - begin),
                           TextOf(a.records[i].columns), ValueOf(a.records[i].columns)});
      }
      head->Add(a.key, a.labels, records);
      result.accepted += a.records.size();
    }
    metrics_.appended.Inc(static_cast<double>(result.accepted));
    if (options_.on_append) {
      std::vector<AppendedStream> kept;
      kept.reserve(accepted.size());
      for (const Accepted& a : accepted) kept.push_back({&a.labels, a.records});
      options_.on_append(kept);
    }
    // A full head is cut now, not at the next maintenance tick: at ingest rates of 100 MB/s
    // a tick of seconds would let the head grow to gigabytes.
    if (head->bytes() >= options_.head_max_bytes && worker_.joinable() && !kick_.exchange(true)) {
      worker_cv_.notify_one();
    }
    return Status::Ok();
  }

  Result<ScanStats> Scan(const ScanPlan& plan, const RowVisitor& visit) override {
    ScanStats stats;
    internal::Selection sel{plan.mint_ns, plan.maxt_ns, plan.backward,    plan.columns.empty(),
                            plan.columns, plan.filters, plan.skip_columns};
    for (const auto& [column, value] : plan.value_hints)
      sel.value_keys.emplace_back(column, internal::ValueKeys(value));
    View view = Snapshot();
    std::vector<std::unique_ptr<internal::Cursor>> cursors;
    for (const auto& seg : view.segments) {
      const internal::SegmentInfo& info = seg->info();
      if (info.rows == 0 || info.max_t < plan.mint_ns || info.min_t > plan.maxt_ns) continue;
      ++stats.segments_read;
      for (size_t i = 0; i < seg->streams().size(); ++i) {
        if (!model::MatchesAll(plan.streams, seg->streams()[i].labels)) {
          stats.blocks_skipped += seg->streams()[i].blocks.size();
          continue;
        }
        cursors.push_back(internal::SegmentCursor(seg, i, &sel));
      }
    }
    for (const auto& h : {view.cutting, view.head}) {
      if (!h) continue;
      h->ForEachStream([&](const Head::Stream& s) {
        if (model::MatchesAll(plan.streams, s.labels))
          cursors.push_back(internal::HeadCursor(h, s, &sel));
      });
    }
    Status status;
    if (plan.time_ordered) {
      status = MergeByTime(plan, visit, cursors, stats);
    } else if (plan.threads > 1 && cursors.size() > 1) {
      status = StreamByStreamInParallel(plan, visit, cursors, stats);
    } else {
      status = StreamByStream(plan, visit, cursors, stats);
    }
    for (const auto& c : cursors) {
      if (c) AddStats(stats, c->stats);
    }
    if (!status.ok()) return status;
    return stats;
  }

 private:
  // Adds a block's rows to the counts of the windows overlapping [min_t, max_t] (sorted
  // windows: from the first ending at or after min_t, while they start at or before
  // max_t): all `rows` to a window holding the whole block, else partial(window). Returns
  // whether any window overlaps.
  template <class Partial>
  static bool CountBlock(std::span<const TimeWindow> windows, int64_t min_t, int64_t max_t,
                         uint64_t rows, std::vector<uint64_t>& counts, Partial&& partial) {
    size_t w = static_cast<size_t>(
        std::lower_bound(windows.begin(), windows.end(), min_t,
                         [](const TimeWindow& x, int64_t t) { return x.maxt_ns < t; }) -
        windows.begin());
    bool any = false;
    for (; w < windows.size() && windows[w].mint_ns <= max_t; ++w) {
      any = true;
      bool whole = windows[w].mint_ns <= min_t && max_t <= windows[w].maxt_ns;
      counts[w] += whole ? rows : partial(windows[w]);
    }
    return any;
  }

  static void AddStats(ScanStats& to, const ScanStats& from) {
    to.segments_read += from.segments_read;
    to.blocks_read += from.blocks_read;
    to.blocks_skipped += from.blocks_skipped;
    to.blocks_filtered += from.blocks_filtered;
    to.rows_scanned += from.rows_scanned;
    to.rows_returned += from.rows_returned;
  }

  // Frees a cursor's decoded block now, keeping its statistics.
  static void Retire(std::unique_ptr<internal::Cursor>& c, ScanStats& stats) {
    AddStats(stats, c->stats);
    c.reset();
  }

  using Cursors = std::vector<std::unique_ptr<internal::Cursor>>;

  // One cursor after another, each released before the next decodes anything.
  static Status StreamByStream(const ScanPlan& plan, const RowVisitor& visit, Cursors& cursors,
                               ScanStats& stats) {
    for (auto& c : cursors) {
      while (c->Next()) {
        ++stats.rows_returned;
        if (!visit(Row{c->labels, c->time_ns, c->columns})) return Status::Ok();
        if (plan.limit && stats.rows_returned >= plan.limit) return Status::Ok();
      }
      if (!c->status.ok()) return c->status;
      Retire(c, stats);
    }
    return Status::Ok();
  }

  // Cursors taken one at a time by plan.threads threads (this one among them), each
  // decoding and filtering on its own and visiting its rows under one lock: the visitor
  // sees one row at a time, and decoding, the bulk of a scan, runs in parallel.
  static Status StreamByStreamInParallel(const ScanPlan& plan, const RowVisitor& visit,
                                         Cursors& cursors, ScanStats& stats) {
    std::mutex mu;  // the visitor, the row count, the first error
    Status failed;
    std::atomic<bool> stop{false};
    std::atomic<size_t> next{0};
    size_t threads = std::min<size_t>(plan.threads, cursors.size());
    std::vector<ScanStats> shares(threads);
    auto work = [&](ScanStats& share) {
      while (!stop.load(std::memory_order_relaxed)) {
        size_t i = next.fetch_add(1);
        if (i >= cursors.size()) return;
        std::unique_ptr<internal::Cursor>& c = cursors[i];
        while (!stop.load(std::memory_order_relaxed) && c->Next()) {
          std::lock_guard<std::mutex> lock(mu);
          if (stop.load(std::memory_order_relaxed)) break;
          ++stats.rows_returned;
          if (!visit(Row{c->labels, c->time_ns, c->columns}) ||
              (plan.limit && stats.rows_returned >= plan.limit))
            stop = true;
        }
        if (!c->status.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (failed.ok()) failed = c->status;
          stop = true;
        }
        AddStats(share, c->stats);
        c.reset();  // this thread's block is freed before it takes the next cursor
      }
    };
    std::vector<std::thread> helpers;
    for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work, std::ref(shares[t]));
    work(shares[0]);
    for (std::thread& t : helpers) t.join();
    for (const ScanStats& share : shares) AddStats(stats, share);
    return failed;
  }

  // A k-way merge by time (then stream order). Cursors open in the order of their bounds,
  // each only once its rows may come next, and close when done: a scan holds decoded
  // blocks only for streams whose time ranges overlap where it is.
  static Status MergeByTime(const ScanPlan& plan, const RowVisitor& visit, Cursors& cursors,
                            ScanStats& stats) {
    for (auto& c : cursors) {
      if (c->empty) Retire(c, stats);
    }
    std::erase_if(cursors, [](const std::unique_ptr<internal::Cursor>& c) { return !c; });
    std::stable_sort(cursors.begin(), cursors.end(), [&](const auto& a, const auto& b) {
      return plan.backward ? a->bound > b->bound : a->bound < b->bound;
    });
    auto later = [&](internal::Cursor* a, internal::Cursor* b) {
      // Backward is the exact reverse of forward: ties by stream order, reversed too.
      if (a->time_ns != b->time_ns)
        return plan.backward ? a->time_ns < b->time_ns : a->time_ns > b->time_ns;
      return plan.backward ? model::LabelsLess(*a->labels, *b->labels)
                           : model::LabelsLess(*b->labels, *a->labels);
    };
    std::priority_queue<internal::Cursor*, std::vector<internal::Cursor*>, decltype(later)> heap(
        later);
    size_t pending = 0;
    auto may_precede = [&](int64_t bound, int64_t t) {
      return plan.backward ? bound >= t : bound <= t;
    };
    auto retire = [&](internal::Cursor* c) {
      for (auto& owned : cursors) {
        if (owned.get() == c) {
          Retire(owned, stats);
          break;
        }
      }
    };
    while (true) {
      while (pending < cursors.size() &&
             (heap.empty() || may_precede(cursors[pending]->bound, heap.top()->time_ns))) {
        std::unique_ptr<internal::Cursor>& owned = cursors[pending++];
        internal::Cursor* c = owned.get();
        if (c->Next()) {
          heap.push(c);
        } else if (!c->status.ok()) {
          return c->status;
        } else {
          Retire(owned, stats);  // nothing in range passed: free its block now
        }
      }
      if (heap.empty()) break;
      internal::Cursor* c = heap.top();
      heap.pop();
      ++stats.rows_returned;
      if (!visit(Row{c->labels, c->time_ns, c->columns})) break;
      if (plan.limit && stats.rows_returned >= plan.limit) break;
      if (c->Next()) {
        heap.push(c);
      } else if (!c->status.ok()) {
        return c->status;
      } else {
        retire(c);  // done: free its decoded block now
      }
    }
    return Status::Ok();
  }

 public:
  Result<std::vector<model::Labels>> Streams(std::span<const model::Matcher> matchers,
                                             int64_t mint_ns, int64_t maxt_ns) override {
    View view = Snapshot();
    const auto& segments = view.segments;
    const std::shared_ptr<Head>& head = view.head;
    const std::shared_ptr<Head>& cutting = view.cutting;
    std::vector<model::Labels> out;
    for (const auto& seg : segments) {
      if (seg->info().rows == 0 || seg->info().max_t < mint_ns || seg->info().min_t > maxt_ns)
        continue;
      for (const internal::SegmentStream& s : seg->streams()) {
        bool in_range = std::any_of(
            s.blocks.begin(), s.blocks.end(),
            [&](const internal::BlockRef& b) { return b.max_t >= mint_ns && b.min_t <= maxt_ns; });
        if (in_range && model::MatchesAll(matchers, s.labels)) out.push_back(s.labels);
      }
    }
    for (const auto& h : {cutting, head}) {
      if (!h) continue;
      h->ForEachStream([&](const Head::Stream& s) {
        bool in_range = std::any_of(s.entries.begin(), s.entries.end(), [&](const Head::Entry& e) {
          return e.time_ns >= mint_ns && e.time_ns <= maxt_ns;
        });
        if (in_range && model::MatchesAll(matchers, s.labels)) out.push_back(s.labels);
      });
    }
    std::sort(out.begin(), out.end(), model::LabelsLess);
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  Result<ScanStats> Count(std::span<const model::Matcher> matchers,
                          std::span<const TimeWindow> windows, const CountVisitor& visit) override {
    ScanStats stats;
    if (windows.empty()) return stats;
    const int64_t mint = windows.front().mint_ns, maxt = windows.back().maxt_ns;
    View view = Snapshot();
    std::vector<uint64_t> counts(windows.size());
    const std::function<bool(std::string_view)> no_columns = [](std::string_view) { return false; };
    internal::DecodedBlock block;
    for (const auto& seg : view.segments) {
      const internal::SegmentInfo& info = seg->info();
      if (info.rows == 0 || info.max_t < mint || info.min_t > maxt) continue;
      ++stats.segments_read;
      for (const internal::SegmentStream& s : seg->streams()) {
        if (!model::MatchesAll(matchers, s.labels)) {
          stats.blocks_skipped += s.blocks.size();
          continue;
        }
        std::fill(counts.begin(), counts.end(), 0);
        bool any = false;
        for (const internal::BlockRef& b : s.blocks) {
          bool decoded = false;
          Status read;
          any |= CountBlock(windows, b.min_t, b.max_t, b.rows, counts, [&](const TimeWindow& w) {
            if (!read.ok()) return uint64_t{0};  // reported after the block
            if (!decoded) {
              read = seg->ReadBlock(b, &no_columns, block);
              if (!read.ok()) return uint64_t{0};
              ++stats.blocks_read;
              decoded = true;
            }
            auto lo = std::lower_bound(block.times.begin(), block.times.end(), w.mint_ns);
            auto hi = std::upper_bound(lo, block.times.end(), w.maxt_ns);
            return static_cast<uint64_t>(hi - lo);
          });
          PHAROS_RETURN_IF_ERROR(read);
          if (!decoded) ++stats.blocks_skipped;
        }
        if (any) visit(s.labels, counts);
      }
    }
    for (const auto& h : {view.cutting, view.head}) {
      if (!h) continue;
      h->ForEachStream([&](const Head::Stream& s) {
        if (!model::MatchesAll(matchers, s.labels)) return;
        std::fill(counts.begin(), counts.end(), 0);
        bool any = false;
        for (const Head::Block& b : s.blocks) {
          any |= CountBlock(windows, b.min_t, b.max_t, b.end - b.begin, counts,
                            [&](const TimeWindow& w) {
                              uint64_t n = 0;  // arrival order: every entry is looked at
                              for (size_t i = b.begin; i < b.end; ++i) {
                                int64_t t = s.entries[i].time_ns;
                                n += t >= w.mint_ns && t <= w.maxt_ns;
                              }
                              return n;
                            });
        }
        if (any) visit(s.labels, counts);
      });
    }
    return stats;
  }

  Status Flush() override { return Cut(); }

  Status Maintain() override {
    if (CutDue()) {
      Status s = Cut();
      if (!s.ok()) {
        metrics_.cut_failures.Inc();
        LogError("colstore cut failed; the head stays in the WAL and is retried",
                 {{"store", options_.name}, {"error", s.message()}});
        return s;
      }
    }
    return ApplyRetention();
  }

  Stats GetStats() override {
    Stats st;
    MutexLock lock(state_mu_);
    for (const auto& h : {head_, cutting_}) {
      if (!h) continue;
      st.head_rows += h->rows();
      st.head_bytes += h->bytes();
      st.head_streams += h->StreamCount();
    }
    st.segments = segments_.size();
    for (const auto& s : segments_) {
      st.segment_bytes += s->info().bytes;
      st.segment_rows += s->info().rows;
      st.merged_segments += !s->info().replaces.empty();
    }
    return st;
  }

  Status Merge(bool* merged) override {
    if (merged) *merged = false;
    std::lock_guard<std::mutex> merge_lock(merge_mu_);
    std::vector<std::shared_ptr<const Segment>> inputs = PickMerge();
    if (inputs.empty()) return Status::Ok();
    Status s = MergeSegments(inputs);
    metrics_.merges.WithLabels({options_.name, s.ok() ? "merged" : "failed"}).Inc();
    if (!s.ok()) {
      LogError("colstore merge failed; its inputs stay",
               {{"store", options_.name}, {"error", s.message()}});
      return s;
    }
    if (merged) *merged = true;
    return Status::Ok();
  }

  Status Close() override {
    {
      std::lock_guard<std::mutex> lock(worker_mu_);
      if (closed_) return Status::Ok();
      closed_ = true;
    }
    worker_cv_.notify_all();
    merger_cv_.notify_all();
    if (worker_.joinable()) worker_.join();
    if (merger_.joinable()) merger_.join();
    return wal_ ? wal_->Close() : Status::Ok();
  }

 private:
  bool ValidLabels(std::span<const model::LabelView> in, model::Labels& out, std::string& why,
                   std::string& reason) const {
    const Limits& lim = options_.limits;
    for (const model::LabelView& l : in) {
      if (l.value.empty()) continue;  // an empty label is an absent label
      out.push_back({std::string(l.name), std::string(l.value)});
    }
    model::SortLabels(out);
    if (out.empty()) {
      reason = "labels";
      why = "a stream needs at least one label";
      return false;
    }
    if (out.size() > lim.max_labels_per_stream) {
      reason = "labels";
      why =
          fmt::format("stream {} has {} labels (limit max_labels_per_stream {})",
                      model::FormatLabelsBounded(out, 256), out.size(), lim.max_labels_per_stream);
      return false;
    }
    for (size_t i = 0; i < out.size(); ++i) {
      const model::Label& l = out[i];
      if (!IsValidLabelName(l.name) || (i > 0 && out[i - 1].name == l.name)) {
        reason = "labels";
        why = fmt::format("stream {}: invalid or repeated label name \"{}\"",
                          model::FormatLabelsBounded(out, 256), l.name.substr(0, 128));
        return false;
      }
      if (l.name.size() > lim.max_label_bytes || l.value.size() > lim.max_label_bytes) {
        reason = "labels";
        why = fmt::format("stream {}: label {} is longer than {} bytes (limit max_label_bytes)",
                          model::FormatLabelsBounded(out, 256), l.name.substr(0, 128),
                          lim.max_label_bytes);
        return false;
      }
      if (!IsValidUtf8(l.value)) {
        reason = "utf8";
        why = fmt::format("stream {}: label {} is not valid UTF-8",
                          model::FormatLabelsBounded(out, 256), l.name);
        return false;
      }
    }
    return true;
  }

  bool ValidRecord(const RecordInput& rec, const model::Labels& labels, std::string& why,
                   std::string& reason) const {
    const Limits& lim = options_.limits;
    if (rec.columns.size() > lim.max_columns_per_record) {
      reason = "columns";
      why = fmt::format("a record of stream {} has {} columns (limit max_columns_per_record {})",
                        model::FormatLabelsBounded(labels, 256), rec.columns.size(),
                        lim.max_columns_per_record);
      return false;
    }
    uint64_t bytes = 0;
    for (size_t i = 0; i < rec.columns.size(); ++i) {
      const Column& c = rec.columns[i];
      bytes += c.name.size() + c.value.s.size() + 8;
      if (c.name.empty() || !IsValidUtf8(c.name)) {
        reason = "columns";
        why = fmt::format("a record of stream {} has an empty or non-UTF-8 column name",
                          model::FormatLabelsBounded(labels, 256));
        return false;
      }
      for (size_t j = 0; j < i; ++j) {
        if (rec.columns[j].name == c.name) {
          reason = "columns";
          why = fmt::format("a record of stream {} repeats column \"{}\"",
                            model::FormatLabelsBounded(labels, 256), c.name.substr(0, 128));
          return false;
        }
      }
    }
    if (bytes > lim.max_record_bytes) {
      reason = "size";
      why = fmt::format("a record of stream {} is {} bytes (limit max_record_bytes {})",
                        model::FormatLabelsBounded(labels, 256), bytes, lim.max_record_bytes);
      return false;
    }
    return true;
  }

  // What a reader sees, taken at one moment: a record is in exactly one of these.
  struct View {
    std::vector<std::shared_ptr<const Segment>> segments;
    std::shared_ptr<Head> head;
    std::shared_ptr<Head> cutting;  // null unless a cut is writing its segment
  };
  View Snapshot() {
    MutexLock lock(state_mu_);
    return {segments_, head_, cutting_};
  }

  internal::HeadOptions NewHeadOptions() const {
    return {options_.block_rows, options_.text_column, options_.value_column};
  }

  // The value of the text column (empty when none or not a string).
  std::string_view TextOf(std::span<const Column> columns) const {
    return StringOf(options_.text_column, columns);
  }
  std::string_view ValueOf(std::span<const Column> columns) const {
    return StringOf(options_.value_column, columns);
  }
  static std::string_view StringOf(std::string_view name, std::span<const Column> columns) {
    if (name.empty()) return {};
    for (const Column& c : columns) {
      if (c.name == name && c.value.type == Value::Type::kString) return c.value.s;
    }
    return {};
  }

  // Backpressure: while a cut writes the previous head, the new one may grow to
  // head_max_bytes; past that, appends wait for the cut (senders slow down) and, if it
  // does not end in time (a failing disk), are refused: memory stays bounded.
  Status WaitWhileHeadIsFull() {
    if (!worker_.joinable()) return Status::Ok();  // tests and tools cut by hand
    auto full = [this] {
      MutexLock lock(state_mu_);
      return cutting_ != nullptr && head_->bytes() >= options_.head_max_bytes;
    };
    if (!full()) return Status::Ok();
    metrics_.waits.Inc();
    std::unique_lock<std::mutex> lock(cut_wait_mu_);
    if (cut_done_.wait_for(lock, options_.max_cut_wait, [&] { return !full(); }))
      return Status::Ok();
    metrics_.Refuse("head_full");
    return ResourceExhausted(fmt::format(
        "the {} store's head holds {} bytes (head_max_bytes) and the cut writing the "
        "previous one has not finished in {} ms; retry later",
        options_.name, CurrentHead()->bytes(),
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.max_cut_wait).count()));
  }

  std::shared_ptr<Head> CurrentHead() {
    MutexLock lock(state_mu_);
    return head_;
  }

  bool CutDue() {
    MutexLock lock(state_mu_);
    if (cutting_) return true;  // a failed cut to retry
    if (head_->rows() == 0) return false;
    return head_->bytes() >= options_.head_max_bytes ||
           env_.NowMs() - head_started_ms_ >= options_.head_max_duration.count();
  }

  void Step(std::string_view step) {
    if (options_.on_step) options_.on_step(step);
  }

  // Rolls the WAL and swaps the head, writes the old head as a segment, then drops the WAL
  // segments it covers. A head whose segment could not be written stays `cutting_`
  // (visible to scans, its WAL kept) and is written first by the next cut.
  Status Cut() {
    std::lock_guard<std::mutex> cut_lock(cut_mu_);
    std::shared_ptr<Head> cutting;
    uint64_t cover = 0;
    {
      MutexLock lock(state_mu_);
      cutting = cutting_;
      if (cutting) cover = cutting_cover_;
    }
    if (!cutting) {
      WriterLock pause(append_mu_);  // appends wait only for the roll and the swap
      MutexLock lock(state_mu_);
      if (head_->rows() == 0) return Status::Ok();
      Result<uint64_t> rolled = wal_->Roll();
      if (!rolled.ok()) return rolled.status();
      cover = *rolled;
      cutting_ = head_;
      cutting_cover_ = cover;
      cutting = cutting_;
      head_ = std::make_shared<Head>(cover, NewHeadOptions());
      head_started_ms_ = env_.NowMs();
    }
    Step("rolled");
    std::vector<internal::SegmentStreamInput> streams = cutting->Sorted();
    std::string name = NewSegmentName();
    internal::WriteOptions wo = SegmentWriteOptions();
    PHAROS_RETURN_IF_ERROR(
        internal::WriteSegment(env_, segments_dir_, name, streams, cover, wo, nullptr));
    Step("written");
    Result<std::unique_ptr<Segment>> seg = Segment::Open(env_, segments_dir_ + "/" + name);
    if (!seg.ok()) return seg.status();
    {
      MutexLock lock(state_mu_);
      segments_.push_back(std::move(seg).value());
      cutting_.reset();
    }
    { std::lock_guard<std::mutex> lock(cut_wait_mu_); }
    cut_done_.notify_all();
    metrics_.cuts.Inc();
    PHAROS_RETURN_IF_ERROR(wal_->RemoveSegmentsBefore(cover));
    Step("wal-trimmed");
    return Status::Ok();
  }

  std::string NewSegmentName() {
    MutexLock lock(state_mu_);
    return SegmentFileName(next_segment_id_++);
  }

  // How cuts and merges write segments. Blocks are encoded on every core: while a cut runs,
  // a full head holds appends back.
  internal::WriteOptions SegmentWriteOptions() const {
    internal::WriteOptions wo;
    wo.block_rows = options_.block_rows;
    wo.text_column = options_.text_column;
    wo.value_column = options_.value_column;
    wo.threads = std::clamp(std::thread::hardware_concurrency(), 1u, 4u);
    return wo;
  }

  // The oldest run of merge_fan_in consecutive segments of one size tier whose merge
  // stays within merge_max_bytes and merge_max_span.
  std::vector<std::shared_ptr<const Segment>> PickMerge() {
    const size_t fan_in = options_.merge_fan_in;
    if (fan_in < 2) return {};
    MutexLock lock(state_mu_);
    for (size_t i = 0; i + fan_in <= segments_.size(); ++i) {
      int tier = SizeTier(segments_[i]->info().bytes);
      uint64_t bytes = 0;
      int64_t min_t = INT64_MAX, max_t = INT64_MIN;
      bool ok = true;
      for (size_t k = i; k < i + fan_in && ok; ++k) {
        const internal::SegmentInfo& info = segments_[k]->info();
        ok = SizeTier(info.bytes) == tier;
        bytes += info.bytes;
        min_t = std::min(min_t, info.min_t);
        max_t = std::max(max_t, info.max_t);
      }
      if (!ok || bytes > options_.merge_max_bytes) continue;
      if (max_t - min_t >
          std::chrono::duration_cast<std::chrono::nanoseconds>(options_.merge_max_span).count())
        continue;
      return {segments_.begin() + static_cast<long>(i),
              segments_.begin() + static_cast<long>(i + fan_in)};
    }
    return {};
  }

  // Writes the inputs' rows as one segment, a batch of streams at a time (about 32 MiB of
  // rows held), then swaps it in for them and removes their files.
  Status MergeSegments(const std::vector<std::shared_ptr<const Segment>>& inputs) {
    std::string name = NewSegmentName();
    internal::WriteOptions wo = SegmentWriteOptions();
    uint64_t cover = 0;
    for (const auto& in : inputs) {
      wo.replaces.push_back(SegmentId(in->path()));
      cover = std::max(cover, in->info().wal_cover);
    }
    Result<std::unique_ptr<internal::SegmentWriter>> opened =
        internal::SegmentWriter::Create(env_, segments_dir_, name, wo);
    if (!opened.ok()) return opened.status();
    internal::SegmentWriter& writer = **opened;
    // Every stream once, in label order, with where it is in each input.
    std::map<model::Labels, std::vector<std::pair<size_t, size_t>>, decltype(&model::LabelsLess)>
        streams(&model::LabelsLess);
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto& list = inputs[i]->streams();
      for (size_t k = 0; k < list.size(); ++k) streams[list[k].labels].push_back({i, k});
    }
    constexpr size_t kBatchBytes = 32u << 20;
    std::deque<std::string> arena;  // rows' EncodeColumns bytes; chunks never move
    size_t batch_bytes = 0;
    std::vector<internal::SegmentStreamInput> batch;
    internal::DecodedBlock block;
    std::vector<Column> row;
    std::string encoded;
    auto flush = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      PHAROS_RETURN_IF_ERROR(writer.Add(batch));
      batch.clear();
      arena.clear();
      batch_bytes = 0;
      return Status::Ok();
    };
    for (const auto& [labels, where] : streams) {
      internal::SegmentStreamInput& out = batch.emplace_back();
      out.labels = &labels;
      for (const auto& [i, k] : where) {
        for (const internal::BlockRef& ref : inputs[i]->streams()[k].blocks) {
          PHAROS_RETURN_IF_ERROR(inputs[i]->ReadBlock(ref, nullptr, block));
          for (size_t r = 0; r < block.times.size(); ++r) {
            row.clear();
            for (size_t c = 0; c < block.names.size(); ++c) {
              const Value& v = block.columns[c][r];
              if (v.type != Value::Type::kNull) row.push_back({block.names[c], v});
            }
            encoded.clear();
            internal::EncodeColumns(encoded, row);
            if (arena.empty() || arena.back().size() + encoded.size() > arena.back().capacity()) {
              arena.emplace_back().reserve(std::max<size_t>(encoded.size(), 4u << 20));
            }
            std::string& chunk = arena.back();
            size_t at = chunk.size();
            chunk += encoded;
            out.rows.push_back(
                {block.times[r], std::string_view(chunk).substr(at, encoded.size())});
            batch_bytes += encoded.size() + sizeof(internal::RowRef);
          }
        }
      }
      // Inputs are each in time order; ties keep the inputs' order.
      std::stable_sort(out.rows.begin(), out.rows.end(),
                       [](const internal::RowRef& a, const internal::RowRef& b) {
                         return a.time_ns < b.time_ns;
                       });
      if (batch_bytes >= kBatchBytes) PHAROS_RETURN_IF_ERROR(flush());
    }
    PHAROS_RETURN_IF_ERROR(flush());
    PHAROS_RETURN_IF_ERROR(writer.Finish(cover, nullptr));
    Step("merged");
    Result<std::unique_ptr<Segment>> seg = Segment::Open(env_, segments_dir_ + "/" + name);
    if (!seg.ok()) return seg.status();
    bool swapped = false;
    {
      MutexLock lock(state_mu_);
      // Retention may have dropped an input meanwhile: then the merge is void.
      auto first = std::find(segments_.begin(), segments_.end(), inputs.front());
      size_t present = 0;
      for (const auto& in : inputs)
        present += std::find(segments_.begin(), segments_.end(), in) != segments_.end();
      if (first != segments_.end() && present == inputs.size()) {
        *first = std::move(seg).value();
        std::erase_if(segments_, [&](const auto& s) {
          return std::find(inputs.begin() + 1, inputs.end(), s) != inputs.end();
        });
        swapped = true;
      }
    }
    if (!swapped) return env_.Remove(segments_dir_ + "/" + name);
    Step("swapped");
    for (const auto& in : inputs) PHAROS_RETURN_IF_ERROR(env_.Remove(in->path()));
    return Status::Ok();
  }

  void MergeLoop() {
    std::unique_lock<std::mutex> lock(worker_mu_);
    while (!closed_) {
      merger_cv_.wait_for(lock, options_.maintenance_interval, [this] { return closed_; });
      if (closed_) break;
      lock.unlock();
      bool merged = true;
      // Merge until nothing calls for it (or the store closes).
      while (merged) {
        if (!Merge(&merged).ok()) break;
        std::lock_guard<std::mutex> check(worker_mu_);
        if (closed_) break;
      }
      lock.lock();
    }
  }

  Status ApplyRetention() {
    std::vector<std::pair<std::shared_ptr<const Segment>, std::string>> doomed;
    {
      MutexLock lock(state_mu_);
      // Records older than this go; clamped so a long retention cannot overflow.
      int64_t horizon_ms = env_.NowMs() - options_.retention.count();
      int64_t horizon_ns = horizon_ms <= INT64_MIN / 1'000'000 ? INT64_MIN : horizon_ms * 1'000'000;
      uint64_t total = 0;
      for (const auto& s : segments_) total += s->info().bytes;
      std::vector<std::shared_ptr<const Segment>> keep;
      // Segments are in cut order, oldest first.
      for (const auto& s : segments_) {
        if (s->info().max_t < horizon_ns) {
          doomed.push_back({s, "time"});
          total -= s->info().bytes;
        } else {
          keep.push_back(s);
        }
      }
      size_t drop = 0;
      while (options_.max_bytes && total > options_.max_bytes && drop < keep.size()) {
        total -= keep[drop]->info().bytes;
        doomed.push_back({keep[drop], "size"});
        ++drop;
      }
      keep.erase(keep.begin(), keep.begin() + static_cast<long>(drop));
      segments_ = std::move(keep);
    }
    for (const auto& [seg, reason] : doomed) {
      metrics_.segments_deleted.WithLabels({options_.name, reason}).Inc();
      PHAROS_RETURN_IF_ERROR(env_.Remove(seg->path()));
    }
    return Status::Ok();
  }

  void Work() {
    std::unique_lock<std::mutex> lock(worker_mu_);
    while (!closed_) {
      worker_cv_.wait_for(lock, options_.maintenance_interval,
                          [this] { return closed_ || kick_.load(); });
      if (closed_) break;
      kick_ = false;
      lock.unlock();
      (void)Maintain();
      lock.lock();
    }
  }

  Options options_;
  Env& env_;
  Metrics metrics_;
  std::string segments_dir_;
  std::unique_ptr<wal::Wal> wal_;

  std::atomic<bool> kick_{false};  // an append filled the head: the worker cuts now
  SharedMutex append_mu_;          // shared: appends; exclusive: a cut's WAL roll and head swap
  std::mutex cut_mu_;              // one cut at a time
  Mutex state_mu_;
  std::shared_ptr<Head> head_ PHAROS_GUARDED_BY(state_mu_);
  std::shared_ptr<Head> cutting_ PHAROS_GUARDED_BY(state_mu_);
  uint64_t cutting_cover_ PHAROS_GUARDED_BY(state_mu_) = 0;
  int64_t head_started_ms_ PHAROS_GUARDED_BY(state_mu_) = 0;
  std::vector<std::shared_ptr<const Segment>> segments_ PHAROS_GUARDED_BY(state_mu_);
  uint64_t next_segment_id_ PHAROS_GUARDED_BY(state_mu_) = 1;

  std::mutex cut_wait_mu_;  // appends waiting for a cut (WaitWhileHeadIsFull)
  std::condition_variable cut_done_;
  std::mutex worker_mu_;
  std::condition_variable worker_cv_;
  bool closed_ = false;
  std::thread worker_;
  std::mutex merge_mu_;  // one merge at a time
  // The merger's own: an append's kick (notify_one on worker_cv_) must reach the worker.
  std::condition_variable merger_cv_;
  std::thread merger_;
};

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const Options& options, selfmon::Registry& registry) {
  if (options.dir.empty()) return InvalidArgument("colstore: no directory");
  if (options.block_rows == 0) return InvalidArgument("colstore: block_rows must be positive");
  auto store = std::make_unique<StoreImpl>(options, registry);
  PHAROS_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace pharos::colstore
