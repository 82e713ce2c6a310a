// Crossovers: the problem size from which a parallel backend beats the one it replaces, found in a
// bench document's results, kept in a small file in the user's cache folder by `tandem bench
// --calibrate`, and read by `auto` (choose_auto) in place of the workloads' built-in thresholds.
// The rule, the file and its format: docs/execution-model.md, "auto".
#pragma once

#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "tandem/machine.hpp"

namespace tandem {

// The report document's "crossovers" array (schema 2) from its "results" (and "skipped"): per
// (workload, case), threads and procs against seq, and gpu against the fastest CPU backend (seq,
// threads, procs) at each size, from the medians. The crossover is the smallest measured size
// from which the backend is faster at that size and at every larger one; between the last losing
// and the first winning size the point where the time ratio crosses 1 is interpolated (log-log).
// Each entry has the schema's fields plus "work_unit" (the unit of work_per_run) and
// "sizes_compared" (0: the backend was skipped or its reference never ran; not a measurement).
nlohmann::json find_crossovers(const nlohmann::json& doc);

// Where the calibration file lives: $TANDEM_CALIBRATION if set and not empty; else
// $XDG_CACHE_HOME/tandem/crossovers.json (when absolute); else $HOME/.cache/tandem/crossovers.json;
// "" when none of them is set.
std::string calibration_path();

// What `auto` knows about one (workload, case): per backend ("threads", "procs", "gpu") the work
// per run from which it wins, std::nullopt when it won at no measured size. A backend absent from
// the map was not measured: auto uses the workload's built-in threshold for it.
struct calibrated_crossovers {
  std::string unit;  // the workload's work unit, e.g. "rows" (no "/s")
  std::map<std::string, std::optional<double>> from;
};

// The machine a calibration was measured on; it holds only there.
struct calibration_machine {
  std::string cpu;
  unsigned logical_cores = 0;
  std::optional<std::string> gpu;  // device 0's name
  static calibration_machine of(const machine_info& m);
  std::string describe() const;  // "AMD EPYC 9B45, 2 logical cores, no GPU"
};

struct calibration {
  std::string path;  // the file it was read from
  std::string made;  // UTC, ISO 8601
  std::string tandem_version;
  calibration_machine machine;
  std::map<std::pair<std::string, std::string>, calibrated_crossovers> crossovers;  // by (workload, case)
  // Not empty when the file was measured on another machine, saying how it differs: auto then
  // uses the built-in thresholds and says why.
  std::string ignored;
};

// Writes the calibration file for `crossovers` (find_crossovers' array) measured on `m`: creates
// the folder, and writes the whole file or nothing (a temporary file renamed onto PATH). Entries
// with sizes_compared 0 are not measurements and are left out. Throws usage_error when PATH
// cannot be written.
void write_calibration(const nlohmann::json& crossovers, const machine_info& m, const std::string& path);

// Reads the calibration file at calibration_path() (or `path`), checked against this machine.
// No file (or no path): std::nullopt, and auto uses the built-in thresholds. A file that cannot
// be read or is not this format: usage_error naming the file and saying to re-run `tandem bench
// --calibrate` or delete it.
std::optional<calibration> load_calibration();
std::optional<calibration> load_calibration(const std::string& path);

// What choose_auto uses: load_calibration() once per process, kept (a malformed file is not
// kept: every call throws its usage_error).
std::optional<calibration> calibration_for_auto();
// For tests, which change TANDEM_CALIBRATION between cases: the next calibration_for_auto() reads
// the file again.
void forget_loaded_calibration();

// What `tandem bench --calibrate` does after its runs: finds the crossovers in the bench document
// `doc`, writes them to `path` (default: calibration_path()) for this machine, and tells `notes`
// where and what, one line per crossover. Crossovers already in the file for other (workload,
// case) pairs, measured on this machine, are kept. Returns the crossovers array (for the
// document's "crossovers"). Throws usage_error when there is no place for the file.
nlohmann::json calibrate_from(const nlohmann::json& doc, std::ostream& notes);
nlohmann::json calibrate_from(const nlohmann::json& doc, std::ostream& notes, const std::string& path);

}  // namespace tandem
