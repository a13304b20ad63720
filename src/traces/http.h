// Internal to traces: what the Jaeger and Tempo routes share.
#pragma once

#include <string_view>

#include "common/services.h"
#include "server/server.h"
#include "traces/traces.h"

namespace pharos::traces {

/// GET /api/traces/{id} in Jaeger's JSON (404 when no span of it is stored).
server::Response JaegerTraceById(std::string_view hex, Store& store);

void RegisterJaegerRoutes(server::Router& router, const Services& services);
void RegisterTempoRoutes(server::Router& router, const Services& services);
void RegisterTempoSearchRoutes(server::Router& router, const Services& services);

}  // namespace pharos::traces
