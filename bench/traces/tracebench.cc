// tracebench: the trace benchmark's data, sender and Pharos queries.
//
//   tracebench ingest --spans N --port P [--connections 4] [--tsv FILE] [--path /v1/traces]
//     Builds traces shaped like the demo shop (frontend -> checkout -> cart, payment,
//     inventory, each with its database calls; 5 to 50 spans a trace, the semantic
//     conventions' http.*, db.*, rpc.* attributes; 2% of payments fail, 1% take over a
//     second) with start times spread over the two hours before now, until N spans; writes
//     them as TSV for ClickHouse (one row per span, SigNoz's layout); sends them to Pharos
//     as OTLP/HTTP protobuf from pre-encoded bodies of about 1,000 spans on keep-alive
//     connections; prints one JSON object with the rate and the answers the queries must
//     give.
//   tracebench query --port P --expect JSON
//     Trace by id for 200 stored traces (p50 and p99 of each, every answer checked for its
//     span count) and the search "service payment, payment.method=card, duration > 1 s over
//     the whole range, 20 traces" (median of 7, answer checked), through Jaeger's API.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/strings.h"
#include "tests/support/http_client.h"
#include "tests/support/protobuf.h"

namespace {

using pharos::testing::HttpResponse;
using pharos::testing::Pb;
using pharos::testing::RawConnection;

std::string Arg(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == name) return argv[i + 1];
  return fallback;
}

const char* kServices[] = {"frontend", "checkout", "cart", "payment", "inventory"};
constexpr int kServiceCount = 5;

struct Attr {
  std::string key;
  std::string s;
  int64_t i = 0;
  double d = 0;
  int type = 0;  // 0 string, 1 int, 2 double
};

struct Span {
  int service;
  std::string trace_id, span_id, parent_id;  // raw bytes
  std::string name;
  int kind;
  uint64_t start, end;
  int status = 0;
  std::string status_message;
  std::vector<Attr> attrs;
};

Attr S(std::string k, std::string v) { return {std::move(k), std::move(v), 0, 0, 0}; }
Attr I(std::string k, int64_t v) { return {std::move(k), "", v, 0, 1}; }
Attr D(std::string k, double v) { return {std::move(k), "", 0, v, 2}; }

std::string AnyValue(const Attr& a) {
  if (a.type == 1) return Pb().Int(3, a.i).out;
  if (a.type == 2) return Pb().Double(4, a.d).out;
  return Pb().Len(1, a.s).out;
}

std::string EncodeSpan(const Span& s) {
  Pb p;
  p.Len(1, s.trace_id).Len(2, s.span_id);
  if (!s.parent_id.empty()) p.Len(4, s.parent_id);
  p.Len(5, s.name).Int(6, s.kind).Fixed(7, s.start).Fixed(8, s.end);
  for (const Attr& a : s.attrs) p.Len(9, Pb().Len(1, a.key).Len(2, AnyValue(a)).out);
  if (s.status) p.Len(15, Pb().Len(2, s.status_message).Int(3, s.status).out);
  return p.out;
}

std::string Resource(int service) {
  Pb r;
  auto kv = [&](const std::string& k, const std::string& v) {
    r.Len(1, Pb().Len(1, k).Len(2, Pb().Len(1, v).out).out);
  };
  kv("service.name", kServices[service]);
  kv("service.version", "1.4.2");
  kv("deployment.environment", "production");
  kv("host.name", fmt::format("{}-1", kServices[service]));
  kv("service.instance.id", fmt::format("{}-7f9c", kServices[service]));
  return r.out;
}

