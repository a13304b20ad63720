// `pharos promql-test FILE...`: runs Prometheus's PromQL test scripts (the `load`, `clear`
// and `eval` language described in the suite's FORMAT.md) against the real store and
// engine, and reports "N passed, M failed[, K skipped]" with a line per file.
//
// Data goes through tsdb::Db (in a temporary directory) exactly as ingested data does.
// Evals listed in the skip list (file:line or file, each with a reason) are not run.
#include <fmt/format.h>
#include <re2/re2.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "app/app.h"
#include "common/log.h"
#include "promql/promql.h"
#include "selfmon/metrics.h"
#include "tsdb/tsdb.h"

namespace pharos::app {
namespace {

namespace fs = std::filesystem;

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A time in a test header: a duration ("50m", "0") or plain seconds.
bool ParseTime(std::string_view s, int64_t& ms) {
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  if (Result<Duration> d = ParseDuration(s); d.ok()) {
    ms = d->count();
  } else {
    char* end = nullptr;
    std::string str(s);
    double v = std::strtod(str.c_str(), &end);
    if (str.empty() || end != str.c_str() + str.size()) return false;
    ms = std::llround(v * 1000);
  }
  if (neg) ms = -ms;
  return true;
}

bool ParseNumber(std::string_view s, double& v) {
  std::string l = Lower(std::string(s));
  std::string body = l;
  double sign = 1;
  if (!body.empty() && (body[0] == '+' || body[0] == '-')) {
    sign = body[0] == '-' ? -1 : 1;
    body = body.substr(1);
  }
  if (body == "inf") {
    v = sign * INFINITY;
    return true;
  }
  if (body == "nan") {
    v = NAN;
    return true;
  }
  if (body.size() > 2 && body[0] == '0' && body[1] == 'x') {
    char* end = nullptr;
    v = sign * static_cast<double>(std::strtoull(body.c_str() + 2, &end, 16));
    return *end == '\0';
  }
  if (Result<Duration> d = ParseDuration(body);
      d.ok() && body.find_first_of("smhdwy") != std::string::npos) {
    v = sign * static_cast<double>(d->count()) / 1000.0;
    return true;
  }
  char* end = nullptr;
  std::string str(s);
  v = std::strtod(str.c_str(), &end);
  return !str.empty() && end == str.c_str() + str.size();
}

// One item of a value sequence after expansion: a value, a gap, or a staleness marker.
struct Item {
  bool gap = false;
  double v = 0;
};

// Expands "1 2 _x3 stale 0+10x5" into items. Histogram items ({{...}}) set `histogram`.
bool ExpandValues(const std::string& text, std::vector<Item>& out, bool& histogram) {
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= text.size()) break;
    size_t start = i;
    if (text.compare(i, 2, "{{") == 0) {
      histogram = true;
      size_t end = text.find("}}", i);
      if (end == std::string::npos) return false;
      i = end + 2;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
        if (text.compare(i, 2, "{{") == 0) {
          size_t e2 = text.find("}}", i);
          if (e2 == std::string::npos) return false;
          i = e2 + 2;
        } else {
          ++i;
        }
      }
      tokens.push_back(text.substr(start, i - start));
      continue;
    }
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    tokens.push_back(text.substr(start, i - start));
  }
  for (const std::string& t : tokens) {
    if (t.starts_with("{{")) {
      out.push_back({true, 0});  // stored as nothing: native histograms are not kept yet
      continue;
    }
    if (t == "_") {
      out.push_back({true, 0});
      continue;
    }
    if (t == "stale") {
      out.push_back({false, tsdb::StaleNaN()});
      continue;
    }
    size_t x = t.find('x');
    // "0x59" is 0 repeated, "0x3d" a hex number.
    bool repeat =
        x != std::string::npos && x > 0 &&
        (!t.starts_with("0x") || t.find_first_not_of("0123456789", x + 1) == std::string::npos);
    if (repeat) {
      std::string base = t.substr(0, x);
      std::string count_s = t.substr(x + 1);
      char* end = nullptr;
      int64_t n = std::strtoll(count_s.c_str(), &end, 10);
      if (count_s.empty() || *end != '\0' || n < 0) return false;
      if (base == "_") {
        for (int64_t k = 0; k < n; ++k) out.push_back({true, 0});
        continue;
      }
      // a+bxN / a-bxN / axN; the sign of a may lead.
      size_t op = std::string::npos;
      for (size_t k = 1; k < base.size(); ++k) {
        if ((base[k] == '+' || base[k] == '-') && base[k - 1] != 'e' && base[k - 1] != 'E') {
          op = k;
          break;
        }
      }
      double a, b = 0;
      if (op == std::string::npos) {
        if (!ParseNumber(base, a)) return false;
      } else {
        if (!ParseNumber(base.substr(0, op), a) || !ParseNumber(base.substr(op + 1), b)) {
          return false;
        }
        if (base[op] == '-') b = -b;
      }
      for (int64_t k = 0; k <= n; ++k) out.push_back({false, a + b * static_cast<double>(k)});
      continue;
    }
    double v;
    if (!ParseNumber(t, v)) return false;
    out.push_back({false, v});
  }
  return true;
}

