// Reductions of 10^8 float64 (TANDEM_REDUCE_BENCH_N to change it) beside this machine's read
// bandwidth, measured in the same run by a plain read pass (integer adds of the same bytes, as
// many threads as Tandem's workers). bench/reduce_peers.py runs this program and NumPy round by
// round and writes the ratios the speed goals are stated in (docs/reduce.md).
//
// `gpu_*` time the device-resident path, CUB's own device-wide sum on the same data (the "CUB
// alone" reference) and the pinned host-to-device copy; they report themselves skipped, with the
// reason, without a device (scripts/gpu-check.sh runs them on one).
// Run: build/workloads/reduce/bench_reduce --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "reduce_cpu.hpp"
#include "reduce_gpu.hpp"
#include "tandem/backend.hpp"
#include "tandem/build_config.hpp"
#include "tandem/ceilings.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/kernels/reduce.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/workloads/reduce.hpp"

namespace {

using namespace tandem;

std::uint64_t bench_n() {
  if (const char* e = std::getenv("TANDEM_REDUCE_BENCH_N")) return std::strtoull(e, nullptr, 10);
  return 100'000'000;
}

// The array, generated once (normal, seed 42, like `tandem reduce --n`), in the memory the
// workload uses for generated data (huge pages, inherited by procs workers).
const reduce_input& data(reduce_dtype t) {
  struct held {
    inherited_buffer buf;
    reduce_input in;
  };
  static held f64, f32;
  held& h = t == reduce_dtype::f32 ? f32 : f64;
  if (!h.buf.data()) {
    const std::uint64_t n = bench_n();
    h.buf = inherited_buffer(n * (t == reduce_dtype::f32 ? 4 : 8));
    std::vector<std::jthread> pool;
    const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned k = 0; k < threads; ++k)
      pool.emplace_back([&, k] {
        for (std::uint64_t i = k; i < n; i += threads) {
          const double x = kernels::generated_element(42, kernels::reduce_dist::normal, i);
          if (t == reduce_dtype::f32) static_cast<float*>(h.buf.data())[i] = float(x);
          else static_cast<double*>(h.buf.data())[i] = x;
        }
      });
    pool.clear();
    h.in = {h.buf.data(), n, t};
  }
  return h.in;
}

std::int64_t bytes_of(const reduce_input& in) { return std::int64_t(in.n * (in.dtype == reduce_dtype::f32 ? 4 : 8)); }

// The read pass: every 64-bit word of the array added as an integer (the library's read kernel,
// tandem/ceilings.hpp, whose measure_read_bandwidth is `tandem bench`'s read ceiling), run as a job
// of the same 2^15-element chunks on the same executor as Tandem's cases, so the ceiling and the
// reductions pay the same scheduling and differ only in the arithmetic.
struct read_kernel {
  struct params_type {
    const std::uint64_t* w;
  };
  using partial_type = std::uint64_t;
  static partial_type run(const params_type& p, chunk_range r) {
    return ceilings_detail::read_words(p.w + r.begin, r.size());
  }
};

void read_pass(benchmark::State& state) {
  const reduce_input& in = data(reduce_dtype::f64);
  auto ex = make_executor(state.range(0) == 1 ? "seq" : "threads", unsigned(state.range(0)));
  const chunk_plan plan(in.n, reduce_chunk_elements);
  const read_kernel::params_type p{static_cast<const std::uint64_t*>(in.data)};
  std::vector<std::uint64_t> out(plan.chunks());
  for (auto _ : state) {
    ex->run(make_chunk_job<read_kernel>(plan, p), out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes_of(in));
}

void run_op(benchmark::State& state, const char* backend, reduce_op op, reduce_dtype t, bool exact) {
  const reduce_input& in = data(t);
  auto ex = make_executor(backend, unsigned(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(run_reduce(*ex, in, op, exact));
  state.SetBytesProcessed(state.iterations() * bytes_of(in));
  state.SetLabel(std::string(detail::reduce_simd_level()));
}

enum class gpu_case { tandem_sum, cub_sum, h2d_copy, streamed_sum };

void gpu_run(benchmark::State& state, gpu_case what) {
#if TANDEM_WITH_GPU_CODE
  if (!gpu::available()) {
    state.SkipWithError(("no usable GPU: " + gpu::discover().reason).c_str());
    return;
  }
  const reduce_input& in = data(reduce_dtype::f64);
  auto ctx = gpu::context::open();
  // Resident, or (streamed_sum) never resident: streamed from host memory every run.
  detail::reduce_gpu engine(*ctx, in, what == gpu_case::streamed_sum ? 1 : std::uint64_t{1} << 40);
  const std::size_t chunks = (in.n + reduce_chunk_elements - 1) / reduce_chunk_elements;
  std::vector<kernels::reduce_partial> out(chunks);
  for (auto _ : state) {
    if (what == gpu_case::cub_sum) benchmark::DoNotOptimize(engine.cub_sum());
    else if (what == gpu_case::h2d_copy) engine.copy_in_from_pinned();
    else engine.partials(kernels::pass_sum, {0, chunks}, out.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes_of(in));
  state.SetLabel(ctx->device_name());
#else
  (void)what;
  state.SkipWithError("no usable GPU: this build has no GPU code");
#endif
}

#define TANDEM_REDUCE_BENCH(NAME, BACKEND, OP, T, EXACT)                                             \
  void NAME(benchmark::State& s) { run_op(s, BACKEND, reduce_op::OP, reduce_dtype::T, EXACT); }     \
  BENCHMARK(NAME)->Arg(BACKEND[0] == 's' ? 1 : 2)->Unit(benchmark::kMillisecond)->UseRealTime();

TANDEM_REDUCE_BENCH(seq_sum, "seq", sum, f64, false)
TANDEM_REDUCE_BENCH(threads_sum, "threads", sum, f64, false)
TANDEM_REDUCE_BENCH(threads_sum_f32, "threads", sum, f32, false)
TANDEM_REDUCE_BENCH(threads_min, "threads", min, f64, false)
TANDEM_REDUCE_BENCH(threads_max, "threads", max, f64, false)
TANDEM_REDUCE_BENCH(threads_sumsq, "threads", sumsq, f64, false)
TANDEM_REDUCE_BENCH(threads_var, "threads", var, f64, false)
TANDEM_REDUCE_BENCH(threads_all, "threads", all, f64, false)
TANDEM_REDUCE_BENCH(procs_sum, "procs", sum, f64, false)
TANDEM_REDUCE_BENCH(seq_exact_sum, "seq", sum, f64, true)
TANDEM_REDUCE_BENCH(threads_exact_sum, "threads", sum, f64, true)
TANDEM_REDUCE_BENCH(threads_exact_var, "threads", var, f64, true)

BENCHMARK(read_pass)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

void gpu_tandem_sum(benchmark::State& s) { gpu_run(s, gpu_case::tandem_sum); }
void gpu_cub_sum(benchmark::State& s) { gpu_run(s, gpu_case::cub_sum); }
void gpu_h2d_copy(benchmark::State& s) { gpu_run(s, gpu_case::h2d_copy); }
void gpu_streamed(benchmark::State& s) { gpu_run(s, gpu_case::streamed_sum); }
BENCHMARK(gpu_tandem_sum)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gpu_cub_sum)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gpu_h2d_copy)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(gpu_streamed)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
