// Reports: a table for people and one JSON document for machines. The document's schema
// (schema_version 2) is docs/report.schema.json; docs/report-formats.md describes it, and the
// other formats (CSV, Markdown, HTML) are rendered from it (report_formats.hpp).
// Doubles are written in their shortest round-trip form (at most 17 significant digits).
#pragma once

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/machine.hpp"
#include "tandem/runner.hpp"

namespace tandem {

inline constexpr int report_schema_version = 2;

// A measurement of something other than Tandem (a Python pool, NumPy, QuantLib) taken in the same
// run, for side-by-side comparison.
struct peer_record {
  std::string workload;
  std::string case_name;       // the bench case it stands beside ("" for the workload's main one)
  std::optional<double> size;  // the size it ran at, in the case's unit
  std::string peer;            // e.g. "python concurrent.futures"
  std::string variant;         // e.g. "ProcessPoolExecutor"
  timing time;                 // its own timing of the work, per run
  std::string stop = "fixed";  // why repetition stopped (as run_record::stop)
  std::string detail;          // what it is (library versions), in its own words
};

// A peer that could not run, and the package that would provide it.
struct peer_skip {
  std::string workload, case_name, peer, reason, package;
};

struct report {
  std::string command;  // "bench" or the workload's command
  // One per workload problem (and size, for `tandem bench`): its backends' records.
  std::vector<run_report> runs;
  std::vector<peer_record> peers;
  std::vector<peer_skip> peers_skipped;
  // `tandem bench` only (null otherwise): its settings, the machine's measured ceilings, and the
  // crossover sizes found in its results.
  nlohmann::json settings, ceilings, crossovers;
  bool agree() const;
};

nlohmann::json report_json(const machine_info& m, const report& r);
// The table: backend, workers, median / min / max time, throughput, speedup over seq; then the
// peers, with Tandem's best time's speedup over each.
// With `ceilings` (the bench's measured ones), each throughput's fraction of its ceiling too.
void print_table(std::ostream& out, const run_report& r, const std::vector<peer_record>& peers = {},
                 const nlohmann::json& ceilings = nullptr);

// 8.1e9 -> "8.10 G"; for throughput columns.
std::string si_format(double value);
// 1000000 -> "1e6", 2.5e5 -> "2.5e5", 4000 -> "4000"; for sizes.
std::string size_format(double value);
// (2000, "rows") -> "2000 rows"; (2000, "n") -> "n = 2000".
std::string size_words(double size, const std::string& unit);
// 0.0123 -> "12.30 ms"
std::string time_format(double seconds);

}  // namespace tandem
