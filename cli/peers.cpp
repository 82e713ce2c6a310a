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

// A peer that cannot run is skipped with a note on stderr: peers are for comparison, never a
// reason to fail the bench.
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
    report r;
    session sess;  // one GPU context for every workload
    for (const workload_command* w : workload_commands()) {
      bench_entry e = w->bench(s->quick);
      r.runs.push_back(run_workload(*e.work, to_run_options(s->flags), std::cerr, sess));
      if (!s->peers.empty()) {
        auto p = e.peers(s->peers);
        r.peers.insert(r.peers.end(), p.begin(), p.end());
      }
    }
    const int status = emit(s->flags, r);
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace tandem::cli
