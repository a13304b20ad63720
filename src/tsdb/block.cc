#include "tsdb/block.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <numeric>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/varint.h"
#include "tsdb/block_encoding.h"
#include "tsdb/block_format.h"
#include "tsdb/postings.h"

namespace pharos::tsdb {
namespace {

// Appends one index section to the block file, folding its bytes into the section's CRC.
class SectionWriter {
 public:
  explicit SectionWriter(AppendFile& file) : file_(file), offset_(file.Size()) {}
  Status Put(std::string_view bytes) {
    crc_ = Crc32c(bytes, crc_);
    length_ += bytes.size();
    buf_ += bytes;
    return buf_.size() >= (64 << 10) ? Flush() : Status::Ok();
  }
  Status PutU32(uint32_t v) {
    char b[4];
    std::memcpy(b, &v, 4);
    return Put(std::string_view(b, 4));
  }
  /// Flushes and appends the section's reference (offset, length, CRC) to `footer`.
  Status Finish(std::string& footer) {
    PHAROS_RETURN_IF_ERROR(Flush());
    PutFixed64(footer, offset_);
    PutFixed64(footer, length_);
    PutFixed32(footer, crc_);
    return Status::Ok();
  }

 private:
  Status Flush() {
    if (buf_.empty()) return Status::Ok();
    Status s = file_.Append(buf_);
    buf_.clear();
    return s;
  }
  AppendFile& file_;
  uint64_t offset_;
  uint64_t length_ = 0;
  uint32_t crc_ = 0;
  std::string buf_;
};

std::string Compress(std::string_view raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kZstdLevel);
  out.resize(ZSTD_isError(n) ? 0 : n);
  return out;
}

std::string MetaJson(const BlockMeta& m) {
  return fmt::format(
      "{{\"version\":{},\"id\":{},\"minTime\":{},\"maxTime\":{},\"numSeries\":{},\"numSamples\":{},"
      "\"level\":{}}}\n",
      kBlockVersion, JsonString(m.id), m.min_t, m.max_t, m.num_series, m.num_samples, m.level);
}

// Reads an integer field from our own meta.json.
bool JsonInt(const std::string& json, const std::string& key, int64_t& out) {
  size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return false;
  out = std::strtoll(json.c_str() + at + key.size() + 3, nullptr, 10);
  return true;
}

}  // namespace

Result<std::unique_ptr<BlockWriter>> BlockWriter::Create(Env* env, std::string blocks_dir,
                                                         std::string tmp_name) {
  std::unique_ptr<BlockWriter> w(new BlockWriter());
  w->env_ = env;
  w->blocks_dir_ = std::move(blocks_dir);
  w->tmp_ = w->blocks_dir_ + "/" + tmp_name;
  PHAROS_RETURN_IF_ERROR(env->RemoveAll(w->tmp_));
  PHAROS_RETURN_IF_ERROR(env->MakeDirs(w->tmp_));
  Result<std::unique_ptr<AppendFile>> file = env->OpenAppend(w->tmp_ + "/data");
  if (!file.ok()) return file.status();
  w->file_ = std::move(*file);
  PHAROS_RETURN_IF_ERROR(w->file_->Append(std::string_view(kBlockMagic, sizeof(kBlockMagic))));
  return w;
}

BlockWriter::~BlockWriter() {
  if (file_) (void)file_->Close();
}

Status BlockWriter::FlushFrame() {
  if (frame_.empty()) return Status::Ok();
  std::string z = Compress(frame_);
  frames_.push_back({file_->Size(), z.size(), frame_.size()});
  frame_.clear();
  return file_->Append(z);
}

