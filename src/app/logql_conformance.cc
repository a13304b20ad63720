// `pharos logql-test FILE...`: runs Loki's declarative LogQL test scripts (`*.logqltest`,
// the `clear` / `load` / `eval` language described in the suite's FORMAT.md) through the
// LogQL engine and reports "N passed, M failed[, K skipped]" with a line per file.
//
// Lines live in memory (a logql::Source over vectors): the scripts test the language, and
// the log store has its own tests. Evals listed in the skip list (file:line, each with a
// reason) are not run.
#include <fmt/format.h>
#include <re2/re2.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "app/app.h"
#include "common/units.h"
#include "logql/logql.h"

namespace pharos::app {
namespace {

namespace fs = std::filesystem;

// 2026-01-01T00:00:00Z, the scripts' time zero.
constexpr int64_t kEpochNs = int64_t{1767225600} * 1'000'000'000;

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// Drops a trailing `# comment` outside "..." and `...`.
std::string StripComment(std::string_view s) {
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '`') {
      quote = c;
    } else if (c == '#') {
      return Trim(s.substr(0, i));
    }
  }
  return Trim(s);
}

bool ParseOffset(std::string_view s, int64_t& ns) {
  Result<double> d = ParseGoDuration(s);
  if (!d.ok()) return false;
  ns = kEpochNs + static_cast<int64_t>(std::llround(*d * 1e9));
  return true;
}

struct MemEntry {
  int64_t ts;
  std::string line;
  model::Labels metadata;
};

struct MemStream {
  model::Labels labels;
  std::vector<MemEntry> entries;
};

class MemorySource : public logql::Source {
 public:
  std::vector<MemStream> streams;

  MemStream& Stream(const model::Labels& labels) {
    for (MemStream& s : streams) {
      if (s.labels == labels) return s;
    }
    streams.push_back({labels, {}});
    return streams.back();
  }

  Status Select(const logql::LogSelector& selector, int64_t mint, int64_t maxt, Order,
                const logql::EntryVisitor& visit) override {
    for (const MemStream& s : streams) {
      if (!model::MatchesAll(selector.matchers, s.labels)) continue;
      for (const MemEntry& e : s.entries) {
        if (e.ts < mint || e.ts > maxt) continue;
        logql::LogEntry entry{e.ts, e.line, e.metadata};
        if (Status st = visit(s.labels, entry); !st.ok()) return st;
      }
    }
    return Status::Ok();
  }
};

// `{a="b", c="d"}` at the start of `s`; advances `pos` past it.
bool ParseLabelSet(std::string_view s, size_t& pos, model::Labels& out) {
  if (pos >= s.size() || s[pos] != '{') return false;
  ++pos;
  while (true) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == ',')) ++pos;
    if (pos >= s.size()) return false;
    if (s[pos] == '}') {
      ++pos;
      model::SortLabels(out);
      return true;
    }
    size_t eq = s.find('=', pos);
    if (eq == std::string_view::npos) return false;
    std::string name = Trim(s.substr(pos, eq - pos));
    if (!name.empty() && name.front() == '"' && name.back() == '"')
      name = name.substr(1, name.size() - 2);
    pos = eq + 1;
    while (pos < s.size() && s[pos] == ' ') ++pos;
    if (pos >= s.size() || s[pos] != '"') return false;
    size_t end = s.find('"', pos + 1);
    while (end != std::string_view::npos && s[end - 1] == '\\') end = s.find('"', end + 1);
    if (end == std::string_view::npos) return false;
    Result<std::string> value = logql::UnquoteGo(s.substr(pos, end + 1 - pos));
    if (!value.ok()) return false;
    out.push_back({std::move(name), std::move(value).value()});
    pos = end + 1;
  }
}

