// tandem: run compute workloads on every backend this machine has, and compare them.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <new>

#include "cli.hpp"
#include "tandem/env.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"

namespace {

// Parses the command line and runs the command; returns the exit status, with one line on stderr
// for anything but success.
int run(CLI::App& app, int argc, char** argv) {
  namespace cli = tandem::cli;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string cmd = "tandem";
    for (const CLI::App* sub : app.get_subcommands()) cmd += " " + sub->get_name();
    std::cerr << cmd << ": error: " << e.what() << " (see '" << cmd << " --help')\n";
    return cli::exit_usage;
  } catch (const tandem::usage_error& e) {
    std::cerr << "tandem: error: " << e.what() << "\n";
    return cli::exit_usage;
  } catch (const tandem::unavailable_error& e) {
    std::cerr << "tandem: error: " << e.what() << "\n";
    return cli::exit_unavailable;
  } catch (const tandem::interrupted& e) {
    std::cerr << "tandem: " << e.what() << "\n";
    return e.exit_status();
  } catch (const cli::exit_status& e) {
    return e.code;
  } catch (const std::bad_alloc& e) {
    // A bare "std::bad_alloc" says nothing; the shared arena's own message says what to change.
    // Written without allocating: memory may still be short here.
    const bool plain = std::strcmp(e.what(), std::bad_alloc().what()) == 0;
    std::fputs("tandem: error: out of memory: ", stderr);
    std::fputs(plain ? "the run needed more memory than this machine gave it" : e.what(), stderr);
    std::fputs("\n", stderr);
    return cli::exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "tandem: error: " << e.what() << "\n";
    return cli::exit_failure;
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
  return cli::check_stdout(run(app, argc, argv));
}