Status BlockWriter::Add(const Labels& labels, std::span<const Sample> samples) {
  if (samples.empty()) return Status::Ok();
  // Series ids are in label order (merges and selects rely on it): never backwards.
  if (num_series_ > 0 && LabelsLess(labels, last_)) {
    return Internal("block series added out of label order: " + FormatLabelsBounded(labels));
  }
  last_ = labels;
  payload_.clear();
  EncodeSeriesSamples(samples, payload_);
  if (!frame_.empty() && frame_.size() + payload_.size() > kFrameTargetBytes) {
    PHAROS_RETURN_IF_ERROR(FlushFrame());
  }
  auto symbol = [&](const std::string& s) {
    auto [it, added] = symbol_ids_.emplace(s, static_cast<uint32_t>(symbols_.size()));
    if (added) symbols_.push_back(it->first);
    return it->second;
  };
  PutUvarint(index_series_, labels.size());
  for (const Label& l : labels) {
    PutUvarint(index_series_, symbol(l.name));
    PutUvarint(index_series_, symbol(l.value));
  }
  PutUvarint(index_series_, frames_.size());  // the frame being filled
  PutUvarint(index_series_, frame_.size());
  PutUvarint(index_series_, payload_.size());
  PutVarint(index_series_, samples.front().t);
  PutVarint(index_series_, samples.back().t);
  frame_ += payload_;
  ++num_series_;
  num_samples_ += samples.size();
  min_t_ = std::min(min_t_, samples.front().t);
  return Status::Ok();
}

