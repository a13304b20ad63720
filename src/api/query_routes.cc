// Prometheus's query API: /api/v1/query, /api/v1/query_range, /api/v1/format_query,
// /api/v1/parse_query, /api/v1/metadata, /api/v1/status/runtimeinfo and /status/flags.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "api/api.h"
#include "common/log.h"
#include "common/strings.h"
#include "common/units.h"
#include "promql/promql.h"

namespace pharos::api {

using server::Method;
using server::Request;
using server::Response;

namespace {

// Timestamps as Prometheus writes them: seconds with up to millisecond precision.
void AppendTimestamp(std::string& out, int64_t ms) {
  uint64_t abs = ms < 0 ? static_cast<uint64_t>(-(ms + 1)) + 1 : static_cast<uint64_t>(ms);
  char buf[32];
  char* p = buf;
  if (ms < 0) *p++ = '-';
  p = std::to_chars(p, buf + sizeof(buf), abs / 1000).ptr;
  if (uint64_t frac = abs % 1000) {
    *p++ = '.';
    *p++ = static_cast<char>('0' + frac / 100);
    if (frac % 100) {
      *p++ = static_cast<char>('0' + frac / 10 % 10);
      if (frac % 10) *p++ = static_cast<char>('0' + frac % 10);
    }
  }
  out.append(buf, p);
}

// Values as strings, as Go's strconv.FormatFloat(v, 'f', -1, 64), and "NaN", "+Inf", "-Inf".
void AppendValue(std::string& out, double v) {
  out += '"';
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[400];
    auto res = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
    out.append(buf, res.ptr);
  }
  out += '"';
}

void AppendPoint(std::string& out, int64_t t, double v) {
  out += '[';
  AppendTimestamp(out, t);
  out += ',';
  AppendValue(out, v);
  out += ']';
}

void AppendAnnotations(std::string& out, const promql::QueryResult& r) {
  auto list = [&](std::string_view key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    out += ",\"";
    out += key;
    out += "\":[";
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += ',';
      AppendJsonString(out, items[i]);
    }
    out += ']';
  };
  list("warnings", r.warnings);
  list("infos", r.infos);
}

// A large answer is written in parts of about 1 MiB. Growing one string by doubling copied
// it over and over, and one allocation of its whole size (20 MB) is mapped and unmapped by
// the allocator on every query, a page fault per 4 KiB: half a large query's time here.
constexpr size_t kPartBytes = 1 << 20;

void StartPart(std::string& out, size_t estimate) {
  out.clear();
  out.reserve(std::min(estimate, kPartBytes + 64 * 1024));
}

// Moves the filled part to `parts` and starts the next.
void SpillIfFull(std::string& out, std::vector<std::string>& parts, size_t estimate) {
  if (out.size() < kPartBytes) return;
  parts.push_back(std::move(out));
  out = std::string();
  StartPart(out, estimate);
}

// The answer: `parts` then `out` (where the caller appends the rest).
void RenderResult(const promql::QueryResult& r, size_t limit, bool& truncated,
                  std::vector<std::string>& parts, std::string& out) {
  // At most about 48 bytes a point and 64 a label.
  size_t estimate = 256;
  for (const promql::SeriesResult& s : r.series)
    estimate += 64 * (s.labels.size() + 1) + 48 * s.points.size();
  StartPart(out, estimate);
  out += R"({"status":"success","data":{"resultType":)";
  truncated = false;
  switch (r.type) {
    case promql::ValueType::kScalar:
      out += R"("scalar","result":)";
      AppendPoint(out, r.t, r.scalar);
      break;
    case promql::ValueType::kString:
      out += R"("string","result":[)";
      AppendTimestamp(out, r.t);
      out += ',';
      AppendJsonString(out, r.string_value);
      out += ']';
      break;
    case promql::ValueType::kVector:
    case promql::ValueType::kMatrix: {
      bool vector = r.type == promql::ValueType::kVector;
      out += vector ? R"("vector","result":[)" : R"("matrix","result":[)";
      size_t n = r.series.size();
      if (limit > 0 && n > limit) {
        n = limit;
        truncated = true;
      }
      for (size_t i = 0; i < n; ++i) {
        const promql::SeriesResult& s = r.series[i];
        if (i) out += ',';
        out += R"({"metric":)";
        model::AppendLabelsJson(out, s.labels);
        if (vector) {
          out += R"(,"value":)";
          AppendPoint(out, s.points[0].t, s.points[0].v);
        } else {
          out += R"(,"values":[)";
          for (size_t k = 0; k < s.points.size(); ++k) {
            if (k) out += ',';
            AppendPoint(out, s.points[k].t, s.points[k].v);
            if ((k & 63) == 63) SpillIfFull(out, parts, estimate);
          }
          out += ']';
        }
        out += '}';
        SpillIfFull(out, parts, estimate);
      }
      out += ']';
      break;
    }
    default: out += R"("vector","result":[])";
  }
  out += '}';
}

