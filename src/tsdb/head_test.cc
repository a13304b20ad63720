#include "tsdb/head.h"

#include <gtest/gtest.h>

#include "tsdb/postings.h"

namespace pharos::tsdb {
namespace {

class HeadTest : public ::testing::Test {
 protected:
  HeadTest() : head_(Options{}) {
    Add({{"__name__", "up"}, {"job", "api"}, {"instance", "a"}});
    Add({{"__name__", "up"}, {"job", "api"}, {"instance", "b"}});
    Add({{"__name__", "up"}, {"job", "db"}, {"instance", "c"}});
    Add({{"__name__", "http_requests_total"}, {"job", "api"}, {"code", "500"}});
    Add({{"__name__", "http_requests_total"}, {"job", "api"}});
  }
  void Add(std::vector<LabelView> labels) {
    std::sort(labels.begin(), labels.end(),
              [](const LabelView& a, const LabelView& b) { return a.name < b.name; });
    bool created;
    head_.Create(labels, Head::HashLabels(labels), 0, created);
    ASSERT_TRUE(created);
  }
  std::vector<uint64_t> Select(std::vector<std::tuple<MatchType, std::string, std::string>> spec) {
    std::vector<Matcher> ms;
    for (auto& [t, n, v] : spec) ms.push_back(*Matcher::Make(t, n, v));
    return head_.Postings(ms);
  }
  Head head_;
};

using V = std::vector<uint64_t>;

TEST_F(HeadTest, EqualityAndIntersection) {
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "up"}}), (V{1, 2, 3}));
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "up"}, {MatchType::kEqual, "job", "api"}}),
            (V{1, 2}));
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "nope"}}), V{});
  EXPECT_EQ(Select({{MatchType::kEqual, "nolabel", "x"}}), V{});
}

TEST_F(HeadTest, NegativeAndRegexMatchers) {
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "up"}, {MatchType::kNotEqual, "job", "api"}}),
            (V{3}));
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "instance", "a|c"}}), (V{1, 3}));
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "__name__", "http_.*"}}), (V{4, 5}));
  EXPECT_EQ(Select({{MatchType::kRegexNoMatch, "job", "api"}}), (V{3}));
  // Anchored: "ap" does not match "api".
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "job", "ap"}}), V{});
}

TEST_F(HeadTest, EmptyMatchingMatchersSelectSeriesWithoutTheLabel) {
  // code="" selects series without a code label.
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "http_requests_total"},
                    {MatchType::kEqual, "code", ""}}),
            (V{5}));
  // code!="500" includes the series that has no code at all.
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "http_requests_total"},
                    {MatchType::kNotEqual, "code", "500"}}),
            (V{5}));
  // code=~".*" matches everything, code=~".+" only series with the label.
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "code", ".*"}}), (V{1, 2, 3, 4, 5}));
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "code", ".+"}}), (V{4}));
  // A label nobody has, matched against "": everyone.
  EXPECT_EQ(Select({{MatchType::kEqual, "__name__", "up"}, {MatchType::kEqual, "zone", ""}}),
            (V{1, 2, 3}));
}

TEST_F(HeadTest, LabelNamesAndValues) {
  EXPECT_EQ(head_.LabelNames(), (std::vector<std::string>{"__name__", "code", "instance", "job"}));
  EXPECT_EQ(head_.LabelValues("job"), (std::vector<std::string>{"api", "db"}));
  EXPECT_TRUE(head_.LabelValues("nope").empty());
}

// The cut sorts series by CompareLabels: it must order as LabelsLess does on the strings,
// whatever order the symbols were interned in.
TEST_F(HeadTest, CompareLabelsOrdersAsLabelsLess) {
  Add({{"__name__", "up"}, {"job", "api"}});  // a prefix of series 1 and 2
  Add({{"__name__", "up"}, {"job", "api"}, {"instance", "a"}, {"zone", "x"}});
  Add({{"__name__", "a"}, {"job", "zzz"}});  // "a" interned after "up"
  std::vector<MemSeries*> all;
  for (uint64_t ref = 1; ref < head_.RefLimit(); ++ref) all.push_back(head_.ByRef(ref));
  ASSERT_EQ(all.size(), 8u);
  for (MemSeries* a : all) {
    for (MemSeries* b : all) {
      Labels la = head_.LabelsOf(*a), lb = head_.LabelsOf(*b);
      int c = head_.CompareLabels(*a, *b);
      EXPECT_EQ(c < 0, LabelsLess(la, lb)) << FormatLabels(la) << " " << FormatLabels(lb);
      EXPECT_EQ(c == 0, a == b) << FormatLabels(la) << " " << FormatLabels(lb);
    }
  }
}