// The index, after the frames: symbols (sorted, so ids compare as their text), the frame
// table, the series entries (re-encoded with the sorted symbol ids), the postings lists
// and the label table, each a section with its own CRC, then the footer.
Status BlockWriter::WriteIndex() {
  PHAROS_RETURN_IF_ERROR(FlushFrame());
  std::string footer;
  std::vector<uint32_t> by_text(symbols_.size());
  std::iota(by_text.begin(), by_text.end(), 0u);
  std::sort(by_text.begin(), by_text.end(),
            [this](uint32_t a, uint32_t b) { return symbols_[a] < symbols_[b]; });
  std::vector<uint32_t> remap(symbols_.size());
  for (uint32_t i = 0; i < by_text.size(); ++i) remap[by_text[i]] = i;

  std::string entry;
  std::vector<uint32_t> offsets;
  {
    SectionWriter w(*file_);
    uint64_t at = 0;
    offsets.reserve(by_text.size());
    for (uint32_t id : by_text) {
      if (at > UINT32_MAX) return ResourceExhausted("block symbol table exceeds 4 GiB");
      offsets.push_back(static_cast<uint32_t>(at));
      entry.clear();
      PutUvarint(entry, symbols_[id].size());
      entry += symbols_[id];
      at += entry.size();
      PHAROS_RETURN_IF_ERROR(w.Put(entry));
    }
    for (uint32_t off : offsets) PHAROS_RETURN_IF_ERROR(w.PutU32(off));
    PHAROS_RETURN_IF_ERROR(w.PutU32(static_cast<uint32_t>(offsets.size())));
    PHAROS_RETURN_IF_ERROR(w.Finish(footer));
  }
  {
    SectionWriter w(*file_);
    for (const FrameInfo& f : frames_) {
      if (f.compressed > UINT32_MAX || f.raw > UINT32_MAX) {
        return ResourceExhausted("block frame exceeds 4 GiB");
      }
      entry.clear();
      PutFixed64(entry, f.offset);
      PutFixed32(entry, f.compressed);
      PutFixed32(entry, f.raw);
      PHAROS_RETURN_IF_ERROR(w.Put(entry));
    }
    PHAROS_RETURN_IF_ERROR(w.Finish(footer));
  }

  // Series entries, counting each label pair's series for the postings.
  const int64_t base_t = num_series_ > 0 ? min_t_ : 0;
  std::unordered_map<uint64_t, uint32_t> pair_index;  // (name << 32 | value) -> pair
  std::vector<uint64_t> pair_keys;
  std::vector<uint32_t> pair_counts;
  auto for_each_series = [this, &remap](auto&& fn) {
    ByteReader r(index_series_);
    std::vector<uint32_t> syms;
    uint64_t rest[3];
    int64_t times[2];
    for (uint64_t i = 0; i < num_series_; ++i) {
      uint64_t n = 0;
      (void)r.Uvarint(n);
      syms.resize(2 * n);
      for (uint32_t& sym : syms) {
        uint64_t v = 0;
        (void)r.Uvarint(v);
        sym = remap[v];
      }
      for (uint64_t& v : rest) (void)r.Uvarint(v);
      for (int64_t& v : times) (void)r.Varint(v);
      fn(i, syms, rest, times);
    }
  };
  {
    SectionWriter w(*file_);
    offsets.clear();
    offsets.reserve(num_series_);
    uint64_t at = 0;
    Status status;
    for_each_series([&](uint64_t, const std::vector<uint32_t>& syms, const uint64_t* rest,
                        const int64_t* times) {
      if (!status.ok()) return;
      if (at > UINT32_MAX) {
        status = ResourceExhausted("block series table exceeds 4 GiB");
        return;
      }
      offsets.push_back(static_cast<uint32_t>(at));
      entry.clear();
      PutUvarint(entry, syms.size() / 2);
      for (uint32_t sym : syms) PutUvarint(entry, sym);
      for (int k = 0; k < 3; ++k) PutUvarint(entry, rest[k]);
      // Times relative to the block's oldest sample: a byte or two instead of six.
      PutVarint(entry, times[0] - base_t);
      PutUvarint(entry, static_cast<uint64_t>(times[1] - times[0]));
      at += entry.size();
      status = w.Put(entry);
      for (size_t k = 0; k < syms.size(); k += 2) {
        uint64_t key = static_cast<uint64_t>(syms[k]) << 32 | syms[k + 1];
        auto [it, added] = pair_index.emplace(key, static_cast<uint32_t>(pair_keys.size()));
        if (added) {
          pair_keys.push_back(key);
          pair_counts.push_back(0);
        }
        ++pair_counts[it->second];
      }
    });
    PHAROS_RETURN_IF_ERROR(status);
    for (uint32_t off : offsets) PHAROS_RETURN_IF_ERROR(w.PutU32(off));
    entry.clear();
    PutFixed64(entry, static_cast<uint64_t>(base_t));
    PHAROS_RETURN_IF_ERROR(w.Put(entry));
    PHAROS_RETURN_IF_ERROR(w.PutU32(static_cast<uint32_t>(num_series_)));
    PHAROS_RETURN_IF_ERROR(w.Finish(footer));
  }
  offsets = {};

  // Postings: pairs in (name, value) text order, each list of series ids ascending.
  std::vector<uint32_t> order(pair_keys.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](uint32_t a, uint32_t b) { return pair_keys[a] < pair_keys[b]; });
  std::vector<uint64_t> start(pair_keys.size());  // by pair index
  uint64_t total = 0;
  for (uint32_t p : order) {
    start[p] = total;
    total += pair_counts[p];
  }
  std::vector<uint32_t> ids(total);
  {
    std::vector<uint64_t> cursor = start;
    for_each_series(
        [&](uint64_t i, const std::vector<uint32_t>& syms, const uint64_t*, const int64_t*) {
          for (size_t k = 0; k < syms.size(); k += 2) {
            uint64_t key = static_cast<uint64_t>(syms[k]) << 32 | syms[k + 1];
            ids[cursor[pair_index[key]]++] = static_cast<uint32_t>(i);
          }
        });
  }
  index_series_ = {};
  pair_index = {};
  {
    SectionWriter w(*file_);
    constexpr size_t kChunk = 16 << 10;
    for (size_t at = 0; at < ids.size(); at += kChunk) {
      size_t n = std::min(kChunk, ids.size() - at);
      PHAROS_RETURN_IF_ERROR(
          w.Put(std::string_view(reinterpret_cast<const char*>(ids.data() + at), n * 4)));
    }
    PHAROS_RETURN_IF_ERROR(w.Finish(footer));
  }
  ids = {};

  // Label table: names (symbol, first value, value count), then values (symbol, series
  // count, byte offset of the postings list).
  {
    std::string names, values;
    uint32_t num_names = 0;
    auto name_of = [&](uint32_t v) { return static_cast<uint32_t>(pair_keys[order[v]] >> 32); };
    for (uint32_t first = 0; first < order.size();) {
      uint32_t end = first;
      while (end < order.size() && name_of(end) == name_of(first)) ++end;
      ++num_names;
      PutFixed32(names, name_of(first));
      PutFixed32(names, first);
      PutFixed32(names, end - first);
      PutFixed32(names, 0);
      first = end;
    }
    for (uint32_t p : order) {
      PutFixed32(values, static_cast<uint32_t>(pair_keys[p]));
      PutFixed32(values, pair_counts[p]);
      PutFixed64(values, start[p] * 4);
    }
    SectionWriter w(*file_);
    PHAROS_RETURN_IF_ERROR(w.PutU32(num_names));
    PHAROS_RETURN_IF_ERROR(w.Put(names));
    PHAROS_RETURN_IF_ERROR(w.Put(values));
    PHAROS_RETURN_IF_ERROR(w.Finish(footer));
  }
  PutFixed32(footer, Crc32c(footer));
  PutFixed32(footer, kBlockVersion);
  footer.append(kBlockMagic, sizeof(kBlockMagic));
  PHAROS_RETURN_IF_ERROR(file_->Append(footer));
  PHAROS_RETURN_IF_ERROR(file_->Sync());
  Status closed = file_->Close();
  file_.reset();
  return closed;
}

