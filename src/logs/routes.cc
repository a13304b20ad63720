// Loki's HTTP API on the log store: push, log queries, labels and series.
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "config/config.h"
#include "logs/logs.h"
#include "logs/push.h"
#include "promql/promql.h"

namespace pharos::logs {
namespace {

using server::Method;
using server::Request;
using server::Response;

constexpr std::string_view kNotReady = "the log store is recovering; retry shortly";
constexpr uint64_t kMaxLimit = 5000;  // Loki's max_entries_limit_per_query default

// Loki answers errors as plain text with the status code.
Response LokiError(int status, std::string_view message) {
  Response r = Response::Text(status, std::string(message) + "\n", "text/plain; charset=utf-8");
  return r;
}

struct Metrics {
  explicit Metrics(selfmon::Registry& r)
      : lines(r.AddCounter("pharos_logs_pushed_lines_total",
                           "Log lines received over Loki push, by outcome.", {"outcome"})),
        requests(r.AddCounter("pharos_logs_push_requests_total", "Loki push requests, by outcome.",
                              {"outcome"})) {}
  selfmon::Family<selfmon::Counter>& lines;
  selfmon::Family<selfmon::Counter>& requests;
};

// ---- push ----

void Push(const Request& req, Response& resp, Store& store, Metrics& metrics) {
  std::string_view type = req.Header("Content-Type").value_or("application/json");
  DecodedPush push;
  Status decoded;
  std::string raw;  // a snappy-decompressed protobuf body
  if (type.substr(0, 16) == "application/json") {
    thread_local simdjson::dom::parser parser;
    simdjson::padded_string body(req.body());
    simdjson::dom::element doc;
    if (auto error = parser.parse(body).get(doc)) {
      decoded = InvalidArgument(fmt::format("push body: {}", simdjson::error_message(error)));
    } else {
      decoded = DecodeJsonPush(doc, push);
    }
    // The decoded views point into the parser's string buffer (not into `body`): the
    // thread's parser keeps them until its next parse, after this request is answered.
  } else if (type.substr(0, 22) == "application/x-protobuf") {
    // Loki's clients send the protobuf snappy-compressed without a Content-Encoding.
    std::string_view body = req.body();
    if (!req.Header("Content-Encoding")) {
      decoded = server::DecodeBody("snappy", body, 64ULL << 20, raw);
      body = raw;
    }
    if (decoded.ok()) decoded = DecodeProtoPush(body, push);
  } else {
    metrics.requests.WithLabels({"unsupported"}).Inc();
    resp = LokiError(415, fmt::format("unsupported Content-Type \"{}\": Loki's push takes "
                                      "application/json or application/x-protobuf",
                                      type.substr(0, 64)));
    return;
  }
  if (!decoded.ok()) {
    metrics.requests.WithLabels({"invalid"}).Inc();
    resp = LokiError(400, decoded.message());
    return;
  }
  IngestResult result;
  Status s = store.Ingest(push.streams, result);
  metrics.lines.WithLabels({"stored"}).Inc(static_cast<double>(result.accepted));
  metrics.lines.WithLabels({"refused"}).Inc(static_cast<double>(result.rejected));
  if (s.code() == StatusCode::kResourceExhausted) {
    // Loki's backpressure: 429, and when to come back.
    metrics.requests.WithLabels({"rate_limited"}).Inc();
    resp = LokiError(429, s.message());
    resp.headers.emplace_back("Retry-After", std::to_string(std::max(1, result.retry_after_s)));
    return;
  }
  if (!s.ok()) {
    metrics.requests.WithLabels({"unavailable"}).Inc();
    resp = LokiError(503, s.message());
    resp.headers.emplace_back("Retry-After", "1");
    return;
  }
  if (result.rejected > 0) {
    // Loki answers 400 for a push with refused entries; the accepted ones are kept.
    metrics.requests.WithLabels({"partial"}).Inc();
    std::string message =
        fmt::format("{} of {} lines refused: ", result.rejected, result.rejected + result.accepted);
    for (size_t i = 0; i < result.errors.size(); ++i) message += (i ? "; " : "") + result.errors[i];
    resp = LokiError(400, message);
    return;
  }
  metrics.requests.WithLabels({"stored"}).Inc();
  resp = Response::Text(204, "", "text/plain");
}

// ---- queries ----

// Loki's time parameters: RFC 3339, nanoseconds (an integer of 16 digits or more), or
// seconds (with a fraction).
Result<int64_t> ParseLokiTime(std::string_view text) {
  bool integer = !text.empty() &&
                 std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (integer && text.size() >= 16 && text.size() <= 19) {
    int64_t ns = 0;
    for (char c : text) ns = ns * 10 + (c - '0');
    return ns;
  }
  Result<int64_t> ms = ParseTimestampMs(text);
  if (!ms.ok()) return ms.status();
  return *ms * 1'000'000;
}

struct Range {
  int64_t start_ns, end_ns;
};

Status ParseRange(const Request& req, Range& range) {
  int64_t now_ns = UnixNowMs() * 1'000'000;
  range.end_ns = now_ns;
  if (auto v = req.FormValue("end"); v && !v->empty()) {
    Result<int64_t> t = ParseLokiTime(*v);
    if (!t.ok()) return InvalidArgument(fmt::format("invalid end: {}", t.status().message()));
    range.end_ns = *t;
  }
  range.start_ns = range.end_ns - 3'600'000'000'000LL;
  if (auto v = req.FormValue("start"); v && !v->empty()) {
    Result<int64_t> t = ParseLokiTime(*v);
    if (!t.ok()) return InvalidArgument(fmt::format("invalid start: {}", t.status().message()));
    range.start_ns = *t;
  }
  if (range.end_ns < range.start_ns) return InvalidArgument("the query's end is before its start");
  return Status::Ok();
}

void AppendStatsJson(std::string& out, uint64_t lines, uint64_t bytes, double seconds) {
  fmt::format_to(
      std::back_inserter(out),
      R"("stats":{{"summary":{{"bytesProcessedPerSecond":{},"linesProcessedPerSecond":{},)"
      R"("totalBytesProcessed":{},"totalLinesProcessed":{},"execTime":{}}}}})",
      seconds > 0 ? static_cast<uint64_t>(static_cast<double>(bytes) / seconds) : 0,
      seconds > 0 ? static_cast<uint64_t>(static_cast<double>(lines) / seconds) : 0, bytes, lines,
      seconds);
}

// Seconds with up to millisecond precision, as Loki prints sample times (1700000000.5).
void AppendSampleTime(std::string& out, int64_t ns) {
  int64_t ms = ns / 1'000'000;
  fmt::format_to(std::back_inserter(out), "{}", ms / 1000);
  int64_t frac = ms % 1000;
  if (frac != 0) {
    std::string f = fmt::format("{:03d}", frac < 0 ? -frac : frac);
    while (f.back() == '0') f.pop_back();
    out += '.';
    out += f;
  }
}

void AppendSample(std::string& out, int64_t ns, double v) {
  out += '[';
  AppendSampleTime(out, ns);
  out += ",\"";
  out += promql::FormatFloat(v);
  out += "\"]";
}

int StatusFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kDeadlineExceeded: return 504;
    case StatusCode::kInternal:
    case StatusCode::kDataLoss:
    case StatusCode::kUnavailable: return 500;
    default: return 400;
  }
}

