// The CLI as a user meets it: exit statuses, one-line errors, the JSON document, atomic output.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "workload_list.hpp"
#include "tandem/gpu/device.hpp"

namespace {

using tandem::testing::run_cli;

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST(cli, bad_input_gives_one_line_and_status_2) {
  for (const char* args : {"tasks --frobnicate", "tasks --backend warp", "tasks --workers 0", "tasks --count 0",
                           "tasks --n 4294967297", "tasks --repeat 0", "tasks --backend seq,,threads", "nosuchcommand",
                           "tasks --n -5", ""}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << ":\n" << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args << ": " << r.out;
  }
}

TEST(cli, unknown_backend_names_the_choices) {
  const auto r = run_cli("tasks --backend warp");
  EXPECT_NE(r.err.find("unknown backend 'warp'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("seq, threads, procs, gpu, auto"), std::string::npos) << r.err;
}

TEST(cli, gpu_alone_without_a_device_fails_with_the_reason) {
  if (tandem::gpu::available()) GTEST_SKIP() << "a CUDA device is present";
  const auto r = run_cli("tasks --backend gpu --count 1 --n 10");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("backend gpu unavailable: no CUDA device"), std::string::npos) << r.err;
}

TEST(cli, gpu_in_a_list_is_skipped_and_the_rest_runs) {
  if (tandem::gpu::available()) GTEST_SKIP() << "a CUDA device is present";
  const auto r = run_cli("tasks --backend seq,threads,gpu --count 2 --n 1000 --repeat 1");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("skipped: no CUDA device"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("skipping backend gpu"), std::string::npos) << r.err;
}

TEST(cli, auto_says_what_it_chose) {
  // No calibration file: the built-in crossovers (the user's own file must not change the test).
  const auto r = run_cli("tasks --count 1 --n 10 --repeat 1", "TANDEM_CALIBRATION=/nonexistent/crossovers.json");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("tasks: auto: 10 terms per run < threads crossover 2e+06 (built-in default) → seq"),
            std::string::npos)
      << r.err;
}

TEST(cli, a_malformed_calibration_file_is_one_line_naming_it) {
  const auto file = std::filesystem::temp_directory_path() / ("tandem_cli_calibration_" + std::to_string(::getpid()));
  std::ofstream(file) << "{\"schema_version\": 1, \"crossovers\": ";
  const auto r = run_cli("tasks --count 1 --n 10 --repeat 1", "TANDEM_CALIBRATION='" + file.string() + "'");
  std::filesystem::remove(file);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("calibration file '" + file.string() + "'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("re-run `tandem bench --calibrate` or delete it"), std::string::npos) << r.err;
  // A fixed backend does not consult the file.
  EXPECT_EQ(run_cli("tasks --backend seq --count 1 --n 10 --repeat 1", "TANDEM_CALIBRATION='" + file.string() + "'").status, 0);
}

TEST(cli, json_document_on_stdout) {
  const auto r = run_cli("tasks --backend seq,threads --workers 2 --count 3 --n 100000 --repeat 2 --warmup 0 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);  // throws (fails the test) unless stdout is one document
  EXPECT_EQ(j.at("schema_version"), 2);
  ASSERT_EQ(j.at("results").size(), 2u);
  const auto& seq = j.at("results")[0];
  EXPECT_EQ(seq.at("backend"), "seq");
  EXPECT_EQ(seq.at("workload"), "tasks");
  EXPECT_EQ(seq.at("params").at("count"), 3);
  EXPECT_EQ(seq.at("params").at("n"), 100000);
  // sum of i*i for i < 10^5, computed independently: 333328333350000
  EXPECT_EQ(seq.at("result").at("sums")[0], "333328333350000");
  EXPECT_EQ(seq.at("result").at("total"), "999985000050000");
  EXPECT_EQ(j.at("results")[1].at("result"), seq.at("result"));
  EXPECT_EQ(j.at("results")[1].at("workers"), 2);
  EXPECT_EQ(seq.at("time_s").at("runs"), 2);
  EXPECT_EQ(seq.at("throughput").at("unit"), "terms/s");
  EXPECT_TRUE(j.at("agree").get<bool>());
}

TEST(cli, out_file_is_written_whole) {
  const auto dir = std::filesystem::temp_directory_path() / ("tandem_out_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "report.json";
  const auto r = run_cli("tasks --backend seq --count 1 --n 1000 --repeat 1 --out '" + path.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(tandem::testing::slurp(path));
  EXPECT_EQ(j.at("results")[0].at("result").at("total"), "332833500");
  // No temporary file is left beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  // An unwritable destination fails cleanly and leaves nothing behind.
  const auto bad = run_cli("tasks --backend seq --count 1 --n 10 --repeat 1 --out '" + (dir / "no/such/dir/x.json").string() + "'");
  EXPECT_NE(bad.status, 0);
  EXPECT_EQ(lines(bad.err), 1) << bad.err;
  std::filesystem::remove_all(dir);
}

TEST(cli, info_describes_the_machine) {
  const auto r = run_cli("info --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j.at("cpu").at("logical_cores").get<int>(), 0);
  EXPECT_FALSE(j.at("cpu").at("simd").get<std::string>().empty());
  if (!tandem::gpu::available()) {
    EXPECT_NE(j.at("gpu").at("reason").get<std::string>().find("no CUDA device"), std::string::npos);
  }
  const auto text = run_cli("info");
  EXPECT_NE(text.out.find("CPU:"), std::string::npos);
  EXPECT_NE(text.out.find("GPU"), std::string::npos);
  EXPECT_NE(text.out.find("CUDA:"), std::string::npos);
}

// Every workload of the list, through the generic command: its help, a bad flag, and a small
// problem on every backend with one JSON document whose backends agree.
class cli_workload : public ::testing::TestWithParam<tandem::testing::workload_smoke> {};

TEST_P(cli_workload, help_bad_flags_and_every_backend) {
  const std::string name(GetParam().name), command(GetParam().command), smoke(GetParam().args);
  const auto help = run_cli(command + " --help");
  EXPECT_EQ(help.status, 0) << help.err;
  for (const char* flag : {"--backend", "--workers", "--repeat", "--json", "--out"})
    EXPECT_NE(help.out.find(flag), std::string::npos) << name << " --help lacks " << flag;
  const auto top = run_cli("--help");
  EXPECT_NE(top.out.find(name), std::string::npos) << "tandem --help does not list " << name;
  for (const std::string bad : {" --frobnicate", " --backend warp", " --workers 0", " --repeat 0"}) {
    const auto r = run_cli(command + bad);
    EXPECT_EQ(r.status, 2) << command << bad << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << command << bad << ":\n" << r.err;
  }
  const auto r = run_cli(command + " " + smoke + " --backend seq,threads,procs,gpu --workers 2 --repeat 2 --warmup 0 --json");
  ASSERT_EQ(r.status, 0) << name << ": " << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j.at("agree").get<bool>()) << r.out;
  std::set<std::string> ran;
  for (const auto& rec : j.at("results")) {
    EXPECT_EQ(rec.at("workload"), name);
    ran.insert(rec.at("backend").get<std::string>());
  }
  for (const char* b : {"seq", "threads", "procs"}) EXPECT_TRUE(ran.count(b)) << name << " did not run on " << b;
  EXPECT_EQ(ran.count("gpu") + j.at("skipped").size(), 1u) << "gpu either ran or was skipped with a reason";
}

INSTANTIATE_TEST_SUITE_P(list, cli_workload, ::testing::ValuesIn(tandem::testing::workload_smoke_args),
                         [](const auto& p) { return std::string(p.param.name); });

// Every numeric flag, common and the workloads': a value is a plain decimal number in range or it is
// refused with one line naming the flag. CLI11 alone turned "-1" and "1e23" into 2^64 - 1, "" into
// 0, "0x10" into 16, and let nan through a range check.
TEST(cli, numbers_are_read_strictly) {
  const std::pair<std::string, std::string> cases[] = {
      {"tasks --seed -1", "--seed"},
      {"tasks --seed 18446744073709551616", "--seed"},
      {"tasks --seed 1e23", "--seed"},
      {"tasks --seed ''", "--seed"},
      {"tasks --seed 42abc", "--seed"},
      {"tasks --chunk-timeout nan", "--chunk-timeout"},
      {"tasks --chunk-timeout inf", "--chunk-timeout"},
      {"tasks --chunk-timeout -1", "--chunk-timeout"},
      {"tasks --chunk-timeout ''", "--chunk-timeout"},
      {"tasks --stall-timeout nan", "--stall-timeout"},
      {"tasks --stall-timeout -1", "--stall-timeout"},
      {"tasks --workers -1", "--workers"},
      {"tasks --workers 0x10", "--workers"},
      {"tasks --workers 2.0", "--workers"},
      {"tasks --repeat ''", "--repeat"},
      {"tasks --repeat 4294967297", "--repeat"},
      {"tasks --warmup -1", "--warmup"},
      {"tasks --max-retries 1e2", "--max-retries"},
      {"tasks --count -1", "--count"},
      {"tasks --count 8x", "--count"},
      {"tasks --n 18446744073709551617", "--n"},
      {"tasks --n ' 5'", "--n"},
      {"tasks --out ''", "--out"},
      {"tasks --backend ''", "--backend"},
      {"montecarlo --paths -1", "--paths"},
      {"montecarlo --paths 1e6", "--paths"},
      {"montecarlo --steps -1", "--steps"},
      {"montecarlo --steps 4294967296", "--steps"},
      {"montecarlo --s0 nan", "--s0"},
      {"montecarlo --mu inf", "--mu"},
      {"montecarlo --sigma ''", "--sigma"},
      {"montecarlo --dt 1e400", "--dt"},
      {"montecarlo --var-level nan", "--var-level"},
      {"montecarlo --strike 100x", "--strike"},
      {"montecarlo --rate -inf", "--rate"},
      {"montecarlo --qmc-replicates -1", "--qmc-replicates"},
      {"montecarlo --qmc-replicates 4294967295", "--qmc-replicates"},
      {"bench --quick --peers ''", "--peers"},
  };
  for (const auto& [args, flag] : cases) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << args << ":\n" << r.err;
    EXPECT_NE(r.err.find(flag + ":"), std::string::npos) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

TEST(cli, numbers_at_the_edges_of_their_ranges_are_accepted) {
  const auto r = run_cli("montecarlo --backend seq --repeat 1 --warmup 0 --json --seed 18446744073709551615 "
                         "--paths 2048 --steps 3 --mu -0.5 --sigma 0.25 --dt 1e-3 --var-level 0.5 --chunk-timeout 0.5");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto p = nlohmann::json::parse(r.out).at("results")[0].at("params");
  EXPECT_EQ(p.at("seed").get<std::uint64_t>(), 18446744073709551615u);
  EXPECT_EQ(p.at("mu").get<double>(), -0.5);
  EXPECT_EQ(p.at("dt").get<double>(), 1e-3);
  EXPECT_EQ(run_cli("tasks --backend seq --repeat 1 --warmup 0 --count 1048576 --n 0 --seed 0").status, 0);
  for (const char* stall : {"0", "0.25", "1e9"})
    EXPECT_EQ(run_cli(std::string("tasks --backend procs --workers 2 --repeat 1 --warmup 0 --stall-timeout ") + stall)
                  .status,
              0)
        << stall;
}

TEST(cli, a_bad_environment_variable_is_one_line_naming_it) {
  // std::stoull printed a bare "stoull" for abc and read 1e9 as 1 byte.
  for (const char* env : {"TANDEM_SHARED_ARENA_BYTES=abc", "TANDEM_SHARED_ARENA_BYTES=1e9",
                          "TANDEM_SHARED_ARENA_BYTES=-1", "TANDEM_SHARED_ARENA_BYTES=1", "TANDEM_DISABLE_GPU=yes"}) {
    const std::string name = std::string(env).substr(0, std::string(env).find('='));
    for (const char* cmd : {"tasks --backend procs --count 1 --n 10 --repeat 1 --warmup 0", "info"}) {
      const auto r = run_cli(cmd, env);
      EXPECT_EQ(r.status, 2) << env << " " << cmd << ": " << r.err;
      EXPECT_EQ(lines(r.err), 1) << env << ":\n" << r.err;
      EXPECT_EQ(r.err.rfind("tandem: error: " + name + ": '", 0), 0u) << env << ": " << r.err;
    }
  }
  const auto ok = run_cli("tasks --backend procs --workers 2 --count 2 --n 1000 --repeat 1 --warmup 0",
                          "TANDEM_SHARED_ARENA_BYTES=256M TANDEM_DISABLE_GPU=1");
  EXPECT_EQ(ok.status, 0) << ok.err;
}

TEST(cli, out_of_memory_is_one_clear_line) {
  // A shared arena too small for one window of partials (65,536 of 16 bytes): the bad_alloc's own
  // message, said as such.
  const auto r = run_cli("tasks --backend procs --workers 2 --count 65536 --n 1 --repeat 1 --warmup 0",
                         "TANDEM_SHARED_ARENA_BYTES=1M");
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("tandem: error: out of memory: shared arena full", 0), 0u) << r.err;
}

TEST(cli, a_huge_tasks_job_holds_one_window_of_partials) {
  // 2^20 tasks of 2^32 terms are 2^32 pieces: memory must be what is in flight (one window of
  // partials, the per-task sums), not one partial per piece. Under a 1 GB address-space limit the
  // run starts and is interrupted instead of failing to allocate.
  for (const char* backend : {"seq", "procs"}) {
    const auto r = run_cli(std::string("tasks --backend ") + backend +
                               " --workers 2 --count 1048576 --n 4294967296 --repeat 1 --warmup 0",
                           "ulimit -v 1000000; timeout --preserve-status -s INT 1");
    EXPECT_EQ(r.status, 130) << backend << ": " << r.err;
  }
}

TEST(cli, help_exits_zero) {
  const auto r = run_cli("tasks --help");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("--backend"), std::string::npos);
  EXPECT_NE(r.out.find("--workers"), std::string::npos);
}

}  // namespace
