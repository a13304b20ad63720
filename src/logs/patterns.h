// Internal to logs: log patterns for Loki's /loki/api/v1/patterns, mined with Drain (He et
// al., "Drain: An Online Log Parsing Approach with Fixed Depth Tree", ICWS 2017).
//
// A line is split into words at spaces, ',', ':' and '=' (each word keeps its delimiter).
// Lines of the same words and delimiters count whose first two words
// agree (a word holding a digit counts as any word) share a leaf; in a leaf a line joins
// the pattern with which it shares the most words in the same places ("<_>" places not
// counted), when that is at least kSimilarity of its words, and every word where they
// differ becomes "<_>";
// otherwise it starts a pattern. Memory and time are bounded: at most max_patterns
// patterns, kMaxLeafPatterns per leaf (a line reaching a full leaf joins its most similar
// pattern), and kMaxWords words per line (the rest of a longer line is its last word).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pharos::logs {

class PatternMiner {
 public:
  struct Pattern {
    std::string text;  // words joined by spaces, variable ones as "<_>" (runs of them as one)
    uint64_t count = 0;
    std::map<int64_t, uint64_t> samples;  // bucket start (seconds) -> lines
  };

  /// Lines are counted in buckets of step_s seconds.
  PatternMiner(int64_t step_s, size_t max_patterns)
      : step_s_(step_s), max_patterns_(max_patterns) {}
  void Add(std::string_view line, int64_t time_ns);
  /// Patterns by count, most frequent first.
  std::vector<Pattern> Take();
  /// Lines that matched no pattern once max_patterns were taken.
  uint64_t unmatched() const { return unmatched_; }

  static constexpr double kSimilarity = 0.3;
  static constexpr size_t kMaxWords = 128;
  static constexpr size_t kMaxLeafPatterns = 64;

 private:
  struct Cluster {
    std::vector<std::string> words;  // "<_>" where lines differ
    uint64_t count = 0;
    std::map<int64_t, uint64_t> samples;
  };
  // Lines of one word count, delimiters and first two words.
  struct Leaf {
    std::string delimiters;  // after each word ('\0' after the last)
    std::vector<Cluster> clusters;
  };

  int64_t step_s_;
  size_t max_patterns_;
  size_t patterns_ = 0;
  uint64_t unmatched_ = 0;
  std::unordered_map<std::string, Leaf> leaves_;
  std::vector<std::string_view> words_;  // scratch
  std::string delimiters_;
};

}  // namespace pharos::logs