// Prometheus's errors for query failures: parse errors are bad_data; evaluation errors,
// including the sample limit, are execution (422).
struct ErrorKind {
  int http_status;
  std::string_view type;
};

ErrorKind QueryErrorKind(StatusCode code) {
  switch (code) {
    case StatusCode::kInvalidArgument: return {400, "bad_data"};
    case StatusCode::kFailedPrecondition:
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnimplemented: return {422, "execution"};
    case StatusCode::kDeadlineExceeded: return {503, "timeout"};
    case StatusCode::kCancelled: return {499, "canceled"};
    case StatusCode::kUnavailable: return {503, "unavailable"};
    default: return {500, "internal"};
  }
}

// A bad query names the parameter, as Prometheus's API does.
Response QueryError(const Status& s) {
  ErrorKind kind = QueryErrorKind(s.code());
  if (s.code() == StatusCode::kInvalidArgument) {
    return Response::Error(kind.http_status, kind.type,
                           fmt::format("invalid parameter \"query\": {}", s.message()));
  }
  return Response::Error(kind.http_status, kind.type, s.message());
}

// The query parameter parsed, for the endpoints that only parse.
Result<promql::ExprPtr> ParseQueryParam(const Request& req) {
  auto q = req.FormValue("query");
  return promql::ParseExpr(q ? *q : "");
}

Status ParseTime(const Request& req, std::string_view name, int64_t default_ms, int64_t& out) {
  auto v = req.FormValue(name);
  if (!v || v->empty()) {
    out = default_ms;
    return Status::Ok();
  }
  Result<int64_t> t = ParseTimestampMs(*v);
  if (!t.ok()) {
    return InvalidArgument(fmt::format(
        "invalid parameter \"{}\": cannot parse \"{}\" to a valid timestamp", name, *v));
  }
  out = *t;
  return Status::Ok();
}

// Every vector selector of an expression (matrix selectors' and subqueries' included).
void CollectSelectors(const promql::Expr& e, std::vector<const promql::VectorSelector*>& out) {
  using K = promql::NodeKind;
  switch (e.kind) {
    case K::kVectorSelector: out.push_back(static_cast<const promql::VectorSelector*>(&e)); return;
    case K::kMatrixSelector:
      out.push_back(static_cast<const promql::MatrixSelector&>(e).selector.get());
      return;
    case K::kSubquery:
      CollectSelectors(*static_cast<const promql::SubqueryExpr&>(e).expr, out);
      return;
    case K::kCall:
      for (const auto& a : static_cast<const promql::CallExpr&>(e).args) CollectSelectors(*a, out);
      return;
    case K::kAggregate: {
      const auto& a = static_cast<const promql::AggregateExpr&>(e);
      CollectSelectors(*a.expr, out);
      if (a.param) CollectSelectors(*a.param, out);
      return;
    }
    case K::kBinary: {
      const auto& b = static_cast<const promql::BinaryExpr&>(e);
      CollectSelectors(*b.lhs, out);
      CollectSelectors(*b.rhs, out);
      return;
    }
    case K::kUnary: CollectSelectors(*static_cast<const promql::UnaryExpr&>(e).expr, out); return;
    case K::kParen: CollectSelectors(*static_cast<const promql::ParenExpr&>(e).expr, out); return;
    default: return;
  }
}

