// libFuzzer target: a TSDB block's data file, any bytes. Opening (version 2), selecting,
// reading every series and listing labels must return values or DataLoss, never crash or
// read outside the file; a version-1 file is rewritten through the version-1 decoder.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/env.h"
#include "tsdb/block.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pharos::tsdb;
  static const std::string dir = "/tmp/pharos-block-fuzz-" + std::to_string(::getpid());
  static const std::string block = dir + "/0000000000000000-00000000000003e8-1";
  pharos::Env* env = pharos::DefaultEnv();
  (void)env->RemoveAll(dir);
  (void)env->MakeDirs(block);
  (void)env->WriteFile(block + "/meta.json",
                       "{\"version\":2,\"id\":\"b\",\"minTime\":0,\"maxTime\":1000,"
                       "\"numSeries\":1,\"numSamples\":1,\"level\":1}\n");
  (void)env->WriteFile(block + "/data",
                       std::string_view(reinterpret_cast<const char*>(data), size));
  pharos::Result<uint32_t> version = BlockFormatVersion(env, block);
  if (version.ok() && *version == 1) (void)UpgradeBlockFromV1(env, block);
  auto opened = Block::Open(env, block);
  if (!opened.ok()) return 0;
  const Block& b = **opened;
  static const std::vector<Matcher> kAll = {
      *Matcher::Make(MatchType::kRegexMatch, "__name__", ".+")};
  static const std::vector<Matcher> kSome = {*Matcher::Make(MatchType::kEqual, "job", "node"),
                                             *Matcher::Make(MatchType::kNotEqual, "instance", "")};
  for (const auto* matchers : {&kAll, &kSome}) {
    auto ids = b.Postings(*matchers);
    if (!ids.ok()) continue;
    FrameCache frames;
    std::vector<Sample> samples;
    for (uint64_t id : *ids) {
      samples.clear();
      (void)b.Read(id, INT64_MIN, INT64_MAX, frames, samples);
      (void)b.LabelsOf(id);
    }
  }
  if (auto names = b.LabelNames(); names.ok()) {
    for (const std::string& n : *names) (void)b.LabelValues(n);
  }
  return 0;
}