Status BlockWriter::Finish(BlockMeta& meta) {
  meta.num_series = num_series_;
  meta.num_samples = num_samples_;
  PHAROS_RETURN_IF_ERROR(WriteIndex());
  PHAROS_RETURN_IF_ERROR(env_->WriteFile(tmp_ + "/meta.json", MetaJson(meta)));
  PHAROS_RETURN_IF_ERROR(env_->SyncDir(tmp_));
  std::string dir = blocks_dir_ + "/" + meta.id;
  PHAROS_RETURN_IF_ERROR(env_->Rename(tmp_, dir));
  return env_->SyncDir(blocks_dir_);
}

Status BlockWriter::FinishReplacing(const std::string& block_dir, BlockMeta& meta) {
  meta.num_series = num_series_;
  meta.num_samples = num_samples_;
  PHAROS_RETURN_IF_ERROR(WriteIndex());
  // Readers go by the data file's own version, so either meta.json fits either data file.
  PHAROS_RETURN_IF_ERROR(env_->Rename(tmp_ + "/data", block_dir + "/data"));
  PHAROS_RETURN_IF_ERROR(env_->SyncDir(block_dir));
  PHAROS_RETURN_IF_ERROR(env_->WriteFile(tmp_ + "/meta.json", MetaJson(meta)));
  PHAROS_RETURN_IF_ERROR(env_->Rename(tmp_ + "/meta.json", block_dir + "/meta.json"));
  PHAROS_RETURN_IF_ERROR(env_->SyncDir(block_dir));
  return env_->RemoveAll(tmp_);
}

Status WriteBlock(Env* env, const std::string& blocks_dir, BlockMeta& meta,
                  const std::vector<BlockSeries>& series) {
  Result<std::unique_ptr<BlockWriter>> w = BlockWriter::Create(env, blocks_dir, meta.id + ".tmp");
  if (!w.ok()) return w.status();
  for (const BlockSeries& s : series) PHAROS_RETURN_IF_ERROR((*w)->Add(s.labels, s.samples));
  return (*w)->Finish(meta);
}

Result<BlockMeta> ReadBlockMeta(Env* env, const std::string& dir) {
  Result<std::string> json = env->ReadFile(dir + "/meta.json");
  if (!json.ok()) return json.status();
  BlockMeta meta;
  int64_t version = 0, level = 1, samples = 0;
  // Version 1 and 2 metas are alike; the data file's footer says which format it holds.
  if (!JsonInt(*json, "version", version) || version < 1 || version > kBlockVersion ||
      !JsonInt(*json, "minTime", meta.min_t) || !JsonInt(*json, "maxTime", meta.max_t)) {
    return DataLoss("meta.json is not a Pharos block meta of a known version");
  }
  JsonInt(*json, "level", level);
  meta.level = static_cast<int>(level);
  if (JsonInt(*json, "numSamples", samples) && samples > 0) {
    meta.num_samples = static_cast<uint64_t>(samples);
  }
  meta.id = dir.substr(dir.rfind('/') + 1);
  return meta;
}

// ---- reading ----

Block::~Block() = default;

