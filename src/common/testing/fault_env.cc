#include "common/testing/fault_env.h"

namespace pharos::testing {
namespace {

Status Crashed(const std::string& what) { return Internal("injected crash: " + what); }

class FaultFile final : public AppendFile {
 public:
  FaultFile(std::unique_ptr<AppendFile> base, FaultEnv& env, std::string path)
      : base_(std::move(base)), env_(env), path_(std::move(path)) {}

  Status Append(std::string_view data) override {
    if (!env_.Mutate()) return Crashed("append " + path_);
    int64_t budget = env_.append_budget.load();
    if (budget >= 0 && static_cast<int64_t>(data.size()) > budget) {
      // A torn write: part of the data reaches the file, then the disk is full.
      (void)base_->Append(data.substr(0, static_cast<size_t>(budget)));
      env_.append_budget = 0;
      return ResourceExhausted("injected: no space left on device writing " + path_);
    }
    if (budget >= 0) env_.append_budget = budget - static_cast<int64_t>(data.size());
    return base_->Append(data);
  }
  Status Sync() override {
    if (!env_.Mutate()) return Crashed("fdatasync " + path_);
    if (!env_.SyncAllowed()) return Internal("injected: fdatasync failed (EIO) on " + path_);
    return base_->Sync();
  }
  Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }

 private:
  std::unique_ptr<AppendFile> base_;
  FaultEnv& env_;
  std::string path_;
};

class CopiedMappedFile final : public MappedFile {
 public:
  explicit CopiedMappedFile(std::string bytes) : bytes_(std::move(bytes)) {}
  std::string_view data() const override { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace

Result<std::unique_ptr<MappedFile>> FaultEnv::OpenMapped(const std::string& path) {
  if (fail_map.load()) return Internal("injected: mmap failed (EIO) on " + path);
  int64_t at = corrupt_map_at.load();
  if (at < 0) return base_->OpenMapped(path);
  Result<std::string> bytes = base_->ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  if (static_cast<uint64_t>(at) < bytes->size()) (*bytes)[static_cast<size_t>(at)] ^= 0x20;
  return std::unique_ptr<MappedFile>(new CopiedMappedFile(std::move(bytes).value()));
}

int64_t FaultEnv::NowMs() {
  int64_t now = now_ms.load();
  return now >= 0 ? now : base_->NowMs();
}

void FaultEnv::RandomBytes(std::span<uint8_t> out) {
  if (random_seed.load() == 0) return base_->RandomBytes(out);
  for (uint8_t& b : out) {
    // splitmix64 over the seed, so a test's ids repeat from run to run.
    uint64_t z = random_seed.fetch_add(0x9E3779B97F4A7C15ULL) + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    b = static_cast<uint8_t>(z ^ (z >> 31));
  }
}

void FaultEnv::Reset() {
  append_budget = -1;
  fail_sync = false;
  fail_sync_at = 0;
  crash_after = -1;
  fail_map = false;
  corrupt_map_at = -1;
  mutating_calls = 0;
  sync_calls = 0;
}

bool FaultEnv::crashed() const {
  int64_t limit = crash_after.load();
  return limit >= 0 && mutating_calls.load() > limit;
}

bool FaultEnv::Mutate() {
  int64_t n = mutating_calls.fetch_add(1) + 1;
  int64_t limit = crash_after.load();
  return limit < 0 || n <= limit;
}

bool FaultEnv::SyncAllowed() {
  int64_t n = sync_calls.fetch_add(1) + 1;
  if (fail_sync.load()) return false;
  return fail_sync_at.load() != n;
}

Result<std::unique_ptr<AppendFile>> FaultEnv::OpenAppend(const std::string& path) {
  if (!Mutate()) return Crashed("open " + path);
  auto f = base_->OpenAppend(path);
  if (!f.ok()) return f.status();
  return std::unique_ptr<AppendFile>(new FaultFile(std::move(f).value(), *this, path));
}

Result<std::string> FaultEnv::ReadFile(const std::string& path) { return base_->ReadFile(path); }

Status FaultEnv::WriteFile(const std::string& path, std::string_view data) {
  if (!Mutate()) return Crashed("write " + path);
  if (!SyncAllowed()) {
    (void)base_->WriteFile(path, data);  // written, but not known to be durable
    return Internal("injected: fdatasync failed (EIO) on " + path);
  }
  return base_->WriteFile(path, data);
}

Status FaultEnv::Truncate(const std::string& path, uint64_t size) {
  if (!Mutate()) return Crashed("truncate " + path);
  return base_->Truncate(path, size);
}

Result<std::vector<std::string>> FaultEnv::ListDir(const std::string& dir) {
  return base_->ListDir(dir);
}

Status FaultEnv::MakeDirs(const std::string& dir) {
  if (!Mutate()) return Crashed("mkdir " + dir);
  return base_->MakeDirs(dir);
}

Status FaultEnv::Remove(const std::string& path) {
  if (!Mutate()) return Crashed("remove " + path);
  return base_->Remove(path);
}

Status FaultEnv::RemoveAll(const std::string& path) {
  if (!Mutate()) return Crashed("remove " + path);
  return base_->RemoveAll(path);
}

Status FaultEnv::Rename(const std::string& from, const std::string& to) {
  if (!Mutate()) return Crashed("rename " + from);
  return base_->Rename(from, to);
}

Status FaultEnv::SyncDir(const std::string& dir) {
  if (!Mutate()) return Crashed("fsync " + dir);
  if (!SyncAllowed()) return Internal("injected: fsync failed (EIO) on " + dir);
  return base_->SyncDir(dir);
}

bool FaultEnv::Exists(const std::string& path) { return base_->Exists(path); }

}  // namespace pharos::testing
