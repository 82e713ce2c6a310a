// `tandem tasks`: its flags and its `tandem bench` entry.
#include <cstdint>
#include <string>

#include "cli.hpp"
#include "tandem/workloads/tasks.hpp"

namespace tandem::cli {

namespace {
workload_factory add_flags(CLI::App& cmd) {
  auto o = std::make_shared<tasks_options>();
  cmd.add_option("-c,--count", o->count, "Number of tasks")
      ->check(whole_number(1, std::uint64_t{1} << 20))
      ->capture_default_str();
  cmd.add_option("-n,--n", o->n, "Terms per task (at most 2^32)")
      ->check(whole_number(0, kernels::tasks_max_n))
      ->capture_default_str();
  return [o](const common_flags&) { return make_tasks_workload(*o); };
}

// The published concurrent.futures example's problem (8 tasks), over the terms per task.
std::vector<bench_case> bench() {
  return {{"", "terms per task", {1e4, 1e6}, {1e4, 1e6, 1e7}, {1e4, 1e6, 1e7, 1e8},
           [](double size, std::uint64_t) { return make_tasks_workload({8, std::uint64_t(size)}); }}};
}
}  // namespace

const workload_command& tasks_command() {
  static const workload_command c{
      "tasks", "CPU-bound tasks: COUNT tasks, each the exact sum of i*i for i < N (the concurrent.futures example)",
      add_flags, bench};
  return c;
}

}  // namespace tandem::cli
