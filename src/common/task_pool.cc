#include "common/task_pool.h"

#include <algorithm>

namespace pharos {

TaskPool::TaskPool(int threads) {
  threads = std::max(threads, 1);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

TaskPool::~TaskPool() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  ready_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void TaskPool::Submit(std::function<void()> task) {
  bool wake;
  {
    MutexLock lock(mu_);
    tasks_.push_back(std::move(task));
    wake = idle_ > 0;  // busy threads take the task when they finish theirs
  }
  if (wake) ready_.notify_one();
}

void TaskPool::Work() {
  while (true) {
    std::function<void()> task;
    {
      MutexLock lock(mu_);
      while (!stopping_ && tasks_.empty()) {
        ++idle_;
        ready_.wait(lock.native());
        --idle_;
      }
      if (tasks_.empty()) return;  // stopping, and everything submitted has run
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace pharos
