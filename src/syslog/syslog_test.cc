// Syslog: RFC 5424 and RFC 3164 parsing, RFC 6587 framing, and the listener writing into
// the log store over TCP and UDP.
#include "syslog/syslog.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include "logs/logs.h"

namespace pharos::syslog {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
// 2026-12-07T15:00:00Z
constexpr int64_t kNow = int64_t{1'796'655'600} * kSecond;

TEST(ParseTest, Rfc5424WithStructuredDataAndBom) {
  Message m;
  std::string raw =
      "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
      "[examplePriority@32473 class=\"high \\\"x\\\" \\] y\"] \xEF\xBB\xBF"
      "An application event";
  ASSERT_TRUE(ParseMessage(raw, kNow, m).ok());
  EXPECT_EQ(m.facility, 20);  // local4
  EXPECT_EQ(m.severity, 5);   // notice
  EXPECT_EQ(FacilityName(m.facility), "local4");
  EXPECT_EQ(SeverityName(m.severity), "notice");
  EXPECT_EQ(m.time_ns, int64_t{1'065'910'455} * kSecond + 3'000'000);
  EXPECT_EQ(m.hostname, "mymachine.example.com");
  EXPECT_EQ(m.app_name, "evntslog");
  EXPECT_EQ(m.procid, "");
  EXPECT_EQ(m.msgid, "ID47");
  ASSERT_EQ(m.structured.size(), 4u);
  EXPECT_EQ(m.structured[0].id, "exampleSDID@32473");
  EXPECT_EQ(m.structured[0].name, "iut");
  EXPECT_EQ(m.structured[0].value, "3");
  EXPECT_EQ(m.structured[3].name, "class");
  EXPECT_EQ(m.structured[3].value, "high \"x\" ] y");
  EXPECT_EQ(m.message, "An application event");
}

TEST(ParseTest, Rfc5424OffsetsNilsAndNoMessage) {
  Message m;
  ASSERT_TRUE(ParseMessage("<34>1 2003-08-24T05:14:15.000003-07:00 host su 77 - -", kNow, m).ok());
  EXPECT_EQ(m.time_ns, int64_t{1'061'727'255} * kSecond + 3000);  // 12:14:15.000003Z
  EXPECT_EQ(m.procid, "77");
  EXPECT_EQ(m.msgid, "");
  EXPECT_EQ(m.message, "");
  ASSERT_TRUE(ParseMessage("<13>1 - - - - - - hello\n", kNow, m).ok());
  EXPECT_EQ(m.time_ns, 0);  // none given
  EXPECT_EQ(m.hostname, "");
  EXPECT_EQ(m.message, "hello");
}

TEST(ParseTest, Rfc3164AndItsVariants) {
  Message m;
  ASSERT_TRUE(
      ParseMessage("<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed", kNow, m).ok());
  EXPECT_EQ(m.facility, 4);
  EXPECT_EQ(m.severity, 2);
  EXPECT_EQ(m.time_ns, int64_t{1'791'756'855} * kSecond);  // 2026-10-11T22:14:15Z
  EXPECT_EQ(m.hostname, "mymachine");
  EXPECT_EQ(m.app_name, "su");
  EXPECT_EQ(m.procid, "230");
  EXPECT_EQ(m.message, "'su root' failed");
  // A December message read in early January is last year's.
  ASSERT_TRUE(
      ParseMessage("<13>Dec 31 23:59:59 host app: late", int64_t{1'798'761'600} * kSecond, m).ok());
  EXPECT_EQ(m.time_ns, int64_t{1'798'761'599} * kSecond);  // 2026-12-31T23:59:59Z
  // A space-padded day and no hostname (a local logger).
  ASSERT_TRUE(ParseMessage("<13>Dec  7 14:59:00 cron[9]: job done", kNow, m).ok());
  EXPECT_EQ(m.hostname, "");
  EXPECT_EQ(m.app_name, "cron");
  EXPECT_EQ(m.time_ns, kNow - 60 * kSecond);
  // rsyslog's TraditionalForwardFormat of a message that came in as RFC 5424: a bare tag.
  ASSERT_TRUE(ParseMessage("<156>Dec  7 15:10:39 vm mytag disk 93% full", kNow, m).ok());
  EXPECT_EQ(m.hostname, "vm");
  EXPECT_EQ(m.app_name, "mytag");
  EXPECT_EQ(m.message, "disk 93% full");
  // rsyslog's ForwardFormat: an RFC 3339 timestamp in the RFC 3164 layout.
  ASSERT_TRUE(ParseMessage("<30>2026-12-07T14:00:00.5+01:00 web nginx: GET / 200", kNow, m).ok());
  EXPECT_EQ(m.time_ns, kNow - 7200 * kSecond + kSecond / 2);
  EXPECT_EQ(m.hostname, "web");
  EXPECT_EQ(m.app_name, "nginx");
  EXPECT_EQ(m.message, "GET / 200");
}

TEST(ParseTest, AnythingElseIsKeptWhole) {
  Message m;
  ASSERT_TRUE(ParseMessage("no priority at all", kNow, m).ok());
  EXPECT_EQ(m.message, "no priority at all");
  EXPECT_EQ(m.facility, 1);
  EXPECT_EQ(m.severity, 5);
  ASSERT_TRUE(ParseMessage("<13>just text", kNow, m).ok());
  EXPECT_EQ(m.message, "just text");
  ASSERT_TRUE(ParseMessage("<abc>x", kNow, m).ok());
  EXPECT_EQ(m.message, "<abc>x");
  ASSERT_TRUE(ParseMessage("", kNow, m).ok());
}

TEST(ParseTest, RefusalsNameTheField) {
  Message m;
  Status s = ParseMessage("<192>1 - - - - - -", kNow, m);
  EXPECT_NE(s.message().find("priority 192"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 2026-13-01T00:00:00Z h a p m - x", kNow, m);
  EXPECT_NE(s.message().find("TIMESTAMP"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 2026-02-30T00:00:00Z h a p m - x", kNow, m);  // no such day
  EXPECT_NE(s.message().find("TIMESTAMP"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 9999-12-31T23:59:59Z h a p m - far", kNow, m);  // past int64 ns
  EXPECT_NE(s.message().find("TIMESTAMP"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 - h a p m [id x=\"unclosed] hi", kNow, m);
  EXPECT_NE(s.message().find("PARAM-VALUE"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 - h a p m [id x=\"1\"", kNow, m);
  EXPECT_NE(s.message().find("not closed"), std::string::npos) << s.message();
  s = ParseMessage("<13>1 - h a", kNow, m);
  EXPECT_FALSE(s.ok());
}

TEST(FrameTest, OctetCountingAndLinesAcrossReads) {
  FrameSplitter splitter(100);
  std::vector<std::string> got;
  auto collect = [&](std::string_view f) { got.emplace_back(f); };
  std::string stream = "11 <13>1 - - -11 <13>hello\r\n\n<13>line two\n5 ab\ncd";
  // Fed one byte at a time, the frames come out whole and in order.
  for (char c : stream) ASSERT_TRUE(splitter.Feed(std::string_view(&c, 1), collect).ok());
  EXPECT_EQ(got,
            (std::vector<std::string>{"<13>1 - - -", "<13>hello\r\n", "<13>line two", "ab\ncd"}));
  EXPECT_EQ(splitter.buffered(), 0u);
}

TEST(FrameTest, OversizedFramesAreRefused) {
  FrameSplitter counted(10);
  Status s = counted.Feed("11 ", [](std::string_view) {});
  EXPECT_NE(s.message().find("over the limit"), std::string::npos) << s.message();
  FrameSplitter lines(10);
  s = lines.Feed("<13>a line far longer than ten bytes", [](std::string_view) {});
  EXPECT_NE(s.message().find("max_message_bytes"), std::string::npos) << s.message();
  FrameSplitter zero(10);
  EXPECT_FALSE(zero.Feed("05 hello", [](std::string_view) {}).ok());
}

// Syslog carries no credentials: a non-loopback address needs --insecure.
TEST(ReceiverStartTest, NonLoopbackNeedsInsecure) {
  selfmon::Registry registry;
  Services services;
  Options o;
  o.tcp_listen = "0.0.0.0:0";
  Result<std::unique_ptr<Receiver>> refused = Receiver::Start(o, services, registry);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--insecure"), std::string::npos)
      << refused.status().message();
  o.insecure = true;
  Result<std::unique_ptr<Receiver>> started = Receiver::Start(o, services, registry);
  ASSERT_TRUE(started.ok()) << started.status().message();
  EXPECT_GT((*started)->tcp_port(), 0);
  (*started)->Stop();
}

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("syslog_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    logs::Options options;
    options.dir = dir_;
    Result<std::unique_ptr<logs::Store>> opened = logs::Store::Open(options, registry_);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    store_ = std::move(opened).value();
    Options ro;
    ro.tcp_listen = "127.0.0.1:0";
    ro.udp_listen = "127.0.0.1:0";
    ro.max_message_bytes = 1024;
    Result<std::unique_ptr<Receiver>> started = Receiver::Start(ro, services_, registry_);
    ASSERT_TRUE(started.ok()) << started.status().message();
    receiver_ = std::move(started).value();
  }
  void TearDown() override {
    receiver_->Stop();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  static int Connect(int type, int port) {
    int fd = socket(AF_INET, type, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    return fd;
  }

  // Every stored line as "labels|line|metadata...", waiting until `want` lines are there.
  std::map<std::string, std::string> Lines(size_t want) {
    std::map<std::string, std::string> out;
    for (int attempt = 0; attempt < 200 && out.size() < want; ++attempt) {
      out.clear();
      colstore::ScanPlan plan;
      Result<colstore::ScanStats> r = store_->records().Scan(plan, [&](const colstore::Row& row) {
        std::string line, meta;
        for (const colstore::Column& c : row.columns) {
          if (c.name == logs::kLineColumn) {
            line = c.value.s;
          } else {
            meta += std::string(c.name) + "=" + std::string(c.value.s) + " ";
          }
        }
        out[line] = model::FormatLabels(*row.stream) + " " + meta;
        return true;
      });
      EXPECT_TRUE(r.ok());
      if (out.size() < want) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return out;
  }

  std::filesystem::path dir_;
  selfmon::Registry registry_;
  Services services_;
  std::unique_ptr<logs::Store> store_;
  std::unique_ptr<Receiver> receiver_;
};

TEST_F(ReceiverTest, TcpAndUdpMessagesBecomeLogLines) {
  // Not ready yet: a TCP sender waits, nothing is lost.
  int tcp = Connect(SOCK_STREAM, receiver_->tcp_port());
  std::string frames =
      "<165>1 2026-12-07T14:00:00Z web01 nginx 42 ACCESS [req@1 path=\"/a\"] GET /a 200\n"
      "42 <11>Dec  7 14:00:01 db01 pg[7]: slow query";
  ASSERT_EQ(send(tcp, frames.data(), frames.size(), 0), static_cast<ssize_t>(frames.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  services_.Publish(store_.get());
  int udp = Connect(SOCK_DGRAM, receiver_->udp_port());
  std::string datagram = "<13>1 - edge - - - - from udp";
  ASSERT_EQ(send(udp, datagram.data(), datagram.size(), 0), static_cast<ssize_t>(datagram.size()));
  std::map<std::string, std::string> lines = Lines(3);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines["GET /a 200"],
            "{app=\"nginx\", host=\"web01\", job=\"syslog\"} severity=notice facility=local4 "
            "procid=42 msgid=ACCESS req_1_path=/a detected_level=info ");
  EXPECT_EQ(lines["slow query"],
            "{app=\"pg\", host=\"db01\", job=\"syslog\"} severity=err facility=user procid=7 "
            "detected_level=error ");
  // The syslog severity gives each line its detected_level (notice is info, err error).
  EXPECT_EQ(lines["from udp"],
            "{host=\"edge\", job=\"syslog\"} severity=notice facility=user detected_level=info ");
  close(tcp);
  close(udp);
}

TEST_F(ReceiverTest, BadFramesCloseTheConnectionAndBadHeadersAreKept) {
  services_.Publish(store_.get());
  int tcp = Connect(SOCK_STREAM, receiver_->tcp_port());
  std::string frames = "<13>1 notatime h a p m - text\n2000 ";
  ASSERT_EQ(send(tcp, frames.data(), frames.size(), 0), static_cast<ssize_t>(frames.size()));
  std::map<std::string, std::string> lines = Lines(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines.begin()->second.find("parse_error=syslog message: TIMESTAMP"), std::string::npos)
      << lines.begin()->second;
  char byte;
  // The receiver closed the connection after the oversized frame.
  timeval tv{5, 0};
  setsockopt(tcp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  EXPECT_EQ(recv(tcp, &byte, 1, 0), 0);
  close(tcp);
}

}  // namespace
}  // namespace pharos::syslog
