// Damage and bad input on the real binary: an unreadable WAL record (exit 3, then
// `pharos repair-wal`), a damaged meta.db (exit 4), clocks far ahead, series without a
// metric name, and a request with a million labels.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/pharos_process.h"
#include "tests/support/http_client.h"
#include "tests/support/remote_write.h"

namespace pharos::testing {
namespace {

// CRC-32C, bit by bit: enough for a test to frame a WAL record.
uint32_t Crc32c(std::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string NewestSegment(const std::string& wal) {
  std::string newest;
  for (const auto& e : std::filesystem::directory_iterator(wal)) {
    std::string name = e.path().filename().string();
    if (name.size() == 8 && name > newest) newest = name;
  }
  return wal + "/" + newest;
}

uint64_t RssKiB(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

TEST(RecoveryTest, UnreadableWalRecordStopsStartWithExit3UntilRepaired) {
  PharosProcess first;
  std::string data = first.dir() + "/data";
  std::vector<std::string> flags = {"--data", data, "--set", "global.scrape_self=false"};
  ASSERT_TRUE(first.StartServe(flags)) << first.Stderr();
  int64_t t = NowMs();
  ASSERT_EQ(RemoteWrite(first.port(), {{{{"__name__", "kept"}}, {{t, 1}}}}).status, 204);
  first.Signal(SIGTERM);
  ASSERT_EQ(first.Wait(), 0);

  // A samples record whose checksum is right and whose body is cut short.
  std::string segment = NewestSegment(data + "/tsdb/wal");
  std::string payload("\x02\xff", 2);
  std::string record(8, '\0');
  uint32_t len = static_cast<uint32_t>(payload.size()), crc = Crc32c(payload);
  std::memcpy(record.data(), &len, 4);
  std::memcpy(record.data() + 4, &crc, 4);
  record += payload;
  std::ofstream(segment, std::ios::app | std::ios::binary) << record;

  PharosProcess damaged;
  ASSERT_FALSE(damaged.StartServe(flags));
  EXPECT_EQ(damaged.Wait(), 3);
  EXPECT_NE(damaged.Stderr().find("offset"), std::string::npos) << damaged.Stderr();
  EXPECT_NE(damaged.Stderr().find("repair-wal"), std::string::npos) << damaged.Stderr();

  std::string out, err;
  EXPECT_EQ(RunPharos({"repair-wal", "--data", data}, &out, &err), 3) << err;
  EXPECT_NE(out.find("cannot be read past segment"), std::string::npos) << out;
  EXPECT_NE(out.find("drops 10 bytes"), std::string::npos) << out;
  EXPECT_EQ(RunPharos({"repair-wal", "--data", data, "--yes"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("Repaired"), std::string::npos) << out;

  PharosProcess repaired;
  ASSERT_TRUE(repaired.StartServe(flags)) << repaired.Stderr();
  HttpResponse r = Get(repaired.port(), "/api/v1/query?query=kept");
  EXPECT_NE(r.body.find("\"kept\""), std::string::npos) << r.body;
  EXPECT_EQ(RunPharos({"repair-wal", "--data", data}, &out, &err), 1);  // in use: locked
}

TEST(RecoveryTest, DamagedMetaDbExits4NamingTheFileAndTheWayOut) {
  PharosProcess pharos;
  std::string data = pharos.dir() + "/data";
  std::filesystem::create_directories(data);
  std::ofstream(data + "/meta.db") << std::string(8192, 'x');
  pharos.Spawn({"serve", "--listen", "127.0.0.1:0", "--data", data, "--set",
                "global.scrape_self=false", "--set", "otlp.listen=", "--set", "otlp.grpc_listen="});
  EXPECT_EQ(pharos.Wait(), 4);
  EXPECT_NE(pharos.Stderr().find(data + "/meta.db is damaged"), std::string::npos)
      << pharos.Stderr();
  EXPECT_NE(pharos.Stderr().find("move the file aside"), std::string::npos);
  std::filesystem::rename(data + "/meta.db", data + "/meta.db.damaged");
  PharosProcess again;
  EXPECT_TRUE(again.StartServe({"--data", data, "--set", "global.scrape_self=false"}))
      << again.Stderr();
}

TEST(RecoveryTest, ClockFarAheadIsRefusedAndCurrentWritesGoOn) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe(
      {"--set", "global.scrape_self=false", "--set", "storage.maintenance_interval=100ms"}))
      << pharos.Stderr();
  int64_t now = NowMs();
  for (int64_t ahead : {int64_t{3} * 3600 * 1000, int64_t{1000} * 365 * 24 * 3600 * 1000}) {
    HttpResponse r = RemoteWrite(pharos.port(), {{{{"__name__", "skewed"}}, {{now + ahead, 1}}}});
    EXPECT_EQ(r.status, 400);
    EXPECT_NE(r.body.find("too far in the future"), std::string::npos) << r.body;
  }
  ASSERT_EQ(Post(pharos.port(), "/api/v1/admin/tsdb/flush", "").status / 100, 2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // maintenance rounds
  for (const char* name : {"fresh", "skewed"}) {
    HttpResponse r = RemoteWrite(pharos.port(), {{{{"__name__", name}}, {{NowMs(), 1}}}});
    EXPECT_EQ(r.status, 204) << name << ": " << r.body;
  }
  std::string metrics = Get(pharos.port(), "/metrics").body;
  EXPECT_NE(metrics.find("pharos_tsdb_rejected_samples_total{reason=\"too_far_in_future\"} 2"),
            std::string::npos);
}

TEST(RecoveryTest, SeriesWithoutMetricNameAndHugeLabelSetsGetSmallErrors) {
  PharosProcess pharos;
  ASSERT_TRUE(pharos.StartServe({"--set", "global.scrape_self=false"})) << pharos.Stderr();
  int64_t now = NowMs();
  HttpResponse nameless = RemoteWrite(pharos.port(), {{{{"job", "api"}}, {{now, 1}}}});
  EXPECT_EQ(nameless.status, 400);
  EXPECT_NE(nameless.body.find("no metric name"), std::string::npos) << nameless.body;
  EXPECT_NE(nameless.body.find("job=\\\"api\\\""), std::string::npos) << nameless.body;
  HttpResponse empty = RemoteWrite(pharos.port(), {{{}, {{now, 1}}}});
  EXPECT_EQ(empty.status, 400);
  EXPECT_NE(empty.body.find("no labels"), std::string::npos) << empty.body;

  // A million labels (a 4.9 MB request) nine times: each answer stays small, and the
  // memory the requests took is given back.
  WriteSeries huge;
  huge.labels.push_back({"__name__", "huge"});
  for (int i = 0; i < 1'000'000; ++i) huge.labels.push_back({"l" + std::to_string(i), "v"});
  huge.samples = {{now, 1}};
  std::string body = Snappy(EncodeWriteRequest({huge}));
  uint64_t before = RssKiB(pharos.pid());
  for (int i = 0; i < 9; ++i) {
    HttpResponse r = Post(pharos.port(), "/api/v1/write", body,
                          std::string(kRemoteWriteHeaders) + "Connection: close\r\n");
    EXPECT_EQ(r.status, 400);
    EXPECT_LT(r.body.size(), 4096u);
    EXPECT_NE(r.body.find("more labels"), std::string::npos) << r.body.substr(0, 500);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  for (int i = 0; i < 4; ++i) {  // ordinary traffic afterwards lets the allocator purge
    EXPECT_EQ(RemoteWrite(pharos.port(), {{{{"__name__", "small"}}, {{now + i, 1}}}}).status, 204);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  uint64_t after = RssKiB(pharos.pid());
  std::fprintf(stderr, "RSS before %llu KiB, after nine 1M-label requests %llu KiB\n",
               static_cast<unsigned long long>(before), static_cast<unsigned long long>(after));
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's allocator keeps freed memory in quarantine: nothing to measure.
  (void)before;
  (void)after;
#else
  // Before the fix it grew by about 235 MiB and stayed (per-thread buffers kept their
  // capacity); what may remain now is the allocator's cache of freed pages.
  EXPECT_LT(after, before + 120 * 1024);
#endif
}

}  // namespace
}  // namespace pharos::testing
