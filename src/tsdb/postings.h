// Internal to tsdb: Prometheus's matcher semantics over any inverted index, shared by the
// head and the blocks. An index provides:
//   bool HasName(const std::string& name) const;
//   std::vector<uint64_t> Equal(const std::string& name, const std::string& value) const;
//   template <class Pred> std::vector<uint64_t> UnionWhere(const std::string& name, Pred) const;
//   std::vector<uint64_t> All() const;
// with ids ascending.
#pragma once

#include <algorithm>
#include <optional>
#include <span>
#include <vector>

#include "tsdb/tsdb.h"

namespace pharos::tsdb {

inline std::vector<uint64_t> IntersectSorted(const std::vector<uint64_t>& a,
                                             const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

inline std::vector<uint64_t> SubtractSorted(const std::vector<uint64_t>& a,
                                            const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

/// The union of ascending id lists, ascending without repeats: a k-way merge on a min-heap,
/// O(n log k) for n ids in k lists, so a regex over many values costs one pass over the
/// postings it reads (not values x series, as merging the lists one by one would).
inline std::vector<uint64_t> UnionSorted(std::span<const std::span<const uint64_t>> lists) {
  size_t total = 0;
  for (std::span<const uint64_t> l : lists) total += l.size();
  std::vector<uint64_t> out;
  out.reserve(total);
  struct Cursor {
    const uint64_t* at;
    const uint64_t* end;
  };
  std::vector<Cursor> heap;
  heap.reserve(lists.size());
  for (std::span<const uint64_t> l : lists) {
    if (!l.empty()) heap.push_back({l.data(), l.data() + l.size()});
  }
  auto later = [](const Cursor& a, const Cursor& b) { return *a.at > *b.at; };
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Cursor& c = heap.back();
    if (out.empty() || out.back() != *c.at) out.push_back(*c.at);
    if (++c.at == c.end) {
      heap.pop_back();
    } else {
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
  return out;
}

/// Ids of series matching every matcher. A matcher that matches "" also selects series
/// without the label, so it subtracts the values it rejects instead of intersecting.
template <typename Index>
std::vector<uint64_t> SelectPostings(const Index& index, std::span<const Matcher> matchers) {
  std::optional<std::vector<uint64_t>> result;
  std::vector<const Matcher*> subtractive;
  for (const Matcher& m : matchers) {
    if (m.Matches("")) {
      subtractive.push_back(&m);
      continue;
    }
    std::vector<uint64_t> ids;
    if (index.HasName(m.name())) {
      if (m.type() == MatchType::kEqual) {
        ids = index.Equal(m.name(), m.value());
      } else {
        ids = index.UnionWhere(m.name(), [&m](std::string_view v) { return m.Matches(v); });
      }
    }
    result = result ? IntersectSorted(*result, ids) : std::move(ids);
    if (result->empty()) return {};
  }
  if (!result) result = index.All();
  for (const Matcher* m : subtractive) {
    if (!index.HasName(m->name())) continue;  // nobody has the label: all match
    result = SubtractSorted(
        *result, index.UnionWhere(m->name(), [m](std::string_view v) { return !m->Matches(v); }));
  }
  return *result;
}

}  // namespace pharos::tsdb
