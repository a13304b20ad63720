#include <ctime>

#include <fmt/format.h>

#include "api/api.h"
#include "common/strings.h"
#include "common/units.h"

namespace pharos::api {
namespace {

std::string Rfc3339(int64_t ms) {
  if (ms == 0) return "0001-01-01T00:00:00Z";  // Go's zero time, as Prometheus prints it
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

}  // namespace

void RegisterTargetRoutes(server::Router& router, const Services& services) {
  router.Handle(server::Method::kGet, "/api/v1/targets", config::kScopeRead,
                [&services](const server::Request& req, server::Response& resp) {
                  std::string state = req.FormValue("state").value_or("any");
                  std::string data = R"({"activeTargets":[)";
                  scrape::Scraper* s = services.Get<scrape::Scraper>();
                  if (s && state != "dropped") {
                    bool first = true;
                    for (const scrape::TargetStatus& t : s->Targets()) {
                      if (!first) data += ',';
                      first = false;
                      data += R"({"discoveredLabels":)";
                      model::AppendLabelsJson(data, t.labels);
                      data += R"(,"labels":)";
                      model::AppendLabelsJson(data, t.labels);
                      data += R"(,"scrapePool":)" + JsonString(t.job);
                      data += R"(,"scrapeUrl":)" + JsonString(t.url);
                      data += R"(,"globalUrl":)" + JsonString(t.url);
                      data += R"(,"lastError":)" + JsonString(t.last_error);
                      data += R"(,"lastScrape":)" + JsonString(Rfc3339(t.last_scrape_ms));
                      data += fmt::format(R"(,"lastScrapeDuration":{})", t.last_duration_seconds);
                      data += R"(,"health":)" + JsonString(t.health);
                      data += R"(,"scrapeInterval":)" + JsonString(FormatDuration(t.interval));
                      data += R"(,"scrapeTimeout":)" + JsonString(FormatDuration(t.timeout));
                      data += '}';
                    }
                  }
                  data += R"(],"droppedTargets":[]})";
                  resp = server::Response::JsonSuccess(data);
                });
}

}  // namespace pharos::api
