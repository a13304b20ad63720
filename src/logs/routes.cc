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
  std::vector<colstore::StreamInput> batch;
  for (const PushStream& ps : push.streams) batch.push_back({ps.labels, ps.records});
  colstore::AppendResult result;
  Status s = store.records().Append(batch, result);
  metrics.lines.WithLabels({"stored"}).Inc(static_cast<double>(result.accepted));
  metrics.lines.WithLabels({"refused"}).Inc(static_cast<double>(result.rejected));
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

// Runs a log query over [start, end] and answers Loki's "streams" result.
void LogQueryRange(const Request& req, Response& resp, Store& store, bool instant) {
  auto started = std::chrono::steady_clock::now();
  std::optional<std::string> text = req.FormValue("query");
  if (!text || text->empty()) return void(resp = LokiError(400, "query is required"));
  Result<LogQuery> q = ParseLogQuery(*text);
  if (!q.ok()) return void(resp = LokiError(400, q.status().message()));
  Range range;
  if (instant) {
    range.end_ns = UnixNowMs() * 1'000'000;
    if (auto v = req.FormValue("time"); v && !v->empty()) {
      Result<int64_t> t = ParseLokiTime(*v);
      if (!t.ok())
        return void(resp = LokiError(400, fmt::format("invalid time: {}", t.status().message())));
      range.end_ns = *t;
    }
    range.start_ns = range.end_ns - 3'600'000'000'000LL;
  } else if (Status s = ParseRange(req, range); !s.ok()) {
    return void(resp = LokiError(400, s.message()));
  }
  uint64_t limit = 100;
  if (auto v = req.FormValue("limit"); v && !v->empty()) {
    char* end = nullptr;
    unsigned long long n = std::strtoull(v->c_str(), &end, 10);
    if (*end != '\0' || n == 0)
      return void(resp = LokiError(400, "invalid limit: want a positive integer"));
    if (n > kMaxLimit)
      return void(resp = LokiError(400, fmt::format("max entries limit per query exceeded, limit > "
                                                    "max_entries_limit ({} > {})",
                                                    n, kMaxLimit)));
    limit = n;
  }
  std::string direction = req.FormValue("direction").value_or("backward");
  if (direction != "backward" && direction != "forward")
    return void(resp = LokiError(400, "invalid direction: want forward or backward"));

  colstore::ScanPlan plan;
  plan.mint_ns = range.start_ns;
  plan.maxt_ns = range.end_ns - (instant ? 0 : 1);  // Loki's end is exclusive for ranges
  plan.streams = q->selector;
  plan.backward = direction == "backward";
  plan.columns = {kLineColumn};
  std::vector<const LineFilter*> regexes;
  for (const LineFilter& f : q->filters) {
    if (f.op == LineFilter::Op::kContains || f.op == LineFilter::Op::kNotContains) {
      plan.filters.push_back({kLineColumn,
                              f.op == LineFilter::Op::kContains
                                  ? colstore::Filter::Op::kContains
                                  : colstore::Filter::Op::kNotContains,
                              colstore::Value::String(f.text)});
    } else {
      regexes.push_back(&f);
    }
  }
  // Rows come in time order across streams; group them per stream in that order.
  std::map<model::Labels, std::string, decltype(&model::LabelsLess)> values(&model::LabelsLess);
  uint64_t returned = 0, bytes = 0;
  Result<colstore::ScanStats> stats = store.records().Scan(plan, [&](const colstore::Row& row) {
    std::string_view line;
    for (const colstore::Column& c : row.columns)
      if (c.name == kLineColumn) line = c.value.s;
    for (const LineFilter* f : regexes)
      if (!f->Matches(line)) return true;
    std::string& out = values[*row.stream];
    if (!out.empty()) out += ',';
    out += "[\"";
    out += std::to_string(row.time_ns);
    out += "\",";
    AppendJsonString(out, line);
    out += ']';
    bytes += line.size();
    return ++returned < limit;
  });
  if (!stats.ok()) return void(resp = LokiError(500, stats.status().message()));
  std::string body = R"({"status":"success","data":{"resultType":"streams","result":[)";
  bool first = true;
  for (const auto& [labels, vals] : values) {
    if (!first) body += ',';
    first = false;
    body += R"({"stream":)";
    model::AppendLabelsJson(body, labels);
    body += R"(,"values":[)";
    body += vals;
    body += "]}";
  }
  body += "],";
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  AppendStatsJson(body, stats->rows_scanned, bytes, seconds);
  body += "}}";
  resp = Response::Text(200, std::move(body), "application/json");
}

// The matchers of `query` or match[] (series), none when absent.
Status SelectorParams(const Request& req, std::vector<std::vector<model::Matcher>>& sets) {
  std::vector<std::string> texts = req.FormValues("match[]");
  if (auto q = req.FormValue("query"); q && !q->empty()) texts.push_back(*q);
  for (const std::string& t : texts) {
    Result<LogQuery> q = ParseLogQuery(t);
    if (!q.ok()) return q.status();
    sets.push_back(std::move(q->selector));
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

Result<std::unique_ptr<Store>> Store::Open(const Options& options, selfmon::Registry& registry) {
  colstore::Options co;
  co.dir = options.dir;
  co.env = options.env;
  co.name = "logs";
  co.retention = options.retention;
  co.max_bytes = options.max_bytes;
  co.limits = options.limits;
  Result<std::unique_ptr<colstore::Store>> records = colstore::Store::Open(co, registry);
  if (!records.ok()) return records.status();
  auto store = std::unique_ptr<Store>(new Store());
  store->records_ = std::move(records).value();
  return store;
}

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
                            LogQueryRange(req, resp, store, false);
                          }));
    router.HandleBlocking(m, "/loki/api/v1/query", config::kScopeRead,
                          ready([](const Request& req, Response& resp, Store& store) {
                            LogQueryRange(req, resp, store, true);
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
