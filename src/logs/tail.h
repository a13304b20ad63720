// logs/tail.h (internal): live tailing. The store offers every acknowledged write to a
// TailHub; each /loki/api/v1/tail WebSocket holds a subscription that keeps the lines of the
// streams its selector matches, and its feed runs the query's pipeline over them.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "colstore/colstore.h"
#include "common/mutex.h"
#include "model/model.h"

namespace pharos::logs {

/// A line as a subscription keeps it until its feed takes it.
struct TailedLine {
  std::shared_ptr<const model::Labels> stream;
  int64_t ts_ns = 0;
  int64_t arrived_ns = 0;  // when the store acknowledged it (for delay_for)
  std::string line;
  model::Labels metadata;
};

/// A line a subscription had no room for: Loki's "dropped_entries".
struct DroppedLine {
  std::shared_ptr<const model::Labels> stream;
  int64_t ts_ns = 0;
};

class TailSubscription {
 public:
  /// At most this many bytes of lines wait for the feed; more are dropped (and reported).
  static constexpr size_t kMaxPendingBytes = 8u << 20;
  static constexpr size_t kMaxDroppedReported = 100;

  explicit TailSubscription(std::vector<model::Matcher> matchers)
      : matchers_(std::move(matchers)) {}
  const std::vector<model::Matcher>& matchers() const { return matchers_; }
  /// Moves out the lines that arrived at or before `arrived_by_ns`, and the drops so far
  /// (at most kMaxDroppedReported between two takes).
  void Take(int64_t arrived_by_ns, std::vector<TailedLine>& lines,
            std::vector<DroppedLine>& dropped);
  void Add(std::vector<TailedLine>& lines);

 private:
  const std::vector<model::Matcher> matchers_;
  Mutex mu_;
  std::vector<TailedLine> pending_ PHAROS_GUARDED_BY(mu_);
  size_t pending_bytes_ PHAROS_GUARDED_BY(mu_) = 0;
  std::vector<DroppedLine> dropped_ PHAROS_GUARDED_BY(mu_);
};

class TailHub {
 public:
  /// A subscription that lives as long as the returned pointer (the hub keeps a weak one).
  std::shared_ptr<TailSubscription> Subscribe(std::vector<model::Matcher> matchers);
  /// The lines of an acknowledged write, to every subscription whose selector matches
  /// their stream. Costs one atomic load when nobody tails.
  void Offer(std::span<const colstore::AppendedStream> batch, int64_t now_ns);
  size_t active() const { return active_.load(std::memory_order_relaxed); }

 private:
  Mutex mu_;
  std::vector<std::weak_ptr<TailSubscription>> subscriptions_ PHAROS_GUARDED_BY(mu_);
  std::atomic<size_t> active_{0};
};

}  // namespace pharos::logs
