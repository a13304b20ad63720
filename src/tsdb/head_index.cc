#include "tsdb/head_index.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "tsdb/head.h"

namespace pharos::tsdb {

// ---- PostingList ----

PostingList::~PostingList() { std::free(data_); }

PostingList::PostingList(PostingList&& other) noexcept
    : data_(other.data_),
      last_(other.last_),
      size_(other.size_),
      capacity_(other.capacity_),
      count_(other.count_) {
  other.data_ = nullptr;
  other.size_ = other.capacity_ = other.count_ = 0;
  other.last_ = 0;
}

PostingList& PostingList::operator=(PostingList&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = other.data_;
    last_ = other.last_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    count_ = other.count_;
    other.data_ = nullptr;
    other.size_ = other.capacity_ = other.count_ = 0;
    other.last_ = 0;
  }
  return *this;
}

void PostingList::Put(uint64_t delta) {
  if (capacity_ - size_ < 10) {  // a varint is at most 10 bytes
    size_t want = std::max<size_t>(size_t{size_} + 10, size_t{capacity_} + capacity_ / 2);
    want = std::max<size_t>(want, 16);
    void* grown = std::realloc(data_, want);
    if (grown == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(grown);
    capacity_ = static_cast<uint32_t>(std::min<size_t>(malloc_usable_size(grown), UINT32_MAX));
  }
  while (delta >= 0x80) {
    data_[size_++] = static_cast<uint8_t>(delta | 0x80);
    delta >>= 7;
  }
  data_[size_++] = static_cast<uint8_t>(delta);
}

void PostingList::Add(uint64_t ref) {
  if (count_ == 0 || ref > last_) {
    Put(ref - last_);  // the first delta is from 0
    last_ = ref;
    ++count_;
    return;
  }
  std::vector<uint64_t> refs;
  refs.reserve(count_ + 1);
  AppendTo(refs);
  auto at = std::lower_bound(refs.begin(), refs.end(), ref);
  if (at != refs.end() && *at == ref) return;
  refs.insert(at, ref);
  Assign(refs);
}

void PostingList::RemoveAll(std::span<const uint64_t> dead) {
  std::vector<uint64_t> refs;
  refs.reserve(count_);
  AppendTo(refs);
  size_t before = refs.size();
  std::erase_if(refs,
                [dead](uint64_t ref) { return std::binary_search(dead.begin(), dead.end(), ref); });
  if (refs.size() != before) Assign(refs);
}

void PostingList::Assign(std::span<const uint64_t> refs) {
  std::free(data_);
  data_ = nullptr;
  size_ = capacity_ = count_ = 0;
  last_ = 0;
  for (uint64_t ref : refs) Add(ref);
}

void PostingList::AppendTo(std::vector<uint64_t>& out) const {
  size_t at = out.size();
  out.resize(at + count_);
  uint64_t* dst = out.data() + at;
  const uint8_t* p = data_;
  uint64_t ref = 0;
  for (uint32_t i = 0; i < count_; ++i) {
    uint64_t delta = *p & 0x7F;
    for (int shift = 7; *p++ & 0x80; shift += 7) delta |= static_cast<uint64_t>(*p & 0x7F) << shift;
    ref += delta;
    dst[i] = ref;
  }
}

// ---- SeriesTable ----

SeriesTable::~SeriesTable() = default;

void SeriesTable::Insert(uint64_t hash, MemSeries* series) {
  // At most 7/8 full, counting deleted slots, so that a probe ends soon.
  if ((size_ + deleted_ + 1) * 8 > capacity_ * 7) {
    Rehash(size_ + 1 > capacity_ / 2 ? std::max<size_t>(capacity_ * 2, 16) : capacity_);
  }
  size_t i = Start(hash);
  while (ctrl_[i] >= 0x80) i = (i + 1) & (capacity_ - 1);
  if (ctrl_[i] == kDeleted) --deleted_;
  ctrl_[i] = Tag(hash);
  slots_[i] = series;
  ++size_;
}

bool SeriesTable::Erase(const MemSeries* series) {
  if (capacity_ == 0) return false;
  for (size_t i = Start(series->label_hash);; i = (i + 1) & (capacity_ - 1)) {
    if (ctrl_[i] == kEmpty) return false;
    if (ctrl_[i] >= 0x80 && slots_[i] == series) {
      ctrl_[i] = kDeleted;
      slots_[i] = nullptr;
      --size_;
      ++deleted_;
      return true;
    }
  }
}

void SeriesTable::Rehash(size_t capacity) {
  std::unique_ptr<uint8_t[]> old_ctrl = std::move(ctrl_);
  std::unique_ptr<MemSeries*[]> old_slots = std::move(slots_);
  size_t old_capacity = capacity_;
  ctrl_ = std::make_unique<uint8_t[]>(capacity);  // zeroed: every slot empty
  slots_ = std::make_unique<MemSeries*[]>(capacity);
  capacity_ = capacity;
  deleted_ = 0;
  for (size_t j = 0; j < old_capacity; ++j) {
    if (old_ctrl[j] < 0x80) continue;
    // The tag moves as it is; the start slot comes from the low bits the series keeps.
    size_t i = Start(old_slots[j]->label_hash);
    while (ctrl_[i] != kEmpty) i = (i + 1) & (capacity_ - 1);
    ctrl_[i] = old_ctrl[j];
    slots_[i] = old_slots[j];
  }
}

}  // namespace pharos::tsdb
