// Tempo's search API for Grafana's Tempo data source: /api/search with TraceQL (or the
// older tags), and the tag names and values its query builder offers.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_set>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "traces/http.h"
#include "traces/otlp_encode.h"
#include "traces/traceql.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

using server::Method;
using server::Request;
using server::Response;

constexpr size_t kDefaultLimit = 20;
constexpr size_t kMaxLimit = 1000;
constexpr size_t kDefaultSpansPerSpanset = 3;
// Candidate traces a search reads whole, and spans it decodes to find them: a search past
// either answers what it found.
constexpr size_t kMaxCandidates = 2000;
constexpr uint64_t kMaxInspectedSpans = 5'000'000;
constexpr size_t kTagSampleSpans = 10'000;

Response TempoError(int status, std::string_view message) {
  return Response::Text(status, std::string(message) + "\n", "text/plain; charset=utf-8");
}

struct Window {
  int64_t mint_ns, maxt_ns;
};

// `start` and `end` (Unix seconds), the last hour by default.
Result<Window> TimeWindow(const Request& req, const Store& store) {
  int64_t now_s = store.NowNs() / 1'000'000'000;
  Result<int64_t> end = IntParam(req, "end", now_s);
  if (!end.ok()) return end.status();
  Result<int64_t> start = IntParam(req, "start", *end - 3600);
  if (!start.ok()) return start.status();
  if (*start > *end) return InvalidArgument("invalid start: after end");
  return Window{*start * 1'000'000'000, *end * 1'000'000'000 + 999'999'999};
}

// The older search: `tags` (logfmt key=value pairs), minDuration and maxDuration, as the
// TraceQL filter they mean: each tag an unscoped attribute (or name or status) equal to
// its value, the durations the trace's.
Result<std::string> LegacyQuery(const Request& req) {
  std::vector<std::string> conditions;
  std::string tags = req.QueryParam("tags").value_or("");
  size_t i = 0;
  while (i < tags.size()) {
    while (i < tags.size() && tags[i] == ' ') ++i;
    if (i >= tags.size()) break;
    size_t eq = tags.find('=', i);
    if (eq == std::string::npos) return InvalidArgument("invalid tags: expected key=value pairs");
    std::string key = tags.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < tags.size() && tags[i] == '"') {
      size_t close = tags.find('"', i + 1);
      if (close == std::string::npos) return InvalidArgument("invalid tags: unterminated quote");
      value = tags.substr(i + 1, close - i - 1);
      i = close + 1;
    } else {
      size_t space = tags.find(' ', i);
      value = tags.substr(i, space == std::string::npos ? std::string::npos : space - i);
      i = space == std::string::npos ? tags.size() : space;
    }
    std::string quoted = JsonString(value);
    if (key == "name") {
      conditions.push_back("name = " + quoted);
    } else if (key == "status.code" || key == "status") {
      conditions.push_back("status = " + value);
    } else {
      // A value that reads as a number or a bool matches attributes of that type too.
      char* end = nullptr;
      std::strtod(value.c_str(), &end);
      bool typed = (!value.empty() && end == value.c_str() + value.size()) || value == "true" ||
                   value == "false";
      conditions.push_back(typed ? fmt::format(R"((.{} = {} || .{} = {}))", key, quoted, key, value)
                                 : fmt::format(".{} = {}", key, quoted));
    }
  }
  for (const auto& [param, op] : {std::pair{"minDuration", ">="}, std::pair{"maxDuration", "<="}}) {
    std::string d = req.QueryParam(param).value_or("");
    if (d.empty()) continue;
    if (!ParseGoDuration(d).ok()) return InvalidArgument(fmt::format("invalid {}: {}", param, d));
    conditions.push_back(fmt::format("traceDuration {} {}", op, d));
  }
  std::string q = "{";
  for (size_t k = 0; k < conditions.size(); ++k) q += (k ? " && " : " ") + conditions[k];
  return q + (conditions.empty() ? "}" : " }");
}

