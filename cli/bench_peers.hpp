// The peers of `tandem bench --peers DIR`: for one bench case at one size, the programs users would
// otherwise run on the same problem (docs/peers.md), each as argv for a tandem::peer_process.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "tandem/peer_process.hpp"

namespace tandem::cli {

struct peer_spec {
  std::string workload, case_name;  // the bench case it stands beside
  std::string peer;                 // e.g. "NumPy", "XGBoost", "grep"
  std::string variant;              // e.g. "sum (float64)", "2 threads"
  std::string package;              // what provides it: a Debian package, "pip: lightgbm", a build option
  std::vector<std::string> argv;    // the program and its arguments (no shell)
  std::string missing;              // non-empty: its program or script is absent (why); start_peer skips it
};

// The peers of bench case (workload, case_name) at the size its params() give (the workload's own
// keys: tasks n/count; montecarlo paths/steps/s0/mu/sigma/dt/model; reduce op/n/dtype/dist/seed/
// input, or pattern/input for count-matches; gemm m/n/k/dtype/alpha/beta; forest rows/trees/nodes/
// features). published_dir: the folder of the published examples (--peers DIR, e.g.
// ../shared/peers); empty: the peers' own copies of them. None for a case without peers.
std::vector<peer_spec> bench_peers(const std::string& workload, const std::string& case_name,
                                   const nlohmann::json& params, const std::string& published_dir);

// Starts a peer of the list: skipped (with spec.package) when its program or script is absent,
// else peer_process::start.
peer_start start_peer(peer_process& p, const peer_spec& spec, double ready_timeout_s);

// Where the Python peers are: $TANDEM_PEERS_DIR; else share/tandem/peers beside an installed
// tandem (<bin>/../share/tandem/peers); else the source tree's bench/peers (baked in at build time).
std::string peers_script_dir();
// A C++ peer (e.g. "tandem-peer-openblas-gemm"): in $TANDEM_PEERS_DIR, beside the tandem binary
// (the build tree), or in <bin>/../libexec/tandem (installed); empty when in none.
std::string peer_program(const std::string& name);

}  // namespace tandem::cli
