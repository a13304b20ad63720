// libFuzzer target: TSDB WAL replay must apply, count or refuse any records, never crash.
// The input is a list of records (u16 little-endian length, then the payload); the target
// frames them with valid checksums into a WAL segment, so the TSDB's record decoders and
// replay see arbitrary payloads, then opens the store on it (and once more in repair mode).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/env.h"
#include "selfmon/metrics.h"
#include "tsdb/tsdb.h"
#include "wal/wal_format.h"

namespace {

void PutU32(std::string& out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out.append(b, 4);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = "/tmp/pharos-wal-replay-fuzz-" + std::to_string(::getpid());
  pharos::Env* env = pharos::DefaultEnv();
  (void)env->RemoveAll(dir);
  (void)env->MakeDirs(dir + "/wal");
  std::string segment;
  PutU32(segment, pharos::wal::kSegmentMagic);
  PutU32(segment, pharos::wal::kFormatVersion);
  size_t pos = 0;
  while (pos + 2 <= size) {
    size_t len = data[pos] | (static_cast<size_t>(data[pos + 1]) << 8);
    pos += 2;
    len = std::min(len, size - pos);
    if (len == 0) continue;
    std::string_view payload(reinterpret_cast<const char*>(data + pos), len);
    pos += len;
    PutU32(segment, static_cast<uint32_t>(len));
    PutU32(segment, pharos::Crc32c(payload));
    segment.append(payload);
  }
  (void)env->WriteFile(dir + "/wal/00000001", segment);
  for (bool repair : {false, true}) {
    pharos::tsdb::Options options;
    options.dir = dir;
    options.maintenance_interval = std::chrono::hours(24);
    options.wal_truncate_at_bad_record = repair;
    pharos::selfmon::Registry registry;
    auto db = pharos::tsdb::Db::Open(options, registry);
    if (db.ok()) {
      (void)(*db)->GetStats(4);
      (void)(*db)->Close();
    }
  }
  return 0;
}
