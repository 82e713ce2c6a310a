// The procs workers as processes, from the parent's side: fork, "has it exited?", its exit status,
// signals, and the registry the SIGINT/SIGTERM handler reads. Internal to host/src.
//
// Nothing here depends on the program's SIGCHLD disposition. A program that ignores SIGCHLD (the
// kernel then reaps its children) or reaps in a SIGCHLD handler with waitpid(-1) takes a dead
// worker's status away: waitpid(worker) then says ECHILD, never "exited", and the worker's pid
// may soon name an unrelated process. So each worker is watched through a pidfd (Linux >= 5.3):
// it becomes readable once the worker has exited, whoever reaps it, and a signal sent through it
// reaches that process or none. Without pidfds a pipe stands in: the worker holds the only write
// end, so the parent reads EOF once the worker is gone, and signals go by pid only while the pipe
// is open (the worker not yet exited, so its pid cannot have been reused).
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "tandem/function_ref.hpp"

namespace tandem {

// How a worker ended, as far as the parent can know.
struct worker_end {
  int signal = 0;      // the signal that ended it, or 0
  int exit_code = -1;  // its exit status when it exited, or -1
  bool known = true;   // false: someone else collected the status (the program reaps or ignores SIGCHLD)
};

class worker_table {
 public:
  // `slots` workers at most. Registers itself for the signal handler (worker_registry, below).
  explicit worker_table(unsigned slots);
  // Unregisters; the workers must have been reaped (process_pool::stop_all).
  ~worker_table();
  worker_table(const worker_table&) = delete;
  worker_table& operator=(const worker_table&) = delete;

  unsigned size() const noexcept { return slots_; }
  bool uses_pidfd() const noexcept { return pidfd_; }

  // Forks the worker of an empty `slot`; the child runs child_main, which never returns. SIGINT
  // and SIGTERM are blocked across the fork (child_main sets its own dispositions and mask), and
  // stdio buffers are flushed first so that a worker never writes out the parent's buffered
  // output. Throws resource_error when the system refuses the process or its descriptors.
  void spawn(unsigned slot, function_ref<void()> child_main);

  // The worker's pid; 0 for an empty slot.
  pid_t pid(unsigned slot) const noexcept { return entries_[slot].pid.load(std::memory_order_relaxed); }
  // Appends the slots whose worker has exited (not yet reaped) to `out`, waiting up to timeout_ms
  // for the first one (0: a look).
  void exited(std::vector<unsigned>& out, int timeout_ms);
  // The exit status of the exited worker of `slot`; empties the slot.
  worker_end reap(unsigned slot);
  // Sends `sig` to the worker of `slot` if it is still that process. False when it is not.
  bool signal(unsigned slot, int sig) noexcept;

  // Set while the pool's owner waits on its workers and watches interrupt_signal(): on SIGINT or
  // SIGTERM it stops them itself and throws `interrupted`, so the handler leaves them to it.
  void set_waiting(bool on) noexcept { waiting_.store(on ? 1 : 0); }

  struct entry {
    std::atomic<int> pid{0};
    std::atomic<int> pidfd{-1};
    std::atomic<int> alive{-1};  // the pipe's read end, without pidfds
    std::atomic<int> gone{0};    // ended and reaped by someone else before it could be watched
  };

 private:
  friend struct worker_registry;
  void close_entry(entry& e) noexcept;

  unsigned slots_;
  std::unique_ptr<entry[]> entries_;
  std::atomic<int> waiting_{0};
  bool pidfd_;
  std::vector<pollfd> fds_;       // scratch for exited()
  std::vector<unsigned> fd_slots_;
};

// A process's scheduler state and CPU time, from /proc/<pid>/stat: what the stall check reads.
struct process_sample {
  bool ok = false;
  char state = '?';             // R, S, D, T (stopped), t (stopped by a debugger), Z, ...
  std::uint64_t cpu_ticks = 0;  // user + system time, in clock ticks
};
process_sample sample_process(pid_t pid) noexcept;

// Every live worker_table, in a fixed list of pointers a signal handler can walk. The functions
// are async-signal-safe.
struct worker_registry {
  // Whether a pool is waiting on its workers (or a pool could not be listed: then nothing can be
  // known, and the signal is left to the pools' owners).
  static bool any_waiting() noexcept;
  // SIGKILLs every listed worker and waits until each one is gone.
  static void kill_all() noexcept;
};

}  // namespace tandem