// The step of a range query: a duration ("15s") or seconds ("15", "0.5").
Result<int64_t> ParseStep(std::string_view text) {
  if (Result<Duration> d = ParseDuration(text); d.ok()) return d->count() * 1'000'000;
  char* end = nullptr;
  std::string copy(text);
  double seconds = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || !(seconds > 0) || seconds > 1e9)
    return InvalidArgument(
        fmt::format("invalid step \"{}\": want a duration or seconds", text.substr(0, 32)));
  return static_cast<int64_t>(seconds * 1e9);
}

constexpr int64_t kMaxQueryLengthNs = int64_t{721} * 3600 * 1'000'000'000;
constexpr int64_t kMaxPoints = 11'000;

// Runs a LogQL query: log queries answer "streams", metric queries "vector", "matrix" or
// "scalar", all with Loki's stats summary.
void Query(const Request& req, Response& resp, Store& store, bool instant) {
  auto started = std::chrono::steady_clock::now();
  std::optional<std::string> text = req.FormValue("query");
  if (!text || text->empty()) return void(resp = LokiError(400, "query is required"));
  Result<logql::ExprPtr> expr = logql::ParseExpr(*text);
  if (!expr.ok()) return void(resp = LokiError(400, expr.status().message()));
  bool log_query = (*expr)->kind == logql::NodeKind::kLog;
  logql::QueryParams params;
  Range range;
  if (instant) {
    range.end_ns = UnixNowMs() * 1'000'000;
    if (auto v = req.FormValue("time"); v && !v->empty()) {
      Result<int64_t> t = ParseLokiTime(*v);
      if (!t.ok())
        return void(resp = LokiError(400, fmt::format("invalid time: {}", t.status().message())));
      range.end_ns = *t;
    }
    range.start_ns = log_query ? range.end_ns - 3'600'000'000'000LL : range.end_ns;
    params.instant = !log_query;
  } else if (Status s = ParseRange(req, range); !s.ok()) {
    return void(resp = LokiError(400, s.message()));
  }
  if (range.end_ns - range.start_ns > kMaxQueryLengthNs)
    return void(
        resp = LokiError(400, fmt::format("the query time range exceeds the limit (query length: "
                                          "{}, limit: 721h0m0s)",
                                          FormatDuration(std::chrono::milliseconds(
                                              (range.end_ns - range.start_ns) / 1'000'000)))));
  params.start_ns = range.start_ns;
  params.end_ns = instant && log_query ? range.end_ns + 1 : range.end_ns;
  if (!instant && !log_query) {
    int64_t length = range.end_ns - range.start_ns;
    params.step_ns = std::max<int64_t>(length / 250 / 1'000'000'000 * 1'000'000'000, 1'000'000'000);
    if (auto v = req.FormValue("step"); v && !v->empty()) {
      Result<int64_t> step = ParseStep(*v);
      if (!step.ok()) return void(resp = LokiError(400, step.status().message()));
      params.step_ns = *step;
    }
    if (length / params.step_ns + 1 > kMaxPoints)
      return void(resp = LokiError(400,
                                   "exceeded maximum resolution of 11,000 points per "
                                   "timeseries. Try decreasing the query resolution "
                                   "(?step=XX)"));
  }
  if (auto v = req.FormValue("limit"); v && !v->empty()) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    if (*end != '\0' || n == 0)
      return void(resp = LokiError(400, "invalid limit: want a positive integer"));
    if (n > kMaxLimit)
      return void(resp = LokiError(400, fmt::format("max entries limit per query exceeded, limit > "
                                                    "max_entries_limit ({} > {})",
                                                    n, kMaxLimit)));
    params.limit = n;
  }
  std::string direction = req.FormValue("direction").value_or("backward");
  if (direction != "backward" && direction != "forward")
    return void(resp = LokiError(400, "invalid direction: want forward or backward"));
  params.backward = direction == "backward";
  // Grafana asks for labels by category; entries then carry their metadata and parsed labels.
  params.categorize_labels =
      req.Header("X-Loki-Response-Encoding-Flags").value_or("").find("categorize-labels") !=
      std::string_view::npos;

  logql::EngineOptions options;
  options.max_entries = kMaxLimit;
  logql::Engine engine(options);
  StoreSource source(store.records());
  Result<logql::QueryResult> result = engine.Query(source, **expr, params);
  if (!result.ok())
    return void(resp = LokiError(StatusFor(result.status()), result.status().message()));

  std::string body = R"({"status":"success","data":{"resultType":")";
  body += logql::ResultTypeName(result->type);
  body += R"(","result":)";
  uint64_t bytes = result->stats.bytes_read;
  switch (result->type) {
    case logql::ResultType::kStreams: {
      body += '[';
      for (size_t k = 0; k < result->streams.size(); ++k) {
        const logql::Stream& st = result->streams[k];
        if (k) body += ',';
        body += R"({"stream":)";
        model::AppendLabelsJson(body, st.labels);
        body += R"(,"values":[)";
        for (size_t e = 0; e < st.entries.size(); ++e) {
          if (e) body += ',';
          body += "[\"";
          body += std::to_string(st.entries[e].ts_ns);
          body += "\",";
          AppendJsonString(body, st.entries[e].line);
          if (params.categorize_labels) {
            const logql::StreamEntry& en = st.entries[e];
            body += ",{";
            if (!en.structured_metadata.empty()) {
              body += R"("structuredMetadata":)";
              model::AppendLabelsJson(body, en.structured_metadata);
            }
            if (!en.parsed.empty()) {
              if (!en.structured_metadata.empty()) body += ',';
              body += R"("parsed":)";
              model::AppendLabelsJson(body, en.parsed);
            }
            body += '}';
          }
          body += ']';
        }
        body += "]}";
      }
      body += ']';
      break;
    }
    case logql::ResultType::kScalar: AppendSample(body, result->scalar_t_ns, result->scalar); break;
    case logql::ResultType::kVector:
    case logql::ResultType::kMatrix: {
      bool vector = result->type == logql::ResultType::kVector;
      body += '[';
      for (size_t k = 0; k < result->series.size(); ++k) {
        const logql::Series& se = result->series[k];
        if (k) body += ',';
        body += R"({"metric":)";
        model::AppendLabelsJson(body, se.labels);
        body += vector ? R"(,"value":)" : R"(,"values":[)";
        for (size_t p = 0; p < se.samples.size(); ++p) {
          if (p) body += ',';
          AppendSample(body, se.samples[p].t_ns, se.samples[p].v);
        }
        if (!vector) body += ']';
        body += '}';
      }
      body += ']';
      break;
    }
  }
  body += ',';
  if (params.categorize_labels && result->type == logql::ResultType::kStreams)
    body += R"("encodingFlags":["categorize-labels"],)";
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  AppendStatsJson(body, result->stats.lines_read, bytes, seconds);
  body += "}}";
  resp = Response::Text(200, std::move(body), "application/json");
}

