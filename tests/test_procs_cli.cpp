// `tandem tasks --backend procs` under SIGINT, SIGTERM and SIGKILL: the exit status, the time to
// exit, and that no process of its process group and no shared-memory name outlives it.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifndef TANDEM_CLI_PATH
#error "TANDEM_CLI_PATH must name the tandem binary"
#endif

namespace {

using clock_type = std::chrono::steady_clock;

std::set<std::string> dev_shm() {
  std::set<std::string> names;
  if (DIR* d = opendir("/dev/shm")) {
    while (const dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

// Live (not zombie) processes whose process group is `pgid`, from /proc.
int live_in_group(pid_t pgid) {
  int n = 0;
  DIR* d = opendir("/proc");
  if (!d) return -1;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f("/proc/" + name + "/stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    // pid (comm) state ppid pgrp ...; comm may hold spaces, so parse after the last ')'.
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') ++n;
  }
  closedir(d);
  return n;
}

// Starts a long procs run in its own process group and waits until its workers are up.
pid_t start_tandem() {
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    const char* argv[] = {TANDEM_CLI_PATH, "tasks",   "--backend", "procs", "--workers", "2",
                          "--count",       "100",     "--n",       "4000000000", "--repeat", "50",
                          nullptr};
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    execv(argv[0], const_cast<char**>(argv));
    _exit(127);
  }
  setpgid(pid, pid);  // both sides, so that it holds whichever runs first
  for (int i = 0; i < 500 && live_in_group(pid) < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return pid;
}

struct outcome {
  int status = 0;
  double seconds = 0;
};

outcome signal_and_wait(pid_t pid, pid_t target, int sig) {
  const auto t0 = clock_type::now();
  kill(target, sig);
  outcome o;
  waitpid(pid, &o.status, 0);
  o.seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
  return o;
}

class procs_cli_signals : public ::testing::TestWithParam<int> {};

TEST_P(procs_cli_signals, exits_with_128_plus_signal_and_leaves_nothing_behind) {
  const int sig = GetParam();
  const std::set<std::string> shm_before = dev_shm();
  const pid_t pid = start_tandem();
  ASSERT_GE(live_in_group(pid), 3) << "tandem and its 2 workers should be running";
  // Ctrl-C reaches the whole foreground group; `kill` sends SIGTERM to the process alone.
  const outcome o = signal_and_wait(pid, sig == SIGINT ? -pid : pid, sig);
  ASSERT_TRUE(WIFEXITED(o.status)) << "ended by signal " << (WIFSIGNALED(o.status) ? WTERMSIG(o.status) : 0);
  EXPECT_EQ(WEXITSTATUS(o.status), 128 + sig);
  EXPECT_LT(o.seconds, 3.0);
  // The CLI reaps its workers before it exits: nothing of the group may be alive now.
  EXPECT_EQ(live_in_group(pid), 0);
  EXPECT_EQ(kill(-pid, 0), -1) << "a process of the group survived";
  EXPECT_EQ(dev_shm(), shm_before);
}

INSTANTIATE_TEST_SUITE_P(signals, procs_cli_signals, ::testing::Values(SIGINT, SIGTERM));

TEST(procs_cli, workers_die_with_a_killed_parent) {
  // Orphaned workers are re-parented to us, so we can reap them and see that they are gone.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  const pid_t pid = start_tandem();
  ASSERT_GE(live_in_group(pid), 3);
  const outcome o = signal_and_wait(pid, pid, SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(o.status));
  int alive = -1;
  for (int i = 0; i < 200; ++i) {
    while (waitpid(-pid, nullptr, WNOHANG) > 0) {
    }
    if ((alive = live_in_group(pid)) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(alive, 0);
  while (waitpid(-pid, nullptr, WNOHANG) > 0) {
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(procs_cli, bad_max_retries_is_a_usage_error) {
  const std::string cmd = std::string(TANDEM_CLI_PATH) + " tasks --backend procs --max-retries -1 2>/dev/null";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

// ---------------------------------------------------------------------------------------------
// A signal at a chosen moment (TANDEM_FAULT, host/src/fault_injection.hpp: the runner raises it
// itself), while a procs pool exists but the parent is not waiting on it: after a run (the
// workload's fold), between two backends. And threads or processes the system refuses.

struct cli_run {
  int status = -1;  // exit status, or 128 + signal
  std::string err;
  bool group_empty = false;  // no process of its group alive once it has exited
};

// Runs tandem in its own process group with TANDEM_FAULT=fault, stdout to /dev/null.
cli_run run_with_fault(const char* fault, std::vector<const char*> args) {
  char err_path[] = "/tmp/tandem_procs_cli_XXXXXX";
  const int err_fd = mkstemp(err_path);
  args.insert(args.begin(), TANDEM_CLI_PATH);
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    setenv("TANDEM_FAULT", fault, 1);
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    dup2(err_fd, STDERR_FILENO);
    execv(args[0], const_cast<char**>(args.data()));
    _exit(127);
  }
  setpgid(pid, pid);
  cli_run r;
  int status = 0;
  waitpid(pid, &status, 0);
  r.group_empty = live_in_group(pid) == 0;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(err_path);
  std::stringstream text;
  text << in.rdbuf();
  r.err = text.str();
  close(err_fd);
  unlink(err_path);
  return r;
}

std::set<std::string> files_in(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) names.insert(e->d_name);
    closedir(d);
  }
  return names;
}

TEST(procs_cli_signals_between_jobs, signal_after_a_run_ends_the_process_and_writes_no_output) {
  char dir[] = "/tmp/tandem_out_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string out = std::string(dir) + "/result.json";
  const std::set<std::string> shm_before = dev_shm();
  // montecarlo folds its partials in the parent after the pool's last job: the signal lands then.
  for (const char* fault : {"run_done@1:SIGINT", "run_done@3:SIGTERM"}) {
    const cli_run r = run_with_fault(fault, {"montecarlo", "--backend", "procs", "--workers", "2", "--repeat", "3",
                                             "--out", out.c_str()});
    const int sig = std::string(fault).find("SIGINT") != std::string::npos ? SIGINT : SIGTERM;
    EXPECT_EQ(r.status, 128 + sig) << fault << ": " << r.err;
    EXPECT_TRUE(r.group_empty) << fault << ": a worker outlived tandem";
    EXPECT_EQ(files_in(dir), (std::set<std::string>{".", ".."})) << fault << ": --out must not be written";
  }
  EXPECT_EQ(dev_shm(), shm_before);
  rmdir(dir);
}

TEST(procs_cli_signals_between_jobs, signal_between_backends_runs_no_further_backend) {
  const cli_run r = run_with_fault("backend_done@1:SIGTERM",
                                   {"tasks", "--backend", "procs,seq", "--workers", "2", "--repeat", "1", "--json"});
  EXPECT_EQ(r.status, 128 + SIGTERM) << r.err;
  EXPECT_TRUE(r.group_empty);
  EXPECT_NE(r.err.find("terminated (SIGTERM)"), std::string::npos) << r.err;
}

// The signal arrives just after a worker is forked, before the pool has it in its table: the
// handler must still find it (signals stay blocked until it is there). The worker stops itself
// first, so that nothing but the handler could end it.
TEST(procs_cli_signals_between_jobs, signal_as_a_worker_is_forked_leaves_no_worker_behind) {
  for (const char* fault : {"worker_start@1:SIGSTOP,worker_forked@1:SIGTERM",
                            "worker_start@2:SIGSTOP,worker_forked@2:SIGINT"}) {
    const cli_run r = run_with_fault(fault, {"tasks", "--backend", "procs", "--workers", "2", "--repeat", "1"});
    const int sig = std::string(fault).find("SIGINT") != std::string::npos ? SIGINT : SIGTERM;
    EXPECT_EQ(r.status, 128 + sig) << fault << ": " << r.err;
    EXPECT_TRUE(r.group_empty) << fault << ": a worker outlived tandem";
  }
}

TEST(procs_cli_resources, thread_the_system_refuses_is_one_line_and_exit_1) {
  const cli_run r = run_with_fault("thread_create@3:fail", {"tasks", "--backend", "threads", "--workers", "8"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(r.err, "tandem: error: threads: could not start thread 3 of 7 (Resource temporarily unavailable); use "
                   "fewer --workers or raise the limit (ulimit -u, ulimit -v)\n");
}

TEST(procs_cli_resources, process_the_system_refuses_is_one_line_and_exit_1) {
  const cli_run r = run_with_fault("worker_start@2:fail", {"tasks", "--backend", "procs", "--workers", "4"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("tandem: error: procs: could not start worker process 2 of 4 (fork: Resource temporarily "
                       "unavailable)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_TRUE(r.group_empty);
}

}  // namespace
