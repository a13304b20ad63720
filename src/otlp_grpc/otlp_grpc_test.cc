#include "otlp_grpc/otlp_grpc.h"

#include "tsdb/tsdb.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/env.h"
#include "tests/support/protobuf.h"

namespace pharos::otlp_grpc {
namespace {

constexpr char kMetrics[] = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

using pharos::testing::Pb;

// ExportMetricsServiceRequest with one gauge point `name`=`value` for service "api", now.
std::string GaugeRequest(const std::string& name, double value) {
  uint64_t now_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::system_clock::now().time_since_epoch())
                                              .count());
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  std::string point = Pb().Fixed(3, now_ns).Fixed(4, bits).out;
  std::string metric = Pb().Len(1, name).Len(5, Pb().Len(1, point).out).out;
  std::string attr = Pb().Len(1, "service.name").Len(2, Pb().Len(1, "api").out).out;
  std::string resource = Pb().Len(1, Pb().Len(1, attr).out).Len(2, Pb().Len(2, metric).out).out;
  return Pb().Len(1, resource).out;
}

class OtlpGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pharos_otlp_grpc_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(dir_);
    tsdb::Options options;
    options.dir = dir_;
    auto db = tsdb::Db::Open(options, registry_);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    services_.Publish<model::MetricsSink>(db_.get());
  }
  void TearDown() override {
    receiver_.reset();
    services_.Withdraw<model::MetricsSink>();
    db_.reset();
    (void)DefaultEnv()->RemoveAll(dir_);
  }
  void Start(Options options = {}, ingest::Options ingest_options = {}) {
    receivers_ = std::make_unique<ingest::Receivers>(services_, registry_, ingest_options);
    options.listen = "127.0.0.1:0";
    auto made = Receiver::Start(options, *receivers_, registry_);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    receiver_ = std::move(made).value();
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(receiver_->port()),
                                   grpc::InsecureChannelCredentials());
  }
  // One unary call through the generic stub; the response bytes into `response`.
  grpc::Status Call(const std::string& method, const std::string& request,
                    std::string* response = nullptr, const std::string& token = "",
                    bool gzip = false) {
    grpc::GenericStub stub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    if (gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    grpc::Slice slice(request);
    grpc::ByteBuffer in(&slice, 1), out;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status result;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &in, &out, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      result = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (response && result.ok()) {
      std::vector<grpc::Slice> slices;
      (void)out.Dump(&slices);
      response->clear();
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return result;
  }
  double Stored(const std::string& name) {
    auto q = db_->Query(INT64_MIN, INT64_MAX);
    std::vector<model::Matcher> matchers = {
        *model::Matcher::Make(model::MatchType::kEqual, "__name__", name)};
    auto r = q->Select(matchers);
    if (!r.ok() || r->size() != 1 || (*r)[0].samples.empty()) return -1;
    return (*r)[0].samples.back().v;
  }

  std::string dir_;
  selfmon::Registry registry_;
  std::unique_ptr<tsdb::Db> db_;
  Services services_;
  std::unique_ptr<ingest::Receivers> receivers_;
  std::unique_ptr<Receiver> receiver_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(OtlpGrpcTest, MetricsAreStoredPlainAndGzipped) {
  Start();
  std::string response = "unset";
  grpc::Status s = Call(kMetrics, GaugeRequest("queue_depth", 7), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response, "");  // nothing rejected: an empty ExportMetricsServiceResponse
  EXPECT_EQ(Stored("queue_depth"), 7);
  s = Call(kMetrics, GaugeRequest("queue_depth_gz", 9), &response, "", /*gzip=*/true);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Stored("queue_depth_gz"), 9);
}

// server.tls serves gRPC over TLS: a client that trusts the certificate exports; a
// plaintext client cannot.
TEST_F(OtlpGrpcTest, ServesOverTlsWhenConfigured) {
  std::string certs = dir_ + "-certs";
  std::string cmd = "mkdir -p " + certs +
                    " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                    "-nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
                    "-keyout " +
                    certs + "/key.pem -out " + certs + "/cert.pem 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Options options;
  options.tls.cert_file = certs + "/cert.pem";
  options.tls.key_file = certs + "/key.pem";
  Start(options);
  std::string port = std::to_string(receiver_->port());
  grpc::SslCredentialsOptions ssl;
  Result<std::string> ca = DefaultEnv()->ReadFile(certs + "/cert.pem");
  ASSERT_TRUE(ca.ok());
  ssl.pem_root_certs = *ca;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + port, grpc::SslCredentials(ssl), args);
  grpc::Status s = Call(kMetrics, GaugeRequest("tls_gauge", 5));
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Stored("tls_gauge"), 5);
  channel_ = grpc::CreateChannel("127.0.0.1:" + port, grpc::InsecureChannelCredentials());
  s = Call(kMetrics, GaugeRequest("plain_gauge", 6));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(Stored("plain_gauge"), -1);
  (void)DefaultEnv()->RemoveAll(certs);
}

