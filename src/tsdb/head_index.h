// Internal to tsdb: the head's two per-series index structures, laid out for a million
// series. A PostingList keeps a label pair's refs delta-encoded (about 1 to 2 bytes a ref
// where a vector of refs takes 8 and up to 8 more of growth), and a SeriesTable finds a
// series by its label hash in about 14 bytes a series (a node-based multimap takes 34).
// Neither is thread-safe: the head guards them with its locks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace pharos::tsdb {

struct MemSeries;

/// Ascending refs without repeats, as varint deltas in one buffer.
class PostingList {
 public:
  PostingList() = default;
  ~PostingList();
  PostingList(PostingList&& other) noexcept;
  PostingList& operator=(PostingList&& other) noexcept;
  PostingList(const PostingList&) = delete;
  PostingList& operator=(const PostingList&) = delete;

  /// Adds `ref`; appending a ref above the last is the fast path (refs are handed out in
  /// increasing order), anything else re-encodes the list.
  void Add(uint64_t ref);
  /// Removes every ref of `dead` (ascending) that the list holds.
  void RemoveAll(std::span<const uint64_t> dead);
  /// Appends the refs, ascending, to `out`.
  void AppendTo(std::vector<uint64_t>& out) const;
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  /// Bytes allocated, for tests.
  size_t capacity() const { return capacity_; }

 private:
  void Put(uint64_t delta);
  void Assign(std::span<const uint64_t> refs);

  uint8_t* data_ = nullptr;  // malloc'd
  uint64_t last_ = 0;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  uint32_t count_ = 0;
};

/// Series by the hash of their labels: open addressing with one control byte a slot (7
/// bits of the hash), so a probe reads the series only when those bits match. Equal
/// hashes are allowed (the caller compares labels); each series is in the table once, and
/// its `label_hash` holds the hash's low 32 bits (growing the table needs them).
class SeriesTable {
 public:
  SeriesTable() = default;
  ~SeriesTable();
  SeriesTable(const SeriesTable&) = delete;
  SeriesTable& operator=(const SeriesTable&) = delete;

  /// The first series with this hash for which `same(series)` holds, or nullptr.
  template <typename Same>
  MemSeries* Find(uint64_t hash, Same same) const {
    if (capacity_ == 0) return nullptr;
    const uint8_t tag = Tag(hash);
    for (size_t i = Start(hash);; i = (i + 1) & (capacity_ - 1)) {
      if (ctrl_[i] == kEmpty) return nullptr;
      if (ctrl_[i] == tag && same(*slots_[i])) return slots_[i];
    }
  }
  void Insert(uint64_t hash, MemSeries* series);
  /// Removes `series`; false when it is not there.
  bool Erase(const MemSeries* series);
  size_t size() const { return size_; }

 private:
  static constexpr uint8_t kEmpty = 0;
  static constexpr uint8_t kDeleted = 1;
  // The top 7 bits (the shard and the start slot use the low 32), marked full.
  static uint8_t Tag(uint64_t hash) { return static_cast<uint8_t>(0x80 | (hash >> 57)); }
  size_t Start(uint64_t hash) const { return (static_cast<uint32_t>(hash) >> 8) & (capacity_ - 1); }
  void Rehash(size_t capacity);

  std::unique_ptr<uint8_t[]> ctrl_;
  std::unique_ptr<MemSeries*[]> slots_;
  size_t capacity_ = 0;  // a power of two
  size_t size_ = 0;
  size_t deleted_ = 0;
};

}  // namespace pharos::tsdb
