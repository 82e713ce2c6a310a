// The gemm speed goals, measured in one run (docs/gemm.md):
//   n = 4000, f64 and f32: Tandem `threads` (tiles, one BLAS thread per worker) against one direct
//   multithreaded OpenBLAS call (openblas threads = the cores), and against this machine's FMA
//   peak, measured first by an AVX-512 (else AVX2) FMA loop on every core;
//   n = 10000 f64: the tiles across workers against one OpenBLAS call.
// Cases alternate Tandem and OpenBLAS so that a noisy machine moves both.
//   bench_gemm [--benchmark_filter=n4000] [--benchmark_repetitions=3]
// Environment: GEMM_BENCH_LARGE=0 skips the 10000^2 cases (~20 s each on 2 cores).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <immintrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/gemm.hpp"

namespace {

using namespace tandem;

double peak_f64_gflops = 0;  // all cores, measured in main()

// 16 independent FMA chains per core (latency 4 x 2 pipes = 8 needed); returns flops done.
__attribute__((target("avx512f"))) double fma_loop_avx512(std::uint64_t iters) {
  __m512d acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_set1_pd(1.0 + i * 1e-9);
  const __m512d a = _mm512_set1_pd(0.999999999), b = _mm512_set1_pd(1e-9);
  for (std::uint64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm512_fmadd_pd(acc[i], a, b);
  __m512d s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm512_add_pd(s, acc[i]);
  benchmark::DoNotOptimize(s);
  return double(iters) * 16 * 8 * 2;
}
__attribute__((target("avx2,fma"))) double fma_loop_avx2(std::uint64_t iters) {
  __m256d acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = _mm256_set1_pd(1.0 + i * 1e-9);
  const __m256d a = _mm256_set1_pd(0.999999999), b = _mm256_set1_pd(1e-9);
  for (std::uint64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = _mm256_fmadd_pd(acc[i], a, b);
  __m256d s = acc[0];
  for (int i = 1; i < 16; ++i) s = _mm256_add_pd(s, acc[i]);
  benchmark::DoNotOptimize(s);
  return double(iters) * 16 * 4 * 2;
}

const char* simd_level() { return __builtin_cpu_supports("avx512f") ? "AVX-512" : "AVX2+FMA"; }

// Float64 FMA GFLOP/s of every core at once: the best of 5 runs of ~0.2 s.
double measure_peak() {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const bool avx512 = __builtin_cpu_supports("avx512f");
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const std::uint64_t iters = 20'000'000;
    std::vector<double> flops(cores);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> ts;
    for (unsigned c = 0; c < cores; ++c)
      ts.emplace_back([&, c] { flops[c] = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters); });
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    best = std::max(best, total / s / 1e9);
  }
  return best;
}

template <class T>
struct operands {
  std::uint64_t n;
  shared_buffer a, b, c;
  explicit operands(std::uint64_t n_) : n(n_), a(n_ * n_ * sizeof(T)), b(n_ * n_ * sizeof(T)), c(n_ * n_ * sizeof(T)) {
    const std::uint64_t ka = kernels::gemm_key(42, 0), kb = kernels::gemm_key(42, 1);
    T* pa = static_cast<T*>(a.data());
    T* pb = static_cast<T*>(b.data());
    for (std::uint64_t i = 0; i < n * n; ++i) {
      pa[i] = sizeof(T) == 8 ? T(kernels::gemm_value_f64(ka, i)) : T(kernels::gemm_value_f32(ka, i));
      pb[i] = sizeof(T) == 8 ? T(kernels::gemm_value_f64(kb, i)) : T(kernels::gemm_value_f32(kb, i));
    }
  }
  T* A() const { return static_cast<T*>(a.data()); }
  T* B() const { return static_cast<T*>(b.data()); }
  T* C() const { return static_cast<T*>(c.data()); }
};

template <class T>
operands<T>& shared_operands(std::uint64_t n) {
  static std::unique_ptr<operands<T>> held;
  if (!held || held->n != n) {
    held.reset();
    held = std::make_unique<operands<T>>(n);
  }
  return *held;
}

void report(benchmark::State& state, double flops, bool f64) {
  state.counters["GFLOPS"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = f64 ? peak_f64_gflops : 2 * peak_f64_gflops;  // float: twice the lanes
  state.counters["peak_fraction"] =
      benchmark::Counter(flops / 1e9 / peak, benchmark::Counter::kIsIterationInvariantRate);
}

// One direct CBLAS call with OpenBLAS's own threads (all cores).
template <class T>
void openblas_direct(benchmark::State& state) {
  const std::uint64_t n = std::uint64_t(state.range(0));
  operands<T>& o = shared_operands<T>(n);
  openblas_set_num_threads(int(std::thread::hardware_concurrency()));
  const int ni = int(n);
  for (auto _ : state) {
    if constexpr (sizeof(T) == 8)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0, o.A(), ni, o.B(), ni, 0.0, o.C(), ni);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, o.A(), ni, o.B(), ni, 0.0f, o.C(), ni);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string("openblas threads=") + std::to_string(openblas_get_num_threads()) + " " + simd_level());
  report(state, 2.0 * double(n) * double(n) * double(n), sizeof(T) == 8);
}