// Prometheus's /api/v1/query_exemplars: the exemplars in [start, end] of the series each
// selector of the query selects, by series.
void QueryExemplars(const Services& services, const Request& req, Response& resp) {
  Result<promql::ExprPtr> e = ParseQueryParam(req);
  if (!e.ok()) return void(resp = QueryError(e.status()));
  int64_t now = UnixNowMs(), start = 0, end = 0;
  Status s = ParseTime(req, "start", now - 3'600'000, start);
  if (s.ok()) s = ParseTime(req, "end", now, end);
  if (!s.ok()) return void(resp = Response::Error(400, "bad_data", s.message()));
  if (end < start)
    return void(resp = Response::Error(400, "bad_data",
                                       "end timestamp must not be before start timestamp"));
  tsdb::ExemplarStore* store = services.Get<tsdb::ExemplarStore>();
  std::vector<const promql::VectorSelector*> selectors;
  CollectSelectors(**e, selectors);
  std::map<std::string, tsdb::ExemplarStore::SeriesExemplars> found;
  for (const promql::VectorSelector* sel : selectors) {
    if (store == nullptr) break;
    for (auto& series : store->Select(sel->matchers, start, end))
      found.emplace(model::FormatLabels(series.series), std::move(series));
  }
  std::string data = "[";
  bool first = true;
  for (const auto& [key, series] : found) {
    if (!first) data += ',';
    first = false;
    data += R"({"seriesLabels":)";
    model::AppendLabelsJson(data, series.series);
    data += R"(,"exemplars":[)";
    for (size_t i = 0; i < series.exemplars.size(); ++i) {
      const model::Exemplar& x = series.exemplars[i];
      if (i) data += ',';
      data += R"({"labels":)";
      model::AppendLabelsJson(data, x.labels);
      fmt::format_to(std::back_inserter(data), R"(,"value":"{}","timestamp":{:.3f}}})", x.value,
                     static_cast<double>(x.t_ms) / 1000);
    }
    data += "]}";
  }
  resp = Response::JsonSuccess(data + "]");
}

// A duration as Prometheus's API takes it: seconds as a float, or "5m".
Status ParseDurationParam(const Request& req, std::string_view name, int64_t& out_ms) {
  auto v = req.FormValue(name);
  if (!v || v->empty()) return Status::Ok();
  char* end = nullptr;
  double seconds = std::strtod(v->c_str(), &end);
  if (end == v->c_str() + v->size() && std::isfinite(seconds)) {
    if (seconds > 9.2e15) {
      return InvalidArgument(fmt::format(
          "invalid parameter \"{}\": cannot parse \"{}\" to a valid duration. It overflows "
          "int64",
          name, *v));
    }
    out_ms = std::llround(seconds * 1000);
    return Status::Ok();
  }
  Result<Duration> d = ParseDuration(*v);
  if (!d.ok()) {
    return InvalidArgument(
        fmt::format("invalid parameter \"{}\": cannot parse \"{}\" to a valid duration", name, *v));
  }
  out_ms = d->count();
  return Status::Ok();
}

Status ParseQueryParams(const Request& req, std::string& query, promql::QueryParams& params,
                        size_t& limit) {
  auto q = req.FormValue("query");
  query = q ? *q : "";
  int64_t timeout_ms = 0;
  PHAROS_RETURN_IF_ERROR(ParseDurationParam(req, "timeout", timeout_ms));
  params.timeout = std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0));
  int64_t lookback = 0;
  PHAROS_RETURN_IF_ERROR(ParseDurationParam(req, "lookback_delta", lookback));
  params.lookback_delta_ms = std::max<int64_t>(lookback, 0);
  limit = 0;
  if (auto l = req.FormValue("limit"); l && !l->empty()) {
    char* end = nullptr;
    int64_t n = std::strtoll(l->c_str(), &end, 10);
    if (*end != '\0' || n < 0) {
      return InvalidArgument("invalid parameter \"limit\": must be a non-negative integer");
    }
    limit = static_cast<size_t>(n);
  }
  return Status::Ok();
}

Response Answer(Result<promql::QueryResult>& r, size_t limit) {
  if (!r.ok()) return QueryError(r.status());
  bool truncated = false;
  std::vector<std::string> parts;
  std::string last;
  RenderResult(*r, limit, truncated, parts, last);
  if (truncated) {
    r->warnings.push_back("results truncated due to limit");
  }
  AppendAnnotations(last, *r);
  last += '}';
  Response resp;
  if (parts.empty()) {
    resp.body = std::move(last);
    return resp;
  }
  resp.body = std::move(parts.front());
  for (size_t i = 1; i < parts.size(); ++i) resp.more_body.push_back(std::move(parts[i]));
  resp.more_body.push_back(std::move(last));
  return resp;
}

