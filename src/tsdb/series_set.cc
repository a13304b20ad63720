#include "tsdb/series_set.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>

#include "common/mutex.h"

namespace pharos::tsdb {

bool AppendedInOrder(const std::vector<Sample>& samples, size_t before) {
  return before == 0 || samples.size() == before || samples[before].t > samples[before - 1].t;
}

void SortOnePerTimestamp(std::vector<Sample>& samples) {
  std::stable_sort(samples.begin(), samples.end(),
                   [](const Sample& a, const Sample& b) { return a.t < b.t; });
  samples.erase(std::unique(samples.begin(), samples.end(),
                            [](const Sample& a, const Sample& b) { return a.t == b.t; }),
                samples.end());
}

namespace {

// Below this many series a select decodes on the caller's thread: handing batches to
// other threads costs more than it saves.
constexpr size_t kMinReadAheadSeries = 64;

// What one decoder needs of its own: the last decompressed frame of each block and a
// series entry.
struct DecodeScratch {
  std::vector<FrameCache> frames;
  Block::SeriesEntry entry;
};

// Consecutive series decoded by one task. Groups [first, decoded) are in `samples`; the
// caller decodes the rest of the batch itself (the task stopped at kBatchSamples, at an
// error, or because the set is going away).
struct Batch {
  size_t first = 0;
  size_t end = 0;
  size_t decoded = 0;
  size_t slot = 0;  // the decoder scratch it uses
  bool done = false;
  std::vector<std::vector<Sample>> samples;
  std::vector<uint64_t> loaded;  // samples read for each series, before the transform
};

class StoreSeriesSet final : public SeriesSet {
 public:
  StoreSeriesSet(Head& head, std::vector<std::shared_ptr<Block>> blocks, ReaderEpoch epoch,
                 int64_t mint, int64_t maxt, uint64_t limit, std::vector<SeriesRef> refs,
                 std::vector<uint32_t> symbols, TaskPool* pool)
      : head_(head),
        blocks_(std::move(blocks)),
        epoch_(std::move(epoch)),
        mint_(mint),
        maxt_(maxt),
        limit_(limit),
        refs_(std::move(refs)),
        symbols_(std::move(symbols)) {
    SortRefs();
    for (size_t i = 0; i < refs_.size(); ++i) {
      // One source holds a label set once: only refs of different sources can be equal.
      if (i == 0 || refs_[i].block == refs_[i - 1].block || Compare(refs_[i], refs_[i - 1]) != 0) {
        group_begin_.push_back(i);
      }
    }
    group_begin_.push_back(refs_.size());
    scratch_.frames.resize(blocks_.size());
    // A series limit stops early: decoding ahead would be wasted.
    if (pool != nullptr && limit_ == 0 && groups() >= kMinReadAheadSeries) {
      pool_ = pool;
      for (size_t i = 0; i < kReadAheadBatches; ++i) {
        slots_.emplace_back().frames.resize(blocks_.size());
      }
    }
  }

  ~StoreSeriesSet() override {
    if (pool_ == nullptr) return;
    stopping_.store(true, std::memory_order_relaxed);
    MutexLock lock(mu_);
    waiting_ = true;
    while (running_ > 0) cv_.wait(lock.native());
  }

  bool Next() override {
    while (next_ < groups()) {
      if (limit_ > 0 && returned_ >= limit_) break;
      size_t g = next_++;
      if (pool_ != nullptr) {
        if (!TakeFromBatch(g)) return false;
      } else {
        samples_.clear();
        status_ = ReadAndTransform(g, scratch_, samples_, loaded_);
        if (!status_.ok()) return false;
      }
      if (loaded_ == 0) continue;
      SetLabels(refs_[group_begin_[g]]);
      ++returned_;
      return true;
    }
    return false;
  }

  const Labels& labels() const override { return labels_; }
  const std::vector<Sample>& samples() const override { return samples_; }
  std::vector<Sample> TakeSamples() override { return std::exchange(samples_, {}); }
  void SwapSamples(std::vector<Sample>& other) override { samples_.swap(other); }
  uint64_t loaded() const override { return loaded_; }
  void SetTransform(std::function<void(std::vector<Sample>&)> fn) override {
    transform_ = std::move(fn);
  }
  Status status() const override { return status_; }

 private:
  size_t groups() const { return group_begin_.size() - 1; }

