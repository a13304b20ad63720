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

namespace pharos::api {

struct BuildInfo {
  std::string version;
  std::string revision;
  std::string branch;
  std::string build_date;
  std::string compiler;
};

/// Health, readiness, /metrics and status routes:
///   GET /                                a small HTML page pointing at the APIs (public)
///   GET /healthz, /-/healthy            200 while the process serves requests (public)
///   GET /readyz, /-/ready               200 once `ready` is true, 503 before (public)
///   GET /metrics                         the registry in text format 0.0.4 (read)
///   GET /api/v1/status/buildinfo         Prometheus's shape (read)
///   GET /api/v1/status/config            {"yaml": config in effect, secrets hidden} (admin)
void RegisterStatusRoutes(server::Router& router, const BuildInfo& build,
                          const std::atomic<bool>& ready, const selfmon::Registry& registry,
                          const config::Config& config);

/// Routes over the metrics store. `db` is null until storage has recovered; until then
/// they answer 503 (errorType "unavailable").
///   GET/POST /api/v1/series              Prometheus's shape; match[] required (read)
///   GET/POST /api/v1/labels              label names; optional match[] (read)
///   GET      /api/v1/label/<name>/values label values; optional match[] (read)
///   GET      /api/v1/status/tsdb         head statistics in Prometheus's shape (read)
///   POST     /api/v1/admin/tsdb/flush    cut the whole head into a block now (admin)
///   GET/POST /api/v1/export              raw samples as JSON lines, VictoriaMetrics's
///                                        format; match[] required (read)
/// start and end take Unix seconds or RFC 3339, as Prometheus's API does.
void RegisterTsdbRoutes(server::Router& router, const std::atomic<tsdb::Db*>& db);

/// GET /api/v1/targets in Prometheus's shape (read). `scraper` is null until storage has
/// recovered and scraping has started; the list is empty until then.
void RegisterTargetRoutes(server::Router& router, const std::atomic<scrape::Scraper*>& scraper);

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
void RegisterQueryRoutes(server::Router& router, const std::atomic<tsdb::Db*>& db,
                         promql::Engine& engine, const std::atomic<scrape::Scraper*>& scraper,
                         const config::Config& config, selfmon::Registry& registry);

}  // namespace pharos::api