void AppendStaticAsAnyValue(const traceql::Static& v, std::string& out) {
  using T = traceql::Static::Type;
  switch (v.type) {
    case T::kString:
      out += "{\"stringValue\":";
      AppendJsonString(out, v.s);
      out += '}';
      return;
    case T::kNumber:
      if (v.n == std::floor(v.n) && std::abs(v.n) < 9e15) {
        fmt::format_to(std::back_inserter(out), R"({{"intValue":"{}"}})",
                       static_cast<int64_t>(v.n));
      } else {
        fmt::format_to(std::back_inserter(out), R"({{"doubleValue":{}}})", v.n);
      }
      return;
    case T::kDuration:
      fmt::format_to(std::back_inserter(out), R"({{"intValue":"{}"}})", static_cast<int64_t>(v.n));
      return;
    case T::kBool: out += v.b ? R"({"boolValue":true})" : R"({"boolValue":false})"; return;
    case T::kStatus:
      out += v.code == 2   ? R"({"stringValue":"error"})"
             : v.code == 1 ? R"({"stringValue":"ok"})"
                           : R"({"stringValue":"unset"})";
      return;
    case T::kKind: out += "{\"stringValue\":\"" + std::string(KindName(v.code)) + "\"}"; return;
    case T::kNil: out += "{}"; return;
  }
}

// Stream matchers a one-filter query's top-level conditions give (service, name, kind).
void Pushdown(const traceql::Expr& e, std::vector<model::Matcher>& out) {
  using traceql::Expr;
  if (e.kind == Expr::Kind::kAnd) {
    Pushdown(*e.lhs, out);
    Pushdown(*e.rhs, out);
    return;
  }
  if (e.kind != Expr::Kind::kCompare || e.op != traceql::Op::kEq) return;
  const traceql::Field& f = e.field;
  if (f.scope == traceql::Field::Scope::kResource && f.name == "service.name" &&
      e.value.type == traceql::Static::Type::kString)
    out.push_back(model::Matcher::Equal(kServiceLabel, e.value.s));
  if (f.intrinsic == traceql::Intrinsic::kName && e.value.type == traceql::Static::Type::kString)
    out.push_back(model::Matcher::Equal(kNameLabel, e.value.s));
  if (f.intrinsic == traceql::Intrinsic::kKind && e.value.type == traceql::Static::Type::kKind)
    out.push_back(model::Matcher::Equal(kKindLabel, std::string(KindName(e.value.code))));
}

void Search(const Request& req, Response& resp, Store& store) {
  Result<Window> window = TimeWindow(req, store);
  if (!window.ok()) return void(resp = TempoError(400, window.status().message()));
  std::string text = req.QueryParam("q").value_or("");
  if (text.empty()) {
    Result<std::string> legacy = LegacyQuery(req);
    if (!legacy.ok()) return void(resp = TempoError(400, legacy.status().message()));
    text = *legacy;
  }
  Result<traceql::Query> query = traceql::Parse(text);
  if (!query.ok()) return void(resp = TempoError(400, query.status().message()));
  Result<int64_t> limit = IntParam(req, "limit", kDefaultLimit);
  Result<int64_t> spss = IntParam(req, "spss", kDefaultSpansPerSpanset);
  for (const Status& s : {limit.status(), spss.status()})
    if (!s.ok()) return void(resp = TempoError(400, s.message()));
  size_t want = std::clamp<int64_t>(*limit <= 0 ? kDefaultLimit : *limit, 1, kMaxLimit);
  std::vector<model::Matcher> streams;
  if (query->spansets->kind == traceql::Spanset::Kind::kFilter)
    Pushdown(*query->spansets->filter, streams);
  // Candidates: the traces of the newest spans that match a filter of the query.
  std::vector<std::string> candidates;
  std::unordered_set<std::string> seen;
  uint64_t inspected = 0;
  size_t max_candidates = std::min(kMaxCandidates, want * 10);
  Status s = store.ScanSpans(
      streams, window->mint_ns, window->maxt_ns,
      [&](const model::Resource& resource, const model::Span& span) {
        ++inspected;
        if (traceql::AnyFilterMatches(*query, resource, span) && seen.insert(span.trace_id).second)
          candidates.push_back(span.trace_id);
        return candidates.size() < max_candidates && inspected < kMaxInspectedSpans;
      });
  if (!s.ok()) return void(resp = TempoError(500, s.message()));
  std::vector<traceql::Field> shown = traceql::ReferencedFields(*query);
  std::string body = R"({"traces":[)";
  size_t found = 0;
  for (const std::string& id : candidates) {
    if (found >= want) break;
    Result<Trace> trace = store.FindTrace(id);
    if (!trace.ok()) return void(resp = TempoError(500, trace.status().message()));
    traceql::Trace view = traceql::Trace::From(trace->groups);
    std::vector<size_t> matched = traceql::Evaluate(*query, view);
    if (matched.empty()) continue;
    if (found++) body += ',';
    std::string root_service = "<root span not yet received>", root_name;
    if (view.root >= 0) {
      const traceql::Trace::Span& root = view.spans[static_cast<size_t>(view.root)];
      const model::AnyValue* service =
          model::FindAttribute(root.resource->attributes, "service.name");
      root_service = service ? service->ToText() : "unknown_service";
      root_name = root.span->name;
    }
    body += R"({"traceID":")" + HexEncode(id) + R"(","rootServiceName":)";
    AppendJsonString(body, root_service);
    body += R"(,"rootTraceName":)";
    AppendJsonString(body, root_name);
    fmt::format_to(std::back_inserter(body), R"(,"startTimeUnixNano":"{}","durationMs":{})",
                   view.start_ns, (view.end_ns - view.start_ns) / 1'000'000);
    std::string spanset = R"({"spans":[)";
    for (size_t k = 0; k < matched.size() && k < static_cast<size_t>(std::max<int64_t>(*spss, 0));
         ++k) {
      const model::Span& span = *view.spans[matched[k]].span;
      if (k) spanset += ',';
      spanset += R"({"spanID":")" + HexEncode(span.span_id) + R"(","name":)";
      AppendJsonString(spanset, span.name);
      fmt::format_to(std::back_inserter(spanset),
                     R"(,"startTimeUnixNano":"{}","durationNanos":"{}","attributes":[)",
                     span.start_time_unix_nano,
                     span.end_time_unix_nano - span.start_time_unix_nano);
      bool first = true;
      for (const traceql::Field& f : shown) {
        traceql::Static v = traceql::FieldValue(f, view, matched[k]);
        if (v.type == traceql::Static::Type::kNil || f.scope == traceql::Field::Scope::kIntrinsic)
          continue;
        if (!first) spanset += ',';
        first = false;
        spanset += "{\"key\":";
        AppendJsonString(spanset, f.name);
        spanset += ",\"value\":";
        AppendStaticAsAnyValue(v, spanset);
        spanset += '}';
      }
      spanset += "]}";
    }
    fmt::format_to(std::back_inserter(spanset), R"(],"matched":{}}})", matched.size());
    body += R"(,"spanSet":)" + spanset + R"(,"spanSets":[)" + spanset + "]}";
  }
  fmt::format_to(std::back_inserter(body),
                 R"(],"metrics":{{"inspectedTraces":{},"inspectedSpans":"{}","completedJobs":1,)"
                 R"("totalJobs":1}}}})",
                 candidates.size(), inspected);
  resp = Response::Text(200, std::move(body), "application/json");
}

