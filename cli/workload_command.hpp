// What a workload's folder gives the CLI: its command's name and flags, the words printed under
// its timing table, and its `tandem bench` entry. The generated workload list (from
// workloads/CMakeLists.txt) holds one per workload; the generic command in commands.cpp owns the
// common flags, the run and the output. See docs/adding-a-workload.md.
#pragma once

#include <CLI/CLI.hpp>

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

// One workload of `tandem bench`: its built-in problem, and the peers measured beside it in the
// same run (none, with a note on stderr, when they cannot run).
struct bench_entry {
  std::unique_ptr<workload> work;
  std::function<std::vector<peer_record>(const std::string& peers_dir)> peers;
};

struct workload_command {
  std::string_view name;     // the subcommand: `tandem <name>`
  std::string_view summary;  // one line for `tandem --help`
  // Adds the workload's own flags to its subcommand; returns what builds the workload from them.
  workload_factory (*add_flags)(CLI::App& cmd);
  // The built-in problem of `tandem bench` (smaller with --quick) and its peers.
  bench_entry (*bench)(bool quick);
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
