#include "tsdb/head.h"

#include "tsdb/postings.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace pharos::tsdb {
namespace {

constexpr uint16_t kSamplesPerChunk = 120;

uint64_t Bits(double v) {
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

}  // namespace

// ---- SymbolTable ----

SymbolTable::SymbolTable()
    : refs_(std::make_unique<std::atomic<std::atomic<uint32_t>*>[]>(kMaxBlocks)),
      blocks_(std::make_unique<std::atomic<std::string_view*>[]>(kMaxBlocks)) {
  Intern("");  // id 0, held for ever
}

uint32_t SymbolTable::Find(std::string_view s) const {
  ReaderLock lock(mu_);
  auto it = ids_.find(s);
  return it == ids_.end() ? 0 : it->second;
}

uint32_t SymbolTable::Intern(std::string_view s) {
  {
    ReaderLock lock(mu_);
    auto it = ids_.find(s);
    if (it != ids_.end()) {
      Refs(it->second).fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  WriterLock lock(mu_);
  auto it = ids_.find(s);
  if (it != ids_.end()) {
    Refs(it->second).fetch_add(1, std::memory_order_relaxed);
    return it->second;
  }
  uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
    strings_[id].assign(s);
  } else {
    id = count_.load(std::memory_order_relaxed);
    uint32_t block = id >> kBlockBits;
    if ((id & kBlockMask) == 0) {
      owned_.push_back(std::make_unique<std::string_view[]>(size_t{1} << kBlockBits));
      blocks_[block].store(owned_.back().get(), std::memory_order_release);
      owned_refs_.push_back(std::make_unique<std::atomic<uint32_t>[]>(size_t{1} << kBlockBits));
      refs_[block].store(owned_refs_.back().get(), std::memory_order_release);
    }
    strings_.emplace_back(s);
  }
  const std::string& stored = strings_[id];
  blocks_[id >> kBlockBits].load(std::memory_order_relaxed)[id & kBlockMask] = stored;
  Refs(id).store(1, std::memory_order_relaxed);
  ids_.emplace(stored, id);
  if (id == count_.load(std::memory_order_relaxed)) count_.store(id + 1, std::memory_order_release);
  return id;
}

void SymbolTable::Release(std::span<const uint32_t> ids) {
  WriterLock lock(mu_);
  for (uint32_t id : ids) {
    if (id != 0 && Refs(id).fetch_sub(1, std::memory_order_relaxed) == 1) released_.push_back(id);
  }
}

size_t SymbolTable::Sweep() {
  WriterLock lock(mu_);
  std::sort(released_.begin(), released_.end());
  released_.erase(std::unique(released_.begin(), released_.end()), released_.end());
  size_t freed = 0;
  for (uint32_t id : released_) {
    if (Refs(id).load(std::memory_order_relaxed) != 0) continue;  // interned again
    auto it = ids_.find(strings_[id]);
    if (it == ids_.end() || it->second != id) continue;  // already freed
    ids_.erase(it);
    std::string().swap(strings_[id]);
    blocks_[id >> kBlockBits].load(std::memory_order_relaxed)[id & kBlockMask] = {};
    free_ids_.push_back(id);
    ++freed;
  }
  released_.clear();
  return freed;
}

size_t SymbolTable::live() const {
  ReaderLock lock(mu_);
  return ids_.size();
}

// ---- MemSeries ----

MemSeriesPtr MemSeries::New(std::span<const uint32_t> label_syms) {
  static_assert(sizeof(MemSeries) % alignof(uint32_t) == 0);
  // With five labels, 112 bytes: an allocator size class. Measure a million series before
  // letting it grow.
  static_assert(sizeof(MemSeries) <= 72);
  void* raw = ::operator new(sizeof(MemSeries) + label_syms.size_bytes());
  auto* s = new (raw) MemSeries();
  s->num_label_syms = static_cast<uint32_t>(label_syms.size());
  if (!label_syms.empty()) {
    std::memcpy(static_cast<char*>(raw) + sizeof(MemSeries), label_syms.data(),
                label_syms.size_bytes());
  }
  return MemSeriesPtr(s);
}

void MemSeriesDeleter::operator()(MemSeries* s) const {
  s->~MemSeries();
  ::operator delete(s);
}

// ---- Head: series ----

Head::Head(const Options& options) : options_(options) {
  by_ref_.emplace_back();  // ref 0 is never used
}

uint64_t Head::HashLabels(std::span<const LabelView> labels) {
  thread_local std::string buffer;
  buffer.clear();
  for (const LabelView& l : labels) {
    buffer.append(l.name);
    buffer.push_back('\xff');
    buffer.append(l.value);
    buffer.push_back('\xff');
  }
  return std::hash<std::string_view>{}(buffer);
}

bool Head::SameLabels(const MemSeries& s, std::span<const LabelView> labels) const {
  std::span<const uint32_t> syms = s.label_syms();
  if (syms.size() != labels.size() * 2) return false;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (symbols_.Get(syms[2 * i]) != labels[i].name ||
        symbols_.Get(syms[2 * i + 1]) != labels[i].value) {
      return false;
    }
  }
  return true;
}

MemSeries* Head::Find(std::span<const LabelView> labels, uint64_t hash) {
  HashShard& shard = shards_[hash & (kHashShards - 1)];
  MutexLock lock(shard.mu);
  return shard.table.Find(hash, [&](const MemSeries& s) { return SameLabels(s, labels); });
}

MemSeries* Head::Create(std::span<const LabelView> labels, uint64_t hash, uint64_t ref,
                        bool& created) {
  created = false;
  HashShard& shard = shards_[hash & (kHashShards - 1)];
  MutexLock shard_lock(shard.mu);
  if (MemSeries* existing =
          shard.table.Find(hash, [&](const MemSeries& s) { return SameLabels(s, labels); })) {
    return existing;
  }
  thread_local std::vector<uint32_t> syms;
  syms.clear();
  uint32_t metric_name = 0;
  for (const LabelView& l : labels) {
    uint32_t name = symbols_.Intern(l.name);
    uint32_t value = symbols_.Intern(l.value);
    syms.push_back(name);
    syms.push_back(value);
    if (l.name == "__name__") metric_name = value;
  }
  MemSeriesPtr series = MemSeries::New(syms);
  series->label_hash = static_cast<uint32_t>(hash);
  MemSeries* raw = series.get();
  {
    WriterLock lock(index_mu_);
    uint64_t end = ref_base_ + by_ref_.size();
    if (ref == 0 || ref < ref_base_ || (ref < end && by_ref_[ref - ref_base_])) ref = next_ref_;
    next_ref_ = std::max(next_ref_, ref + 1);
    raw->ref = ref;
    if (end <= ref) by_ref_.resize(ref + 1 - ref_base_);
    by_ref_[ref - ref_base_] = std::move(series);
    for (size_t i = 0; i < syms.size(); i += 2) {
      uint32_t name = syms[i];
      uint32_t value = syms[i + 1];
      PostingList& list = postings_[PairKey(name, value)];
      if (list.empty()) values_[name].push_back(value);
      list.Add(ref);
    }
    if (metric_name) ++series_per_metric_[metric_name];
  }
  shard.table.Insert(hash, raw);
  num_series_.fetch_add(1, std::memory_order_relaxed);
  created = true;
  return raw;
}

MemSeries* Head::ByRef(uint64_t ref) const {
  ReaderLock lock(index_mu_);
  if (ref < ref_base_ || ref - ref_base_ >= by_ref_.size()) return nullptr;
  return by_ref_[ref - ref_base_].get();
}

uint64_t Head::SeriesForMetric(std::string_view name) const {
  uint32_t sym = symbols_.Find(name);
  if (sym == 0) return 0;
  ReaderLock lock(index_mu_);
  auto it = series_per_metric_.find(sym);
  return it == series_per_metric_.end() ? 0 : it->second;
}

// ---- Head: samples ----

SampleVerdict Head::Check(const MemSeries& s, int64_t t, double v, bool enforce_window) const {
  if (t < min_append_t_.load(std::memory_order_acquire)) return SampleVerdict::kTooOld;
  const int64_t max_t = s.max_t();
  if (max_t == INT64_MIN || t > max_t) return SampleVerdict::kAppend;
  if (t == max_t) {
    return Bits(v) == s.last_bits() ? SampleVerdict::kDuplicate : SampleVerdict::kConflict;
  }
  int64_t window = options_.out_of_order_window.count();
  if (enforce_window && (window <= 0 || t < max_t - window)) return SampleVerdict::kTooOld;
  if (!s.history) return SampleVerdict::kOutOfOrder;
  const std::vector<Sample>& ooo = s.history->out_of_order;
  auto it = std::lower_bound(ooo.begin(), ooo.end(), t,
                             [](const Sample& a, int64_t b) { return a.t < b; });
  if (it != ooo.end() && it->t == t) {
    return Bits(it->v) == Bits(v) ? SampleVerdict::kDuplicate : SampleVerdict::kConflict;
  }
  return SampleVerdict::kOutOfOrder;
}

void Head::Apply(MemSeries& s, SampleVerdict verdict, int64_t t, double v) {
  if (verdict == SampleVerdict::kOutOfOrder) {
    if (!s.history) s.history = std::make_unique<SeriesHistory>();
    std::vector<Sample>& ooo = s.history->out_of_order;
    auto it = std::lower_bound(ooo.begin(), ooo.end(), t,
                               [](const Sample& a, int64_t b) { return a.t < b; });
    ooo.insert(it, Sample{t, v});
  } else if (verdict == SampleVerdict::kAppend) {
    const bool was_empty = s.chunk.count() == 0;
    if (s.chunk.count() >= kSamplesPerChunk || !s.chunk.Append(t, v)) {
      if (!s.history) s.history = std::make_unique<SeriesHistory>();
      // An exact-size copy; counted when it was the head chunk.
      s.history->closed.push_back(
          ClosedChunk{s.chunk.first_t(), s.chunk.last_t(), std::string(s.chunk.bytes())});
      s.chunk.Restart();
      num_chunks_.fetch_add(1, std::memory_order_relaxed);
      [[maybe_unused]] bool appended = s.chunk.Append(t, v);  // an empty chunk takes any
    } else if (was_empty) {
      num_chunks_.fetch_add(1, std::memory_order_relaxed);
    }
  } else {
    return;
  }
  int64_t cur = min_t_.load(std::memory_order_relaxed);
  while (t < cur && !min_t_.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
  }
  cur = max_t_.load(std::memory_order_relaxed);
  while (t > cur && !max_t_.compare_exchange_weak(cur, t, std::memory_order_relaxed)) {
  }
}

void Head::Read(const MemSeries& s, int64_t mint, int64_t maxt, std::vector<Sample>& out) const {
  const size_t base = out.size();
  mint = std::max(mint, min_read_t_.load(std::memory_order_acquire));
  if (mint > maxt) return;
  // Room for every sample of the chunks in range (a chunk starts with its count), so the
  // vector grows once, not once per chunk.
  static const SeriesHistory kNoHistory;
  const SeriesHistory& h = s.history ? *s.history : kNoHistory;
  size_t most = out.size() + h.out_of_order.size() + s.chunk.count();
  for (const ClosedChunk& c : h.closed) {
    if (c.max_t >= mint && c.min_t <= maxt) most += XorChunkCount(c.data);
  }
  if (out.capacity() < most) out.reserve(std::max(most, out.capacity() * 2));
  // The head writes its own chunks in memory: they cannot be damaged.
  auto decode = [&](std::string_view data) { DecodeXorChunk(data, mint, maxt, out); };
  for (const ClosedChunk& c : h.closed) {
    if (c.max_t < mint || c.min_t > maxt) continue;
    decode(c.data);
  }
  if (s.chunk.count() > 0 && s.chunk.first_t() <= maxt && s.chunk.last_t() >= mint) {
    decode(s.chunk.bytes());
  }
  if (h.out_of_order.empty()) return;
  std::vector<Sample> merged;
  merged.reserve(out.size() - base + h.out_of_order.size());
  size_t i = base;
  for (const Sample& o : h.out_of_order) {
    if (o.t < mint || o.t > maxt) continue;
    while (i < out.size() && out[i].t < o.t) merged.push_back(out[i++]);
    if (i < out.size() && out[i].t == o.t) continue;  // in-order sample wins
    merged.push_back(o);
  }
  while (i < out.size()) merged.push_back(out[i++]);
  out.resize(base);
  out.insert(out.end(), merged.begin(), merged.end());
}

uint64_t Head::RefLimit() const {
  ReaderLock lock(index_mu_);
  return std::max<uint64_t>(ref_base_ + by_ref_.size(), next_ref_);
}

void Head::RaiseRefLimit(uint64_t limit) {
  WriterLock lock(index_mu_);
  next_ref_ = std::max(next_ref_, limit);
}

void Head::Truncate(MemSeries& s, int64_t boundary) {
  if (s.history) {
    std::vector<ClosedChunk>& closed = s.history->closed;
    size_t drop = 0;
    while (drop < closed.size() && closed[drop].max_t < boundary) ++drop;
    if (drop) {
      closed.erase(closed.begin(), closed.begin() + static_cast<ptrdiff_t>(drop));
      num_chunks_.fetch_sub(drop, std::memory_order_relaxed);
    }
    std::vector<Sample>& ooo = s.history->out_of_order;
    auto keep = std::lower_bound(ooo.begin(), ooo.end(), boundary,
                                 [](const Sample& a, int64_t b) { return a.t < b; });
    ooo.erase(ooo.begin(), keep);
    if (closed.empty() && ooo.empty()) s.history.reset();
  }
  if (s.chunk.count() > 0 && s.chunk.last_t() < boundary) {
    s.chunk.Release();  // empty; its last sample still orders appends
    num_chunks_.fetch_sub(1, std::memory_order_relaxed);
  }
  int64_t cur = min_t_.load(std::memory_order_relaxed);
  while (cur < boundary &&
         !min_t_.compare_exchange_weak(cur, boundary, std::memory_order_relaxed)) {
  }
}

std::vector<uint64_t> Head::EmptySeries() const {
  std::vector<uint64_t> out;
  uint64_t first, limit;
  {
    ReaderLock lock(index_mu_);
    first = std::max<uint64_t>(ref_base_, 1);  // refs below were collected
    limit = std::max<uint64_t>(ref_base_ + by_ref_.size(), next_ref_);
  }
  for (uint64_t ref = first; ref < limit; ++ref) {
    MemSeries* s = ByRef(ref);
    if (!s) continue;
    std::lock_guard<std::mutex> lock(const_cast<Head*>(this)->Stripe(ref));
    if (s->HoldsNoSamples()) out.push_back(ref);
  }
  return out;
}

size_t Head::Collect(std::span<const uint64_t> candidates) {
  std::vector<MemSeries*> dead;
  {
    WriterLock lock(index_mu_);
    graveyard_.clear();  // collected last time: no query can still hold them
  }
  symbols_.Sweep();  // likewise the strings only those series held
  for (uint64_t ref : candidates) {
    MemSeries* s = ByRef(ref);
    if (!s) continue;
    std::lock_guard<std::mutex> lock(Stripe(ref));
    if (s->HoldsNoSamples()) {
      s->deleted = true;
      dead.push_back(s);
    }
  }
  if (dead.empty()) return 0;
  for (MemSeries* s : dead) {
    HashShard& shard = shards_[s->label_hash & (kHashShards - 1)];
    MutexLock lock(shard.mu);
    shard.table.Erase(s);
  }
  // Each affected postings list is filtered once for all the dead series (removing them
  // one by one costs a list's length per series: quadratic when many series of one big
  // list, say job="node", end together).
  std::vector<uint64_t> dead_refs;
  dead_refs.reserve(dead.size());
  for (MemSeries* s : dead) dead_refs.push_back(s->ref);
  std::sort(dead_refs.begin(), dead_refs.end());
  WriterLock lock(index_mu_);
  std::unordered_map<uint64_t, uint32_t> affected;  // pair -> its name
  std::vector<uint32_t> released;                   // their label symbols
  const uint32_t metric_name = symbols_.Find("__name__");
  for (MemSeries* s : dead) {
    std::span<const uint32_t> syms = s->label_syms();
    uint32_t metric = 0;
    for (size_t i = 0; i < syms.size(); i += 2) {
      affected.emplace(PairKey(syms[i], syms[i + 1]), syms[i]);
      if (syms[i] == metric_name) metric = syms[i + 1];
    }
    if (metric != 0) {
      auto mit = series_per_metric_.find(metric);
      if (mit != series_per_metric_.end() && --mit->second == 0) series_per_metric_.erase(mit);
    }
    released.insert(released.end(), syms.begin(), syms.end());
    graveyard_.push_back(std::move(by_ref_[s->ref - ref_base_]));
    num_series_.fetch_sub(1, std::memory_order_relaxed);
  }
  symbols_.Release(released);
  std::unordered_map<uint32_t, std::vector<uint32_t>> emptied;  // name -> values left empty
  for (const auto& [key, name] : affected) {
    auto pit = postings_.find(key);
    if (pit == postings_.end()) continue;
    pit->second.RemoveAll(dead_refs);
    if (pit->second.empty()) {
      postings_.erase(pit);
      emptied[name].push_back(static_cast<uint32_t>(key));
    }
  }
  for (auto& entry : emptied) {
    auto vit = values_.find(entry.first);
    if (vit == values_.end()) continue;
    std::vector<uint32_t>& gone = entry.second;
    std::sort(gone.begin(), gone.end());
    std::erase_if(vit->second,
                  [&gone](uint32_t v) { return std::binary_search(gone.begin(), gone.end(), v); });
    if (vit->second.empty()) values_.erase(vit);
  }
  while (!by_ref_.empty() && !by_ref_.front()) {
    by_ref_.pop_front();
    ++ref_base_;
  }
  return dead.size();
}

// ---- Head: index ----

Labels Head::LabelsOf(const MemSeries& s) const {
  Labels labels;
  LabelsOf(s, labels);
  return labels;
}

void Head::LabelsOf(const MemSeries& s, Labels& out) const {
  std::span<const uint32_t> syms = s.label_syms();
  out.resize(syms.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].name.assign(symbols_.Get(syms[2 * i]));
    out[i].value.assign(symbols_.Get(syms[2 * i + 1]));
  }
}

