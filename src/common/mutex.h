// Mutexes the compiler checks: Clang's thread-safety analysis (-Wthread-safety) proves
// that state marked PHAROS_GUARDED_BY(mu) is touched only with mu held and that functions
// marked PHAROS_REQUIRES(mu) are called with it held. libstdc++'s std::mutex carries no
// annotations, so shared state uses these thin wrappers; other compilers see plain
// std::mutex and std::shared_mutex. `make test` compiles the fuzz build (clang) with
// -Werror=thread-safety.
//
// Contract: Mutex, SharedMutex and the scoped locks behave exactly as std::mutex,
// std::shared_mutex, std::unique_lock and std::shared_lock; MutexLock::native() hands the
// underlying std::unique_lock to a std::condition_variable.
#pragma once

#include <mutex>
#include <shared_mutex>

#if defined(__clang__)
#define PHAROS_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define PHAROS_THREAD_ANNOTATION(x)
#endif

#define PHAROS_CAPABILITY(x) PHAROS_THREAD_ANNOTATION(capability(x))
#define PHAROS_SCOPED_CAPABILITY PHAROS_THREAD_ANNOTATION(scoped_lockable)
#define PHAROS_GUARDED_BY(x) PHAROS_THREAD_ANNOTATION(guarded_by(x))
#define PHAROS_PT_GUARDED_BY(x) PHAROS_THREAD_ANNOTATION(pt_guarded_by(x))
#define PHAROS_REQUIRES(...) PHAROS_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define PHAROS_REQUIRES_SHARED(...) \
  PHAROS_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define PHAROS_ACQUIRE(...) PHAROS_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define PHAROS_ACQUIRE_SHARED(...) PHAROS_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define PHAROS_RELEASE(...) PHAROS_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define PHAROS_RELEASE_GENERIC(...) \
  PHAROS_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define PHAROS_EXCLUDES(...) PHAROS_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define PHAROS_NO_THREAD_SAFETY_ANALYSIS PHAROS_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace pharos {

class PHAROS_CAPABILITY("mutex") Mutex {
 public:
  void Lock() PHAROS_ACQUIRE() { mu_.lock(); }
  void Unlock() PHAROS_RELEASE() { mu_.unlock(); }
  std::mutex& native() { return mu_; }

 private:
  std::mutex mu_;
};

/// Holds a Mutex for its scope; native() is the std::unique_lock a condition variable waits
/// on (the wait releases and retakes the mutex, which the analysis need not see).
class PHAROS_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) PHAROS_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() PHAROS_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;
  /// Lets go for a stretch of slow work (I/O) and takes the mutex back.
  void Unlock() PHAROS_RELEASE() { lock_.unlock(); }
  void Lock() PHAROS_ACQUIRE() { lock_.lock(); }
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

class PHAROS_CAPABILITY("shared mutex") SharedMutex {
 public:
  void Lock() PHAROS_ACQUIRE() { mu_.lock(); }
  void Unlock() PHAROS_RELEASE() { mu_.unlock(); }
  void LockShared() PHAROS_ACQUIRE_SHARED() { mu_.lock_shared(); }
  void UnlockShared() PHAROS_RELEASE_GENERIC() { mu_.unlock_shared(); }

 private:
  std::shared_mutex mu_;
};

class PHAROS_SCOPED_CAPABILITY WriterLock {
 public:
  explicit WriterLock(SharedMutex& mu) PHAROS_ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~WriterLock() PHAROS_RELEASE() { mu_.Unlock(); }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  SharedMutex& mu_;
};

class PHAROS_SCOPED_CAPABILITY ReaderLock {
 public:
  explicit ReaderLock(SharedMutex& mu) PHAROS_ACQUIRE_SHARED(mu) : mu_(mu) { mu_.LockShared(); }
  ~ReaderLock() PHAROS_RELEASE() { mu_.UnlockShared(); }
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

 private:
  SharedMutex& mu_;
};

}  // namespace pharos
