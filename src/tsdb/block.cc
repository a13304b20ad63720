#include "tsdb/block.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.h"
#include "common/varint.h"
#include "tsdb/block_encoding.h"
#include "tsdb/block_format.h"
#include "tsdb/postings.h"

namespace pharos::tsdb {
namespace {

void PutFixed(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
uint64_t GetFixed(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

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

Status BlockWriter::Finish(BlockMeta& meta) {
  PHAROS_RETURN_IF_ERROR(FlushFrame());
  meta.num_series = num_series_;
  meta.num_samples = num_samples_;
  // Symbols in first-use order: readers look them up by position and by a hash map.
  std::string index;
  PutUvarint(index, symbols_.size());
  for (std::string_view sym : symbols_) {
    PutUvarint(index, sym.size());
    index += sym;
  }
  PutUvarint(index, frames_.size());
  for (const FrameInfo& f : frames_) {
    PutUvarint(index, f.offset);
    PutUvarint(index, f.compressed);
    PutUvarint(index, f.raw);
  }
  PutUvarint(index, num_series_);
  index += index_series_;
  std::string zindex = Compress(index);
  std::string tail;
  uint64_t index_offset = file_->Size();
  PutFixed(tail, index_offset, 8);
  PutFixed(tail, zindex.size(), 8);
  PutFixed(tail, index.size(), 8);
  PutFixed(tail, Crc32c(zindex), 4);
  PutFixed(tail, kBlockVersion, 4);
  tail.append(kBlockMagic, sizeof(kBlockMagic));
  PHAROS_RETURN_IF_ERROR(file_->Append(zindex));
  PHAROS_RETURN_IF_ERROR(file_->Append(tail));
  PHAROS_RETURN_IF_ERROR(file_->Sync());
  Status closed = file_->Close();
  file_.reset();
  PHAROS_RETURN_IF_ERROR(closed);
  PHAROS_RETURN_IF_ERROR(env_->WriteFile(tmp_ + "/meta.json", MetaJson(meta)));
  PHAROS_RETURN_IF_ERROR(env_->SyncDir(tmp_));
  std::string dir = blocks_dir_ + "/" + meta.id;
  PHAROS_RETURN_IF_ERROR(env_->Rename(tmp_, dir));
  return env_->SyncDir(blocks_dir_);
}

Status WriteBlock(Env* env, const std::string& blocks_dir, BlockMeta& meta,
                  const std::vector<BlockSeries>& series) {
  Result<std::unique_ptr<BlockWriter>> w = BlockWriter::Create(env, blocks_dir, meta.id + ".tmp");
  if (!w.ok()) return w.status();
  for (const BlockSeries& s : series) PHAROS_RETURN_IF_ERROR((*w)->Add(s.labels, s.samples));
  return (*w)->Finish(meta);
}

// ---- reading ----

Block::~Block() {
  if (map_) ::munmap(const_cast<char*>(map_), size_);
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<Block>> Block::Open(const std::string& dir) {
  std::unique_ptr<Block> block(new Block());
  block->dir_ = dir;
  Status s = block->Load();
  if (!s.ok()) return s.WithContext(dir);
  return block;
}

Status Block::Load() {
  Result<std::string> meta = DefaultEnv()->ReadFile(dir_ + "/meta.json");
  if (!meta.ok()) return meta.status();
  int64_t version = 0, level = 1;
  if (!JsonInt(*meta, "version", version) || version != kBlockVersion ||
      !JsonInt(*meta, "minTime", meta_.min_t) || !JsonInt(*meta, "maxTime", meta_.max_t)) {
    return DataLoss("meta.json is not a Pharos block meta of a known version");
  }
  JsonInt(*meta, "level", level);
  meta_.level = static_cast<int>(level);
  int64_t samples = 0;
  if (JsonInt(*meta, "numSamples", samples) && samples > 0)
    meta_.num_samples = static_cast<uint64_t>(samples);
  meta_.id = dir_.substr(dir_.rfind('/') + 1);

  std::string path = dir_ + "/data";
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return Internal(fmt::format("open {}: {}", path, std::strerror(errno)));
  struct stat st;
  if (::fstat(fd_, &st) != 0)
    return Internal(fmt::format("stat {}: {}", path, std::strerror(errno)));
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ < sizeof(kBlockMagic) + kBlockFooterBytes)
    return DataLoss("block data file is too short");
  void* map = ::mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (map == MAP_FAILED) return Internal(fmt::format("mmap {}: {}", path, std::strerror(errno)));
  map_ = static_cast<const char*>(map);

  const char* footer = map_ + size_ - kBlockFooterBytes;
  if (std::memcmp(map_, kBlockMagic, sizeof(kBlockMagic)) != 0 ||
      std::memcmp(footer + 32, kBlockMagic, sizeof(kBlockMagic)) != 0) {
    return DataLoss("block data file has a bad magic");
  }
  uint64_t index_offset = GetFixed(footer, 8);
  uint64_t index_len = GetFixed(footer + 8, 8);
  uint64_t index_raw = GetFixed(footer + 16, 8);
  uint32_t crc = static_cast<uint32_t>(GetFixed(footer + 24, 4));
  if (index_offset + index_len > size_ - kBlockFooterBytes || index_raw > (1ULL << 34)) {
    return DataLoss("block index lies outside the file");
  }
  std::string_view zindex(map_ + index_offset, index_len);
  if (Crc32c(zindex) != crc) return DataLoss("block index checksum mismatch");
  std::string index(index_raw, '\0');
  size_t n = ZSTD_decompress(index.data(), index.size(), zindex.data(), zindex.size());
  if (ZSTD_isError(n) || n != index_raw) return DataLoss("block index does not decompress");

  ByteReader r(index);
  uint64_t count;
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad symbol count");
  symbols_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t len;
    std::string_view sym;
    if (!r.Uvarint(len) || !r.Bytes(len, sym)) return DataLoss("bad symbol");
    symbols_.emplace_back(sym);
  }
  for (uint32_t i = 0; i < symbols_.size(); ++i) symbol_ids_.emplace(symbols_[i], i);
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad frame count");
  for (uint64_t i = 0; i < count; ++i) {
    Frame f;
    if (!r.Uvarint(f.offset) || !r.Uvarint(f.compressed) || !r.Uvarint(f.raw) ||
        f.offset + f.compressed > index_offset || f.raw > (1ULL << 32)) {
      return DataLoss("bad frame entry");
    }
    frames_.push_back(f);
  }
  if (!r.Uvarint(count) || count > index.size()) return DataLoss("bad series count");
  series_.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    SeriesEntry e;
    uint64_t labels, frame, offset, length;
    if (!r.Uvarint(labels) || labels > 4096) return DataLoss("bad series labels");
    e.label_syms.resize(labels * 2);
    for (uint32_t& sym : e.label_syms) {
      uint64_t v;
      if (!r.Uvarint(v) || v >= symbols_.size()) return DataLoss("bad series label symbol");
      sym = static_cast<uint32_t>(v);
    }
    if (!r.Uvarint(frame) || !r.Uvarint(offset) || !r.Uvarint(length) || !r.Varint(e.min_t) ||
        !r.Varint(e.max_t) || frame >= frames_.size() || offset + length > frames_[frame].raw) {
      return DataLoss("bad series location");
    }
    e.frame = static_cast<uint32_t>(frame);
    e.offset = static_cast<uint32_t>(offset);
    e.length = static_cast<uint32_t>(length);
    for (size_t k = 0; k < e.label_syms.size(); k += 2) {
      postings_[e.label_syms[k]][e.label_syms[k + 1]].push_back(i);
    }
    series_.push_back(std::move(e));
  }
  meta_.num_series = series_.size();
  return Status::Ok();
}

Status Block::FrameData(uint32_t frame, std::string& out) const {
  const Frame& f = frames_[frame];
  out.resize(f.raw);
  size_t n = ZSTD_decompress(out.data(), out.size(), map_ + f.offset, f.compressed);
  if (ZSTD_isError(n) || n != f.raw)
    return DataLoss(fmt::format("{}: frame {} does not decompress", dir_, frame));
  return Status::Ok();
}

Status Block::Read(uint64_t series, int64_t mint, int64_t maxt, FrameCache& cache,
                   std::vector<Sample>& out) const {
  const SeriesEntry& e = series_[series];
  if (e.max_t < mint || e.min_t > maxt) return Status::Ok();
  if (cache.frame != e.frame) {
    cache.frame = -1;
    PHAROS_RETURN_IF_ERROR(FrameData(e.frame, cache.data));
    cache.frame = e.frame;
  }
  return DecodeSeriesSamples(std::string_view(cache.data).substr(e.offset, e.length), mint, maxt,
                             out);
}

Labels Block::LabelsOf(uint64_t series) const {
  const SeriesEntry& e = series_[series];
  Labels out;
  for (size_t k = 0; k < e.label_syms.size(); k += 2) {
    out.push_back(Label{symbols_[e.label_syms[k]], symbols_[e.label_syms[k + 1]]});
  }
  return out;
}

class BlockIndexView {
 public:
  explicit BlockIndexView(const Block& b) : b_(b) {}
  const std::unordered_map<uint32_t, std::vector<uint64_t>>* Values(const std::string& name) const {
    auto sym = b_.symbol_ids_.find(name);
    if (sym == b_.symbol_ids_.end()) return nullptr;
    auto it = b_.postings_.find(sym->second);
    return it == b_.postings_.end() ? nullptr : &it->second;
  }
  bool HasName(const std::string& name) const { return Values(name) != nullptr; }
  std::span<const uint64_t> Equal(const std::string& name, const std::string& value) const {
    const auto* values = Values(name);
    auto sym = b_.symbol_ids_.find(value);
    if (!values || sym == b_.symbol_ids_.end()) return {};
    auto it = values->find(sym->second);
    if (it == values->end()) return {};
    return it->second;
  }
  template <typename Pred>
  std::vector<uint64_t> UnionWhere(const std::string& name, Pred pred) const {
    const auto* values = Values(name);
    if (!values) return {};
    std::vector<std::span<const uint64_t>> lists;
    for (const auto& [value, ids] : *values) {
      if (pred(b_.symbols_[value])) lists.emplace_back(ids);
    }
    return UnionSorted(lists);
  }
  std::vector<uint64_t> All() const {
    std::vector<uint64_t> out(b_.series_.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = i;
    return out;
  }

 private:
  const Block& b_;
};

std::vector<uint64_t> Block::Postings(std::span<const Matcher> matchers) const {
  return SelectPostings(BlockIndexView(*this), matchers);
}

std::vector<std::string> Block::LabelNames() const {
  std::vector<std::string> out;
  for (const auto& [name, values] : postings_) out.push_back(symbols_[name]);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Block::LabelValues(const std::string& name) const {
  std::vector<std::string> out;
  auto sym = symbol_ids_.find(name);
  if (sym == symbol_ids_.end()) return out;
  auto it = postings_.find(sym->second);
  if (it == postings_.end()) return out;
  for (const auto& [value, ids] : it->second) out.push_back(symbols_[value]);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace pharos::tsdb
