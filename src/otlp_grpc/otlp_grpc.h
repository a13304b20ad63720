// otlp_grpc: OTLP over gRPC, the transport every OpenTelemetry Collector and most SDKs
// use by default (port 4317). Served with gRPC's generic callback API: a request arrives
// as bytes and is decoded by Pharos's own OTLP decoders, exactly as on OTLP/HTTP, so there
// is no generated code and gRPC stays inside this module.
//
// Contract:
// - Start() binds `listen` (refusing a non-loopback address without API tokens unless
//   `insecure`) and serves until Shutdown() or destruction.
// - /opentelemetry.proto.collector.metrics.v1.MetricsService/Export, .../logs.v1.LogsService/
//   Export and .../trace.v1.TraceService/Export are stored through ingest::Receivers (the
//   same write cap and counters as OTLP/HTTP; metrics through the delta table into the
//   metrics sink, logs into the log sink, spans into the span sink) and answered with an
//   Export*ServiceResponse, with partial_success when points, records or spans were
//   rejected. Any other method answers UNIMPLEMENTED.
// - Status codes follow the OTLP specification: INVALID_ARGUMENT for data that can never be
//   accepted, UNAVAILABLE while storage recovers or refuses (retryable), RESOURCE_EXHAUSTED
//   with google.rpc.RetryInfo over the write cap, UNAUTHENTICATED and PERMISSION_DENIED for
//   `authorization: Bearer` metadata (the write scope is needed), RESOURCE_EXHAUSTED from
//   gRPC itself above `max_message_bytes`. gzip and deflate request compression are
//   accepted.
// - Exports run on the receiver's own threads (they wait on the WAL), never on gRPC's.
// - Shutdown() stops accepting calls, lets those in flight finish for up to `grace`, then
//   cancels the rest. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "config/config.h"
#include "ingest/ingest.h"
#include "selfmon/metrics.h"

namespace pharos::otlp_grpc {

struct Options {
  std::string listen = "127.0.0.1:4317";  // HOST:PORT; port 0 picks a free one
  uint64_t max_message_bytes = 16ULL << 20;
  int threads = 2;          // export workers
  config::TlsConfig tls;    // TLS when cert_file is set
  config::AuthConfig auth;  // no tokens: every call is allowed
  bool insecure = false;    // allow a non-loopback listener without tokens
};

class Receiver {
 public:
  /// Binds and starts serving. `receivers` and `registry` must outlive the receiver.
  static Result<std::unique_ptr<Receiver>> Start(const Options& options,
                                                 const ingest::Receivers& receivers,
                                                 selfmon::Registry& registry);
  virtual ~Receiver() = default;
  /// The port bound.
  virtual int port() const = 0;
  virtual void Shutdown(std::chrono::milliseconds grace) = 0;
};

}  // namespace pharos::otlp_grpc
