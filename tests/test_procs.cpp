// The procs backend: same bytes as seq, crash and hang recovery, structured failures, cleanup,
// shared inputs. Chunks misbehave on purpose through probe_kernel's modes; what they did is
// counted in shared memory, which the parent reads after the job.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tandem/errors.hpp"
#include "tandem/executors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/process_pool.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/tasks.hpp"

#if defined(__SANITIZE_THREAD__)
// Chunks here crash on purpose (SIGSEGV) to test how a worker's death is reported; ThreadSanitizer
// would catch the signal and exit with 66 instead.
extern "C" const char* __tsan_default_options() { return "handle_segv=0"; }
#endif

namespace {

using tandem::chunk_plan;
using tandem::chunk_range;
using tandem::process_pool;
using tandem::procs_options;
using tandem::shared_buffer;

enum class mode : int {
  none,
  wait_to_be_killed,
  always_segv,
  always_exit7,
  hang_once,
  always_hang,
  throw_once,
  env,
  stop_once,
  always_std_exit
};

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
      case mode::stop_once:
        if (attempt == 1) raise(SIGSTOP);
        return;
      case mode::always_std_exit:
        std::printf("worker output\n");
        std::exit(7);
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

// Children of thread `tid` of this process.
std::vector<pid_t> children_of(pid_t tid) {
  std::ifstream f("/proc/" + std::to_string(getpid()) + "/task/" + std::to_string(tid) + "/children");
  std::vector<pid_t> pids;
  for (pid_t pid; f >> pid;) pids.push_back(pid);
  return pids;
}

// Children of the calling thread, which is the one that forks the workers.
std::vector<pid_t> children_of_this_thread() { return children_of(gettid()); }

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

// ---------------------------------------------------------------------------------------------
// Faults around the workers' lives: deaths before they are ready, fork failures, a program that
// takes SIGCHLD, exit() in a chunk, stopped and stalled workers. TANDEM_FAULT
// (host/src/fault_injection.hpp) puts a fault at a chosen point; tests that would hang on a
// regression run in a fresh process (the test program exec'd again, with its own shared arena
// and signal dispositions) under an alarm, so they fail instead.

struct fault_env {
  explicit fault_env(const char* spec) { setenv("TANDEM_FAULT", spec, 1); }
  ~fault_env() { unsetenv("TANDEM_FAULT"); }
};

// Fails the test unless body() returns "" in a fresh process within `seconds`.
#define EXPECT_IN_FRESH_PROCESS(seconds, body)                                 \
  do {                                                                         \
    GTEST_FLAG_SET(death_test_style, "threadsafe");                            \
    EXPECT_EXIT(                                                               \
        {                                                                      \
          alarm(seconds);                                                      \
          const std::string why_ = (body)();                                   \
          if (!why_.empty()) std::fprintf(stderr, "FAILED: %s\n", why_.c_str()); \
          std::exit(why_.empty() ? 0 : 1);                                     \
        },                                                                     \
        ::testing::ExitedWithCode(0), "");                                     \
  } while (0)

// Kills the worker that publishes itself as holding the victim chunk (mode::wait_to_be_killed).
std::thread kill_victim(probe_board& board, int sig = SIGKILL) {
  return std::thread([&board, sig] {
    std::atomic_ref<std::int64_t> victim(board.victim_pid);
    for (int i = 0; i < 20'000 && victim.load() == 0; ++i) usleep(500);
    if (victim.load() > 0) kill(pid_t(victim.load()), sig);
  });
}

std::string mismatch(const char* what) { return std::string(what) + " differs from seq"; }

TEST(procs_faults, worker_killed_before_it_is_ready_is_forked_again) {
  const fault_env fault("worker_start@1-2:SIGKILL");  // the first two workers die as they start
  process_pool pool({2, 3, 0});
  EXPECT_EQ(pool.stats().workers_replaced, 2u);
  EXPECT_EQ(run_on(pool, chunk_plan(100, 1), {}), reference(chunk_plan(100, 1), {}));
}

TEST(procs_faults, workers_that_keep_dying_before_they_are_ready_are_an_error) {
  const fault_env fault("worker_start@1-:SIGKILL");
  const auto t0 = std::chrono::steady_clock::now();
  try {
    process_pool pool({2, 3, 0});
    FAIL() << "the pool should have given up";
  } catch (const tandem::resource_error& e) {
    EXPECT_NE(std::string(e.what()).find("in a row died before they were ready"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("SIGKILL"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  EXPECT_TRUE(children_of_this_thread().empty());
}

TEST(procs_faults, replacements_that_die_before_they_are_ready_use_up_no_retries) {
  process_pool pool({2, 1, 0});
  board_buffer b;
  probe_params p;
  p.board = &b.board();
  p.victim = 300;
  p.what = mode::wait_to_be_killed;
  const fault_env fault("worker_start@1-3:SIGKILL");  // counted from here: the next three forks die
  std::thread killer = kill_victim(b.board());
  const std::vector<std::uint64_t> got = run_on(pool, chunk_plan(600, 1), p);
  killer.join();
  EXPECT_EQ(got, reference(chunk_plan(600, 1), p));
  EXPECT_EQ(b.board().runs[p.victim], 2u);
  EXPECT_EQ(pool.stats().chunks_retried, 1u);
  EXPECT_EQ(pool.stats().workers_replaced, 4u);
}

TEST(procs_faults, fork_refused_mid_job_is_an_error_and_the_next_job_starts_afresh) {
  process_pool pool({2, 3, 0});
  board_buffer b;
  probe_params p;
  p.board = &b.board();
  p.victim = 300;
  p.what = mode::wait_to_be_killed;
  {
    const fault_env fault("worker_start@1-:fail");
    std::thread killer = kill_victim(b.board());
    try {
      run_on(pool, chunk_plan(600, 1), p);
      ADD_FAILURE() << "the replacement's fork failed: the job should fail";
    } catch (const tandem::resource_error& e) {
      EXPECT_NE(std::string(e.what()).find("could not start worker process"), std::string::npos) << e.what();
    }
    killer.join();
  }
  EXPECT_TRUE(children_of_this_thread().empty()) << "a failed job stops every worker";
  EXPECT_EQ(run_on(pool, chunk_plan(600, 1), {}), reference(chunk_plan(600, 1), {}));
}

// A program that takes SIGCHLD away from the pool: ignored (the kernel reaps the workers), or a
// handler that reaps every child. With pidfds, and with the pipe used where pidfds are missing.
enum class sigchld_use { ignored, reaped_by_handler };
struct sigchld_case {
  sigchld_use use;
  bool pipe_fallback;
};
void PrintTo(const sigchld_case& c, std::ostream* os) {
  *os << (c.use == sigchld_use::ignored ? "ignored" : "reaped") << (c.pipe_fallback ? "_pipe" : "_pidfd");
}

void reap_every_child(int) {
  const int saved = errno;
  while (waitpid(-1, nullptr, WNOHANG) > 0) {
  }
  errno = saved;
}

class procs_sigchld : public ::testing::TestWithParam<sigchld_case> {};

TEST_P(procs_sigchld, deaths_timeouts_and_failures_are_seen_whatever_the_program_does_with_sigchld) {
  const sigchld_case c = GetParam();
  EXPECT_IN_FRESH_PROCESS(30, [&]() -> std::string {
    struct sigaction sa {};
    sa.sa_handler = c.use == sigchld_use::ignored ? SIG_IGN : reap_every_child;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, nullptr);
    if (c.pipe_fallback) setenv("TANDEM_FAULT", "pidfd_open@1-:fail", 1);
    {
      process_pool pool({2, 1, 0.3});
      board_buffer b;
      const chunk_plan plan(2000, 1);
      probe_params p;
      p.board = &b.board();
      p.victim = 1000;
      p.what = mode::wait_to_be_killed;
      std::thread killer = kill_victim(b.board());
      const bool same = run_on(pool, plan, p) == reference(plan, p);
      killer.join();
      if (!same) return mismatch("a job with a killed worker");
      if (b.board().runs[p.victim] != 2) return "the killed chunk ran " + std::to_string(b.board().runs[p.victim]) + " times";

      p.what = mode::always_segv;
      try {
        run_on(pool, plan, p);
        return "a chunk that always crashes should fail the job";
      } catch (const tandem::chunk_failed& e) {
        if (e.info().attempts != 2) return "attempts " + std::to_string(e.info().attempts);
        if (e.info().status_known) return "the status cannot be known here, yet it says " + std::string(e.what());
        if (std::string(e.what()).find("SIGCHLD") == std::string::npos) return "unclear: " + std::string(e.what());
      }

      p.victim = 2;
      p.what = mode::always_hang;
      try {
        run_on(pool, chunk_plan(4, 1), p);
        return "a chunk that always hangs should time out";
      } catch (const tandem::chunk_failed& e) {
        if (!e.info().timed_out) return "not reported as timed out: " + std::string(e.what());
      }
      if (run_on(pool, plan, {}) != reference(plan, {})) return mismatch("the pool after failures");
    }
    if (!children_of_this_thread().empty()) return "workers left after the pool";
    return "";
  });
}

INSTANTIATE_TEST_SUITE_P(uses, procs_sigchld,
                         ::testing::Values(sigchld_case{sigchld_use::ignored, false},
                                           sigchld_case{sigchld_use::reaped_by_handler, false},
                                           sigchld_case{sigchld_use::ignored, true},
                                           sigchld_case{sigchld_use::reaped_by_handler, true}),
                         [](const auto& p) {
                           std::ostringstream os;
                           PrintTo(p.param, &os);
                           return os.str();
                         });

std::atomic<int>* exit_handlers_run_in_workers = nullptr;
pid_t test_process = 0;

TEST(procs_faults, exit_in_a_chunk_runs_none_of_the_parents_exit_handlers_nor_its_buffers) {
  EXPECT_IN_FRESH_PROCESS(30, []() -> std::string {
    shared_buffer counter(sizeof(std::atomic<int>));
    exit_handlers_run_in_workers = new (counter.data()) std::atomic<int>(0);
    test_process = getpid();
    std::atexit([] {
      if (getpid() != test_process) exit_handlers_run_in_workers->fetch_add(1);
    });
    std::FILE* f = std::tmpfile();
    std::fputs("written once\n", f);  // still in f's buffer: a fully buffered file
    {
      process_pool pool({2, 1, 0});
      board_buffer b;
      probe_params p;
      p.board = &b.board();
      p.victim = 5;
      p.what = mode::always_std_exit;
      try {
        run_on(pool, chunk_plan(20, 1), p);
        return "the job should fail";
      } catch (const tandem::chunk_failed& e) {
        if (e.info().exit_code != 7) return "exit status " + std::to_string(e.info().exit_code);
        if (e.info().attempts != 2) return "attempts " + std::to_string(e.info().attempts);
      }
    }
    if (const int n = exit_handlers_run_in_workers->load()) return "the parent's atexit handler ran in " + std::to_string(n) + " workers";
    std::fflush(f);
    std::rewind(f);
    char text[256] = {};
    const std::size_t n = std::fread(text, 1, sizeof text - 1, f);
    if (std::string(text, n) != "written once\n") return "the file holds: " + std::string(text, n);
    return "";
  });
}

TEST(procs_faults, stopped_worker_is_noticed_without_a_chunk_timeout) {
  EXPECT_IN_FRESH_PROCESS(20, []() -> std::string {
    process_pool pool({2, 3, 0});  // the defaults: no chunk timeout
    board_buffer b;
    probe_params p;
    p.board = &b.board();
    p.victim = 50;
    p.what = mode::stop_once;  // SIGSTOP, as `kill -STOP` on one worker would
    const auto t0 = std::chrono::steady_clock::now();
    if (run_on(pool, chunk_plan(100, 1), p) != reference(chunk_plan(100, 1), p)) return mismatch("the job");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (b.board().runs[p.victim] != 2) return "the stopped chunk ran " + std::to_string(b.board().runs[p.victim]) + " times";
    if (seconds < 1.0 || seconds > 5.0) return "took " + std::to_string(seconds) + " s; about 1.5 s expected";
    return "";
  });
}

TEST(procs_faults, stopped_idle_workers_are_replaced) {
  EXPECT_IN_FRESH_PROCESS(20, []() -> std::string {
    process_pool pool({2, 3, 0});
    for (pid_t pid : pool.worker_pids()) kill(pid, SIGSTOP);
    if (run_on(pool, chunk_plan(20, 1), {}) != reference(chunk_plan(20, 1), {})) return mismatch("the job");
    if (pool.stats().workers_replaced != 2) return "replaced " + std::to_string(pool.stats().workers_replaced);
    return "";
  });
}

TEST(procs_faults, chunk_using_no_cpu_is_killed_after_the_stall_timeout_and_retried) {
  EXPECT_IN_FRESH_PROCESS(20, []() -> std::string {
    {
      process_pool pool({2, 3, 0, 0.3});
      board_buffer b;
      probe_params p;
      p.board = &b.board();
      p.victim = 10;
      p.what = mode::hang_once;  // sleeps 30 s on its first attempt
      if (run_on(pool, chunk_plan(20, 1), p) != reference(chunk_plan(20, 1), p)) return mismatch("the job");
      if (b.board().runs[p.victim] != 2) return "the stalled chunk ran " + std::to_string(b.board().runs[p.victim]) + " times";
    }
    process_pool pool({1, 0, 0, 0.3});
    board_buffer b;
    probe_params p;
    p.board = &b.board();
    p.victim = 0;
    p.what = mode::always_hang;
    try {
      run_on(pool, chunk_plan(3, 1), p);
      return "a chunk that always sleeps should fail";
    } catch (const tandem::chunk_failed& e) {
      if (!e.info().stalled || e.info().timed_out) return "not reported as stalled: " + std::string(e.what());
      if (std::string(e.what()).find("made no progress") == std::string::npos) return e.what();
    }
    return "";
  });
}

// SIGTERM just after a worker is forked, before the pool has it in its table. The handler kills
// and reaps the workers it finds in the tables and exits; signals stay blocked across the fork until
// the new worker is in its table, so it is found. The worker stops itself as it starts, so that
// nothing else would end it; orphans of the exited child come to this process (a subreaper).
TEST(procs_faults, signal_just_after_a_fork_ends_the_new_worker_too) {
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // A worker left behind holds the death test's pipe open and stops: it would hang the test, so
  // after 5 s it is killed (and still counted below, unreaped).
  std::atomic<bool> finished{false};
  const pid_t main_thread = gettid();  // orphans are re-parented to it
  std::thread watchdog([&] {
    for (int i = 0; i < 500 && !finished.load(); ++i) usleep(10'000);
    if (!finished.load())
      for (pid_t pid : children_of(main_thread)) kill(pid, SIGKILL);
  });
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("TANDEM_FAULT", "worker_start@2:SIGSTOP,worker_forked@2:SIGTERM", 1);
        tandem::install_interrupt_handlers();
        process_pool pool({2, 3, 0});
        std::exit(0);
      },
      ::testing::ExitedWithCode(128 + SIGTERM), "terminated \\(SIGTERM\\)");
  finished.store(true);
  watchdog.join();
  const std::vector<pid_t> left = children_of_this_thread();
  for (pid_t pid : left) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  EXPECT_TRUE(left.empty()) << left.size() << " worker(s) outlived the process that forked them";
}

}  // namespace