Status LoadLine(std::string_view text, MemorySource& src) {
  size_t pos = 0;
  model::Labels labels;
  if (!ParseLabelSet(text, pos, labels)) return InvalidArgument("bad stream selector");
  while (pos < text.size() && text[pos] == ' ') ++pos;
  if (pos >= text.size() || (text[pos] != '"' && text[pos] != '`'))
    return InvalidArgument("expected a quoted line");
  char q = text[pos];
  size_t end = text.find(q, pos + 1);
  if (end == std::string_view::npos) return InvalidArgument("unterminated line");
  std::string line(text.substr(pos + 1, end - pos - 1));
  std::string rest = Trim(text.substr(end + 1));
  if (!rest.starts_with("@")) return InvalidArgument("expected @ <start>");
  rest = Trim(rest.substr(1));
  size_t sp = rest.find(' ');
  int64_t start = 0;
  if (!ParseOffset(rest.substr(0, sp), start)) return InvalidArgument("bad start time");
  rest = sp == std::string::npos ? "" : Trim(rest.substr(sp));
  int64_t every = 0;
  int count = 1;
  model::Labels metadata;
  while (!rest.empty()) {
    size_t close = rest.find(']');
    if (rest[0] != '[' || close == std::string::npos) return InvalidArgument("bad modifier");
    std::string inner = Trim(rest.substr(1, close - 1));
    rest = Trim(rest.substr(close + 1));
    if (inner.starts_with("repeat every ")) {
      std::istringstream is(inner.substr(13));
      std::string step, word;
      is >> step >> word >> count;
      Result<double> d = ParseGoDuration(step);
      if (!d.ok() || word != "for" || count < 1) return InvalidArgument("bad repeat");
      every = static_cast<int64_t>(std::llround(*d * 1e9));
    } else if (inner.starts_with("metadata ")) {
      std::string set = "{" + inner.substr(9) + "}";
      size_t p = 0;
      model::Labels md;
      if (!ParseLabelSet(set, p, md)) return InvalidArgument("bad metadata");
      // Keep the order as written (sorted here; Loki's order is not observable in results).
      metadata = std::move(md);
    } else {
      return InvalidArgument("unknown modifier [" + inner + "]");
    }
  }
  // A label with an empty value is no label, as in Loki's push path.
  std::erase_if(labels, [](const model::Label& l) { return l.value.empty(); });
  MemStream& stream = src.Stream(labels);
  for (int i = 0; i < count; ++i) {
    std::string l = line;
    for (size_t at; (at = l.find("{{.i}}")) != std::string::npos;)
      l.replace(at, 6, std::to_string(i));
    stream.entries.push_back({start + i * every, std::move(l), metadata});
  }
  return Status::Ok();
}

bool ParseValue(std::string_view s, double& v) {
  if (s == "NaN") {
    v = std::nan("");
    return true;
  }
  if (s == "Inf" || s == "+Inf") {
    v = HUGE_VAL;
    return true;
  }
  if (s == "-Inf") {
    v = -HUGE_VAL;
    return true;
  }
  std::string str(s);
  char* end = nullptr;
  v = std::strtod(str.c_str(), &end);
  return !str.empty() && end == str.c_str() + str.size() &&
         str.find_first_of("xXpP") == std::string::npos;
}

// Values of an expectation line: numbers, `_` (no point, as nullopt) and a+bxN forms.
bool ParseValues(std::string_view s, std::vector<std::optional<double>>& out) {
  std::istringstream is{std::string(s)};
  std::string tok;
  while (is >> tok) {
    if (tok == "_") {
      out.push_back(std::nullopt);
      continue;
    }
    size_t x = tok.find('x');
    if (x == std::string::npos) {
      double v;
      if (!ParseValue(tok, v)) return false;
      out.push_back(v);
      continue;
    }
    std::string head = tok.substr(0, x);
    int n = std::atoi(tok.substr(x + 1).c_str());
    // a+b, a-b (the sign after the first character), or a alone.
    size_t sign = head.find_first_of("+-", 1);
    while (sign != std::string::npos && (head[sign - 1] == 'e' || head[sign - 1] == 'E'))
      sign = head.find_first_of("+-", sign + 1);
    double a, b = 0;
    if (sign == std::string::npos) {
      if (!ParseValue(head, a)) return false;
    } else {
      if (!ParseValue(head.substr(0, sign), a) || !ParseValue(head.substr(sign + 1), b))
        return false;
      if (head[sign] == '-') b = -b;
    }
    for (int i = 0; i <= n; ++i) out.push_back(a + b * i);
  }
  return true;
}

bool Close(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  if (std::abs(a - b) <= 1e-9) return true;
  return std::abs(a - b) / std::max(std::abs(a), std::abs(b)) <= 1e-9;
}

