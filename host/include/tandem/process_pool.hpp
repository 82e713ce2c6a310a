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
// usable. Results are bitwise those of seq: a chunk's partial depends only on the chunk.
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

struct procs_options {
  unsigned workers = 1;
  // Extra attempts a chunk gets after its worker dies or times out; 0: none.
  unsigned max_retries = 3;
  // Seconds a chunk may run before its worker is killed and the chunk retried; 0: no limit.
  double chunk_timeout = 0;
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
    bool timed_out = false;
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
  // Forks the workers and returns once every one of them is waiting for work.
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
  void run_job(const chunk_job& job, chunk_span span, void* partials);
  void spawn(unsigned slot, std::uint64_t assignment);
  void start_all();
  void stop_all() noexcept;
  // Reaps dead workers, replaces them and re-queues their chunks. Returns false when the job failed.
  bool reap_and_replace(std::uint32_t gen, std::size_t chunks);
  void kill_stuck(std::uint32_t gen);
  void wait_until_idle(std::uint32_t gen);
  bool all_done_by_state(std::uint32_t gen, std::size_t chunks) const;
  void ensure_job_memory(std::size_t bytes);

  procs_options options_;
  control* ctl_ = nullptr;
  std::size_t ctl_bytes_ = 0;
  std::vector<pid_t> pids_;
  std::vector<char> timed_out_;
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