struct QueryMetrics {
  explicit QueryMetrics(selfmon::Registry& r)
      : duration(r.AddHistogram("pharos_query_duration_seconds",
                                "PromQL query latency, parse to result, by query type.", {"type"},
                                {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60})),
        queries(r.AddCounter("pharos_queries_total",
                             "PromQL queries answered, by type and result (success or the "
                             "errorType returned).",
                             {"type", "result"})),
        samples(r.AddCounter("pharos_query_samples_loaded_total",
                             "Samples read from the store by PromQL queries.")) {}
  selfmon::Family<selfmon::Histogram>& duration;
  selfmon::Family<selfmon::Counter>& queries;
  selfmon::Family<selfmon::Counter>& samples;
};

struct QueryState {
  const Services* services;
  promql::Engine* engine;
  uint32_t max_points;
  std::chrono::milliseconds slow;
  std::unique_ptr<QueryMetrics> metrics;
};

// Counts and times a query; logs it when slower than query.log_slow (the text is the
// client's query; no credentials travel in it).
void Record(const QueryState& st, std::string_view type, std::string_view query,
            const Result<promql::QueryResult>& r, std::chrono::steady_clock::time_point start) {
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string_view result = r.ok() ? "success" : QueryErrorKind(r.status().code()).type;
  st.metrics->duration.WithLabels({type}).Observe(seconds);
  st.metrics->queries.WithLabels({type, result}).Inc();
  if (r.ok()) st.metrics->samples.WithLabels({}).Inc(static_cast<double>(r->samples_loaded));
  if (st.slow.count() > 0 && seconds * 1000 >= static_cast<double>(st.slow.count())) {
    Log(LogLevel::kWarn, "slow query",
        {{"type", type},
         {"query", query},
         {"seconds", seconds},
         {"result", result},
         {"samples", r.ok() ? r->samples_loaded : uint64_t{0}}});
  }
}

tsdb::Db* ReadyDb(const QueryState& st, Response& resp) {
  tsdb::Db* d = st.services->Get<tsdb::Db>();
  if (!d) resp = server::NotReady("storage is recovering; retry shortly");
  return d;
}

void InstantQuery(const QueryState& st, const Request& req, Response& resp) {
  auto start = std::chrono::steady_clock::now();
  tsdb::Db* db = ReadyDb(st, resp);
  if (!db) return;
  std::string query;
  promql::QueryParams params;
  size_t limit;
  int64_t t;
  Status s = ParseQueryParams(req, query, params, limit);
  if (s.ok()) s = ParseTime(req, "time", db->NowMs(), t);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  Result<promql::QueryResult> r = st.engine->Instant(*db, query, t, params);
  resp = Answer(r, limit);
  Record(st, "instant", query, r, start);
}

void RangeQuery(const QueryState& st, const Request& req, Response& resp) {
  auto begin = std::chrono::steady_clock::now();
  tsdb::Db* db = ReadyDb(st, resp);
  if (!db) return;
  std::string query;
  promql::QueryParams params;
  size_t limit;
  int64_t start = 0, end = 0, step = 0;
  Status s = ParseQueryParams(req, query, params, limit);
  if (s.ok() && !req.FormValue("start"))
    s = InvalidArgument(
        "invalid parameter \"start\": "
        "missing");
  if (s.ok() && !req.FormValue("end")) s = InvalidArgument("invalid parameter \"end\": missing");
  if (s.ok()) s = ParseTime(req, "start", 0, start);
  if (s.ok()) s = ParseTime(req, "end", 0, end);
  if (s.ok() && end < start) {
    s = InvalidArgument("invalid parameter \"end\": end timestamp must not be before start time");
  }
  if (s.ok()) {
    if (!req.FormValue("step")) {
      s = InvalidArgument("invalid parameter \"step\": missing");
    } else {
      s = ParseDurationParam(req, "step", step);
    }
  }
  if (s.ok() && step <= 0) {
    s = InvalidArgument(
        "invalid parameter \"step\": zero or negative query resolution step "
        "widths are not accepted. Try a positive integer");
  }
  if (s.ok() && (end - start) / step > static_cast<int64_t>(st.max_points)) {
    s =
        InvalidArgument(fmt::format("exceeded maximum resolution of {} points per timeseries. "
                                    "Try decreasing the query resolution (?step=XX)",
                                    st.max_points));
  }
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  Result<promql::QueryResult> r = st.engine->Range(*db, query, start, end, step, params);
  resp = Answer(r, limit);
  Record(st, "range", query, r, begin);
}

