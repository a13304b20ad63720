// rwbench: builds realistic Prometheus remote_write bodies once, then replays them against
// any receiver, so Pharos, Prometheus and VictoriaMetrics get the same bytes.
//
//   rwbench generate --series 50000 --points 200 --out FILE   pre-build bodies
//           [--interval-ms 15000] [--demo 3]  (demo: series shaped like the PromLabs demo
//           service's, which the PromQL compliance queries read, for that many instances)
//           [--end-ago-ms 0]  (the last sample that long before now: data older than a
//           store's out-of-order window can be cut into blocks at once)
//   rwbench send --file FILE --port PORT [--path /api/v1/write] prints samples/s
//
// Series look like node-exporter and HTTP-server metrics: CPU-seconds counters with
// centisecond steps, request counters growing by small integers, memory and filesystem
// gauges in 4 KiB pages, temperatures with one decimal, and classic histograms. One
// sample per series per body-set at a 15 s interval. Bodies are sharded by series, each
// shard sent in time order on its own keep-alive connection, as Prometheus's shards do.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <snappy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Series {
  std::vector<std::pair<std::string, std::string>> labels;
  int kind;  // 0 counter-float, 1 counter-int, 2 gauge-pages, 3 gauge-decimal, 4 bucket,
             // 5 last-success timestamp, 6 intermittent gauge, 7 constant
  double value;
  double step;  // typical increment
};

void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void Len(std::string& out, uint32_t field, std::string_view bytes) {
  Varint(out, (field << 3) | 2);
  Varint(out, bytes.size());
  out.append(bytes);
}

// Series named and labelled like the demo service's (julius/prometheus-demo-service).
void AddDemoSeries(int instances, std::vector<Series>& out) {
  std::mt19937_64 rng(3);
  const char* les[] = {"0.0001", "0.00015", "0.00022", "0.00033", "0.0005", "0.00075", "0.0011",
                       "0.0017", "0.0025",  "0.0038",  "0.0057",  "0.0086", "0.013",   "0.019",
                       "0.029",  "0.043",   "0.065",   "0.098",   "0.15",   "0.22",    "+Inf"};
  for (int i = 0; i < instances; ++i) {
    std::string instance = "demo.promlabs.com:" + std::to_string(10000 + i);
    auto add = [&](std::vector<std::pair<std::string, std::string>> labels, int kind, double v,
                   double step) {
      labels.push_back({"instance", instance});
      labels.push_back({"job", "demo"});
      std::sort(labels.begin(), labels.end());
      out.push_back(Series{std::move(labels), kind, v, step});
    };
    for (const char* mode : {"idle", "system", "user"}) {
      add({{"__name__", "demo_cpu_usage_seconds_total"}, {"mode", mode}}, 0,
          static_cast<double>(rng() % 100000) / 100, std::string(mode) == "idle" ? 20 : 3);
    }
    for (const char* type : {"buffers", "cached", "free", "used"}) {
      add({{"__name__", "demo_memory_usage_bytes"}, {"type", type}}, 2,
          static_cast<double>((rng() % 400000) * 4096), 4096 * 8);
    }
    add({{"__name__", "demo_num_cpus"}}, 7, 4, 0);
    add({{"__name__", "demo_disk_usage_bytes"}}, 1, 1e10 + static_cast<double>(rng() % 1000000),
        50000);
    add({{"__name__", "demo_disk_total_bytes"}}, 7, 1e11, 0);
    add({{"__name__", "demo_batch_last_success_timestamp_seconds"}}, 5, 0, 0);
    add({{"__name__", "demo_intermittent_metric"}}, 6, 1, 0);
    for (const char* method : {"GET", "POST"}) {
      for (const char* path : {"/api/bar", "/api/foo", "/api/nonexistent"}) {
        for (const char* status : {"200", "500"}) {
          for (const char* le : les) {
            add({{"__name__", "demo_api_request_duration_seconds_bucket"},
                 {"le", le},
                 {"method", method},
                 {"path", path},
                 {"status", status}},
                4, 0, std::string(status) == "200" ? 30 : 2);
          }
          add({{"__name__", "demo_api_request_duration_seconds_count"},
               {"method", method},
               {"path", path},
               {"status", status}},
              1, 0, std::string(status) == "200" ? 30 : 2);
          add({{"__name__", "demo_api_request_duration_seconds_sum"},
               {"method", method},
               {"path", path},
               {"status", status}},
              0, 0, 0.3);
        }
      }
    }
  }
}

