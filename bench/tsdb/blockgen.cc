// blockgen: writes TSDB blocks straight through the block writer, for start-up and query
// benchmarks that need data directories of many large blocks without ingesting them.
//
//   blockgen --dir DATA/tsdb/blocks --blocks 10 --series 200000 --points 120
//            [--end-ms NOW] [--spacing-hours 6] [--block-hours 2]
//
// Block k (0 = newest) covers [end - k*spacing - block_hours, end - k*spacing), so with
// the default spacing no three level-1 blocks share a merge window and nothing is merged
// while a benchmark runs. Series look like node exporter's: 100 metric names x hosts.
// Prints one line per block: id, series, samples, file bytes, index bytes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <fmt/format.h>

#include "tsdb/block.h"

using pharos::DefaultEnv;
using pharos::Status;
using namespace pharos::tsdb;

int main(int argc, char** argv) {
  std::string dir;
  int blocks = 1, points = 120;
  long series = 200000;
  double spacing_hours = 6, block_hours = 2;
  int64_t end = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--dir")
      dir = value;
    else if (flag == "--blocks")
      blocks = std::atoi(value.c_str());
    else if (flag == "--series")
      series = std::atol(value.c_str());
    else if (flag == "--points")
      points = std::atoi(value.c_str());
    else if (flag == "--end-ms")
      end = std::atoll(value.c_str());
    else if (flag == "--spacing-hours")
      spacing_hours = std::atof(value.c_str());
    else if (flag == "--block-hours")
      block_hours = std::atof(value.c_str());
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (dir.empty() || blocks < 1 || series < 1 || points < 2) {
    std::fprintf(stderr, "usage: blockgen --dir DIR [--blocks N --series N --points N]\n");
    return 2;
  }
  if (!DefaultEnv()->MakeDirs(dir).ok()) return 1;
  const int64_t hour = 3600 * 1000;
  std::vector<Labels> labels;
  labels.reserve(series);
  for (long i = 0; i < series; ++i) {
    labels.push_back({{"__name__", fmt::format("node_metric_{:03d}_total", i % 100)},
                      {"instance", fmt::format("host-{:05d}.example.org:9100", i / 100)},
                      {"job", "node"},
                      {"region", fmt::format("region-{}", (i / 100) % 8)}});
  }
  std::sort(labels.begin(), labels.end(), pharos::model::LabelsLess);
  std::vector<Sample> samples(points);
  for (int k = 0; k < blocks; ++k) {
    int64_t max_t = end - static_cast<int64_t>(k * spacing_hours * hour) - 1;
    int64_t min_t = max_t + 1 - static_cast<int64_t>(block_hours * hour);
    int64_t step = (max_t - min_t) / points;
    BlockMeta meta;
    meta.min_t = min_t;
    meta.max_t = max_t;
    meta.level = 1;
    meta.id = fmt::format("{:016x}-{:016x}-1", static_cast<uint64_t>(min_t),
                          static_cast<uint64_t>(max_t));
    auto writer = BlockWriter::Create(DefaultEnv(), dir, meta.id + ".tmp");
    if (!writer.ok()) {
      std::fprintf(stderr, "%s\n", writer.status().ToString().c_str());
      return 1;
    }
    for (long i = 0; i < series; ++i) {
      double v = static_cast<double>(i % 977) * 1000;
      for (int p = 0; p < points; ++p) {
        v += static_cast<double>((i + p) % 7);
        samples[p] = {min_t + p * step, v};
      }
      Status s = (*writer)->Add(labels[i], samples);
      if (!s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    Status s = (*writer)->Finish(meta);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    auto block = Block::Open(DefaultEnv(), dir + "/" + meta.id);
    if (!block.ok()) {
      std::fprintf(stderr, "%s\n", block.status().ToString().c_str());
      return 1;
    }
    std::printf("%s series=%llu samples=%llu bytes=%llu index_bytes=%llu\n", meta.id.c_str(),
                static_cast<unsigned long long>(meta.num_series),
                static_cast<unsigned long long>(meta.num_samples),
                static_cast<unsigned long long>((*block)->size_bytes()),
                static_cast<unsigned long long>((*block)->index_bytes()));
  }
  return 0;
}
