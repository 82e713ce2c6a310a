#include "worker_processes.hpp"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fault_injection.hpp"
#include "tandem/errors.hpp"

namespace tandem {

namespace {

// waitid's P_PIDFD (Linux 5.4), as a number for C libraries whose idtype_t predates it.
constexpr idtype_t p_pidfd = static_cast<idtype_t>(3);

int open_pidfd(pid_t pid) noexcept {
#ifdef SYS_pidfd_open
  return int(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

int send_through_pidfd(int fd, int sig) noexcept {
#ifdef SYS_pidfd_send_signal
  return int(syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0));
#else
  (void)fd, (void)sig;
  errno = ENOSYS;
  return -1;
#endif
}

// pidfd_open came in Linux 5.3 and waitid(P_PIDFD) in 5.4; both are needed.
bool kernel_has_pidfds() noexcept {
  static const bool yes = [] {
    const int fd = open_pidfd(getpid());
    if (fd < 0) return false;
    siginfo_t si{};
    // We are not our own child: ECHILD where P_PIDFD is known, EINVAL where it is not.
    const bool waitid_knows_pidfds = waitid(p_pidfd, fd, &si, WEXITED | WNOHANG) == 0 || errno != EINVAL;
    close(fd);
    return waitid_knows_pidfds;
  }();
  return yes;
}

worker_end from_siginfo(const siginfo_t& si) {
  worker_end e;
  if (si.si_code == CLD_EXITED) e.exit_code = si.si_status;
  else if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) e.signal = si.si_status;
  return e;
}

worker_end from_status(int status) {
  worker_end e;
  if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

// Each pool needs a descriptor per worker. Raise the soft limit towards the hard one when the
// pool would come near it (as Go's runtime does at start-up); beyond the hard limit, spawn()
// reports the shortage.
void make_room_for_descriptors(unsigned workers) noexcept {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return;
  const rlim_t wanted = rlim_t(workers) * 2 + 256;
  if (r.rlim_cur >= wanted) return;
  r.rlim_cur = r.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, r.rlim_max);
  setrlimit(RLIMIT_NOFILE, &r);
}

// The registry: a fixed list, so that a signal handler can walk it without locks or allocation.
constexpr int registry_size = 64;
std::atomic<worker_table*> registry[registry_size];
std::atomic<int> unlisted{0};  // tables that found the list full
static_assert(std::atomic<worker_table*>::is_always_lock_free && std::atomic<int>::is_always_lock_free,
              "a signal handler reads these");

std::string which(unsigned slot, unsigned slots) {
  return "worker process " + std::to_string(slot + 1) + " of " + std::to_string(slots);
}

}  // namespace

worker_table::worker_table(unsigned slots)
    : slots_(slots), entries_(new entry[slots]), pidfd_(kernel_has_pidfds() && !fault::at("pidfd_open").fail) {
  fds_.reserve(slots);  // exited() allocates nothing: the pool's stop_all calls it and is noexcept
  fd_slots_.reserve(slots);
  make_room_for_descriptors(slots);
  for (auto& r : registry) {
    worker_table* empty = nullptr;
    if (r.compare_exchange_strong(empty, this)) return;
  }
  unlisted.fetch_add(1);
}

worker_table::~worker_table() {
  bool listed = false;
  for (auto& r : registry) {
    worker_table* self = this;
    if ((listed = r.compare_exchange_strong(self, nullptr))) break;
  }
  if (!listed) unlisted.fetch_sub(1);
  for (unsigned s = 0; s < slots_; ++s) close_entry(entries_[s]);
}

void worker_table::close_entry(entry& e) noexcept {
  // The handler reads pidfd/alive before pid: take the descriptors out of the table first.
  const int fd = e.pidfd.exchange(-1);
  const int alive = e.alive.exchange(-1);
  e.pid.store(0);
  e.gone.store(0);
  if (fd >= 0) close(fd);
  if (alive >= 0) close(alive);
}

void worker_table::spawn(unsigned slot, function_ref<void()> child_main) {
  entry& e = entries_[slot];
  int pipe_fds[2] = {-1, -1};
  if (!pidfd_ && pipe2(pipe_fds, O_CLOEXEC) != 0)
    throw resource_error("procs: could not start " + which(slot, slots_) + " (pipe: " + strerror(errno) +
                         "); raise the limit on open files (ulimit -n)");
  const fault::action injected = fault::at("worker_start");
  sigset_t block, previous;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &previous);
  // Output the parent has buffered but not written would otherwise sit in every worker's copy of
  // the buffer, to be written again by a worker that calls exit() (procs_worker.cpp stops that too).
  std::fflush(nullptr);
  pid_t pid = -1;
  if (injected.fail) errno = EAGAIN;
  else pid = fork();
  if (pid == 0) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);  // the write end stays open for the worker's life
    if (injected.signal) raise(injected.signal);
    child_main();
    _exit(127);
  }
  const int fork_errno = errno;
  if (pid > 0) fault::hit("worker_forked");  // a signal raised here stays pending until the end
  if (pipe_fds[1] >= 0) close(pipe_fds[1]);
  // Signals stay blocked until the worker is in the table: a handler that ran between the fork
  // and this point would not know the new worker, and would leave it behind.
  struct unblock {
    sigset_t mask;
    ~unblock() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{previous};
  if (pid < 0) {
    if (pipe_fds[0] >= 0) close(pipe_fds[0]);
    throw resource_error("procs: could not start " + which(slot, slots_) + " (fork: " + strerror(fork_errno) +
                         "); use fewer --workers or raise the limit (ulimit -u, ulimit -v)");
  }
  if (!pidfd_) {
    e.alive.store(pipe_fds[0]);
    e.pid.store(pid);
    return;
  }
  const int fd = open_pidfd(pid);
  if (fd < 0) {
    if (errno == ESRCH) {  // it has ended already, and someone else reaped it
      e.gone.store(1);
      e.pid.store(pid);
      return;
    }
    const int err = errno;
    // Unwatched, it must not run. Still our child (alive, or a zombie: not reaped) while waitid
    // finds it, so its pid cannot name anyone else yet.
    siginfo_t si{};
    if (waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0) kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    throw resource_error("procs: could not watch " + which(slot, slots_) + " (pidfd_open: " + strerror(err) + ")" +
                         (err == EMFILE || err == ENFILE ? "; raise the limit on open files (ulimit -n)" : ""));
  }
  // The pid may already name another process (ours ended, was reaped by someone else, and the pid
  // was reused): then the pidfd is not our child's.
  siginfo_t si{};
  if (waitid(p_pidfd, fd, &si, WEXITED | WNOHANG | WNOWAIT) != 0 && errno == ECHILD) {
    close(fd);
    e.gone.store(1);
    e.pid.store(pid);
    return;
  }
  e.pidfd.store(fd);
  e.pid.store(pid);
}

