// Tempo's query API for Grafana's Tempo data source: trace by id in OTLP (protobuf or
// JSON), echo and build info. /api/traces/{id} is shared with Jaeger (by Accept).
#include <charconv>

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

// Tempo's `start` and `end` (Unix seconds) around a trace-by-id lookup.
Status TimeRange(const Request& req, int64_t& mint_ns, int64_t& maxt_ns) {
  for (auto [name, out] : {std::pair{"start", &mint_ns}, std::pair{"end", &maxt_ns}}) {
    std::optional<std::string> v = req.QueryParam(name);
    if (!v || v->empty() || *v == "0") continue;
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), seconds);
    if (ec != std::errc() || end != v->data() + v->size())
      return InvalidArgument(fmt::format("invalid {}: {}", name, QuoteGo(*v)));
    *out = seconds * 1'000'000'000 + (out == &maxt_ns ? 999'999'999 : 0);
  }
  return Status::Ok();
}

// The trace of `hex` (Tempo pads ids shorter than 32 hex digits with zeros).
Result<Trace> Lookup(const Request& req, std::string_view hex, Store& store) {
  std::string raw;
  if (hex.empty() || hex.size() > 32 ||
      !HexDecode(std::string(32 - hex.size(), '0') + std::string(hex), raw))
    return InvalidArgument(fmt::format("invalid trace id {}", QuoteGo(hex)));
  int64_t mint = INT64_MIN, maxt = INT64_MAX;
  PHAROS_RETURN_IF_ERROR(TimeRange(req, mint, maxt));
  Result<Trace> trace = store.FindTrace(raw, mint, maxt);
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
