// logql/pipeline.h (internal): the stages of a log pipeline and the label set they work on.
//
// A line enters with its stream's labels and its structured metadata; each stage may drop
// it, rewrite it, or add, change and remove labels. Names resolve as Loki 3 resolves them:
// the plain name goes to the first of stream > structured metadata > parsed field, and a
// value that loses it is kept as `<name>_extracted`, where the order is reversed (parsed >
// metadata > stream). A stage that fails sets `__error__` (and `__error_details__`, the
// first failure's text) instead of dropping the line.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "logql/ast.h"
#include "logql/logql.h"
#include "model/model.h"

namespace pharos::logql {

inline constexpr std::string_view kErrorLabel = "__error__";
inline constexpr std::string_view kErrorDetailsLabel = "__error_details__";

enum class LabelSource : uint8_t { kStream, kMetadata, kParsed };

class LabelsBuilder {
 public:
  void Reset(const model::Labels& stream, std::span<const model::Label> metadata);

  /// The current value of `name` (also `__error__` and `__error_details__`); null if absent.
  const std::string* Get(std::string_view name) const;
  /// Sets `name` whatever its source (label_format).
  void Set(std::string_view name, std::string_view value);
  /// Adds a field a parser extracted, under the clash rules above.
  void SetParsed(std::string_view name, std::string_view value);
  void Delete(std::string_view name);
  /// Keeps only the labels `keep` says yes to (error labels included).
  template <typename Fn>
  void Retain(Fn keep) {
    std::erase_if(labels_, [&](const Entry& e) { return !keep(e.name, e.value); });
    if (!err_.empty() && !keep(std::string(kErrorLabel), err_)) err_.clear();
    if (!details_.empty() && !keep(std::string(kErrorDetailsLabel), details_)) details_.clear();
  }

  bool HasErr() const { return !err_.empty(); }
  const std::string& err() const { return err_; }
  /// Sets the error unless one is set; the first details win.
  void SetErr(std::string_view err, std::string_view details);

  /// The label set now, sorted, with the error labels when set.
  model::Labels Build() const;
  /// The same split by source; the error labels count as parsed.
  void BuildCategorized(model::Labels& stream, model::Labels& metadata,
                        model::Labels& parsed) const;
  /// Every current label (not the error labels), for templates.
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (const Entry& e : labels_) fn(e.name, e.value);
  }

 private:
  struct Entry {
    std::string name;
    std::string value;
    LabelSource source;
  };
  Entry* Find(std::string_view name);
  const Entry* Find(std::string_view name) const;

  std::vector<Entry> labels_;
  std::string err_;
  std::string details_;
};

/// The line a stage sees: a view of the stored line until a stage rewrites it.
struct Line {
  std::string_view view;
  std::string owned;
  void Set(std::string text) {
    owned = std::move(text);
    view = owned;
  }
};

class Stage {
 public:
  virtual ~Stage() = default;
  /// Processes one line; false drops it.
  virtual bool Process(int64_t ts_ns, Line& line, LabelsBuilder& labels) const = 0;
  /// Stages before the first parser or formatter can run on the raw line alone.
  virtual bool IsLineFilter() const { return false; }
};

// ---- line filters ----

enum class LineMatch { kContains, kRegex, kPattern, kIp };

/// One operand of a line filter: `"text"`, a regex, a pattern or `ip("...")`.
struct LineMatcher {
  LineMatch kind = LineMatch::kContains;
  std::string text;
  std::shared_ptr<const re2::RE2> re;
  std::shared_ptr<const class Pattern> pattern;
  std::shared_ptr<const class IpRange> ip;
  bool Matches(std::string_view line) const;
};

/// `|= "a" or "b"` keeps a line matching any operand; `!= "a" or "b"` one matching none.
StagePtr MakeLineFilter(bool negate, std::vector<LineMatcher> operands);

// ---- label filters ----

enum class Compare { kEq, kNeq, kGt, kGte, kLt, kLte };

StagePtr MakeStringLabelFilter(model::Matcher matcher);
StagePtr MakeNumericLabelFilter(std::string name, Compare op, double value);
StagePtr MakeDurationLabelFilter(std::string name, Compare op, double seconds);
StagePtr MakeBytesLabelFilter(std::string name, Compare op, double bytes);
StagePtr MakeIpLabelFilter(std::string name, bool negate, std::shared_ptr<const IpRange> ip);
/// `or` skips the right operand when the left keeps the line; `and` runs both.
StagePtr MakeBinaryLabelFilter(bool is_and, StagePtr lhs, StagePtr rhs);

// ---- parsers ----

StagePtr MakeJsonParser();
/// `json a="x.y", b="z[0]"`; `paths` are checked by ParseJsonPath.
struct JsonExtraction {
  std::string label;
  std::vector<std::string> path;  // a field name, or "[N]" for an array element
};
Result<std::vector<std::string>> ParseJsonPath(std::string_view expression);
StagePtr MakeJsonExtractor(std::vector<JsonExtraction> extractions);
StagePtr MakeLogfmtParser(bool strict, bool keep_empty);
struct LogfmtExtraction {
  std::string label;
  std::string key;
};
StagePtr MakeLogfmtExtractor(std::vector<LogfmtExtraction> extractions, bool strict,
                             bool keep_empty);
Result<StagePtr> MakeRegexpParser(std::string_view regex);
Result<StagePtr> MakePatternParser(std::string_view pattern);
StagePtr MakeUnpackParser();

// ---- formatters ----

Result<StagePtr> MakeLineFormat(std::string_view tmpl);
struct LabelFormat {
  std::string dst;
  std::string src;   // rename: dst=src
  std::string tmpl;  // template: dst="{{...}}"
  bool is_template = false;
};
Result<StagePtr> MakeLabelFormat(std::vector<LabelFormat> formats);
StagePtr MakeDecolorize();
/// `drop a, b="v"` / `keep a, b="v"`; a matcher with a value applies only where it matches.
struct NameMatcher {
  std::string name;
  std::optional<model::Matcher> matcher;
};
StagePtr MakeDrop(std::vector<NameMatcher> names);
StagePtr MakeKeep(std::vector<NameMatcher> names);

// ---- patterns and IP ranges ----

/// Loki's pattern: literals and <name> / <_> captures, no two captures side by side.
class Pattern {
 public:
  /// `allow_named` false for line filters (|> and !>).
  static Result<Pattern> Parse(std::string_view text, bool allow_named);
  /// The named captures of a matching line, in order; false when it does not match.
  bool Extract(std::string_view line, std::vector<std::string_view>& captures) const;
  /// Whole-line match (line filters).
  bool Test(std::string_view line) const;
  const std::vector<std::string>& names() const { return names_; }

 private:
  struct Node {
    bool capture = false;
    bool named = false;
    std::string text;  // literal text or capture name
  };
  std::vector<Node> nodes_;
  std::vector<std::string> names_;
};

/// ip("192.168.0.0/16"), ip("10.0.0.1-10.0.0.9"), ip("::1").
class IpRange {
 public:
  static Result<IpRange> Parse(std::string_view text);
  bool Contains(std::string_view address) const;
  /// True when any address in `text` lies in the range.
  bool MatchesWithin(std::string_view text) const;

 private:
  bool v6_ = false;
  unsigned char lo_[16] = {};
  unsigned char hi_[16] = {};
};

}  // namespace pharos::logql
