// Internal to colstore: the substring filter of a block's text column, so that a scan for
// `line contains "4bf92f3577b34da6"` reads only the blocks that may hold it.
//
// A needle can sit anywhere inside a word, so whole-word tokens cannot answer substring
// questions, and every n-gram of every line is too many. The filter keeps the text's
// *anchors*: the 8-byte grams whose hash falls in the lowest 1/2^sample_shift of its range.
// Whether a gram is an anchor depends only on its bytes, so every anchor of a needle is an
// anchor of any text containing it: a block whose filter lacks one of the needle's anchors
// cannot contain the needle. A needle with no anchor (one in thirteen 16-byte needles, one in
// a thousand 32-byte ones, every needle under 8 bytes) is not filtered: its blocks are
// read. Grams are ASCII case-folded (each byte OR 0x20) before hashing, which only merges
// grams: the same filter answers case-insensitive needles.
//
// The anchors go into a bloom filter with two bits per key in one 64-bit word, sized for
// the block's distinct anchors (counted first in a bitmap).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pharos::colstore::internal {

inline constexpr uint32_t kGramBytes = 8;
inline constexpr uint32_t kDefaultGramSampleShift = 2;  // one gram in four is an anchor
inline constexpr uint32_t kMaxGramSampleShift = 8;

/// Builds one block's filter from its text values.
class GramFilterBuilder {
 public:
  /// `text_bytes`: about how much text Add will see, to size the counting bitmap.
  GramFilterBuilder(uint32_t sample_shift, uint64_t text_bytes);
  void Add(std::string_view text);
  /// One key as it is (one of a value's ValueKeys).
  void AddKey(uint64_t key);
  /// The filter as stored: little-endian 64-bit words, at least one.
  std::string Finish();

 private:
  uint32_t shift_;
  std::vector<uint64_t> counting_;  // one bit per anchor hash: counts the distinct ones
  std::vector<uint64_t> anchors_;   // every anchor hash, repeats included
};

/// The filter keys of a whole value of the block's value column (an exact-value index in
/// the same filter: a block whose filter lacks one has no row with that value). Four keys,
/// as a needle has several anchors: one alone would pass one block in four. Keys and
/// anchors share the filter; a key mistaken for an anchor or the reverse only costs a read.
inline constexpr size_t kValueKeys = 4;
std::array<uint64_t, kValueKeys> ValueKeys(std::string_view value);

/// Appends the anchor hashes of `text` (repeats included) to `out`.
void AppendAnchors(std::string_view text, uint32_t sample_shift, std::vector<uint64_t>& out);

/// A filter built one anchor at a time, at a size fixed up front (the head's open blocks).
void GramFilterInsert(std::span<uint64_t> words, uint64_t anchor);
bool GramFilterMayContain(std::span<const uint64_t> words, std::span<const uint64_t> grams);
/// Words for a filter of `anchors` anchors (repeats counted) at the stored filters' density.
size_t GramFilterWords(uint64_t anchors);

/// The needle's anchor hashes (deduplicated); empty when it has none (it is not filtered).
std::vector<uint64_t> NeedleGrams(std::string_view needle, uint32_t sample_shift);

/// False only when no text added to `filter` contains the needle of `grams`. `filter` is a
/// stored filter (a whole number of 64-bit words, at least one: checked when the segment
/// opened).
bool GramFilterMayContain(std::string_view filter, std::span<const uint64_t> grams);

}  // namespace pharos::colstore::internal
