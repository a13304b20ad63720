// logbench: the log benchmark's data, sender and Pharos queries.
//
//   logbench ingest --testdata DIR --lines N --port P [--tsv FILE] [--connections 4]
//                   [--protocol loki|otlp] [--shape issue|wide]
//     Builds N loghub-shaped lines over 24 streams (issue: Apache, OpenSSH, HDFS and Linux
//     x 5 hosts) or 100 (wide: 16 loghub systems x 6 hosts), plus 4 streams of JSON
//     application lines, each line with a fresh 32-hex id, times spread
//     evenly over the two hours before now; writes them as TSV for ClickHouse; pushes
//     them to Pharos from pre-encoded bodies of 1,000 lines on keep-alive connections,
//     through Loki's JSON push API or (otlp) as OTLP/HTTP protobuf log records, one
//     resource per stream with service.name = the stream's system and host; prints one
//     JSON object with the push rate and the answers the queries must give.
//   logbench query --port P --expect JSON
//     Runs the four queries through Loki's HTTP API, checks each answer against the
//     expectations `ingest` printed, and prints the median of 7 runs of each.
//   logbench floor --tsv FILE
//     Bytes per line of each stream's whole text as one zstd frame: a floor for stores
//     that keep lines in blocks read one at a time.
#include <sys/resource.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/strings.h"
#include "tests/support/http_client.h"
#include "tests/support/protobuf.h"

namespace {

using pharos::UrlQueryEscape;
using pharos::testing::HttpResponse;
using pharos::testing::RawConnection;

// The data shapes (--shape): "issue" is the one the issue "Logs at the speed of the fastest
// log stores" measured its reference on (Apache, OpenSSH, HDFS and Linux lines, 24
// streams); "wide" draws on all 16 loghub systems over 100 streams.
const std::vector<std::string> kIssueSystems = {"Apache", "OpenSSH", "HDFS", "Linux"};
const std::vector<std::string> kWideSystems = {"Android", "Apache",      "BGL",       "HDFS",
                                               "HPC",     "Hadoop",      "HealthApp", "Linux",
                                               "Mac",     "OpenSSH",     "OpenStack", "Proxifier",
                                               "Spark",   "Thunderbird", "Windows",   "Zookeeper"};
std::vector<std::string> kSystems = kIssueSystems;
int kHosts = 5;
constexpr int kJsonStreams = 4;
int kLoghubStreams = 4 * 5;
int kStreams = kLoghubStreams + kJsonStreams;

bool SetShape(std::string_view shape) {
  if (shape == "issue") {
    kSystems = kIssueSystems;
    kHosts = 5;
  } else if (shape == "wide") {
    kSystems = kWideSystems;
    kHosts = 6;
  } else {
    return false;
  }
  kLoghubStreams = static_cast<int>(kSystems.size()) * kHosts;
  kStreams = kLoghubStreams + kJsonStreams;
  return true;
}
constexpr int64_t kSpanNs = int64_t{2} * 3600 * 1'000'000'000;

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

void JsonEscape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += c;
        }
    }
  }
}

struct Line {
  int stream;
  int64_t ts;
  std::string text;
};

std::string SystemOf(int s) {
  if (s >= kLoghubStreams) return "app";
  return kSystems[s / kHosts];
}

std::string HostOf(int s) {
  if (s >= kLoghubStreams) return fmt::format("app-{}", s - kLoghubStreams);
  return fmt::format("host-{}", s % kHosts);
}

std::string StreamLabels(int s) {
  return fmt::format(R"({{"system":"{}","host":"{}"}})", SystemOf(s), HostOf(s));
}

// An OTLP ExportLogsServiceRequest (field numbers from the OTLP specification): per
// stream a ResourceLogs whose resource has service.name "<system>-<host>" (one stream
// each, as Loki 3 maps it), and one ScopeLogs of records with a time and a string body.
std::string OtlpBody(const std::map<int, std::vector<const Line*>>& by_stream) {
  using pharos::testing::Pb;
  Pb request;
  for (const auto& [s, ls] : by_stream) {
    std::string service = fmt::format("{}-{}", SystemOf(s), HostOf(s));
    Pb attribute = Pb().Len(1, "service.name").Len(2, Pb().Len(1, service).out);
    Pb scope;
    for (const Line* l : ls) {
      scope.Len(2,
                Pb().Fixed(1, static_cast<uint64_t>(l->ts)).Len(5, Pb().Len(1, l->text).out).out);
    }
    request.Len(1, Pb().Len(1, Pb().Len(1, attribute.out).out).Len(2, scope.out).out);
  }
  return request.out;
}