// Splits "metric{a="b"} values..." into the selector and the values.
bool SplitSeriesLine(const std::string& line, std::string& selector, std::string& values) {
  size_t i = 0;
  bool in_braces = false;
  char quote = 0;
  for (; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
      continue;
    }
    if (c == '"' || c == '\'' || c == '`') {
      quote = c;
    } else if (c == '{') {
      in_braces = true;
    } else if (c == '}') {
      ++i;
      break;
    } else if (!in_braces && std::isspace(static_cast<unsigned char>(c))) {
      break;
    }
  }
  selector = Trim(line.substr(0, i));
  values = Trim(line.substr(i));
  return !selector.empty();
}

Result<model::Labels> ParseSeriesLabels(const std::string& selector) {
  Result<std::vector<model::Matcher>> m = promql::ParseSeriesSelector(selector);
  model::Labels labels;
  if (!m.ok()) {
    if (selector == "{}") return labels;
    return m.status();
  }
  for (const model::Matcher& x : *m) {
    if (x.type() != model::MatchType::kEqual) {
      return InvalidArgument("series in tests must use = matchers: " + selector);
    }
    if (!x.value().empty()) labels.push_back({x.name(), x.value()});
  }
  std::sort(labels.begin(), labels.end(),
            [](const model::Label& a, const model::Label& b) { return a.name < b.name; });
  return labels;
}

bool AlmostEqual(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    if (tsdb::IsStaleNaN(a) || tsdb::IsStaleNaN(b))
      return tsdb::IsStaleNaN(a) == tsdb::IsStaleNaN(b);
    return std::isnan(a) && std::isnan(b);
  }
  if (a == b) return true;
  double diff = std::abs(a - b);
  if (a == 0 || b == 0 || diff < 2.2250738585072014e-308)
    return diff < 1e-6 * 2.2250738585072014e-308;
  return diff / (std::abs(a) + std::abs(b)) < 1e-6;
}

struct ExpectedSeries {
  model::Labels labels;
  std::vector<Item> values;
  bool histogram = false;
};

struct Eval {
  int line = 0;
  bool range = false;
  int64_t time = 0, start = 0, end = 0, step = 0;
  std::string expr;
  bool expect_fail = false;
  std::string fail_msg;
  std::string fail_regex;
  bool ordered = false;
  std::vector<std::pair<std::string, std::string>> warn;  // kind ("msg"/"regex"/""), text
  std::vector<std::pair<std::string, std::string>> info;
  bool no_warn = false;
  bool no_info = false;
  bool expect_warn = false;
  bool expect_info = false;
  bool has_scalar = false;
  double scalar = 0;
  bool has_string = false;
  std::string string_value;
  bool range_vector = false;
  int64_t rv_from = 0, rv_to = 0, rv_step = 0;
  std::vector<ExpectedSeries> series;
  bool histogram = false;
};

