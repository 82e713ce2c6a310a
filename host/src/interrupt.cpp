#include "tandem/interrupt.hpp"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <string>

namespace tandem {

namespace {
std::atomic<int> received{0};
std::atomic<int> live_pools{0};
static_assert(std::atomic<int>::is_always_lock_free, "signal handlers need lock-free atomics");

void on_signal(int sig) {
  int expected = 0;
  received.compare_exchange_strong(expected, sig);
  // A second signal, or one while no pool has workers to stop: leave now. _exit is
  // async-signal-safe; the message is written with write(2) for the same reason.
  if (expected != 0 || live_pools.load() == 0) {
    const char* msg = sig == SIGINT ? "tandem: interrupted (SIGINT)\n" : "tandem: terminated (SIGTERM)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, strlen(msg));
    (void)ignored;
    _exit(128 + sig);
  }
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

int interrupt_signal() noexcept { return received.load(std::memory_order_relaxed); }

void throw_if_interrupted() {
  if (const int sig = interrupt_signal()) throw interrupted(sig);
}

void note_pool_created() noexcept { live_pools.fetch_add(1); }
void note_pool_destroyed() noexcept { live_pools.fetch_sub(1); }

}  // namespace tandem