// One request body: the spans grouped by service (one ResourceSpans each).
std::string Body(const std::vector<const Span*>& spans) {
  std::vector<Pb> scopes(kServiceCount);
  for (const Span* s : spans) scopes[s->service].Len(2, EncodeSpan(*s));
  Pb body;
  for (int sv = 0; sv < kServiceCount; ++sv) {
    if (scopes[sv].out.empty()) continue;
    std::string scope =
        Pb().Len(1, Pb().Len(1, "io.opentelemetry.auto").Len(2, "2.1.0").out).out + scopes[sv].out;
    body.Len(1, Pb().Len(1, Resource(sv)).Len(2, scope).out);
  }
  return body.out;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}
  std::string Id(size_t bytes) {
    std::string id(bytes, '\0');
    for (char& c : id) c = static_cast<char>(rng_());
    if (id[0] == 0) id[0] = 1;
    return id;
  }
  // One trace starting at `start` (ns); appends its spans.
  void Trace(uint64_t start, std::vector<Span>& out, bool& slow_card) {
    std::string trace = Id(16);
    std::uniform_int_distribution<int> items_dist(0, 9);
    int items = items_dist(rng_);
    bool fail = rng_() % 50 == 0;
    bool slow = rng_() % 100 == 0;
    bool card = rng_() % 2 == 0;
    auto add = [&](int service, const std::string& parent, std::string name, int kind,
                   uint64_t begin, uint64_t duration, std::vector<Attr> attrs) -> Span& {
      Span& s = out.emplace_back();
      s.service = service;
      s.trace_id = trace;
      s.span_id = Id(8);
      s.parent_id = parent;
      s.name = std::move(name);
      s.kind = kind;
      s.start = begin;
      s.end = begin + duration;
      s.attrs = std::move(attrs);
      return s;
    };
    uint64_t ms = 1'000'000;
    uint64_t pay_ms = slow ? 1200 + rng_() % 800 : 20 + rng_() % 60;
    uint64_t total = (40 + pay_ms + items * 6) * ms;
    int status = fail ? 500 : 200;
    std::string root =
        add(0, "", "GET /checkout", 2, start, total,
            {S("http.request.method", "GET"), S("http.route", "/checkout"),
             I("http.response.status_code", status), S("url.path", "/checkout"),
             S("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
             S("client.address", fmt::format("10.0.{}.{}", rng_() % 256, rng_() % 256))})
            .span_id;
    std::string call =
        add(0, root, "POST", 3, start + ms, total - 2 * ms,
            {S("http.request.method", "POST"), S("url.full", "http://checkout:8080/api/checkout"),
             S("server.address", "checkout"), I("server.port", 8080),
             I("http.response.status_code", status)})
            .span_id;
    std::string co = add(1, call, "POST /api/checkout", 2, start + 2 * ms, total - 4 * ms,
                         {S("http.request.method", "POST"), S("http.route", "/api/checkout"),
                          I("http.response.status_code", status)})
                         .span_id;
    auto rpc = [&](int service, const std::string& method, uint64_t begin, uint64_t duration,
                   bool error) {
      std::string client = add(1, co, "oteldemo." + std::string(kServices[service]) + "/" + method,
                               3, begin, duration,
                               {S("rpc.system", "grpc"), S("rpc.service", kServices[service]),
                                S("rpc.method", method), I("rpc.grpc.status_code", error ? 13 : 0)})
                               .span_id;
      Span& server =
          add(service, client, "oteldemo." + std::string(kServices[service]) + "/" + method, 2,
              begin + ms / 2, duration - ms,
              {S("rpc.system", "grpc"), S("rpc.method", method),
               I("rpc.grpc.status_code", error ? 13 : 0)});
      return server.span_id;
    };
    uint64_t t = start + 3 * ms;
    std::string cart = rpc(2, "GetCart", t, 8 * ms, false);
    add(2, cart, "SELECT carts", 3, t + ms, 3 * ms,
        {S("db.system", "postgresql"), S("db.name", "shop"), S("db.operation", "SELECT"),
         S("db.statement", "SELECT * FROM carts WHERE user_id = $1")});
    t += 9 * ms;
    for (int i = 0; i < items; ++i) {
      std::string inv = rpc(4, "Reserve", t, 5 * ms, false);
      add(4, inv, "UPDATE stock", 3, t + ms, 2 * ms,
          {S("db.system", "postgresql"), S("db.name", "inventory"), S("db.operation", "UPDATE"),
           S("db.statement", "UPDATE stock SET reserved = reserved + $1 WHERE sku = $2"),
           S("app.product.id", fmt::format("SKU-{:05}", rng_() % 20000))});
      t += 6 * ms;
    }
    std::string pay = rpc(3, "Charge", t, pay_ms * ms, fail);
    Span& charge = add(3, pay, "charge", 1, t + ms, (pay_ms - 2) * ms,
                       {S("payment.method", card ? "card" : "paypal"),
                        D("payment.amount", static_cast<double>(rng_() % 50000) / 100),
                        S("app.user.id", fmt::format("u-{}", rng_() % 100000))});
    if (fail) {
      charge.status = 2;
      charge.status_message = "card declined";
    }
    slow_card = slow && card;
  }

 private:
  std::mt19937_64 rng_;
};

