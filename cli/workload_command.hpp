// What a workload's folder gives the CLI: its command's name and flags, the words printed under
// its timing table, and its `tandem bench` entry. The generated workload list (from
// workloads/CMakeLists.txt) holds one per workload; the generic command in commands.cpp owns the
// common flags, the run and the output. See docs/adding-a-workload.md.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/report.hpp"
#include "tandem/workload.hpp"

namespace tandem::cli {

struct common_flags;

// Builds the workload from its flags once they are parsed (and from the common ones, e.g. --seed).
using workload_factory = std::function<std::unique_ptr<workload>(const common_flags&)>;

// One problem of `tandem bench` for a workload, over a ladder of sizes: `make` builds it at a
// size (in `size_unit`, the case's own measure: rows, elements, paths, n of an n x n x n product),
// from the seed of --seed. A workload has one case, or a few that exercise different code (reduce's
// sum and count-matches). The peers measured beside each size are in cli/bench_peers.cpp.
struct bench_case {
  std::string name;       // "" for the workload's main problem; else what differs, e.g. "count-matches"
  std::string size_unit;  // e.g. "rows"
  // The ladders of `--sizes small|default|large`, ascending. `small` is what --quick runs.
  std::vector<double> small, normal, large;
  std::function<std::unique_ptr<workload>(double size, std::uint64_t seed)> make;
};

struct workload_command {
  std::string_view name;     // the subcommand: `tandem <name>`
  std::string_view summary;  // one line for `tandem --help`
  // Adds the workload's own flags to its subcommand; returns what builds the workload from them.
  workload_factory (*add_flags)(CLI::App& cmd);
  // The problems `tandem bench` runs, each over a ladder of sizes.
  std::vector<bench_case> (*bench)();
  // Optional: the answer in words, printed under the table (not with --json).
  void (*print_answer)(const run_report& r) = nullptr;
  // Optional: the run is `tandem <name> <verb>` (forest predict), and add_commands adds the other
  // subcommands of `tandem <name>` (forest info).
  std::string_view verb = {};
  std::string_view verb_summary = {};
  void (*add_commands)(CLI::App& cmd) = nullptr;
};

// The workload list, in the order of workloads/CMakeLists.txt (generated).
std::span<const workload_command* const> workload_commands();

}  // namespace tandem::cli