constexpr std::string_view kIntrinsicTags[] = {
    "duration",        "kind",   "name",          "rootName",
    "rootServiceName", "status", "statusMessage", "traceDuration"};

// Attribute keys of the newest spans in the window, by scope.
Status SampleTags(Store& store, const Window& w, std::set<std::string>& span_keys,
                  std::set<std::string>& resource_keys) {
  size_t n = 0;
  return store.ScanSpans({}, w.mint_ns, w.maxt_ns,
                         [&](const model::Resource& resource, const model::Span& span) {
                           for (const model::KeyValue& kv : span.attributes)
                             span_keys.insert(kv.key);
                           for (const model::KeyValue& kv : resource.attributes)
                             resource_keys.insert(kv.key);
                           return ++n < kTagSampleSpans;
                         });
}

void AppendStrings(const std::set<std::string>& values, std::string& out) {
  out += '[';
  bool first = true;
  for (const std::string& v : values) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, v);
  }
  out += ']';
}

}  // namespace

void RegisterTempoSearchRoutes(server::Router& router, const Services& services) {
  auto ready = [&services](auto fn) {
    return server::WhenReady<Store>(services, "the trace store is not open yet", std::move(fn));
  };
  router.HandleBlocking(Method::kGet, "/api/search", config::kScopeRead, ready(Search));
  auto tags = [](bool v2) {
    return [v2](const Request& req, Response& resp, Store& store) {
      Result<Window> w = TimeWindow(req, store);
      if (!w.ok()) return void(resp = TempoError(400, w.status().message()));
      std::set<std::string> span_keys, resource_keys;
      if (Status s = SampleTags(store, *w, span_keys, resource_keys); !s.ok())
        return void(resp = TempoError(500, s.message()));
      std::string scope = req.QueryParam("scope").value_or("");
      std::set<std::string> intrinsic(std::begin(kIntrinsicTags), std::end(kIntrinsicTags));
      std::string body;
      if (v2) {
        body = R"({"scopes":[)";
        bool first = true;
        for (const auto& [name, keys] :
             {std::pair{"resource", &resource_keys}, std::pair{"span", &span_keys},
              std::pair{"intrinsic", &intrinsic}}) {
          if (!scope.empty() && scope != "all" && scope != name) continue;
          if (!first) body += ',';
          first = false;
          body += fmt::format(R"({{"name":"{}","tags":)", name);
          AppendStrings(*keys, body);
          body += '}';
        }
        body += "]}";
      } else {
        std::set<std::string> all;
        if (scope.empty() || scope == "resource")
          all.insert(resource_keys.begin(), resource_keys.end());
        if (scope.empty() || scope == "span") all.insert(span_keys.begin(), span_keys.end());
        if (scope == "intrinsic") all = intrinsic;
        body = R"({"tagNames":)";
        AppendStrings(all, body);
        body += '}';
      }
      resp = Response::Text(200, std::move(body), "application/json");
    };
  };
  router.HandleBlocking(Method::kGet, "/api/search/tags", config::kScopeRead, ready(tags(false)));
  router.HandleBlocking(Method::kGet, "/api/v2/search/tags", config::kScopeRead, ready(tags(true)));
  auto values = [](bool v2) {
    return [v2](const Request& req, Response& resp, Store& store) {
      std::string_view prefix = v2 ? "/api/v2/search/tag/" : "/api/search/tag/";
      std::string_view rest = req.path().substr(prefix.size());
      if (!rest.ends_with("/values")) return void(resp = TempoError(404, "not found"));
      std::string tag;
      if (!UrlDecode(rest.substr(0, rest.size() - 7), tag, false) || tag.empty())
        return void(resp = TempoError(400, "invalid tag"));
      // v1 names an attribute (either scope); v2 a TraceQL field (span.x, resource.x, .x,
      // or an intrinsic).
      Result<traceql::Query> parsed = traceql::Parse("{ " + (v2 ? tag : "." + tag) + " != nil }");
      if (!parsed.ok()) return void(resp = TempoError(400, "invalid tag: " + tag));
      const traceql::Field field = parsed->spansets->filter->field;
      Result<Window> w = TimeWindow(req, store);
      if (!w.ok()) return void(resp = TempoError(400, w.status().message()));
      std::map<std::string, std::string> found;  // value -> type
      size_t n = 0;
      Status s = store.ScanSpans({}, w->mint_ns, w->maxt_ns,
                                 [&](const model::Resource& resource, const model::Span& span) {
                                   traceql::Trace view;
                                   view.spans.push_back({&span, &resource, -1});
                                   traceql::Static v = traceql::FieldValue(field, view, 0);
                                   std::string text, type;
                                   if (v.type == traceql::Static::Type::kString) {
                                     text = v.s;
                                     type = "string";
                                   } else if (v.type == traceql::Static::Type::kNumber ||
                                              v.type == traceql::Static::Type::kDuration) {
                                     text = fmt::format("{}", v.n);
                                     type = v.n == std::floor(v.n) ? "int" : "float";
                                   } else if (v.type == traceql::Static::Type::kBool) {
                                     text = v.b ? "true" : "false";
                                     type = "bool";
                                   } else if (v.type == traceql::Static::Type::kStatus) {
                                     text = v.code == 2 ? "error" : v.code == 1 ? "ok" : "unset";
                                     type = "keyword";
                                   } else if (v.type == traceql::Static::Type::kKind) {
                                     text = KindName(v.code);
                                     type = "keyword";
                                   }
                                   if (!type.empty()) found.emplace(text, type);
                                   return ++n < kTagSampleSpans && found.size() < 1000;
                                 });
      if (!s.ok()) return void(resp = TempoError(500, s.message()));
      std::string body = R"({"tagValues":[)";
      bool first = true;
      for (const auto& [value, type] : found) {
        if (!first) body += ',';
        first = false;
        if (v2) {
          body += R"({"type":")" + type + R"(","value":)";
          AppendJsonString(body, value);
          body += '}';
        } else {
          AppendJsonString(body, value);
        }
      }
      body += "]}";
      resp = Response::Text(200, std::move(body), "application/json");
    };
  };
  router.HandlePrefix(Method::kGet, "/api/search/tag/", config::kScopeRead, ready(values(false)),
                      "/api/search/tag/*/values", server::Router::Runs::kBlocking);
  router.HandlePrefix(Method::kGet, "/api/v2/search/tag/", config::kScopeRead, ready(values(true)),
                      "/api/v2/search/tag/*/values", server::Router::Runs::kBlocking);
}

}  // namespace pharos::traces
