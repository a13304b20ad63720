// Label matchers, one type for PromQL selectors, Alertmanager routes, silences and
// inhibitions.
#include <re2/re2.h>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/model.h"

namespace pharos::model {

Matcher Matcher::Equal(std::string name, std::string value) {
  Matcher m;
  m.name_ = std::move(name);
  m.value_ = std::move(value);
  return m;
}

Result<Matcher> Matcher::Make(MatchType type, std::string name, std::string value,
                              RegexDialect dialect) {
  Matcher m;
  m.type_ = type;
  m.name_ = std::move(name);
  m.value_ = std::move(value);
  if (type == MatchType::kRegexMatch || type == MatchType::kRegexNoMatch) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_dot_nl(dialect == RegexDialect::kPrometheus);  // Prometheus compiles (?s)
    auto re = std::make_shared<RE2>("^(?:" + m.value_ + ")$", options);
    if (!re->ok()) {
      return InvalidArgument(
          fmt::format("invalid regular expression \"{}\": {}", m.value_, re->error()));
    }
    m.re_ = std::move(re);
  }
  return m;
}

bool Matcher::Matches(std::string_view value) const {
  switch (type_) {
    case MatchType::kEqual: return value == value_;
    case MatchType::kNotEqual: return value != value_;
    case MatchType::kRegexMatch:
      return RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re_);
    case MatchType::kRegexNoMatch:
      return !RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *re_);
  }
  return false;
}

bool Matcher::Matches(const Labels& labels) const { return Matches(LabelValue(labels, name_)); }

std::string_view MatchTypeText(MatchType type) {
  switch (type) {
    case MatchType::kEqual: return "=";
    case MatchType::kNotEqual: return "!=";
    case MatchType::kRegexMatch: return "=~";
    case MatchType::kRegexNoMatch: return "!~";
  }
  return "=";
}

std::string Matcher::ToString() const {
  return name_ + std::string(MatchTypeText(type_)) + JsonString(value_);
}

bool MatchesAll(std::span<const Matcher> matchers, const Labels& labels) {
  for (const Matcher& m : matchers) {
    if (!m.Matches(labels)) return false;
  }
  return true;
}

}  // namespace pharos::model
