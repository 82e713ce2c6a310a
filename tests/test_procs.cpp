// The procs backend: same bytes as seq, crash and hang recovery, structured failures, cleanup,
// shared inputs. Chunks misbehave on purpose through probe_kernel's modes; what they did is
// counted in shared memory, which the parent reads after the job.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tandem/executors.hpp"
#include "tandem/process_pool.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/tasks.hpp"

namespace {

using tandem::chunk_plan;
using tandem::chunk_range;
using tandem::process_pool;
using tandem::procs_options;
using tandem::shared_buffer;

enum class mode : int { none, wait_to_be_killed, always_segv, always_exit7, hang_once, always_hang, throw_once, env };

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1'000'000'000u + std::uint64_t(ts.tv_nsec);
}

// Counters the chunks write in shared memory.
struct probe_board {
  std::uint64_t runs[1 << 14];  // runs started per chunk
  std::int64_t victim_pid;      // the worker that holds the victim chunk, for the killer thread
  std::uint64_t last_attempt_ns;
};

struct probe_params {
  probe_board* board = nullptr;  // in the shared arena
  const std::uint64_t* input = nullptr;  // optional shared input, one word per item
  std::uint64_t victim = ~std::uint64_t{0};
  mode what = mode::none;
  std::int64_t parent_pid = 0;
};

// A value that depends on every item of the chunk, and on the shared input when there is one.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15u;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
  return x ^ (x >> 31);
}

struct probe_kernel {
  using params_type = probe_params;
  using partial_type = std::uint64_t;
  static std::uint64_t run(const probe_params& p, chunk_range r) {
    const std::uint64_t chunk = r.begin;  // the tests use chunk size 1 where a victim matters
    if (p.board && chunk < std::size(p.board->runs)) std::atomic_ref(p.board->runs[chunk]).fetch_add(1);
    if (chunk == p.victim) act(p);
    if (p.what == mode::env) {
      const char* omp = std::getenv("OMP_NUM_THREADS");
      const char* blas = std::getenv("OPENBLAS_NUM_THREADS");
      return omp && blas && std::string(omp) == "1" && std::string(blas) == "1" && getpid() != p.parent_pid;
    }
    std::uint64_t h = r.size();
    for (std::size_t i = r.begin; i < r.end; ++i) h = mix(h ^ (p.input ? p.input[i] : i));
    return h;
  }

  static void act(const probe_params& p) {
    const unsigned attempt = process_pool::current_attempt();
    std::atomic_ref(p.board->last_attempt_ns).store(now_ns());
    switch (p.what) {
      case mode::wait_to_be_killed:
        if (attempt != 1) return;
        std::atomic_ref(p.board->victim_pid).store(getpid());
        for (int i = 0; i < 10'000; ++i) usleep(1000);  // the test kills us long before
        return;
      case mode::always_segv: {
        const rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        raise(SIGSEGV);
        return;
      }
      case mode::always_exit7:
        _exit(7);
      case mode::hang_once:
        if (attempt == 1) sleep(30);
        return;
      case mode::always_hang:
        sleep(30);
        return;
      case mode::throw_once:
        throw std::runtime_error("chunk " + std::to_string(p.victim) + " refused");
      default:
        return;
    }
  }
};

std::vector<std::uint64_t> run_on(tandem::executor& ex, const chunk_plan& plan, const probe_params& p) {
  return tandem::run_chunks<probe_kernel>(ex, plan, p);
}

std::vector<std::uint64_t> reference(const chunk_plan& plan, const probe_params& p) {
  tandem::seq_executor seq;
  probe_params plain = p;
  plain.board = nullptr;
  plain.what = mode::none;
  plain.victim = ~std::uint64_t{0};
  return run_on(seq, plan, plain);
}

struct board_buffer {
  shared_buffer memory{sizeof(probe_board)};
  probe_board& board() { return *static_cast<probe_board*>(memory.data()); }
};

bool process_gone(pid_t pid) { return kill(pid, 0) == -1 && errno == ESRCH; }

// ---------------------------------------------------------------------------------------------
// Same bytes as seq, whatever the worker count and the shape of the job.

class procs_workers : public ::testing::TestWithParam<unsigned> {};

TEST_P(procs_workers, matches_seq_on_edge_sizes) {
  process_pool pool({GetParam(), 3, 0});
  ASSERT_EQ(pool.workers(), GetParam());
  ASSERT_EQ(pool.worker_pids().size(), GetParam());
  for (const auto& [items, chunk] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 7}, {1, 7}, {6, 7}, {7, 7}, {8, 7}, {97, 1}, {1000, 13}, {10007, 3}, {3, 1}}) {
    const chunk_plan plan(items, chunk);
    std::vector<std::uint64_t> got = run_on(pool, plan, {});
    EXPECT_EQ(got, reference(plan, {})) << "items " << items << " chunk " << chunk;
  }
}

