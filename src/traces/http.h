// Internal to traces: what the Jaeger and Tempo routes share.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/services.h"
#include "server/server.h"
#include "traces/traces.h"

namespace pharos::traces {

/// A trace id in hex, up to 32 digits (Jaeger and Tempo pad shorter ones with zeros), as its
/// 16 bytes.
bool ParseTraceId(std::string_view hex, std::string& raw);
/// An integer query parameter, `fallback` when absent or empty; InvalidArgument naming it.
Result<int64_t> IntParam(const server::Request& req, std::string_view name, int64_t fallback);

/// GET /api/traces/{id} in Jaeger's JSON (404 when no span of it is stored).
server::Response JaegerTraceById(std::string_view hex, Store& store);

void RegisterJaegerRoutes(server::Router& router, const Services& services);
void RegisterTempoRoutes(server::Router& router, const Services& services);
void RegisterTempoSearchRoutes(server::Router& router, const Services& services);

}  // namespace pharos::traces