  // Equal labels together, blocks (oldest first) before the head. The refs arrive source by
  // source; a block's in its series order, which is label order, the head's by ref. Each
  // run is sorted if it is not, then neighbouring runs are merged: far fewer label
  // comparisons (each a look-up of symbol strings) than sorting them all.
  void SortRefs() {
    auto less = [this](const SeriesRef& a, const SeriesRef& b) { return Compare(a, b) < 0; };
    std::vector<size_t> runs;  // where each source's refs start, then the end
    for (size_t i = 0; i < refs_.size(); ++i) {
      if (i == 0 || refs_[i].block != refs_[i - 1].block) runs.push_back(i);
    }
    runs.push_back(refs_.size());
    for (size_t r = 0; r + 1 < runs.size(); ++r) {
      auto first = refs_.begin() + static_cast<ptrdiff_t>(runs[r]);
      auto last = refs_.begin() + static_cast<ptrdiff_t>(runs[r + 1]);
      if (!std::is_sorted(first, last, less)) std::sort(first, last, less);
    }
    // Pairwise merges are stable: on equal labels the earlier source stays first.
    while (runs.size() > 2) {
      std::vector<size_t> merged;
      for (size_t r = 0; r + 1 < runs.size(); r += 2) {
        merged.push_back(runs[r]);
        if (r + 2 < runs.size()) {
          std::inplace_merge(refs_.begin() + static_cast<ptrdiff_t>(runs[r]),
                             refs_.begin() + static_cast<ptrdiff_t>(runs[r + 1]),
                             refs_.begin() + static_cast<ptrdiff_t>(runs[r + 2]), less);
        }
      }
      merged.push_back(refs_.size());
      runs = std::move(merged);
    }
  }

  // Reads every source of series group `g` (blocks oldest first, then the head) into
  // `out`. Safe on any thread: the head takes the series' stripe lock, blocks are read
  // through the caller's scratch.
  Status ReadGroup(size_t g, DecodeScratch& scratch, std::vector<Sample>& out) const {
    bool sorted = true;
    for (size_t i = group_begin_[g]; i < group_begin_[g + 1]; ++i) {
      const SeriesRef& r = refs_[i];
      size_t before = out.size();
      if (r.block == SeriesRef::kHead) {
        MemSeries* s = head_.ByRef(r.id);
        if (s != nullptr) {
          std::lock_guard<std::mutex> lock(head_.Stripe(r.id));
          head_.Read(*s, mint_, maxt_, out);
        }
      } else {
        const Block& block = *blocks_[r.block];
        PHAROS_RETURN_IF_ERROR(block.Entry(r.id, scratch.entry));
        PHAROS_RETURN_IF_ERROR(
            block.Read(scratch.entry, mint_, maxt_, scratch.frames[r.block], out));
      }
      sorted = sorted && AppendedInOrder(out, before);
    }
    // A block being cut may briefly repeat head samples.
    if (!sorted) SortOnePerTimestamp(out);
    return Status::Ok();
  }

  // ReadGroup, then the transform (when there is one and something was read).
  Status ReadAndTransform(size_t g, DecodeScratch& scratch, std::vector<Sample>& out,
                          uint64_t& loaded) const {
    PHAROS_RETURN_IF_ERROR(ReadGroup(g, scratch, out));
    loaded = out.size();
    if (transform_ && loaded > 0) transform_(out);
    return Status::Ok();
  }

  // Moves group g's samples into samples_ from the batch decoded ahead (decoding it here
  // where the batch stopped short), and keeps kReadAheadBatches batches in flight.
  bool TakeFromBatch(size_t g) {
    Batch* batch;
    {
      MutexLock lock(mu_);
      SubmitBatches();
      batch = batches_.front().get();
      waiting_ = true;
      while (!batch->done) cv_.wait(lock.native());
      waiting_ = false;
    }
    samples_.clear();
    if (g < batch->decoded) {
      samples_.swap(batch->samples[g - batch->first]);
      loaded_ = batch->loaded[g - batch->first];
    } else {
      status_ = ReadAndTransform(g, scratch_, samples_, loaded_);
      if (!status_.ok()) return false;
    }
    if (g + 1 == batch->end) {
      // Its buffers (the caller's earlier ones, swapped in) serve the batches to come.
      MutexLock lock(mu_);
      for (std::vector<Sample>& v : batch->samples) {
        v.clear();
        spare_.push_back(std::move(v));
      }
      batches_.pop_front();
    }
    return true;
  }

  void SubmitBatches() PHAROS_REQUIRES(mu_) {
    while (batches_.size() < kReadAheadBatches && next_submit_ < groups()) {
      auto batch = std::make_unique<Batch>();
      batch->first = next_submit_;
      batch->end = std::min(groups(), next_submit_ + BatchGroups());
      batch->samples.resize(batch->end - batch->first);
      batch->loaded.resize(batch->end - batch->first);
      for (std::vector<Sample>& v : batch->samples) {
        if (spare_.empty()) break;
        v = std::move(spare_.back());
        spare_.pop_back();
      }
      next_submit_ = batch->end;
      // Batch k-kReadAheadBatches has left the queue, so its task is done with this slot.
      batch->slot = submitted_batches_++ % kReadAheadBatches;
      ++running_;
      Batch* b = batch.get();
      batches_.push_back(std::move(batch));
      pool_->Submit([this, b] { Decode(*b); });
    }
  }