Result<std::unique_ptr<Block>> Block::Open(Env* env, const std::string& dir) {
  std::unique_ptr<Block> block(new Block());
  block->dir_ = dir;
  Status s = block->Load(env);
  if (!s.ok()) return s.WithContext(dir);
  return block;
}

namespace {

Status CheckTrailer(std::string_view data, uint32_t& version) {
  if (data.size() < sizeof(kBlockMagic) + kBlockTrailerBytes) {
    return DataLoss("block data file is too short");
  }
  if (std::memcmp(data.data(), kBlockMagic, sizeof(kBlockMagic)) != 0 ||
      std::memcmp(data.data() + data.size() - 8, kBlockMagic, sizeof(kBlockMagic)) != 0) {
    return DataLoss("block data file has a bad magic");
  }
  version = DecodeFixed32(data.data() + data.size() - kBlockTrailerBytes);
  return Status::Ok();
}

}  // namespace

Result<uint32_t> BlockFormatVersion(Env* env, const std::string& dir) {
  Result<std::unique_ptr<MappedFile>> file = env->OpenMapped(dir + "/data");
  if (!file.ok()) return file.status();
  uint32_t version = 0;
  PHAROS_RETURN_IF_ERROR(CheckTrailer((*file)->data(), version));
  return version;
}

Status Block::Load(Env* env) {
  Result<BlockMeta> meta = ReadBlockMeta(env, dir_);
  if (!meta.ok()) return meta.status();
  meta_ = std::move(meta).value();
  Result<std::unique_ptr<MappedFile>> file = env->OpenMapped(dir_ + "/data");
  if (!file.ok()) return file.status();
  file_ = std::move(file).value();
  std::string_view data = file_->data();
  uint32_t version = 0;
  PHAROS_RETURN_IF_ERROR(CheckTrailer(data, version));
  if (version != kBlockVersion) {
    return FailedPrecondition(fmt::format(
        "block format version {} is not supported (this Pharos reads version {} and rewrites "
        "version 1 when it opens the data directory)",
        version, kBlockVersion));
  }
  if (data.size() < sizeof(kBlockMagic) + kBlockFooterBytes) {
    return DataLoss("block data file is too short");
  }
  const char* footer = data.data() + data.size() - kBlockFooterBytes;
  uint64_t refs_bytes = kBlockSections * kBlockSectionRefBytes;
  if (Crc32c(std::string_view(footer, refs_bytes)) != DecodeFixed32(footer + refs_bytes)) {
    return DataLoss("block footer checksum mismatch");
  }
  uint64_t index_end = data.size() - kBlockFooterBytes;
  for (int s = 0; s < kNumSections; ++s) {
    const char* p = footer + s * kBlockSectionRefBytes;
    sections_[s] = {DecodeFixed64(p), DecodeFixed64(p + 8), DecodeFixed32(p + 16)};
    if (sections_[s].offset < sizeof(kBlockMagic) || sections_[s].offset > index_end ||
        sections_[s].length > index_end - sections_[s].offset) {
      return DataLoss("block index section lies outside the file");
    }
  }
  // Only the frame table is read now (16 bytes per 256 KiB of samples); the other
  // sections are checked when a query first reads them.
  std::string_view frames;
  PHAROS_RETURN_IF_ERROR(View(kFrames, frames));
  if (frames.size() % kFrameEntryBytes != 0) return DataLoss("bad block frame table");
  num_frames_ = frames.size() / kFrameEntryBytes;
  auto counted = [&](Section s, uint64_t entry_bytes, uint64_t& count) {
    const SectionRef& ref = sections_[s];
    if (ref.length < 4) return false;
    count = DecodeFixed32(data.data() + ref.offset + ref.length - 4);
    return count * entry_bytes <= ref.length - 4;
  };
  if (!counted(kSymbols, 4, num_symbols_)) return DataLoss("bad block symbol table");
  if (!counted(kSeries, 4, num_series_) || sections_[kSeries].length < 12 + 4 * num_series_) {
    return DataLoss("bad block series table");
  }
  const SectionRef& labels = sections_[kLabels];
  if (labels.length < 4) return DataLoss("bad block label table");
  num_names_ = DecodeFixed32(data.data() + labels.offset);
  if (static_cast<uint64_t>(num_names_) * kLabelEntryBytes > labels.length - 4 ||
      (labels.length - 4) % kLabelEntryBytes != 0) {
    return DataLoss("bad block label table");
  }
  if (sections_[kPostings].length % 4 != 0) return DataLoss("bad block postings");
  meta_.num_series = num_series_;
  return Status::Ok();
}