struct Expectation {
  bool fail = false;
  std::string fail_msg;
  std::string fail_regex;
  bool empty = false;
  bool ordered = false;
  std::optional<double> scalar;
  std::vector<std::pair<model::Labels, std::vector<std::optional<double>>>> series;
};

class Runner {
 public:
  Runner(std::string name, const std::map<std::string, std::string>& skips)
      : name_(std::move(name)), skips_(skips) {}

  int passed = 0, failed = 0, skipped = 0;
  std::vector<std::string> failures;

  Status Run(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream is(text);
    for (std::string l; std::getline(is, l);) lines.push_back(l);
    size_t i = 0;
    while (i < lines.size()) {
      std::string head = StripComment(lines[i]);
      size_t head_line = i + 1;
      ++i;
      if (head.empty()) continue;
      std::vector<std::pair<size_t, std::string>> block;
      while (i < lines.size() && !lines[i].empty() &&
             (lines[i][0] == ' ' || lines[i][0] == '\t' || Trim(lines[i]).starts_with("#"))) {
        std::string body = StripComment(lines[i]);
        if (!body.empty()) block.emplace_back(i + 1, body);
        ++i;
      }
      if (head == "clear") {
        src_ = MemorySource();
      } else if (head == "load") {
        for (const auto& [n, body] : block) {
          if (Status s = LoadLine(body, src_); !s.ok())
            return InvalidArgument(fmt::format("{}:{}: {}", name_, n, s.message()));
        }
      } else if (head.starts_with("eval ")) {
        Eval(head_line, head, block);
      } else {
        return InvalidArgument(fmt::format("{}:{}: unknown command {}", name_, head_line, head));
      }
    }
    return Status::Ok();
  }

 private:
  void Fail(size_t line, const std::string& query, const std::string& why) {
    ++failed;
    failures.push_back(fmt::format("{}:{}: {}\n    {}", name_, line, query, why));
  }

  void Eval(size_t line, const std::string& head,
            const std::vector<std::pair<size_t, std::string>>& block) {
    if (auto it = skips_.find(fmt::format("{}:{}", name_, line)); it != skips_.end()) {
      ++skipped;
      return;
    }
    logql::QueryParams params;
    std::string query;
    std::istringstream is(head.substr(5));
    std::string kind;
    is >> kind;
    if (kind == "instant") {
      std::string at, t;
      is >> at >> t;
      params.instant = true;
      if (at != "at" || !ParseOffset(t, params.end_ns)) return Fail(line, head, "bad eval line");
      params.start_ns = params.end_ns;
    } else {
      std::string from, t0, to, t1, step, s;
      is >> from >> t0 >> to >> t1 >> step >> s;
      int64_t step_abs = 0;
      if (from != "from" || to != "to" || step != "step" || !ParseOffset(t0, params.start_ns) ||
          !ParseOffset(t1, params.end_ns) || !ParseOffset(s, step_abs))
        return Fail(line, head, "bad eval line");
      params.step_ns = step_abs - kEpochNs;
    }
    std::getline(is, query);
    query = Trim(query);
    Expectation want;
    for (const auto& [n, body] : block) {
      if (body.starts_with("expect fail")) {
        want.fail = true;
        std::string rest = Trim(body.substr(11));
        if (rest.starts_with("msg:")) want.fail_msg = Trim(rest.substr(4));
        if (rest.starts_with("regex:")) want.fail_regex = Trim(rest.substr(6));
      } else if (body == "expect empty") {
        want.empty = true;
      } else if (body == "expect ordered") {
        want.ordered = true;
      } else if (body.starts_with("skip ")) {
        continue;
      } else if (body.starts_with("{")) {
        size_t p = 0;
        model::Labels labels;
        std::vector<std::optional<double>> values;
        if (!ParseLabelSet(body, p, labels) || !ParseValues(body.substr(p), values))
          return Fail(line, query, "bad expectation: " + body);
        want.series.emplace_back(std::move(labels), std::move(values));
      } else {
        double v;
        if (!ParseValue(body, v)) return Fail(line, query, "bad expectation: " + body);
        want.scalar = v;
      }
    }
    if (std::string why = Check(query, params, want); !why.empty()) return Fail(line, query, why);
    // The query as /format_query prints it must parse, format to itself and answer the same.
    if (Result<logql::ExprPtr> parsed = logql::ParseExpr(query); parsed.ok()) {
      std::string formatted = logql::FormatQuery(**parsed);
      Result<std::string> again = logql::FormatQuery(formatted);
      if (!again.ok())
        return Fail(line, query,
                    fmt::format("formatted as \"{}\", which does not parse: {}", formatted,
                                again.status().message()));
      if (*again != formatted)
        return Fail(line, query,
                    fmt::format("formatted as \"{}\", then as \"{}\"", formatted, *again));
      if (std::string why = Check(formatted, params, want); !why.empty())
        return Fail(line, query, fmt::format("formatted as \"{}\": {}", formatted, why));
    }
    ++passed;
  }

