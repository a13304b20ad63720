// Loki 3's discover_log_levels: a line's level as the structured metadata "detected_level",
// from a level field of its metadata, else a `level=`/`"level":` field in the line (logfmt
// or JSON), else the first level word in the line.
#include <emmintrin.h>  // SSE2, part of every x86-64

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "common/strings.h"
#include "logs/logs.h"

namespace pharos::logs {
namespace {

constexpr size_t kScanBytes = 512;  // levels sit near the start of a line

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Bit i of letters[i / 64]: byte i is an ASCII letter; of words: a letter or '_' (words
// go on over underscores: severity_text).
struct WordMasks {
  static constexpr size_t kMaxChunks = kScanBytes / 64;
  uint64_t letters[kMaxChunks] = {};
  uint64_t words[kMaxChunks] = {};
  size_t chunks = 0;
  size_t size = 0;

  explicit WordMasks(std::string_view text) : size(text.size()) {
    chunks = (text.size() + 63) / 64;
    for (size_t at = 0; at < text.size(); at += 16) {
      __m128i v;
      if (at + 16 <= text.size()) {
        v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text.data() + at));
      } else {  // the tail, zero-padded (copied once, so no store forwarding stalls above)
        alignas(16) char block[16] = {};
        std::memcpy(block, text.data() + at, text.size() - at);
        v = _mm_load_si128(reinterpret_cast<const __m128i*>(block));
      }
      __m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
      // Signed compares: bytes from 0x80 up are negative, never letters.
      __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                     _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
      __m128i word = _mm_or_si128(letter, _mm_cmpeq_epi8(v, _mm_set1_epi8('_')));
      uint64_t l = static_cast<uint16_t>(_mm_movemask_epi8(letter));
      uint64_t w = static_cast<uint16_t>(_mm_movemask_epi8(word));
      letters[at / 64] |= l << (at % 64);
      words[at / 64] |= w << (at % 64);
    }
  }

  // Where the word starting at `start` ends: the first byte after it that is no word
  // character (or the end).
  size_t WordEnd(size_t start) const {
    size_t chunk = start / 64;
    uint64_t rest = ~words[chunk] >> (start % 64);
    if (rest != 0) return std::min(size, start + static_cast<size_t>(std::countr_zero(rest)));
    for (++chunk; chunk < chunks; ++chunk) {
      if (~words[chunk] != 0)
        return std::min(size, chunk * 64 + static_cast<size_t>(std::countr_zero(~words[chunk])));
    }
    return size;
  }
};

// The first two letters (lowercase) of the words the scan looks at: level words in text
// (trace, debug/dbg, info, warn, error/err, critical/crit, fatal) and level keys (level,
// lvl, severity): one bit of 26 x 26 each.
constexpr std::array<uint64_t, 11> kLevelPrefixes = [] {
  std::array<uint64_t, 11> bits{};
  for (std::string_view p : {"tr", "de", "db", "in", "wa", "er", "cr", "fa", "le", "lv", "se"}) {
    unsigned i = static_cast<unsigned>(p[0] - 'a') * 26 + static_cast<unsigned>(p[1] - 'a');
    bits[i / 64] |= uint64_t{1} << (i % 64);
  }
  return bits;
}();

// Whether the two letters at `p` (any case) begin a word the scan looks at.
bool HasLevelPrefix(const char* p) {
  unsigned a = static_cast<unsigned>((p[0] | 0x20) - 'a');
  unsigned b = static_cast<unsigned>((p[1] | 0x20) - 'a');
  if (a >= 26 || b >= 26) return false;
  unsigned i = a * 26 + b;
  return (kLevelPrefixes[i / 64] >> (i % 64)) & 1;
}

// The normalized level a word names ("" for none), in any ASCII case. In a line's text
// (`in_text`), only the words that name nothing else count: "alert" or "notice" there is
// more often a noun than a syslog severity.
std::string_view LevelOfWord(std::string_view word, bool in_text = false) {
  constexpr size_t kLongest = 13;  // "informational"
  if (word.size() < 3 || word.size() > kLongest) return {};
  std::array<char, kLongest> lower{};
  for (size_t i = 0; i < word.size(); ++i) lower[i] = static_cast<char>(word[i] | 0x20);
  std::string_view w(lower.data(), word.size());
  switch (w[0]) {
    case 't': return w == "trace" ? "trace" : "";
    case 'd': return w == "debug" || w == "dbg" ? "debug" : "";
    case 'i': return w == "info" || w == "information" || w == "informational" ? "info" : "";
    case 'n': return w == "notice" && !in_text ? "info" : "";
    case 'w': return w == "warn" || w == "warning" ? "warn" : "";
    case 'e':
      return w == "error" || w == "err" ? "error" : (w == "emerg" && !in_text ? "fatal" : "");
    case 'c': return w == "critical" || w == "crit" ? "critical" : "";
    case 'f': return w == "fatal" ? "fatal" : "";
    case 'p': return w == "panic" && !in_text ? "fatal" : "";
    case 'a': return w == "alert" && !in_text ? "critical" : "";
    default: return {};
  }
}

// A field name that holds a level: level, lvl, severity (any ASCII case), severity_text.
bool IsLevelKey(std::string_view name) {
  return EqualsIgnoreCase(name, "level") || EqualsIgnoreCase(name, "lvl") ||
         EqualsIgnoreCase(name, "severity") || name == "severity_text";
}

// The value after a key at `end` in `line`: `=value`, `="value"`, `":"value"` or `: value`.
std::string_view ValueAfterKey(std::string_view line, size_t end) {
  size_t i = end;
  if (i < line.size() && line[i] == '"') ++i;  // a JSON key's closing quote
  if (i >= line.size() || (line[i] != '=' && line[i] != ':')) return {};
  ++i;
  while (i < line.size() && line[i] == ' ') ++i;
  if (i < line.size() && line[i] == '"') ++i;
  size_t start = i;
  while (i < line.size() && IsLetter(line[i])) ++i;
  return line.substr(start, i - start);
}

}  // namespace