class ScriptRunner {
 public:
  ScriptRunner(std::string name, const std::map<std::string, std::string>& skips)
      : name_(std::move(name)), skips_(skips) {}
  ~ScriptRunner() { CloseDb(); }

  int passed = 0, failed = 0, skipped = 0;
  std::vector<std::string> failures;

  Status Run(const std::string& text) {
    std::vector<std::string> lines;
    std::stringstream ss(text);
    std::string l;
    while (std::getline(ss, l)) {
      std::string t = Trim(l);
      if (!t.empty() && t[0] == '#') t.clear();
      lines.push_back(t);
    }
    PHAROS_RETURN_IF_ERROR(OpenDb());
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      size_t end = i + 1;
      bool is_clear = Lower(lines[i]) == "clear";  // a one-line command
      while (!is_clear && end < lines.size() && !lines[end].empty()) ++end;
      std::vector<std::string> block(lines.begin() + i, lines.begin() + end);
      int line_no = static_cast<int>(i) + 1;
      std::string cmd = Lower(block[0].substr(0, block[0].find_first_of(" \t")));
      if (cmd == "clear") {
        histogram_series_.clear();
        CloseDb();
        PHAROS_RETURN_IF_ERROR(OpenDb());
      } else if (cmd.starts_with("load")) {
        PHAROS_RETURN_IF_ERROR(Load(block, line_no));
      } else if (cmd.starts_with("eval")) {
        Eval e;
        Status s = ParseEval(block, line_no, e);
        if (!s.ok()) return s.WithContext(fmt::format("{}:{}", name_, line_no));
        RunEval(e);
      } else {
        return InvalidArgument(fmt::format("{}:{}: unknown command {}", name_, line_no, cmd));
      }
      i = end - 1;
    }
    return Status::Ok();
  }

 private:
  Status OpenDb() {
    char tmpl[] = "/tmp/pharos-promqltest-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Internal("cannot create a temporary directory");
    dir_ = tmpl;
    tsdb::Options o;
    o.dir = dir_;
    o.out_of_order_window = std::chrono::hours(24 * 365 * 100);
    o.maintenance_interval = std::chrono::hours(24 * 365);
    o.retention = std::chrono::milliseconds(0);
    registry_ = std::make_unique<selfmon::Registry>();
    Result<std::unique_ptr<tsdb::Db>> db = tsdb::Db::Open(o, *registry_);
    if (!db.ok()) return db.status();
    db_ = std::move(*db);
    return Status::Ok();
  }

  void CloseDb() {
    if (db_) (void)db_->Close();
    db_.reset();
    registry_.reset();
    if (!dir_.empty()) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  Status Load(const std::vector<std::string>& block, int line_no) {
    const std::string& header = block[0];
    bool nhcb = Lower(header).starts_with("load_with_nhcb");
    size_t sp = header.find_first_of(" \t");
    int64_t interval;
    if (sp == std::string::npos || !ParseTime(Trim(header.substr(sp)), interval)) {
      return InvalidArgument(fmt::format("{}:{}: bad load interval", name_, line_no));
    }
    std::map<std::string, std::pair<model::Labels, std::vector<tsdb::Sample>>> series;
    for (size_t i = 1; i < block.size(); ++i) {
      std::string sel, values;
      if (!SplitSeriesLine(block[i], sel, values)) continue;
      if (sel.ends_with("@st") || values.starts_with("@st")) continue;  // not stored
      Result<model::Labels> labels = ParseSeriesLabels(sel);
      if (!labels.ok()) {
        return labels.status().WithContext(fmt::format("{}:{}", name_, line_no + i));
      }
      std::vector<Item> items;
      bool hist = false;
      if (!ExpandValues(values, items, hist)) {
        return InvalidArgument(fmt::format("{}:{}: bad values {}", name_, line_no + i, values));
      }
      if (hist) histogram_series_.push_back(*labels);
      if (nhcb) {
        // load_with_nhcb also stores X_bucket/X_sum/X_count as a native histogram X.
        model::Labels base = *labels;
        std::string name;
        for (const model::Label& l : base) {
          if (l.name == "__name__") name = l.value;
        }
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
          if (name.ends_with(suffix)) {
            std::string stem = name.substr(0, name.size() - std::strlen(suffix));
            std::erase_if(base, [](const model::Label& l) { return l.name == "le"; });
            for (model::Label& l : base) {
              if (l.name == "__name__") l.value = stem;
            }
            histogram_series_.push_back(base);
            break;
          }
        }
      }
      std::vector<tsdb::Sample> samples;
      for (size_t k = 0; k < items.size(); ++k) {
        if (!items[k].gap) samples.push_back({static_cast<int64_t>(k) * interval, items[k].v});
      }
      std::string key = model::FormatLabels(*labels);
      series[key] = {std::move(*labels), std::move(samples)};
    }
    std::vector<std::vector<model::LabelView>> views;
    std::vector<tsdb::SeriesInput> batch;
    views.reserve(series.size());
    for (auto& [key, s] : series) {
      if (s.second.empty()) continue;
      std::vector<model::LabelView> v;
      for (const model::Label& l : s.first) v.push_back({l.name, l.value});
      views.push_back(std::move(v));
      batch.push_back({views.back(), s.second});
    }
    tsdb::AppendResult result;
    PHAROS_RETURN_IF_ERROR(db_->Append(batch, result));
    if (result.samples_rejected > 0) {
      return Internal(fmt::format("{}:{}: store rejected {} samples: {}", name_, line_no,
                                  result.samples_rejected,
                                  result.errors.empty() ? "" : result.errors[0]));
    }
    return Status::Ok();
  }

  Status ParseEval(const std::vector<std::string>& block, int line_no, Eval& e) {
    e.line = line_no;
    const std::string& h = block[0];
    std::string cmd = Lower(h.substr(0, h.find_first_of(" \t")));
    std::string rest = Trim(h.substr(cmd.size()));
    if (cmd == "eval_fail") e.expect_fail = true;
    if (cmd == "eval_ordered") e.ordered = true;
    if (cmd == "eval_warn") e.expect_warn = true;
    if (cmd == "eval_info") e.expect_info = true;
    auto word = [&](std::string& out) {
      rest = Trim(rest);
      size_t sp = rest.find_first_of(" \t");
      out = rest.substr(0, sp);
      rest = sp == std::string::npos ? "" : rest.substr(sp);
    };
    std::string w;
    word(w);
    if (w == "instant") {
      word(w);  // at
      word(w);
      if (!ParseTime(w, e.time)) return InvalidArgument("bad eval time " + w);
    } else if (w == "range") {
      e.range = true;
      std::string a, b, c;
      word(w);  // from
      word(a);
      word(w);  // to
      word(b);
      word(w);  // step
      word(c);
      if (!ParseTime(a, e.start) || !ParseTime(b, e.end) || !ParseTime(c, e.step)) {
        return InvalidArgument("bad eval range");
      }
    } else {
      return InvalidArgument("bad eval header: " + h);
    }
    e.expr = Trim(rest);
    for (size_t i = 1; i < block.size(); ++i) {
      const std::string& l = block[i];
      if (l.starts_with("expect ") || l.starts_with("expected_fail")) {
        std::string body = Trim(l.substr(l.find(' ')));
        std::string kind = body.substr(0, body.find_first_of(" \t:"));
        std::string arg = Trim(body.substr(kind.size()));
        std::pair<std::string, std::string> detail;
        if (arg.starts_with("msg:")) detail = {"msg", Trim(arg.substr(4))};
        if (arg.starts_with("regex:")) detail = {"regex", Trim(arg.substr(6))};
        if (kind == "fail") {
          e.expect_fail = true;
          if (detail.first == "msg") e.fail_msg = detail.second;
          if (detail.first == "regex") e.fail_regex = detail.second;
        } else if (kind == "warn") {
          e.expect_warn = true;
          e.warn.push_back(detail);
        } else if (kind == "info") {
          e.expect_info = true;
          e.info.push_back(detail);
        } else if (kind == "no_warn") {
          e.no_warn = true;
        } else if (kind == "no_info") {
          e.no_info = true;
        } else if (kind == "ordered") {
          e.ordered = true;
        } else if (kind == "string") {
          e.has_string = true;
          std::string s = Trim(arg);
          if (s.size() >= 2) s = s.substr(1, s.size() - 2);
          e.string_value = s;
        } else if (kind == "range") {
          // expect range vector from A to B step S
          std::istringstream is(arg);
          std::string vec, from, a, to, b, stp, c;
          is >> vec >> from >> a >> to >> b >> stp >> c;
          e.range_vector = true;
          if (!ParseTime(a, e.rv_from) || !ParseTime(b, e.rv_to) || !ParseTime(c, e.rv_step)) {
            return InvalidArgument("bad expect range vector: " + l);
          }
        } else {
          return InvalidArgument("unknown expectation: " + l);
        }
        continue;
      }
      double v;
      if (ParseNumber(l, v)) {
        e.has_scalar = true;
        e.scalar = v;
        continue;
      }
      ExpectedSeries es;
      std::string sel, values;
      if (!SplitSeriesLine(l, sel, values)) return InvalidArgument("bad expected line: " + l);
      Result<model::Labels> labels = ParseSeriesLabels(sel);
      if (!labels.ok()) return labels.status();
      es.labels = std::move(*labels);
      if (!ExpandValues(values, es.values, es.histogram)) {
        return InvalidArgument("bad expected values: " + l);
      }
      e.histogram |= es.histogram;
      e.series.push_back(std::move(es));
    }
    return Status::Ok();
  }

  void Fail(const Eval& e, const std::string& why) {
    ++failed;
    failures.push_back(fmt::format("{}:{}:{} {}\n    query: {}", name_, e.line,
                                   ReadsHistograms(e) ? " [native histograms]" : "", why, e.expr));
  }

  static bool MatchAnnotations(const std::vector<std::pair<std::string, std::string>>& want,
                               const std::vector<std::string>& got, std::string& why) {
    for (const std::string& g : got) {
      bool ok = false;
      for (const auto& [kind, text] : want) {
        if (kind.empty() || (kind == "msg" && g == text) ||
            (kind == "regex" && RE2::PartialMatch(g, RE2(text)))) {
          ok = true;
        }
      }
      if (!ok) {
        why = "unexpected annotation: " + g;
        return false;
      }
    }
    for (const auto& [kind, text] : want) {
      bool ok = false;
      for (const std::string& g : got) {
        if (kind.empty() || (kind == "msg" && g == text) ||
            (kind == "regex" && RE2::PartialMatch(g, RE2(text)))) {
          ok = true;
        }
      }
      if (!ok) {
        why = "missing annotation: " + (text.empty() ? std::string("any") : text);
        return false;
      }
    }
    return true;
  }

  void RunEval(const Eval& e) {
    auto skip = skips_.find(fmt::format("{}:{}", name_, e.line));
    if (skip == skips_.end()) skip = skips_.find(name_);
    if (skip != skips_.end()) {
      ++skipped;
      return;
    }
    Result<promql::QueryResult> r = e.range ? engine_.Range(*db_, e.expr, e.start, e.end, e.step)
                                            : engine_.Instant(*db_, e.expr, e.time);
    if (e.expect_fail) {
      if (r.ok()) return Fail(e, "expected the query to fail, it succeeded");
      const std::string& msg = r.status().message();
      if (!e.fail_msg.empty() && msg != e.fail_msg) {
        return Fail(e, fmt::format("error message {:?}, want {:?}", msg, e.fail_msg));
      }
      if (!e.fail_regex.empty() && !RE2::PartialMatch(msg, RE2(e.fail_regex))) {
        return Fail(e, fmt::format("error message {:?} does not match {:?}", msg, e.fail_regex));
      }
      ++passed;
      return;
    }
    if (!r.ok()) return Fail(e, "query failed: " + r.status().message());
    std::string why;
    if (e.expect_warn && !MatchAnnotations(e.warn, r->warnings, why)) return Fail(e, why);
    if (e.expect_info && !MatchAnnotations(e.info, r->infos, why)) return Fail(e, why);
    if (e.no_warn && !r->warnings.empty()) return Fail(e, "unexpected " + r->warnings[0]);
    if (e.no_info && !r->infos.empty()) return Fail(e, "unexpected " + r->infos[0]);
    if (e.has_string) {
      if (r->type != promql::ValueType::kString || r->string_value != e.string_value) {
        return Fail(e, "expected string " + e.string_value);
      }
      ++passed;
      return;
    }
    if (e.has_scalar) {
      if (r->type != promql::ValueType::kScalar) return Fail(e, "expected a scalar result");
      if (!AlmostEqual(r->scalar, e.scalar)) {
        return Fail(e, fmt::format("scalar {} , want {}", r->scalar, e.scalar));
      }
      ++passed;
      return;
    }
    if (!e.range && !e.range_vector && r->type == promql::ValueType::kScalar) {
      return Fail(e, fmt::format("got scalar {}, expected a vector", r->scalar));
    }
    // Compare series as sets (or in order), point by point.
    std::map<std::string, const promql::SeriesResult*> got;
    for (const promql::SeriesResult& s : r->series) got[model::FormatLabels(s.labels)] = &s;
    if (got.size() != r->series.size()) return Fail(e, "result has duplicate series");
    if (got.size() != e.series.size()) {
      std::string list;
      for (const auto& [k, s] : got) list += "\n      " + k;
      return Fail(e, fmt::format("got {} series, want {}:{}", got.size(), e.series.size(), list));
    }
    for (size_t idx = 0; idx < e.series.size(); ++idx) {
      const ExpectedSeries& want = e.series[idx];
      std::string key = model::FormatLabels(want.labels);
      auto it = got.find(key);
      if (it == got.end()) return Fail(e, "missing series " + key);
      if (e.ordered && model::FormatLabels(r->series[idx].labels) != key) {
        return Fail(e, fmt::format("series {} at position {}, want {}",
                                   model::FormatLabels(r->series[idx].labels), idx, key));
      }
      const std::vector<promql::Point>& pts = it->second->points;
      std::vector<std::pair<int64_t, double>> expected;
      int64_t t0 = e.range ? e.start : (e.range_vector ? e.rv_from : e.time);
      int64_t step = e.range ? e.step : (e.range_vector ? e.rv_step : 0);
      for (size_t k = 0; k < want.values.size(); ++k) {
        if (!want.values[k].gap) {
          expected.emplace_back(t0 + static_cast<int64_t>(k) * step, want.values[k].v);
        }
      }
      if (!e.range && !e.range_vector && expected.size() == 1 && pts.size() == 1) {
        expected[0].first = pts[0].t;
      }
      if (expected.size() != pts.size()) {
        std::string got_s;
        for (const promql::Point& p : pts) got_s += fmt::format(" {}@{}", p.v, p.t / 1000.0);
        return Fail(e, fmt::format("series {}: {} points, want {}; got{}", key, pts.size(),
                                   expected.size(), got_s));
      }
      for (size_t k = 0; k < pts.size(); ++k) {
        if (pts[k].t != expected[k].first || !AlmostEqual(pts[k].v, expected[k].second)) {
          return Fail(
              e, fmt::format("series {}: point {} is {}@{}s, want {}@{}s", key, k, pts[k].v,
                             pts[k].t / 1000.0, expected[k].second, expected[k].first / 1000.0));
        }
      }
    }
    if (!e.range && !e.range_vector && !e.ordered) {
      std::string why_range = CheckRangeMode(e, *r);
      if (!why_range.empty()) return Fail(e, why_range);
    }
    ++passed;
  }

  // As Prometheus's harness does: an instant eval run as a range query from t-1m to t+1m
  // at a 1m step must give, at t, exactly the instant result.
  std::string CheckRangeMode(const Eval& e, const promql::QueryResult& instant) {
    for (const char* f : {"start()", "end()", "range()", "step()"}) {
      if (e.expr.find(f) != std::string::npos) return "";
    }
    Result<promql::QueryResult> r =
        engine_.Range(*db_, e.expr, e.time - 60'000, e.time + 60'000, 60'000);
    if (!r.ok()) return "as a range query: " + r.status().message();
    std::map<std::string, double> at_t;
    for (const promql::SeriesResult& s : r->series) {
      for (const promql::Point& p : s.points) {
        if (p.t == e.time) at_t[model::FormatLabels(s.labels)] = p.v;
      }
    }
    std::map<std::string, double> want;
    if (instant.type == promql::ValueType::kScalar) {
      want["{}"] = instant.scalar;
    } else {
      for (const promql::SeriesResult& s : instant.series) {
        want[model::FormatLabels(s.labels)] = s.points[0].v;
      }
    }
    if (at_t.size() != want.size()) {
      return fmt::format("as a range query: {} series at t, the instant query {}", at_t.size(),
                         want.size());
    }
    for (const auto& [k, v] : want) {
      auto it = at_t.find(k);
      if (it == at_t.end()) return "as a range query: missing " + k + " at t";
      if (!AlmostEqual(it->second, v)) {
        return fmt::format("as a range query: {} is {} at t, the instant query {}", k, it->second,
                           v);
      }
    }
    return "";
  }

  std::string name_;
  const std::map<std::string, std::string>& skips_;
  std::string dir_;
  // Series loaded with native histogram samples since the last clear.
  std::vector<model::Labels> histogram_series_;

  // Whether an eval selects a series that has native histogram samples, or expects them.
  bool ReadsHistograms(const Eval& e) const {
    if (e.histogram) return true;
    Result<promql::ExprPtr> expr = promql::ParseExpr(e.expr);
    if (!expr.ok()) return false;
    std::vector<const promql::VectorSelector*> selectors;
    CollectSelectors(**expr, selectors);
    for (const promql::VectorSelector* vs : selectors) {
      for (const model::Labels& series : histogram_series_) {
        bool all = true;
        for (const model::Matcher& m : vs->matchers) {
          std::string value;
          for (const model::Label& l : series) {
            if (l.name == m.name()) value = l.value;
          }
          all &= m.Matches(value);
        }
        if (all) return true;
      }
    }
    return false;
  }

  static void CollectSelectors(const promql::Expr& e,
                               std::vector<const promql::VectorSelector*>& out) {
    if (e.kind == promql::NodeKind::kVectorSelector) {
      out.push_back(static_cast<const promql::VectorSelector*>(&e));
    }
    promql::ForEachChild(e, [&](const promql::Expr& child) { CollectSelectors(child, out); });
  }

  std::unique_ptr<selfmon::Registry> registry_;
  std::unique_ptr<tsdb::Db> db_;
  promql::Engine engine_;
};

}  // namespace

