// Peers: the programs users would otherwise run, measured in the same run as Tandem.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>

#include "cli.hpp"
#include "tandem/ranks.hpp"

namespace tandem::cli {

namespace {
// The system interpreter has Debian's numpy/sklearn; the first python3 on PATH may not.
std::string python() {
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"})
    if (std::filesystem::exists(p)) return p;
  return "python3";
}

struct captured {
  std::string out;     // stdout and stderr, interleaved as written
  std::string failed;  // empty when the program ran and exited 0; otherwise why not, in words
};

// Runs argv[0] (looked up on PATH) with these arguments, without a shell: an argument is passed as
// it is, whatever quotes or semicolons a folder name holds.
captured run_capture(const std::vector<std::string>& argv) {
  captured c;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    c.failed = std::string("cannot make a pipe: ") + std::strerror(errno);
    return c;
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // fork and exec rather than posix_spawn, for one thing posix_spawn cannot set: the peer dies
  // with tandem (PR_SET_PDEATHSIG), so a SIGTERM sent to tandem alone leaves no peer running on.
  // Between fork and exec the child makes only async-signal-safe calls.
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // tandem ended before the line above
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int in = ::open("/dev/null", O_RDONLY);
    if (in < 0 || ::dup2(in, STDIN_FILENO) < 0 || ::dup2(fds[1], STDOUT_FILENO) < 0 ||
        ::dup2(fds[1], STDERR_FILENO) < 0)
      ::_exit(127);
    ::execvp(args[0], args.data());
    const char msg[] = "cannot exec the peer's program\n";
    [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  const int spawn_errno = errno;
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    c.failed = "cannot run " + argv[0] + ": " + std::strerror(spawn_errno);
    return c;
  }
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) c.out.append(buf, std::size_t(n));
    else if (n == 0 || errno != EINTR) break;
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) c.failed = std::string("killed by signal ") + std::to_string(WTERMSIG(status));
  else if (WEXITSTATUS(status) == 127 && c.out.find("cannot exec the peer's program") != std::string::npos)
    c.failed = "cannot run " + argv[0];
  else if (WEXITSTATUS(status) != 0) c.failed = "exit status " + std::to_string(WEXITSTATUS(status));
  return c;
}

// At most 200 bytes of a program's output, on one line.
std::string one_line(std::string text) {
  if (text.size() > 200) text.resize(200);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  for (char& ch : text)
    if (ch == '\n' || ch == '\r') ch = ' ';
  return text;
}
}  // namespace

// A peer that cannot run is skipped with a note on stderr: peers are for comparison, never a
// reason to fail the bench.
std::vector<peer_record> run_python_peer(const std::string& peers_dir, const char* workload, const char* script,
                                         const std::vector<std::string>& args, const std::regex& pattern,
                                         const char* peer, std::initializer_list<const char*> variants) {
  const std::filesystem::path path = std::filesystem::path(peers_dir) / script;
  if (!std::filesystem::exists(path)) {
    std::cerr << workload << ": peer skipped: " << path.string() << " not found\n";
    return {};
  }
  std::vector<std::string> argv{python(), path.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  const captured run = run_capture(argv);
  std::smatch m;
  if (!run.failed.empty() || !std::regex_search(run.out, m, pattern)) {
    std::cerr << workload << ": peer skipped: " << script << " failed ("
              << (run.failed.empty() ? "no timing in its output" : run.failed) << "): " << one_line(run.out) << "\n";
    return {};
  }
  std::string detail = run.out;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  std::vector<peer_record> records;
  std::size_t group = 1;
  for (const char* variant : variants) {
    const std::string text = m[group++];
    double seconds = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size()) {
      std::cerr << workload << ": peer skipped: " << script << " printed an unreadable time '" << text << "'\n";
      return {};
    }
    records.push_back({workload, peer, variant, seconds, detail});
  }
  return records;
}

void add_bench_command(CLI::App& app) {
  struct state {
    common_flags flags;
    std::string peers;
    bool quick = false;
  };
  auto s = std::make_shared<state>();
  auto* cmd = app.add_subcommand("bench", "Run every workload on every backend (and peers, if given) side by side");
  add_common_flags(*cmd, s->flags, "seq,threads,procs,gpu");
  cmd->add_option("--peers", s->peers, "Folder of peer programs (e.g. ../shared/peers) to measure in the same run")
      ->check(non_empty());
  cmd->add_flag("--quick", s->quick, "Smaller problem sizes, for a smoke test");
  cmd->callback([s] {
    ranks::start();
    std::optional<out_file> out;
    ranks::agreed([&] {
      if (ranks::is_root()) out = out_destination(s->flags);  // before the runs: exit 2 if unwritable
    });
    report r;
    session sess;  // one GPU context for every workload
    // Under MPI each workload runs across the ranks; the peers run on rank 0 alone, which prints.
    std::ostringstream quiet;
    for (const workload_command* w : workload_commands()) {
      bench_entry e;
      ranks::agreed([&] { e = w->bench(s->quick); });
      r.runs.push_back(run_workload(*e.work, to_run_options(s->flags), ranks::is_root() ? std::cerr : quiet, sess));
      if (!s->peers.empty() && ranks::is_root()) {
        auto p = e.peers(s->peers);
        r.peers.insert(r.peers.end(), p.begin(), p.end());
      }
    }
    if (!ranks::is_root()) return;
    const int status = emit(s->flags, r, out);
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace tandem::cli