int Ingest(int argc, char** argv) {
  std::string testdata = Arg(argc, argv, "--testdata", "../shared/testdata");
  int64_t n = std::stoll(Arg(argc, argv, "--lines", "2000000"));
  int port = std::stoi(Arg(argc, argv, "--port", "0"));
  int connections = std::stoi(Arg(argc, argv, "--connections", "4"));
  std::string tsv_path = Arg(argc, argv, "--tsv", "");
  const bool otlp = Arg(argc, argv, "--protocol", "loki") == "otlp";
  if (!SetShape(Arg(argc, argv, "--shape", "issue"))) {
    std::fprintf(stderr, "logbench: --shape is issue or wide\n");
    return 2;
  }
  std::vector<std::vector<std::string>> raw(kSystems.size());
  for (size_t k = 0; k < kSystems.size(); ++k) {
    std::ifstream in(fmt::format("{}/loghub/{}/{}_2k.log", testdata, kSystems[k], kSystems[k]));
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      raw[k].push_back(l);
    }
    if (raw[k].empty()) {
      std::fprintf(stderr, "logbench: no loghub lines for %s\n", kSystems[k].c_str());
      return 2;
    }
  }
  std::mt19937_64 rng(42);
  auto hex = [&](int digits) {
    static const char* kHex = "0123456789abcdef";
    std::string out;
    while (static_cast<int>(out.size()) < digits) {
      uint64_t r = rng();
      for (int b = 0; b < 16 && static_cast<int>(out.size()) < digits; ++b)
        out += kHex[(r >> (b * 4)) & 15];
    }
    return out;
  };
  int64_t end = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t start = end - kSpanNs;
  std::vector<Line> lines;
  lines.reserve(n);
  uint64_t raw_bytes = 0;
  static const char* kPaths[] = {"/api/cart", "/api/pay", "/api/items", "/health", "/login"};
  for (int64_t i = 0; i < n; ++i) {
    int s = static_cast<int>(i % kStreams);
    int64_t ts = start + static_cast<int64_t>(static_cast<double>(i) / n * kSpanNs);
    std::string text;
    if (s >= kLoghubStreams) {
      int status = (i / kStreams) % 17 == 0 ? 500 + static_cast<int>(rng() % 4) : 200;
      text = fmt::format(
          R"({{"level":"{}","status":{},"took_ms":{},"path":"{}","id":"{}","msg":"request done"}})",
          status >= 500 ? "error" : "info", status, rng() % 900, kPaths[rng() % 5], hex(32));
    } else {
      const std::vector<std::string>& src = raw[s / kHosts];
      text = src[static_cast<size_t>((i / kStreams) % static_cast<int64_t>(src.size()))] +
             " id=" + hex(32);
    }
    raw_bytes += text.size();
    lines.push_back({s, ts, std::move(text)});
  }
  // The needle: the id of the middle line, which no other line holds.
  const Line& middle = lines[static_cast<size_t>(n / 2)];
  std::string needle = middle.stream >= kLoghubStreams
                           ? middle.text.substr(middle.text.find(R"("id":")") + 6, 32)
                           : middle.text.substr(middle.text.size() - 32);
  // Expectations.
  std::map<std::string, uint64_t> errors_last_hour;
  uint64_t json_5xx = 0;
  for (const Line& l : lines) {
    if (l.ts > end - kSpanNs / 2 && l.text.find("error") != std::string::npos)
      ++errors_last_hour[SystemOf(l.stream)];
    if (l.stream >= kLoghubStreams && l.text.find(R"("status":5)") != std::string::npos) ++json_5xx;
  }
  if (!tsv_path.empty()) {
    std::ofstream tsv(tsv_path);
    std::string row;
    for (const Line& l : lines) {
      row.clear();
      row += StreamLabels(l.stream);
      row += '\t';
      row += SystemOf(l.stream);
      row += '\t';
      row += std::to_string(l.ts);
      row += '\t';
      for (char c : l.text) {
        if (c == '\t') {
          row += "\\t";
        } else if (c == '\\') {
          row += "\\\\";
        } else if (c == '\n') {
          row += "\\n";
        } else {
          row += c;
        }
      }
      row += '\n';
      tsv << row;
    }
  }
  // Pre-encoded push bodies of 1,000 lines, grouped by stream inside each body.
  std::vector<std::string> bodies;
  for (int64_t b = 0; b < n; b += 1000) {
    std::map<int, std::vector<const Line*>> by_stream;
    for (int64_t i = b; i < std::min<int64_t>(n, b + 1000); ++i)
      by_stream[lines[i].stream].push_back(&lines[i]);
    if (otlp) {
      bodies.push_back(OtlpBody(by_stream));
      continue;
    }
    std::string body = R"({"streams":[)";
    bool first_stream = true;
    for (const auto& [s, ls] : by_stream) {
      if (!first_stream) body += ',';
      first_stream = false;
      body += R"({"stream":)" + StreamLabels(s) + R"(,"values":[)";
      for (size_t k = 0; k < ls.size(); ++k) {
        if (k) body += ',';
        body += "[\"" + std::to_string(ls[k]->ts) + "\",\"";
        JsonEscape(body, ls[k]->text);
        body += "\"]";
      }
      body += "]}";
    }
    body += "]}";
    bodies.push_back(std::move(body));
  }
  std::vector<Line>().swap(lines);
  pharos::testing::PostAllResult sent = pharos::testing::PostAll(
      static_cast<uint16_t>(port), otlp ? "/v1/logs" : "/loki/api/v1/push",
      otlp ? "application/x-protobuf" : "application/json", bodies, connections,
      [otlp](const HttpResponse& r) { return r.status == (otlp ? 200 : 204); }, "logbench");
  double seconds = sent.seconds;
  if (sent.failures > 0) return 1;
  std::printf(R"({"lines":%lld,"raw_bytes":%llu,"ingest_seconds":%.3f,"lines_per_second":%.0f,)"
              R"("mb_per_second":%.1f,"start_ns":%lld,"end_ns":%lld,"needle":"%s","json_5xx":%llu,)"
              R"("errors_last_hour":{)",
              static_cast<long long>(n), static_cast<unsigned long long>(raw_bytes), seconds,
              n / seconds, raw_bytes / seconds / 1e6, static_cast<long long>(start),
              static_cast<long long>(end), needle.c_str(),
              static_cast<unsigned long long>(json_5xx));
  bool first = true;
  for (const auto& [system, count] : errors_last_hour) {
    std::printf("%s\"%s\":%llu", first ? "" : ",", system.c_str(),
                static_cast<unsigned long long>(count));
    first = false;
  }
  std::printf("}}\n");
  return 0;
}