int Ingest(int argc, char** argv) {
  long long want = std::stoll(Arg(argc, argv, "--spans", "1000000"));
  int port = std::stoi(Arg(argc, argv, "--port", "0"));
  int connections = std::stoi(Arg(argc, argv, "--connections", "4"));
  std::string tsv = Arg(argc, argv, "--tsv", "");
  std::string path = Arg(argc, argv, "--path", "/v1/traces");
  uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::system_clock::now().time_since_epoch())
                                           .count());
  uint64_t begin = now - 2ULL * 3600 * 1'000'000'000;
  Generator gen(42);
  std::vector<Span> spans;
  spans.reserve(static_cast<size_t>(want) + 64);
  std::vector<std::pair<std::string, size_t>> traces;  // (id, spans)
  long long slow_card = 0;
  // Traces' starts spread evenly over the two hours; the count of traces comes from the
  // spans wanted (about 16 spans a trace), so generate until there are enough.
  uint64_t step = 2ULL * 3600 * 1'000'000'000 / static_cast<uint64_t>(std::max(1LL, want / 16));
  for (uint64_t t = begin; static_cast<long long>(spans.size()) < want; t += step) {
    size_t before = spans.size();
    bool sc = false;
    gen.Trace(t, spans, sc);
    slow_card += sc;
    traces.emplace_back(spans[before].trace_id, spans.size() - before);
  }
  if (!tsv.empty()) {
    std::ofstream out(tsv);
    std::string line;
    for (const Span& s : spans) {
      line.clear();
      std::string keys = "[", values = "[";
      std::string method, url, code, db;
      for (const Attr& a : s.attrs) {
        std::string v = a.type == 1   ? std::to_string(a.i)
                        : a.type == 2 ? fmt::format("{}", a.d)
                                      : a.s;
        if (a.key == "http.request.method") method = v;
        if (a.key == "url.full" || a.key == "url.path") url = v;
        if (a.key == "http.response.status_code") code = v;
        if (a.key == "db.system") db = v;
        keys += (keys.size() > 1 ? ",'" : "'") + a.key + "'";
        std::string escaped;
        for (char c : v) escaped += c == '\'' ? std::string("\\'") : std::string(1, c);
        values += (values.size() > 1 ? ",'" : "'") + escaped + "'";
      }
      keys += "]";
      values += "]";
      fmt::format_to(std::back_inserter(line),
                     "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n", s.start,
                     pharos::HexEncode(s.trace_id), pharos::HexEncode(s.span_id),
                     pharos::HexEncode(s.parent_id), kServices[s.service], s.name, s.kind,
                     s.end - s.start, s.status, method, url, code, db, keys, values);
      out << line;
    }
  }
  // Bodies of about 1,000 spans, whole traces each.
  std::vector<std::string> bodies;
  std::vector<const Span*> batch;
  for (size_t i = 0; i < spans.size(); ++i) {
    batch.push_back(&spans[i]);
    bool trace_ends = i + 1 == spans.size() || spans[i + 1].trace_id != spans[i].trace_id;
    if (batch.size() >= 1000 && trace_ends) {
      bodies.push_back(Body(batch));
      batch.clear();
    }
  }
  if (!batch.empty()) bodies.push_back(Body(batch));
  uint64_t bytes = 0;
  for (const std::string& b : bodies) bytes += b.size();
  size_t n = spans.size();
  std::vector<Span>().swap(spans);
  // An export is acknowledged whole: 200 without partial success (an empty body).
  pharos::testing::PostAllResult sent = pharos::testing::PostAll(
      static_cast<uint16_t>(port), path, "application/x-protobuf", bodies, connections,
      [](const HttpResponse& r) { return r.status == 200 && r.body.empty(); }, "tracebench");
  double seconds = sent.seconds;
  if (sent.failures > 0) return 1;
  // 200 traces spread over the data, with their span counts, for the lookups.
  std::string sample;
  for (size_t i = 0; i < 200 && i < traces.size(); ++i) {
    const auto& [id, count] = traces[i * traces.size() / 200];
    sample += fmt::format("{}{}:{}", i ? "," : "", pharos::HexEncode(id), count);
  }
  std::printf(R"({"spans":%zu,"traces":%zu,"otlp_bytes":%llu,"ingest_seconds":%.3f,)"
              R"("spans_per_second":%.0f,"start_ns":%llu,"end_ns":%llu,"slow_card":%lld,)"
              R"("sample":"%s"})"
              "\n",
              n, traces.size(), static_cast<unsigned long long>(bytes), seconds, n / seconds,
              static_cast<unsigned long long>(begin), static_cast<unsigned long long>(now),
              slow_card, sample.c_str());
  return 0;
}

