// Jaeger's query API (the one jaeger-query serves to the Jaeger UI and Grafana's Jaeger data
// source), in its JSON shapes, and the Tempo routes that share its paths.
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <map>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/units.h"
#include "traces/http.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

using server::Method;
using server::Request;
using server::Response;

constexpr int64_t kNsPerUs = 1000;
constexpr size_t kDefaultLimit = 100;  // jaeger-query's default
constexpr size_t kMaxLimit = 1500;

// Jaeger's envelope: {"data":<data>,"total":n,"limit":0,"offset":0,"errors":null}.
Response JaegerData(std::string data, size_t total) {
  return Response::Text(
      200,
      fmt::format(R"({{"data":{},"total":{},"limit":0,"offset":0,"errors":null}})", data, total),
      "application/json");
}

Response JaegerError(int status, std::string_view message) {
  std::string body = fmt::format(
      R"({{"data":null,"total":0,"limit":0,"offset":0,"errors":[{{"code":{},"msg":)", status);
  AppendJsonString(body, message);
  body += "}]}";
  return Response::Text(status, std::move(body), "application/json");
}

void AppendTag(std::string_view key, const model::AnyValue& v, std::string& out) {
  using Type = model::AnyValue::Type;
  out += "{\"key\":";
  AppendJsonString(out, key);
  switch (v.type) {
    case Type::kBool:
      out += v.b ? R"(,"type":"bool","value":true})" : R"(,"type":"bool","value":false})";
      return;
    case Type::kInt:
      fmt::format_to(std::back_inserter(out), R"(,"type":"int64","value":{}}})", v.i);
      return;
    case Type::kDouble:
      out += R"(,"type":"float64","value":)";
      v.AppendJson(out);
      out += '}';
      return;
    case Type::kBytes: out += R"(,"type":"binary","value":")" + Base64Encode(v.str) + "\"}"; return;
    default:
      out += R"(,"type":"string","value":)";
      AppendJsonString(out, v.ToText());
      out += '}';
  }
}

void AppendStringTag(std::string_view key, std::string_view value, std::string& out) {
  AppendTag(key, model::AnyValue::String(std::string(value)), out);
}

