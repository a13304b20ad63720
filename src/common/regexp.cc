#include "common/regexp.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace pharos {

std::string ExpandRegexTemplate(std::string_view tmpl, const re2::RE2& re,
                                std::span<const re2::StringPiece> groups) {
  std::string out;
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$' || i + 1 >= tmpl.size()) {
      out += tmpl[i];
      continue;
    }
    if (tmpl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    std::string name;
    size_t j = i + 1;
    if (tmpl[j] == '{') {
      size_t close = tmpl.find('}', j);
      if (close == std::string_view::npos) {
        out += tmpl[i];
        continue;
      }
      name = std::string(tmpl.substr(j + 1, close - j - 1));
      j = close + 1;
    } else {
      while (j < tmpl.size() &&
             (std::isalnum(static_cast<unsigned char>(tmpl[j])) || tmpl[j] == '_')) {
        name += tmpl[j++];
      }
    }
    if (name.empty()) {
      out += tmpl[i];
      continue;
    }
    int index = -1;
    if (std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      index = name.size() < 6 ? std::stoi(name) : -1;
    } else {
      auto it = re.NamedCapturingGroups().find(name);
      if (it != re.NamedCapturingGroups().end()) index = it->second;
    }
    if (index >= 0 && static_cast<size_t>(index) < groups.size() && groups[index].data()) {
      out.append(groups[index].data(), groups[index].size());
    }
    i = j - 1;
  }
  return out;
}

}  // namespace pharos