void worker_table::exited(std::vector<unsigned>& out, int timeout_ms) {
  fds_.clear();
  fd_slots_.clear();
  bool found = false;
  for (unsigned s = 0; s < slots_; ++s) {
    entry& e = entries_[s];
    if (e.pid.load(std::memory_order_relaxed) <= 0) continue;
    if (e.gone.load(std::memory_order_relaxed)) {
      out.push_back(s);
      found = true;
      continue;
    }
    if (!pidfd_) {
      // The pipe stays open while anything holds its write end: a process the worker started
      // may. A zombie, or ECHILD (reaped by someone else), says the worker itself is gone.
      siginfo_t si{};
      const pid_t pid = e.pid.load(std::memory_order_relaxed);
      const int r = waitid(P_PID, id_t(pid), &si, WEXITED | WNOHANG | WNOWAIT);
      if ((r == 0 && si.si_pid == pid) || (r != 0 && errno == ECHILD)) {
        if (r != 0) e.gone.store(1);
        out.push_back(s);
        found = true;
        continue;
      }
    }
    fds_.push_back({pidfd_ ? e.pidfd.load() : e.alive.load(), POLLIN, 0});
    fd_slots_.push_back(s);
  }
  if (fds_.empty()) return;
  // EINTR: the caller looks again (and at interrupt_signal()) soon enough.
  if (poll(fds_.data(), fds_.size(), found ? 0 : timeout_ms) <= 0) return;
  for (std::size_t i = 0; i < fds_.size(); ++i)
    if (fds_[i].revents) out.push_back(fd_slots_[i]);
}

