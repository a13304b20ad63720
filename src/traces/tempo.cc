// Tempo's query API for Grafana's Tempo data source: trace by id in OTLP (protobuf or
// JSON), echo and build info. /api/traces/{id} is shared with Jaeger (by Accept).
#include <fmt/format.h>

#include "common/protowire.h"
#include "common/strings.h"
#include "traces/http.h"
#include "traces/otlp_encode.h"
#include "traces/traces.h"

namespace pharos::traces {
namespace {

using server::Method;
using server::Request;
using server::Response;

// The Tempo version whose API Pharos follows (its buildinfo).
constexpr std::string_view kTempoVersion = "2.6.1";

bool WantsProtobuf(const Request& req) {
  return req.Header("Accept").value_or("").find("application/protobuf") != std::string_view::npos;
}

// The trace of `hex` with a span starting in Tempo's `start` and `end` (Unix seconds; 0
// or absent: unbounded).
Result<Trace> Lookup(const Request& req, std::string_view hex, Store& store) {
  std::string raw;
  if (!ParseTraceId(hex, raw))
    return InvalidArgument(fmt::format("invalid trace id {}", QuoteGo(hex)));
  Result<int64_t> start = IntParam(req, "start", 0);
  Result<int64_t> end = IntParam(req, "end", 0);
  for (const Status& s : {start.status(), end.status()}) PHAROS_RETURN_IF_ERROR(s);
  Result<Trace> trace = store.FindTrace(raw, *start ? *start * 1'000'000'000 : INT64_MIN,
                                        *end ? *end * 1'000'000'000 + 999'999'999 : INT64_MAX);
  if (trace.ok() && trace->spans == 0) return NotFound("trace not found");
  return trace;
}

Response TempoError(const Status& s) {
  int status = s.code() == StatusCode::kNotFound          ? 404
               : s.code() == StatusCode::kInvalidArgument ? 400
                                                          : 500;
  return Response::Text(status, std::string(s.message()) + "\n", "text/plain; charset=utf-8");
}

}  // namespace

void RegisterTempoRoutes(server::Router& router, const Services& services) {
  auto ready = [&services](auto fn) {
    return server::WhenReady<Store>(services, "the trace store is not open yet", std::move(fn));
  };
  router.HandlePrefix(Method::kGet, "/api/traces/", config::kScopeRead,
                      ready([](const Request& req, Response& resp, Store& store) {
                        std::string_view hex =
                            req.path().substr(std::string_view("/api/traces/").size());
                        if (!WantsProtobuf(req)) return void(resp = JaegerTraceById(hex, store));
                        Result<Trace> trace = Lookup(req, hex, store);
                        if (!trace.ok()) return void(resp = TempoError(trace.status()));
                        std::string body;  // Tempo's Trace: repeated ResourceSpans batches = 1
                        EncodeResourceSpans(trace->groups, body);
                        resp = Response::Text(200, std::move(body), "application/protobuf");
                      }),
                      "/api/traces/*", server::Router::Runs::kBlocking);
  router.HandlePrefix(
      Method::kGet, "/api/v2/traces/", config::kScopeRead,
      ready([](const Request& req, Response& resp, Store& store) {
        std::string_view hex = req.path().substr(std::string_view("/api/v2/traces/").size());
        Result<Trace> trace = Lookup(req, hex, store);
        if (!trace.ok()) return void(resp = TempoError(trace.status()));
        if (WantsProtobuf(req)) {
          std::string message, body;  // TraceByIDResponse { Trace trace = 1; ... }
          EncodeResourceSpans(trace->groups, message);
          PutBytesField(body, 1, message);
          return void(resp = Response::Text(200, std::move(body), "application/protobuf"));
        }
        std::string body = "{\"trace\":";
        AppendTracesJson(trace->groups, "resourceSpans", body);
        body += '}';
        resp = Response::Text(200, std::move(body), "application/json");
      }),
      "/api/v2/traces/*", server::Router::Runs::kBlocking);
  router.Handle(Method::kGet, "/api/echo", config::kScopeRead, [](const Request&, Response& resp) {
    resp = Response::Text(200, "echo", "text/plain; charset=utf-8");
  });
  router.Handle(Method::kGet, "/api/status/buildinfo", config::kScopeRead,
                [](const Request&, Response& resp) {
                  resp = Response::Text(
                      200,
                      fmt::format(R"({{"version":"{}","revision":"pharos","branch":"",)"
                                  R"("buildUser":"","buildDate":"","goVersion":""}})",
                                  kTempoVersion),
                      "application/json");
                });
}

void RegisterRoutes(server::Router& router, const Services& services,
                    selfmon::Registry& /*registry*/) {
  RegisterJaegerRoutes(router, services);
  RegisterTempoRoutes(router, services);
  RegisterTempoSearchRoutes(router, services);
}

}  // namespace pharos::traces
