// The tasks workload (8 tasks of sum i*i, i < 10^7) on seq and on the thread pool: the 2-worker
// threads run should take at most 1/1.8 of seq's time on a 2-core machine. `gpu` times the Thrust
// path alone (tasks_kernel::run_gpu on a context opened once, memory from its pool); it reports
// itself skipped, with the reason, without a device (scripts/gpu-check.sh runs it on one).
// Run: build/workloads/tasks/bench_tasks --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/build_config.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
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

void gpu(benchmark::State& state) {
#if TANDEM_WITH_GPU_CODE
  if (!tandem::gpu::available()) {
    state.SkipWithError(("no usable GPU: " + tandem::gpu::discover().reason).c_str());
    return;
  }
  auto ctx = tandem::gpu::context::open();
  const tandem::tasks_options o{8, static_cast<std::uint64_t>(state.range(0))};
  const auto j = tandem::tasks_job(o);
  const auto& p = j.params;
  const tandem::chunk_plan& plan = j.plan;
  std::vector<tandem::kernels::uint128> out(plan.chunks());
  tandem::tasks_kernel::run_gpu(*ctx, p, plan, {0, plan.chunks()}, out.data());  // warm the pool
  for (auto _ : state) tandem::tasks_kernel::run_gpu(*ctx, p, plan, {0, plan.chunks()}, out.data());
  state.SetItemsProcessed(state.iterations() * std::int64_t(o.count * o.n));
#else
  state.SkipWithError("no usable GPU: this build has no GPU code");
#endif
}

BENCHMARK(seq)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(threads)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gpu)->Arg(10'000'000)->Arg(1'000'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
