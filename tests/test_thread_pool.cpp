// The thread pool's edges: sizes 0 and 1, empty and tiny loops, exceptions, cancellation and
// nested use, and threads the system refuses to start.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tandem/errors.hpp"
#include "tandem/thread_pool.hpp"

namespace {

using tandem::thread_pool;

class pool_sizes : public ::testing::TestWithParam<unsigned> {};

TEST_P(pool_sizes, every_index_runs_exactly_once) {
  thread_pool pool(GetParam());
  for (std::size_t n : {0u, 1u, 2u, 3u, 7u, 64u, 1000u, 100003u}) {
    std::vector<std::atomic<int>> hits(n);
    pool.for_each(n, [&](std::size_t i) { hits[i].fetch_add(1, std::memory_order_relaxed); });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "n=" << n << " i=" << i;
  }
}

TEST_P(pool_sizes, first_exception_reaches_caller_and_pool_stays_usable) {
  thread_pool pool(GetParam());
  EXPECT_THROW(pool.for_each(1000, [](std::size_t i) {
    if (i == 17) throw std::runtime_error("chunk 17 failed");
  }),
               std::runtime_error);
  std::atomic<std::size_t> sum{0};
  pool.for_each(100, [&](std::size_t i) { sum += i; });
  EXPECT_EQ(sum.load(), 4950u);
}

TEST_P(pool_sizes, nested_loops_do_not_deadlock) {
  thread_pool pool(GetParam());
  std::atomic<std::size_t> inner_total{0};
  pool.for_each(16, [&](std::size_t) {
    pool.for_each(16, [&](std::size_t j) { inner_total += j; });
  });
  EXPECT_EQ(inner_total.load(), 16u * 120u);
}

INSTANTIATE_TEST_SUITE_P(sizes, pool_sizes, ::testing::Values(0u, 1u, 2u, 3u, 8u),
                         [](const auto& p) { return "threads_" + std::to_string(p.param); });

TEST(thread_pool, exception_cancels_indices_not_yet_started) {
  thread_pool pool(2);
  std::atomic<std::size_t> ran{0};
  const std::size_t n = 1'000'000;
  EXPECT_THROW(pool.for_each(n, [&](std::size_t i) {
    ran.fetch_add(1, std::memory_order_relaxed);
    if (i == 0) throw std::logic_error("stop");
    // Slow enough that the other threads cannot drain a million indices before the error lands.
    std::this_thread::sleep_for(std::chrono::microseconds(1));
  }),
               std::logic_error);
  EXPECT_LT(ran.load(), n / 2) << "cancellation should stop nearly all of the loop";
}

TEST(thread_pool, exactly_one_exception_arrives_from_an_index_that_threw) {
  thread_pool pool(3);
  std::vector<std::atomic<int>> threw(64);
  try {
    pool.for_each(64, [&](std::size_t i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      threw[i] = 1;
      throw std::runtime_error(std::to_string(i));
    });
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    const std::size_t i = std::stoul(e.what());
    ASSERT_LT(i, threw.size());
    EXPECT_EQ(threw[i].load(), 1) << "rethrown exception names an index that never threw";
  }
  int count = 0;
  for (auto& t : threw) count += t.load();
  EXPECT_LE(count, 4) << "after the first error at most the indices already running may finish";
}

TEST(thread_pool, work_is_shared_between_threads) {
  thread_pool pool(1);
  std::atomic<int> on_worker{0};
  std::atomic<int> on_caller{0};
  const auto caller = std::this_thread::get_id();
  pool.for_each(64, [&](std::size_t) {
    (std::this_thread::get_id() == caller ? on_caller : on_worker)++;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(on_caller + on_worker, 64);
  EXPECT_GT(on_worker.load(), 0) << "the background thread never took an index";
  EXPECT_GT(on_caller.load(), 0) << "the caller never took part";
}

TEST(thread_pool, knows_its_own_threads) {
  thread_pool pool(2);
  EXPECT_FALSE(pool.on_worker_thread());
  std::atomic<int> seen_worker{0};
  pool.for_each(256, [&](std::size_t) {
    if (pool.on_worker_thread()) seen_worker = 1;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  });
  EXPECT_EQ(seen_worker.load(), 1);
}

TEST(thread_pool, many_callers_at_once) {
  thread_pool pool(2);
  std::vector<std::thread> callers;
  std::atomic<std::size_t> total{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) pool.for_each(100, [&](std::size_t i) { total += i; });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4u * 50u * 4950u);
}

TEST(thread_pool, destruction_while_idle_joins_promptly) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    thread_pool pool(4);
    pool.for_each(8, [](std::size_t) {});
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

// ---------------------------------------------------------------------------------------------
// Threads the system refuses: an error after the threads already started are joined, never
// std::terminate (a std::thread still joinable when the pool's vector is destroyed).

int threads_of_this_process() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (const dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

TEST(thread_pool, thread_that_cannot_start_is_an_error_and_the_started_ones_are_joined) {
  const int before = threads_of_this_process();
  setenv("TANDEM_FAULT", "thread_create@3:fail", 1);
  try {
    thread_pool pool(8);
    unsetenv("TANDEM_FAULT");
    FAIL() << "the third thread should have failed to start";
  } catch (const tandem::resource_error& e) {
    unsetenv("TANDEM_FAULT");
    EXPECT_NE(std::string(e.what()).find("could not start thread 3 of 8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(threads_of_this_process(), before) << "the two threads that started must be joined";
  thread_pool pool(2);  // and the next pool starts normally
  std::atomic<int> sum{0};
  pool.for_each(10, [&](std::size_t i) { sum += int(i); });
  EXPECT_EQ(sum.load(), 45);
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define TANDEM_UNDER_SANITIZER 1
#endif

// The real thing: an address-space limit (ulimit -v) that leaves room for a few thread stacks.
TEST(thread_pool, address_space_limit_is_an_error_not_an_abort) {
#ifdef TANDEM_UNDER_SANITIZER
  GTEST_SKIP() << "sanitizers reserve their own address space and abort when it runs out";
#else
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    const rlim_t room = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t{64} << 20);
    const rlimit limit{room, room};
    if (setrlimit(RLIMIT_AS, &limit) != 0) _exit(3);
    try {
      thread_pool pool(1000);  // 8 MiB of stack each: far beyond 64 MiB
      _exit(2);
    } catch (const tandem::resource_error&) {
      _exit(0);
    } catch (...) {
      _exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: another exception, 2: no error, 3: setrlimit failed";
#endif
}

}  // namespace