TEST_F(HeadTest, SamplesOrderDuplicatesAndWindow) {
  MemSeries* s = head_.ByRef(1);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(head_.Check(*s, 1000, 1), SampleVerdict::kAppend);
  head_.Apply(*s, SampleVerdict::kAppend, 1000, 1);
  head_.Apply(*s, head_.Check(*s, 2000, 2), 2000, 2);
  EXPECT_EQ(head_.Check(*s, 2000, 2), SampleVerdict::kDuplicate);
  EXPECT_EQ(head_.Check(*s, 2000, 3), SampleVerdict::kConflict);
  // Default window is 10 minutes.
  EXPECT_EQ(head_.Check(*s, 1500, 9), SampleVerdict::kOutOfOrder);
  head_.Apply(*s, SampleVerdict::kOutOfOrder, 1500, 9);
  EXPECT_EQ(head_.Check(*s, 1500, 9), SampleVerdict::kDuplicate);
  EXPECT_EQ(head_.Check(*s, 1500, 8), SampleVerdict::kConflict);
  head_.Apply(*s, head_.Check(*s, 700000, 4), 700000, 4);
  EXPECT_EQ(head_.Check(*s, 2500, 1), SampleVerdict::kTooOld);
  std::vector<Sample> out;
  head_.Read(*s, 0, 1000000, out);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].t, 1000);
  EXPECT_EQ(out[1].t, 1500);
  EXPECT_EQ(out[1].v, 9);
  EXPECT_EQ(out[2].t, 2000);
  EXPECT_EQ(out[3].t, 700000);
  // Read appends: what the vector held stays, and the out-of-order merge starts after it.
  std::vector<Sample> more = {{1, 1}};
  head_.Read(*s, 1500, 2000, more);
  ASSERT_EQ(more.size(), 3u);
  EXPECT_EQ(more[0].t, 1);
  EXPECT_EQ(more[1].t, 1500);
  EXPECT_EQ(more[1].v, 9);
  EXPECT_EQ(more[2].t, 2000);
}