  // Series per batch: as many as make about kBatchSamples / 2 samples at the sizes seen
  // so far.
  size_t BatchGroups() const PHAROS_REQUIRES(mu_) {
    if (decoded_groups_ == 0) return 16;
    size_t per_group = std::max<size_t>(1, decoded_samples_ / decoded_groups_);
    return std::clamp<size_t>(kBatchSamples / 2 / per_group, 4, 1024);
  }

  void Decode(Batch& b) {
    size_t g = b.first;
    size_t samples = 0;
    for (; g < b.end && !stopping_.load(std::memory_order_relaxed); ++g) {
      std::vector<Sample>& out = b.samples[g - b.first];
      uint64_t& loaded = b.loaded[g - b.first];
      // On an error the caller reads the series again and reports it.
      if (!ReadAndTransform(g, slots_[b.slot], out, loaded).ok()) break;
      samples += loaded;
      if (samples >= kBatchSamples) {
        ++g;
        break;
      }
    }
    MutexLock lock(mu_);
    b.decoded = g;
    b.done = true;
    decoded_samples_ += samples;
    decoded_groups_ += g - b.first;
    --running_;
    // A wake-up is a system call: only when someone waits.
    if (waiting_) cv_.notify_all();
  }

  std::string_view SymbolAt(const SeriesRef& r, size_t k) const {
    uint32_t sym = symbols_[r.first_symbol + k];
    return r.block == SeriesRef::kHead ? head_.Symbol(sym) : blocks_[r.block]->Symbol(sym);
  }
  // Label order (name, then value, label by label; a prefix first), as LabelsLess.
  int Compare(const SeriesRef& a, const SeriesRef& b) const {
    size_t na = a.num_symbols, nb = b.num_symbols;
    for (size_t k = 0; k < na && k < nb; ++k) {
      int c = SymbolAt(a, k).compare(SymbolAt(b, k));
      if (c != 0) return c;
    }
    return na < nb ? -1 : na > nb ? 1 : 0;
  }
  void SetLabels(const SeriesRef& r) {
    labels_.resize(r.num_symbols / 2);
    for (size_t k = 0; k < labels_.size(); ++k) {
      labels_[k].name.assign(SymbolAt(r, 2 * k));
      labels_[k].value.assign(SymbolAt(r, 2 * k + 1));
    }
  }

  Head& head_;
  std::vector<std::shared_ptr<Block>> blocks_;
  ReaderEpoch epoch_;
  int64_t mint_;
  int64_t maxt_;
  uint64_t limit_;
  std::vector<SeriesRef> refs_;
  std::vector<uint32_t> symbols_;
  std::vector<size_t> group_begin_;  // series g is refs_[group_begin_[g], group_begin_[g+1])
  DecodeScratch scratch_;            // the caller's thread
  size_t next_ = 0;
  Labels labels_;
  uint64_t returned_ = 0;
  std::vector<Sample> samples_;
  uint64_t loaded_ = 0;  // samples read for the current series, before the transform
  std::function<void(std::vector<Sample>&)> transform_;  // set before the first Next()
  Status status_;

  // Decoding ahead (pool_ set): batches in order, the front one being read by the caller.
  TaskPool* pool_ = nullptr;
  std::deque<DecodeScratch> slots_;  // batch k decodes with slots_[k % kReadAheadBatches]
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Batch>> batches_ PHAROS_GUARDED_BY(mu_);
  std::vector<std::vector<Sample>> spare_ PHAROS_GUARDED_BY(mu_);  // emptied sample buffers
  size_t next_submit_ PHAROS_GUARDED_BY(mu_) = 0;
  size_t running_ PHAROS_GUARDED_BY(mu_) = 0;
  bool waiting_ PHAROS_GUARDED_BY(mu_) = false;  // the caller (or the destructor) sleeps
  size_t decoded_samples_ PHAROS_GUARDED_BY(mu_) = 0;
  size_t decoded_groups_ PHAROS_GUARDED_BY(mu_) = 0;
  size_t submitted_batches_ PHAROS_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<SeriesSet> NewStoreSeriesSet(Head& head, std::vector<std::shared_ptr<Block>> blocks,
                                             ReaderEpoch epoch, int64_t mint, int64_t maxt,
                                             uint64_t limit, std::vector<SeriesRef> refs,
                                             std::vector<uint32_t> symbols, TaskPool* pool) {
  return std::make_unique<StoreSeriesSet>(head, std::move(blocks), std::move(epoch), mint, maxt,
                                          limit, std::move(refs), std::move(symbols), pool);
}

}  // namespace pharos::tsdb