void FormatQuery(const Request& req, Response& resp) {
  Result<promql::ExprPtr> e = ParseQueryParam(req);
  if (!e.ok()) {
    resp = QueryError(e.status());
    return;
  }
  std::string data;
  AppendJsonString(data, promql::Format(**e));
  resp = Response::JsonSuccess(data);
}

// The syntax tree as JSON, in the shape of Prometheus's parse_query (used by its UI's
// tree view): {"type": ..., and the fields of each node}.
void AppendTree(std::string& out, const promql::Expr& e) {
  using promql::NodeKind;
  auto key = [&](std::string_view k) {
    out += ",\"";
    out += k;
    out += "\":";
  };
  switch (e.kind) {
    case NodeKind::kNumber:
      out += R"({"type":"numberLiteral","val":)";
      AppendValue(out, static_cast<const promql::NumberLiteral&>(e).value);
      break;
    case NodeKind::kString:
      out += R"({"type":"stringLiteral","val":)";
      AppendJsonString(out, static_cast<const promql::StringLiteral&>(e).value);
      break;
    case NodeKind::kVectorSelector:
    case NodeKind::kMatrixSelector: {
      const promql::VectorSelector* vs =
          e.kind == NodeKind::kMatrixSelector
              ? static_cast<const promql::MatrixSelector&>(e).selector.get()
              : &static_cast<const promql::VectorSelector&>(e);
      if (e.kind == NodeKind::kMatrixSelector) {
        out += R"({"type":"matrixSelector","range":)";
        fmt::format_to(std::back_inserter(out), "{}",
                       static_cast<const promql::MatrixSelector&>(e).range_ms);
        key("vectorSelector");
      }
      out += R"({"type":"vectorSelector","name":)";
      AppendJsonString(out, vs->name);
      key("offset");
      fmt::format_to(std::back_inserter(out), "{}", vs->time.offset_ms);
      key("matchers");
      out += '[';
      for (size_t i = 0; i < vs->matchers.size(); ++i) {
        if (i) out += ',';
        static const char* kTypes[] = {"=", "!=", "=~", "!~"};
        out += R"({"name":)";
        AppendJsonString(out, vs->matchers[i].name());
        out += R"(,"type":)";
        AppendJsonString(out, kTypes[static_cast<int>(vs->matchers[i].type())]);
        out += R"(,"value":)";
        AppendJsonString(out, vs->matchers[i].value());
        out += '}';
      }
      out += ']';
      if (e.kind == NodeKind::kMatrixSelector) out += '}';
      break;
    }
    case NodeKind::kSubquery: {
      const auto& sq = static_cast<const promql::SubqueryExpr&>(e);
      out += R"({"type":"subquery","range":)";
      fmt::format_to(std::back_inserter(out), "{},\"step\":{},\"offset\":{}", sq.range_ms,
                     sq.step_ms, sq.time.offset_ms);
      key("expr");
      AppendTree(out, *sq.expr);
      break;
    }
    case NodeKind::kCall: {
      const auto& c = static_cast<const promql::CallExpr&>(e);
      out += R"({"type":"call","func":{"name":)";
      AppendJsonString(out, promql::FunctionName(c));
      out += R"(,"returnType":)";
      AppendJsonString(out, promql::ValueTypeName(promql::TypeOf(c)));
      out += "},\"args\":[";
      for (size_t i = 0; i < c.args.size(); ++i) {
        if (i) out += ',';
        AppendTree(out, *c.args[i]);
      }
      out += ']';
      break;
    }
    case NodeKind::kAggregate: {
      const auto& a = static_cast<const promql::AggregateExpr&>(e);
      out += R"({"type":"aggregation","op":)";
      AppendJsonString(out, promql::AggOpName(a.op));
      key("grouping");
      out += '[';
      for (size_t i = 0; i < a.grouping.size(); ++i) {
        if (i) out += ',';
        AppendJsonString(out, a.grouping[i]);
      }
      out += ']';
      key("without");
      out += a.without ? "true" : "false";
      key("param");
      if (a.param) {
        AppendTree(out, *a.param);
      } else {
        out += "null";
      }
      key("expr");
      AppendTree(out, *a.expr);
      break;
    }
    case NodeKind::kBinary: {
      const auto& b = static_cast<const promql::BinaryExpr&>(e);
      out += R"({"type":"binaryExpr","op":)";
      AppendJsonString(out, promql::BinOpName(b.op));
      key("bool");
      out += b.return_bool ? "true" : "false";
      key("lhs");
      AppendTree(out, *b.lhs);
      key("rhs");
      AppendTree(out, *b.rhs);
      break;
    }
    case NodeKind::kUnary: {
      const auto& u = static_cast<const promql::UnaryExpr&>(e);
      out += R"({"type":"unaryExpr","op":)";
      out += u.negate ? "\"-\"" : "\"+\"";
      key("expr");
      AppendTree(out, *u.expr);
      break;
    }
    case NodeKind::kParen:
      out += R"({"type":"parenExpr")";
      key("expr");
      AppendTree(out, *static_cast<const promql::ParenExpr&>(e).expr);
      break;
    default: out += R"({"type":"unknown")";
  }
  out += '}';
}