uint64_t Block::index_bytes() const {
  uint64_t total = kBlockFooterBytes;
  for (const SectionRef& s : sections_) total += s.length;
  return total;
}

Status Block::View(Section s, std::string_view& out) const {
  const SectionRef& ref = sections_[s];
  std::string_view bytes = file_->data().substr(ref.offset, ref.length);
  uint8_t state = verified_[s].load(std::memory_order_acquire);
  if (state == 0) {
    state = Crc32c(bytes) == ref.crc ? 1 : 2;
    verified_[s].store(state, std::memory_order_release);
  }
  if (state != 1) {
    static constexpr const char* kNames[] = {"symbol table", "frame table", "series table",
                                             "postings", "label table"};
    return DataLoss(fmt::format("{}: block {} checksum mismatch", dir_, kNames[s]));
  }
  out = bytes;
  return Status::Ok();
}

std::string_view Block::Symbol(uint32_t id) const {
  if (id >= num_symbols_) return {};
  const SectionRef& ref = sections_[kSymbols];
  std::string_view sec = file_->data().substr(ref.offset, ref.length);
  uint64_t table = sec.size() - 4 - 4 * num_symbols_;
  uint32_t off = DecodeFixed32(sec.data() + table + 4 * static_cast<uint64_t>(id));
  ByteReader r(sec.substr(0, table), off);
  std::string_view out;
  return off < table && r.String(out) ? out : std::string_view();
}

Status Block::Entry(uint64_t series, SeriesEntry& out) const {
  std::string_view sec, symbols;
  PHAROS_RETURN_IF_ERROR(View(kSeries, sec));
  PHAROS_RETURN_IF_ERROR(View(kSymbols, symbols));
  if (series >= num_series_) return DataLoss(fmt::format("{}: no series {}", dir_, series));
  uint64_t table = sec.size() - 12 - 4 * num_series_;
  uint32_t off = DecodeFixed32(sec.data() + table + 4 * series);
  int64_t base_t = static_cast<int64_t>(DecodeFixed64(sec.data() + sec.size() - 12));
  uint64_t span = 0;
  ByteReader r(sec.substr(0, table), off);
  uint64_t labels = 0, frame = 0, offset = 0, length = 0;
  if (off >= table || !r.Uvarint(labels) || labels > 4096) {
    return DataLoss(fmt::format("{}: bad series entry {}", dir_, series));
  }
  out.label_syms.resize(2 * labels);
  for (uint32_t& sym : out.label_syms) {
    uint64_t v = 0;
    if (!r.Uvarint(v) || v >= num_symbols_) {
      return DataLoss(fmt::format("{}: bad label symbol in series {}", dir_, series));
    }
    sym = static_cast<uint32_t>(v);
  }
  if (!r.Uvarint(frame) || !r.Uvarint(offset) || !r.Uvarint(length) || !r.Varint(out.min_t) ||
      !r.Uvarint(span) || frame >= num_frames_) {
    return DataLoss(fmt::format("{}: bad location of series {}", dir_, series));
  }
  const char* f = file_->data().data() + sections_[kFrames].offset + frame * kFrameEntryBytes;
  if (offset + length > DecodeFixed32(f + 12)) {
    return DataLoss(fmt::format("{}: series {} lies outside its frame", dir_, series));
  }
  // Wrapping arithmetic: a damaged entry gives wrong times, never undefined behaviour.
  out.min_t =
      static_cast<int64_t>(static_cast<uint64_t>(out.min_t) + static_cast<uint64_t>(base_t));
  out.max_t = static_cast<int64_t>(static_cast<uint64_t>(out.min_t) + span);
  out.frame = static_cast<uint32_t>(frame);
  out.offset = static_cast<uint32_t>(offset);
  out.length = static_cast<uint32_t>(length);
  return Status::Ok();
}