// The skip list: "<file>[:<line>]  <reason>" per line; '#' comments.
Result<std::map<std::string, std::string>> ReadSkipList(const std::string& path) {
  std::map<std::string, std::string> out;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) return NotFound("cannot read skip list " + path);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    size_t sp = t.find_first_of(" \t");
    std::string reason = sp == std::string::npos ? "" : Trim(t.substr(sp));
    if (reason.empty()) {
      return InvalidArgument(fmt::format("{}:{}: a skip needs a reason", path, n));
    }
    out[t.substr(0, sp)] = reason;
  }
  return out;
}

int RunPromqlTests(const std::vector<std::string>& files, const std::string& skip_list,
                   bool verbose) {
  SetLogLevel(LogLevel::kWarn);  // the store's recovery lines would drown the report
  return RunScripts(files, skip_list, verbose, "promql-test", "",
                    [](const std::string& name, const std::string& text,
                       const std::map<std::string, std::string>& skips) {
                      ScriptRunner runner(name, skips);
                      ScriptOutcome out;
                      out.status = runner.Run(text);
                      out.passed = runner.passed;
                      out.failed = runner.failed;
                      out.skipped = runner.skipped;
                      out.failures = std::move(runner.failures);
                      return out;
                    });
}

}  // namespace pharos::app