// The matchers of `query` or match[] (series), none when absent.
Status SelectorParams(const Request& req, std::vector<std::vector<model::Matcher>>& sets) {
  std::vector<std::string> texts = req.FormValues("match[]");
  if (auto q = req.FormValue("query"); q && !q->empty()) texts.push_back(*q);
  for (const std::string& t : texts) {
    Result<logql::ExprPtr> e = logql::ParseExpr(t);
    if (!e.ok()) return e.status();
    if ((*e)->kind != logql::NodeKind::kLog)
      return InvalidArgument("a series selector must be a stream selector, not a metric query");
    sets.push_back(static_cast<const logql::LogExpr&>(**e).selector.matchers);
  }
  return Status::Ok();
}

Result<std::vector<model::Labels>> MatchingStreams(const Request& req, Store& store) {
  Range range;
  PHAROS_RETURN_IF_ERROR(ParseRange(req, range));
  std::vector<std::vector<model::Matcher>> sets;
  PHAROS_RETURN_IF_ERROR(SelectorParams(req, sets));
  if (sets.empty()) sets.emplace_back();
  std::vector<model::Labels> all;
  for (const auto& matchers : sets) {
    Result<std::vector<model::Labels>> s =
        store.records().Streams(matchers, range.start_ns, range.end_ns);
    if (!s.ok()) return s.status();
    all.insert(all.end(), s->begin(), s->end());
  }
  std::sort(all.begin(), all.end(), model::LabelsLess);
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

void StringList(Response& resp, const std::vector<std::string>& items) {
  std::string body = R"({"status":"success","data":[)";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) body += ',';
    AppendJsonString(body, items[i]);
  }
  body += "]}";
  resp = Response::Text(200, std::move(body), "application/json");
}

}  // namespace

