// The CLI's pieces: flags every workload shares, the commands, the peers and the output.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/report.hpp"
#include "workload_command.hpp"

namespace tandem::cli {

// Exit statuses, documented in the README.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;      // a run failed, backends disagreed, or stdout could not be written
inline constexpr int exit_usage = 2;        // bad flag or value
inline constexpr int exit_unavailable = 3;  // a backend asked for alone cannot run here
inline constexpr int exit_regression = 4;   // `tandem bench --compare`: a result slower beyond --fail-above

// Thrown by a command to end with a status other than 0 after printing what it had to say.
struct exit_status {
  int code;
};

struct common_flags {
  std::string backend = "auto";
  unsigned workers = 0;  // 0: the backend's default
  unsigned repeat = 5;
  unsigned warmup = 1;
  std::uint64_t seed = 42;
  unsigned max_retries = 3;    // procs: extra attempts for a chunk whose worker died
  double chunk_timeout = 0;    // procs: seconds before a chunk's worker is killed; 0: none
  double stall_timeout = 60;   // procs: seconds a worker may hold a chunk without CPU time; 0: never
  bool json = false;
  std::string out;  // write the JSON document here too (atomically); empty: not asked for
};

// Validators for flag values, applied to the text before CLI11 converts it (flag_values.cpp):
// plain decimal digits within [min, max]; a finite decimal number within [min, max]; any text but
// the empty one.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);
CLI::Validator finite_number(double min = -std::numeric_limits<double>::infinity(),
                             double max = std::numeric_limits<double>::infinity());
CLI::Validator non_empty();

// A flag the chosen run would not use is a mistake to report, not to ignore: throws usage_error
// "COMMAND: --FLAG WHY" for the first of `flags` given on the command line.
void refuse_given(std::string_view command, std::initializer_list<const CLI::Option*> flags, std::string_view why);

void add_common_flags(CLI::App& cmd, common_flags& f, const std::string& default_backend);
run_options to_run_options(const common_flags& f);

// The --out destination (docs/io.md, "The CLI's outputs"). Made when a command starts, before any
// run: a path that cannot be written is a usage_error naming it and the reason (exit 2), instead of
// a run thrown away at the end. write() then replaces a regular file (or makes a new one) through
// a temporary file beside it and a rename, and writes anything else (/dev/null, /dev/stdout, a
// FIFO) directly; no temporary file outlives the process, whatever ends it.
class out_file {
 public:
  explicit out_file(std::string path);
  void write(const std::string& text) const;

 private:
  std::string path_;
  bool direct_ = false;
};

// The --out destination of these flags, checked; none when --out was not given.
std::optional<out_file> out_destination(const common_flags& f);

// Prints the tables (or the JSON document), writes `out`, and returns the exit status.
int emit(const common_flags& f, const report& r, const std::optional<out_file>& out);

// Flushes stdout and returns `status`, or exit_failure with one line on stderr when what was
// printed could not all be written (a full disk, a closed descriptor).
int check_stdout(int status);

void add_info_command(CLI::App& app);
// `tandem <name>` for one workload of the list: the common flags, the workload's own, the run and
// the output.
void add_workload_command(CLI::App& app, const workload_command& w);
void add_bench_command(CLI::App& app);

}  // namespace tandem::cli
