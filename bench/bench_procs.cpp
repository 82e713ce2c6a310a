// The procs backend's costs: pool start, one small task's round trip, the per-task cost of a
// batched job, and how fast a 200 MB shared input reaches a worker. The threads backend runs the
// same round trip for scale; the Python ProcessPoolExecutor peer is bench/peer_process_pool.py,
// run in the same session (docs/procs.md has the commands and the numbers).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <numeric>

#include "tandem/executors.hpp"
#include "tandem/process_pool.hpp"
#include "tandem/shared_buffer.hpp"

namespace {

using tandem::chunk_plan;
using tandem::chunk_range;

// The smallest task: returns its first index.
struct noop_kernel {
  struct params_type {
    std::uint64_t unused = 0;
  };
  using partial_type = std::uint64_t;
  static partial_type run(const params_type&, chunk_range r) { return r.begin; }
};

// Reads a shared input in place: the sum of its 64-bit words.
struct sum_kernel {
  struct params_type {
    const std::uint64_t* words = nullptr;
  };
  using partial_type = std::uint64_t;
  static partial_type run(const params_type& p, chunk_range r) {
    std::uint64_t s = 0;
    for (std::size_t i = r.begin; i < r.end; ++i) s += p.words[i];
    return s;
  }
};

void pool_start(benchmark::State& state) {
  const unsigned workers = unsigned(state.range(0));
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto pool = std::make_unique<tandem::process_pool>(tandem::procs_options{workers, 3, 0});
    const auto t1 = std::chrono::steady_clock::now();
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    pool.reset();  // stopping is not part of starting
  }
}
BENCHMARK(pool_start)->Arg(2)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(50);

template <class Executor>
void round_trip(benchmark::State& state, Executor& ex) {
  const chunk_plan plan(1, 1);
  const noop_kernel::params_type p;
  std::uint64_t partial = 0;
  const tandem::chunk_job job = tandem::make_chunk_job<noop_kernel>(plan, p);
  for (auto _ : state) {
    ex.run(job, &partial);
    benchmark::DoNotOptimize(partial);
  }
  state.SetItemsProcessed(state.iterations());
}

void procs_round_trip(benchmark::State& state) {
  tandem::process_pool pool({unsigned(state.range(0)), 3, 0});
  round_trip(state, pool);
}
BENCHMARK(procs_round_trip)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

void threads_round_trip(benchmark::State& state) {
  tandem::thread_executor pool(unsigned(state.range(0)));
  round_trip(state, pool);
}
BENCHMARK(threads_round_trip)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One job of many tiny tasks: workers claim them from a shared counter.
void procs_batched(benchmark::State& state) {
  tandem::process_pool pool({unsigned(state.range(0)), 3, 0});
  const chunk_plan plan(std::size_t(state.range(1)), 1);
  const noop_kernel::params_type p;
  // Partials straight in shared memory, as a workload with shared outputs would have them.
  tandem::shared_buffer partials(plan.chunks() * sizeof(std::uint64_t));
  const tandem::chunk_job job = tandem::make_chunk_job<noop_kernel>(plan, p);
  for (auto _ : state) {
    pool.run(job, partials.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * std::int64_t(plan.chunks()));
  // Seconds per task, printed with an SI prefix (e.g. 120n).
  state.counters["per_task"] = benchmark::Counter(double(state.iterations()) * double(plan.chunks()),
                                                  benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(procs_batched)->Args({1, 100'000})->Args({2, 100'000})->Unit(benchmark::kMillisecond)->UseRealTime();

constexpr std::size_t input_bytes = std::size_t{200} << 20;

tandem::shared_buffer filled_input() {
  tandem::shared_buffer input(input_bytes);
  auto words = input.as<std::uint64_t>();
  std::iota(words.begin(), words.end(), std::uint64_t{1});
  return input;
}

// The whole run() of a one-chunk job that reads all 200 MB in a worker: the input's effective
// rate into the worker. Warm: the worker has already mapped the pages.
void procs_shared_input_200MB(benchmark::State& state) {
  tandem::process_pool pool({1, 3, 0});
  const tandem::shared_buffer input = filled_input();
  const chunk_plan plan(input_bytes / 8, input_bytes / 8);
  const sum_kernel::params_type p{input.as<std::uint64_t>().data()};
  std::uint64_t sum = 0;
  const tandem::chunk_job job = tandem::make_chunk_job<sum_kernel>(plan, p);
  for (auto _ : state) {
    pool.run(job, &sum);
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * std::int64_t(input_bytes));
}
BENCHMARK(procs_shared_input_200MB)->Unit(benchmark::kMillisecond)->UseRealTime();

// Cold: a fresh 200 MB input each time, first seen by the worker in this run (its page tables
// fill as it reads).
void procs_shared_input_200MB_fresh(benchmark::State& state) {
  tandem::process_pool pool({1, 3, 0});
  const chunk_plan plan(input_bytes / 8, input_bytes / 8);
  std::uint64_t sum = 0;
  tandem::shared_buffer input;
  for (auto _ : state) {
    state.PauseTiming();
    input = tandem::shared_buffer();  // releasing 200 MB takes longer than reading it: not timed
    input = filled_input();
    const sum_kernel::params_type p{input.as<std::uint64_t>().data()};
    const tandem::chunk_job job = tandem::make_chunk_job<sum_kernel>(plan, p);
    state.ResumeTiming();
    pool.run(job, &sum);
    benchmark::DoNotOptimize(sum);
  }
  state.SetBytesProcessed(state.iterations() * std::int64_t(input_bytes));
}
BENCHMARK(procs_shared_input_200MB_fresh)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

// The ceiling: the same read in the calling process.
void local_read_200MB(benchmark::State& state) {
  const tandem::shared_buffer input = filled_input();
  const chunk_plan plan(input_bytes / 8, input_bytes / 8);
  const sum_kernel::params_type p{input.as<std::uint64_t>().data()};
  for (auto _ : state) benchmark::DoNotOptimize(sum_kernel::run(p, plan.range(0)));
  state.SetBytesProcessed(state.iterations() * std::int64_t(input_bytes));
}
BENCHMARK(local_read_200MB)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
