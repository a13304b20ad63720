// Gram filters never rule out a block holding the needle, and rule out nearly every other.
#include <gtest/gtest.h>

#include <random>

#include <fmt/format.h>

#include "colstore/gram_filter.h"

namespace pharos::colstore::internal {
namespace {

std::string RandomLine(std::mt19937_64& rng) {
  static const char* kWords[] = {"GET",    "POST", "error", "Connection", "closed", "user",
                                 "日本語", "错误", "=",     "/api/v1/",   " ",      "\t"};
  std::string line;
  int parts = 3 + static_cast<int>(rng() % 12);
  for (int i = 0; i < parts; ++i) {
    switch (rng() % 4) {
      case 0: line += fmt::format("{:x}", rng()); break;
      case 1: line += std::to_string(rng() % 100000); break;
      default: line += kWords[rng() % std::size(kWords)]; break;
    }
    if (rng() % 2) line += ' ';
  }
  return line;
}

// No false negatives: any substring of any text added is "maybe", for every sampling, in
// its original case and with ASCII letters flipped.
TEST(GramFilterTest, EverySubstringOfTheTextMayBeContained) {
  std::mt19937_64 rng(42);
  for (uint32_t shift : {1u, 2u, 4u}) {
    std::vector<std::string> lines;
    uint64_t bytes = 0;
    for (int i = 0; i < 2000; ++i) {
      lines.push_back(RandomLine(rng));
      bytes += lines.back().size();
    }
    GramFilterBuilder builder(shift, bytes);
    for (const std::string& l : lines) builder.Add(l);
    std::string filter = builder.Finish();
    ASSERT_GE(filter.size(), 8u);
    ASSERT_EQ(filter.size() % 8, 0u) << "whole words";
    int filtered = 0;
    for (int i = 0; i < 5000; ++i) {
      const std::string& l = lines[rng() % lines.size()];
      if (l.empty()) continue;
      size_t len = 1 + rng() % l.size();
      size_t at = rng() % (l.size() - len + 1);
      std::string needle = l.substr(at, len);
      std::vector<uint64_t> grams = NeedleGrams(needle, shift);
      filtered += !grams.empty();
      ASSERT_TRUE(GramFilterMayContain(filter, grams)) << "shift " << shift << ": " << needle;
      for (char& c : needle) {
        if (std::isalpha(static_cast<unsigned char>(c))) c = static_cast<char>(c ^ 0x20);
      }
      ASSERT_TRUE(GramFilterMayContain(filter, NeedleGrams(needle, shift))) << needle;
    }
    EXPECT_GT(filtered, 1000) << "needles with an anchor, shift " << shift;
  }
}

TEST(GramFilterTest, ShortNeedlesAreNotFiltered) {
  EXPECT_TRUE(NeedleGrams("", kDefaultGramSampleShift).empty());
  EXPECT_TRUE(NeedleGrams("错误", kDefaultGramSampleShift).empty());
  EXPECT_TRUE(NeedleGrams("1234567", kDefaultGramSampleShift).empty());
  // At one anchor in two, about half of the 8-byte needles have one.
  int with_anchor = 0;
  for (int i = 0; i < 100; ++i)
    with_anchor += !NeedleGrams(fmt::format("{:08}", i * 7919), 1).empty();
  EXPECT_GT(with_anchor, 30);
  EXPECT_LT(with_anchor, 70);
}

// A block of 8192 lines, each with a fresh 32-hex id: ids it does not hold pass rarely, and
// the filter costs a few bytes per line.
TEST(GramFilterTest, AbsentIdsAreRuledOutAndTheFilterIsSmall) {
  std::mt19937_64 rng(7);
  std::vector<std::string> lines;
  uint64_t bytes = 0;
  for (int i = 0; i < 8192; ++i) {
    lines.push_back(fmt::format(
        "2026-12-07T11:{:02}:{:02}.{:03}Z INFO request id={:016x}{:016x} path=/api/orders/{} "
        "status=200 took {}ms",
        i / 3600 % 60, i / 60 % 60, i % 1000, rng(), rng(), rng() % 100000, rng() % 1000));
    bytes += lines.back().size();
  }
  GramFilterBuilder builder(kDefaultGramSampleShift, bytes);
  for (const std::string& l : lines) builder.Add(l);
  std::string filter = builder.Finish();
  EXPECT_LE(filter.size(), lines.size() * 6) << "bytes per line";
  int passed = 0, unfiltered = 0;
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint64_t> grams =
        NeedleGrams(fmt::format("{:016x}{:016x}", rng(), rng()), kDefaultGramSampleShift);
    unfiltered += grams.empty();
    passed += GramFilterMayContain(filter, grams);
  }
  EXPECT_LE(unfiltered, 5) << "of 1000 32-hex ids, without an anchor";
  EXPECT_LE(passed, 15) << "of 1000 absent ids";
  for (int i = 0; i < 100; ++i) {
    const std::string& l = lines[rng() % lines.size()];
    std::string id = l.substr(l.find("id=") + 3, 32);
    EXPECT_TRUE(GramFilterMayContain(filter, NeedleGrams(id, kDefaultGramSampleShift))) << id;
  }
}

}  // namespace
}  // namespace pharos::colstore::internal
