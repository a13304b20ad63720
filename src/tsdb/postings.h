// Internal to tsdb: Prometheus's matcher semantics over any inverted index, shared by the
// head and the blocks. An index provides:
//   bool HasName(const std::string& name) const;
//   std::span<const uint64_t> Equal(const std::string& name, const std::string& value,
//                                   std::vector<uint64_t>& scratch) const;
//     (a view into the index, valid while the caller holds the index, or into `scratch`
//     when the index decodes the list there, as mapped blocks do)
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

/// The union of ascending lists decoded one after another into `flat`, list k ending at
/// `ends[k]`: how the head and the blocks answer a regex over many values.
inline std::vector<uint64_t> UnionOfRuns(std::vector<uint64_t> flat, std::span<const size_t> ends) {
  if (ends.size() <= 1) return flat;
  std::vector<std::span<const uint64_t>> lists;
  size_t begin = 0;
  for (size_t end : ends) {
    lists.emplace_back(flat.data() + begin, end - begin);
    begin = end;
  }
  return UnionSorted(lists);
}

/// Keeps the ids of `ids` that are also in `list`, both ascending: each id is found by a
/// galloping search from where the last one was, so intersecting a short list with a long
/// one costs about the short one's size times the log of the gap, not the long one's size.
inline void RetainIn(std::vector<uint64_t>& ids, std::span<const uint64_t> list) {
  size_t kept = 0;
  const uint64_t* at = list.data();
  const uint64_t* end = list.data() + list.size();
  for (uint64_t id : ids) {
    size_t step = 1;
    const uint64_t* hi = at;
    while (hi < end && *hi < id) {
      at = hi;
      hi = end - hi > static_cast<ptrdiff_t>(step) ? hi + step : end;
      step *= 2;
    }
    at = std::lower_bound(at, hi, id);
    if (at == end) break;
    if (*at == id) ids[kept++] = id;
  }
  ids.resize(kept);
}

/// Ids of series matching every matcher. A matcher that matches "" also selects series
/// without the label, so it subtracts the values it rejects instead of intersecting.
/// Equality terms are read in place; terms are intersected smallest first, so the work
/// follows the most selective matcher, not the largest postings list.
template <typename Index>
std::vector<uint64_t> SelectPostings(const Index& index, std::span<const Matcher> matchers) {
  struct Term {
    std::vector<uint64_t> owned;  // a regex's union
    std::span<const uint64_t> ids;
  };
  std::vector<Term> terms;
  std::vector<const Matcher*> subtractive;
  for (const Matcher& m : matchers) {
    if (m.Matches("")) {
      subtractive.push_back(&m);
      continue;
    }
    Term t;
    if (index.HasName(m.name())) {
      if (m.type() == MatchType::kEqual) {
        t.ids = index.Equal(m.name(), m.value(), t.owned);
      } else {
        t.owned = index.UnionWhere(m.name(), [&m](std::string_view v) { return m.Matches(v); });
        t.ids = t.owned;
      }
    }
    if (t.ids.empty()) return {};
    terms.push_back(std::move(t));  // a moved vector keeps its buffer: the view stays valid
  }
  std::vector<uint64_t> result;
  if (terms.empty()) {
    result = index.All();
  } else {
    std::sort(terms.begin(), terms.end(),
              [](const Term& a, const Term& b) { return a.ids.size() < b.ids.size(); });
    result.assign(terms[0].ids.begin(), terms[0].ids.end());
    for (size_t i = 1; i < terms.size() && !result.empty(); ++i) RetainIn(result, terms[i].ids);
  }
  for (const Matcher* m : subtractive) {
    if (result.empty()) break;
    if (!index.HasName(m->name())) continue;  // nobody has the label: all match
    result = SubtractSorted(
        result, index.UnionWhere(m->name(), [m](std::string_view v) { return !m->Matches(v); }));
  }
  return result;
}

}  // namespace pharos::tsdb