// One trace in Jaeger's JSON, as Jaeger shows OTLP spans: a process per resource, the
// parent as a CHILD_OF reference and links as FOLLOWS_FROM, events as logs, and kind,
// status, scope and trace state as tags.
void AppendJaegerTrace(std::string_view trace_hex, const Trace& trace, std::string& out) {
  out += R"({"traceID":")";
  out += trace_hex;
  out += R"(","spans":[)";
  bool first_span = true;
  std::string tags;
  for (size_t g = 0; g < trace.groups.size(); ++g) {
    for (const model::ScopeSpans& ss : trace.groups[g].scopes) {
      for (const model::Span& span : ss.spans) {
        if (!first_span) out += ',';
        first_span = false;
        out += R"({"traceID":")" + HexEncode(span.trace_id) + R"(","spanID":")" +
               HexEncode(span.span_id) + R"(","operationName":)";
        AppendJsonString(out, span.name);
        out += R"(,"references":[)";
        bool first_ref = true;
        if (!span.parent_span_id.empty()) {
          out += R"({"refType":"CHILD_OF","traceID":")" + HexEncode(span.trace_id) +
                 R"(","spanID":")" + HexEncode(span.parent_span_id) + "\"}";
          first_ref = false;
        }
        for (const model::SpanLink& link : span.links) {
          if (!first_ref) out += ',';
          first_ref = false;
          out += R"({"refType":"FOLLOWS_FROM","traceID":")" + HexEncode(link.trace_id) +
                 R"(","spanID":")" + HexEncode(link.span_id) + "\"}";
        }
        int64_t start = static_cast<int64_t>(span.start_time_unix_nano);
        int64_t end = static_cast<int64_t>(span.end_time_unix_nano);
        fmt::format_to(std::back_inserter(out),
                       R"(],"flags":{},"startTime":{},"duration":{},"tags":[)", span.flags & 0xff,
                       start / kNsPerUs, (end - start) / kNsPerUs);
        tags.clear();
        auto tag = [&](auto&&... args) {
          if (!tags.empty()) tags += ',';
          AppendTag(args..., tags);
        };
        auto text_tag = [&](std::string_view key, std::string_view value) {
          if (!tags.empty()) tags += ',';
          AppendStringTag(key, value, tags);
        };
        for (const model::KeyValue& kv : span.attributes) tag(kv.key, kv.value);
        if (!ss.scope.name.empty()) text_tag("otel.scope.name", ss.scope.name);
        if (!ss.scope.version.empty()) text_tag("otel.scope.version", ss.scope.version);
        if (span.kind != 0) text_tag("span.kind", KindName(span.kind));
        if (span.status_code == 1 || span.status_code == 2)
          text_tag("otel.status_code", span.status_code == 1 ? "OK" : "ERROR");
        if (!span.status_message.empty()) text_tag("otel.status_description", span.status_message);
        if (span.status_code == 2) {
          model::AnyValue yes;
          yes.type = model::AnyValue::Type::kBool;
          yes.b = true;
          tag("error", yes);
        }
        if (!span.trace_state.empty()) text_tag("w3c.tracestate", span.trace_state);
        out += tags;
        out += R"(],"logs":[)";
        for (size_t e = 0; e < span.events.size(); ++e) {
          const model::SpanEvent& ev = span.events[e];
          if (e) out += ',';
          fmt::format_to(std::back_inserter(out), R"({{"timestamp":{},"fields":[)",
                         ev.time_unix_nano / kNsPerUs);
          AppendStringTag("event", ev.name, out);
          for (const model::KeyValue& kv : ev.attributes) {
            out += ',';
            AppendTag(kv.key, kv.value, out);
          }
          out += "]}";
        }
        fmt::format_to(std::back_inserter(out), R"(],"processID":"p{}","warnings":null}})", g + 1);
      }
    }
  }
  out += R"(],"processes":{)";
  for (size_t g = 0; g < trace.groups.size(); ++g) {
    const model::Resource& r = trace.groups[g].resource;
    if (g) out += ',';
    const model::AnyValue* service = model::FindAttribute(r.attributes, "service.name");
    fmt::format_to(std::back_inserter(out), R"("p{}":{{"serviceName":)", g + 1);
    AppendJsonString(out, service ? service->ToText() : "unknown_service");
    out += R"(,"tags":[)";
    bool first = true;
    for (const model::KeyValue& kv : r.attributes) {
      if (kv.key == "service.name") continue;
      if (!first) out += ',';
      first = false;
      AppendTag(kv.key, kv.value, out);
    }
    out += "]}";
  }
  out += R"(},"warnings":null})";
}

Result<int64_t> DurationParam(const Request& req, std::string_view name) {
  std::optional<std::string> v = req.QueryParam(name);
  if (!v || v->empty()) return 0;
  Result<double> seconds = ParseGoDuration(*v);
  if (!seconds.ok())
    return InvalidArgument(
        fmt::format("unable to parse param '{}': {}", name, seconds.status().message()));
  return static_cast<int64_t>(*seconds * 1e9);
}

// Jaeger's tags: a JSON object in `tags`, and key:value pairs in repeated `tag`.
Status ParseTags(const Request& req, std::vector<std::pair<std::string, std::string>>& out) {
  for (const std::string& t : req.FormValues("tag")) {
    size_t colon = t.find(':');
    if (colon == std::string::npos)
      return InvalidArgument(
          fmt::format("malformed 'tag' parameter, expecting key:value, "
                      "received: {}",
                      t));
    out.emplace_back(t.substr(0, colon), t.substr(colon + 1));
  }
  std::optional<std::string> json = req.QueryParam("tags");
  if (!json || json->empty()) return Status::Ok();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*json).get(doc) != simdjson::SUCCESS || !doc.is_object())
    return InvalidArgument(
        fmt::format("malformed 'tags' parameter, cannot unmarshal JSON: {}", *json));
  // A copy: value() of a temporary result is a reference into it.
  simdjson::dom::object tags = doc.get_object().value();
  for (auto [key, value] : tags) {
    if (!value.is_string())
      return InvalidArgument(
          fmt::format("malformed 'tags' parameter: the value of {} must be a string", key));
    out.emplace_back(std::string(key), std::string(value.get_string().value()));
  }
  return Status::Ok();
}

