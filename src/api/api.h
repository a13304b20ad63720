// api: HTTP handlers per API family, registered on a server::Router.
//
// Contract: Register* functions add routes and keep references to what they are given;
// those objects must outlive the server. Handlers are thread-safe and never block.
// Responses follow the shapes of the API they imitate (Prometheus's JSON envelope for
// /api/v1/*). This header grows with each API family (Prometheus query API, Loki, Jaeger).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "config/config.h"
#include "promql/promql.h"
#include "scrape/scrape.h"
#include "selfmon/metrics.h"
#include "server/server.h"
#include "tsdb/tsdb.h"

namespace pharos::rules {
class Manager;
}
namespace pharos::alerting {
class Dispatcher;
}
namespace pharos::incidents {
class Manager;
}
namespace pharos::meta {
class Store;
}

namespace pharos::api {

struct BuildInfo {
  std::string version;
  std::string revision;
  std::string branch;
  std::string build_date;
  std::string compiler;
};

/// Health, readiness, /metrics and status routes:
///   GET /healthz, /-/healthy            200 while the process serves requests (public)
///   GET /readyz, /-/ready               200 once `ready` is true, 503 before (public)
///   GET /metrics                         the registry in text format 0.0.4 (read)
///   GET /api/v1/status/buildinfo         Prometheus's shape (read)
///   GET /api/v1/status/config            {"yaml": config in effect, secrets hidden} (admin)
void RegisterStatusRoutes(server::Router& router, const BuildInfo& build,
                          const std::atomic<bool>& ready, const selfmon::Registry& registry,
                          const config::Config& config);

// Every route below serves components from `services` (common/services.h): storage
// (tsdb::Db), scraping (scrape::Scraper), rules, the dispatcher, incidents and the meta
// store. Until one is published its routes answer 503 (errorType "unavailable",
// Retry-After: 1).

/// Routes over the metrics store (tsdb::Db):
///   GET/POST /api/v1/series              Prometheus's shape; match[] required (read)
///   GET/POST /api/v1/labels              label names; optional match[] (read)
///   GET      /api/v1/label/<name>/values label values; optional match[] (read)
///   GET      /api/v1/status/tsdb         head statistics in Prometheus's shape (read)
///   POST     /api/v1/admin/tsdb/flush    cut the whole head into a block now (admin)
///   GET/POST /api/v1/export              raw samples as JSON lines, VictoriaMetrics's
///                                        format; match[] required (read)
/// start and end take Unix seconds or RFC 3339, as Prometheus's API does.
void RegisterTsdbRoutes(server::Router& router, const Services& services);

/// GET /api/v1/targets in Prometheus's shape (read). Until the scrape::Scraper is published
/// the list is empty.
void RegisterTargetRoutes(server::Router& router, const Services& services);

/// Prometheus's query API over the store (read scope unless noted):
///   GET/POST /api/v1/query          query, time, timeout, limit, lookback_delta
///   GET/POST /api/v1/query_range    query, start, end, step, timeout, limit
///   GET/POST /api/v1/format_query   the query in canonical form
///   GET/POST /api/v1/parse_query    the syntax tree as JSON
///   GET/POST /api/v1/query_exemplars an empty list (exemplars are not stored)
///   GET      /api/v1/metadata       # TYPE/HELP/UNIT of scraped families (metric, limit,
///                                   limit_per_metric)
///   GET      /api/v1/status/runtimeinfo, /api/v1/status/flags
/// Errors carry Prometheus's errorType: bad_data (400) for bad parameters and parse
/// errors, execution (422) for evaluation errors and the sample limit, timeout (503).
/// Queries are counted and timed in `registry` (pharos_query_*, pharos_queries_*); those
/// slower than query.log_slow are logged.
void RegisterQueryRoutes(server::Router& router, const Services& services, promql::Engine& engine,
                         const config::Config& config, selfmon::Registry& registry);

/// Rules, alerts, silences and history:
///   GET  /api/v1/rules, /api/v1/alerts       Prometheus's shapes (read)
///   GET  /api/v2/alerts, /api/v2/alerts/groups, /api/v2/silences, /api/v2/silence/<id>,
///        /api/v2/receivers, /api/v2/status   Alertmanager's shapes (read)
///   POST /api/v2/alerts                      alerts from other Prometheus servers (write)
///   POST /api/v2/silences, DELETE /api/v2/silence/<id> (write)
///   GET  /api/v1/alerts/history              stored alert transitions: alertname, state,
///                                            start, end, limit (read)
///   GET  /api/v1/notifications               stored notifications: receiver, alertname,
///                                            start, end, limit (read)
/// Request bodies are JSON; errors name the field.
void RegisterAlertingRoutes(server::Router& router, const Services& services);

/// Incidents (JSON; levels "P0".."P3"; documented in docs/api.md):
///   GET  /api/v1/incidents                   state, level, open, limit (read)
///   POST /api/v1/incidents                   {title, level, escalation_policy} (write)
///   GET  /api/v1/incidents/<id>              with timeline and linked alerts (read)
///   POST /api/v1/incidents/<id>/{ack,mitigate,resolve,close}  {note} (write)
///   POST /api/v1/incidents/<id>/notes        {text} (write)
///   PUT  /api/v1/incidents/<id>/roles        {role, person} (write)
///   PUT  /api/v1/incidents/<id>/level        {level} (write)
///   GET/PUT /api/v1/incidents/<id>/postmortem  markdown (read / write)
/// The actor of a change is the caller's token name, or the X-Pharos-User header when
/// no tokens are configured.
void RegisterIncidentRoutes(server::Router& router, const Services& services);

}  // namespace pharos::api