TEST_P(procs_workers, tasks_workload_matches_seq) {
  process_pool pool({GetParam(), 3, 0});
  tandem::seq_executor seq;
  const tandem::tasks_options o{5, 3'000'001};
  const tandem::tasks_result a = tandem::run_tasks(seq, o);
  const tandem::tasks_result b = tandem::run_tasks(pool, o);
  EXPECT_EQ(tandem::to_decimal(a.total), tandem::to_decimal(b.total));
  ASSERT_EQ(a.sums.size(), b.sums.size());
  for (std::size_t i = 0; i < a.sums.size(); ++i) EXPECT_EQ(tandem::to_decimal(a.sums[i]), tandem::to_decimal(b.sums[i]));
}

INSTANTIATE_TEST_SUITE_P(workers, procs_workers, ::testing::Values(1u, 2u, 3u, 4u));

TEST(procs, more_workers_than_chunks_and_many_jobs_in_a_row) {
  process_pool pool({6, 3, 0});
  for (std::size_t job = 0; job < 2000; ++job) {
    const chunk_plan plan(job % 5, 1);  // 0..4 chunks, fewer than workers
    ASSERT_EQ(run_on(pool, plan, {}), reference(plan, {})) << "job " << job;
  }
  EXPECT_EQ(pool.stats().workers_replaced, 0u);
}

TEST(procs, partials_already_in_shared_memory_are_written_in_place) {
  process_pool pool({2, 3, 0});
  const chunk_plan plan(500, 1);
  shared_buffer out(plan.chunks() * sizeof(std::uint64_t));
  const probe_params p{};
  pool.run(tandem::make_chunk_job<probe_kernel>(plan, p), out.data());
  const auto got = out.as<std::uint64_t>();
  EXPECT_EQ(std::vector<std::uint64_t>(got.begin(), got.end()), reference(plan, p));
}

// ---------------------------------------------------------------------------------------------
// Inputs in shared memory: allocated after the workers were forked, read in place.

TEST(procs, shared_buffer_made_after_fork_is_seen_by_workers) {
  process_pool pool({2, 3, 0});
  const std::size_t items = 1 << 20;
  shared_buffer input(items * sizeof(std::uint64_t));
  ASSERT_TRUE(tandem::shared_arena::contains(input.data(), input.size()));
  auto words = input.as<std::uint64_t>();
  for (std::size_t i = 0; i < items; ++i) words[i] = mix(i * 7 + 1);
  probe_params p;
  p.input = words.data();
  const chunk_plan plan(items, 4096);
  EXPECT_EQ(run_on(pool, plan, p), reference(plan, p));
  // Changed in place: the workers see the new bytes, not a copy from fork time.
  words[12345] ^= 1;
  EXPECT_EQ(run_on(pool, plan, p), reference(plan, p));
}

