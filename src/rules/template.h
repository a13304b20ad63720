// Internal to rules (also used by alerting for notification text): the subset of Go's
// text/template that Prometheus rule annotations and labels use.
//
// Supported: text with {{ actions }} and the {{- -}} trim markers; comments {{/* */}};
// pipelines with `|`; variables ($labels, $value, $externalLabels, $externalURL and
// {{ $x := pipeline }}); fields (.Labels.job, $labels.job, .Value); literals (strings in
// "" or ``, numbers, true, false); parenthesized pipelines; if / else if / else / end and
// with / else / end; functions humanize, humanize1024, humanizeDuration,
// humanizePercentage, humanizeTimestamp, printf, toUpper, toLower, title, reReplaceAll,
// match, stripPort, stripDomain, safeHtml, eq, ne, lt, le, gt, ge, and, or, not, len,
// index. Numbers print as Go prints a float64 ("1e+06", "0.5").
//
// Contract: Parse() checks the syntax and that every function exists, with an error that
// names the position; Execute() never throws and returns an error for type mismatches.
// Output is capped at 64 KiB per expansion.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/model.h"

namespace pharos::rules {

struct TemplateData {
  const model::Labels* labels = nullptr;
  double value = 0;
  const model::Labels* external_labels = nullptr;
  std::string external_url;
};

struct TemplateNode;

class Template {
 public:
  static Result<Template> Parse(std::string_view text);
  Result<std::string> Execute(const TemplateData& data) const;
  /// True when the text has no actions: Execute() would return it unchanged.
  bool is_plain() const { return plain_; }

 private:
  std::shared_ptr<const TemplateNode> root_;
  std::string text_;
  bool plain_ = true;
};

/// A float64 as Go's fmt prints it with %v ("1e+06", "123456", "0.001", "NaN", "+Inf").
std::string GoFloat(double v);
/// Prometheus's template functions, exposed for tests and the notification text.
std::string Humanize(double v);
std::string Humanize1024(double v);
std::string HumanizeDuration(double seconds);
std::string HumanizePercentage(double ratio);

}  // namespace pharos::rules