TEST_F(OtlpGrpcTest, RejectedPointsComeBackAsPartialSuccess) {
  Start();
  std::string response;
  // A point without a timestamp.
  std::string point = Pb().Fixed(4, 0).out;
  std::string metric = Pb().Len(1, "no_time").Len(5, Pb().Len(1, point).out).out;
  std::string request = Pb().Len(1, Pb().Len(2, Pb().Len(2, metric).out).out).out;
  grpc::Status s = Call(kMetrics, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // partial_success (1) { rejected_data_points (1) = 1, error_message (2) = ... }
  ASSERT_GE(response.size(), 4u);
  EXPECT_EQ(response[0], 0x0a);
  EXPECT_EQ(response[2], 0x08);
  EXPECT_EQ(response[3], 1);
  EXPECT_NE(response.find("no time_unix_nano"), std::string::npos) << response;
}

TEST_F(OtlpGrpcTest, BadInputAndOtherServices) {
  Start();
  grpc::Status s = Call(kMetrics, "\xff\xff\xff");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(s.error_message().empty());
  // No log or trace store is published in this fixture: logs and spans are refused as not
  // ready (retryable), not dropped.
  s = Call("/opentelemetry.proto.collector.logs.v1.LogsService/Export", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("log store"), std::string::npos) << s.error_message();
  s = Call("/opentelemetry.proto.collector.trace.v1.TraceService/Export", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(s.error_message().find("trace store"), std::string::npos) << s.error_message();
  s = Call("/nope.Service/Method", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // Still serving after all that.
  EXPECT_TRUE(Call(kMetrics, GaugeRequest("after", 1)).ok());
}

TEST_F(OtlpGrpcTest, MessagesAboveTheLimitAreRefused) {
  Options options;
  options.max_message_bytes = 1024;
  Start(options);
  std::string big = GaugeRequest(std::string(2000, 'x'), 1);
  EXPECT_EQ(Call(kMetrics, big).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(Call(kMetrics, GaugeRequest("small", 1)).ok());
}

TEST_F(OtlpGrpcTest, TokensAndScopes) {
  Options options;
  config::Config cfg;
  Status loaded = config::LoadYaml(
      "auth:\n  tokens:\n"
      "    - {name: writer, token: writer-token-0123456789, scopes: [write]}\n"
      "    - {name: reader, token: reader-token-0123456789, scopes: [read]}\n",
      "test", cfg);
  ASSERT_TRUE(loaded.ok()) << loaded.ToString();
  options.auth = cfg.auth;
  Start(options);
  std::string req = GaugeRequest("secured", 3);
  EXPECT_EQ(Call(kMetrics, req).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(kMetrics, req, nullptr, "wrong-token-0123456789").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Call(kMetrics, req, nullptr, "reader-token-0123456789").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Call(kMetrics, req, nullptr, "writer-token-0123456789").ok());
  EXPECT_EQ(Stored("secured"), 3);
}

TEST_F(OtlpGrpcTest, NotReadyAndBusyAreRetryable) {
  ingest::Options busy;
  busy.max_concurrent_writes = 0;  // every write is over the cap
  Start({}, busy);
  grpc::Status s = Call(kMetrics, GaugeRequest("busy", 1));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // RetryInfo rides in the status details, which OTLP clients need to retry.
  EXPECT_NE(s.error_details().find("google.rpc.RetryInfo"), std::string::npos);
  services_.Withdraw<model::MetricsSink>();  // storage recovering
  EXPECT_EQ(Call(kMetrics, GaugeRequest("busy", 1)).error_code(), grpc::StatusCode::UNAVAILABLE);
  services_.Publish<model::MetricsSink>(db_.get());
}

TEST_F(OtlpGrpcTest, ShutdownFinishesAndRefusesNonLoopbackWithoutTokens) {
  Start();
  EXPECT_TRUE(Call(kMetrics, GaugeRequest("before", 1)).ok());
  receiver_->Shutdown(std::chrono::milliseconds(500));
  EXPECT_FALSE(Call(kMetrics, GaugeRequest("after", 1)).ok());
  Options open;
  open.listen = "0.0.0.0:0";
  auto refused = Receiver::Start(open, *receivers_, registry_);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("non-loopback"), std::string::npos);
}

}  // namespace
}  // namespace pharos::otlp_grpc