TEST(procs, shared_buffer_is_zeroed_and_reused) {
  const std::size_t before = tandem::shared_arena::in_use();
  {
    shared_buffer a(10'000);
    std::memset(a.data(), 0xab, a.size());
  }
  EXPECT_EQ(tandem::shared_arena::in_use(), before);
  shared_buffer b(10'000);
  const auto bytes = b.as<unsigned char>();
  for (unsigned char x : bytes) ASSERT_EQ(x, 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.data()) % 64, 0u);
  EXPECT_FALSE(tandem::shared_arena::contains(&before, sizeof before));
}

// ---------------------------------------------------------------------------------------------
// Crashes and hangs.

TEST(procs, worker_killed_mid_job_is_replaced_and_only_its_chunk_runs_twice) {
  process_pool pool({2, 3, 0});
  board_buffer b;
  const chunk_plan plan(5000, 1);
  probe_params p;
  p.board = &b.board();
  p.victim = 2500;
  p.what = mode::wait_to_be_killed;
  const std::vector<pid_t> before = pool.worker_pids();

  pid_t killed = 0;
  std::thread killer([&] {
    std::atomic_ref<std::int64_t> victim(b.board().victim_pid);
    for (int i = 0; i < 20'000 && victim.load() == 0; ++i) usleep(500);
    killed = pid_t(victim.load());
    if (killed > 0) kill(killed, SIGKILL);
  });
  const std::vector<std::uint64_t> got = run_on(pool, plan, p);
  killer.join();

  ASSERT_GT(killed, 0);
  EXPECT_EQ(got, reference(plan, p));
  for (std::size_t c = 0; c < plan.chunks(); ++c)
    ASSERT_EQ(b.board().runs[c], c == p.victim ? 2u : 1u) << "chunk " << c;
  EXPECT_EQ(pool.stats().workers_replaced, 1u);
  EXPECT_EQ(pool.stats().chunks_retried, 1u);
  const std::vector<pid_t> after = pool.worker_pids();
  EXPECT_NE(std::find(before.begin(), before.end(), killed), before.end());
  EXPECT_EQ(std::find(after.begin(), after.end(), killed), after.end());
  EXPECT_TRUE(process_gone(killed));
}

class procs_retries : public ::testing::TestWithParam<unsigned> {};

TEST_P(procs_retries, chunk_that_always_crashes_fails_after_max_retries_plus_one_attempts) {
  const unsigned max_retries = GetParam();
  process_pool pool({2, max_retries, 0});
  board_buffer b;
  const chunk_plan plan(3000, 1);
  probe_params p;
  p.board = &b.board();
  p.victim = 1234;
  p.what = mode::always_segv;
  try {
    run_on(pool, plan, p);
    FAIL() << "the job should have failed";
  } catch (const tandem::chunk_failed& e) {
    const std::uint64_t caught = now_ns();
    EXPECT_EQ(e.info().chunk, p.victim);
    EXPECT_EQ(e.info().attempts, max_retries + 1);
    EXPECT_EQ(e.info().signal, SIGSEGV);
    EXPECT_EQ(e.info().exit_code, -1);
    EXPECT_FALSE(e.info().timed_out);
    EXPECT_GT(e.info().pid, 0);
    EXPECT_TRUE(process_gone(e.info().pid));
    EXPECT_NE(std::string(e.what()).find("chunk 1234"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("SIGSEGV"), std::string::npos) << e.what();
    EXPECT_EQ(b.board().runs[p.victim], max_retries + 1);
    EXPECT_LT(caught - b.board().last_attempt_ns, 1'000'000'000u);
  }
  // The pool is still whole and gives the right answer.
  EXPECT_EQ(pool.worker_pids().size(), 2u);
  EXPECT_EQ(run_on(pool, plan, {}), reference(plan, {}));
}

INSTANTIATE_TEST_SUITE_P(max_retries, procs_retries, ::testing::Values(0u, 1u, 3u));

TEST(procs, exit_status_of_a_chunk_that_exits_is_reported) {
  process_pool pool({2, 1, 0});
  board_buffer b;
  probe_params p;
  p.board = &b.board();
  p.victim = 5;
  p.what = mode::always_exit7;
  try {
    run_on(pool, chunk_plan(20, 1), p);
    FAIL() << "the job should have failed";
  } catch (const tandem::chunk_failed& e) {
    EXPECT_EQ(e.info().chunk, 5u);
    EXPECT_EQ(e.info().attempts, 2u);
    EXPECT_EQ(e.info().signal, 0);
    EXPECT_EQ(e.info().exit_code, 7);
    EXPECT_NE(std::string(e.what()).find("status 7"), std::string::npos) << e.what();
  }
}

TEST(procs, stuck_chunk_is_killed_at_the_timeout_and_retried) {
  process_pool pool({2, 3, 0.2});
  board_buffer b;
  const chunk_plan plan(200, 1);
  probe_params p;
  p.board = &b.board();
  p.victim = 100;
  p.what = mode::hang_once;
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(run_on(pool, plan, p), reference(plan, p));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(b.board().runs[p.victim], 2u);
  EXPECT_GE(seconds, 0.2);
  EXPECT_LT(seconds, 5.0);  // far below the 30 s the chunk would hang
}

TEST(procs, chunk_that_always_hangs_fails_as_timed_out) {
  process_pool pool({1, 0, 0.1});
  board_buffer b;
  probe_params p;
  p.board = &b.board();
  p.victim = 0;
  p.what = mode::always_hang;
  try {
    run_on(pool, chunk_plan(3, 1), p);
    FAIL() << "the job should have failed";
  } catch (const tandem::chunk_failed& e) {
    EXPECT_TRUE(e.info().timed_out);
    EXPECT_EQ(e.info().signal, SIGKILL);
    EXPECT_EQ(e.info().attempts, 1u);
  }
  EXPECT_EQ(run_on(pool, chunk_plan(3, 1), {}), reference(chunk_plan(3, 1), {}));
}

TEST(procs, exception_in_a_chunk_is_rethrown_and_the_pool_stays_usable) {
  process_pool pool({2, 3, 0});
  board_buffer b;
  probe_params p;
  p.board = &b.board();
  p.victim = 77;
  p.what = mode::throw_once;
  try {
    run_on(pool, chunk_plan(1000, 1), p);
    FAIL() << "the job should have failed";
  } catch (const tandem::chunk_failed&) {
    FAIL() << "an exception is not a crash";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("chunk 77 refused"), std::string::npos) << e.what();
  }
  EXPECT_EQ(pool.stats().workers_replaced, 0u);
  EXPECT_EQ(run_on(pool, chunk_plan(1000, 1), {}), reference(chunk_plan(1000, 1), {}));
}

TEST(procs, worker_killed_while_idle_is_replaced_by_the_next_job) {
  process_pool pool({1, 3, 0});
  const pid_t pid = pool.worker_pids().at(0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_EQ(run_on(pool, chunk_plan(50, 1), {}), reference(chunk_plan(50, 1), {}));
  EXPECT_EQ(pool.stats().workers_replaced, 1u);
  EXPECT_NE(pool.worker_pids().at(0), pid);
}

// Children of the calling thread, which is the one that forks the workers.
std::vector<pid_t> children_of_this_thread() {
  std::ifstream f("/proc/" + std::to_string(getpid()) + "/task/" + std::to_string(gettid()) + "/children");
  std::vector<pid_t> pids;
  for (pid_t pid; f >> pid;) pids.push_back(pid);
  return pids;
}

TEST(procs, random_kills_during_many_jobs_change_no_result) {
  process_pool pool({3, 1000, 0});
  const chunk_plan plan(4000, 3);
  const std::vector<std::uint64_t> expected = reference(plan, {});
  const pid_t main_tid = gettid();
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(12345);
    while (!stop.load() && kills.load() < 200) {
      std::ifstream f("/proc/" + std::to_string(getpid()) + "/task/" + std::to_string(main_tid) + "/children");
      std::vector<pid_t> pids;
      for (pid_t pid; f >> pid;) pids.push_back(pid);
      if (!pids.empty() && kill(pids[rng() % pids.size()], SIGKILL) == 0) kills.fetch_add(1);
      usleep(300);
    }
  });
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int jobs = 0;
  for (; kills.load() < 200 && std::chrono::steady_clock::now() < until; ++jobs)
    ASSERT_EQ(run_on(pool, plan, {}), expected) << "job " << jobs;
  stop.store(true);
  killer.join();
  EXPECT_GE(kills.load(), 200) << "in " << jobs << " jobs";
  EXPECT_EQ(run_on(pool, plan, {}), expected);  // replaces whatever the last kills hit
  EXPECT_GE(pool.stats().workers_replaced, 1u);
  EXPECT_EQ(children_of_this_thread().size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// Worker set-up and cleanup.

TEST(procs, workers_run_blas_and_openmp_with_one_thread) {
  process_pool pool({2, 3, 0});
  probe_params p;
  p.what = mode::env;
  p.parent_pid = getpid();
  const std::vector<std::uint64_t> got = run_on(pool, chunk_plan(64, 1), p);
  for (std::uint64_t ok : got) EXPECT_EQ(ok, 1u);
}

TEST(procs, destroying_the_pool_reaps_every_worker) {
  std::vector<pid_t> pids;
  {
    process_pool pool({3, 3, 0});
    pids = pool.worker_pids();
    run_on(pool, chunk_plan(10, 1), {});
    for (pid_t pid : pids) ASSERT_FALSE(process_gone(pid));
  }
  for (pid_t pid : pids) {
    EXPECT_TRUE(process_gone(pid)) << pid;
    EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);  // already reaped: not our child any more
  }
}

TEST(procs, rejects_zero_workers) {
  EXPECT_THROW(process_pool({0, 3, 0}), std::invalid_argument);
}

}  // namespace
