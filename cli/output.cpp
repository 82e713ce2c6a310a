// What the CLI writes: the tables or the JSON document on stdout, and the document in --out.
// See docs/io.md, "The CLI's outputs".
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "cli.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/machine.hpp"
#include "tandem/ranks.hpp"

namespace tandem::cli {

namespace {
// Holds SIGINT and SIGTERM back from this thread while a temporary file exists. The interrupt
// handler ends the process at once when no process pool is alive (interrupt.hpp), which would
// leave the file behind; held, the signal waits until the file is renamed or removed, then takes
// effect as usual. The runs' thread and process pools are gone by the time anything is written,
// so this thread is the one a signal is delivered to.
class held_signals {
 public:
  held_signals() {
    sigemptyset(&held_);
    sigaddset(&held_, SIGINT);
    sigaddset(&held_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &held_, &before_);
  }
  ~held_signals() { pthread_sigmask(SIG_SETMASK, &before_, nullptr); }
  held_signals(const held_signals&) = delete;
  held_signals& operator=(const held_signals&) = delete;

  // A signal that arrived while held (or was recorded before), or 0.
  static int arrived() {
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    if (sigismember(&pending, SIGINT)) return SIGINT;
    if (sigismember(&pending, SIGTERM)) return SIGTERM;
    return interrupt_signal();
  }

 private:
  sigset_t held_{}, before_{};
};

// A test hook (tests/test_cli_output.cpp): with TANDEM_TEST_PAUSE_BEFORE_RENAME=FILE set, the write
// creates FILE once the temporary file is written and waits until FILE is removed, so that a
// test can send a signal at exactly that point.
void pause_for_test() {
  const char* marker = std::getenv("TANDEM_TEST_PAUSE_BEFORE_RENAME");
  if (!marker || !*marker) return;
  if (FILE* f = std::fopen(marker, "w")) std::fclose(f);
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  struct stat st {};
  while (::stat(marker, &st) == 0 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// Why stdout failed, taken while errno still says so: a document larger than stdout's buffer is
// written (and fails) inside `<<`, and later calls may change errno before check_stdout runs.
int stdout_errno = 0;
void note_stdout_error() {
  std::cout.flush();
  if (stdout_errno == 0 && (!std::cout || std::ferror(stdout))) stdout_errno = errno;
}
}  // namespace

out_file::out_file(std::string path) : path_(std::move(path)) {
  // check() may create and remove a temporary file: held, a signal cannot fall in between.
  held_signals held;
  direct_ = ordered_file_sink::check(path_);
}

void out_file::write(const std::string& text) const {
  if (direct_) {
    // /dev/null, /dev/stdout, a FIFO: nothing to clean up, and a FIFO may wait for its reader,
    // which Ctrl-C must still be able to end.
    ordered_file_sink sink(path_);
    sink.write(text);
    sink.commit();
    return;
  }
  held_signals held;
  ordered_file_sink sink(path_);
  sink.write(text);
  pause_for_test();
  // Interrupted: leave PATH as it was. Unwinding removes the temporary file, then the signal is
  // let through and ends the process (128 + signal) as it would have without the hold.
  if (const int sig = held_signals::arrived()) throw interrupted(sig);
  sink.commit();
}

int emit(const common_flags& f, const report& r, const std::optional<out_file>& out) {
  const machine_info m = describe_machine();
  if (f.json || out) {
    const std::string doc = report_json(m, r).dump(2) + "\n";
    if (out) out->write(doc);
    if (f.json) std::cout << doc;
  }
  if (!f.json) {
    if (const ranks::world_info& w = ranks::world(); w.active)
      std::cout << "MPI: " << w.size << (w.size == 1 ? " rank" : " ranks") << " (" << w.implementation
                << ", thread level " << w.thread_level << "); each runs its share of the chunks on the backend below\n";
    for (const run_report& rr : r.runs) {
      print_table(std::cout, rr, r.peers);
      std::cout << "\n";
    }
  }
  note_stdout_error();
  if (!r.agree()) {
    for (const run_report& rr : r.runs)
      if (!rr.agree) std::cerr << "tandem: error: backends disagree: " << rr.disagreement << "\n";
    return exit_failure;
  }
  return exit_ok;
}

int check_stdout(int status) {
  // With a file or a pipe behind it, stdout is buffered: a full disk shows up at the flush, or
  // as the stream's error flag if an earlier buffer-full write already failed.
  errno = 0;
  std::cout.flush();
  const bool flushed = std::fflush(stdout) == 0;
  const int err = stdout_errno != 0 ? stdout_errno : errno;
  if (flushed && !std::ferror(stdout) && std::cout.good()) return status;
  std::cerr << "tandem: error: cannot write standard output: " << std::strerror(err != 0 ? err : EIO) << "\n";
  return status == exit_ok ? exit_failure : status;
}

}  // namespace tandem::cli