// Names and values alternate, so comparing the symbol sequences compares label by label,
// name first, a prefix first: the order of LabelsLess.
int Head::CompareLabels(const MemSeries& a, const MemSeries& b) const {
  std::span<const uint32_t> x = a.label_syms(), y = b.label_syms();
  for (size_t k = 0; k < x.size() && k < y.size(); ++k) {
    if (x[k] == y[k]) continue;
    int c = symbols_.Get(x[k]).compare(symbols_.Get(y[k]));
    if (c != 0) return c;
  }
  return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
}

std::vector<uint64_t> Head::AllRefs() const {
  std::vector<uint64_t> refs;
  refs.reserve(by_ref_.size());
  for (size_t i = 0; i < by_ref_.size(); ++i) {
    if (by_ref_[i]) refs.push_back(ref_base_ + i);
  }
  return refs;
}

size_t Head::RefSlots() const {
  ReaderLock lock(index_mu_);
  return by_ref_.size();
}

template <typename Pred>
std::vector<uint64_t> Head::UnionWhere(uint32_t name, Pred pred) const {
  auto vit = values_.find(name);
  if (vit == values_.end()) return {};
  // Every chosen list decoded into one buffer, then merged.
  std::vector<uint64_t> flat;
  std::vector<size_t> ends;
  for (uint32_t value : vit->second) {
    if (!pred(symbols_.Get(value))) continue;
    auto pit = postings_.find(PairKey(name, value));
    if (pit == postings_.end()) continue;
    pit->second.AppendTo(flat);
    ends.push_back(flat.size());
  }
  return UnionOfRuns(std::move(flat), ends);
}

