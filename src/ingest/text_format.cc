// Prometheus text format 0.0.4 and OpenMetrics 1.0 text parsing. The OpenMetrics checks
// follow the 1.0 specification as its parser suite exercises it
// (../shared/testdata/prometheus/openmetrics-parsers).
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include <fmt/format.h>

#include "ingest/ingest.h"

namespace pharos::ingest {
namespace {

bool IsMetricNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         (!first && c >= '0' && c <= '9');
}
bool IsLabelNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A decimal float: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?
bool IsDecimalFloat(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t int_digits = 0, frac_digits = 0;
  while (i < s.size() && IsDigit(s[i])) ++i, ++int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) ++i, ++frac_digits;
  }
  if (int_digits + frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  return i == s.size();
}

bool ParseFloat(std::string_view s, bool strict, double& out) {
  if (s == "+Inf" || s == "Inf" || (!strict && (s == "+inf" || s == "inf"))) {
    out = INFINITY;
    return true;
  }
  if (s == "-Inf" || (!strict && s == "-inf")) {
    out = -INFINITY;
    return true;
  }
  if (s == "NaN" || (!strict && (s == "nan" || s == "NAN"))) {
    out = NAN;
    return true;
  }
  if (!IsDecimalFloat(s)) return false;
  std::string copy(s);
  out = std::strtod(copy.c_str(), nullptr);
  return true;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string_view TypeName(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
    case MetricType::kGaugeHistogram: return "gaugehistogram";
    case MetricType::kSummary: return "summary";
    case MetricType::kInfo: return "info";
    case MetricType::kStateSet: return "stateset";
    case MetricType::kUnknown: return "unknown";
  }
  return "unknown";
}

std::vector<std::string_view> Suffixes(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return {"_total", "_created"};
    case MetricType::kHistogram: return {"_bucket", "_count", "_sum", "_created"};
    case MetricType::kGaugeHistogram: return {"_bucket", "_gcount", "_gsum"};
    case MetricType::kSummary: return {"", "_count", "_sum", "_created"};
    case MetricType::kInfo: return {"_info"};
    default: return {""};
  }
}

struct ParsedLabel {
  std::string_view name;
  std::string_view value;
};

// One histogram/gaugehistogram metric (label set without le) while it is being read.
struct HistogramState {
  std::vector<std::pair<double, double>> buckets;  // (le, count) in input order
  bool has_count = false, has_sum = false;
  double count = 0, sum = 0;
};

class Parser {
 public:
  Parser(std::string_view text, TextFormat format, int64_t default_ts, TextBatch& out, bool strict)
      : text_(text),
        om_(format == TextFormat::kOpenMetrics),
        strict_(om_ && strict),
        default_ts_(default_ts),
        out_(out) {}

