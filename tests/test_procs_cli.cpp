// `tandem tasks --backend procs` under SIGINT, SIGTERM and SIGKILL: the exit status, the time to
// exit, and that no process of its process group and no shared-memory name outlives it.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

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

}  // namespace