TEST_F(HeadTest, ManySamplesCutChunks) {
  MemSeries* s = head_.ByRef(2);
  for (int i = 0; i < 1000; ++i) head_.Apply(*s, SampleVerdict::kAppend, i * 1000, i);
  ASSERT_NE(s->history, nullptr);
  EXPECT_EQ(s->history->closed.size(), 8u);  // 120 per chunk
  std::vector<Sample> out;
  head_.Read(*s, 0, 1000000, out);
  ASSERT_EQ(out.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(out[i].v, i);
  out.clear();
  head_.Read(*s, 500000, 600000, out);
  EXPECT_EQ(out.size(), 101u);
  EXPECT_EQ(out.front().t, 500000);
}

// Series replaced every "hour": each wave of 500 pods ends (its samples cut away) and
// the next starts. The ref table, the postings and the label values stay the size of one
// wave, not of every series ever created.
TEST(HeadChurnTest, ReplacedSeriesLeaveNothingBehind) {
  Head head{Options{}};
  std::vector<std::string> pods;
  for (int wave = 0; wave < 40; ++wave) {
    for (int i = 0; i < 500; ++i) {
      std::string pod = "pod-" + std::to_string(wave) + "-" + std::to_string(i);
      std::vector<LabelView> labels = {{"__name__", "up"}, {"job", "node"}, {"pod", pod}};
      bool created;
      MemSeries* s = head.Create(labels, Head::HashLabels(labels), 0, created);
      ASSERT_TRUE(created);
      std::lock_guard<std::mutex> lock(head.Stripe(s->ref));
      head.Apply(*s, SampleVerdict::kAppend, wave * 3'600'000LL, 1);
    }
    // The previous wave's samples went into a block: its series hold nothing now.
    int64_t boundary = wave * 3'600'000LL;
    for (uint64_t ref = 1; ref < head.RefLimit(); ++ref) {
      MemSeries* s = head.ByRef(ref);
      if (s == nullptr) continue;
      std::lock_guard<std::mutex> lock(head.Stripe(ref));
      head.Truncate(*s, boundary);
    }
    head.Collect(head.EmptySeries());
    EXPECT_EQ(head.NumSeries(), 500u) << wave;
    EXPECT_LE(head.RefSlots(), 1001u) << wave;
    // The live wave's pod names, the last wave's (released now, freed at the next
    // collection, when no query can hold them) and the few shared strings: interned
    // strings do not pile up.
    EXPECT_LE(head.LiveSymbols(), 1000u + 10u) << wave;
  }
  std::vector<Matcher> node = {*Matcher::Make(MatchType::kEqual, "job", "node")};
  std::vector<uint64_t> live = head.Postings(node);
  ASSERT_EQ(live.size(), 500u);
  EXPECT_EQ(head.LabelValues("pod").size(), 500u);
  EXPECT_EQ(head.LabelValues("pod").front(), "pod-39-0");
  // Reused symbol ids name the right strings.
  for (uint64_t ref : live) {
    Labels labels = head.LabelsOf(*head.ByRef(ref));
    ASSERT_EQ(labels.size(), 3u);
    EXPECT_EQ(labels[0].value, "up");
    EXPECT_EQ(labels[1].value, "node");
    EXPECT_TRUE(labels[2].value.starts_with("pod-39-")) << labels[2].value;
    std::vector<Matcher> one = {*Matcher::Make(MatchType::kEqual, "pod", labels[2].value)};
    EXPECT_EQ(head.Postings(one), std::vector<uint64_t>{ref});
  }
}

TEST_F(HeadTest, StatsCountByMetric) {
  Stats st = head_.GetStats(10);
  EXPECT_EQ(st.num_series, 5u);
  ASSERT_FALSE(st.series_count_by_metric_name.empty());
  EXPECT_EQ(st.series_count_by_metric_name[0].name, "up");
  EXPECT_EQ(st.series_count_by_metric_name[0].value, 3u);
  EXPECT_EQ(head_.SeriesForMetric("http_requests_total"), 2u);
}

TEST(SymbolTableTest, InternAndFind) {
  SymbolTable t;
  EXPECT_EQ(t.Find(""), 0u);
  uint32_t a = t.Intern("alpha");
  EXPECT_EQ(t.Intern("alpha"), a);
  EXPECT_EQ(t.Get(a), "alpha");
  EXPECT_EQ(t.Find("alpha"), a);
  EXPECT_EQ(t.Find("beta"), 0u);
  // Past one block of ids.
  for (int i = 0; i < 70000; ++i) t.Intern("s" + std::to_string(i));
  EXPECT_EQ(t.Get(t.Find("s69999")), "s69999");
  EXPECT_EQ(t.Get(a), "alpha");
}

TEST(PostingsTest, UnionSortedMergesManyListsInOnePass) {
  std::vector<uint64_t> a = {1, 4, 9}, b = {2, 4, 10, 11}, c = {}, d = {0, 9, 12};
  std::vector<std::span<const uint64_t>> lists = {a, b, c, d};
  EXPECT_EQ(UnionSorted(lists), (std::vector<uint64_t>{0, 1, 2, 4, 9, 10, 11, 12}));
  EXPECT_TRUE(UnionSorted({}).empty());
  // 100,000 single-series values, as {job=~".+"} over 100,000 jobs: every id once, in order.
  std::vector<std::vector<uint64_t>> many(100'000);
  for (uint64_t i = 0; i < many.size(); ++i) many[(i * 7919) % many.size()].push_back(i);
  std::vector<std::span<const uint64_t>> spans(many.begin(), many.end());
  std::vector<uint64_t> all = UnionSorted(spans);
  ASSERT_EQ(all.size(), many.size());
  for (uint64_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], i);
}

TEST(PostingsTest, RetainInGallopsThroughTheLongerList) {
  std::vector<uint64_t> longer;
  for (uint64_t i = 0; i < 100'000; i += 3) longer.push_back(i);  // multiples of 3
  std::vector<uint64_t> ids = {0, 1, 3, 4, 299'997, 299'999, 99'999, 100'000};
  std::sort(ids.begin(), ids.end());
  RetainIn(ids, longer);
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 3, 99'999}));
  std::vector<uint64_t> none = {5, 7};
  RetainIn(none, std::span<const uint64_t>());
  EXPECT_TRUE(none.empty());
}

TEST_F(HeadTest, EqualityTermsIntersectSmallestFirst) {
  for (int i = 0; i < 1000; ++i) {
    Add({{"__name__", "wide"}, {"job", "api"}, {"id", std::to_string(i)}});
  }
  EXPECT_EQ(
      Select({{MatchType::kEqual, "__name__", "wide"}, {MatchType::kEqual, "id", "7"}}).size(), 1u);
  EXPECT_EQ(Select({{MatchType::kEqual, "job", "api"},
                    {MatchType::kRegexMatch, "id", "1.."},
                    {MatchType::kNotEqual, "id", "150"}})
                .size(),
            99u);
  EXPECT_TRUE(
      Select({{MatchType::kEqual, "job", "api"}, {MatchType::kEqual, "id", "nope"}}).empty());
}

TEST_F(HeadTest, RegexOverManyValuesSelectsEachSeriesOnce) {
  for (int i = 0; i < 2000; ++i) Add({{"__name__", "many"}, {"job", "j" + std::to_string(i)}});
  EXPECT_EQ(Select({{MatchType::kRegexMatch, "job", "j.+"}}).size(), 2000u);
  std::vector<uint64_t> refs = Select({{MatchType::kRegexMatch, "job", ".+"}});
  EXPECT_EQ(refs.size(), 2005u);
  EXPECT_TRUE(std::is_sorted(refs.begin(), refs.end()));
}

}  // namespace
}  // namespace pharos::tsdb
