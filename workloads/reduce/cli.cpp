// `tandem reduce`: its flags and its `tandem bench` entry. On this branch only --op count-matches;
// the numeric reductions bring their own flags, and this file stays a thin front to them.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "cli.hpp"
#include "tandem/errors.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace tandem::cli {

namespace {
workload_factory add_flags(CLI::App& cmd) {
  struct state {
    std::string op;
    count_matches_options o;
  };
  auto s = std::make_shared<state>();
  cmd.add_option("--op", s->op, "The reduction: count-matches (lines of --input containing --pattern, as grep -c -F)")
      ->required()
      ->check(CLI::IsMember({"count-matches"}));
  cmd.add_option("--pattern", s->o.pattern,
                 "count-matches: the literal to look for (no newline, at most 4096 bytes; '' matches every line)");
  cmd.add_option("-i,--input", s->o.path, "count-matches: the text file")->check(non_empty());
  return [s](const common_flags&) {
    if (s->o.path.empty()) throw usage_error("--op count-matches needs --input FILE");
    return make_count_matches_workload(s->o);
  };
}

// The Ray example's problem: lines containing "ERROR" in a generated log (10^6 lines, 10^4 with
// --quick). The file is unlinked once mapped; the mapping keeps its pages.
bench_entry bench(bool quick) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tandem_bench_log_" + std::to_string(::getpid()))).string();
  write_count_matches_log(path, quick ? 10'000 : 1'000'000, 42);
  count_matches_options o;
  o.path = path;
  o.pattern = "ERROR";
  auto w = make_count_matches_workload(o);
  std::filesystem::remove(path);
  return {std::move(w), [](const std::string&) { return std::vector<peer_record>{}; }};
}
}  // namespace

const workload_command& reduce_command() {
  static const workload_command c{"reduce", "Reductions: --op count-matches counts lines containing a literal (grep -c -F)",
                                  add_flags, bench};
  return c;
}

}  // namespace tandem::cli