Result<Labels> Block::LabelsOf(uint64_t series) const {
  SeriesEntry e;
  PHAROS_RETURN_IF_ERROR(Entry(series, e));
  return LabelsOf(e);
}

Labels Block::LabelsOf(const SeriesEntry& e) const {
  Labels out;
  out.reserve(e.label_syms.size() / 2);
  for (size_t k = 0; k < e.label_syms.size(); k += 2) {
    out.push_back(
        Label{std::string(Symbol(e.label_syms[k])), std::string(Symbol(e.label_syms[k + 1]))});
  }
  return out;
}

Status Block::FrameData(uint32_t frame, std::string& out) const {
  const char* f = file_->data().data() + sections_[kFrames].offset + frame * kFrameEntryBytes;
  uint64_t offset = DecodeFixed64(f), compressed = DecodeFixed32(f + 8),
           raw = DecodeFixed32(f + 12);
  if (offset < sizeof(kBlockMagic) || offset + compressed > sections_[kSymbols].offset) {
    return DataLoss(fmt::format("{}: frame {} lies outside the data", dir_, frame));
  }
  out.resize(raw);
  size_t n = ZSTD_decompress(out.data(), out.size(), file_->data().data() + offset, compressed);
  if (ZSTD_isError(n) || n != raw)
    return DataLoss(fmt::format("{}: frame {} does not decompress", dir_, frame));
  return Status::Ok();
}

Status Block::Read(uint64_t series, int64_t mint, int64_t maxt, FrameCache& cache,
                   std::vector<Sample>& out) const {
  SeriesEntry e;
  PHAROS_RETURN_IF_ERROR(Entry(series, e));
  return Read(e, mint, maxt, cache, out);
}

Status Block::Read(const SeriesEntry& e, int64_t mint, int64_t maxt, FrameCache& cache,
                   std::vector<Sample>& out) const {
  if (e.max_t < mint || e.min_t > maxt) return Status::Ok();
  if (cache.frame != e.frame) {
    cache.frame = -1;
    PHAROS_RETURN_IF_ERROR(FrameData(e.frame, cache.data));
    cache.frame = e.frame;
  }
  return DecodeSeriesSamples(std::string_view(cache.data).substr(e.offset, e.length), mint, maxt,
                             out);
}

Block::NameEntry Block::Name(uint32_t i) const {
  const char* p = file_->data().data() + sections_[kLabels].offset + 4 + i * kLabelEntryBytes;
  NameEntry e{DecodeFixed32(p), DecodeFixed32(p + 4), DecodeFixed32(p + 8)};
  uint64_t values = (sections_[kLabels].length - 4) / kLabelEntryBytes - num_names_;
  if (static_cast<uint64_t>(e.first_value) + e.value_count > values) e.value_count = 0;
  return e;
}

uint32_t Block::FindName(std::string_view name) const {
  uint32_t lo = 0, hi = num_names_;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    int c = Symbol(Name(mid).name_sym).compare(name);
    if (c == 0) return mid;
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return UINT32_MAX;
}

void Block::Value(uint32_t i, uint32_t& value_sym, uint32_t& count, uint64_t& offset) const {
  const char* p = file_->data().data() + sections_[kLabels].offset + 4 +
                  (static_cast<uint64_t>(num_names_) + i) * kLabelEntryBytes;
  value_sym = DecodeFixed32(p);
  count = DecodeFixed32(p + 4);
  offset = DecodeFixed64(p + 8);
}

Status Block::AppendPostings(uint32_t value, std::vector<uint64_t>& out) const {
  uint32_t sym, count;
  uint64_t offset;
  Value(value, sym, count, offset);
  const SectionRef& ref = sections_[kPostings];
  if (offset > ref.length || count > (ref.length - offset) / 4) {
    return DataLoss(fmt::format("{}: postings list {} lies outside its section", dir_, value));
  }
  const char* p = file_->data().data() + ref.offset + offset;
  size_t before = out.size();
  out.resize(before + count);
  for (uint32_t k = 0; k < count; ++k) out[before + k] = DecodeFixed32(p + 4 * k);
  return Status::Ok();
}

