// Amortised dispatch cost per task: Tandem's thread_pool against oneTBB on the same thread count.
//
// Each task is a trivial body (one store), so the time per task is the scheduler's overhead. Two
// shapes:
//   - bulk: M tasks launched together (thread_pool::for_each; tbb::task_group::run M times;
//     tbb::parallel_for with a simple partitioner, one task per index);
//   - fork-join: a loop of 2 tasks, repeated (the cost of one small parallel region).
// Run: build/bench/bench_pool --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <tbb/blocked_range.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <thread>
#include <vector>

#include "tandem/thread_pool.hpp"

namespace {

const int threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));

std::vector<std::size_t>& sink(std::size_t n) {
  static std::vector<std::size_t> v;
  if (v.size() < n) v.resize(n);
  return v;
}

void tandem_bulk(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  tandem::thread_pool pool(static_cast<unsigned>(threads - 1));  // the caller is the other thread
  auto& out = sink(m);
  for (auto _ : state) {
    pool.for_each(m, [&](std::size_t i) { out[i] = i; });
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ns_per_task"] =
      benchmark::Counter(double(state.range(0)), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void tbb_task_group_bulk(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  tbb::task_arena arena(threads);
  auto& out = sink(m);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::task_group g;
      for (std::size_t i = 0; i < m; ++i) g.run([&out, i] { out[i] = i; });
      g.wait();
    });
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ns_per_task"] =
      benchmark::Counter(double(state.range(0)), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void tbb_parallel_for_bulk(benchmark::State& state) {
  const auto m = static_cast<std::size_t>(state.range(0));
  tbb::task_arena arena(threads);
  auto& out = sink(m);
  for (auto _ : state) {
    arena.execute([&] {
      tbb::parallel_for(tbb::blocked_range<std::size_t>(0, m, 1),
                        [&](const tbb::blocked_range<std::size_t>& r) {
                          for (std::size_t i = r.begin(); i < r.end(); ++i) out[i] = i;
                        },
                        tbb::simple_partitioner());
    });
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ns_per_task"] =
      benchmark::Counter(double(state.range(0)), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void tandem_fork_join(benchmark::State& state) {
  tandem::thread_pool pool(static_cast<unsigned>(threads - 1));
  auto& out = sink(2);
  for (auto _ : state) {
    pool.for_each(2, [&](std::size_t i) { out[i] = i; });
    benchmark::ClobberMemory();
  }
}

void tbb_task_group_fork_join(benchmark::State& state) {
  tbb::task_arena arena(threads);
  auto& out = sink(2);
  arena.execute([&] {
    for (auto _ : state) {
      tbb::task_group g;
      g.run([&] { out[0] = 0; });
      g.run([&] { out[1] = 1; });
      g.wait();
      benchmark::ClobberMemory();
    }
  });
}

BENCHMARK(tandem_bulk)->Arg(1 << 10)->Arg(1 << 16)->UseRealTime();
BENCHMARK(tbb_task_group_bulk)->Arg(1 << 10)->Arg(1 << 16)->UseRealTime();
BENCHMARK(tbb_parallel_for_bulk)->Arg(1 << 10)->Arg(1 << 16)->UseRealTime();
BENCHMARK(tandem_fork_join)->UseRealTime();
BENCHMARK(tbb_task_group_fork_join)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
