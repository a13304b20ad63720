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
