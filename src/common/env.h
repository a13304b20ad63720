// Env: the file system as an interface, so storage code can be tested against torn
// writes, failing fsync and full disks (LevelDB's Env, reduced to what Pharos uses).
//
// Contract: every call returns a Status naming the path and the OS error; nothing throws.
// DefaultEnv() is the real POSIX file system, clock and randomness, and is safe for
// concurrent use; a File is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pharos {

/// A file open for appending.
class AppendFile {
 public:
  virtual ~AppendFile() = default;
  /// Writes all of `data` to the OS (it survives the process being killed once this returns).
  virtual Status Append(std::string_view data) = 0;
  /// Makes appended data durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
  virtual uint64_t Size() const = 0;
};

/// A file's bytes mapped read-only into memory: the view lives as long as the object and
/// costs no heap; pages are read from disk when first touched. Many threads may read it.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual std::string_view data() const = 0;
  /// Drops the whole pages inside [offset, offset + length) from this process's resident
  /// set: the page cache keeps them and the next read faults them back, so views stay
  /// valid. For readers that scan far more than they keep (a store's blocks).
  virtual void Release(uint64_t offset, uint64_t length) const { (void)offset, (void)length; }
  /// Reads touch scattered pages: the kernel maps only the pages touched (no read-around),
  /// and WillNeed starts reading a range the caller is about to read whole.
  virtual void AdviseRandom() const {}
  virtual void WillNeed(uint64_t offset, uint64_t length) const { (void)offset, (void)length; }
};

class Env {
 public:
  virtual ~Env() = default;
  /// Opens `path` for appending, creating it when missing; Size() starts at the file size.
  virtual Result<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  /// Maps `path` read-only (an empty file gives an empty view).
  virtual Result<std::unique_ptr<MappedFile>> OpenMapped(const std::string& path) = 0;
  virtual Status WriteFile(const std::string& path, std::string_view data) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  /// File names (not paths) in `dir`, sorted.
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual Status MakeDirs(const std::string& dir) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status RemoveAll(const std::string& path) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  /// fsync on a directory, so that created, renamed and removed entries are durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual bool Exists(const std::string& path) = 0;

  /// Wall-clock time in milliseconds since the Unix epoch: the one clock the data plane
  /// reads (sample limits, retention, rule evaluation, alert and incident clocks), so
  /// tests move time instead of writing samples from 1970.
  virtual int64_t NowMs();
  /// Fills `out` with unpredictable bytes (the OS's CSPRNG): ids others must not guess.
  virtual void RandomBytes(std::span<uint8_t> out);
};

/// The real file system.
Env* DefaultEnv();

/// CRC-32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2.
uint32_t Crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace pharos
