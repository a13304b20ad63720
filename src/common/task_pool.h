// TaskPool: a fixed set of threads running submitted tasks in the order they were
// submitted. For CPU work a caller splits and waits for (a query decoding series ahead of
// its evaluation); tasks must not block on one another.
//
// Contract: Submit() never blocks and never runs the task on the caller's thread; the
// destructor runs every task already submitted, then joins the threads. Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace pharos {

class TaskPool {
 public:
  /// Starts `threads` threads (at least one).
  explicit TaskPool(int threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  void Submit(std::function<void()> task);
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Work();

  Mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_ PHAROS_GUARDED_BY(mu_);
  bool stopping_ PHAROS_GUARDED_BY(mu_) = false;
  int idle_ PHAROS_GUARDED_BY(mu_) = 0;  // threads waiting for a task
  std::vector<std::thread> threads_;
};

}  // namespace pharos