// A tiny reader for the flat JSON `ingest` prints.
std::string Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  at += key.size() + 3;
  if (json[at] == '"') return json.substr(at + 1, json.find('"', at + 1) - at - 1);
  size_t end = json.find_first_of(",}", at);
  return json.substr(at, end - at);
}

int Query(int argc, char** argv) {
  int port = std::stoi(Arg(argc, argv, "--port", "0"));
  std::string expect = Arg(argc, argv, "--expect", "{}");
  std::string needle = Field(expect, "needle");
  long long start = std::stoll(Field(expect, "start_ns"));
  long long end = std::stoll(Field(expect, "end_ns"));
  long long lines = std::stoll(Field(expect, "lines"));
  long long json_5xx = std::stoll(Field(expect, "json_5xx"));
  std::string range = fmt::format("&start={}&end={}", start, end + 1);
  std::string time = fmt::format("&time={}", end);
  struct Q {
    std::string name;
    std::string path;
    std::function<bool(const std::string&)> check;
  };
  std::vector<Q> queries = {
      {"needle",
       "/loki/api/v1/query_range?limit=10" + range +
           "&query=" + UrlQueryEscape(R"({host=~".+"} |= ")" + needle + "\""),
       [&](const std::string& body) {
         size_t first = body.find(needle);
         return first != std::string::npos && body.find(needle, first + 1) == std::string::npos &&
                body.find("],[") == std::string::npos;
       }},
      {"count_all",
       "/loki/api/v1/query?" + time.substr(1) +
           "&query=" + UrlQueryEscape(R"(sum(count_over_time({host=~".+"}[3h])))"),
       [&](const std::string& body) {
         return body.find(fmt::format(",\"{}\"]", lines)) != std::string::npos;
       }},
      {"substring_count_by_label_1h",
       "/loki/api/v1/query?" + time.substr(1) + "&query=" +
           UrlQueryEscape(R"(sum by (system) (count_over_time({host=~".+"} |= "error" [1h])))"),
       [&](const std::string& body) {
         // Every system's count, as computed when the lines were made.
         size_t at = expect.find("\"errors_last_hour\":{");
         std::string m = expect.substr(at + 20);
         for (size_t p = 0; p < m.size() && m[p] == '"';) {
           size_t q = m.find('"', p + 1);
           std::string system = m.substr(p + 1, q - p - 1);
           size_t e = m.find_first_of(",}", q);
           std::string count = m.substr(q + 2, e - q - 2);
           if (body.find(fmt::format(R"({{"metric":{{"system":"{}"}},"value":[)", system)) ==
                   std::string::npos ||
               body.find(fmt::format(",\"{}\"]", count)) == std::string::npos)
             return false;
           p = e + 1;
         }
         return true;
       }},
      {"json_filter_first_100",
       "/loki/api/v1/query_range?limit=100" + range +
           "&query=" + UrlQueryEscape(R"({system="app"} | json | status >= 500)"),
       [&](const std::string& body) {
         size_t n = 0;
         for (size_t at = body.find(R"(\"status\":5)"); at != std::string::npos;
              at = body.find(R"(\"status\":5)", at + 1))
           ++n;
         return n == static_cast<size_t>(std::min<long long>(100, json_5xx)) &&
                body.find(R"(\"status\":200)") == std::string::npos;
       }},
  };
  RawConnection conn(static_cast<uint16_t>(port));
  std::printf("{");
  bool first = true;
  for (const Q& q : queries) {
    std::vector<double> ms;
    for (int run = 0; run < 7; ++run) {
      std::string req = "GET " + q.path + " HTTP/1.1\r\nHost: x\r\n\r\n";
      auto t0 = std::chrono::steady_clock::now();
      conn.Send(req);
      HttpResponse r = conn.Read(120000);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (r.status != 200 || !q.check(r.body)) {
        std::fprintf(stderr, "logbench: %s answered %d, wrong: %s\n", q.name.c_str(), r.status,
                     r.body.substr(0, 600).c_str());
        return 1;
      }
    }
    std::sort(ms.begin(), ms.end());
    std::printf("%s\"%s_ms\":%.2f", first ? "" : ",", q.name.c_str(), ms[ms.size() / 2]);
    first = false;
  }
  std::printf("}\n");
  return 0;
}