bool StreamNamesLevel(std::span<const model::LabelView> stream) {
  return std::ranges::any_of(stream, [](const model::LabelView& l) { return IsLevelKey(l.name); });
}

std::string_view DetectLevel(std::span<const colstore::Column> columns) {
  std::string_view line;
  for (const colstore::Column& c : columns) {
    if (c.value.type != colstore::Value::Type::kString) continue;
    if (c.name == kLineColumn) {
      line = c.value.s;
    } else if (c.name == kDetectedLevel) {
      return {};  // the sender set it
    } else if (IsLevelKey(c.name)) {
      if (std::string_view level = LevelOfWord(c.value.s); !level.empty()) return level;
    }
  }
  // One pass over the words of the line's start: a level key's value wins; else the first
  // level word. Bit masks of the letters and word characters (16 bytes per step) find
  // where words start; most are passed over on their first two letters.
  line = line.substr(0, kScanBytes);
  WordMasks masks(line);
  std::string_view first_word;
  for (size_t chunk = 0; chunk < masks.chunks; ++chunk) {
    uint64_t previous_letters =
        (masks.letters[chunk] << 1) | (chunk > 0 ? masks.letters[chunk - 1] >> 63 : 0);
    uint64_t starts = masks.letters[chunk] & ~previous_letters;
    while (starts != 0) {
      size_t start = chunk * 64 + static_cast<size_t>(std::countr_zero(starts));
      starts &= starts - 1;
      if (start + 1 >= line.size() || !HasLevelPrefix(line.data() + start)) continue;
      size_t end = masks.WordEnd(start);
      size_t length = end - start;
      if (length < 3 || length > 13) continue;
      std::string_view word = line.substr(start, length);
      if (IsLevelKey(word)) {
        std::string_view level = LevelOfWord(ValueAfterKey(line, end));
        if (!level.empty()) return level;
      } else if (first_word.empty()) {
        first_word = LevelOfWord(word, /*in_text=*/true);
      }
    }
  }
  return first_word;
}

}  // namespace pharos::logs
