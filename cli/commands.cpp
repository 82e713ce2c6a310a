#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "tandem/backend.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/machine.hpp"
#include "tandem/ranks.hpp"

namespace tandem::cli {

void add_common_flags(CLI::App& cmd, common_flags& f, const std::string& default_backend) {
  f.backend = default_backend;
  cmd.add_option("-b,--backend,--backends", f.backend,
                 "Backend, or a comma list to compare: seq, threads, procs, gpu, auto. In a list, a backend that "
                 "cannot run here is skipped with its reason")
      ->check(non_empty())
      ->capture_default_str();
  cmd.add_option("-w,--workers", f.workers, "Workers for threads/procs (default: logical cores)")
      ->check(whole_number(1, 4096));
  cmd.add_option("-r,--repeat", f.repeat, "Timed runs per backend")
      ->check(whole_number(1, 1000000))
      ->capture_default_str();
  cmd.add_option("--warmup", f.warmup, "Untimed runs before them")
      ->check(whole_number(0, 1000000))
      ->capture_default_str();
  cmd.add_option("--max-retries", f.max_retries,
                 "procs: extra attempts for a chunk whose worker crashed, timed out or stalled (0: none)")
      ->check(whole_number(0, 1000))
      ->capture_default_str();
  cmd.add_option("--chunk-timeout", f.chunk_timeout,
                 "procs: seconds a chunk may run before its worker is killed and the chunk retried (0: no limit)")
      ->check(finite_number(0.0, 1e9))
      ->capture_default_str();
  cmd.add_option("--stall-timeout", f.stall_timeout,
                 "procs: seconds a worker may hold a chunk without using CPU time (a deadlock, a wait that never "
                 "ends) before it is killed and the chunk retried; a stopped worker, after min(1, this) (0: never)")
      ->check(finite_number(0.0, 1e9))
      ->capture_default_str();
  cmd.add_option("--seed", f.seed, "Random seed for workloads that draw random numbers")
      ->check(whole_number(0, std::numeric_limits<std::uint64_t>::max()))
      ->capture_default_str();
  cmd.add_flag("--json", f.json, "Print one JSON document on stdout instead of tables");
  cmd.add_option("-o,--out", f.out,
                 "Also write the JSON document to this file: whole or not at all, checked before the runs; "
                 "/dev/null, /dev/stdout or a FIFO is written directly; never a file the run reads or writes")
      ->type_name("FILE")
      ->check(non_empty());
}

run_options to_run_options(const common_flags& f) {
  run_options o;
  o.backends = parse_backend_list(f.backend);
  if (f.workers != 0) o.workers = f.workers;
  o.repeat = f.repeat;
  o.warmup = f.warmup;
  o.procs = {f.max_retries, f.chunk_timeout, f.stall_timeout};
  return o;
}

std::optional<out_file> out_destination(const common_flags& f) {
  if (f.out.empty()) return std::nullopt;
  return out_file(f.out);
}

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Describe this machine: CPU, caches, GPUs (or why none), build features");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([json] {
    ranks::start();
    if (!ranks::is_root()) return;  // one description of the job's MPI world, from rank 0
    const machine_info m = describe_machine();
    if (*json) std::cout << to_json(m).dump(2) << "\n";
    else print_machine(std::cout, m);
  });
}

void add_workload_command(CLI::App& app, const workload_command& w) {
  auto* cmd = app.add_subcommand(std::string(w.name), std::string(w.summary));
  if (!w.verb.empty()) {
    CLI::App* top = cmd;
    cmd = top->add_subcommand(std::string(w.verb), std::string(w.verb_summary));
    if (w.add_commands) w.add_commands(*top);
    top->require_subcommand(1);
  }
  auto flags = std::make_shared<common_flags>();
  add_common_flags(*cmd, *flags, "auto");
  workload_factory make = w.add_flags(*cmd);
  cmd->callback([cmd, flags, make, &w] {
    ranks::start();
    std::optional<out_file> out;
    std::unique_ptr<workload> work;
    // A bad flag value or input fails on every rank at once, with rank 0's message (ranks.hpp).
    ranks::agreed([&] {
      if (ranks::is_root()) {
        out = out_destination(*flags);  // before the run: exit 2 if unwritable
        // Nor one of the run's own files (an input, or the workload's --output).
        if (out)
          for (const CLI::Option* o : cmd->get_options())
            if (o->get_type_name() == "FILE" && o->get_name() != "--out")
              for (const std::string& v : o->results()) ordered_file_sink::check_not_input(flags->out, v, o->get_name());
      }
      work = make(*flags);
    });
    report r;
    r.command = std::string(w.name);
    session sess;
    // Under MPI every rank runs its share; rank 0 holds the answer, prints it and writes the files.
    std::ostringstream quiet;
    r.runs.push_back(run_workload(*work, to_run_options(*flags), ranks::is_root() ? std::cerr : quiet, sess));
    if (!ranks::is_root()) return;
    const int status = emit(*flags, r, out);
    if (!flags->json && w.print_answer) w.print_answer(r.runs.front());
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace tandem::cli
