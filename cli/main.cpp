// tandem: run compute workloads on every backend this machine has, and compare them.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "cli.hpp"
#include "tandem/env.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/ranks.hpp"

namespace {

// Whether this process prints what ends the command: every process of a plain run; under an MPI
// launcher rank 0 only (the same line from every rank says nothing more), except that a rank that
// fails alone during a run names itself and ends the job (ranks.hpp).
bool speaks() {
  const tandem::ranks::world_info& w = tandem::ranks::world();
  return w.active ? w.rank == 0 : tandem::ranks::launcher().rank == 0;
}

// Parses the command line and runs the command; returns the exit status, with one line on stderr
// for anything but success.
int run(CLI::App& app, int argc, char** argv) {
  namespace cli = tandem::cli;
  namespace ranks = tandem::ranks;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return speaks() ? app.exit(e) : cli::exit_ok;
  } catch (const CLI::CallForAllHelp& e) {
    return speaks() ? app.exit(e) : cli::exit_ok;
  } catch (const CLI::CallForVersion& e) {
    return speaks() ? app.exit(e) : cli::exit_ok;
  } catch (const CLI::ParseError& e) {
    std::string cmd = "tandem";
    for (const CLI::App* sub : app.get_subcommands()) cmd += " " + sub->get_name();
    if (speaks()) std::cerr << cmd << ": error: " << e.what() << " (see '" << cmd << " --help')\n";
    return cli::exit_usage;
  } catch (const cli::exit_status& e) {
    return e.code;
  } catch (const std::bad_alloc& e) {
    // A bare "std::bad_alloc" says nothing; the shared arena's own message says what to change.
    // Written without allocating: memory may still be short here.
    const bool plain = std::strcmp(e.what(), std::bad_alloc().what()) == 0;
    std::fputs("tandem: error: out of memory: ", stderr);
    if (ranks::distributed()) std::fputs("on one rank: ", stderr);
    std::fputs(plain ? "the run needed more memory than this machine gave it" : e.what(), stderr);
    std::fputs("\n", stderr);
    if (ranks::distributed()) ranks::abort(cli::exit_failure);
    return cli::exit_failure;
  } catch (...) {
    std::string message;
    const std::exception_ptr e = std::current_exception();
    const int status = ranks::status_of(e, message);
    bool is_interrupt = false;
    bool agreed = false;
    try {
      std::rethrow_exception(e);
    } catch (const tandem::interrupted&) {
      is_interrupt = true;
    } catch (const ranks::failure&) {
      agreed = true;
    } catch (...) {
    }
    const std::string line = is_interrupt ? "tandem: " + message : "tandem: error: " + message;
    if (ranks::distributed() && !agreed) {
      // This rank failed during a run while the others may wait for it: name it, end them all.
      std::cerr << "tandem: error: rank " << ranks::world().rank << " of " << ranks::world().size << ": " << message
                << "\n";
      ranks::abort(status);
    }
    if (speaks()) std::cerr << line << "\n";
    // An agreed failure: rank 0 gives the job's status; the other ranks end normally, so that
    // mpirun does not start ending them (with their own lines) while they finish MPI.
    if (agreed && ranks::distributed() && !ranks::is_root()) return cli::exit_ok;
    return status;
  }
  // A signal recorded but not acted on (docs/reliability.md) still decides the status.
  if (const int sig = tandem::interrupt_signal()) {
    std::cerr << "tandem: " << tandem::interrupted(sig).what() << "\n";
    return tandem::interrupted(sig).exit_status();
  }
  return cli::exit_ok;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = tandem::cli;
  CLI::App app{"Tandem: the same compute workloads on threads, processes and GPUs, with the same answer everywhere"};
  app.name("tandem");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tandem ") + tandem::this_build().version);
  cli::add_info_command(app);
  for (const cli::workload_command* w : cli::workload_commands()) cli::add_workload_command(app, *w);
  cli::add_bench_command(app);
  // A malformed TANDEM_* variable is a usage error before any command runs (after --help).
  app.parse_complete_callback([] { tandem::check_environment(); });

  // Ctrl-C and SIGTERM stop the procs workers cleanly and exit 130 / 143.
  tandem::install_interrupt_handlers();
  const int status = cli::check_stdout(run(app, argc, argv));
  tandem::ranks::finish();
  return status;
}
