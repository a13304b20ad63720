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
#include "logs/http.h"
#include "logs/logs.h"
#include "logs/push.h"
#include "promql/promql.h"

namespace pharos::logs {
namespace {

using server::Method;
using server::Request;
using server::Response;

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
  if (Status s = CheckQueryLength(range); !s.ok()) return void(resp = LokiError(400, s.message()));
  params.start_ns = range.start_ns;
  params.end_ns = instant && log_query ? range.end_ns + 1 : range.end_ns;
  if (!instant && !log_query) {
    Result<int64_t> step = RangeStep(req, range);
    if (!step.ok()) return void(resp = LokiError(400, step.status().message()));
    params.step_ns = *step;
  }
  Result<uint64_t> limit = ParseLimit(req, params.limit);
  if (!limit.ok()) return void(resp = LokiError(400, limit.status().message()));
  params.limit = *limit;
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
  options.max_bytes_read = store.max_query_bytes_read();
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
    case logql::ResultType::kStreams:
      AppendStreamsJson(body, result->streams, params.categorize_labels);
      break;
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

}  // namespace

void RegisterRoutes(server::Router& router, const Services& services, selfmon::Registry& registry) {
  auto metrics = std::make_shared<Metrics>(registry);
  // Every route needs the store: 503 with Retry-After until it is published.
  auto ready = [&services](auto fn) { return WhenStoreReady(services, std::move(fn)); };
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
  // Needs no store: the query in canonical form (logql::FormatQuery).
  for (Method m : {Method::kGet, Method::kPost}) {
    router.Handle(m, "/loki/api/v1/format_query", config::kScopeRead,
                  [](const Request& req, Response& resp) {
                    std::optional<std::string> text = req.FormValue("query");
                    if (!text || text->empty())
                      return void(resp = LokiError(400, "query is required"));
                    Result<std::string> formatted = logql::FormatQuery(*text);
                    if (!formatted.ok())
                      return void(resp = LokiError(400, formatted.status().message()));
                    std::string body = R"({"status":"success","data":)";
                    AppendJsonString(body, *formatted);
                    body += '}';
                    resp = Response::Text(200, std::move(body), "application/json");
                  });
  }
  RegisterIndexRoutes(router, services);
  RegisterTailRoute(router, services);
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
