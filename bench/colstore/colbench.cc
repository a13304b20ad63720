// colbench: loghub-shaped records into the column store, for bench/colstore/run.sh.
//
//   colbench --testdata DIR --rows N --dir DIR [--tsv FILE]
//
// Builds N rows from the loghub 2k samples (every system's raw lines, cycled; each row
// gets a fresh request id so values are not trivially repeated), one stream per system
// and host, two columns (body, level). Appends them in requests of 1,000 rows (as a push
// request would), flushes, reports bytes on disk, then scans everything --scans times
// (count and body bytes, all columns; 3 by default) and reports the fastest. With --tsv, writes the
// same rows as TSV for ClickHouse (stream, ts, body, level). Prints one JSON line.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "colstore/colstore.h"

namespace {

using namespace pharos;
using Clock = std::chrono::steady_clock;

struct Line {
  std::string stream_labels;  // for the TSV
  size_t stream;
  std::string body;
  std::string level;
};

double Seconds(Clock::time_point from) {
  return std::chrono::duration<double>(Clock::now() - from).count();
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

// TSV escaping as ClickHouse reads it.
void AppendTsv(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\\': out += "\\\\"; break;
      default: out += c;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string testdata = "../shared/testdata", dir, tsv;
  uint64_t rows = 1'000'000;
  int scans = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--testdata")
      testdata = value;
    else if (flag == "--rows")
      rows = std::stoull(value);
    else if (flag == "--dir")
      dir = value;
    else if (flag == "--tsv")
      tsv = value;
    else if (flag == "--scans")
      scans = std::stoi(value);
    else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (dir.empty()) {
    std::cerr << "colbench: --dir is required\n";
    return 2;
  }
  // Sources: every loghub system's raw 2k log, lines without their CR.
  std::vector<std::pair<std::string, std::vector<std::string>>> systems;
  for (const auto& e : std::filesystem::directory_iterator(testdata + "/loghub")) {
    if (!e.is_directory()) continue;
    std::string name = e.path().filename();
    std::ifstream in(e.path() / (name + "_2k.log"));
    if (!in) continue;
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      if (!l.empty()) lines.push_back(std::move(l));
    }
    if (!lines.empty()) systems.emplace_back(name, std::move(lines));
  }
  if (systems.empty()) {
    std::cerr << "colbench: no loghub logs under " << testdata << "/loghub\n";
    return 2;
  }
  std::sort(systems.begin(), systems.end());
  constexpr int kHosts = 2;
  std::vector<model::Labels> streams;
  for (const auto& [name, lines] : systems)
    for (int h = 0; h < kHosts; ++h)
      streams.push_back({{"host", "h" + std::to_string(h)}, {"system", name}});

  std::vector<Line> data;
  data.reserve(rows);
  uint64_t raw_bytes = 0;
  for (uint64_t i = 0; i < rows; ++i) {
    size_t s = i % systems.size();
    const auto& lines = systems[s].second;
    Line l;
    l.stream = s * kHosts + (i / systems.size()) % kHosts;
    l.body = lines[(i / systems.size()) % lines.size()] +
             fmt::format(" req={:016x}", i * 0x9E3779B97F4A7C15ULL);
    bool error = l.body.find("rror") != std::string::npos ||
                 l.body.find("ERROR") != std::string::npos ||
                 l.body.find("FATAL") != std::string::npos;
    l.level = error ? "error" : "info";
    raw_bytes += l.body.size();
    data.push_back(std::move(l));
  }
  int64_t base_ns = (std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count() -
                     3'600'000) *
                    1'000'000;
  auto time_of = [&](uint64_t i) { return base_ns + static_cast<int64_t>(i) * 1000; };

  std::filesystem::remove_all(dir);
  selfmon::Registry registry;
  colstore::Options options;
  options.dir = dir;
  options.maintenance_interval = std::chrono::milliseconds(500);
  options.retention = std::chrono::hours(24 * 365);
  Result<std::unique_ptr<colstore::Store>> opened = colstore::Store::Open(options, registry);
  if (!opened.ok()) {
    std::cerr << opened.status().message() << "\n";
    return 1;
  }
  colstore::Store& store = **opened;

  // Requests of 1,000 rows: one StreamInput per stream present in the request.
  constexpr uint64_t kRequestRows = 1000;
  std::vector<std::vector<colstore::Column>> columns(kRequestRows);
  std::vector<std::vector<colstore::RecordInput>> per_stream(streams.size());
  std::vector<std::vector<model::LabelView>> label_views(streams.size());
  for (size_t s = 0; s < streams.size(); ++s)
    for (const model::Label& l : streams[s]) label_views[s].push_back({l.name, l.value});
  auto start = Clock::now();
  for (uint64_t first = 0; first < rows; first += kRequestRows) {
    uint64_t n = std::min(kRequestRows, rows - first);
    for (auto& v : per_stream) v.clear();
    for (uint64_t k = 0; k < n; ++k) {
      const Line& l = data[first + k];
      columns[k] = {{"body", colstore::Value::String(l.body)},
                    {"level", colstore::Value::String(l.level)}};
      per_stream[l.stream].push_back({time_of(first + k), columns[k]});
    }
    std::vector<colstore::StreamInput> batch;
    for (size_t s = 0; s < streams.size(); ++s)
      if (!per_stream[s].empty()) batch.push_back({label_views[s], per_stream[s]});
    colstore::AppendResult result;
    Status st = store.Append(batch, result);
    if (!st.ok() || result.accepted != n) {
      std::cerr << "append failed: " << st.message() << " accepted " << result.accepted << "\n";
      return 1;
    }
  }
  double append_s = Seconds(start);
  auto flush_start = Clock::now();
  if (Status st = store.Flush(); !st.ok()) {
    std::cerr << "flush: " << st.message() << "\n";
    return 1;
  }
  double flush_s = Seconds(flush_start);
  uint64_t disk = DirBytes(dir);

  double best_scan = 1e9;
  uint64_t scanned = 0, body_bytes = 0;
  for (int run = 0; run < scans; ++run) {
    scanned = body_bytes = 0;
    auto scan_start = Clock::now();
    Result<colstore::ScanStats> r = store.Scan(colstore::ScanPlan(), [&](const colstore::Row& row) {
      ++scanned;
      for (const colstore::Column& c : row.columns)
        if (c.name == "body") body_bytes += c.value.s.size();
      return true;
    });
    if (!r.ok()) {
      std::cerr << "scan: " << r.status().message() << "\n";
      return 1;
    }
    best_scan = std::min(best_scan, Seconds(scan_start));
    std::fprintf(stderr, "scan %d: %.3f s\n", run + 1, Seconds(scan_start));
  }
  if (scanned != rows || body_bytes != raw_bytes) {
    std::cerr << "scan returned " << scanned << " rows, " << body_bytes << " body bytes; want "
              << rows << ", " << raw_bytes << "\n";
    return 1;
  }
  (void)store.Close();
  // Written after the measurements, so its writeback does not compete with them.
  if (!tsv.empty()) {
    std::ofstream out(tsv);
    std::string buf;
    for (uint64_t i = 0; i < rows; ++i) {
      const Line& l = data[i];
      buf.clear();
      AppendTsv(buf, model::FormatLabels(streams[l.stream]));
      buf += '\t';
      buf += std::to_string(time_of(i));
      buf += '\t';
      AppendTsv(buf, l.body);
      buf += '\t';
      buf += l.level;
      buf += '\n';
      out << buf;
    }
  }

  std::printf(
      "{\"rows\":%lu,\"raw_bytes\":%lu,\"append_seconds\":%.3f,\"rows_per_second\":%.0f,"
      "\"flush_seconds\":%.3f,\"disk_bytes\":%lu,\"bytes_per_row\":%.2f,\"scan_seconds\":%.3f,"
      "\"scan_gb_per_second\":%.3f}\n",
      static_cast<unsigned long>(rows), static_cast<unsigned long>(raw_bytes), append_s,
      static_cast<double>(rows) / append_s, flush_s, static_cast<unsigned long>(disk),
      static_cast<double>(disk) / static_cast<double>(rows), best_scan,
      static_cast<double>(raw_bytes) / best_scan / 1e9);
  return 0;
}
