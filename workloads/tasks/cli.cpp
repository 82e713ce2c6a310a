// `tandem tasks`: its flags and its `tandem bench` entry.
#include <cstdint>
#include <regex>
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

// The published concurrent.futures example's problem (smaller with --quick), beside that example.
bench_entry bench(bool quick) {
  const tasks_options t = quick ? tasks_options{8, 1'000'000} : tasks_options{};
  return {make_tasks_workload(t), [t](const std::string& dir) {
            // "n=... tasks=... workers=2 seq=11.000s threads=11.180s procs=4.700s"
            static const std::regex line(R"(seq=([0-9.]+)s threads=([0-9.]+)s procs=([0-9.]+)s)");
            return run_python_peer(dir, "tasks", "python_pools.py", {std::to_string(t.n), std::to_string(t.count)},
                                   line, "python concurrent.futures",
                                   {"sequential", "ThreadPoolExecutor", "ProcessPoolExecutor"});
          }};
}
}  // namespace

const workload_command& tasks_command() {
  static const workload_command c{
      "tasks", "CPU-bound tasks: COUNT tasks, each the exact sum of i*i for i < N (the concurrent.futures example)",
      add_flags, bench};
  return c;
}

}  // namespace tandem::cli