void FindTraces(const Request& req, Response& resp, Store& store) {
  std::vector<std::string> ids;
  for (const std::string& hex : req.FormValues("traceID")) {
    std::string raw;
    if (!ParseTraceId(hex, raw))
      return void(resp = JaegerError(400, fmt::format("malformed traceID {}", QuoteGo(hex))));
    ids.push_back(std::move(raw));
  }
  SearchQuery q;
  if (ids.empty()) {
    q.service = req.QueryParam("service").value_or("");
    if (q.service.empty()) return void(resp = JaegerError(400, "parameter 'service' is required"));
    q.operation = req.QueryParam("operation").value_or("");
    q.span_kind = req.QueryParam("spanKind").value_or("");
    int64_t now_us = store.NowNs() / kNsPerUs;
    Result<int64_t> end = IntParam(req, "end", now_us);
    Result<double> lookback = ParseGoDuration(req.QueryParam("lookback").value_or("1h"));
    if (!lookback.ok()) lookback = 3600.0;  // the UI also sends "custom" with start and end
    Result<int64_t> start =
        end.ok() ? IntParam(req, "start", *end - static_cast<int64_t>(*lookback * 1e6)) : end;
    Result<int64_t> limit = IntParam(req, "limit", kDefaultLimit);
    Result<int64_t> min_d = DurationParam(req, "minDuration");
    Result<int64_t> max_d = DurationParam(req, "maxDuration");
    for (const Status& s : {end.status(), start.status(), limit.status(), min_d.status(),
                            max_d.status(), ParseTags(req, q.tags)}) {
      if (!s.ok()) return void(resp = JaegerError(400, s.message()));
    }
    if (*limit <= 0) *limit = kDefaultLimit;
    q.limit = std::min<size_t>(static_cast<size_t>(*limit), kMaxLimit);
    q.mint_ns = *start * kNsPerUs;
    q.maxt_ns = *end * kNsPerUs;
    q.min_duration_ns = *min_d;
    q.max_duration_ns = *max_d;
    Result<std::vector<std::string>> found = store.Search(q);
    if (!found.ok()) return void(resp = JaegerError(500, found.status().message()));
    ids = std::move(found).value();
  }
  std::string data = "[";
  size_t total = 0;
  for (const std::string& id : ids) {
    Result<Trace> trace = store.FindTrace(id);
    if (!trace.ok()) return void(resp = JaegerError(500, trace.status().message()));
    if (trace->spans == 0) continue;
    if (total++) data += ',';
    AppendJaegerTrace(HexEncode(id), *trace, data);
  }
  data += ']';
  resp = JaegerData(std::move(data), total);
}

}  // namespace

bool ParseTraceId(std::string_view hex, std::string& raw) {
  if (hex.empty() || hex.size() > 32) return false;
  std::string padded(32 - hex.size(), '0');
  padded += hex;
  return HexDecode(padded, raw);
}

Result<int64_t> IntParam(const Request& req, std::string_view name, int64_t fallback) {
  std::optional<std::string> v = req.QueryParam(name);
  if (!v || v->empty()) return fallback;
  int64_t out = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size())
    return InvalidArgument(fmt::format("unable to parse param '{}': {}", name, QuoteGo(*v)));
  return out;
}

Response JaegerTraceById(std::string_view hex, Store& store) {
  std::string raw;
  if (!ParseTraceId(hex, raw))
    return JaegerError(400, fmt::format("malformed trace id {}", QuoteGo(hex)));
  Result<Trace> trace = store.FindTrace(raw);
  if (!trace.ok()) return JaegerError(500, trace.status().message());
  if (trace->spans == 0) return JaegerError(404, "trace not found");
  std::string data = "[";
  AppendJaegerTrace(HexEncode(raw), *trace, data);
  data += ']';
  return JaegerData(std::move(data), 1);
}

