// Ctrl-C and SIGTERM: the CLI asks for a clean stop instead of dying where it stands.
//
// The handlers only record the signal. Code that waits for a long time (the process pool's wait
// for its workers) polls interrupt_signal() and throws `interrupted`; unwinding then stops and
// reaps the workers, and the CLI exits with 128 + the signal (130 for SIGINT, 143 for SIGTERM).
// While no process pool exists there is nothing to clean up, and the handler exits at once.
#pragma once

#include <stdexcept>

namespace tandem {

class interrupted : public std::runtime_error {
 public:
  explicit interrupted(int signal);
  int signal() const noexcept { return signal_; }
  // 128 + signal: the status a shell reports for a process killed by it.
  int exit_status() const noexcept { return 128 + signal_; }

 private:
  int signal_;
};

// Installs SIGINT and SIGTERM handlers (idempotent).
void install_interrupt_handlers();
// The first SIGINT/SIGTERM received since start, or 0.
int interrupt_signal() noexcept;
// Throws `interrupted` when a signal was received.
void throw_if_interrupted();

// Process pools count themselves here; with none alive, a signal ends the process in its handler,
// with the status above (there is no child and no shared-memory name to clean up).
void note_pool_created() noexcept;
void note_pool_destroyed() noexcept;

}  // namespace tandem
