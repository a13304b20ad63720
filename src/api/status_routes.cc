#include "api/api.h"
#include "common/strings.h"

namespace pharos::api {

using server::Method;
using server::Request;
using server::Response;

void RegisterStatusRoutes(server::Router& router, const BuildInfo& build,
                          const std::atomic<bool>& ready, const selfmon::Registry& registry,
                          const config::Config& config) {
  auto healthy = [](const Request&, Response& r) { r.SetText(200, "Pharos is Healthy.\n"); };
  router.Handle(Method::kGet, "/healthz", server::kPublic, healthy);
  router.Handle(Method::kGet, "/-/healthy", server::kPublic, healthy);

  auto readiness = [&ready](const Request&, Response& r) {
    if (ready.load(std::memory_order_acquire)) {
      r.SetText(200, "Pharos is Ready.\n");
    } else {
      r.SetText(503, "Pharos is not ready: storage is recovering.\n");
    }
  };
  router.Handle(Method::kGet, "/readyz", server::kPublic, readiness);
  router.Handle(Method::kGet, "/-/ready", server::kPublic, readiness);

  // Until the console lands here, / tells a person what this server is and where to look.
  std::string landing =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Pharos</title></head>"
      "<body><h1>Pharos " +
      build.version +
      "</h1><p>The web console is not built yet. APIs:</p><ul>"
      "<li><a href=\"/api/v1/targets\">/api/v1/targets</a> scrape targets</li>"
      "<li><a href=\"/api/v1/status/tsdb\">/api/v1/status/tsdb</a> storage</li>"
      "<li><a href=\"/api/v1/label/__name__/values\">/api/v1/label/__name__/values</a> metric "
      "names</li>"
      "<li><a href=\"/metrics\">/metrics</a> Pharos's own metrics</li>"
      "<li><a href=\"/readyz\">/readyz</a> readiness</li></ul>"
      "<p>Write with Prometheus remote_write to /api/v1/write or OTLP to /v1/metrics.</p>"
      "</body></html>\n";
  router.Handle(Method::kGet, "/", server::kPublic, [landing](const Request&, Response& r) {
    r = Response::Text(200, landing, "text/html; charset=utf-8");
  });

  router.Handle(
      Method::kGet, "/metrics", config::kScopeRead, [&registry](const Request&, Response& r) {
        r = Response::Text(200, registry.Render(), "text/plain; version=0.0.4; charset=utf-8");
      });

  std::string buildinfo = "{";
  buildinfo += "\"version\":" + JsonString(build.version);
  buildinfo += ",\"revision\":" + JsonString(build.revision);
  buildinfo += ",\"branch\":" + JsonString(build.branch);
  buildinfo += ",\"buildUser\":\"\"";
  buildinfo += ",\"buildDate\":" + JsonString(build.build_date);
  buildinfo += ",\"goVersion\":" + JsonString(build.compiler);
  buildinfo += "}";
  router.Handle(Method::kGet, "/api/v1/status/buildinfo", config::kScopeRead,
                [buildinfo](const Request&, Response& r) { r = Response::JsonSuccess(buildinfo); });

  std::string config_json = "{\"yaml\":" + JsonString(config::RenderYaml(config)) + "}";
  router.Handle(
      Method::kGet, "/api/v1/status/config", config::kScopeAdmin,
      [config_json](const Request&, Response& r) { r = Response::JsonSuccess(config_json); });
}

}  // namespace pharos::api
