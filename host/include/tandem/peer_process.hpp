// A peer of `tandem bench`: another program (NumPy, XGBoost, grep, a published example) kept
// running beside Tandem and asked for one timed run at a time, so rounds of the bench interleave
// it with Tandem's backends. The line protocol (docs/peers.md):
//
//   the peer sets up (untimed) and prints one line:  ready <detail>   or   skip <package>: <reason>
//   then for each line `run` on its stdin it does the work once and prints:  time <seconds>
//   (timed inside the peer, around the work only); on EOF it exits 0.
//
// The peer runs without a shell, in its own process group (a Ctrl-C typed at the terminal reaches
// tandem alone, which decides), stdin and stdout are pipes, stderr is kept for messages. It dies
// with tandem (PR_SET_PDEATHSIG, so also when tandem's signal handler exits or tandem is killed),
// and stop() ends its whole process group. Every wait is a poll() with a deadline: a peer that
// hangs is a "failed" result after its timeout, never a hung bench.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace tandem {

struct peer_start {
  enum class state { ready, skipped, failed };
  state status = state::failed;
  std::string detail;   // ready: what the peer said after `ready` (versions, set-up)
  std::string package;  // skipped: what would provide the peer (a Debian package, "pip: NAME", a build option)
  std::string reason;   // skipped: why it cannot run; failed: what went wrong, in words (with at
                        // most 200 bytes of the peer's own output)
  bool ready() const noexcept { return status == state::ready; }
};

struct peer_run {
  std::optional<double> seconds;  // the peer's time for one run; absent when the run failed
  std::string error;              // why it failed, in words (the peer is stopped then)
};

class peer_process {
 public:
  peer_process() = default;
  ~peer_process();
  peer_process(const peer_process&) = delete;
  peer_process& operator=(const peer_process&) = delete;

  // Starts argv (argv[0] a path, or a name looked up on PATH) and waits up to ready_timeout_s for
  // its first line. After `skip` or a failure the peer is stopped and reaped. One start per object.
  peer_start start(const std::vector<std::string>& argv, double ready_timeout_s);
  // Asks for one run and waits up to timeout_s for its `time` line. Any failure (the peer died, an
  // unreadable line, the timeout) stops the peer; later calls fail at once.
  peer_run run_once(double timeout_s);
  // Closes the peer's stdin, waits up to grace_s for it to exit, then SIGKILLs its process group;
  // the peer is reaped either way. Idempotent.
  void stop(double grace_s = 1.0) noexcept;

  bool running() const noexcept { return pid_ > 0; }
  pid_t pid() const noexcept { return pid_; }
  // How the peer ended, in words ("exit status 0", "killed by SIGKILL"); empty while it runs.
  const std::string& exit_description() const noexcept { return exit_; }
  // The last 4 KiB the peer wrote on stderr (read while waiting on stdout).
  const std::string& messages() const noexcept { return err_text_; }

 private:
  enum class line_result { line, eof, timeout, error };
  line_result read_line(double timeout_s, std::string& line);
  void drain_stderr() noexcept;
  void reap(bool block) noexcept;
  std::string with_output(std::string what) const;

  pid_t pid_ = -1;
  bool started_ = false;
  int in_ = -1, out_ = -1, err_ = -1;
  std::string out_buf_;   // stdout read but not yet split into lines
  std::string out_seen_;  // the first bytes of stdout, for messages about a bad peer
  std::string err_text_;
  std::string exit_;
};

}  // namespace tandem
