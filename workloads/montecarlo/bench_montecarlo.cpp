// Monte Carlo throughput on the CPU backends (and the GPU when one is usable), in path-steps per
// second. Peers (QuantLib, NumPy, the Python loop) run in the same run through
// workloads/montecarlo/montecarlo_peers.sh, which also computes the ratios written in workloads/montecarlo/README.md.
#include <benchmark/benchmark.h>

#include <memory>

#include "tandem/build_config.hpp"
#include "tandem/executors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"

namespace {

using namespace tandem;

montecarlo_options published(std::uint64_t paths) {
  montecarlo_options o;  // defaults: the published example (252 steps, sigma 0.02, S0 100)
  o.paths = paths;
  return o;
}

montecarlo_options european_call(std::uint64_t paths) {
  montecarlo_options o;  // QuantLib peer's option: S0 = K = 100, r = 5%, sigma = 20%, T = 1, 252 steps
  o.paths = paths;
  o.option = kernels::mc_option::call;
  o.sigma = 0.2;
  o.rate = 0.05;
  o.dt = 1.0 / 252;
  return o;
}

void run(benchmark::State& state, executor& ex, const montecarlo_options& o) {
  for (auto _ : state) {
    const montecarlo_result r = run_montecarlo(ex, o);
    benchmark::DoNotOptimize(r.mean);
  }
  const double steps = static_cast<double>(o.paths) * o.steps;
  state.counters["path_steps_per_s"] = benchmark::Counter(steps, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_published_seq(benchmark::State& state) {
  seq_executor ex;
  run(state, ex, published(static_cast<std::uint64_t>(state.range(0))));
}
void BM_published_threads(benchmark::State& state) {
  thread_executor ex(static_cast<unsigned>(state.range(1)));
  run(state, ex, published(static_cast<std::uint64_t>(state.range(0))));
}
void BM_european_call_threads(benchmark::State& state) {
  thread_executor ex(static_cast<unsigned>(state.range(1)));
  run(state, ex, european_call(static_cast<std::uint64_t>(state.range(0))));
}
void BM_asian_call_control_threads(benchmark::State& state) {
  thread_executor ex(2);
  montecarlo_options o = european_call(10'000);
  o.option = kernels::mc_option::asian_call;
  o.control_variate = true;
  run(state, ex, o);
}
void BM_sobol_call_threads(benchmark::State& state) {
  thread_executor ex(2);
  montecarlo_options o = european_call(16 * 4096);
  o.sampling = kernels::mc_sampling::sobol;
  run(state, ex, o);
}
// The GPU engine alone: made once (its buffers and tables), then timed runs, as the runner does.
void gpu_run(benchmark::State& state, const montecarlo_options& o) {
#if TANDEM_WITH_GPU_CODE
  if (!gpu::available()) {
    state.SkipWithError(("no usable GPU: " + gpu::discover().reason).c_str());
    return;
  }
  auto ctx = gpu::context::open();
  montecarlo_gpu engine(*ctx, montecarlo_job(o));
  benchmark::DoNotOptimize(run_montecarlo(engine, o).mean);  // warm the pool
  for (auto _ : state) benchmark::DoNotOptimize(run_montecarlo(engine, o).mean);
  state.counters["path_steps_per_s"] =
      benchmark::Counter(static_cast<double>(o.paths) * o.steps, benchmark::Counter::kIsIterationInvariantRate);
#else
  (void)o;
  state.SkipWithError("no usable GPU: this build has no GPU code");
#endif
}
void BM_published_gpu(benchmark::State& state) { gpu_run(state, published(static_cast<std::uint64_t>(state.range(0)))); }
void BM_asian_call_control_gpu(benchmark::State& state) {
  montecarlo_options o = european_call(static_cast<std::uint64_t>(state.range(0)));
  o.option = kernels::mc_option::asian_call;
  o.control_variate = true;
  gpu_run(state, o);
}
void BM_sobol_call_gpu(benchmark::State& state) {
  montecarlo_options o = european_call(static_cast<std::uint64_t>(state.range(0)));
  o.sampling = kernels::mc_sampling::sobol;
  gpu_run(state, o);
}

BENCHMARK(BM_published_seq)->Arg(10'000)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_published_threads)->Args({10'000, 2})->Args({1'000'000, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_european_call_threads)->Args({10'000, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_asian_call_control_threads)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_sobol_call_threads)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_published_gpu)->Arg(100'000'000)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_asian_call_control_gpu)->Arg(16'777'216)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_sobol_call_gpu)->Arg(16 * 1'048'576)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