// A reference for bytes on disk: each stream's whole text as one zstd frame (level 19, a
// window holding the whole stream), which a store decoding blocks of a few thousand lines
// one at a time does not reach; and the ids' own entropy (32 random hex digits: 16 bytes
// a line), which no lossless store goes below.
int Floor(int argc, char** argv) {
  std::string tsv_path = Arg(argc, argv, "--tsv", "");
  std::ifstream in(tsv_path);
  if (!in) {
    std::fprintf(stderr, "logbench: cannot read %s\n", tsv_path.c_str());
    return 2;
  }
  std::map<std::string, std::string> text_by_stream;
  uint64_t lines = 0, raw = 0;
  for (std::string row; std::getline(in, row);) {
    size_t labels_end = row.find('\t');
    size_t text_at = labels_end;
    for (int field = 0; field < 2 && text_at != std::string::npos; ++field)
      text_at = row.find('\t', text_at + 1);
    if (text_at == std::string::npos) continue;
    std::string& text = text_by_stream[row.substr(0, labels_end)];
    text.append(row, text_at + 1);
    text += '\n';
    raw += row.size() - text_at - 1;
    ++lines;
  }
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> ctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_compressionLevel, 19);
  ZSTD_CCtx_setParameter(ctx.get(), ZSTD_c_windowLog, 24);
  uint64_t compressed = 0;
  for (const auto& [stream, text] : text_by_stream) {
    std::string out(ZSTD_compressBound(text.size()), '\0');
    size_t n = ZSTD_compress2(ctx.get(), out.data(), out.size(), text.data(), text.size());
    if (ZSTD_isError(n)) {
      std::fprintf(stderr, "logbench: zstd: %s\n", ZSTD_getErrorName(n));
      return 1;
    }
    compressed += n;
  }
  if (lines == 0) return 1;
  std::printf(
      R"({"lines":%llu,"raw_per_line":%.1f,"whole_stream_zstd_per_line":%.2f,"ids_per_line":16})"
      "\n",
      static_cast<unsigned long long>(lines), static_cast<double>(raw) / lines,
      static_cast<double>(compressed) / lines);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ingest") return Ingest(argc, argv);
  if (mode == "query") return Query(argc, argv);
  if (mode == "floor") return Floor(argc, argv);
  std::fprintf(stderr, "usage: logbench ingest|query|floor [flags] (see the top of logbench.cc)\n");
  return 2;
}