  // "" when `query` answers as `want` says, else why not.
  std::string Check(const std::string& query, const logql::QueryParams& params,
                    const Expectation& want) {
    logql::Engine engine;
    Result<logql::QueryResult> got = engine.Query(src_, query, params);
    if (want.fail) {
      if (got.ok()) return "expected an error, got a result";
      const std::string& msg = got.status().message();
      if (!want.fail_msg.empty() && msg.find(want.fail_msg) == std::string::npos)
        return fmt::format("error \"{}\" lacks \"{}\"", msg, want.fail_msg);
      if (!want.fail_regex.empty() && !RE2::PartialMatch(msg, want.fail_regex))
        return fmt::format("error \"{}\" does not match /{}/", msg, want.fail_regex);
      return "";
    }
    if (!got.ok()) return "error: " + got.status().message();
    if (want.scalar) {
      if (got->type != logql::ResultType::kScalar || !Close(got->scalar, *want.scalar))
        return fmt::format("want scalar {}, got {}", *want.scalar, Describe(*got));
      return "";
    }
    if (want.empty) return got->series.empty() ? "" : "want empty, got " + Describe(*got);
    if (got->series.size() != want.series.size())
      return fmt::format("want {} series, got {}", want.series.size(), Describe(*got));
    int steps = params.instant
                    ? 1
                    : static_cast<int>((params.end_ns - params.start_ns) / params.step_ns) + 1;
    for (size_t k = 0; k < want.series.size(); ++k) {
      const auto& [labels, values] = want.series[k];
      const logql::Series* match = nullptr;
      if (want.ordered) {
        if (got->series[k].labels == labels) match = &got->series[k];
      } else {
        for (const logql::Series& s : got->series) {
          if (s.labels == labels) match = &s;
        }
      }
      if (match == nullptr)
        return fmt::format("no series {} in {}", model::FormatLabels(labels), Describe(*got));
      if (static_cast<int>(values.size()) != steps)
        return "expectation has the wrong number of values";
      size_t next = 0;
      for (int i = 0; i < steps; ++i) {
        int64_t t = params.start_ns + static_cast<int64_t>(i) * params.step_ns;
        const logql::Sample* at = nullptr;
        if (next < match->samples.size() && match->samples[next].t_ns == t)
          at = &match->samples[next++];
        if (values[i].has_value() != (at != nullptr) ||
            (at != nullptr && !Close(at->v, *values[i])))
          return fmt::format("{} step {}: want {}, got {}", model::FormatLabels(labels), i,
                             values[i] ? fmt::format("{}", *values[i]) : "_",
                             at ? fmt::format("{}", at->v) : "_");
      }
    }
    return "";
  }

  static std::string Describe(const logql::QueryResult& r) {
    if (r.type == logql::ResultType::kScalar) return fmt::format("scalar {}", r.scalar);
    std::string out = logql::ResultTypeName(r.type);
    out += " [";
    for (const logql::Series& s : r.series) {
      out += " " + model::FormatLabels(s.labels) + ":";
      for (const logql::Sample& x : s.samples) out += fmt::format(" {}", x.v);
    }
    return out + " ]";
  }

  std::string name_;
  const std::map<std::string, std::string>& skips_;
  MemorySource src_;
};

}  // namespace

int RunLogqlTests(const std::vector<std::string>& files, const std::string& skip_list,
                  bool verbose) {
  return RunScripts(files, skip_list, verbose, "logql-test", "logql-test: ",
                    [](const std::string& name, const std::string& text,
                       const std::map<std::string, std::string>& skips) {
                      Runner runner(name, skips);
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
