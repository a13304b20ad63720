// Drain: see patterns.h.
#include "logs/patterns.h"

#include <algorithm>

namespace pharos::logs {
namespace {

constexpr std::string_view kVariable = "<_>";

bool HasDigit(std::string_view w) {
  return std::any_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Floor division for negative times too.
int64_t Bucket(int64_t time_ns, int64_t step_s) {
  int64_t s = time_ns / 1'000'000'000;
  if (time_ns < 0 && time_ns % 1'000'000'000 != 0) --s;
  int64_t b = s / step_s;
  if (s < 0 && s % step_s != 0) --b;
  return b * step_s;
}

bool IsDelimiter(char c) { return c == ' ' || c == ',' || c == ':' || c == '='; }

}  // namespace

void PatternMiner::Add(std::string_view line, int64_t time_ns) {
  // Words end at a space, ',', ':' or '=' (so JSON and logfmt keys stay apart from their
  // values); each keeps the delimiter after it.
  words_.clear();
  delimiters_.clear();
  size_t begin = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    if (!IsDelimiter(line[i])) continue;
    if (words_.size() + 1 == kMaxWords) break;
    words_.push_back(line.substr(begin, i - begin));
    delimiters_ += line[i];
    begin = i + 1;
  }
  words_.push_back(line.substr(begin));  // the rest (all of it past kMaxWords words)
  delimiters_ += '\0';
  // The leaf: word count and the first two words (any word when it holds a digit).
  std::string key = std::to_string(words_.size()) + delimiters_;
  for (size_t i = 0; i < 2 && i < words_.size(); ++i) {
    key += '\x1f';
    key += HasDigit(words_[i]) ? kVariable : words_[i];
  }
  Leaf& leaf = leaves_[key];
  if (leaf.clusters.empty()) leaf.delimiters = delimiters_;
  Cluster* best = nullptr;
  size_t best_same = 0, best_variables = 0;
  for (Cluster& c : leaf.clusters) {
    size_t same = 0, variables = 0;
    for (size_t i = 0; i < words_.size(); ++i) {
      if (c.words[i] == kVariable) {
        ++variables;
      } else if (c.words[i] == words_[i]) {
        ++same;
      }
    }
    // Most words in common; on a tie, the pattern with more variables (the more general).
    if (!best || same > best_same || (same == best_same && variables > best_variables)) {
      best = &c;
      best_same = same;
      best_variables = variables;
    }
  }
  const int64_t bucket = Bucket(time_ns, step_s_);
  // Drain's similarity: the words equal in the same places, over the line's words (a
  // variable place is no evidence either way).
  // A full leaf takes the line into its most similar pattern: a line costs at most
  // kMaxLeafPatterns comparisons, however varied the lines.
  const bool leaf_full = leaf.clusters.size() >= kMaxLeafPatterns;
  if (best && (leaf_full || static_cast<double>(best_same) >=
                                kSimilarity * static_cast<double>(words_.size()))) {
    for (size_t i = 0; i < words_.size(); ++i) {
      if (best->words[i] != kVariable && best->words[i] != words_[i]) best->words[i] = kVariable;
    }
  } else if (patterns_ < max_patterns_) {
    best = &leaf.clusters.emplace_back();
    best->words.assign(words_.begin(), words_.end());
    ++patterns_;
  } else {
    ++unmatched_;
    return;
  }
  ++best->count;
  ++best->samples[bucket];
}

std::vector<PatternMiner::Pattern> PatternMiner::Take() {
  std::vector<Pattern> out;
  out.reserve(patterns_);
  for (auto& [key, leaf] : leaves_) {
    for (Cluster& c : leaf.clusters) {
      Pattern p;
      bool previous_variable = false;
      for (size_t i = 0; i < c.words.size(); ++i) {
        bool variable = c.words[i] == kVariable;
        // Runs of variables separated by spaces read as one.
        if (variable && previous_variable && !p.text.empty() && p.text.back() == ' ') {
          p.text.pop_back();  // "<_> <_>" reads as one "<_>"
        } else {
          p.text += c.words[i];
        }
        if (leaf.delimiters[i] != '\0') p.text += leaf.delimiters[i];
        previous_variable = variable;
      }
      p.count = c.count;
      p.samples = std::move(c.samples);
      out.push_back(std::move(p));
    }
  }
  leaves_.clear();
  patterns_ = 0;
  std::sort(out.begin(), out.end(), [](const Pattern& a, const Pattern& b) {
    return a.count != b.count ? a.count > b.count : a.text < b.text;
  });
  return out;
}

}  // namespace pharos::logs
