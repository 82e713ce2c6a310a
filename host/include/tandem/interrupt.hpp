// Ctrl-C and SIGTERM: the CLI asks for a clean stop instead of dying where it stands.
//
// The handlers record the signal. A process pool waiting on its workers sees it at once, stops
// and reaps them and throws `interrupted`; the CLI exits with 128 + the signal (130 for SIGINT,
// 143 for SIGTERM). At any other moment (no pool, or pools whose owner is doing something else:
// a fold, the time between two backends) the handler ends every pool's workers itself, reaps
// them and exits with that status at once. A second signal always exits at once.
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

// Installs SIGINT and SIGTERM handlers (idempotent). A program that installs them accepts that
// a signal ends the process (after the workers are reaped), except while a pool waits on its
// workers, where it becomes an `interrupted` exception.
void install_interrupt_handlers();
// The first SIGINT/SIGTERM received since start, or 0.
int interrupt_signal() noexcept;
// Throws `interrupted` when a signal was received.
void throw_if_interrupted();

// Temporary files the process must not leave behind when a signal ends it inside the handler
// (ordered_file_sink registers its temporary file while it exists): the handler unlinks every
// registered path before it exits. A fixed table, so the handler needs no lock and no allocation:
// at most 16 paths at once, each shorter than 4096 bytes; beyond that, register returns -1 and the
// path is not covered. Unregister after the file is renamed or removed.
int register_temporary_file(const char* path) noexcept;
void unregister_temporary_file(int slot) noexcept;

}  // namespace tandem
