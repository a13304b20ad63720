// libFuzzer target: PromQL evaluation. Whatever parses is evaluated, as an instant and as
// a range query, against a small store with counters, gauges, gaps, staleness markers and
// classic histogram buckets: no crash, no hang, no unbounded memory (the sample limit and
// the timeout are small), and errors only as values.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "common/log.h"
#include "promql/promql.h"
#include "selfmon/metrics.h"
#include "tsdb/tsdb.h"

namespace {

struct Fixture {
  pharos::selfmon::Registry registry;
  std::unique_ptr<pharos::tsdb::Db> db;
  std::unique_ptr<pharos::promql::Engine> engine;

  Fixture() {
    pharos::SetLogLevel(pharos::LogLevel::kError);
    pharos::tsdb::Options o;
    o.dir = "/tmp/pharos-promql-eval-fuzz-" + std::to_string(::getpid());
    (void)pharos::DefaultEnv()->RemoveAll(o.dir);
    static std::string dir = o.dir;
    std::atexit([] { (void)pharos::DefaultEnv()->RemoveAll(dir); });
    db = std::move(pharos::tsdb::Db::Open(o, registry)).value();
    auto add = [&](std::vector<pharos::model::LabelView> labels,
                   std::vector<pharos::tsdb::Sample> samples) {
      pharos::tsdb::SeriesInput in{labels, samples};
      pharos::tsdb::AppendResult r;
      (void)db->Append(std::span<const pharos::tsdb::SeriesInput>(&in, 1), r);
    };
    for (int i = 0; i < 3; ++i) {
      std::string inst = std::to_string(i);
      std::vector<pharos::tsdb::Sample> c, g;
      for (int64_t t = 0; t <= 600; t += 15) {
        double v = (t % 300 == 0 && t > 0) ? 0 : static_cast<double>(t * (i + 1));
        c.push_back({t * 1000, v});                                // a counter with resets
        if (t % 90 != 45) g.push_back({t * 1000, i - t / 100.0});  // a gauge with gaps
      }
      g.push_back({601'000, pharos::tsdb::StaleNaN()});
      add({{"__name__", "req_total"}, {"instance", inst}, {"job", "api"}}, c);
      add({{"__name__", "temp"}, {"instance", inst}, {"job", "node"}}, g);
      for (const char* le : {"0.1", "1", "10", "+Inf"}) {
        std::vector<pharos::tsdb::Sample> b;
        for (int64_t t = 0; t <= 600; t += 30) {
          b.push_back({t * 1000, static_cast<double>(t) * (le[0] == '+' ? 4 : le[0] - '0' + 1)});
        }
        add({{"__name__", "lat_bucket"}, {"instance", inst}, {"le", le}}, b);
      }
    }
    pharos::promql::EngineOptions eo;
    eo.max_samples = 200'000;
    eo.timeout = std::chrono::milliseconds(200);
    engine = std::make_unique<pharos::promql::Engine>(eo);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  if (size > 512) return 0;  // long queries only cost time; the parser fuzzer covers them
  std::string_view q(reinterpret_cast<const char*>(data), size);
  (void)f->engine->Instant(*f->db, q, 300'000);
  (void)f->engine->Range(*f->db, q, 0, 600'000, 30'000);
  return 0;
}
