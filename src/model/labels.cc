// Label sets: printing, JSON, ordering and fingerprints.
#include <algorithm>

#include <fmt/format.h>

#include "common/strings.h"
#include "model/model.h"

namespace pharos::model {

namespace {

template <typename L>
std::string Format(const L& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& l : labels) {
    if (!first) out += ", ";
    first = false;
    out.append(l.name);
    out += '=';
    AppendJsonString(out, l.value);
  }
  out += '}';
  return out;
}

}  // namespace

std::string FormatLabels(std::span<const LabelView> labels) { return Format(labels); }
std::string FormatLabels(const Labels& labels) { return Format(labels); }

namespace {

template <typename L>
std::string FormatBounded(const L& labels, size_t max_bytes) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (out.size() >= max_bytes) {
      out += fmt::format("... {} more labels", labels.size() - i);
      break;
    }
    if (i) out += ", ";
    out.append(std::string_view(labels[i].name).substr(0, max_bytes));
    out += '=';
    bool cut = labels[i].value.size() > max_bytes;
    AppendJsonString(out, TruncateUtf8(labels[i].value, max_bytes));
    if (cut) out += fmt::format("... ({} bytes)", labels[i].value.size());
  }
  out += '}';
  return out;
}

}  // namespace

std::string FormatLabelsBounded(std::span<const LabelView> labels, size_t max_bytes) {
  return FormatBounded(labels, max_bytes);
}
std::string FormatLabelsBounded(const Labels& labels, size_t max_bytes) {
  return FormatBounded(labels, max_bytes);
}

std::string_view LabelValue(const Labels& labels, std::string_view name) {
  for (const Label& l : labels) {
    if (l.name == name) return l.value;
  }
  return {};
}

void SortLabels(Labels& labels) {
  std::sort(labels.begin(), labels.end(),
            [](const Label& a, const Label& b) { return a.name < b.name; });
}

bool LabelsLess(const Labels& a, const Labels& b) {
  return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(), [](const Label& x, const Label& y) {
        return x.name != y.name ? x.name < y.name : x.value < y.value;
      });
}

void AppendLabelsJson(std::string& out, const Labels& labels) {
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ',';
    AppendJsonString(out, labels[i].name);
    out += ':';
    AppendJsonString(out, labels[i].value);
  }
  out += '}';
}

std::string LabelsJson(const Labels& labels) {
  std::string out;
  AppendLabelsJson(out, labels);
  return out;
}

std::string Fingerprint(const Labels& labels) {
  uint64_t h = 14695981039346656037ULL;
  auto add = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= 0xff;
    h *= 1099511628211ULL;
  };
  for (const Label& l : labels) {
    add(l.name);
    add(l.value);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[h & 0xf];
    h >>= 4;
  }
  return out;
}

}  // namespace pharos::model
