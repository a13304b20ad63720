// common/testing: a fault-injecting Env for storage tests (LevelDB's FaultInjectionTestEnv,
// reduced to what Pharos's stores need). It wraps the real file system and can
//   - tear an append and then report a full disk (append_budget),
//   - fail every fsync (fail_sync), or only the N-th sync-like call (fail_sync_at),
//   - "crash" after N mutating calls (crash_after): from then on every mutating call does
//     nothing and fails, so the directory is left exactly as a process killed at that
//     point leaves it (kill -9 keeps what reached the OS, synced or not).
// Mutating calls are OpenAppend, Append, Sync, WriteFile, Truncate, MakeDirs, Remove,
// RemoveAll, Rename and SyncDir; reads fail only through fail_map and corrupt_map_at.
// Safe for concurrent use.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"

namespace pharos::testing {

class FaultEnv : public Env {
 public:
  /// Wraps `base` (the real file system unless told otherwise).
  explicit FaultEnv(Env* base = DefaultEnv()) : base_(base) {}

  /// Bytes appends may still write; -1 is unlimited. An append past it writes the part
  /// that fits and fails with ResourceExhausted, as a full disk does.
  std::atomic<int64_t> append_budget{-1};
  /// Every Sync, SyncDir and WriteFile fails while set.
  std::atomic<bool> fail_sync{false};
  /// The sync-like call with this number (1-based, counted in sync_calls) fails; 0: none.
  std::atomic<int64_t> fail_sync_at{0};
  /// Mutating calls after this many (counted in mutating_calls) fail and do nothing; -1: never.
  std::atomic<int64_t> crash_after{-1};

  /// The clock NowMs() reads, in ms since the epoch; -1 is the real clock. Tests move it.
  std::atomic<int64_t> now_ms{-1};
  /// When non-zero, RandomBytes() gives a repeatable sequence from this seed.
  std::atomic<uint64_t> random_seed{0};

  /// OpenMapped fails (as EIO) while set.
  std::atomic<bool> fail_map{false};
  /// OpenMapped hands out a copy of the file with the byte at this offset flipped, so
  /// readers meet corruption their checksums must catch; -1: none.
  std::atomic<int64_t> corrupt_map_at{-1};

  std::atomic<int64_t> mutating_calls{0};
  std::atomic<int64_t> sync_calls{0};

  /// Clears every fault and counter (not the clock or the random seed).
  void Reset();
  bool crashed() const;

  Result<std::unique_ptr<AppendFile>> OpenAppend(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path) override;
  Result<std::unique_ptr<MappedFile>> OpenMapped(const std::string& path) override;
  Status WriteFile(const std::string& path, std::string_view data) override;
  Status Truncate(const std::string& path, uint64_t size) override;
  Result<std::vector<std::string>> ListDir(const std::string& dir) override;
  Status MakeDirs(const std::string& dir) override;
  Status Remove(const std::string& path) override;
  Status RemoveAll(const std::string& path) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  bool Exists(const std::string& path) override;
  int64_t NowMs() override;
  void RandomBytes(std::span<uint8_t> out) override;

  /// For the file wrapper: counts a mutating call; false once crashed.
  bool Mutate();
  /// Counts a sync-like call; false when it must fail.
  bool SyncAllowed();

 private:
  Env* base_;
};

}  // namespace pharos::testing
