#include "tandem/peer_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "tandem/interrupt.hpp"

namespace tandem {

namespace {
using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_line = 64 * 1024;   // a protocol line is short; more is a broken peer
constexpr std::size_t kept_stderr = 4096;
constexpr std::size_t quoted_output = 200;    // bytes of a peer's output quoted in a message

std::string errno_text(int e) { return std::strerror(e); }

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    return abbrev ? std::string("killed by SIG") + abbrev : "killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "status " + std::to_string(status);
}

// argv[0] as execv wants it: a path. A bare name is looked up on PATH here, before the fork, so the
// child needs no lookup (execvp may allocate, which the child must not).
std::string resolve_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* env = std::getenv("PATH");
  const std::string path = env && *env ? env : "/usr/local/bin:/usr/bin:/bin";
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = path.find(':', begin);
    std::string dir = path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    if (dir.empty()) dir = ".";
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (end == std::string::npos) return {};
    begin = end + 1;
  }
}

// A line on one line: newlines and other control bytes become spaces.
std::string flatten(std::string s) {
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void close_fd(int& fd) noexcept {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

double seconds_left(clock_type::time_point deadline) {
  return std::chrono::duration<double>(deadline - clock_type::now()).count();
}

// Writes all of `text` to a pipe whose reader may be gone: with SIGPIPE blocked in this thread, so
// a dead peer is an EPIPE error here rather than a signal that ends tandem, and a SIGPIPE raised by
// this write is taken back (one that was pending before is left alone).
bool write_all_nosigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set, old_mask, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);
  bool ok = true;
  bool broke = false;
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n > 0) {
      data += n;
      size -= std::size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      broke = n < 0 && errno == EPIPE;
      ok = false;
      break;
    }
  }
  if (broke && !was_pending) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return ok;
}
}  // namespace

peer_process::~peer_process() { stop(0.2); }

std::string peer_process::with_output(std::string what) const {
  // The end of stderr says most (a Python traceback's last line); else what stdout held.
  std::string quoted;
  if (!err_text_.empty())
    quoted = err_text_.size() > quoted_output ? err_text_.substr(err_text_.size() - quoted_output) : err_text_;
  else
    quoted = out_seen_.substr(0, quoted_output);
  quoted = flatten(quoted);
  if (!quoted.empty()) what += ": " + quoted;
  return what;
}

