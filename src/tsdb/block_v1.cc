// Reading blocks of format version 1 (one zstd-compressed index decoded whole), only to
// rewrite them as the current version: docs/format/tsdb-block.md, "Version 1".
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/varint.h"
#include "tsdb/block.h"
#include "tsdb/block_encoding.h"
#include "tsdb/block_format.h"

namespace pharos::tsdb {
namespace {

uint64_t Fixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

struct V1Frame {
  uint64_t offset, compressed, raw;
};

// The raw size is taken on trust only when the zstd frame declares the same and the
// ratio is one zstd can reach on real data (at most 1024:1 here): a damaged or hostile
// footer cannot make the upgrade allocate gigabytes from a few bytes.
Status Decompress(std::string_view z, uint64_t raw, std::string& out) {
  unsigned long long declared = ZSTD_getFrameContentSize(z.data(), z.size());
  if (declared != raw || raw > std::max<uint64_t>(1 << 20, z.size() * 1024ULL))
    return DataLoss("version 1 block frame size is implausible");
  out.resize(raw);
  size_t n = ZSTD_decompress(out.data(), out.size(), z.data(), z.size());
  if (ZSTD_isError(n) || n != raw) return DataLoss("version 1 block does not decompress");
  return Status::Ok();
}

}  // namespace

Status UpgradeBlockFromV1(Env* env, const std::string& dir) {
  Result<BlockMeta> meta = ReadBlockMeta(env, dir);
  if (!meta.ok()) return meta.status();
  Result<std::unique_ptr<MappedFile>> file = env->OpenMapped(dir + "/data");
  if (!file.ok()) return file.status();
  std::string_view data = (*file)->data();
  if (data.size() < sizeof(kBlockMagic) + kBlockV1FooterBytes) {
    return DataLoss("version 1 block data file is too short");
  }
  const char* footer = data.data() + data.size() - kBlockV1FooterBytes;
  uint64_t index_offset = Fixed(footer, 8), index_len = Fixed(footer + 8, 8);
  uint64_t index_raw = Fixed(footer + 16, 8);
  if (Fixed(footer + 28, 4) != 1 || index_offset > data.size() - kBlockV1FooterBytes ||
      index_len > data.size() - kBlockV1FooterBytes - index_offset || index_raw > (1ULL << 34)) {
    return DataLoss("version 1 block index lies outside the file");
  }
  std::string_view zindex = data.substr(index_offset, index_len);
  if (Crc32c(zindex) != static_cast<uint32_t>(Fixed(footer + 24, 4))) {
    return DataLoss("version 1 block index checksum mismatch");
  }
  std::string index;
  PHAROS_RETURN_IF_ERROR(Decompress(zindex, index_raw, index));

  ByteReader r(index);
  uint64_t count = 0;
  std::vector<std::string_view> symbols;
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad symbol count");
  for (uint64_t i = 0; i < count; ++i) {
    std::string_view sym;
    if (!r.String(sym)) return DataLoss("bad symbol");
    symbols.push_back(sym);
  }
  std::vector<V1Frame> frames;
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad frame count");
  for (uint64_t i = 0; i < count; ++i) {
    V1Frame f{};
    if (!r.Uvarint(f.offset) || !r.Uvarint(f.compressed) || !r.Uvarint(f.raw) ||
        f.offset > index_offset || f.compressed > index_offset - f.offset || f.raw > (1ULL << 32)) {
      return DataLoss("bad frame entry");
    }
    frames.push_back(f);
  }
  Result<std::unique_ptr<BlockWriter>> writer =
      BlockWriter::Create(env, dir.substr(0, dir.rfind('/')), meta->id + ".v2.tmp");
  if (!writer.ok()) return writer.status();
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad series count");
  int64_t cached = -1;
  std::string frame;
  Labels labels;
  std::vector<Sample> samples;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t n = 0, f = 0, offset = 0, length = 0;
    int64_t min_t = 0, max_t = 0;
    if (!r.Uvarint(n) || n > 4096) return DataLoss("bad series labels");
    labels.resize(n);
    for (Label& l : labels) {
      uint64_t name = 0, value = 0;
      if (!r.Uvarint(name) || !r.Uvarint(value) || name >= symbols.size() ||
          value >= symbols.size()) {
        return DataLoss("bad series label symbol");
      }
      l.name.assign(symbols[name]);
      l.value.assign(symbols[value]);
    }
    if (!r.Uvarint(f) || !r.Uvarint(offset) || !r.Uvarint(length) || !r.Varint(min_t) ||
        !r.Varint(max_t) || f >= frames.size() || offset + length > frames[f].raw) {
      return DataLoss("bad series location");
    }
    if (cached != static_cast<int64_t>(f)) {
      PHAROS_RETURN_IF_ERROR(
          Decompress(data.substr(frames[f].offset, frames[f].compressed), frames[f].raw, frame));
      cached = static_cast<int64_t>(f);
    }
    samples.clear();
    PHAROS_RETURN_IF_ERROR(DecodeSeriesSamples(std::string_view(frame).substr(offset, length),
                                               INT64_MIN, INT64_MAX, samples));
    PHAROS_RETURN_IF_ERROR((*writer)->Add(labels, samples));
  }
  BlockMeta out = *meta;
  return (*writer)->FinishReplacing(dir, out);
}

}  // namespace pharos::tsdb
