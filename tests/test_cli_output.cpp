// What the CLI writes: --out replaces a regular file whole or not at all, writes devices and FIFOs
// directly, follows symlinks, is checked before the run, and leaves no temporary file behind even
// when a signal arrives mid-write; a stdout that cannot be written is an error.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using tandem::testing::run_cli;
using tandem::testing::slurp;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// Every test's folder is named after this file's tests.
struct temp_dir : tandem::testing::temp_dir {
  temp_dir() : tandem::testing::temp_dir("tandem_out_") {}
};
using tandem::testing::write_file;

const std::string small_run = "tasks --backend seq --count 1 --n 1000 --repeat 1 --warmup 0";

TEST(cli_out, a_regular_file_is_replaced_whole) {
  temp_dir d;
  write_file(d / "report.json", "old\n");
  chmod((d / "report.json").c_str(), 0640);
  const auto r = run_cli(small_run + " --out '" + d / "report.json" + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(slurp(d / "report.json"));
  EXPECT_EQ(j.at("results")[0].at("result").at("total"), "332833500");
  EXPECT_EQ(d.names(), std::vector<std::string>{"report.json"});
  struct stat st {};
  stat((d / "report.json").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // a replaced file keeps its permissions
}

TEST(cli_out, dev_null_stays_the_device) {
  // Renaming a regular file over /dev/null (as root) replaced the device for every program.
  const auto r = run_cli(small_run + " --out /dev/null");
  EXPECT_EQ(r.status, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(lstat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null is no longer a character device";
}

TEST(cli_out, a_fifo_is_written_not_replaced) {
  temp_dir d;
  const std::string fifo = d / "pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // The reader is open first, so the writer's open does not wait; the document (a few KB) fits in
  // the pipe's buffer, so it is read after the run.
  const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  ASSERT_GE(reader, 0);
  const auto r = run_cli(small_run + " --out '" + fifo + "'");
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(reader, buf, sizeof buf)) > 0;) got.append(buf, std::size_t(n));
  ::close(reader);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(got).at("results")[0].at("result").at("total"), "332833500");
  struct stat st {};
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced";
  EXPECT_EQ(d.names(), std::vector<std::string>{"pipe"});
}

TEST(cli_out, a_symlink_target_is_replaced_and_the_link_stays) {
  temp_dir d;
  fs::create_directory(d.path / "real");
  write_file(d / "real/report.json", "old\n");
  fs::create_symlink("real/report.json", d.path / "link");
  const auto r = run_cli(small_run + " --out '" + d / "link" + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(d.path / "link"));
  EXPECT_EQ(nlohmann::json::parse(slurp(d / "real/report.json")).at("results")[0].at("result").at("total"),
            "332833500");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"link", "real"}));
  EXPECT_EQ(fs::directory_iterator(d.path / "real")->path().filename(), "report.json");
}

TEST(cli_out, dev_stdout_writes_through_the_callers_stdout) {
  const auto r = run_cli(small_run + " --out /dev/stdout --json");
  ASSERT_EQ(r.status, 0) << r.err;
  // The document twice: once for --out, once for --json.
  const auto second = r.out.find("\n{");
  ASSERT_NE(second, std::string::npos) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(0, second)), nlohmann::json::parse(r.out.substr(second + 1)));
}