worker_end worker_table::reap(unsigned slot) {
  entry& e = entries_[slot];
  worker_end end;
  end.known = false;
  const pid_t pid = e.pid.load();
  if (pid > 0 && !e.gone.load()) {
    if (pidfd_) {
      siginfo_t si{};
      int r;
      do r = waitid(p_pidfd, e.pidfd.load(), &si, WEXITED);
      while (r != 0 && errno == EINTR);
      if (r == 0) end = from_siginfo(si);
    } else {
      int status = 0;
      pid_t r;
      do r = waitpid(pid, &status, 0);
      while (r < 0 && errno == EINTR);
      if (r == pid) end = from_status(status);
    }
  }
  close_entry(e);
  return end;
}

bool worker_table::signal(unsigned slot, int sig) noexcept {
  entry& e = entries_[slot];
  if (e.pid.load() <= 0 || e.gone.load()) return false;
  if (pidfd_) return send_through_pidfd(e.pidfd.load(), sig) == 0;
  // Without a pidfd: only while the pipe is open, i.e. the worker has not exited, so its pid
  // cannot have been reaped and reused.
  pollfd p{e.alive.load(), POLLIN, 0};
  if (poll(&p, 1, 0) != 0) return false;
  return kill(e.pid.load(), sig) == 0;
}

process_sample sample_process(pid_t pid) noexcept {
  process_sample p;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return p;
  char buf[1024];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return p;
  buf[n] = 0;
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime:
  // comm may hold spaces and parentheses, so read from the last ')'.
  const char* at = static_cast<const char*>(memrchr(buf, ')', std::size_t(n)));
  if (!at || at + 2 >= buf + n) return p;
  p.state = at[2];
  char* cursor = const_cast<char*>(at + 3);
  for (int field = 0; field < 10; ++field) std::strtoull(cursor, &cursor, 10);  // ppid .. cmajflt
  const unsigned long long user = std::strtoull(cursor, &cursor, 10);
  const unsigned long long system = std::strtoull(cursor, &cursor, 10);
  p.cpu_ticks = user + system;
  p.ok = true;
  return p;
}

bool worker_registry::any_waiting() noexcept {
  if (unlisted.load() != 0) return true;
  for (auto& r : registry)
    if (const worker_table* t = r.load(); t && t->waiting_.load()) return true;
  return false;
}

void worker_registry::kill_all() noexcept {
  for (auto& r : registry) {
    worker_table* t = r.load();
    if (!t) continue;
    for (unsigned s = 0; s < t->slots_; ++s) t->signal(s, SIGKILL);
  }
  for (auto& r : registry) {
    worker_table* t = r.load();
    if (!t) continue;
    for (unsigned s = 0; s < t->slots_; ++s) {
      worker_table::entry& e = t->entries_[s];
      const pid_t pid = e.pid.load();
      if (pid <= 0 || e.gone.load()) continue;
      siginfo_t si{};
      int rc;
      if (t->pidfd_) {
        const int fd = e.pidfd.load();
        if (fd < 0) continue;
        do rc = waitid(p_pidfd, fd, &si, WEXITED);
        while (rc != 0 && errno == EINTR);
      } else {
        do rc = waitpid(pid, nullptr, 0);
        while (rc < 0 && errno == EINTR);
      }
    }
  }
}

}  // namespace tandem
