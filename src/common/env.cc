#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

namespace pharos {
namespace {

Status IoError(std::string_view what, const std::string& path, int err) {
  std::string message = fmt::format("{} {}: {}", what, path, std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(std::move(message));
  if (err == ENOENT) return NotFound(std::move(message));
  return Internal(std::move(message));
}

class PosixAppendFile final : public AppendFile {
 public:
  PosixAppendFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixAppendFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return IoError("write", path_, errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      size_ += static_cast<uint64_t>(n);
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return IoError("fdatasync", path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_ < 0) return Status::Ok();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return IoError("close", path_, errno);
    return Status::Ok();
  }

  uint64_t Size() const override { return size_; }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

// Opens `path` with `flags` and tells its size; the caller closes the descriptor.
Result<int> OpenWithSize(const std::string& path, int flags, uint64_t& size) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("open", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return IoError("stat", path, err);
  }
  size = static_cast<uint64_t>(st.st_size);
  return fd;
}

class PosixMappedFile final : public MappedFile {
  static uint64_t Page() {
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    return page;
  }

 public:
  PosixMappedFile(const char* map, size_t size) : map_(map), size_(size) {}
  ~PosixMappedFile() override {
    if (map_ != nullptr) ::munmap(const_cast<char*>(map_), size_);
  }
  std::string_view data() const override { return {map_, size_}; }
  void Release(uint64_t offset, uint64_t length) const override {
    if (map_ == nullptr || offset >= size_) return;
    uint64_t end = std::min<uint64_t>(offset + length, size_);
    uint64_t first = (offset + Page() - 1) / Page() * Page();
    uint64_t last = end == size_ ? end : end / Page() * Page();  // the file's tail page too
    if (first >= last) return;
    (void)::madvise(const_cast<char*>(map_) + first, last - first, MADV_DONTNEED);
  }
  void AdviseRandom() const override {
    if (map_ != nullptr) (void)::madvise(const_cast<char*>(map_), size_, MADV_RANDOM);
  }
  void WillNeed(uint64_t offset, uint64_t length) const override {
    if (map_ == nullptr || offset >= size_) return;
    uint64_t first = offset / Page() * Page();
    uint64_t end = std::min<uint64_t>(offset + length, size_);
    (void)::madvise(const_cast<char*>(map_) + first, end - first, MADV_WILLNEED);
  }

 private:
  const char* map_;
  size_t size_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override {
    uint64_t size = 0;
    Result<int> fd = OpenWithSize(path, O_WRONLY | O_CREAT | O_APPEND, size);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<AppendFile>(new PosixAppendFile(path, *fd, size));
  }

  Result<std::string> ReadFile(const std::string& path) override {
    uint64_t file_size = 0;
    Result<int> opened = OpenWithSize(path, O_RDONLY, file_size);
    if (!opened.ok()) return opened.status();
    int fd = *opened;
    std::string out(static_cast<size_t>(file_size), '\0');
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return IoError("read", path, err);
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    out.resize(done);
    ::close(fd);
    return out;
  }

  Result<std::unique_ptr<MappedFile>> OpenMapped(const std::string& path) override {
    uint64_t file_size = 0;
    Result<int> opened = OpenWithSize(path, O_RDONLY, file_size);
    if (!opened.ok()) return opened.status();
    int fd = *opened;
    size_t size = static_cast<size_t>(file_size);
    const char* map = nullptr;
    if (size > 0) {
      void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (m == MAP_FAILED) {
        int err = errno;
        ::close(fd);
        return IoError("mmap", path, err);
      }
      map = static_cast<const char*>(m);
    }
    ::close(fd);  // the mapping keeps the file open
    return std::unique_ptr<MappedFile>(new PosixMappedFile(map, size));
  }

  Status WriteFile(const std::string& path, std::string_view data) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IoError("open", path, errno);
    PosixAppendFile file(path, fd, 0);
    PHAROS_RETURN_IF_ERROR(file.Append(data));
    PHAROS_RETURN_IF_ERROR(file.Sync());
    return file.Close();
  }

  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return IoError("truncate", path, errno);
    }
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return IoError("list", dir, errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status MakeDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return Internal(fmt::format("create directory {}: {}", dir, ec.message()));
    return Status::Ok();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return IoError("remove", path, errno);
    return Status::Ok();
  }

  Status RemoveAll(const std::string& path) override {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) return Internal(fmt::format("remove {}: {}", path, ec.message()));
    return Status::Ok();
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return IoError("rename", from, errno);
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IoError("open", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return IoError("fsync", dir, err);
    return Status::Ok();
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
};

// ---- CRC-32C ----

uint32_t kCrcTable[8][256];

bool InitCrcTable() {
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    kCrcTable[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int t = 1; t < 8; ++t) {
      kCrcTable[t][i] = (kCrcTable[t - 1][i] >> 8) ^ kCrcTable[0][kCrcTable[t - 1][i] & 0xFF];
    }
  }
  return true;
}

uint32_t Crc32cSoftware(const unsigned char* p, size_t n, uint32_t crc) {
  static const bool kInit = InitCrcTable();
  (void)kInit;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= crc;
    crc = kCrcTable[7][word & 0xFF] ^ kCrcTable[6][(word >> 8) & 0xFF] ^
          kCrcTable[5][(word >> 16) & 0xFF] ^ kCrcTable[4][(word >> 24) & 0xFF] ^
          kCrcTable[3][(word >> 32) & 0xFF] ^ kCrcTable[2][(word >> 40) & 0xFF] ^
          kCrcTable[1][(word >> 48) & 0xFF] ^ kCrcTable[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) crc = (crc >> 8) ^ kCrcTable[0][(crc ^ *p++) & 0xFF];
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const unsigned char* p, size_t n,
                                                          uint32_t crc) {
  uint64_t c = crc;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = static_cast<uint32_t>(c);
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return c32;
}
#endif

}  // namespace

int64_t Env::NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Env::RandomBytes(std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (done < out.size()) {
    // getrandom cannot fail on Linux >= 3.17 once the pool is ready; be safe anyway.
    std::random_device rd;
    for (; done < out.size(); ++done) out[done] = static_cast<uint8_t>(rd());
  }
}

Env* DefaultEnv() {
  static PosixEnv env;
  return &env;
}

uint32_t Crc32c(std::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  crc = ~crc;
#if defined(__x86_64__)
  static const bool kHardware = __builtin_cpu_supports("sse4.2");
  if (kHardware) return ~Crc32cHardware(p, data.size(), crc);
#endif
  return ~Crc32cSoftware(p, data.size(), crc);
}

}  // namespace pharos