void RegisterJaegerRoutes(server::Router& router, const Services& services) {
  auto ready = [&services](auto fn) {
    return server::WhenReady<Store>(services, "the trace store is not open yet", std::move(fn));
  };
  router.HandleBlocking(Method::kGet, "/api/services", config::kScopeRead,
                        ready([](const Request&, Response& resp, Store& store) {
                          Result<std::vector<std::string>> services = store.Services();
                          if (!services.ok())
                            return void(resp = JaegerError(500, services.status().message()));
                          std::string data = "[";
                          for (size_t i = 0; i < services->size(); ++i) {
                            if (i) data += ',';
                            AppendJsonString(data, (*services)[i]);
                          }
                          resp = JaegerData(data + "]", services->size());
                        }));
  router.HandleBlocking(Method::kGet, "/api/operations", config::kScopeRead,
                        ready([](const Request& req, Response& resp, Store& store) {
                          std::string service = req.QueryParam("service").value_or("");
                          if (service.empty())
                            return void(resp = JaegerError(400, "parameter 'service' is required"));
                          std::string kind = req.QueryParam("spanKind").value_or("");
                          Result<std::vector<Operation>> ops = store.Operations(service);
                          if (!ops.ok())
                            return void(resp = JaegerError(500, ops.status().message()));
                          std::string data = "[";
                          size_t n = 0;
                          for (const Operation& op : *ops) {
                            if (!kind.empty() && op.span_kind != kind) continue;
                            if (n++) data += ',';
                            data += "{\"name\":";
                            AppendJsonString(data, op.name);
                            data += ",\"spanKind\":";
                            AppendJsonString(data,
                                             op.span_kind == "unspecified" ? "" : op.span_kind);
                            data += '}';
                          }
                          resp = JaegerData(data + "]", n);
                        }));
  router.HandlePrefix(Method::kGet, "/api/services/", config::kScopeRead,
                      ready([](const Request& req, Response& resp, Store& store) {
                        std::string_view rest =
                            req.path().substr(std::string_view("/api/services/").size());
                        if (!rest.ends_with("/operations"))
                          return void(resp = JaegerError(404, "not found"));
                        std::string service;
                        if (!UrlDecode(rest.substr(0, rest.size() - 11), service, false))
                          return void(resp = JaegerError(400, "malformed service name"));
                        Result<std::vector<Operation>> ops = store.Operations(service);
                        if (!ops.ok()) return void(resp = JaegerError(500, ops.status().message()));
                        std::vector<std::string> names;
                        for (const Operation& op : *ops) names.push_back(op.name);
                        names.erase(std::unique(names.begin(), names.end()), names.end());
                        std::string data = "[";
                        for (size_t i = 0; i < names.size(); ++i) {
                          if (i) data += ',';
                          AppendJsonString(data, names[i]);
                        }
                        resp = JaegerData(data + "]", names.size());
                      }),
                      "/api/services/*/operations", server::Router::Runs::kBlocking);
  router.HandleBlocking(Method::kGet, "/api/traces", config::kScopeRead, ready(FindTraces));
  router.HandleBlocking(
      Method::kGet, "/api/dependencies", config::kScopeRead,
      ready([](const Request& req, Response& resp, Store& store) {
        Result<int64_t> end = IntParam(req, "endTs", store.NowNs() / 1'000'000);
        Result<int64_t> lookback = IntParam(req, "lookback", 24LL * 3600 * 1000);
        for (const Status& s : {end.status(), lookback.status()})
          if (!s.ok()) return void(resp = JaegerError(400, s.message()));
        auto edges = store.Dependencies((*end - *lookback) * 1'000'000, *end * 1'000'000);
        if (!edges.ok())
          return void(resp = JaegerError(
                          edges.status().code() == StatusCode::kResourceExhausted ? 400 : 500,
                          edges.status().message()));
        std::string data = "[";
        for (size_t i = 0; i < edges->size(); ++i) {
          const auto& [pair, calls] = (*edges)[i];
          if (i) data += ',';
          data += "{\"parent\":";
          AppendJsonString(data, pair.first);
          data += ",\"child\":";
          AppendJsonString(data, pair.second);
          fmt::format_to(std::back_inserter(data), ",\"callCount\":{}}}", calls);
        }
        resp = JaegerData(data + "]", edges->size());
      }));
}

}  // namespace pharos::traces