// The head's index as SelectPostings sees it. Postings() holds index_mu_ for as long as the
// view lives; the analysis cannot follow the lock into a view object, hence its exemptions.
class Head::IndexView {
 public:
  explicit IndexView(const Head& head) : head_(head) {}
  bool HasName(const std::string& name) const { return head_.symbols_.Find(name) != 0; }
  // The list decoded into `scratch`.
  std::span<const uint64_t> Equal(const std::string& name, const std::string& value,
                                  std::vector<uint64_t>& scratch) const
      PHAROS_NO_THREAD_SAFETY_ANALYSIS {
    uint32_t n = head_.symbols_.Find(name);
    uint32_t v = head_.symbols_.Find(value);
    if (!n || !v) return {};
    auto it = head_.postings_.find(PairKey(n, v));
    if (it == head_.postings_.end()) return {};
    scratch.clear();
    it->second.AppendTo(scratch);
    return scratch;
  }
  template <typename Pred>
  std::vector<uint64_t> UnionWhere(const std::string& name,
                                   Pred pred) const PHAROS_NO_THREAD_SAFETY_ANALYSIS {
    return head_.UnionWhere(head_.symbols_.Find(name), pred);
  }
  std::vector<uint64_t> All() const PHAROS_NO_THREAD_SAFETY_ANALYSIS { return head_.AllRefs(); }

