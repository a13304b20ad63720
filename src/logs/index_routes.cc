// Loki's index and discovery endpoints: index/stats, index/volume, index/volume_range,
// detected_labels, detected_fields, patterns, status/buildinfo. Pharos has no separate index: each
// answer scans the selected streams' lines in the range, reading only the line column.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "config/config.h"
#include "logql/logql.h"
#include "logs/http.h"
#include "logs/patterns.h"
#include "logs/push.h"

namespace pharos::logs {
namespace {

using server::Method;
using server::Request;
using server::Response;

// The one selector an index endpoint takes in `query`.
Result<std::vector<model::Matcher>> Selector(const Request& req) {
  std::optional<std::string> text = req.FormValue("query");
  if (!text || text->empty()) return InvalidArgument("query is required");
  Result<logql::ExprPtr> e = logql::ParseExpr(*text);
  if (!e.ok()) return e.status();
  if ((*e)->kind != logql::NodeKind::kLog)
    return InvalidArgument("the query must be a stream selector, such as {app=\"api\"}");
  return static_cast<const logql::LogExpr&>(**e).selector.matchers;
}

struct StreamTotals {
  uint64_t entries = 0;
  uint64_t bytes = 0;
};

// Every line of the selected streams in [start, end]: `visit(stream, time, bytes)`.
template <typename Fn>
Status ScanLines(Store& store, const std::vector<model::Matcher>& matchers, const Range& range,
                 Fn visit) {
  colstore::ScanPlan plan;
  plan.mint_ns = range.start_ns;
  plan.maxt_ns = range.end_ns;
  plan.streams = matchers;
  plan.columns = {kLineColumn};
  Result<colstore::ScanStats> stats = store.records().Scan(plan, [&](const colstore::Row& row) {
    uint64_t bytes = row.columns.empty() ? 0 : row.columns[0].value.s.size();
    visit(*row.stream, row.time_ns, bytes);
    return true;
  });
  return stats.status();
}

void IndexStats(const Request& req, Response& resp, Store& store) {
  Result<std::vector<model::Matcher>> matchers = Selector(req);
  if (!matchers.ok()) return void(resp = LokiError(400, matchers.status().message()));
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return void(resp = LokiError(400, s.message()));
  std::unordered_set<std::string> streams;
  StreamTotals total;
  Status s =
      ScanLines(store, *matchers, range, [&](const model::Labels& stream, int64_t, uint64_t bytes) {
        streams.insert(model::FormatLabels(stream));
        ++total.entries;
        total.bytes += bytes;
      });
  if (!s.ok()) return void(resp = LokiError(500, s.message()));
  // Loki counts chunks; a Pharos stream keeps its lines in blocks, reported as chunks.
  resp = Response::Text(200,
                        fmt::format(R"({{"streams":{},"chunks":{},"entries":{},"bytes":{}}})",
                                    streams.size(), streams.size(), total.entries, total.bytes),
                        "application/json");
}

// The labels a volume groups by: targetLabels, else the names the selector uses.
std::vector<std::string> VolumeLabels(const Request& req,
                                      const std::vector<model::Matcher>& matchers) {
  std::vector<std::string> names;
  if (auto t = req.FormValue("targetLabels"); t && !t->empty()) {
    for (std::string_view part : Split(*t, ',')) {
      std::string name(Trim(part));
      if (!name.empty()) names.push_back(std::move(name));
    }
  } else {
    for (const model::Matcher& m : matchers) names.push_back(m.name());
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

void Volume(const Request& req, Response& resp, Store& store, bool ranged) {
  Result<std::vector<model::Matcher>> matchers = Selector(req);
  if (!matchers.ok()) return void(resp = LokiError(400, matchers.status().message()));
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return void(resp = LokiError(400, s.message()));
  uint64_t limit = 100;
  if (auto v = req.FormValue("limit"); v && !v->empty()) {
    char* end = nullptr;
    limit = std::strtoull(v->c_str(), &end, 10);
    if (*end != '\0' || limit == 0) return void(resp = LokiError(400, "invalid limit"));
  }
  std::string aggregate = req.FormValue("aggregateBy").value_or("series");
  if (aggregate != "series" && aggregate != "labels")
    return void(resp = LokiError(400, "aggregateBy must be series or labels"));
  int64_t step = 0;
  if (ranged) {
    Result<int64_t> st = RangeStep(req, range);
    if (!st.ok()) return void(resp = LokiError(400, st.status().message()));
    step = *st;
  }
  std::vector<std::string> names = VolumeLabels(req, *matchers);
  // Group key -> bytes (per step bucket when ranged: the bucket ending at or after a line).
  std::map<model::Labels, std::map<int64_t, uint64_t>, decltype(&model::LabelsLess)> groups(
      &model::LabelsLess);
  auto add = [&](model::Labels key, int64_t t, uint64_t bytes) {
    int64_t bucket = range.end_ns;
    if (ranged) {
      int64_t k = (t - range.start_ns + step - 1) / step;
      bucket = range.start_ns + k * step;
    }
    groups[std::move(key)][bucket] += bytes;
  };
  Status s = ScanLines(
      store, *matchers, range, [&](const model::Labels& stream, int64_t t, uint64_t bytes) {
        if (aggregate == "labels") {
          // One series per label name present: {name="value"} is not
          // asked for; Loki reports each label's volume by its name.
          for (const model::Label& l : stream) {
            if (!names.empty() && std::find(names.begin(), names.end(), l.name) == names.end())
              continue;
            add({{l.name, ""}}, t, bytes);
          }
          return;
        }
        model::Labels key;
        for (const model::Label& l : stream) {
          if (std::find(names.begin(), names.end(), l.name) != names.end()) key.push_back(l);
        }
        add(std::move(key), t, bytes);
      });
  if (!s.ok()) return void(resp = LokiError(500, s.message()));
  // Largest first, up to the limit.
  std::vector<std::pair<uint64_t, const model::Labels*>> order;
  for (const auto& [labels, buckets] : groups) {
    uint64_t total = 0;
    for (const auto& [t, b] : buckets) total += b;
    order.emplace_back(total, &labels);
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  if (order.size() > limit) order.resize(limit);
  std::string body = R"({"status":"success","data":{"resultType":")";
  body += ranged ? "matrix" : "vector";
  body += R"(","result":[)";
  for (size_t k = 0; k < order.size(); ++k) {
    if (k) body += ',';
    body += R"({"metric":)";
    if (aggregate == "labels") {
      body += "{";
      AppendJsonString(body, (*order[k].second)[0].name);
      body += ":\"\"}";
    } else {
      model::AppendLabelsJson(body, *order[k].second);
    }
    if (ranged) {
      body += R"(,"values":[)";
      bool first = true;
      for (const auto& [t, b] : groups[*order[k].second]) {
        if (!first) body += ',';
        first = false;
        AppendSample(body, t, static_cast<double>(b));
      }
      body += "]}";
    } else {
      body += R"(,"value":)";
      AppendSample(body, range.end_ns, static_cast<double>(order[k].first));
      body += '}';
    }
  }
  body += "]}}";
  resp = Response::Text(200, std::move(body), "application/json");
}

void DetectedLabels(const Request& req, Response& resp, Store& store) {
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return void(resp = LokiError(400, s.message()));
  std::vector<model::Matcher> matchers;
  if (auto q = req.FormValue("query"); q && !q->empty()) {
    Result<std::vector<model::Matcher>> m = Selector(req);
    if (!m.ok()) return void(resp = LokiError(400, m.status().message()));
    matchers = std::move(m).value();
  }
  Result<std::vector<model::Labels>> streams =
      store.records().Streams(matchers, range.start_ns, range.end_ns);
  if (!streams.ok()) return void(resp = LokiError(500, streams.status().message()));
  std::map<std::string, std::unordered_set<std::string>> values;
  for (const model::Labels& s : *streams) {
    for (const model::Label& l : s) values[l.name].insert(l.value);
  }
  std::string body = R"({"detectedLabels":[)";
  bool first = true;
  for (const auto& [name, set] : values) {
    if (!first) body += ',';
    first = false;
    body += R"({"label":)";
    AppendJsonString(body, name);
    body += fmt::format(R"(,"cardinality":{}}})", set.size());
  }
  body += "]}";
  resp = Response::Text(200, std::move(body), "application/json");
}

// The type Loki's detected_fields reports for a value.
std::string_view FieldType(std::string_view v) {
  if (v == "true" || v == "false") return "boolean";
  bool integer = !v.empty() && std::all_of(v.begin() + (v[0] == '-' ? 1 : 0), v.end(), [](char c) {
    return c >= '0' && c <= '9';
  }) && v != "-";
  if (integer) return "int";
  if (logql::ParseGoFloat(v).ok()) return "float";
  if (ParseGoDuration(v).ok()) return "duration";
  if (!v.empty() && std::isdigit(static_cast<unsigned char>(v[0])) &&
      logql::ParseHumanBytes(v).ok())
    return "bytes";
  return "string";
}

// Fields found in the newest lines of a query: structured metadata, and what `json` or
// `logfmt` extracts, each with its type, cardinality and the parsers that found it.
void DetectedFields(const Request& req, Response& resp, Store& store) {
  std::optional<std::string> text = req.FormValue("query");
  if (!text || text->empty()) return void(resp = LokiError(400, "query is required"));
  Result<logql::ExprPtr> e = logql::ParseExpr(*text);
  if (!e.ok()) return void(resp = LokiError(400, e.status().message()));
  if ((*e)->kind != logql::NodeKind::kLog)
    return void(resp = LokiError(400, "detected_fields takes a log query"));
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return void(resp = LokiError(400, s.message()));
  uint64_t limit = 1000;
  if (auto v = req.FormValue("line_limit").value_or(req.FormValue("limit").value_or(""));
      !v.empty()) {
    char* end = nullptr;
    limit = std::strtoull(v.c_str(), &end, 10);
    if (*end != '\0' || limit == 0 || limit > kMaxLimit)
      return void(resp = LokiError(400, "invalid limit"));
  }
  struct Field {
    std::string type;
    std::unordered_set<std::string> values;
    std::set<std::string> parsers;
  };
  std::map<std::string, Field> fields;
  auto note = [&](const std::string& name, const std::string& value, const char* parser) {
    Field& f = fields[name];
    std::string_view type = FieldType(value);
    if (f.type.empty()) {
      f.type = type;
    } else if (f.type != type) {
      // Mixed values widen: int and float to float, anything else to string.
      bool numeric = (f.type == "int" || f.type == "float") && (type == "int" || type == "float");
      f.type = numeric ? "float" : "string";
    }
    if (f.values.size() < 10'000) f.values.insert(value);
    if (parser != nullptr) f.parsers.insert(parser);
  };
  StoreSource source(store.records());
  logql::QueryParams params;
  params.start_ns = range.start_ns;
  params.end_ns = range.end_ns + 1;
  params.limit = limit;
  params.categorize_labels = true;
  for (const char* parser : {"", "json", "logfmt"}) {
    std::string q = *text;
    if (*parser != '\0') q += fmt::format(" | {} | __error__=\"\"", parser);
    Result<logql::QueryResult> r = logql::Engine().Query(source, q, params);
    if (!r.ok()) return void(resp = LokiError(StatusFor(r.status()), r.status().message()));
    for (const logql::Stream& st : r->streams) {
      for (const logql::StreamEntry& en : st.entries) {
        if (*parser == '\0') {
          for (const model::Label& l : en.structured_metadata) note(l.name, l.value, nullptr);
        } else {
          for (const model::Label& l : en.parsed) note(l.name, l.value, parser);
        }
      }
    }
  }
  std::string body = R"({"fields":[)";
  bool first = true;
  for (const auto& [name, f] : fields) {
    if (!first) body += ',';
    first = false;
    body += R"({"label":)";
    AppendJsonString(body, name);
    body += fmt::format(R"(,"type":"{}","cardinality":{},"parsers":)", f.type, f.values.size());
    if (f.parsers.empty()) {
      body += "null";
    } else {
      body += '[';
      bool first_parser = true;
      for (const std::string& p : f.parsers) {
        if (!first_parser) body += ',';
        first_parser = false;
        AppendJsonString(body, p);
      }
      body += ']';
    }
    body += '}';
  }
  body += fmt::format(R"(],"limit":{}}})", limit);
  resp = Response::Text(200, std::move(body), "application/json");
}

// Loki's patterns: the lines of the selected streams in the range mined with Drain
// (patterns.h), each pattern with its line count per step. At most kMaxPatternLines lines
// are read (the newest first are not preferred: streams are read in any order).
void Patterns(const Request& req, Response& resp, Store& store) {
  constexpr uint64_t kMaxPatternLines = 1'000'000;
  constexpr size_t kMaxPatterns = 5000;
  Result<std::vector<model::Matcher>> matchers = Selector(req);
  if (!matchers.ok()) return void(resp = LokiError(400, matchers.status().message()));
  Range range;
  if (Status s = ParseRange(req, range); !s.ok()) return void(resp = LokiError(400, s.message()));
  Result<int64_t> step = RangeStep(req, range);
  if (!step.ok()) return void(resp = LokiError(400, step.status().message()));
  // Patterns count lines in buckets of whole seconds, as Loki's samples are.
  PatternMiner miner(std::max<int64_t>(*step / 1'000'000'000, 1), kMaxPatterns);
  colstore::ScanPlan plan;
  plan.mint_ns = range.start_ns;
  plan.maxt_ns = range.end_ns;
  plan.streams = *matchers;
  plan.columns = {kLineColumn};
  plan.time_ordered = false;
  uint64_t lines = 0;
  Result<colstore::ScanStats> stats = store.records().Scan(plan, [&](const colstore::Row& row) {
    miner.Add(row.columns.empty() ? std::string_view() : row.columns[0].value.s, row.time_ns);
    return ++lines < kMaxPatternLines;
  });
  if (!stats.ok())
    return void(resp = LokiError(StatusFor(stats.status()), stats.status().message()));
  std::string body = R"({"status":"success","data":[)";
  bool first = true;
  for (const PatternMiner::Pattern& p : miner.Take()) {
    if (!first) body += ',';
    first = false;
    body += R"({"pattern":)";
    AppendJsonString(body, p.text);
    body += R"(,"samples":[)";
    bool first_sample = true;
    for (const auto& [t, n] : p.samples) {
      body += fmt::format("{}[{},{}]", first_sample ? "" : ",", t, n);
      first_sample = false;
    }
    body += "]}";
  }
  body += "]}";
  resp = Response::Text(200, std::move(body), "application/json");
}

}  // namespace

void RegisterIndexRoutes(server::Router& router, const Services& services) {
  auto ready = [&services](auto fn) { return WhenStoreReady(services, std::move(fn)); };
  for (Method m : {Method::kGet, Method::kPost}) {
    router.HandleBlocking(m, "/loki/api/v1/index/stats", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            IndexStats(req, resp, store);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/index/volume", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Volume(req, resp, store, false);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/index/volume_range", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Volume(req, resp, store, true);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/detected_fields", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            DetectedFields(req, resp, store);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/patterns", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Patterns(req, resp, store);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/detected_labels", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            DetectedLabels(req, resp, store);
                          }));
  }
  // Grafana reads the version to decide which features to offer: Pharos answers as the
  // Loki release whose API it follows.
  router.Handle(Method::kGet, "/loki/api/v1/status/buildinfo", config::kScopeRead,
                [](const Request&, Response& resp) {
                  resp = Response::Text(200,
                                        R"({"version":"3.4.0","revision":"pharos","branch":"main",)"
                                        R"("buildUser":"pharos","buildDate":"","goVersion":""})",
                                        "application/json");
                });
}

}  // namespace pharos::logs
