// Blocking work stays off the I/O threads: while another process holds meta.db's write
// lock (as a slow or stalled disk would hold its writes), requests that write silences
// wait on the handler pool, and /healthz and remote_write on other connections still
// answer before any of those requests finishes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

TEST(SlowMetaStoreTest, HealthAndIngestAnswerWhileSilenceWritesWait) {
  PharosProcess p;
  ASSERT_TRUE(p.StartServe({"--set", "server.handler_threads=2"})) << p.Stderr();
  uint16_t port = p.port();

  // Take meta.db's write lock from outside, as a stalled disk would hold it.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((p.dir() + "/data/meta.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);

  // More silence writes than handler threads: every handler thread is now stuck on the lock.
  const int kWriters = 4;
  std::atomic<int> finished{0};
  std::vector<int> statuses(kWriters, 0);
  std::vector<std::thread> writers;
  std::string ends = std::to_string((NowMs() + 3'600'000) / 1000);
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      std::string body = "{\"matchers\":[{\"name\":\"alertname\",\"value\":\"Slow" +
                         std::to_string(i) + "\",\"isRegex\":false}],\"endsAt\":\"" + ends +
                         "\",\"createdBy\":\"test\",\"comment\":\"held\"}";
      HttpResponse r = Post(port, "/api/v2/silences", body, "Content-Type: application/json\r\n");
      statuses[i] = r.status;
      ++finished;
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let them reach the lock
  EXPECT_EQ(finished.load(), 0) << "the silence writes should be waiting on the lock";

  // Other connections: the I/O threads and the write pool are free.
  HttpResponse health = Get(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  HttpResponse write =
      RemoteWrite(port, {{{{"__name__", "during_stall"}, {"job", "t"}}, {{NowMs(), 1.0}}}});
  EXPECT_EQ(write.status, 204) << write.body;
  HttpResponse ready = Get(port, "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(finished.load(), 0) << "answered only because the stalled writes gave up";

  // The stall ends: the waiting writes complete.
  ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  for (std::thread& t : writers) t.join();
  for (int s : statuses) EXPECT_EQ(s, 200);
  HttpResponse q = Get(port, "/api/v1/query?query=during_stall");
  EXPECT_NE(q.body.find("\"during_stall\""), std::string::npos) << q.body;
}

}  // namespace
}  // namespace pharos::testing