void ParseQuery(const Request& req, Response& resp) {
  Result<promql::ExprPtr> e = ParseQueryParam(req);
  if (!e.ok()) {
    resp = QueryError(e.status());
    return;
  }
  std::string data;
  AppendTree(data, **e);
  resp = Response::JsonSuccess(data);
}

const char* TypeName(ingest::MetricType t) {
  switch (t) {
    case ingest::MetricType::kCounter: return "counter";
    case ingest::MetricType::kGauge: return "gauge";
    case ingest::MetricType::kHistogram: return "histogram";
    case ingest::MetricType::kGaugeHistogram: return "gaugehistogram";
    case ingest::MetricType::kSummary: return "summary";
    case ingest::MetricType::kInfo: return "info";
    case ingest::MetricType::kStateSet: return "stateset";
    default: return "unknown";
  }
}

void Metadata(const Services& services, const Request& req, Response& resp) {
  auto parse_limit = [&](std::string_view name, int64_t& out) -> Status {
    auto v = req.FormValue(name);
    out = -1;
    if (!v || v->empty()) return Status::Ok();
    char* end = nullptr;
    out = std::strtoll(v->c_str(), &end, 10);
    if (*end != '\0') return InvalidArgument(fmt::format("invalid parameter \"{}\"", name));
    return Status::Ok();
  };
  int64_t limit, per_metric;
  Status s = parse_limit("limit", limit);
  if (s.ok()) s = parse_limit("limit_per_metric", per_metric);
  if (!s.ok()) {
    resp = Response::FromStatus(s);
    return;
  }
  auto metric = req.FormValue("metric");
  // name -> distinct (type, help, unit), in name order as Prometheus's map marshals.
  std::map<std::string, std::set<std::tuple<std::string, std::string, std::string>>> all;
  if (scrape::Scraper* sc = services.Get<scrape::Scraper>()) {
    for (const ingest::FamilyMetadata& m : sc->Metadata()) {
      if (metric && !metric->empty() && m.name != *metric) continue;
      all[m.name].insert({TypeName(m.type), m.help, m.unit});
    }
  }
  std::string data = "{";
  int64_t n = 0;
  for (const auto& [name, entries] : all) {
    if (limit >= 0 && n >= limit) break;
    if (n++) data += ',';
    AppendJsonString(data, name);
    data += ":[";
    int64_t k = 0;
    for (const auto& [type, help, unit] : entries) {
      if (per_metric >= 0 && k >= per_metric) break;
      if (k++) data += ',';
      data += R"({"type":)";
      AppendJsonString(data, type);
      data += R"(,"help":)";
      AppendJsonString(data, help);
      data += R"(,"unit":)";
      AppendJsonString(data, unit);
      data += '}';
    }
    data += ']';
  }
  data += '}';
  resp = Response::JsonSuccess(data);
}

}  // namespace