std::vector<Series> MakeSeries(int total, int demo_instances) {
  std::vector<Series> out;
  AddDemoSeries(demo_instances, out);
  std::mt19937_64 rng(7);
  const char* modes[] = {"user", "system", "idle", "iowait", "irq", "softirq", "steal", "nice"};
  const char* handlers[] = {"/api/v1/query", "/api/v1/write", "/login",   "/cart",    "/checkout",
                            "/payment",      "/search",       "/product", "/healthz", "/static"};
  const char* les[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                       "0.5",   "1",    "2.5",   "5",    "10",  "+Inf"};
  for (int inst = 0; static_cast<int>(out.size()) < total; ++inst) {
    std::string instance = "host-" + std::to_string(inst) + ":9100";
    auto add = [&](std::vector<std::pair<std::string, std::string>> labels, int kind, double v,
                   double step) {
      if (static_cast<int>(out.size()) >= total) return;
      labels.push_back({"instance", instance});
      labels.push_back({"job", "node"});
      std::sort(labels.begin(), labels.end());
      out.push_back(Series{std::move(labels), kind, v, step});
    };
    for (int cpu = 0; cpu < 8; ++cpu) {
      for (const char* mode : modes) {
        add({{"__name__", "node_cpu_seconds_total"}, {"cpu", std::to_string(cpu)}, {"mode", mode}},
            0, static_cast<double>(rng() % 1000000) / 100,
            std::string(mode) == "idle" ? 14.0 : 0.6);
      }
    }
    for (int i = 0; i < 40; ++i) {
      add({{"__name__", "node_memory_bytes"}, {"kind", "k" + std::to_string(i)}}, 2,
          static_cast<double>((rng() % 4000000) * 4096), 4096 * 16);
    }
    for (int d = 0; d < 4; ++d) {
      for (int i = 0; i < 10; ++i) {
        add({{"__name__", "node_disk_io_total"},
             {"device", "sd" + std::string(1, char('a' + d))},
             {"op", "op" + std::to_string(i)}},
            1, static_cast<double>(rng() % 100000), 5);
      }
    }
    for (int n = 0; n < 4; ++n) {
      for (int i = 0; i < 16; ++i) {
        add({{"__name__", "node_network_bytes_total"},
             {"device", "eth" + std::to_string(n)},
             {"dir", "d" + std::to_string(i)}},
            1, static_cast<double>(rng() % 10000000), 3000);
      }
    }
    for (const char* h : handlers) {
      for (const char* code : {"200", "404", "500"}) {
        for (const char* method : {"GET", "POST"}) {
          add({{"__name__", "http_requests_total"},
               {"handler", h},
               {"code", code},
               {"method", method}},
              1, static_cast<double>(rng() % 100000), std::string(code) == "200" ? 20 : 1);
        }
      }
      double base = static_cast<double>(rng() % 1000);
      for (const char* le : les) {
        add({{"__name__", "http_request_duration_seconds_bucket"}, {"handler", h}, {"le", le}}, 4,
            base, 8);
      }
      add({{"__name__", "http_request_duration_seconds_count"}, {"handler", h}}, 1, base, 8);
      add({{"__name__", "http_request_duration_seconds_sum"}, {"handler", h}}, 0, base * 0.2, 1.7);
    }
    for (int i = 0; i < 132; ++i) {
      add({{"__name__", "node_hwmon_temp_celsius"}, {"sensor", "s" + std::to_string(i)}}, 3,
          40 + static_cast<double>(rng() % 200) / 10, 0.3);
    }
  }
  return out;
}

int Generate(int series_count, int points, int shards, int per_body, int64_t interval, int demo,
             int64_t end_ago, const std::string& path) {
  std::vector<Series> series = MakeSeries(series_count, demo);
  std::mt19937_64 rng(11);
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  int64_t start = now - end_ago - static_cast<int64_t>(points) * interval;
  start -= start % interval;
  std::ofstream out(path, std::ios::binary);
  uint64_t total_samples = 0, total_bytes = 0, bodies = 0;
  std::string pb, compressed;
  // Bodies are written shard by shard, each shard in time order.
  for (int shard = 0; shard < shards; ++shard) {
    std::vector<size_t> mine;
    for (size_t i = static_cast<size_t>(shard); i < series.size(); i += static_cast<size_t>(shards))
      mine.push_back(i);
    for (int p = 0; p < points; ++p) {
      int64_t t = start + static_cast<int64_t>(p) * interval;
      for (size_t off = 0; off < mine.size(); off += static_cast<size_t>(per_body)) {
        pb.clear();
        size_t end = std::min(mine.size(), off + static_cast<size_t>(per_body));
        for (size_t k = off; k < end; ++k) {
          Series& s = series[mine[k]];
          // The intermittent series is there for 5 minutes, then gone for 5.
          if (s.kind == 6 && (t / 300000) % 2 == 1) continue;
          switch (s.kind) {
            case 0:
              s.value = std::round((s.value + s.step * (0.5 + (rng() % 100) / 100.0)) * 100) / 100;
              break;
            case 1:
            case 4:
              s.value += static_cast<double>(rng() % (static_cast<uint64_t>(s.step) + 1));
              break;
            case 2:
              s.value += static_cast<double>((static_cast<int64_t>(rng() % 33) - 16) * 4096);
              break;
            case 3: s.value = std::round((s.value + ((rng() % 7) - 3) * 0.1) * 10) / 10; break;
            case 5:
              if (s.value == 0 || rng() % 4 == 0) s.value = static_cast<double>(t / 1000);
              break;
            case 6: s.value = static_cast<double>(rng() % 10); break;
            default: break;
          }
          std::string ts;
          for (const auto& [n, v] : s.labels) {
            std::string label;
            Len(label, 1, n);
            Len(label, 2, v);
            Len(ts, 1, label);
          }
          std::string sample;
          Varint(sample, (1 << 3) | 1);
          char b[8];
          std::memcpy(b, &s.value, 8);
          sample.append(b, 8);
          Varint(sample, (2 << 3) | 0);
          Varint(sample, static_cast<uint64_t>(t));
          Len(ts, 2, sample);
          Len(pb, 1, ts);
          ++total_samples;
        }
        compressed.clear();
        snappy::Compress(pb.data(), pb.size(), &compressed);
        uint32_t header[2] = {static_cast<uint32_t>(shard),
                              static_cast<uint32_t>(compressed.size())};
        out.write(reinterpret_cast<const char*>(header), sizeof(header));
        out.write(compressed.data(), static_cast<std::streamsize>(compressed.size()));
        total_bytes += compressed.size();
        ++bodies;
      }
    }
  }
  std::printf("generated %zu series, %llu samples, %llu bodies, %.1f MiB snappy, time %lld..%lld\n",
              series.size(), static_cast<unsigned long long>(total_samples),
              static_cast<unsigned long long>(bodies), total_bytes / 1048576.0,
              static_cast<long long>(start),
              static_cast<long long>(start + (points - 1) * interval));
  return 0;
}