TEST(cli_out, an_unwritable_destination_fails_before_the_run_with_the_reason) {
  temp_dir d;
  write_file(d / "plain", "");
  const std::pair<std::string, std::string> cases[] = {
      {d.path.string(), "Is a directory"},
      {d / "no/such/dir/x.json", "No such file or directory"},
      {d / "plain/x.json", "Not a directory"},
      {"/proc/x", ""},  // the reason depends on the kernel; one line and status 2 is the point
  };
  for (const auto& [path, reason] : cases) {
    // --backend auto would print its choice on stderr if the run started.
    const auto r = run_cli("tasks --count 1 --n 1000 --repeat 1 --warmup 0 --out '" + path + "'");
    EXPECT_EQ(r.status, 2) << path << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << path << ":\n" << r.err;
    EXPECT_EQ(r.err.rfind("tandem: error: cannot write '" + path + "': " + reason, 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << path << ": the run happened: " << r.out;
  }
  EXPECT_EQ(d.names(), std::vector<std::string>{"plain"});
}

TEST(cli_out, never_a_file_the_run_reads_or_writes) {
  temp_dir d;
  const std::string eight(8, '\x01');
  write_file(d / "x.f64", eight);
  write_file(d / "sum", "kept\n");
  const std::pair<std::string, std::string> cases[] = {
      // An input, named directly and through ./
      {"reduce --op sum --dtype f64 --input '" + d / "x.f64" + "' --out '" + d / "x.f64" + "'", "--input file"},
      {"reduce --op sum --dtype f64 --input '" + d / "x.f64" + "' --out '" + d / "./x.f64" + "'", "--input file"},
      // The workload's own output, not made yet: one of the two would be lost.
      {"forest predict --synthetic 2,2,2 --rows 10 --output '" + d / "p.csv" + "' --out '" + d / "p.csv" + "'",
       "--output file"},
      {"bench --quick --workloads reduce --min-runs 1 --max-runs 1 --out '" + d / "r.json" + "' --html '" +
           d / "r.json" + "'",
       "--out file"},
  };
  for (const auto& [args, words] : cases) {
    const auto r = run_cli(args + " --repeat 1");
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << ":\n" << r.err;
    EXPECT_NE(r.err.find("tandem: error: cannot write '"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("it is the " + words), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty()) << args << ": the run happened: " << r.out;
  }
  EXPECT_EQ(slurp(d / "x.f64"), eight);
  EXPECT_EQ(d.names(), (std::vector<std::string>{"sum", "x.f64"}));
  // Only flags whose value is a file count: an --op that happens to name the --out file is not one.
  const auto ok = run_cli("reduce --op sum --n 10 --repeat 1 --backend seq --out sum", "cd '" + d.path.string() + "';");
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(slurp(d / "sum"), "kept\n");
}

TEST(cli_out, a_read_only_folder_fails_before_the_run) {
  if (geteuid() == 0) GTEST_SKIP() << "running as root: permissions are not enforced, read-only folder case skipped";
  temp_dir d;
  fs::create_directory(d.path / "ro");
  chmod((d / "ro").c_str(), 0555);
  const auto r = run_cli(small_run + " --out '" + d / "ro/x.json" + "'");
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err, "tandem: error: cannot write '" + d / "ro/x.json" + "': Permission denied\n");
  EXPECT_TRUE(fs::is_empty(d.path / "ro"));
}

TEST(cli_out, a_full_stdout_is_an_error) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full here";
  // A small document stays in stdout's buffer until exit; a large one fails inside the write.
  const std::string large = "tasks --backend seq --count 20000 --n 10 --repeat 1 --warmup 0 --json";
  for (const std::string& args : {small_run + " --json", small_run, large, std::string("info")}) {
    const auto r = run_cli(args, "", "/dev/full");
    EXPECT_EQ(r.status, 1) << args << ": " << r.err;
    EXPECT_EQ(r.err, "tandem: error: cannot write standard output: No space left on device\n") << args;
  }
}

// ---- signals while --out is written ----

// Starts the CLI with `args` and extra environment variables; stdout and stderr go to files in
// `logs`. The child starts with default signal handling and nothing blocked, as from a shell.
pid_t start_cli(const std::vector<std::string>& args, const std::vector<std::pair<std::string, std::string>>& env,
                const fs::path& logs) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
  const int out = ::open((logs / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const int err = ::open((logs / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(out, 1);
  dup2(err, 2);
  std::vector<char*> argv{const_cast<char*>(TANDEM_CLI_PATH)};
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(TANDEM_CLI_PATH, argv.data());
  _exit(127);
}

int wait_status(pid_t pid) {
  int raw = 0;
  while (waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

TEST(cli_out, a_signal_during_the_write_leaves_the_old_file_and_nothing_else) {
  for (const int sig : {SIGINT, SIGTERM}) {
    temp_dir d, logs;
    const std::string target = d / "report.json", marker = logs / "paused";
    write_file(target, "old\n");
    const pid_t pid = start_cli({"tasks", "--backend", "seq", "--count", "1", "--n", "1000", "--repeat", "1",
                                 "--warmup", "0", "--out", target},
                                {{"TANDEM_TEST_PAUSE_BEFORE_RENAME", marker}}, logs.path);
    // The CLI creates the marker once the temporary file is written, and waits until it is gone.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!fs::exists(marker) && std::chrono::steady_clock::now() < give_up)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!fs::exists(marker)) {
      kill(pid, SIGKILL);
      wait_status(pid);
      FAIL() << "the CLI never reached the point between writing the temporary file and the rename";
    }
    // The temporary file is open now: unnamed where the file system has O_TMPFILE (so a SIGKILL
    // would leave nothing either), else named beside the target.
    const int probe = ::open(d.path.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    const std::size_t names = probe >= 0 ? 1u : 2u;
    if (probe >= 0) ::close(probe);
    EXPECT_EQ(d.names().size(), names) << "the target, and the temporary file where it has a name";
    kill(pid, sig);
    fs::remove(marker);
    EXPECT_EQ(wait_status(pid), 128 + sig) << slurp(logs.path / "err");
    EXPECT_EQ(d.names(), std::vector<std::string>{"report.json"}) << "signal " << sig;
    EXPECT_EQ(slurp(target), "old\n") << "an interrupted run leaves the file as it was";
  }
}

TEST(cli_out, a_signal_during_the_run_leaves_nothing) {
  temp_dir d, logs;
  // A run of minutes; --out is checked (a temporary file made and removed) before it starts.
  const pid_t pid = start_cli({"tasks", "--backend", "seq", "--count", "64", "--n", "4294967296", "--repeat", "1",
                               "--warmup", "0", "--out", d / "report.json"},
                              {}, logs.path);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(pid, SIGINT);
  EXPECT_EQ(wait_status(pid), 130) << slurp(logs.path / "err");
  EXPECT_TRUE(d.names().empty());
}

}  // namespace
