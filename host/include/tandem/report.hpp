// Reports: a table for people and one JSON document for machines.
//
// JSON schema (schema_version 1):
//   { "schema_version": 1, "tandem_version": "...", "machine": {cpu, os, gpu, build},
//     "results": [ { "workload", "backend", "requested_backend", "workers", "params", "result",
//                    "time_s": {"median", "min", "max", "runs", "samples": [...]},
//                    "throughput": {"value", "unit"}, "speedup_vs_seq" (when seq ran) } ],
//     "skipped": [ {"workload", "backend", "reason"} ],
//     "peers":   [ {"workload", "peer", "variant", "time_s", "detail"} ],
//     "agree": true|false }
// Doubles are written in their shortest round-trip form (at most 17 significant digits).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/machine.hpp"
#include "tandem/runner.hpp"

namespace tandem {

inline constexpr int report_schema_version = 1;

// A measurement of something other than Tandem (a Python pool, NumPy, QuantLib) taken in the same
// run, for side-by-side comparison.
struct peer_record {
  std::string workload;
  std::string peer;     // e.g. "python concurrent.futures"
  std::string variant;  // e.g. "ProcessPoolExecutor"
  double time_s = 0;
  std::string detail;   // the peer's own output line
};

struct report {
  std::vector<run_report> runs;
  std::vector<peer_record> peers;
  bool agree() const;
};

nlohmann::json report_json(const machine_info& m, const report& r);
// The table: backend, workers, median / min / max time, throughput, speedup over seq; then the
// peers, with Tandem's best time's speedup over each.
void print_table(std::ostream& out, const run_report& r, const std::vector<peer_record>& peers = {});

// 8.1e9 -> "8.10 G"; for throughput columns.
std::string si_format(double value);
// 0.0123 -> "12.30 ms"
std::string time_format(double seconds);

}  // namespace tandem
