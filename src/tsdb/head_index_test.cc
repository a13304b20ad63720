#include "tsdb/head_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "tsdb/head.h"

namespace pharos::tsdb {
namespace {

std::vector<uint64_t> Refs(const PostingList& list) {
  std::vector<uint64_t> out;
  list.AppendTo(out);
  return out;
}

TEST(PostingListTest, KeepsRefsAscendingWhateverTheOrderAdded) {
  std::mt19937_64 rng(3);
  PostingList list;
  std::set<uint64_t> want;
  // Mostly increasing, as refs are handed out, with some out of order (replay), repeats,
  // and gaps of every varint width up to the largest ref.
  uint64_t next = 1;
  for (int i = 0; i < 5000; ++i) {
    uint64_t ref;
    switch (rng() % 8) {
      case 0: ref = rng() % next + 1; break;            // an older ref, maybe held already
      case 1: ref = next += rng() % (1u << 20); break;  // a wide gap
      default: ref = next += 1 + rng() % 3; break;
    }
    list.Add(ref);
    want.insert(ref);
  }
  list.Add(UINT64_MAX);
  want.insert(UINT64_MAX);
  EXPECT_EQ(list.size(), want.size());
  EXPECT_EQ(Refs(list), std::vector<uint64_t>(want.begin(), want.end()));
}

TEST(PostingListTest, DenseRefsTakeAboutAByteEach) {
  PostingList list;
  for (uint64_t ref = 1000000; ref < 1100000; ++ref) list.Add(ref);
  EXPECT_EQ(list.size(), 100000u);
  EXPECT_LT(list.capacity(), 100000u * 3 / 2 + 64);
  std::vector<uint64_t> refs = Refs(list);
  EXPECT_EQ(refs.front(), 1000000u);
  EXPECT_EQ(refs.back(), 1099999u);
}

TEST(PostingListTest, RemoveAllAndAppendAfterwards) {
  PostingList list;
  for (uint64_t ref = 1; ref <= 100; ++ref) list.Add(ref * 10);
  std::vector<uint64_t> dead = {5, 10, 500, 990, 1000, 2000};  // 5 and 2000 were never held
  list.RemoveAll(dead);
  std::vector<uint64_t> refs = Refs(list);
  EXPECT_EQ(refs.size(), 96u);
  EXPECT_EQ(refs.front(), 20u);
  EXPECT_EQ(refs.back(), 980u);
  EXPECT_FALSE(std::binary_search(refs.begin(), refs.end(), 500));
  list.Add(985);  // between the last two
  list.Add(5000);
  refs = Refs(list);
  EXPECT_EQ(refs.size(), 98u);
  EXPECT_EQ(refs[refs.size() - 2], 985u);
  EXPECT_EQ(refs.back(), 5000u);
  std::vector<uint64_t> all = refs;
  list.RemoveAll(all);
  EXPECT_TRUE(list.empty());
  EXPECT_TRUE(Refs(list).empty());
}

TEST(PostingListTest, AppendsAfterWhatTheVectorHolds) {
  PostingList list;
  list.Add(7);
  list.Add(9);
  std::vector<uint64_t> out = {1, 2};
  list.AppendTo(out);
  EXPECT_EQ(out, (std::vector<uint64_t>{1, 2, 7, 9}));
  PostingList moved(std::move(list));
  EXPECT_EQ(Refs(moved), (std::vector<uint64_t>{7, 9}));
  EXPECT_TRUE(list.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
  list = std::move(moved);
  EXPECT_EQ(Refs(list), (std::vector<uint64_t>{7, 9}));
}

// Series stand-ins: only `label_hash` and the identity matter to the table.
std::vector<MemSeriesPtr> MakeSeries(size_t n) {
  std::vector<MemSeriesPtr> out;
  for (size_t i = 0; i < n; ++i) out.push_back(MemSeries::New({}));
  return out;
}

TEST(SeriesTableTest, FindsInsertsAndErasesThroughGrowth) {
  std::mt19937_64 rng(5);
  std::vector<MemSeriesPtr> series = MakeSeries(20000);
  std::vector<uint64_t> hashes;
  SeriesTable table;
  for (size_t i = 0; i < series.size(); ++i) {
    // Every 100th series shares its hash with the one before: equal hashes must coexist.
    uint64_t hash = i % 100 == 1 ? hashes.back() : rng();
    hashes.push_back(hash);
    series[i]->label_hash = static_cast<uint32_t>(hash);
    series[i]->ref = i;
    table.Insert(hash, series[i].get());
  }
  EXPECT_EQ(table.size(), series.size());
  auto find = [&](size_t i) {
    return table.Find(hashes[i], [&](const MemSeries& s) { return s.ref == i; });
  };
  for (size_t i = 0; i < series.size(); ++i) ASSERT_EQ(find(i), series[i].get()) << i;
  // Erase every third, then insert them again: deleted slots are reused or swept.
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < series.size(); i += 3) ASSERT_TRUE(table.Erase(series[i].get()));
    EXPECT_FALSE(table.Erase(series[0].get()));
    for (size_t i = 0; i < series.size(); ++i) {
      ASSERT_EQ(find(i), i % 3 == 0 ? nullptr : series[i].get()) << i;
    }
    for (size_t i = 0; i < series.size(); i += 3) table.Insert(hashes[i], series[i].get());
  }
  EXPECT_EQ(table.size(), series.size());
  for (size_t i = 0; i < series.size(); ++i) ASSERT_EQ(find(i), series[i].get()) << i;
  EXPECT_EQ(table.Find(12345, [](const MemSeries&) { return true; }), nullptr);
}

TEST(SeriesTableTest, EmptyTable) {
  SeriesTable table;
  EXPECT_EQ(table.Find(1, [](const MemSeries&) { return true; }), nullptr);
  std::vector<MemSeriesPtr> one = MakeSeries(1);
  EXPECT_FALSE(table.Erase(one[0].get()));
}

}  // namespace
}  // namespace pharos::tsdb
