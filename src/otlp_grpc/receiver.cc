#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/log.h"
#include "common/protowire.h"
#include "common/task_pool.h"
#include "common/varint.h"
#include "otlp_grpc/otlp_grpc.h"
#include "server/server.h"

namespace pharos::otlp_grpc {
namespace {

constexpr std::string_view kMetricsExport =
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
constexpr std::string_view kLogsExport =
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
constexpr std::string_view kTraceExport =
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

// ExportMetricsServiceResponse { ExportMetricsPartialSuccess partial_success = 1 {
// int64 rejected_data_points = 1; string error_message = 2; } }, the field only when
// something was rejected (an empty message otherwise, as the specification asks).
// ExportLogsServiceResponse has the same shape (rejected_log_records = 1).
std::string PartialSuccessResponse(uint64_t rejected, std::string_view message) {
  std::string out;
  if (rejected == 0) return out;
  std::string partial;
  partial.push_back(0x08);
  PutUvarint(partial, rejected);
  PutBytesField(partial, 2, message);
  PutBytesField(out, 1, partial);
  return out;
}

// A google.rpc.Status carrying google.rpc.RetryInfo { Duration retry_delay = 1 }, for the
// grpc-status-details-bin trailer: OTLP clients retry RESOURCE_EXHAUSTED only with it.
std::string RetryDetails(grpc::StatusCode code, std::string_view message, int64_t seconds) {
  std::string duration;
  duration.push_back(0x08);
  PutUvarint(duration, static_cast<uint64_t>(seconds));
  std::string retry_info;
  PutBytesField(retry_info, 1, duration);
  std::string any;
  PutBytesField(any, 1, "type.googleapis.com/google.rpc.RetryInfo");
  PutBytesField(any, 2, retry_info);
  std::string status;
  status.push_back(0x08);
  PutUvarint(status, static_cast<uint64_t>(code));
  PutBytesField(status, 2, message);
  PutBytesField(status, 3, any);
  return status;
}

struct GrpcMetrics {
  explicit GrpcMetrics(selfmon::Registry& r)
      : requests(r.AddCounter("pharos_otlp_grpc_requests_total",
                              "OTLP/gRPC calls, by service and gRPC status code.",
                              {"service", "code"})) {}
  selfmon::Family<selfmon::Counter>& requests;
};

std::string_view ServiceOf(std::string_view method) {
  if (method == kMetricsExport) return "metrics";
  if (method == kLogsExport) return "logs";
  if (method == kTraceExport) return "traces";
  return "other";
}

std::string_view CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    default: return "OTHER";
  }
}

class ReceiverImpl;

// One call: authorize from its metadata, read the one request message, export it on a
// worker, write the response and finish. Deletes itself when gRPC is done with it.
class ExportCall final : public grpc::ServerGenericBidiReactor {
 public:
  ExportCall(ReceiverImpl& owner, grpc::GenericCallbackServerContext* context);
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool /*ok*/) override {}
  void OnDone() override;

 private:
  void Export();
  void End(grpc::Status status);

  ReceiverImpl& owner_;
  std::string service_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
};

class Service final : public grpc::CallbackGenericService {
 public:
  explicit Service(ReceiverImpl& owner) : owner_(owner) {}
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new ExportCall(owner_, context);
  }

 private:
  ReceiverImpl& owner_;
};

class ReceiverImpl final : public Receiver {
 public:
  ReceiverImpl(const Options& options, const ingest::Receivers& receivers,
               selfmon::Registry& registry)
      : options_(options),
        receivers_(receivers),
        metrics_(registry),
        pool_(std::max(1, options.threads)),
        service_(*this) {}
  ~ReceiverImpl() override { Shutdown(std::chrono::milliseconds(0)); }

  Status Build() {
    std::shared_ptr<grpc::ServerCredentials> credentials;
    if (options_.tls.enabled()) {
      grpc::SslServerCredentialsOptions ssl;
      std::string cert, key;
      PHAROS_RETURN_IF_ERROR(ReadFile(options_.tls.cert_file, cert));
      PHAROS_RETURN_IF_ERROR(ReadFile(options_.tls.key_file, key));
      ssl.pem_key_cert_pairs.push_back({key, cert});
      credentials = grpc::SslServerCredentials(ssl);
    } else {
      credentials = grpc::InsecureServerCredentials();
    }
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort(options_.listen, credentials, &bound);
    builder.SetMaxReceiveMessageSize(
        static_cast<int>(std::min<uint64_t>(options_.max_message_bytes, INT32_MAX)));
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    if (!server_ || bound == 0) {
      return Unavailable(fmt::format("otlp.grpc_listen: cannot listen on {}", options_.listen));
    }
    port_ = bound;
    return Status::Ok();
  }

  int port() const override { return port_; }

  void Shutdown(std::chrono::milliseconds grace) override {
    if (!server_ || stopped_.exchange(true)) return;
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
  }