 private:
  const Head& head_;
};

std::vector<uint64_t> Head::Postings(std::span<const Matcher> matchers) const {
  ReaderLock lock(index_mu_);
  return SelectPostings(IndexView(*this), matchers);
}

std::vector<std::string> Head::LabelNames() const {
  ReaderLock lock(index_mu_);
  std::vector<std::string> names;
  for (const auto& [name, values] : values_) names.emplace_back(symbols_.Get(name));
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Head::LabelValues(std::string_view name) const {
  uint32_t sym = symbols_.Find(name);
  std::vector<std::string> out;
  if (sym == 0) return out;
  ReaderLock lock(index_mu_);
  auto it = values_.find(sym);
  if (it == values_.end()) return out;
  for (uint32_t v : it->second) out.emplace_back(symbols_.Get(v));
  std::sort(out.begin(), out.end());
  return out;
}

Stats Head::GetStats(size_t limit) const {
  Stats st;
  st.num_series = NumSeries();
  st.num_chunks = NumChunks();
  if (st.num_series > 0 && MinTime() != INT64_MAX) {
    st.min_time = MinTime();
    st.max_time = MaxTime();
  }
  ReaderLock lock(index_mu_);
  st.num_label_pairs = postings_.size();
  uint32_t metric = symbols_.Find("__name__");
  auto top = [limit](std::vector<Stats::Count>& v) {
    std::sort(v.begin(), v.end(), [](const Stats::Count& a, const Stats::Count& b) {
      return a.value != b.value ? a.value > b.value : a.name < b.name;
    });
    if (v.size() > limit) v.resize(limit);
  };
  for (const auto& [name, values] : values_) {
    std::string label(symbols_.Get(name));
    st.label_value_count_by_label_name.push_back({label, values.size()});
    uint64_t bytes = 0;
    for (uint32_t v : values) {
      auto it = postings_.find(PairKey(name, v));
      uint64_t n = it == postings_.end() ? 0 : it->second.size();
      bytes += symbols_.Get(v).size() * n;
      if (name == metric)
        st.series_count_by_metric_name.push_back({std::string(symbols_.Get(v)), n});
      st.series_count_by_label_value_pair.push_back(
          {label + "=" + std::string(symbols_.Get(v)), n});
    }
    st.memory_in_bytes_by_label_name.push_back({label, bytes});
  }
  top(st.series_count_by_metric_name);
  top(st.label_value_count_by_label_name);
  top(st.memory_in_bytes_by_label_name);
  top(st.series_count_by_label_value_pair);
  return st;
}

}  // namespace pharos::tsdb
