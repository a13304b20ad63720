// common/regexp.h: expanding a regular expression's matches into a template, as Go's
// Regexp.ExpandString does. Used by relabeling and PromQL's label_replace, which both
// promise Prometheus's (that is, Go's) template syntax.
//
// Contract: pure function; `$1`, `${1}`, `$name`, `${name}` insert a capture group (empty
// when it did not take part or does not exist), `$$` is a dollar, anything else is copied.
#pragma once

#include <re2/re2.h>

#include <span>
#include <string>
#include <string_view>

namespace pharos {

std::string ExpandRegexTemplate(std::string_view tmpl, const re2::RE2& re,
                                std::span<const re2::StringPiece> groups);

}  // namespace pharos
