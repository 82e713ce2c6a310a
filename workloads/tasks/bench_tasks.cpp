// The tasks workload (8 tasks of sum i*i, i < 10^7) on seq and on the thread pool: the 2-worker
// threads run should take at most 1/1.8 of seq's time on a 2-core machine.
// Run: build/bench/bench_tasks --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>

#include "tandem/backend.hpp"
#include "tandem/workloads/tasks.hpp"

namespace {

void tasks_on(benchmark::State& state, const char* backend) {
  const auto workers = static_cast<unsigned>(state.range(0));
  auto ex = tandem::make_executor(backend, workers);
  const tandem::tasks_options o{8, 10'000'000};
  for (auto _ : state) benchmark::DoNotOptimize(tandem::run_tasks(*ex, o));
  state.SetItemsProcessed(state.iterations() * std::int64_t(o.count * o.n));
}

void seq(benchmark::State& s) { tasks_on(s, "seq"); }
void threads(benchmark::State& s) { tasks_on(s, "threads"); }

BENCHMARK(seq)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(threads)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
