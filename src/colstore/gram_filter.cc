// Anchored gram filters: see gram_filter.h.
#include "colstore/gram_filter.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#define XXH_INLINE_ALL  // header-only: no run-time library
#include <xxhash.h>

#include "common/varint.h"

namespace pharos::colstore::internal {
namespace {

// The filter keeps this many bits per distinct anchor: a false positive rate per anchor
// near 0.25. A 32-byte needle has about six anchors, so a block without it is read with
// odds near 1 in 4,000; a log line of 130 bytes with 50 bytes of fresh ids and numbers has
// about 12 distinct anchors, so the filter costs about 4.5 bytes per line.
constexpr double kBitsPerAnchor = 3.0;

// One multiply: its high bits depend on every byte of the gram, and only anchors (a
// quarter of the grams) are mixed further.
inline uint64_t GramHash(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);       // native order: writer and reader agree
  x |= 0x2020202020202020ULL;  // ASCII case folding (merges some symbols too)
  return x * 0x9E3779B97F4A7C15ULL;
}

}  // namespace

// Without branching on each gram.
void AppendAnchors(std::string_view text, uint32_t shift, std::vector<uint64_t>& out) {
  if (text.size() < kGramBytes) return;
  size_t grams = text.size() - kGramBytes + 1;
  size_t n = out.size();
  out.resize(n + grams);
  uint64_t* dst = out.data() + n;
  const char* p = text.data();
  const int drop = 64 - static_cast<int>(shift);
  for (size_t i = 0; i < grams; ++i) {
    uint64_t h = GramHash(p + i);
    *dst = h;
    dst += (h >> drop) == 0;
  }
  out.resize(static_cast<size_t>(dst - out.data()));
}

namespace {

// An anchor's hash has its high bits zero: the filter's word and bits come from a mix.
inline uint64_t Mix(uint64_t h) {
  h ^= h >> 31;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 29;
  return h;
}
inline uint64_t WordOf(uint64_t mixed, uint64_t words) { return ((mixed >> 32) * words) >> 32; }
inline uint64_t BitsOf(uint64_t mixed) {
  return (1ULL << (mixed & 63)) | (1ULL << ((mixed >> 6) & 63));
}

}  // namespace

GramFilterBuilder::GramFilterBuilder(uint32_t sample_shift, uint64_t text_bytes)
    : shift_(sample_shift) {
  // About two bits per gram of text: linear counting stays accurate far past the anchors
  // a block of that much text can hold.
  uint64_t words = std::bit_ceil(std::max<uint64_t>(1, text_bytes / 32));
  counting_.assign(std::min<uint64_t>(words, 1 << 20), 0);
}

void GramFilterBuilder::Add(std::string_view text) {
  size_t from = anchors_.size();
  AppendAnchors(text, shift_, anchors_);
  const uint64_t mask = counting_.size() * 64 - 1;
  for (size_t i = from; i < anchors_.size(); ++i) {
    uint64_t bit = Mix(anchors_[i]) & mask;
    counting_[bit / 64] |= 1ULL << (bit % 64);
  }
}

void GramFilterBuilder::AddKey(uint64_t key) {
  anchors_.push_back(key);
  const uint64_t mask = counting_.size() * 64 - 1;
  uint64_t bit = Mix(key) & mask;
  counting_[bit / 64] |= 1ULL << (bit % 64);
}

std::array<uint64_t, kValueKeys> ValueKeys(std::string_view value) {
  // A distinct seed keeps values apart from the anchors of the same 8 bytes; the filter
  // mixes each key again, so keys a constant apart are as good as independent ones.
  uint64_t h = XXH3_64bits_withSeed(value.data(), value.size(), 0x7472616365696478ULL);
  std::array<uint64_t, kValueKeys> keys;
  for (size_t i = 0; i < kValueKeys; ++i) keys[i] = h + i * 0x9E3779B97F4A7C15ULL;
  return keys;
}

std::string GramFilterBuilder::Finish() {
  uint64_t set = 0;
  for (uint64_t w : counting_) set += static_cast<uint64_t>(std::popcount(w));
  double bits = static_cast<double>(counting_.size()) * 64;
  double fill = std::min(static_cast<double>(set) / bits, 1.0 - 1e-9);
  double distinct = -bits * std::log1p(-fill);  // linear counting
  auto words = static_cast<uint64_t>(std::ceil(distinct * kBitsPerAnchor / 64));
  words = std::clamp<uint64_t>(words, 1, UINT32_MAX / 8);
  std::vector<uint64_t> filter(words, 0);
  for (uint64_t h : anchors_) {
    uint64_t m = Mix(h);
    filter[WordOf(m, words)] |= BitsOf(m);
  }
  std::string out;
  out.reserve(words * 8);
  for (uint64_t w : filter) PutFixed64(out, w);
  return out;
}

std::vector<uint64_t> NeedleGrams(std::string_view needle, uint32_t sample_shift) {
  std::vector<uint64_t> grams;
  AppendAnchors(needle, sample_shift, grams);
  std::sort(grams.begin(), grams.end());
  grams.erase(std::unique(grams.begin(), grams.end()), grams.end());
  return grams;
}

void GramFilterInsert(std::span<uint64_t> words, uint64_t anchor) {
  uint64_t m = Mix(anchor);
  words[WordOf(m, words.size())] |= BitsOf(m);
}

namespace {

// Whether every gram's two bits are set, reading word i with word_at(i).
template <class WordAt>
bool HasAll(uint64_t words, std::span<const uint64_t> grams, WordAt word_at) {
  for (uint64_t g : grams) {
    uint64_t m = Mix(g);
    uint64_t bits = BitsOf(m);
    if ((word_at(WordOf(m, words)) & bits) != bits) return false;
  }
  return true;
}

}  // namespace

bool GramFilterMayContain(std::span<const uint64_t> words, std::span<const uint64_t> grams) {
  return HasAll(words.size(), grams, [&](uint64_t i) { return words[i]; });
}

size_t GramFilterWords(uint64_t anchors) {
  return std::max<size_t>(1, static_cast<size_t>(std::ceil(anchors * kBitsPerAnchor / 64)));
}

bool GramFilterMayContain(std::string_view filter, std::span<const uint64_t> grams) {
  return HasAll(filter.size() / 8, grams,
                [&](uint64_t i) { return DecodeFixed64(filter.data() + 8 * i); });
}

}  // namespace pharos::colstore::internal
