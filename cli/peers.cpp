// Peers: the programs users would otherwise run, measured in the same run as Tandem.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <regex>

#include "cli.hpp"

namespace tandem::cli {

namespace {
// The system interpreter has Debian's numpy/sklearn; the first python3 on PATH may not.
std::string python() {
  for (const char* p : {"/usr/bin/python3", "/usr/local/bin/python3"})
    if (std::filesystem::exists(p)) return p;
  return "python3";
}

std::string run_capture(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    status = -1;
    return out;
  }
  char buf[4096];
  while (std::fgets(buf, sizeof buf, pipe)) out += buf;
  status = ::pclose(pipe);
  return out;
}
}  // namespace

std::vector<peer_record> run_python_pools_peer(const std::string& peers_dir, std::uint64_t n, std::uint64_t count) {
  const std::filesystem::path script = std::filesystem::path(peers_dir) / "python_pools.py";
  if (!std::filesystem::exists(script)) {
    std::cerr << "tasks: peer skipped: " << script.string() << " not found\n";
    return {};
  }
  int status = 0;
  const std::string out =
      run_capture(python() + " '" + script.string() + "' " + std::to_string(n) + " " + std::to_string(count) + " 2>&1", status);
  // "n=... tasks=... workers=2 seq=11.000s threads=11.180s procs=4.700s"
  std::smatch m;
  static const std::regex line(R"(seq=([0-9.]+)s threads=([0-9.]+)s procs=([0-9.]+)s)");
  if (status != 0 || !std::regex_search(out, m, line)) {
    std::cerr << "tasks: peer skipped: python_pools.py failed: " << out.substr(0, 200) << "\n";
    return {};
  }
  std::string detail = out;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  const char* peer = "python concurrent.futures";
  return {{"tasks", peer, "sequential", std::stod(m[1]), detail},
          {"tasks", peer, "ThreadPoolExecutor", std::stod(m[2]), detail},
          {"tasks", peer, "ProcessPoolExecutor", std::stod(m[3]), detail}};
}

std::vector<peer_record> run_python_montecarlo_peer(const std::string& peers_dir, std::uint64_t paths) {
  const std::filesystem::path script = std::filesystem::path(peers_dir) / "python_montecarlo.py";
  if (!std::filesystem::exists(script)) {
    std::cerr << "montecarlo: peer skipped: " << script.string() << " not found\n";
    return {};
  }
  int status = 0;
  const std::string out = run_capture(python() + " '" + script.string() + "' " + std::to_string(paths) + " 2>&1", status);
  // "paths=10000 python_loop=2.345s mean=... var5=... | numpy_vectorised=0.0251s mean=... var5=..."
  std::smatch m;
  static const std::regex line(R"(python_loop=([0-9.]+)s.*numpy_vectorised=([0-9.]+)s)");
  if (status != 0 || !std::regex_search(out, m, line)) {
    std::cerr << "montecarlo: peer skipped: python_montecarlo.py failed: " << out.substr(0, 200) << "\n";
    return {};
  }
  std::string detail = out;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  return {{"montecarlo", "python (published example)", "per-path loop", std::stod(m[1]), detail},
          {"montecarlo", "python (published example)", "NumPy vectorised", std::stod(m[2]), detail}};
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
  cmd->add_option("--peers", s->peers, "Folder of peer programs (e.g. ../shared/peers) to measure in the same run");
  cmd->add_flag("--quick", s->quick, "Smaller problem sizes, for a smoke test");
  cmd->callback([s] {
    report r;
    tasks_options t;
    if (s->quick) t = {8, 1'000'000};
    auto w = make_tasks_workload(t);
    r.runs.push_back(run_workload(*w, to_run_options(s->flags), std::cerr));
    if (!s->peers.empty()) {
      auto p = run_python_pools_peer(s->peers, t.n, t.count);
      r.peers.insert(r.peers.end(), p.begin(), p.end());
    }
    const montecarlo_options mc = bench_montecarlo_options(s->quick);
    auto mcw = make_montecarlo_workload(mc);
    r.runs.push_back(run_workload(*mcw, to_run_options(s->flags), std::cerr));
    if (!s->peers.empty()) {
      auto p = run_python_montecarlo_peer(s->peers, mc.paths);
      r.peers.insert(r.peers.end(), p.begin(), p.end());
    }
    const int status = emit(s->flags, r);
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace tandem::cli