  Status Parse() {
    std::string_view rest = text_;
    bool saw_eof = false;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      ++line_no_;
      if (saw_eof) return Error("text after # EOF");
      if (om_ && line == "# EOF") {
        saw_eof = true;
        continue;
      }
      PHAROS_RETURN_IF_ERROR(ParseLine(line));
    }
    if (om_ && !saw_eof) return InvalidArgument("OpenMetrics exposition must end with # EOF");
    if (strict_) PHAROS_RETURN_IF_ERROR(EndFamily());
    out_.batch.Seal();
    return Status::Ok();
  }

 private:
  template <typename... Args>
  Status Error(fmt::format_string<Args...> f, Args&&... args) {
    return InvalidArgument(
        fmt::format("line {}: {}", line_no_, fmt::format(f, std::forward<Args>(args)...)));
  }

  Status ParseLine(std::string_view line) {
    if (!om_) {
      size_t i = 0;
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
      line.remove_prefix(i);
      while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
        line.remove_suffix(1);
      }
      if (line.empty()) return Status::Ok();
    }
    if (line.empty()) return Error("blank lines are not allowed in OpenMetrics");
    if (line[0] == '#') return ParseComment(line);
    return ParseSample(line);
  }

  // ---- metadata ----

  Status ParseComment(std::string_view line) {
    std::string_view kind;
    for (std::string_view k : {"# HELP ", "# TYPE ", "# UNIT "}) {
      if (line.substr(0, k.size()) == k) kind = k;
    }
    if (kind.empty() || (!om_ && kind == "# UNIT ")) {
      if (om_) return Error("unexpected comment; OpenMetrics allows only HELP, TYPE, UNIT and EOF");
      return Status::Ok();  // a plain comment in the Prometheus format
    }
    std::string_view rest = line.substr(kind.size());
    size_t n = 0;
    while (n < rest.size() && IsMetricNameChar(rest[n], n == 0)) ++n;
    std::string_view name = rest.substr(0, n);
    if (name.empty()) return Error("missing metric name in {}", kind.substr(2, 4));
    rest.remove_prefix(n);
    if (rest.empty() || rest[0] != ' ') {
      if (!om_ && kind == "# HELP " && rest.empty())
        rest = " ";
      else
        return Error("expected a space after the metric name in {}", kind.substr(2, 4));
    }
    rest.remove_prefix(1);
    if (!om_) {
      while (!rest.empty() && rest[0] == ' ') rest.remove_prefix(1);
    }
    PHAROS_RETURN_IF_ERROR(EnterFamilyForMetadata(name));
    FamilyMetadata& meta = out_.families.back();
    if (kind == "# HELP ") {
      if (help_seen_) return Error("repeated HELP for {}", name);
      help_seen_ = true;
      meta.help = UnescapeHelp(rest);
    } else if (kind == "# TYPE ") {
      if (type_seen_) return Error("repeated TYPE for {}", name);
      type_seen_ = true;
      MetricType type;
      if (!ParseType(rest, type)) return Error("unknown metric type \"{}\"", rest);
      meta.type = type;
      PHAROS_RETURN_IF_ERROR(CheckNewFamilyNames(meta));
      if (om_ && !meta.unit.empty() &&
          (type == MetricType::kInfo || type == MetricType::kStateSet)) {
        return Error("{} metrics cannot have a unit", TypeName(type));
      }
    } else {
      if (unit_seen_) return Error("repeated UNIT for {}", name);
      unit_seen_ = true;
      for (char c : rest) {
        if (!IsMetricNameChar(c, false)) return Error("invalid character in unit \"{}\"", rest);
      }
      if (!rest.empty()) {
        std::string suffix = "_" + std::string(rest);
        if (name.size() <= suffix.size() || name.substr(name.size() - suffix.size()) != suffix) {
          return Error("metric name {} must end with the unit suffix {}", name, suffix);
        }
        if (meta.type == MetricType::kInfo || meta.type == MetricType::kStateSet) {
          return Error("{} metrics cannot have a unit", TypeName(meta.type));
        }
      }
      meta.unit = std::string(rest);
    }
    return Status::Ok();
  }

  bool ParseType(std::string_view s, MetricType& t) {
    static const std::pair<std::string_view, MetricType> kTypes[] = {
        {"counter", MetricType::kCounter},     {"gauge", MetricType::kGauge},
        {"histogram", MetricType::kHistogram}, {"gaugehistogram", MetricType::kGaugeHistogram},
        {"summary", MetricType::kSummary},     {"info", MetricType::kInfo},
        {"stateset", MetricType::kStateSet},   {"unknown", MetricType::kUnknown},
    };
    if (!om_ && s == "untyped") {
      t = MetricType::kUnknown;
      return true;
    }
    for (const auto& [name, type] : kTypes) {
      if (s == name) {
        t = type;
        return true;
      }
    }
    return false;
  }

  static std::string UnescapeHelp(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        if (s[i + 1] == 'n') {
          out += '\n';
          ++i;
          continue;
        }
        if (s[i + 1] == '\\') {
          out += '\\';
          ++i;
          continue;
        }
      }
      out += s[i];
    }
    return out;
  }

  // Metadata for `name` either continues the current family (before any of its samples)
  // or starts a new one.
  Status EnterFamilyForMetadata(std::string_view name) {
    if (in_family_ && family_name_ == name && !family_has_samples_) return Status::Ok();
    return StartFamily(name);
  }

  Status StartFamily(std::string_view name) {
    if (strict_) PHAROS_RETURN_IF_ERROR(EndFamily());
    std::string n(name);
    if (strict_ && (seen_families_.count(n) || reserved_.count(n))) {
      return Error("metric family {} appears twice or clashes with another family's samples", name);
    }
    in_family_ = true;
    family_name_ = n;
    family_has_samples_ = false;
    help_seen_ = type_seen_ = unit_seen_ = false;
    out_.families.push_back(FamilyMetadata{n, MetricType::kUnknown, "", ""});
    return Status::Ok();
  }

  Status CheckNewFamilyNames(const FamilyMetadata& meta) {
    if (!strict_) return Status::Ok();
    for (std::string_view suffix : Suffixes(meta.type)) {
      std::string sample = meta.name + std::string(suffix);
      if (!suffix.empty() && seen_families_.count(sample)) {
        return Error("samples of {} would clash with metric family {}", meta.name, sample);
      }
    }
    return Status::Ok();
  }

  Status EndFamily() {
    if (!in_family_) return Status::Ok();
    PHAROS_RETURN_IF_ERROR(EndMetric());
    const FamilyMetadata& meta = out_.families.back();
    seen_families_.insert(meta.name);
    for (std::string_view suffix : Suffixes(meta.type))
      reserved_.insert(meta.name + std::string(suffix));
    in_family_ = false;
    finished_metrics_.clear();
    series_ts_.clear();
    return Status::Ok();
  }

  // ---- samples ----

  Status ParseSample(std::string_view line) {
    size_t pos = 0;
    while (pos < line.size() && IsMetricNameChar(line[pos], pos == 0)) ++pos;
    std::string_view name = line.substr(0, pos);
    if (name.empty()) return Error("invalid metric name");
    labels_.clear();
    if (pos < line.size() && line[pos] == '{') {
      PHAROS_RETURN_IF_ERROR(ParseLabels(line, pos, labels_, /*exemplar=*/false));
    }
    // value
    std::string_view value_text, ts_text;
    PHAROS_RETURN_IF_ERROR(NextToken(line, pos, value_text, "value"));
    double value;
    if (!ParseFloat(value_text, om_, value)) return Error("invalid value \"{}\"", value_text);
    bool has_exemplar = false;
    if (pos < line.size()) {
      if (om_ && line.substr(pos, 3) == " # ") {
        has_exemplar = true;
      } else {
        PHAROS_RETURN_IF_ERROR(NextToken(line, pos, ts_text, "timestamp"));
        if (pos < line.size()) {
          if (om_ && line.substr(pos, 3) == " # ") {
            has_exemplar = true;
          } else if (om_) {
            return Error("unexpected text after the timestamp");
          } else {
            return Error("unexpected text after the timestamp");
          }
        }
      }
    }
    std::optional<int64_t> ts;
    if (!ts_text.empty()) {
      int64_t t = 0;
      PHAROS_RETURN_IF_ERROR(ParseTimestamp(ts_text, t));
      ts = t;
    }
    if (has_exemplar) {
      pos += 3;
      PHAROS_RETURN_IF_ERROR(ParseExemplar(line, pos));
      ++out_.exemplars;
    }
    if (strict_) PHAROS_RETURN_IF_ERROR(CheckOpenMetricsSample(name, value, ts, has_exemplar));
    Emit(name, value, ts.value_or(default_ts_));
    return Status::Ok();
  }

  // Reads " token" (OpenMetrics: exactly one space; Prometheus: any blanks).
  Status NextToken(std::string_view line, size_t& pos, std::string_view& token, const char* what) {
    if (pos >= line.size() || (line[pos] != ' ' && (om_ || line[pos] != '\t'))) {
      return Error("expected a space before the {}", what);
    }
    ++pos;
    if (!om_) {
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
    }
    size_t start = pos;
    while (pos < line.size() && line[pos] != ' ' && (om_ || line[pos] != '\t')) ++pos;
    token = line.substr(start, pos - start);
    if (token.empty()) return Error("missing {}", what);
    if (!om_) {
      size_t save = pos;
      while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      if (pos < line.size()) pos = save;
    }
    return Status::Ok();
  }

  Status ParseTimestamp(std::string_view text, int64_t& out) {
    if (om_) {
      if (!IsDecimalFloat(text)) return Error("invalid timestamp \"{}\"", text);
      double seconds = std::strtod(std::string(text).c_str(), nullptr);
      double ms = seconds * 1000;
      // Out-of-range timestamps saturate rather than overflow.
      out = ms >= 9.2e18    ? INT64_MAX
            : ms <= -9.2e18 ? INT64_MIN
                            : static_cast<int64_t>(std::llround(ms));
      return Status::Ok();
    }
    size_t i = text[0] == '-' ? 1 : 0;
    if (i == text.size() || text.size() > 19 + i) return Error("invalid timestamp \"{}\"", text);
    for (size_t k = i; k < text.size(); ++k) {
      if (!IsDigit(text[k])) return Error("invalid timestamp \"{}\"", text);
    }
    out = std::strtoll(std::string(text).c_str(), nullptr, 10);
    return Status::Ok();
  }

  Status ParseLabels(std::string_view line, size_t& pos, std::vector<ParsedLabel>& out,
                     bool exemplar) {
    ++pos;  // '{'
    bool first = true;
    while (true) {
      if (!om_) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      }
      if (pos < line.size() && line[pos] == '}') {
        if (!first && om_ && line[pos - 1] == ',') return Error("trailing comma in labels");
        ++pos;
        return Status::Ok();
      }
      size_t start = pos;
      while (pos < line.size() && IsLabelNameChar(line[pos], pos == start)) ++pos;
      std::string_view name = line.substr(start, pos - start);
      if (name.empty()) return Error("invalid label name");
      if (!om_) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      }
      if (pos >= line.size() || line[pos] != '=')
        return Error("expected = after label name {}", name);
      ++pos;
      if (!om_) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      }
      if (pos >= line.size() || line[pos] != '"')
        return Error("label value of {} must be double-quoted", name);
      ++pos;
      size_t vstart = pos;
      bool escaped = false;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          escaped = true;
          ++pos;
        }
        ++pos;
      }
      if (pos >= line.size()) return Error("unterminated label value of {}", name);
      std::string_view raw = line.substr(vstart, pos - vstart);
      ++pos;
      std::string_view value = raw;
      if (escaped) {
        auto stored = std::make_unique<std::string>();
        for (size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == '\\' && i + 1 < raw.size()) {
            char e = raw[++i];
            if (e == 'n')
              *stored += '\n';
            else if (e == '\\' || e == '"')
              *stored += e;
            else {
              *stored += '\\';
              *stored += e;
            }
          } else {
            *stored += raw[i];
          }
        }
        value = *stored;
        out_.storage.push_back(std::move(stored));
      }
      for (const ParsedLabel& l : out) {
        if (l.name == name) return Error("duplicate label name {}", name);
      }
      out.push_back({name, value});
      first = false;
      if (!om_) {
        while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
      }
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
        if (om_ && pos < line.size() && line[pos] == '}') return Error("trailing comma in labels");
        continue;
      }
      if (pos < line.size() && line[pos] == '}') {
        ++pos;
        return Status::Ok();
      }
      return Error("expected , or }} after label {}", name);
    }
  }

  Status ParseExemplar(std::string_view line, size_t& pos) {
    if (pos >= line.size() || line[pos] != '{')
      return Error("exemplar must start with a label set");
    exemplar_labels_.clear();
    PHAROS_RETURN_IF_ERROR(ParseLabels(line, pos, exemplar_labels_, true));
    size_t length = 0;
    for (const ParsedLabel& l : exemplar_labels_)
      length += CodePoints(l.name) + CodePoints(l.value);
    if (length > 128) return Error("exemplar labels exceed 128 characters");
    std::string_view value_text, ts_text;
    PHAROS_RETURN_IF_ERROR(NextToken(line, pos, value_text, "exemplar value"));
    double v;
    if (!ParseFloat(value_text, true, v)) return Error("invalid exemplar value \"{}\"", value_text);
    if (pos < line.size()) {
      PHAROS_RETURN_IF_ERROR(NextToken(line, pos, ts_text, "exemplar timestamp"));
      if (!IsDecimalFloat(ts_text)) return Error("invalid exemplar timestamp \"{}\"", ts_text);
      if (pos < line.size()) return Error("unexpected text after the exemplar");
    }
    return Status::Ok();
  }

  // ---- OpenMetrics semantics ----

  Status CheckOpenMetricsSample(std::string_view name, double value, std::optional<int64_t> ts,
                                bool has_exemplar) {
    std::string_view suffix;
    bool belongs = false;
    if (in_family_) {
      const FamilyMetadata& meta = out_.families.back();
      for (std::string_view s : Suffixes(meta.type)) {
        if (name.size() == meta.name.size() + s.size() &&
            name.substr(0, meta.name.size()) == meta.name && name.substr(meta.name.size()) == s) {
          belongs = true;
          suffix = s;
        }
      }
    }
    if (!belongs) {
      PHAROS_RETURN_IF_ERROR(StartFamily(name));
      suffix = "";
    }
    family_has_samples_ = true;
    const FamilyMetadata& meta = out_.families.back();
    MetricType type = meta.type;
    auto label = [&](std::string_view n) -> const ParsedLabel* {
      for (const ParsedLabel& l : labels_) {
        if (l.name == n) return &l;
      }
      return nullptr;
    };
    // The metric's identity, without the labels that enumerate its parts.
    std::string key;
    for (const ParsedLabel& l : labels_) {
      bool part = ((type == MetricType::kHistogram || type == MetricType::kGaugeHistogram) &&
                   l.name == "le") ||
                  (type == MetricType::kSummary && l.name == "quantile") ||
                  (type == MetricType::kStateSet && l.name == meta.name);
      if (part) continue;
      key += l.name;
      key += '\x01';
      key += l.value;
      key += '\x02';
    }
    if (!metric_open_ || key != metric_key_) {
      PHAROS_RETURN_IF_ERROR(EndMetric());
      if (finished_metrics_.count(key))
        return Error("samples of one metric of {} are not grouped together", meta.name);
      metric_key_ = key;
      metric_open_ = true;
      histogram_ = HistogramState{};
    }
    // Timestamps within a series never go back, and are given for all samples or none.
    std::string series = std::string(name) + '\x03' + key;
    if (const ParsedLabel* le = label("le")) series += std::string(le->value);
    if (const ParsedLabel* q = label("quantile")) series += std::string(q->value);
    auto [it, inserted] = series_ts_.try_emplace(series, ts);
    if (!inserted) {
      if (it->second.has_value() != ts.has_value())
        return Error("timestamps given for some samples of a series but not others");
      if (ts && *ts < *it->second) return Error("timestamps of a series must not go backwards");
      it->second = ts;
    }
    bool exemplar_ok = false;
    switch (type) {
      case MetricType::kCounter:
        if (suffix == "_total") {
          if (std::isnan(value) || value < 0)
            return Error("counter {} must be a non-negative number", name);
          exemplar_ok = true;
        }
        break;
      case MetricType::kHistogram:
      case MetricType::kGaugeHistogram: {
        bool gauge = type == MetricType::kGaugeHistogram;
        if (suffix == "_bucket") {
          const ParsedLabel* le = label("le");
          double bound;
          if (!le || !ParseFloat(le->value, true, bound) || std::isnan(bound)) {
            return Error("bucket of {} needs a numeric le label", meta.name);
          }
          if (std::isnan(value) || value < 0)
            return Error("bucket counts must be non-negative numbers");
          histogram_.buckets.push_back({bound, value});
          exemplar_ok = true;
        } else if (suffix == "_count" || suffix == "_gcount") {
          if (std::isnan(value) || value < 0)
            return Error("{} must be a non-negative number", name);
          histogram_.has_count = true;
          histogram_.count = value;
        } else if (suffix == "_sum" || suffix == "_gsum") {
          if (std::isnan(value)) return Error("{} must not be NaN", name);
          if (!gauge && value < 0) {
            // Allowed only with negative buckets, which in turn forbid a _sum: never valid.
            return Error("{} must not be negative", name);
          }
          histogram_.has_sum = true;
          histogram_.sum = value;
        }
        break;
      }
      case MetricType::kSummary:
        if (suffix.empty()) {
          const ParsedLabel* q = label("quantile");
          double quantile;
          if (!q || !ParseFloat(q->value, true, quantile) || std::isnan(quantile) || quantile < 0 ||
              quantile > 1) {
            return Error("summary quantiles need a quantile label between 0 and 1");
          }
          if (value < 0) return Error("summary quantile values must not be negative");
        } else if (suffix == "_count" || suffix == "_sum") {
          if (std::isnan(value) || value < 0)
            return Error("{} must be a non-negative number", name);
        }
        break;
      case MetricType::kInfo:
        if (value != 1) return Error("info metric values must be 1");
        break;
      case MetricType::kStateSet:
        if (!label(meta.name)) return Error("stateset samples need a label named {}", meta.name);
        if (value != 0 && value != 1) return Error("stateset values must be 0 or 1");
        break;
      default: break;
    }
    if (has_exemplar && !exemplar_ok) return Error("exemplars are not allowed on {}", name);
    return Status::Ok();
  }

  Status EndMetric() {
    if (!metric_open_) return Status::Ok();
    metric_open_ = false;
    finished_metrics_.insert(metric_key_);
    const FamilyMetadata& meta = out_.families.back();
    if (meta.type != MetricType::kHistogram && meta.type != MetricType::kGaugeHistogram) {
      return Status::Ok();
    }
    const HistogramState& h = histogram_;
    bool gauge = meta.type == MetricType::kGaugeHistogram;
    if (h.buckets.empty() && !h.has_count && !h.has_sum) return Status::Ok();
    if (h.buckets.empty() || !std::isinf(h.buckets.back().first) || h.buckets.back().first < 0) {
      return Error("histogram {} needs a +Inf bucket, last", meta.name);
    }
    bool negative_bucket = false;
    for (size_t i = 0; i < h.buckets.size(); ++i) {
      if (h.buckets[i].first < 0) negative_bucket = true;
      if (i > 0 && h.buckets[i].first <= h.buckets[i - 1].first) {
        return Error("buckets of {} must be in increasing le order", meta.name);
      }
      if (i > 0 && h.buckets[i].second < h.buckets[i - 1].second) {
        return Error("bucket counts of {} must not decrease", meta.name);
      }
    }
    if (h.has_count != h.has_sum) {
      return Error("{} needs both {} and {}, or neither", meta.name, gauge ? "_gcount" : "_count",
                   gauge ? "_gsum" : "_sum");
    }
    if (h.has_count && h.count != h.buckets.back().second) {
      return Error("count of {} differs from its +Inf bucket", meta.name);
    }
    if (!gauge && negative_bucket && h.has_sum) {
      return Error("histogram {} with negative buckets must not have a _sum", meta.name);
    }
    if (gauge && h.has_sum && h.sum < 0 && !negative_bucket) {
      return Error("_gsum of {} is negative without negative buckets", meta.name);
    }
    return Status::Ok();
  }

  void Emit(std::string_view name, double value, int64_t ts) {
    DecodedBatch& b = out_.batch;
    DecodedBatch::Range range;
    range.label_begin = static_cast<uint32_t>(b.labels.size());
    b.labels.push_back(model::LabelView{"__name__", name});
    for (const ParsedLabel& l : labels_) b.labels.push_back(model::LabelView{l.name, l.value});
    range.label_end = static_cast<uint32_t>(b.labels.size());
    range.sample_begin = static_cast<uint32_t>(b.samples.size());
    b.samples.push_back(model::Sample{ts, value});
    range.sample_end = static_cast<uint32_t>(b.samples.size());
    b.ranges.push_back(range);
  }

  std::string_view text_;
  bool om_;
  bool strict_;
  int64_t default_ts_;
  TextBatch& out_;
  size_t line_no_ = 0;
  std::vector<ParsedLabel> labels_;
  std::vector<ParsedLabel> exemplar_labels_;
  // OpenMetrics family state.
  bool in_family_ = false;
  std::string family_name_;
  bool family_has_samples_ = false;
  bool help_seen_ = false, type_seen_ = false, unit_seen_ = false;
  std::set<std::string> seen_families_;
  std::set<std::string> reserved_;
  bool metric_open_ = false;
  std::string metric_key_;
  std::set<std::string> finished_metrics_;
  std::map<std::string, std::optional<int64_t>> series_ts_;
  HistogramState histogram_;
};

}  // namespace

void TextBatch::Clear() {
  batch.Clear();
  families.clear();
  storage.clear();
  exemplars = 0;
}

Status ParseText(std::string_view text, TextFormat format, int64_t default_timestamp_ms,
                 TextBatch& out, bool strict) {
  out.Clear();
  return Parser(text, format, default_timestamp_ms, out, strict).Parse();
}

TextFormat TextFormatFor(std::string_view content_type) {
  return content_type.find("application/openmetrics-text") != std::string_view::npos
             ? TextFormat::kOpenMetrics
             : TextFormat::kPrometheus;
}

}  // namespace pharos::ingest
