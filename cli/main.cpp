// tandem: run compute workloads on every backend this machine has, and compare them.
#include <iostream>

#include "cli.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"

int main(int argc, char** argv) {
  namespace cli = tandem::cli;
  CLI::App app{"Tandem: the same compute workloads on threads, processes and GPUs, with the same answer everywhere"};
  app.name("tandem");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tandem ") + tandem::this_build().version);
  cli::add_info_command(app);
  for (const cli::workload_command* w : cli::workload_commands()) cli::add_workload_command(app, *w);
  cli::add_bench_command(app);

  // Ctrl-C and SIGTERM stop the procs workers cleanly and exit 130 / 143.
  tandem::install_interrupt_handlers();
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