void RegisterQueryRoutes(server::Router& router, const Services& services, promql::Engine& engine,
                         const config::Config& config, selfmon::Registry& registry) {
  auto st = std::make_shared<QueryState>(
      QueryState{&services, &engine, config.query.max_points_per_series,
                 std::chrono::duration_cast<std::chrono::milliseconds>(config.query.log_slow),
                 std::make_unique<QueryMetrics>(registry)});
  registry.AddCollector([&engine](selfmon::SampleWriter& w) {
    w.Family("pharos_queries_active", "PromQL queries evaluating now.",
             selfmon::MetricType::kGauge);
    w.Sample("pharos_queries_active", {}, engine.active_queries());
    w.Family("pharos_queries_queued", "PromQL queries waiting for a slot (query.max_concurrency).",
             selfmon::MetricType::kGauge);
    w.Sample("pharos_queries_queued", {}, engine.queued_queries());
  });
  for (Method m : {Method::kGet, Method::kPost}) {
    router.HandleBlocking(
        m, "/api/v1/query", config::kScopeRead,
        [st](const Request& req, Response& resp) { InstantQuery(*st, req, resp); });
    router.HandleBlocking(m, "/api/v1/query_range", config::kScopeRead,
                          [st](const Request& req, Response& resp) { RangeQuery(*st, req, resp); });
    router.Handle(m, "/api/v1/format_query", config::kScopeRead, FormatQuery);
    router.Handle(
        m, "/api/v1/query_exemplars", config::kScopeRead,
        [&services](const Request& req, Response& resp) { QueryExemplars(services, req, resp); });
    router.Handle(m, "/api/v1/parse_query", config::kScopeRead, ParseQuery);
  }
  router.Handle(Method::kGet, "/api/v1/metadata", config::kScopeRead,
                [&services](const Request& req, Response& resp) { Metadata(services, req, resp); });

  const auto start = std::chrono::system_clock::now();
  std::string start_time =
      fmt::format("{:%Y-%m-%dT%H:%M:%SZ}", std::chrono::floor<std::chrono::seconds>(start));
  std::string storage_retention = FormatDuration(config.storage.retention);
  router.Handle(Method::kGet, "/api/v1/status/runtimeinfo", config::kScopeRead,
                [start_time, storage_retention, &services](const Request&, Response& resp) {
                  char cwd[4096];
                  const char* dir = getcwd(cwd, sizeof(cwd)) ? cwd : "";
                  std::string data = R"({"startTime":)";
                  AppendJsonString(data, start_time);
                  data += R"(,"CWD":)";
                  AppendJsonString(data, dir);
                  data += fmt::format(
                      R"(,"reloadConfigSuccess":true,"lastConfigTime":"{}","corruptionCount":0,)"
                      R"("goroutineCount":0,"GOMAXPROCS":{},"GOGC":"","GODEBUG":"",)"
                      R"("storageRetention":"{}","serverReady":{}}})",
                      start_time, sysconf(_SC_NPROCESSORS_ONLN), storage_retention,
                      services.Get<tsdb::Db>() != nullptr ? "true" : "false");
                  resp = Response::JsonSuccess(data);
                });
  std::map<std::string, std::string> flags = {
      {"query.timeout", FormatDuration(config.query.timeout)},
      {"query.max-samples", std::to_string(config.query.max_samples)},
      {"query.max-concurrency", std::to_string(config.query.max_concurrency)},
      {"query.lookback-delta", FormatDuration(config.query.lookback_delta)},
      {"storage.tsdb.retention.time", storage_retention},
      {"storage.tsdb.path", config.storage.data_dir},
      {"web.listen-address", config.server.listen},
  };
  router.Handle(Method::kGet, "/api/v1/status/flags", config::kScopeRead,
                [flags](const Request&, Response& resp) {
                  std::string data = "{";
                  bool first = true;
                  for (const auto& [k, v] : flags) {
                    if (!first) data += ',';
                    first = false;
                    AppendJsonString(data, k);
                    data += ':';
                    AppendJsonString(data, v);
                  }
                  data += '}';
                  resp = Response::JsonSuccess(data);
                });
}

}  // namespace pharos::api
