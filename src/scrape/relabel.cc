#include <openssl/evp.h>
#include <re2/re2.h>

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/regexp.h"
#include "common/strings.h"
#include "scrape/scrape.h"

namespace pharos::scrape {
namespace {

const std::string* Find(const model::Labels& labels, std::string_view name) {
  for (const model::Label& l : labels) {
    if (l.name == name) return &l.value;
  }
  return nullptr;
}

void Set(model::Labels& labels, const std::string& name, std::string value) {
  auto it =
      std::lower_bound(labels.begin(), labels.end(), name,
                       [](const model::Label& l, const std::string& n) { return l.name < n; });
  if (it != labels.end() && it->name == name) {
    if (value.empty()) {
      labels.erase(it);
    } else {
      it->value = std::move(value);
    }
  } else if (!value.empty()) {
    labels.insert(it, model::Label{name, std::move(value)});
  }
}

bool MatchGroups(const re2::RE2& re, std::string_view value,
                 std::vector<re2::StringPiece>& groups) {
  groups.assign(static_cast<size_t>(re.NumberOfCapturingGroups()) + 1, re2::StringPiece());
  return re.Match(re2::StringPiece(value.data(), value.size()), 0, value.size(),
                  re2::RE2::ANCHOR_BOTH, groups.data(), static_cast<int>(groups.size()));
}

}  // namespace

Result<std::vector<CompiledRelabel>> CompileRelabel(const std::vector<config::RelabelConfig>& steps,
                                                    std::string_view what) {
  std::vector<CompiledRelabel> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    re2::RE2::Options options;
    options.set_log_errors(false);
    options.set_dot_nl(true);
    auto re = std::make_shared<re2::RE2>("^(?:" + steps[i].regex + ")$", options);
    if (!re->ok()) {
      return InvalidArgument(fmt::format("{}[{}].regex: invalid regular expression \"{}\": {}",
                                         what, i, steps[i].regex, re->error()));
    }
    out.push_back(CompiledRelabel{steps[i], std::move(re)});
  }
  return out;
}

bool Relabel(const std::vector<CompiledRelabel>& steps, model::Labels& labels) {
  std::vector<re2::StringPiece> groups;
  std::string value;
  for (const CompiledRelabel& step : steps) {
    const config::RelabelConfig& c = step.config;
    const re2::RE2& re = *step.regex;
    value.clear();
    for (size_t i = 0; i < c.source_labels.size(); ++i) {
      if (i) value += c.separator;
      if (const std::string* v = Find(labels, c.source_labels[i])) value += *v;
    }
    const std::string& action = c.action;
    if (action == "keep") {
      if (!MatchGroups(re, value, groups)) return false;
    } else if (action == "drop") {
      if (MatchGroups(re, value, groups)) return false;
    } else if (action == "replace") {
      if (!MatchGroups(re, value, groups)) continue;
      std::string target = ExpandRegexTemplate(c.target_label, re, groups);
      if (!IsValidLabelName(target)) continue;
      Set(labels, target, ExpandRegexTemplate(c.replacement, re, groups));
    } else if (action == "lowercase" || action == "uppercase") {
      std::string v = value;
      for (char& ch : v) {
        ch =
            static_cast<char>(action == "lowercase" ? std::tolower(static_cast<unsigned char>(ch))
                                                    : std::toupper(static_cast<unsigned char>(ch)));
      }
      Set(labels, c.target_label, std::move(v));
    } else if (action == "hashmod") {
      unsigned char digest[EVP_MAX_MD_SIZE];
      unsigned int length = 0;
      EVP_Digest(value.data(), value.size(), digest, &length, EVP_md5(), nullptr);
      uint64_t h = 0;
      for (int i = 8; i < 16; ++i) h = (h << 8) | digest[i];  // the low 8 bytes, as Prometheus
      Set(labels, c.target_label, std::to_string(h % c.modulus));
    } else if (action == "labeldrop" || action == "labelkeep") {
      bool keep_matching = action == "labelkeep";
      labels.erase(std::remove_if(labels.begin(), labels.end(),
                                  [&](const model::Label& l) {
                                    bool m = MatchGroups(re, l.name, groups);
                                    return keep_matching ? !m : m;
                                  }),
                   labels.end());
    } else if (action == "labelmap") {
      model::Labels snapshot = labels;
      for (const model::Label& l : snapshot) {
        if (!MatchGroups(re, l.name, groups)) continue;
        std::string name = ExpandRegexTemplate(c.replacement, re, groups);
        if (IsValidLabelName(name)) Set(labels, name, l.value);
      }
    }
  }
  return true;
}

}  // namespace pharos::scrape