std::string Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return "";
  at += key.size() + 3;
  if (json[at] == '"') return json.substr(at + 1, json.find('"', at + 1) - at - 1);
  size_t end = json.find_first_of(",}", at);
  return json.substr(at, end - at);
}

size_t Count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

int Query(int argc, char** argv) {
  int port = std::stoi(Arg(argc, argv, "--port", "0"));
  std::string expect = Arg(argc, argv, "--expect", "{}");
  RawConnection conn(static_cast<uint16_t>(port));
  auto get = [&](const std::string& target, double& ms) {
    auto t0 = std::chrono::steady_clock::now();
    conn.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    HttpResponse r = conn.Read(60000);
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  std::vector<double> by_id;
  std::string sample = Field(expect, "sample");
  for (std::string_view item : pharos::Split(sample, ',')) {
    std::string id(item.substr(0, item.find(':')));
    size_t spans = std::stoul(std::string(item.substr(item.find(':') + 1)));
    double ms = 0;
    HttpResponse r = get("/api/traces/" + id, ms);
    size_t got = Count(r.body, "\"operationName\":");
    if (r.status != 200 || got != spans) {
      std::fprintf(stderr, "tracebench: trace %s answered %d with %zu spans, want %zu\n",
                   id.c_str(), r.status, got, spans);
      return 1;
    }
    by_id.push_back(ms);
  }
  std::sort(by_id.begin(), by_id.end());
  auto pct = [&](double p) { return by_id[static_cast<size_t>(p * (by_id.size() - 1))]; };
  long long start_us = std::stoll(Field(expect, "start_ns")) / 1000;
  long long end_us = std::stoll(Field(expect, "end_ns")) / 1000 + 1;
  long long slow_card = std::stoll(Field(expect, "slow_card"));
  std::string search =
      fmt::format("/api/traces?service=payment&limit=20&minDuration=1s&start={}&end={}&tags={}",
                  start_us, end_us, pharos::UrlQueryEscape(R"({"payment.method":"card"})"));
  std::vector<double> searches;
  for (int i = 0; i < 7; ++i) {
    double ms = 0;
    HttpResponse r = get(search, ms);
    std::string total = Field(r.body, "total");
    if (r.status != 200 || total != std::to_string(std::min(20LL, slow_card))) {
      std::fprintf(stderr, "tracebench: search answered %d with total %s, want %lld\n", r.status,
                   total.c_str(), std::min(20LL, slow_card));
      return 1;
    }
    searches.push_back(ms);
  }
  std::sort(searches.begin(), searches.end());
  std::printf(R"({"by_id_p50_ms":%.3f,"by_id_p99_ms":%.3f,"search_ms":%.3f})"
              "\n",
              pct(0.5), pct(0.99), searches[3]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view cmd = argc > 1 ? argv[1] : "";
  if (cmd == "ingest") return Ingest(argc, argv);
  if (cmd == "query") return Query(argc, argv);
  std::fprintf(stderr, "usage: tracebench ingest|query ...\n");
  return 2;
}