peer_start peer_process::start(const std::vector<std::string>& argv, double ready_timeout_s) {
  peer_start s;
  if (started_) {
    s.reason = "this peer_process was already started";
    return s;
  }
  started_ = true;
  if (argv.empty() || argv[0].empty()) {
    s.reason = "could not start the peer: no program given";
    return s;
  }
  const std::string program = resolve_program(argv[0]);
  if (program.empty()) {
    s.reason = "could not start " + argv[0] + ": not found on PATH";
    return s;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, exec_err[2] = {-1, -1};
  auto close_all = [&] {
    for (int* p : {in, out, err, exec_err}) {
      close_fd(p[0]);
      close_fd(p[1]);
    }
  };
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0 ||
      ::pipe2(exec_err, O_CLOEXEC) != 0) {
    s.reason = "could not start " + argv[0] + ": cannot make a pipe (" + errno_text(errno) + ")";
    close_all();
    return s;
  }
  // fork and exec rather than posix_spawn, for what posix_spawn cannot set: the peer dies with
  // tandem (PR_SET_PDEATHSIG). Between fork and exec the child makes only async-signal-safe calls.
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Its own process group: a Ctrl-C at the terminal goes to tandem's group alone; tandem's
    // handler exits and the death signal below ends the peer, and stop() ends the whole group.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // tandem ended before the line above
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGQUIT, SIGPIPE, SIGCHLD}) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in[0], STDIN_FILENO) < 0 || ::dup2(out[1], STDOUT_FILENO) < 0 || ::dup2(err[1], STDERR_FILENO) < 0) {
      const int e = errno;
      [[maybe_unused]] const ssize_t w = ::write(exec_err[1], &e, sizeof e);
      ::_exit(127);
    }
    ::execv(program.c_str(), args.data());
    const int e = errno;
    [[maybe_unused]] const ssize_t w = ::write(exec_err[1], &e, sizeof e);
    ::_exit(127);
  }
  const int fork_errno = errno;
  if (pid < 0) {
    close_all();
    s.reason = "could not start " + argv[0] + ": fork failed (" + errno_text(fork_errno) + ")";
    return s;
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first, the group exists before a kill
  pid_ = pid;
  close_fd(in[0]);
  close_fd(out[1]);
  close_fd(err[1]);
  close_fd(exec_err[1]);
  in_ = in[1];
  out_ = out[0];
  err_ = err[0];
  // The exec-error pipe closes at a successful exec (close-on-exec) or carries the child's errno.
  int child_errno = 0;
  ssize_t got;
  while ((got = ::read(exec_err[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  close_fd(exec_err[0]);
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    stop(0);
    s.reason = "could not start " + program + ": " + errno_text(child_errno);
    return s;
  }

  std::string line;
  switch (read_line(ready_timeout_s, line)) {
    case line_result::line:
      break;
    case line_result::eof:
      stop(1.0);
      s.reason = with_output("the peer ended (" + exit_ + ") before it was ready");
      return s;
    case line_result::timeout: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", ready_timeout_s);
      stop(0);
      s.reason = with_output(std::string("the peer was not ready after ") + buf + " s");
      return s;
    }
    case line_result::error:
      stop(0);
      s.reason = with_output("the peer's first line could not be read");
      return s;
  }
  if (line == "ready" || line.rfind("ready ", 0) == 0) {
    s.status = peer_start::state::ready;
    s.detail = line.size() > 6 ? line.substr(6) : "";
    return s;
  }
  if (line.rfind("skip ", 0) == 0) {
    const std::string rest = line.substr(5);
    const std::size_t colon = rest.find(": ");
    stop(1.0);
    s.status = peer_start::state::skipped;
    s.package = colon == std::string::npos ? rest : rest.substr(0, colon);
    s.reason = colon == std::string::npos ? "" : rest.substr(colon + 2);
    return s;
  }
  stop(0);
  s.reason = "the peer's first line is neither 'ready' nor 'skip': '" + flatten(line.substr(0, quoted_output)) + "'";
  if (!err_text_.empty()) s.reason = with_output(s.reason);
  return s;
}

peer_run peer_process::run_once(double timeout_s) {
  peer_run r;
  if (pid_ <= 0) {
    r.error = exit_.empty() ? "the peer is not running" : "the peer is not running (" + exit_ + ")";
    return r;
  }
  static const char command[] = "run\n";
  if (!write_all_nosigpipe(in_, command, sizeof command - 1)) {
    stop(1.0);
    r.error = with_output("the peer stopped reading its requests (" + exit_ + ")");
    return r;
  }
  std::string line;
  switch (read_line(timeout_s, line)) {
    case line_result::line:
      break;
    case line_result::eof:
      stop(1.0);
      r.error = with_output("the peer ended (" + exit_ + ") during a run");
      return r;
    case line_result::timeout: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", timeout_s);
      stop(0);
      r.error = with_output(std::string("the run took longer than ") + buf + " s");
      return r;
    }
    case line_result::error:
      stop(0);
      r.error = with_output("the peer's answer could not be read");
      return r;
  }
  if (line.rfind("time ", 0) == 0) {
    const char* first = line.data() + 5;
    const char* last = line.data() + line.size();
    double t = 0;
    const auto [end, ec] = std::from_chars(first, last, t);
    if (ec == std::errc() && end == last && std::isfinite(t) && t >= 0) {
      r.seconds = t;
      return r;
    }
  }
  stop(0);
  r.error = "the peer answered '" + flatten(line.substr(0, quoted_output)) + "' instead of 'time <seconds>'";
  if (!err_text_.empty()) r.error = with_output(r.error);
  return r;
}

peer_process::line_result peer_process::read_line(double timeout_s, std::string& line) {
  const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(std::max(timeout_s, 0.0)));
  for (;;) {
    const std::size_t nl = out_buf_.find('\n');
    if (nl != std::string::npos) {
      line = out_buf_.substr(0, nl);
      out_buf_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line_result::line;
    }
    if (out_buf_.size() > max_line) return line_result::error;
    if (out_ < 0) return line_result::eof;
    const double left = seconds_left(deadline);
    if (left <= 0) return line_result::timeout;
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    const int ms = static_cast<int>(std::min(std::ceil(left * 1000), 1e9));
    const int n = ::poll(fds, err_ >= 0 ? 2 : 1, ms);
    if (n < 0) {
      if (errno != EINTR) return line_result::error;
      throw_if_interrupted();  // a signal the handler left to its caller
      continue;
    }
    if (err_ >= 0 && fds[1].revents) drain_stderr();
    if (fds[0].revents) {
      char buf[4096];
      const ssize_t got = ::read(out_, buf, sizeof buf);
      if (got > 0) {
        out_buf_.append(buf, std::size_t(got));
        if (out_seen_.size() < quoted_output) out_seen_.append(buf, std::min<std::size_t>(std::size_t(got), quoted_output));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close_fd(out_);
        // What is left is a line without its newline: not a protocol line; the caller sees EOF.
        if (!out_buf_.empty()) out_buf_.clear();
        return line_result::eof;
      }
    }
  }
}