void RegisterRoutes(server::Router& router, const Services& services, selfmon::Registry& registry) {
  auto metrics = std::make_shared<Metrics>(registry);
  // Every route needs the store: 503 with Retry-After until it is published.
  auto ready = [&services](auto fn) {
    return server::WhenReady<Store>(services, std::string(kNotReady), std::move(fn));
  };
  router.HandleBlocking(Method::kPost, "/loki/api/v1/push", config::kScopeWrite,
                        ready([metrics](const Request& req, Response& resp, Store& store) {
                          Push(req, resp, store, *metrics);
                        }));
  for (Method m : {Method::kGet, Method::kPost}) {
    router.HandleBlocking(m, "/loki/api/v1/query_range", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Query(req, resp, store, false);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/query", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Query(req, resp, store, true);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/labels", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Result<std::vector<model::Labels>> streams =
                                MatchingStreams(req, store);
                            if (!streams.ok())
                              return void(resp = LokiError(400, streams.status().message()));
                            std::vector<std::string> names;
                            for (const auto& s : *streams)
                              for (const auto& l : s) names.push_back(l.name);
                            std::sort(names.begin(), names.end());
                            names.erase(std::unique(names.begin(), names.end()), names.end());
                            StringList(resp, names);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/series", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            Result<std::vector<model::Labels>> streams =
                                MatchingStreams(req, store);
                            if (!streams.ok())
                              return void(resp = LokiError(400, streams.status().message()));
                            std::string body = R"({"status":"success","data":[)";
                            for (size_t i = 0; i < streams->size(); ++i) {
                              if (i) body += ',';
                              model::AppendLabelsJson(body, (*streams)[i]);
                            }
                            body += "]}";
                            resp = Response::Text(200, std::move(body), "application/json");
                          }));
  }
  router.HandlePrefix(Method::kGet, "/loki/api/v1/label/", config::kScopeRead,
                      ready([](const Request& req, Response& resp, Store& store) {
                        std::string_view rest =
                            req.path().substr(std::string_view("/loki/api/v1/label/").size());
                        if (!rest.ends_with("/values"))
                          return void(resp = LokiError(404, "not found"));
                        std::string name(rest.substr(0, rest.size() - 7));
                        Result<std::vector<model::Labels>> streams = MatchingStreams(req, store);
                        if (!streams.ok())
                          return void(resp = LokiError(400, streams.status().message()));
                        std::vector<std::string> values;
                        for (const auto& s : *streams) {
                          std::string_view v = model::LabelValue(s, name);
                          if (!v.empty()) values.emplace_back(v);
                        }
                        std::sort(values.begin(), values.end());
                        values.erase(std::unique(values.begin(), values.end()), values.end());
                        StringList(resp, values);
                      }),
                      "/loki/api/v1/label/*/values", server::Router::Runs::kBlocking);
}

}  // namespace pharos::logs
