// The shared-memory protocol between a process_pool and its workers: the control block, the
// packed words in it, and the futex and polling helpers both sides use. Internal to host/src.
#pragma once

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

#include "cpu_relax.hpp"
#include "tandem/process_pool.hpp"

namespace tandem::procs_protocol {

using u32 = std::uint32_t;
using u64 = std::uint64_t;

// A claim word and a slot's `holding` word: job generation in the high half, chunk in the low half.
// Chunk index `closed` ends a job early (an error or a cancel): no claim can succeed against it.
constexpr u64 closed = 0xffffffffu;
constexpr u64 idle = ~u64{0};
constexpr u64 pack(u32 gen, u64 chunk) { return (u64{gen} << 32) | chunk; }
constexpr u32 gen_of(u64 word) { return u32(word >> 32); }
constexpr u64 chunk_of(u64 word) { return word & 0xffffffffu; }

// Per-chunk state, stamped with the job's generation so it needs no clearing between jobs:
// generation in the high half, bit 31 done, attempts (runs started) in the low bits.
constexpr u64 done_bit = u64{1} << 31;

// Polling before sleeping: a worker that just finished a job polls for the next one this long, and
// the parent polls for the result this long, before either makes a futex system call. A futex
// wake-up costs 5-50 us on this machine; a round trip with both sides polling costs about 1 us.
// After the first 2 us a poller yields its core at each look, so that the process it waits for
// can run even when the scheduler put both on one core. Measured on 2 cores under a load average
// of 5-8 (bench_procs round trip, medians): pure spinning 200-600 us, yielding after 5 us with
// budgets of 200/100 us 14-34 us, with budgets of 50/20 us or 20/10 us 2-30 us.
constexpr u64 worker_poll_ns = 50'000;
constexpr u64 parent_poll_ns = 20'000;
constexpr u64 pure_spin_ns = 2'000;

inline u64 now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return u64(ts.tv_sec) * 1'000'000'000u + u64(ts.tv_nsec);
}

// Futexes on MAP_SHARED memory: the non-private operations, so that waiters in other processes
// are found. std::atomic::wait is process-private in libstdc++.
inline long futex_wait(std::atomic<u32>* word, u32 expected, long timeout_ns) noexcept {
  timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
  return syscall(SYS_futex, reinterpret_cast<u32*>(word), FUTEX_WAIT, expected, timeout_ns > 0 ? &ts : nullptr,
                 nullptr, 0);
}
inline void futex_wake_all(std::atomic<u32>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<u32*>(word), FUTEX_WAKE, 0x7fffffff, nullptr, nullptr, 0);
}

// Polls `ready` for up to `budget_ns` (see the constants above). True when it became ready.
template <class Ready>
bool poll_for(Ready ready, u64 budget_ns) noexcept {
  const u64 start = now_ns();
  for (;;) {
    if (ready()) return true;
    const u64 t = now_ns() - start;
    if (t > budget_ns) return false;
    if (t > pure_spin_ns) {
      sched_yield();
    } else {
      for (int i = 0; i < 16; ++i) TANDEM_CPU_RELAX();
    }
  }
}

}  // namespace tandem::procs_protocol

namespace tandem {

// One per worker. Each word is written by one side and read by the other (see the comments).
struct alignas(64) procs_worker_slot {
  // Worker: the chunk it runs or is about to claim, as pack(generation, chunk); idle otherwise.
  std::atomic<std::uint64_t> holding{procs_protocol::idle};
  // Parent, before forking a replacement: a chunk to retry first. The worker clears it.
  std::atomic<std::uint64_t> assignment{procs_protocol::idle};
  // Worker: when it began the chunk it holds (CLOCK_MONOTONIC ns), for --chunk-timeout.
  std::atomic<std::uint64_t> started_ns{0};
  // Worker: set once it waits for work.
  std::atomic<std::uint32_t> ready{0};
};

struct process_pool::control {
  alignas(64) std::atomic<std::uint32_t> job_seq{0};  // futex: bumped for each job and for stop
  std::atomic<std::uint32_t> sleepers{0};             // workers in futex_wait on job_seq
  std::atomic<std::uint32_t> stop{0};
  // The job, written while the claim word is closed (a seqlock: workers re-check the claim word).
  std::atomic<std::uint64_t> run_chunk{0}, params{0}, items{0}, chunk_size{0}, partial_size{0}, partials{0},
      state{0}, chunks{0}, first_chunk{0};
  alignas(64) std::atomic<std::uint64_t> claim{procs_protocol::pack(0, procs_protocol::closed)};
  alignas(64) std::atomic<std::uint64_t> done{0};     // chunks finished in this job
  std::atomic<std::uint32_t> completion{0};           // futex: bumped when a job finishes or fails
  std::atomic<std::uint32_t> parent_sleeping{0};
  std::atomic<std::uint32_t> failed{0};               // 1: a chunk threw, 2: its message is in `error`
  char error[1024] = {};
  procs_worker_slot slots[1];  // really `workers` of them
};

namespace procs_protocol {
// The worker's life: waits for jobs on `c`, runs chunks, never returns (procs_worker.cpp).
[[noreturn]] void worker_main(process_pool::control& c, unsigned slot, pid_t parent);
}  // namespace procs_protocol

}  // namespace tandem
