// `pharos openmetrics-test DIR`: runs the OpenMetrics parser suite (a directory of cases,
// each with `metrics` and `test.json` saying whether it must parse) and reports
// "N passed, M failed". Exit 0 when all pass, 1 otherwise, 77 (skip) when DIR is absent.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "app/app.h"
#include "ingest/ingest.h"

namespace pharos::app {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int RunOpenMetricsSuite(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) {
    std::printf("openmetrics-test: %s not found; suite skipped (set PHAROS_TESTDATA)\n",
                dir.c_str());
    return 77;
  }
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_directory() && fs::exists(entry.path() / "test.json"))
      cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  int passed = 0, failed = 0;
  ingest::TextBatch batch;
  for (const fs::path& c : cases) {
    std::string spec = ReadFile(c / "test.json");
    bool should_parse = spec.find("\"shouldParse\": true") != std::string::npos ||
                        spec.find("\"shouldParse\":true") != std::string::npos;
    std::string text = ReadFile(c / "metrics");
    Status s = ingest::ParseText(text, ingest::TextFormat::kOpenMetrics, 0, batch, /*strict=*/true);
    if (s.ok() == should_parse) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s: want %s, got %s\n", c.filename().c_str(),
                  should_parse ? "parse" : "reject", s.ok() ? "parsed" : s.message().c_str());
    }
  }
  std::printf("openmetrics parser suite (%s)\n%d passed, %d failed\n", dir.c_str(), passed, failed);
  return failed == 0 ? 0 : 1;
}

int RunScripts(
    const std::vector<std::string>& files, const std::string& skip_list, bool verbose,
    std::string_view tool, std::string_view prefix,
    const std::function<ScriptOutcome(const std::string& name, const std::string& text,
                                      const std::map<std::string, std::string>& skips)>& run) {
  Result<std::map<std::string, std::string>> skips = ReadSkipList(skip_list);
  if (!skips.ok()) {
    std::fprintf(stderr, "%.*s: %s\n", static_cast<int>(tool.size()), tool.data(),
                 skips.status().message().c_str());
    return 2;
  }
  int passed = 0, failed = 0, skipped = 0;
  bool any_file = false;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) {
      std::printf("%.*s: %s not found; skipped (set PHAROS_TESTDATA)\n",
                  static_cast<int>(tool.size()), tool.data(), file.c_str());
      continue;
    }
    any_file = true;
    std::stringstream ss;
    ss << in.rdbuf();
    std::string name = std::filesystem::path(file).filename().string();
    ScriptOutcome out = run(name, ss.str(), *skips);
    size_t shown = 0;
    for (const std::string& f : out.failures) {
      if (verbose || shown++ < 20) std::printf("FAIL %s\n", f.c_str());
    }
    if (!out.status.ok()) {
      std::printf("FAIL %s: %s\n", name.c_str(), out.status.message().c_str());
      ++out.failed;
    }
    std::printf("%s: %d passed, %d failed%s\n", name.c_str(), out.passed, out.failed,
                out.skipped ? fmt::format(", {} skipped", out.skipped).c_str() : "");
    passed += out.passed;
    failed += out.failed;
    skipped += out.skipped;
  }
  if (!any_file) return 77;
  std::printf("%.*s%d passed, %d failed%s\n", static_cast<int>(prefix.size()), prefix.data(),
              passed, failed, skipped ? fmt::format(", {} skipped", skipped).c_str() : "");
  return failed == 0 ? 0 : 1;
}

}  // namespace pharos::app
