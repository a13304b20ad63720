// logql/template.h (internal): the Go text/template subset that line_format and
// label_format run, with Loki's template functions.
//
// Supported: text; actions `{{ pipeline }}` with `{{-` / `-}}` trimming and comments;
// `if` / `else if` / `else` / `end`; pipelines of commands joined by `|` (the value of
// each feeds the next as its last argument); operands `.label`, `.`, string, raw string,
// number and bool literals, `(pipeline)`. A missing label is "". Functions are Loki's
// documented set (see template.cc). Parse errors carry Go's text ("function \"x\" not
// defined", "unclosed action"); execution errors are values, which the stages turn into
// `__error__="TemplateFormatErr"`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "logql/pipeline.h"

namespace pharos::logql {

struct TemplateNode;

class Template {
 public:
  static Result<Template> Parse(std::string_view text);
  Result<std::string> Execute(const LabelsBuilder& labels, std::string_view line,
                              int64_t ts_ns) const;
  /// True when the template reads the line (__line__): such stages must see the line.
  bool uses_line() const { return uses_line_; }

 private:
  std::shared_ptr<const TemplateNode> root_;
  bool uses_line_ = false;
};

}  // namespace pharos::logql