struct Body {
  uint32_t shard;
  std::string data;
  uint32_t samples;
};

bool SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Reads one response; returns the status code (0 on error).
int ReadResponse(int fd, std::string& buf) {
  while (true) {
    size_t end = buf.find("\r\n\r\n");
    if (end != std::string::npos) {
      int status = std::atoi(buf.c_str() + 9);
      size_t length = 0;
      size_t cl = buf.find("Content-Length:");
      if (cl == std::string::npos) cl = buf.find("content-length:");
      if (cl != std::string::npos && cl < end)
        length = std::strtoul(buf.c_str() + cl + 15, nullptr, 10);
      while (buf.size() < end + 4 + length) {
        char tmp[65536];
        ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
        if (n <= 0) return 0;
        buf.append(tmp, static_cast<size_t>(n));
      }
      buf.erase(0, end + 4 + length);
      return status;
    }
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
    if (n <= 0) return 0;
    buf.append(tmp, static_cast<size_t>(n));
  }
}

int Send(const std::string& path, int port, const std::string& url_path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::vector<std::string>> shards;
  uint32_t header[2];
  size_t bodies = 0;
  while (in.read(reinterpret_cast<char*>(header), sizeof(header))) {
    std::string data(header[1], '\0');
    in.read(data.data(), header[1]);
    if (shards.size() <= header[0]) shards.resize(header[0] + 1);
    shards[header[0]].push_back(std::move(data));
    ++bodies;
  }
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> sent{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (auto& shard : shards) {
    threads.emplace_back([&, port] {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        failures += shard.size();
        return;
      }
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      std::string buf;
      for (const std::string& body : shard) {
        std::string req = "POST " + url_path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: snappy\r\n"
                          "Content-Type: application/x-protobuf\r\nUser-Agent: rwbench\r\n"
                          "X-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n";
        req += body;
        if (!SendAll(fd, req)) {
          ++failures;
          break;
        }
        int status = ReadResponse(fd, buf);
        if (status < 200 || status >= 300) {
          if (failures++ < 3) std::fprintf(stderr, "status %d\n", status);
        }
        ++sent;
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("sent %zu bodies on %zu connections in %.2f s; failures %llu\n", bodies,
              shards.size(), seconds, static_cast<unsigned long long>(failures.load()));
  std::printf("seconds=%.4f\n", seconds);
  return failures == 0 ? 0 : 1;
}

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rwbench generate|send [flags]\n");
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "generate") {
    return Generate(std::atoi(Arg(argc, argv, "--series", "50000").c_str()),
                    std::atoi(Arg(argc, argv, "--points", "200").c_str()),
                    std::atoi(Arg(argc, argv, "--shards", "4").c_str()),
                    std::atoi(Arg(argc, argv, "--per-body", "2000").c_str()),
                    std::atoll(Arg(argc, argv, "--interval-ms", "15000").c_str()),
                    std::atoi(Arg(argc, argv, "--demo", "0").c_str()),
                    std::atoll(Arg(argc, argv, "--end-ago-ms", "0").c_str()),
                    Arg(argc, argv, "--out", "bodies.bin"));
  }
  if (cmd == "send") {
    return Send(Arg(argc, argv, "--file", "bodies.bin"),
                std::atoi(Arg(argc, argv, "--port", "0").c_str()),
                Arg(argc, argv, "--path", "/api/v1/write"));
  }
  std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
  return 2;
}
