// The scraper against an in-process HTTP target and a real TSDB.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "scrape/scrape.h"
#include "server/server.h"
#include "tsdb/tsdb.h"

namespace pharos::scrape {
namespace {

class ScraperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "pharos_scrape_" + std::to_string(::getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    (void)DefaultEnv()->RemoveAll(dir_);
    tsdb::Options o;
    o.dir = dir_;
    auto db = tsdb::Db::Open(o, registry_);
    ASSERT_TRUE(db.ok());
    db_ = std::move(db).value();
    auto router = std::make_shared<server::Router>();
    router->Handle(server::Method::kGet, "/metrics", server::kPublic,
                   [this](const server::Request& req, server::Response& r) {
                     std::lock_guard<std::mutex> lock(mu_);
                     last_query_ = std::string(req.query());
                     r = server::Response::Text(200, exposition_, "text/plain; version=0.0.4");
                   });
    config::ServerConfig sc;
    sc.listen = "127.0.0.1:0";
    sc.threads = 1;
    auto server = server::HttpServer::Create(sc, {}, router, registry_);
    ASSERT_TRUE(server.ok());
    target_ = std::move(server).value();
    target_->Start();
  }
  void TearDown() override {
    if (scraper_) scraper_->Stop();
    if (target_) target_->Shutdown();
    db_.reset();
    (void)DefaultEnv()->RemoveAll(dir_);
  }
  void SetExposition(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    exposition_ = std::move(text);
  }
  config::Config Config(const std::string& yaml_scrape) {
    config::Config c;
    std::string yaml =
        "global:\n  scrape_self: false\n  scrape_interval: 200ms\nscrape_configs:\n" + yaml_scrape;
    Status s = config::LoadYaml(yaml, "test.yaml", c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return c;
  }
  std::vector<tsdb::SeriesData> Select(const std::string& metric) {
    auto q = db_->Query(0, INT64_MAX);
    std::vector<model::Matcher> m = {
        *model::Matcher::Make(model::MatchType::kEqual, "__name__", metric)};
    return *q->Select(m);
  }
  // Waits until `metric` has at least `n` samples.
  bool WaitFor(const std::string& metric, size_t n) {
    for (int i = 0; i < 300; ++i) {
      auto got = Select(metric);
      if (!got.empty() && got[0].samples.size() >= n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Port() { return std::to_string(target_->port()); }

  std::string dir_;
  selfmon::Registry registry_;
  std::unique_ptr<tsdb::Db> db_;
  std::unique_ptr<server::HttpServer> target_;
  std::unique_ptr<Scraper> scraper_;
  std::mutex mu_;
  std::string exposition_;
  std::string last_query_;
};

TEST_F(ScraperTest, ScrapesLabelsReportsAndStaleness) {
  SetExposition(
      "# TYPE app_requests_total counter\napp_requests_total{code=\"200\",job=\"inner\"} 5\n"
      "app_temp 21.5\ngo_gc_seconds 1\n");
  config::Config c =
      Config("  - job_name: app\n    static_configs:\n      - targets: ['127.0.0.1:" + Port() +
             "']\n        labels: {team: core}\n    params: {format: [text]}\n"
             "    metric_relabel_configs:\n      - source_labels: [__name__]\n"
             "        regex: go_.*\n        action: drop\n");
  auto scraper = Scraper::Create(c, *db_, registry_, nullptr, "");
  ASSERT_TRUE(scraper.ok()) << scraper.status().ToString();
  scraper_ = std::move(scraper).value();
  scraper_->Start();
  ASSERT_TRUE(WaitFor("up", 2));
  auto requests = Select("app_requests_total");
  ASSERT_EQ(requests.size(), 1u);
  // Target labels win; the scraped job is kept as exported_job.
  EXPECT_EQ(requests[0].labels, (model::Labels{{"__name__", "app_requests_total"},
                                               {"code", "200"},
                                               {"exported_job", "inner"},
                                               {"instance", "127.0.0.1:" + Port()},
                                               {"job", "app"},
                                               {"team", "core"}}));
  EXPECT_TRUE(Select("go_gc_seconds").empty());  // dropped by metric relabeling
  EXPECT_EQ(Select("up")[0].samples.back().v, 1);
  EXPECT_EQ(Select("scrape_samples_scraped")[0].samples.back().v, 3);
  EXPECT_EQ(Select("scrape_samples_post_metric_relabeling")[0].samples.back().v, 2);
  {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(last_query_, "format=text");
  }
  // app_temp disappears: it gets a staleness marker on the next scrape.
  SetExposition("app_requests_total{code=\"200\"} 6\n");
  size_t before = Select("up")[0].samples.size();
  ASSERT_TRUE(WaitFor("up", before + 2));
  auto temp = Select("app_temp");
  ASSERT_EQ(temp.size(), 1u);
  EXPECT_TRUE(model::IsStaleNaN(temp[0].samples.back().v));
  auto targets = scraper_->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].health, "up");
  EXPECT_EQ(targets[0].url, "http://127.0.0.1:" + Port() + "/metrics?format=text");
}

TEST_F(ScraperTest, DownTargetReportsUpZero) {
  SetExposition("x 1\n");
  target_->Shutdown();  // nothing listens any more
  config::Config c = Config(
      "  - job_name: gone\n    scrape_timeout: 100ms\n    static_configs:\n"
      "      - targets: ['127.0.0.1:" +
      Port() + "']\n");
  auto scraper = Scraper::Create(c, *db_, registry_, nullptr, "");
  ASSERT_TRUE(scraper.ok());
  scraper_ = std::move(scraper).value();
  scraper_->Start();
  ASSERT_TRUE(WaitFor("up", 1));
  EXPECT_EQ(Select("up")[0].samples.back().v, 0);
  auto targets = scraper_->Targets();
  EXPECT_EQ(targets[0].health, "down");
  EXPECT_FALSE(targets[0].last_error.empty());
}

TEST_F(ScraperTest, RelabelingShapesAndDropsTargets) {
  config::Config c = Config(
      "  - job_name: r\n    static_configs:\n      - targets: ['a:1', 'b:2']\n"
      "    relabel_configs:\n      - source_labels: [__address__]\n"
      "        regex: 'b:.*'\n        action: drop\n"
      "      - source_labels: [__address__]\n        regex: '(.*):.*'\n"
      "        target_label: instance\n");
  auto scraper = Scraper::Create(c, *db_, registry_, nullptr, "");
  ASSERT_TRUE(scraper.ok());
  auto targets = (*scraper)->Targets();
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].labels, (model::Labels{{"instance", "a"}, {"job", "r"}}));
}

TEST_F(ScraperTest, SelfScrape) {
  config::Config c;
  c.global.self_scrape_interval = std::chrono::milliseconds(100);
  auto scraper = Scraper::Create(
      c, *db_, registry_, [] { return std::string("self_metric 42\n"); }, "127.0.0.1:7070");
  ASSERT_TRUE(scraper.ok());
  scraper_ = std::move(scraper).value();
  scraper_->Start();
  ASSERT_TRUE(WaitFor("self_metric", 1));
  EXPECT_EQ(Select("self_metric")[0].labels,
            (model::Labels{
                {"__name__", "self_metric"}, {"instance", "127.0.0.1:7070"}, {"job", "pharos"}}));
}

std::string MakeCert(const std::string& dir) {
  std::string cmd =
      "mkdir -p " + dir +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout " +
      dir + "/key.pem -out " + dir + "/cert.pem 2>/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  return dir;
}

TEST_F(ScraperTest, HttpsWithCaFileAndVerification) {
  std::string certs = MakeCert(dir_ + "-certs");
  config::ServerConfig sc;
  sc.listen = "127.0.0.1:0";
  sc.threads = 1;
  sc.tls.cert_file = certs + "/cert.pem";
  sc.tls.key_file = certs + "/key.pem";
  auto router = std::make_shared<server::Router>();
  router->Handle(server::Method::kGet, "/metrics", server::kPublic,
                 [](const server::Request&, server::Response& r) {
                   r = server::Response::Text(200, "secure_metric 7\n");
                 });
  auto tls_server = server::HttpServer::Create(sc, {}, router, registry_);
  ASSERT_TRUE(tls_server.ok()) << tls_server.status().ToString();
  (*tls_server)->Start();
  std::string port = std::to_string((*tls_server)->port());
  config::Config c =
      Config("  - job_name: secure\n    scheme: https\n    tls_config:\n      ca_file: " + certs +
             "/cert.pem\n    static_configs:\n      - targets: ['localhost:" + port +
             "']\n"
             "  - job_name: untrusted\n    scheme: https\n    scrape_timeout: 150ms\n"
             "    static_configs:\n      - targets: ['localhost:" +
             port + "']\n");
  auto scraper = Scraper::Create(c, *db_, registry_, nullptr, "");
  ASSERT_TRUE(scraper.ok()) << scraper.status().ToString();
  scraper_ = std::move(scraper).value();
  scraper_->Start();
  ASSERT_TRUE(WaitFor("secure_metric", 1));
  EXPECT_EQ(Select("secure_metric")[0].samples.back().v, 7);
  // The same server without its CA in the trust store: the handshake fails, up is 0.
  bool down = false;
  for (int i = 0; i < 100 && !down; ++i) {
    for (const TargetStatus& t : scraper_->Targets()) {
      if (t.job == "untrusted" && t.health == "down") {
        down = true;
        EXPECT_NE(t.last_error.find("TLS handshake"), std::string::npos) << t.last_error;
      }
    }
    if (!down) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(down);
  scraper_->Stop();
  (*tls_server)->Shutdown();
  (void)DefaultEnv()->RemoveAll(certs);
}

TEST_F(ScraperTest, BadTlsConfigIsAnError) {
  config::Config c = Config(
      "  - job_name: s\n    scheme: https\n    tls_config:\n      ca_file: /nonexistent.pem\n"
      "    static_configs:\n      - targets: ['a:1']\n");
  auto scraper = Scraper::Create(c, *db_, registry_, nullptr, "");
  ASSERT_FALSE(scraper.ok());
  EXPECT_NE(scraper.status().message().find("scrape_configs[0].tls_config.ca_file"),
            std::string::npos)
      << scraper.status().message();
}

}  // namespace
}  // namespace pharos::scrape
