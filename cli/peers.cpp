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

namespace {
// Runs `python3 DIR/script args`, finds `pattern` in its output and returns one record per capture
// group (a time in seconds), named by `variants` in order. A peer that cannot run is skipped
// with a note on stderr: peers are for comparison, never a reason to fail the bench.
std::vector<peer_record> run_python_peer(const std::string& peers_dir, const char* workload, const char* script,
                                         const std::string& args, const std::regex& pattern, const char* peer,
                                         std::initializer_list<const char*> variants) {
  const std::filesystem::path path = std::filesystem::path(peers_dir) / script;
  if (!std::filesystem::exists(path)) {
    std::cerr << workload << ": peer skipped: " << path.string() << " not found\n";
    return {};
  }
  int status = 0;
  const std::string out = run_capture(python() + " '" + path.string() + "' " + args + " 2>&1", status);
  std::smatch m;
  if (status != 0 || !std::regex_search(out, m, pattern)) {
    std::cerr << workload << ": peer skipped: " << script << " failed: " << out.substr(0, 200) << "\n";
    return {};
  }
  std::string detail = out;
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == '\r')) detail.pop_back();
  std::vector<peer_record> records;
  std::size_t group = 1;
  for (const char* variant : variants) records.push_back({workload, peer, variant, std::stod(m[group++]), detail});
  return records;
}
}  // namespace

std::vector<peer_record> run_python_pools_peer(const std::string& peers_dir, std::uint64_t n, std::uint64_t count) {
  // "n=... tasks=... workers=2 seq=11.000s threads=11.180s procs=4.700s"
  static const std::regex line(R"(seq=([0-9.]+)s threads=([0-9.]+)s procs=([0-9.]+)s)");
  return run_python_peer(peers_dir, "tasks", "python_pools.py", std::to_string(n) + " " + std::to_string(count), line,
                         "python concurrent.futures", {"sequential", "ThreadPoolExecutor", "ProcessPoolExecutor"});
}

std::vector<peer_record> run_python_montecarlo_peer(const std::string& peers_dir, std::uint64_t paths) {
  // "paths=10000 python_loop=2.345s mean=... var5=... | numpy_vectorised=0.0251s mean=... var5=..."
  static const std::regex line(R"(python_loop=([0-9.]+)s.*numpy_vectorised=([0-9.]+)s)");
  return run_python_peer(peers_dir, "montecarlo", "python_montecarlo.py", std::to_string(paths), line,
                         "python (published example)", {"per-path loop", "NumPy vectorised"});
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
