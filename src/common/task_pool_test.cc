#include "common/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>

namespace pharos {
namespace {

TEST(TaskPoolTest, RunsEveryTaskOffTheCallersThread) {
  std::atomic<int> ran{0};
  std::set<std::thread::id> seen;
  Mutex mu;
  {
    TaskPool pool(2);
    EXPECT_EQ(pool.size(), 2);
    for (int i = 0; i < 1000; ++i) {
      pool.Submit([&] {
        ran.fetch_add(1);
        MutexLock lock(mu);
        seen.insert(std::this_thread::get_id());
      });
    }
  }  // the destructor runs what was submitted before joining
  EXPECT_EQ(ran.load(), 1000);
  EXPECT_EQ(seen.count(std::this_thread::get_id()), 0u);
  EXPECT_LE(seen.size(), 2u);
}

TEST(TaskPoolTest, StartsFirstSubmittedFirst) {
  std::vector<int> order;
  Mutex mu;
  {
    TaskPool pool(1);
    for (int i = 0; i < 50; ++i) {
      pool.Submit([&, i] {
        MutexLock lock(mu);
        order.push_back(i);
      });
    }
  }
  ASSERT_EQ(order.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(order[i], i);
}

TEST(TaskPoolTest, ZeroThreadsMeansOne) {
  std::atomic<bool> ran{false};
  {
    TaskPool pool(0);
    EXPECT_EQ(pool.size(), 1);
    pool.Submit([&] { ran = true; });
  }
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace pharos
