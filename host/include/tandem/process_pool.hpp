// The procs backend: persistent worker processes that survive crashes of the chunks they run.
//
// Workers are fork()ed once, when the pool is made, and reused for every job. A job travels through
// shared memory as a few words (function address, params address, plan, partials address): the
// chunk function is valid in the workers because they are forks of the same binary, params and
// partials sit in the shared arena (shared_buffer.hpp), and big inputs do too, so nothing is ever
// serialised. Workers claim chunks from a shared counter and wait on futexes when idle.
//
// A worker killed by any signal (or exiting) while it holds a chunk is reaped, replaced by a fresh
// fork, and the chunk is run again by the replacement, up to max_retries times; a chunk that fails
// more often fails the job with chunk_failed. Other chunks are unaffected and the pool stays
// usable. Results are bitwise those of seq: a chunk's partial depends only on the chunk. Deaths are
// seen through pidfds, whatever the program does with SIGCHLD; a stopped or stalled worker is
// treated as dead (stall_timeout).
// See docs/procs.md for the protocol and the cleanup guarantees.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "tandem/executor.hpp"
#include "tandem/shared_buffer.hpp"

namespace tandem {

class worker_table;  // host/src/worker_processes.hpp
struct worker_end;

struct procs_options {
  unsigned workers = 1;
  // Extra attempts a chunk gets after its worker dies, times out or stalls; 0: none.
  unsigned max_retries = 3;
  // Seconds a chunk may run before its worker is killed and the chunk retried; 0: no limit.
  double chunk_timeout = 0;
  // Seconds a worker holding a chunk may make no progress (use no CPU time) before it is killed
  // and the chunk retried; a stopped worker (SIGSTOP) counts as stalled after min(1 s, this).
  // 0: never. Unlike chunk_timeout this never stops a chunk that computes, however long it runs.
  double stall_timeout = 60;
};

// A chunk that failed max_retries + 1 times: which chunk, how often, and how its last worker ended.
class chunk_failed : public std::runtime_error {
 public:
  struct details {
    std::size_t chunk = 0;
    unsigned attempts = 0;
    pid_t pid = 0;        // the last worker that held it
    int signal = 0;       // the signal that ended it, or 0
    int exit_code = -1;   // its exit status when it exited instead, or -1
    bool timed_out = false;  // killed for running past chunk_timeout
    bool stalled = false;    // killed for making no progress (procs_options::stall_timeout)
    bool status_known = true;  // false: the program reaps or ignores SIGCHLD and took the status
  };
  explicit chunk_failed(const details& d);
  const details& info() const noexcept { return details_; }

 private:
  details details_;
};

struct process_pool_stats {
  std::uint64_t jobs = 0;
  std::uint64_t workers_replaced = 0;  // forks after the first ones
  std::uint64_t chunks_retried = 0;
};

class process_pool final : public executor {
 public:
  // Forks the workers and returns once every one of them is waiting for work. A worker that dies
  // before it is ready is forked again; throws resource_error when the system refuses a process
  // or a worker keeps dying before it is ready.
  explicit process_pool(const procs_options& options);
  // Stops the workers (a request, then SIGTERM, then SIGKILL after a short grace) and reaps them.
  ~process_pool() override;
  process_pool(const process_pool&) = delete;
  process_pool& operator=(const process_pool&) = delete;

  std::string_view name() const noexcept override { return "procs"; }
  unsigned workers() const noexcept override { return options_.workers; }
  // Throws chunk_failed (a chunk kept crashing), std::runtime_error (a chunk threw; its message),
  // interrupted (SIGINT/SIGTERM; the workers are then stopped and restarted by the next run).
  void run(const chunk_job& job, chunk_span span, void* partials) override;
  using executor::run;

  const procs_options& options() const noexcept { return options_; }
  // The current workers' process ids. Like stats(), waits while another thread is in run().
  std::vector<pid_t> worker_pids() const;
  process_pool_stats stats() const;

  // Inside a chunk running in a worker: which attempt this is, from 1. Outside a worker: 0.
  static unsigned current_attempt() noexcept;

  struct control;  // the shared-memory block the parent and workers talk through

 private:
  // Why the parent killed a worker, for the report of its chunk.
  enum class kill_reason : unsigned char { none, timeout, stalled, start };
  // The parent's view of one worker slot (the shared control block has the worker's).
  struct slot_watch {
    std::uint64_t spawned_ns = 0;   // when it was forked
    bool ready_seen = false;        // the parent has seen it ready
    kill_reason killed = kill_reason::none;
    std::uint64_t held = 0;         // the chunk the stall check last saw it hold
    std::uint64_t cpu_ticks = 0;    // its CPU time then
    std::uint64_t progress_ns = 0;  // when its CPU time last moved; 0: not watched
    std::uint64_t stopped_ns = 0;   // since when it is seen stopped; 0: it is not
  };

  void run_job(const chunk_job& job, chunk_span span, void* partials);
  void spawn(unsigned slot, std::uint64_t assignment);
  void start_all();
  void wait_until_ready();
  void stop_all() noexcept;
  // Reaps dead workers, replaces them and re-queues their chunks. Returns false when the job failed.
  bool reap_and_replace(std::uint32_t gen, std::size_t chunks);
  void note_start_failure(unsigned slot, const worker_end& end);
  void note_ready_workers();
  void kill_stuck(std::uint32_t gen);
  void check_stalls(std::uint32_t gen);
  void wait_until_idle(std::uint32_t gen);
  bool all_done_by_state(std::uint32_t gen, std::size_t chunks) const;
  void ensure_job_memory(std::size_t bytes);
  [[noreturn]] void stop_and_throw_interrupted(int sig);

  procs_options options_;
  control* ctl_ = nullptr;
  std::size_t ctl_bytes_ = 0;
  std::unique_ptr<worker_table> procs_;  // the worker processes
  std::vector<slot_watch> watch_;
  std::vector<unsigned> exited_;  // scratch
  unsigned start_failures_ = 0;   // workers that died before they were ready, since one last got ready
  std::uint64_t last_look_ns_ = 0, done_seen_ = 0, done_moved_ns_ = 0;  // the stall check's clock
  shared_buffer job_memory_;
  std::unordered_map<std::size_t, unsigned> failures_;  // crashes per chunk of the current job
  std::unique_ptr<chunk_failed::details> failure_;
  process_pool_stats stats_;
  bool running_ = false;  // workers exist
  std::uint64_t forked_at_ = 0;  // mapping_registry::now() when start_all forked the workers
  mutable std::mutex mutex_;
};

std::unique_ptr<executor> make_process_pool(const procs_options& options);

}  // namespace tandem
