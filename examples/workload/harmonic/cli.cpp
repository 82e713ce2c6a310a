// `tandem harmonic`: its flag and its `tandem bench` entry (no peers).
#include <cstdint>

#include "cli.hpp"
#include "tandem/workloads/harmonic.hpp"

namespace tandem::cli {

namespace {
workload_factory add_flags(CLI::App& cmd) {
  auto o = std::make_shared<harmonic_options>();
  // whole_number reads the text strictly: "-1" or "1e9" is refused, not turned into a huge count.
  cmd.add_option("-n,--n", o->n, "Terms of the series (at most 2^40)")
      ->check(whole_number(0, std::uint64_t{1} << 40))
      ->capture_default_str();
  return [o](const common_flags&) { return make_harmonic_workload(*o); };
}

std::vector<bench_case> bench() {
  return {{"", "terms", {1e6}, {1e6, 1e8}, {1e6, 1e8, 1e9},
           [](double size, std::uint64_t) { return make_harmonic_workload({std::uint64_t(size)}); }}};
}
}  // namespace

const workload_command& harmonic_command() {
  static const workload_command c{"harmonic", "Example workload: the harmonic number H(n), reproducible on every backend",
                                  add_flags, bench};
  return c;
}

}  // namespace tandem::cli
