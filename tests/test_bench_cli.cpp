// `tandem bench` as a user meets it: the ladder of sizes, the rounds, the report document and its
// other formats, --compare's exit statuses, and bad flags.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <chrono>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "temp_dir.hpp"
#include "workload_list.hpp"
#include "tandem/gpu/device.hpp"

namespace {

using tandem::testing::run_cli;

// Two small sizes of the cheapest workload, fixed runs: a bench that takes well under a second.
const std::string small_bench = "bench --workloads tasks --sizes 1000,20000 --backends seq,threads --warmup 0";

nlohmann::json parse(const std::string& text) { return nlohmann::json::parse(text); }

TEST(bench_cli, runs_every_workload_case_at_every_size_of_the_ladder) {
  const auto r = run_cli("bench --quick --repeat 1 --warmup 0 --backends seq,threads,procs --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = parse(r.out);
  EXPECT_EQ(doc.at("schema_version"), 2);
  EXPECT_EQ(doc.at("command"), "bench");
  std::set<std::string> workloads;
  std::map<std::string, std::set<double>> sizes;  // workload/case -> sizes
  std::set<std::string> backends;
  for (const auto& rec : doc.at("results")) {
    workloads.insert(rec.at("workload").get<std::string>());
    backends.insert(rec.at("backend").get<std::string>());
    sizes[rec.at("workload").get<std::string>() + "/" + rec.at("case").get<std::string>()].insert(
        rec.at("size").get<double>());
    EXPECT_EQ(rec.at("stop"), "fixed");
    EXPECT_EQ(rec.at("time_s").at("runs"), 1);
    EXPECT_GT(rec.at("work").at("per_run").get<double>(), 0);
  }
  const std::set<std::string> listed(std::begin(tandem::testing::workload_names),
                                     std::end(tandem::testing::workload_names));
  EXPECT_EQ(workloads, listed);
  EXPECT_EQ(backends, (std::set<std::string>{"seq", "threads", "procs"}));
  // --quick is the small ladder: two sizes for the cases that have two (tasks: 1e4 and 1e6 terms).
  EXPECT_EQ(sizes["tasks/"], (std::set<double>{1e4, 1e6}));
  EXPECT_EQ(sizes["reduce/count-matches"], (std::set<double>{1e4}));
  EXPECT_TRUE(doc.at("agree").get<bool>());
  EXPECT_TRUE(doc.at("peers").empty());
  EXPECT_TRUE(doc.at("crossovers").is_array());
}

TEST(bench_cli, measures_the_ceilings_and_holds_throughput_against_them) {
  const auto r = run_cli("bench --workloads gemm,reduce --sizes 256 --repeat 2 --warmup 0 --backends seq --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = parse(r.out);
  const auto& c = doc.at("ceilings");
  EXPECT_GT(c.at("fma_gflops").at("f64").get<double>(), 0);
  EXPECT_GT(c.at("fma_gflops").at("f32").get<double>(), 0);
  EXPECT_GT(c.at("read_gbs").get<double>(), 0);
  std::set<std::string> kinds;
  for (const auto& rec : doc.at("results")) {
    if (!rec.contains("ceiling")) continue;
    kinds.insert(rec.at("workload").get<std::string>() + ":" + rec.at("ceiling").at("kind").get<std::string>());
    // The fraction is the throughput over the ceiling, recomputed here from the document.
    const double median = rec.at("time_s").at("median").get<double>();
    const std::string kind = rec.at("ceiling").at("kind");
    // gemm's work is its flops, reduce's (sum and count-matches) the bytes it reads.
    const double per_run = rec.at("work").at("per_run").get<double>();
    const double expected = kind == "fma_f64" ? per_run / median / 1e9 / c.at("fma_gflops").at("f64").get<double>()
                                              : per_run / median / 1e9 / c.at("read_gbs").get<double>();
    EXPECT_NEAR(rec.at("ceiling").at("fraction").get<double>(), expected, 1e-9 * expected) << rec.dump();
  }
  EXPECT_TRUE(kinds.count("gemm:fma_f64")) << r.out;
  EXPECT_TRUE(kinds.count("reduce:read")) << r.out;
}

TEST(bench_cli, repeats_until_stable_or_the_budget_is_spent) {
  // Without --repeat: at least --min-runs each, then stable, budget or max_runs, and an interval
  // holding the median.
  const auto r = run_cli(small_bench + " --min-runs 3 --max-runs 7 --budget 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const auto& rec : parse(r.out).at("results")) {
    const std::string stop = rec.at("stop");
    EXPECT_TRUE(stop == "stable" || stop == "budget" || stop == "max_runs") << stop;
    const auto& t = rec.at("time_s");
    const int runs = t.at("runs");
    EXPECT_LE(runs, 7);
    if (stop == "stable") {
      EXPECT_GE(runs, 3);
    }
    if (stop == "max_runs") {
      EXPECT_EQ(runs, 7);
    }
    EXPECT_LE(t.at("ci95").at(0).get<double>(), t.at("median").get<double>());
    EXPECT_GE(t.at("ci95").at(1).get<double>(), t.at("median").get<double>());
    // Interleaved rounds: every backend of a cell ran the same number of times.
  }
  std::map<double, std::set<int>> runs_per_size;
  for (const auto& rec : parse(r.out).at("results"))
    runs_per_size[rec.at("size").get<double>()].insert(rec.at("time_s").at("runs").get<int>());
  for (const auto& [size, runs] : runs_per_size) EXPECT_EQ(runs.size(), 1u) << "size " << size;
}

TEST(bench_cli, writes_csv_markdown_and_html) {
  tandem::testing::temp_dir dir("bench_formats");
  const auto html = dir.path / "report.html";
  const auto csv = run_cli(small_bench + " --repeat 2 --csv --html '" + html.string() + "'");
  ASSERT_EQ(csv.status, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("kind,", 0), 0u) << csv.out;
  EXPECT_NE(csv.out.find("tandem,tasks,"), std::string::npos) << csv.out;
  std::ifstream in(html);
  const std::string page((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(page.find("<svg"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  const auto md = run_cli(small_bench + " --repeat 1 --markdown");
  ASSERT_EQ(md.status, 0) << md.err;
  EXPECT_NE(md.out.find("| "), std::string::npos);
  EXPECT_NE(md.out.find("tasks"), std::string::npos);
}

TEST(bench_cli, compare_exits_4_on_a_regression_and_0_otherwise) {
  tandem::testing::temp_dir dir("bench_compare");
  const auto old_path = dir.path / "old.json";
  const auto r = run_cli(small_bench + " --repeat 5 --out '" + old_path.string() + "'");
  ASSERT_EQ(r.status, 0) << r.err;

  // The same run against itself: nothing regressed by more than 1000%.
  const auto same = run_cli(small_bench + " --repeat 5 --compare '" + old_path.string() + "' --fail-above 1000");
  EXPECT_EQ(same.status, 0) << same.out << same.err;
  EXPECT_NE(same.out.find("tasks"), std::string::npos) << same.out;

  // An earlier run 100x faster: every result is a regression.
  nlohmann::json old = nlohmann::json::parse(std::ifstream(old_path));
  for (auto& rec : old.at("results")) {
    auto& t = rec.at("time_s");
    for (auto& s : t.at("samples")) s = s.get<double>() / 100;
    for (const char* k : {"median", "min", "max"}) t[k] = t[k].get<double>() / 100;
  }
  const auto fast_path = dir.path / "fast.json";
  std::ofstream(fast_path) << old.dump();
  const auto slower = run_cli(small_bench + " --repeat 5 --compare '" + fast_path.string() + "' --fail-above 50");
  EXPECT_EQ(slower.status, 4) << slower.out << slower.err;
  EXPECT_NE(slower.out.find("slower"), std::string::npos) << slower.out;
}

TEST(bench_cli, bad_flags_and_files_are_one_line_and_exit_2_before_any_run) {
  tandem::testing::temp_dir dir("bench_bad");
  std::ofstream(dir.path / "not.json") << "{ this is not json";
  const std::pair<std::string, std::string> cases[] = {
      {"bench --sizes huge", "--sizes"},
      {"bench --sizes 0", "--sizes"},
      {"bench --sizes 1e4,x", "--sizes"},
      {"bench --workloads nothing", "--workloads"},
      {"bench --budget 0", "--budget"},
      {"bench --target-ci nan", "--target-ci"},
      {"bench --min-runs 9 --max-runs 3", "--min-runs"},
      {"bench --json --csv", "--csv"},
      {"bench --compare /nonexistent/old.json", "/nonexistent/old.json"},
      {"bench --compare '" + (dir.path / "not.json").string() + "'", "not.json"},
      {"bench --html /nonexistent/dir/report.html", "/nonexistent/dir/report.html"},
      // A mistyped peers folder would have run the peers' own copies labelled as the published ones.
      {"bench --peers /nonexistent/peers", "--peers: Directory does not exist: /nonexistent/peers"},
      {"bench --peers '" + (dir.path / "not.json").string() + "'", "--peers"},
  };
  for (const auto& [args, mention] : cases) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(mention), std::string::npos) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << args;
  }
}

TEST(bench_cli, a_gpu_asked_for_alone_where_there_is_none_exits_3) {
  if (tandem::gpu::available()) GTEST_SKIP() << "this machine has a GPU";
  const auto r = run_cli("bench --workloads tasks --sizes 1000 --backends gpu --repeat 1");
  EXPECT_EQ(r.status, 3) << r.err;
}

// The peers: interleaved with the backends at every size, their problem the same as Tandem's.
TEST(bench_cli, peers_run_beside_tandem_at_every_size_without_a_shell) {
  if (std::system("test -x /usr/bin/python3") != 0) GTEST_SKIP() << "no /usr/bin/python3 to run peers with";
  tandem::testing::temp_dir root("bench_peers");
  // A published folder whose name, pasted into a shell command, would end the quoting and run echo.
  const auto dir = root.path / "x'; echo PWNED; '";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "python_pools.py") << "def cpu_bound_task(n):\n    return sum(i * i for i in range(n))\n";
  const auto r = run_cli("bench --workloads tasks --sizes 1000,2000 --backends seq --repeat 3 --warmup 0 --json --peers \"" +
                         dir.string() + "\"");
  ASSERT_EQ(r.status, 0) << r.err;
  // No shell ran `echo PWNED`: the name reached the peer whole, as one argument.
  EXPECT_EQ(r.out.find("\nPWNED"), std::string::npos);
  EXPECT_EQ(r.err.find("\nPWNED"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find(dir.string() + "/python_pools.py"), std::string::npos) << r.out;
  const auto doc = parse(r.out);
  std::map<std::string, std::set<double>> sizes;  // variant -> sizes
  for (const auto& p : doc.at("peers")) {
    sizes[p.at("variant").get<std::string>()].insert(p.at("size").get<double>());
    EXPECT_EQ(p.at("time_s").at("runs"), 3) << p.dump();  // one run per round, as the backends
    EXPECT_GT(p.at("time_s").at("median").get<double>(), 0);
    EXPECT_GT(p.at("tandem_speedup").get<double>(), 0);
    EXPECT_NE(p.at("detail").get<std::string>().find("python_pools.py"), std::string::npos) << p.dump();
  }
  EXPECT_EQ(sizes.size(), 3u) << doc.at("peers").dump(2) << r.err;  // sequential, threads, processes
  for (const auto& [variant, s] : sizes) EXPECT_EQ(s, (std::set<double>{1000, 2000})) << variant;
}

TEST(bench_cli, a_missing_peer_is_listed_with_the_package_that_provides_it) {
  tandem::testing::temp_dir published("bench_published");  // empty: no published programs either
  const auto r = run_cli("bench --workloads gemm --sizes 64 --backends seq --repeat 1 --warmup 0 --json --peers '" +
                             published.path.string() + "'",
                         "TANDEM_PEERS_DIR=/nonexistent/peers");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = parse(r.out);
  // The scripts are not in /nonexistent/peers: NumPy's is listed as skipped (the OpenBLAS peer is a
  // program built beside tandem, found there).
  ASSERT_FALSE(doc.at("peers_skipped").empty()) << r.err;
  bool numpy = false;
  for (const auto& p : doc.at("peers_skipped")) numpy |= p.at("peer").get<std::string>().find("NumPy") != std::string::npos;
  EXPECT_TRUE(numpy) << doc.at("peers_skipped").dump(2);
  for (const auto& p : doc.at("peers_skipped")) {
    EXPECT_EQ(p.at("workload"), "gemm");
    EXPECT_FALSE(p.at("package").get<std::string>().empty()) << p.dump();
    EXPECT_FALSE(p.at("reason").get<std::string>().empty()) << p.dump();
  }
  EXPECT_NE(r.err.find("skipped"), std::string::npos) << r.err;
}

// A SIGTERM sent to tandem alone (not its process group, as Ctrl-C would) while a peer sets up
// must not leave the peer running on: peers die with tandem.
TEST(bench_cli, a_peer_does_not_outlive_tandem) {
  if (std::system("test -x /usr/bin/python3") != 0) GTEST_SKIP() << "no /usr/bin/python3 to run peers with";
  tandem::testing::temp_dir dir("bench_orphan");
  const auto pid_file = dir.path / "peer.pid";
  std::ofstream(dir.path / "python_pools.py") << "import os, time\nwith open('" << pid_file.string()
                                              << "', 'w') as f:\n    f.write(str(os.getpid()))\ntime.sleep(60)\n";
  const pid_t t = ::fork();
  ASSERT_GE(t, 0);
  if (t == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execl(TANDEM_CLI_PATH, "tandem", "bench", "--workloads", "tasks", "--sizes", "1000", "--backends", "seq",
            "--repeat", "1", "--warmup", "0", "--peers", dir.path.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_t peer = 0;
  for (int i = 0; i < 600 && peer == 0; ++i) {
    std::ifstream in(pid_file);
    if (!(in >> peer)) peer = 0;
    if (peer == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(t, SIGTERM);
  int status = 0;
  ::waitpid(t, &status, 0);
  ASSERT_NE(peer, 0) << "the peer never started";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 143) << "status " << status;
  auto alive = [&] {
    std::ifstream stat("/proc/" + std::to_string(peer) + "/stat");
    std::string pid, comm, state;
    return (stat >> pid >> comm >> state) && state != "Z";
  };
  for (int i = 0; i < 100 && alive(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool survived = alive();
  if (survived) ::kill(peer, SIGKILL);
  EXPECT_FALSE(survived) << "peer " << peer << " outlived tandem";
}

}  // namespace
