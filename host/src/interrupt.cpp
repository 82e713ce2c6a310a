#include "tandem/interrupt.hpp"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "worker_processes.hpp"

namespace tandem {

namespace {
std::atomic<int> received{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");

// The registered temporary files: a slot is free (0), being filled (1) or holds a path (the pid
// that registered it, so a forked child that somehow ran the handler would not remove its
// parent's files).
struct temporary_file {
  std::atomic<long> state{0};
  char path[4096];
};
constexpr int temporary_slots = 16;
temporary_file temporaries[temporary_slots];
static_assert(std::atomic<long>::is_always_lock_free, "signal handlers need lock-free atomics");

void unlink_temporaries() noexcept {
  const long self = static_cast<long>(getpid());
  for (temporary_file& t : temporaries)
    if (t.state.load() == self) unlink(t.path);
}

void on_signal(int sig) {
  const int saved_errno = errno;
  int expected = 0;
  received.compare_exchange_strong(expected, sig);
  // A pool waiting on its workers sees the signal at once (its futex wait returns EINTR, or at
  // its next look), stops them and throws `interrupted`: the clean way out, through the caller's
  // destructors. At any other time (a fold between two jobs, the time between two backends) no
  // code may look for a long while, so the handler ends every pool's workers itself, reaps them
  // and leaves; a second signal always leaves at once. Everything called here is
  // async-signal-safe: kill, waitid, poll, write, _exit.
  if (expected == 0 && worker_registry::any_waiting()) {
    errno = saved_errno;
    return;
  }
  worker_registry::kill_all();
  unlink_temporaries();
  const char* msg = sig == SIGINT ? "tandem: interrupted (SIGINT)\n" : "tandem: terminated (SIGTERM)\n";
  ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
  (void)ignored;
  _exit(128 + sig);
}
}  // namespace

interrupted::interrupted(int sig)
    : std::runtime_error(sig == SIGINT ? "interrupted (SIGINT)" : sig == SIGTERM ? "terminated (SIGTERM)"
                                                                                 : "stopped by signal " + std::to_string(sig)),
      signal_(sig) {}

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocking wait returns EINTR and notices the flag at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// seq_cst, like the handler's store: a pool that stops waiting and then finds no signal here is
// one the handler saw not waiting (worker_processes.hpp).
int interrupt_signal() noexcept { return received.load(); }

void throw_if_interrupted() {
  if (const int sig = interrupt_signal()) throw interrupted(sig);
}

int register_temporary_file(const char* path) noexcept {
  const std::size_t n = strlen(path);
  if (n >= sizeof temporaries[0].path) return -1;
  for (int i = 0; i < temporary_slots; ++i) {
    long expected = 0;
    if (!temporaries[i].state.compare_exchange_strong(expected, 1)) continue;
    memcpy(temporaries[i].path, path, n + 1);
    temporaries[i].state.store(static_cast<long>(getpid()));
    return i;
  }
  return -1;
}

void unregister_temporary_file(int slot) noexcept {
  if (slot >= 0 && slot < temporary_slots) temporaries[slot].state.store(0);
}

}  // namespace tandem
