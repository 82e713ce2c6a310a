// The CLI's pieces: flags every workload shares, the commands, the peers and the output.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tandem/report.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/tasks.hpp"

namespace tandem::cli {

// Exit statuses, documented in the README.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;      // a run failed, or backends disagreed
inline constexpr int exit_usage = 2;        // bad flag or value
inline constexpr int exit_unavailable = 3;  // a backend asked for alone cannot run here

// Thrown by a command to end with a status other than 0 after printing what it had to say.
struct exit_status {
  int code;
};

struct common_flags {
  std::string backend = "auto";
  unsigned workers = 0;  // 0: the backend's default
  unsigned repeat = 5;
  unsigned warmup = 1;
  std::uint64_t seed = 42;
  unsigned max_retries = 3;    // procs: extra attempts for a chunk whose worker died
  double chunk_timeout = 0;    // procs: seconds before a chunk's worker is killed; 0: none
  bool json = false;
  std::string out;  // write the JSON document here too (atomically)
};

void add_common_flags(CLI::App& cmd, common_flags& f, const std::string& default_backend);
run_options to_run_options(const common_flags& f);

// Prints the tables (or the JSON document) and returns the exit status.
int emit(const common_flags& f, const report& r);

// Writes text to path through a temporary file in the same folder and a rename.
void write_atomically(const std::filesystem::path& path, const std::string& text);

// Measures the Python concurrent.futures example from `peers_dir` (python_pools.py) on the same
// tasks. Returns nothing, with a note on stderr, when it cannot run.
std::vector<peer_record> run_python_pools_peer(const std::string& peers_dir, std::uint64_t n, std::uint64_t count);

// Measures the published Ray example's Python loop and its NumPy vectorisation from `peers_dir`
// (python_montecarlo.py) on `paths` paths. Returns nothing, with a note on stderr, when it cannot run.
std::vector<peer_record> run_python_montecarlo_peer(const std::string& peers_dir, std::uint64_t paths);
// The montecarlo workload `tandem bench` runs: the published example (its arithmetic step, the
// same math as the Python peers), smaller with --quick.
montecarlo_options bench_montecarlo_options(bool quick);

void add_info_command(CLI::App& app);
void add_tasks_command(CLI::App& app);
void add_montecarlo_command(CLI::App& app);
void add_bench_command(CLI::App& app);

}  // namespace tandem::cli