  // The write scope, from `authorization: Bearer ...`; OK when no tokens are configured.
  grpc::Status Authorize(const grpc::GenericCallbackServerContext& context) const {
    if (options_.auth.tokens.empty()) return grpc::Status::OK;
    auto it = context.client_metadata().find("authorization");
    if (it == context.client_metadata().end()) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "missing bearer token (authorization: Bearer ... metadata)"};
    }
    std::string_view header(it->second.data(), it->second.size());
    const config::TokenConfig* token = config::FindBearerToken(options_.auth, header);
    if (token == nullptr) return {grpc::StatusCode::UNAUTHENTICATED, "invalid bearer token"};
    if (!(token->scopes & config::kScopeWrite)) {
      return {grpc::StatusCode::PERMISSION_DENIED,
              fmt::format("token \"{}\" lacks the scope this call needs: write", token->name)};
    }
    return grpc::Status::OK;
  }

  void Count(std::string_view service, grpc::StatusCode code) {
    metrics_.requests.WithLabels({service, CodeName(code)}).Inc();
  }

  const ingest::Receivers& receivers() const { return receivers_; }
  TaskPool& pool() { return pool_; }

 private:
  static Status ReadFile(const std::string& path, std::string& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return InvalidArgument(fmt::format("server.tls: cannot read \"{}\"", path));
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return Status::Ok();
  }

  Options options_;
  ingest::Receivers receivers_;
  GrpcMetrics metrics_;
  // Declared before the server: destroyed after it, so no export outlives its workers.
  TaskPool pool_;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
};

ExportCall::ExportCall(ReceiverImpl& owner, grpc::GenericCallbackServerContext* context)
    : owner_(owner), service_(ServiceOf(context->method())) {
  const std::string& method = context->method();
  if (service_ == "other") {
    End({grpc::StatusCode::UNIMPLEMENTED, fmt::format("unknown method {}", method)});
    return;
  }
  if (grpc::Status auth = owner_.Authorize(*context); !auth.ok()) {
    End(auth);
    return;
  }
  StartRead(&request_);
}

void ExportCall::OnReadDone(bool ok) {
  if (!ok) {  // the client closed without sending its request, or the call was cancelled
    End({grpc::StatusCode::INVALID_ARGUMENT, "no request message"});
    return;
  }
  owner_.pool().Submit([this] { Export(); });
}

void ExportCall::Export() {
  std::vector<grpc::Slice> slices;
  std::string body;
  if (!request_.Dump(&slices).ok()) {
    End({grpc::StatusCode::INTERNAL, "cannot read the request message"});
    return;
  }
  for (const grpc::Slice& s : slices) {
    body.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  using Kind = ingest::Receivers::ExportOutcome::Kind;
  ingest::Receivers::ExportOutcome outcome =
      service_ == "logs"     ? owner_.receivers().ExportOtlpLogs(body, false)
      : service_ == "traces" ? owner_.receivers().ExportOtlpTraces(body, false)
                             : owner_.receivers().ExportOtlpMetrics(body, false);
  switch (outcome.kind) {
    case Kind::kStored: {
      std::string encoded = PartialSuccessResponse(outcome.rejected, outcome.message);
      grpc::Slice slice(encoded);
      response_ = grpc::ByteBuffer(&slice, 1);
      owner_.Count(service_, grpc::StatusCode::OK);
      StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
      return;
    }
    case Kind::kInvalid: End({grpc::StatusCode::INVALID_ARGUMENT, outcome.message}); return;
    case Kind::kNotReady:
    case Kind::kUnavailable: End({grpc::StatusCode::UNAVAILABLE, outcome.message}); return;
    case Kind::kBusy:
      End({grpc::StatusCode::RESOURCE_EXHAUSTED, outcome.message,
           RetryDetails(grpc::StatusCode::RESOURCE_EXHAUSTED, outcome.message, 1)});
      return;
  }
}

void ExportCall::End(grpc::Status status) {
  owner_.Count(service_, status.error_code());
  Finish(std::move(status));
}

void ExportCall::OnDone() { delete this; }

}  // namespace

Result<std::unique_ptr<Receiver>> Receiver::Start(const Options& options,
                                                  const ingest::Receivers& receivers,
                                                  selfmon::Registry& registry) {
  std::string host;
  uint16_t port = 0;
  PHAROS_RETURN_IF_ERROR(
      config::ParseHostPort(options.listen, host, port).WithContext("otlp.grpc_listen"));
  Result<bool> loopback = server::IsLoopbackHost(host);
  if (!loopback.ok()) return loopback.status().WithContext("otlp.grpc_listen");
  if (!*loopback && options.auth.tokens.empty() && !options.insecure) {
    return FailedPrecondition(fmt::format(
        "refusing to listen on non-loopback address {} without API tokens: configure "
        "auth.tokens, or pass --insecure to accept unauthenticated access from the network",
        options.listen));
  }
  auto receiver = std::make_unique<ReceiverImpl>(options, receivers, registry);
  PHAROS_RETURN_IF_ERROR(receiver->Build());
  return std::unique_ptr<Receiver>(std::move(receiver));
}

}  // namespace pharos::otlp_grpc