void peer_process::drain_stderr() noexcept {
  if (err_ < 0) return;
  char buf[4096];
  const ssize_t got = ::read(err_, buf, sizeof buf);
  if (got > 0) {
    try {
      err_text_.append(buf, std::size_t(got));
      if (err_text_.size() > kept_stderr) err_text_.erase(0, err_text_.size() - kept_stderr);
    } catch (...) {
    }
  } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
    close_fd(err_);
  }
}

void peer_process::stop(double grace_s) noexcept {
  if (pid_ <= 0) {
    close_fd(in_);
    close_fd(out_);
    close_fd(err_);
    return;
  }
  close_fd(in_);  // EOF on its stdin: a well-behaved peer exits 0
  const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(std::max(grace_s, 0.0)));
  // Wait for the peer to exit, without reaping it yet (WNOWAIT): while the zombie holds its pid,
  // its process group id cannot name another process, so the group kill below is safe.
  for (;;) {
    siginfo_t info{};
    const int w = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    if (w == 0 && info.si_pid == pid_) break;
    if (w < 0 && errno != EINTR) break;  // not our child any more (someone reaped it): nothing to wait on
    const double left = seconds_left(deadline);
    if (left <= 0) break;
    // Keep reading its output meanwhile, so a peer blocked on a full pipe can get to its exit.
    pollfd fds[2] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}};
    const int ms = static_cast<int>(std::max(1.0, std::min(left * 1000, 10.0)));
    if (::poll(fds, 2, ms) > 0) {
      if (out_ >= 0 && fds[0].revents) {
        char buf[4096];
        const ssize_t got = ::read(out_, buf, sizeof buf);
        if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) close_fd(out_);
      }
      if (err_ >= 0 && fds[1].revents) drain_stderr();
    }
  }
  // The whole group: the peer if it is still there, and anything it started (a process pool's
  // workers, a grep) that would outlive it.
  if (::kill(-pid_, SIGKILL) != 0) ::kill(pid_, SIGKILL);
  int status = 0;
  pid_t w;
  while ((w = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  try {
    exit_ = w == pid_ ? describe_status(status) : "reaped elsewhere";
  } catch (...) {
  }
  pid_ = -1;
  // What it wrote last (a traceback), for the caller's message.
  if (err_ >= 0) {
    pollfd fd{err_, POLLIN, 0};
    while (err_ >= 0 && ::poll(&fd, 1, 0) > 0) drain_stderr();
  }
  close_fd(out_);
  close_fd(err_);
}

}  // namespace tandem
