// Services: the one readiness registry. Components that become ready after the server
// starts listening (storage after WAL recovery, the rule manager, the alert dispatcher) are
// published here by type; handlers ask for them and answer 503 until they are there
// (server::WhenReady does it for a route).
//
// Contract: Publish, Withdraw and Get are lock-free and safe from any thread. Get returns the
// published pointer or nullptr; a component must be withdrawn before it is destroyed, and
// the owner must stop the servers (so no handler still runs) before destroying it. At most
// kMaxServiceTypes distinct types per process.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>

namespace pharos {

class Services {
 public:
  static constexpr size_t kMaxServiceTypes = 32;

  template <typename T>
  void Publish(T* component) {
    Slot<T>().store(component, std::memory_order_release);
  }
  template <typename T>
  void Withdraw() {
    Slot<T>().store(nullptr, std::memory_order_release);
  }
  template <typename T>
  T* Get() const {
    return static_cast<T*>(slots_[TypeIndex<T>()].load(std::memory_order_acquire));
  }

 private:
  template <typename T>
  std::atomic<void*>& Slot() {
    return slots_[TypeIndex<T>()];
  }
  // A dense index per type, assigned on first use.
  template <typename T>
  static size_t TypeIndex() {
    static const size_t index = [] {
      size_t i = next_index_.fetch_add(1, std::memory_order_relaxed);
      if (i >= kMaxServiceTypes) std::abort();  // a programming error: raise the limit
      return i;
    }();
    return index;
  }

  static inline std::atomic<size_t> next_index_{0};
  std::array<std::atomic<void*>, kMaxServiceTypes> slots_{};
};

}  // namespace pharos