// Tandem's tiles on a CPU backend (range 1: 0 threads, 1 procs), the default tile unless range 2.
template <class T>
void tandem_tiles(benchmark::State& state) {
  const std::uint64_t n = std::uint64_t(state.range(0));
  const bool procs = state.range(1) != 0;
  const std::uint64_t tile = std::uint64_t(state.range(2));
  operands<T>& o = shared_operands<T>(n);
  openblas_set_num_threads(int(std::thread::hardware_concurrency()));  // Tandem must make it 1 itself
  const unsigned workers = std::max(1u, std::thread::hardware_concurrency());
  const std::unique_ptr<executor> ex = make_executor(procs ? backend::procs : backend::threads, workers);
  run_context ctx = cpu_context(*ex);
  for (auto _ : state) {
    gemm(ctx, n, n, n, T(1), o.A(), o.B(), T(0), o.C(), tile);
    benchmark::ClobberMemory();
  }
  state.SetLabel(std::string(procs ? "procs" : "threads") + " x" + std::to_string(workers) + " tile=" +
                 std::to_string(tile ? tile : gemm_default_tile(n, n)) + " " + simd_level());
  report(state, 2.0 * double(n) * double(n) * double(n), sizeof(T) == 8);
}

void fma_peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(peak_f64_gflops);
  state.counters["f64_GFLOPS"] = peak_f64_gflops;
  state.counters["f32_GFLOPS"] = 2 * peak_f64_gflops;
  state.SetLabel(std::string(simd_level()) + " FMA loop, all cores");
}

}  // namespace

BENCHMARK(fma_peak)->Iterations(1);
// n = 4000: interleaved, OpenBLAS first.
BENCHMARK(openblas_direct<double>)->Name("n4000/f64/openblas")->Arg(4000)->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(tandem_tiles<double>)->Name("n4000/f64/tandem_threads")->Args({4000, 0, 0})->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(tandem_tiles<double>)->Name("n4000/f64/tandem_procs")->Args({4000, 1, 0})->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(tandem_tiles<double>)->Name("n4000/f64/tandem_threads_tile1000")->Args({4000, 0, 1000})->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(openblas_direct<float>)->Name("n4000/f32/openblas")->Arg(4000)->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(tandem_tiles<float>)->Name("n4000/f32/tandem_threads")->Args({4000, 0, 0})->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
BENCHMARK(tandem_tiles<float>)->Name("n4000/f32/tandem_procs")->Args({4000, 1, 0})->Unit(benchmark::kMillisecond)->MinTime(2)->UseRealTime();
// n = 10000 f64: one call each, ~20 s.
BENCHMARK(openblas_direct<double>)->Name("n10000/f64/openblas")->Arg(10000)->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(tandem_tiles<double>)->Name("n10000/f64/tandem_threads")->Args({10000, 0, 0})->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();
BENCHMARK(tandem_tiles<double>)->Name("n10000/f64/tandem_procs")->Args({10000, 1, 0})->Unit(benchmark::kSecond)->Iterations(1)->UseRealTime();

int main(int argc, char** argv) {
  shared_arena::ensure();  // before any procs pool forks, so the operands are visible to workers
  peak_f64_gflops = measure_peak();
  std::printf("machine FMA peak: %.1f GFLOP/s f64, %.1f f32 (%s, %u cores); %s\n", peak_f64_gflops, 2 * peak_f64_gflops,
              simd_level(), std::thread::hardware_concurrency(), openblas_get_config());
  std::vector<char*> args(argv, argv + argc);
  std::string filter = "--benchmark_filter=-n10000";
  if (const char* large = std::getenv("GEMM_BENCH_LARGE"); large && std::strcmp(large, "0") == 0) {
    bool has_filter = false;
    for (char* a : args) has_filter |= std::strncmp(a, "--benchmark_filter", 18) == 0;
    if (!has_filter) args.push_back(filter.data());
  }
  int n = int(args.size());
  benchmark::Initialize(&n, args.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