// The block's label table as the index SelectPostings reads. Postings lists are decoded
// from the mapped file when a matcher reaches them; the first error is kept in `error`.
class BlockIndexView {
 public:
  BlockIndexView(const Block& b, Status& error) : b_(b), error_(error) {}
  bool HasName(const std::string& name) const { return b_.FindName(name) != UINT32_MAX; }
  std::span<const uint64_t> Equal(const std::string& name, const std::string& value,
                                  std::vector<uint64_t>& scratch) const {
    uint32_t n = b_.FindName(name);
    if (n == UINT32_MAX) return {};
    Block::NameEntry e = b_.Name(n);
    uint32_t lo = e.first_value, hi = e.first_value + e.value_count;
    while (lo < hi) {
      uint32_t mid = lo + (hi - lo) / 2, sym, count;
      uint64_t offset;
      b_.Value(mid, sym, count, offset);
      int c = b_.Symbol(sym).compare(value);
      if (c == 0) {
        scratch.clear();
        Note(b_.AppendPostings(mid, scratch));
        return scratch;
      }
      if (c < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return {};
  }
  template <typename Pred>
  std::vector<uint64_t> UnionWhere(const std::string& name, Pred pred) const {
    uint32_t n = b_.FindName(name);
    if (n == UINT32_MAX) return {};
    Block::NameEntry e = b_.Name(n);
    std::vector<uint64_t> flat;
    std::vector<size_t> ends;
    for (uint32_t v = e.first_value; v < e.first_value + e.value_count; ++v) {
      uint32_t sym, count;
      uint64_t offset;
      b_.Value(v, sym, count, offset);
      if (!pred(b_.Symbol(sym))) continue;
      Note(b_.AppendPostings(v, flat));
      ends.push_back(flat.size());
    }
    return UnionOfRuns(std::move(flat), ends);
  }
  std::vector<uint64_t> All() const {
    std::vector<uint64_t> out(b_.num_series());
    std::iota(out.begin(), out.end(), uint64_t{0});
    return out;
  }

 private:
  void Note(const Status& s) const {
    if (!s.ok() && error_.ok()) error_ = s;
  }
  const Block& b_;
  Status& error_;
};

Result<std::vector<uint64_t>> Block::Postings(std::span<const Matcher> matchers) const {
  std::string_view unused;
  PHAROS_RETURN_IF_ERROR(View(kLabels, unused));
  PHAROS_RETURN_IF_ERROR(View(kSymbols, unused));
  PHAROS_RETURN_IF_ERROR(View(kPostings, unused));
  Status error;
  std::vector<uint64_t> ids = SelectPostings(BlockIndexView(*this, error), matchers);
  PHAROS_RETURN_IF_ERROR(error);
  for (uint64_t id : ids) {
    if (id >= num_series_) return DataLoss(fmt::format("{}: postings name series {}", dir_, id));
  }
  return ids;
}

Result<std::vector<std::string>> Block::LabelNames() const {
  std::string_view unused;
  PHAROS_RETURN_IF_ERROR(View(kLabels, unused));
  PHAROS_RETURN_IF_ERROR(View(kSymbols, unused));
  std::vector<std::string> out;
  for (uint32_t i = 0; i < num_names_; ++i) out.emplace_back(Symbol(Name(i).name_sym));
  return out;
}

Result<std::vector<std::string>> Block::LabelValues(const std::string& name) const {
  std::string_view unused;
  PHAROS_RETURN_IF_ERROR(View(kLabels, unused));
  PHAROS_RETURN_IF_ERROR(View(kSymbols, unused));
  std::vector<std::string> out;
  uint32_t n = FindName(name);
  if (n == UINT32_MAX) return out;
  Block::NameEntry e = Name(n);
  for (uint32_t v = e.first_value; v < e.first_value + e.value_count; ++v) {
    uint32_t sym, count;
    uint64_t offset;
    Value(v, sym, count, offset);
    out.emplace_back(Symbol(sym));
  }
  return out;
}

}  // namespace pharos::tsdb
