// peer_process against fake peers: small sh scripts that speak the protocol well, badly or not at
// all. Each test checks what the engine is told and that no process is left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tandem/peer_process.hpp"
#include "temp_dir.hpp"

namespace {
using tandem::peer_process;
using tandem::peer_start;
using clock_type = std::chrono::steady_clock;

std::string write_script(const tandem::testing::temp_dir& dir, const std::string& name, const std::string& body) {
  const std::string path = dir / name;
  std::ofstream(path) << "#!/bin/sh\n" << body;
  ::chmod(path.c_str(), 0755);
  return path;
}

// True when `pid` names no process at all: neither running nor a zombie waiting to be reaped.
bool gone(pid_t pid) {
  if (::kill(pid, 0) == 0) return false;
  return errno == ESRCH;
}

// True when `pid` is still our child (running or a zombie): waitpid finds it.
bool still_our_child(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0;
}

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

TEST(peer_process, ready_then_times_then_exits_on_eof) {
  tandem::testing::temp_dir dir;
  // Reads requests; answers each with a growing time; on EOF writes a marker and exits 0.
  const std::string script = write_script(dir, "peer.sh",
                                          "echo 'ready fake 1.0, set up'\n"
                                          "i=0\n"
                                          "while read cmd; do\n"
                                          "  [ \"$cmd\" = run ] || exit 9\n"
                                          "  i=$((i+1)); echo \"time 0.$i\"\n"
                                          "done\n"
                                          "echo done > " + dir / "eof" + "\n");
  peer_process p;
  const peer_start s = p.start({script}, 10);
  ASSERT_TRUE(s.ready()) << s.reason;
  EXPECT_EQ(s.detail, "fake 1.0, set up");
  const pid_t pid = p.pid();
  for (int i = 1; i <= 3; ++i) {
    const tandem::peer_run r = p.run_once(10);
    ASSERT_TRUE(r.seconds) << r.error;
    EXPECT_DOUBLE_EQ(*r.seconds, std::stod("0." + std::to_string(i)));
  }
  p.stop(5);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(p.exit_description(), "exit status 0");  // it saw EOF and left on its own
  EXPECT_TRUE(std::filesystem::exists(dir / "eof"));
  EXPECT_TRUE(gone(pid));
  EXPECT_FALSE(p.run_once(1).seconds);  // after stop: an error, at once
}

TEST(peer_process, program_on_path_and_arguments_passed_as_they_are) {
  tandem::testing::temp_dir dir;
  // An argument with spaces, quotes and a semicolon reaches the peer as one argument (no shell).
  const std::string arg = "a b'\";echo x";
  const std::string script = write_script(dir, "peer.sh", "printf 'ready %s|%s\\n' \"$#\" \"$1\"\n");
  peer_process p;
  const peer_start s = p.start({"sh", script, arg}, 10);
  ASSERT_TRUE(s.ready()) << s.reason;
  EXPECT_EQ(s.detail, "1|" + arg);
}

TEST(peer_process, skip_line_gives_package_and_reason) {
  tandem::testing::temp_dir dir;
  const std::string script =
      write_script(dir, "peer.sh", "echo \"skip python3-xgboost: No module named 'xgboost'\"\nexit 0\n");
  peer_process p;
  const peer_start s = p.start({script}, 10);
  EXPECT_EQ(s.status, peer_start::state::skipped);
  EXPECT_EQ(s.package, "python3-xgboost");
  EXPECT_EQ(s.reason, "No module named 'xgboost'");
  EXPECT_FALSE(p.running());
}

TEST(peer_process, missing_program_is_a_failure_in_words) {
  peer_process p;
  peer_start s = p.start({"/nonexistent/tandem-peer"}, 5);
  EXPECT_EQ(s.status, peer_start::state::failed);
  EXPECT_NE(s.reason.find("could not start /nonexistent/tandem-peer"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("No such file"), std::string::npos) << s.reason;
  peer_process q;
  s = q.start({"tandem-no-such-program-on-path"}, 5);
  EXPECT_EQ(s.status, peer_start::state::failed);
  EXPECT_NE(s.reason.find("not found on PATH"), std::string::npos) << s.reason;
}

TEST(peer_process, crash_before_ready_says_status_and_output) {
  tandem::testing::temp_dir dir;
  const std::string script = write_script(dir, "peer.sh", "echo 'Traceback: ImportError: boom' >&2\nexit 3\n");
  peer_process p;
  const peer_start s = p.start({script}, 10);
  EXPECT_EQ(s.status, peer_start::state::failed);
  EXPECT_NE(s.reason.find("exit status 3"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("before it was ready"), std::string::npos) << s.reason;
  EXPECT_NE(s.reason.find("ImportError: boom"), std::string::npos) << s.reason;
}

TEST(peer_process, killed_before_ready_names_the_signal) {
  tandem::testing::temp_dir dir;
  const std::string script = write_script(dir, "peer.sh", "kill -SEGV $$\n");
  peer_process p;
  const peer_start s = p.start({script}, 10);
  EXPECT_EQ(s.status, peer_start::state::failed);
  EXPECT_NE(s.reason.find("killed by SIGSEGV"), std::string::npos) << s.reason;
}

TEST(peer_process, crash_mid_run_is_an_error_and_leaves_no_zombie) {
  tandem::testing::temp_dir dir;
  // One good run, then dies during the second.
  const std::string script = write_script(dir, "peer.sh",
                                          "echo ready\n"
                                          "read cmd; echo 'time 0.5'\n"
                                          "read cmd; echo 'MemoryError' >&2; exit 7\n");
  peer_process p;
  ASSERT_TRUE(p.start({script}, 10).ready());
  const pid_t pid = p.pid();
  ASSERT_TRUE(p.run_once(10).seconds);
  const tandem::peer_run r = p.run_once(10);
  EXPECT_FALSE(r.seconds);
  EXPECT_NE(r.error.find("exit status 7"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("during a run"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("MemoryError"), std::string::npos) << r.error;
  EXPECT_FALSE(p.running());
  EXPECT_FALSE(still_our_child(pid));  // reaped: no zombie
  EXPECT_TRUE(gone(pid));
  EXPECT_FALSE(std::filesystem::exists("/proc/" + std::to_string(pid)));
  // A later request fails at once, saying how it ended.
  const tandem::peer_run again = p.run_once(10);
  EXPECT_FALSE(again.seconds);
  EXPECT_NE(again.error.find("not running"), std::string::npos);
}

TEST(peer_process, garbage_lines_are_errors) {
  tandem::testing::temp_dir dir;
  {
    const std::string script = write_script(dir, "a.sh", "echo 'Hello, I am numpy'\nsleep 30\n");
    peer_process p;
    const auto t0 = clock_type::now();
    const peer_start s = p.start({script}, 10);
    EXPECT_EQ(s.status, peer_start::state::failed);
    EXPECT_NE(s.reason.find("neither 'ready' nor 'skip'"), std::string::npos) << s.reason;
    EXPECT_NE(s.reason.find("Hello, I am numpy"), std::string::npos) << s.reason;
    EXPECT_LT(seconds_since(t0), 5);  // the sleeping peer was killed, not waited for
    EXPECT_FALSE(p.running());
  }
  for (const char* answer : {"time abc", "time -1", "time 1.5s", "time nan", "duration 1.0", "time "}) {
    const std::string script =
        write_script(dir, "b.sh", std::string("echo ready\nread cmd; echo '") + answer + "'\nsleep 30\n");
    peer_process p;
    ASSERT_TRUE(p.start({script}, 10).ready());
    const pid_t pid = p.pid();
    const tandem::peer_run r = p.run_once(10);
    EXPECT_FALSE(r.seconds) << answer;
    EXPECT_NE(r.error.find("instead of 'time <seconds>'"), std::string::npos) << r.error;
    EXPECT_TRUE(gone(pid)) << answer;
  }
  {
    // A line of 100 KB with no newline: refused, without holding it all.
    const std::string script = write_script(dir, "c.sh", "head -c 100000 /dev/zero | tr '\\0' x\nsleep 30\n");
    peer_process p;
    const peer_start s = p.start({script}, 10);
    EXPECT_EQ(s.status, peer_start::state::failed);
    EXPECT_NE(s.reason.find("could not be read"), std::string::npos) << s.reason;
  }
}

TEST(peer_process, never_ready_times_out_within_a_margin) {
  tandem::testing::temp_dir dir;
  const std::string script = write_script(dir, "peer.sh", "sleep 60\n");
  peer_process p;
  const auto t0 = clock_type::now();
  const peer_start s = p.start({script}, 0.5);
  const double took = seconds_since(t0);
  EXPECT_EQ(s.status, peer_start::state::failed);
  EXPECT_NE(s.reason.find("not ready after 0.5 s"), std::string::npos) << s.reason;
  EXPECT_GE(took, 0.5);
  EXPECT_LT(took, 2.5);
  EXPECT_FALSE(p.running());
}

TEST(peer_process, run_that_never_answers_times_out_and_the_peer_is_killed) {
  tandem::testing::temp_dir dir;
  const std::string script = write_script(dir, "peer.sh", "echo ready\nread cmd\nsleep 60\n");
  peer_process p;
  ASSERT_TRUE(p.start({script}, 10).ready());
  const pid_t pid = p.pid();
  const auto t0 = clock_type::now();
  const tandem::peer_run r = p.run_once(0.3);
  const double took = seconds_since(t0);
  EXPECT_FALSE(r.seconds);
  EXPECT_NE(r.error.find("longer than 0.3 s"), std::string::npos) << r.error;
  EXPECT_GE(took, 0.3);
  EXPECT_LT(took, 2.5);
  EXPECT_TRUE(gone(pid));
}

TEST(peer_process, stop_kills_a_peer_that_ignores_eof_and_its_children) {
  tandem::testing::temp_dir dir;
  // Ignores EOF on stdin (and SIGTERM), and starts a child of its own that would outlive it.
  const std::string pidfile = dir / "child.pid";
  const std::string script = write_script(dir, "peer.sh",
                                          "trap '' TERM\n"
                                          "sleep 60 & echo $! > " + pidfile + "\n"
                                          "echo ready\n"
                                          "while :; do sleep 1; done\n");
  peer_process p;
  ASSERT_TRUE(p.start({script}, 10).ready());
  const pid_t pid = p.pid();
  pid_t child = 0;
  std::ifstream(pidfile) >> child;
  ASSERT_GT(child, 0);
  const auto t0 = clock_type::now();
  p.stop(0.3);
  const double took = seconds_since(t0);
  EXPECT_GE(took, 0.3);
  EXPECT_LT(took, 2.5);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(p.exit_description(), "killed by SIGKILL");
  EXPECT_TRUE(gone(pid));
  // The peer's own child was in its process group: killed too (init reaps it; give it a moment).
  bool child_gone = false;
  for (int i = 0; i < 200 && !child_gone; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string line;
    child_gone = !std::getline(stat, line) || line.find(") Z") != std::string::npos;
    if (!child_gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(child_gone);
}

TEST(peer_process, destructor_stops_the_peer) {
  tandem::testing::temp_dir dir;
  const std::string script = write_script(dir, "peer.sh", "trap '' TERM\necho ready\nwhile :; do sleep 1; done\n");
  pid_t pid = 0;
  {
    peer_process p;
    ASSERT_TRUE(p.start({script}, 10).ready());
    pid = p.pid();
  }
  EXPECT_TRUE(gone(pid));
}

TEST(peer_process, a_peer_that_stops_reading_is_an_error_not_a_sigpipe) {
  tandem::testing::temp_dir dir;
  // Closes its stdin, then keeps running: the request cannot be written (EPIPE).
  const std::string script = write_script(dir, "peer.sh", "exec 0<&-\necho ready\nsleep 60\n");
  peer_process p;
  ASSERT_TRUE(p.start({script}, 10).ready());
  const tandem::peer_run r = p.run_once(5);  // would end this test program by SIGPIPE if unguarded
  EXPECT_FALSE(r.seconds);
  EXPECT_FALSE(p.running());
}

TEST(peer_process, stderr_chatter_does_not_block_the_peer) {
  tandem::testing::temp_dir dir;
  // 1 MB on stderr before ready and during a run: more than a pipe holds.
  const std::string script = write_script(dir, "peer.sh",
                                          "head -c 1000000 /dev/zero >&2\necho ready\n"
                                          "read cmd; head -c 1000000 /dev/zero >&2; echo 'time 2.5e-05'\n"
                                          "read cmd\n");
  peer_process p;
  ASSERT_TRUE(p.start({script}, 10).ready());
  const tandem::peer_run r = p.run_once(10);
  ASSERT_TRUE(r.seconds) << r.error;
  EXPECT_DOUBLE_EQ(*r.seconds, 2.5e-05);
  EXPECT_LE(p.messages().size(), 4096u);
}

}  // namespace
