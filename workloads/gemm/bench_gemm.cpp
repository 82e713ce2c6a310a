// The gemm speed goals, measured in one run (docs/gemm.md):
//   n = 4000, f64 and f32: Tandem `threads` (tiles, one BLAS thread per worker) against one direct
//   multithreaded OpenBLAS call (openblas threads = the cores), and against this machine's FMA
//   peak, f64 and f32 each measured first by the library's FMA loop (tandem/ceilings.hpp: AVX-512,
//   else AVX2+FMA) on every core;
//   n = 10000 f64: the tiles across workers against one OpenBLAS call.
// Cases alternate Tandem and OpenBLAS so that a noisy machine moves both.
//   bench_gemm [--benchmark_filter=n4000] [--benchmark_repetitions=3]
// Environment: GEMM_BENCH_LARGE=0 skips the 10000^2 cases (~20 s each on 2 cores).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/build_config.hpp"
#include "tandem/ceilings.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/gemm.hpp"

#if TANDEM_WITH_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "gemm_gpu.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#endif

namespace {

using namespace tandem;

fma_peak peak;  // all cores, measured in main() (tandem/ceilings.hpp)

const char* simd_level() { return peak.simd.c_str(); }

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
  const double ceiling = f64 ? peak.f64_gflops : peak.f32_gflops;  // each measured, not assumed
  state.counters["peak_fraction"] =
      benchmark::Counter(flops / 1e9 / ceiling, benchmark::Counter::kIsIterationInvariantRate);
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

void fma_peak_case(benchmark::State& state) {
  // A copy: DoNotOptimize on the global itself (an asm that may "modify" it) left it garbage
  // under g++ 12 for the cases after this one.
  double shown = peak.f64_gflops;
  for (auto _ : state) benchmark::DoNotOptimize(shown);
  state.counters["f64_GFLOPS"] = peak.f64_gflops;
  state.counters["f32_GFLOPS"] = peak.f32_gflops;
  state.SetLabel(std::string(simd_level()) + " FMA loop, all cores");
}


#if TANDEM_WITH_CUDA
// --- GPU (scripts/gpu-check.sh runs --benchmark_filter=gpu) ---
// range(1): 0 f64, 1 f32 (FP32, no TF32), 2 tf32, 3 bf16, 4 f16.
gemm_dtype gpu_dtype(std::int64_t i) {
  const gemm_dtype t[] = {gemm_dtype::f64, gemm_dtype::f32, gemm_dtype::tf32, gemm_dtype::bf16, gemm_dtype::f16};
  return t[i];
}

template <class T>
gemm_params host_params(const operands<T>& o) {
  gemm_params p;
  p.a = o.A();
  p.b = o.B();
  p.c = o.C();
  p.k = o.n;
  p.tiling = kernels::make_gemm_tiling(o.n, o.n, o.n);
  p.f64 = sizeof(T) == 8;
  return p;
}

#define GPU_OR_SKIP()                                                                   \
  if (!gpu::available()) {                                                              \
    state.SkipWithError(("no usable GPU: " + gpu::discover().reason).c_str());          \
    return;                                                                             \
  }

// The peer: one cublasGemmEx on device-resident operands, the types Tandem uses, synchronised.
template <class T>
void gpu_cublas_direct(benchmark::State& state) {
  GPU_OR_SKIP();
  const std::uint64_t n = std::uint64_t(state.range(0));
  const gemm_dtype t = gpu_dtype(state.range(1));
  operands<T>& o = shared_operands<T>(n);
  const std::size_t in = t == gemm_dtype::f64 ? 8 : t == gemm_dtype::bf16 || t == gemm_dtype::f16 ? 2 : 4;
  const std::size_t out = t == gemm_dtype::f64 ? 8 : 4;
  void *da = nullptr, *db = nullptr, *dc = nullptr;
  cudaMalloc(&da, n * n * in);
  cudaMalloc(&db, n * n * in);
  cudaMalloc(&dc, n * n * out);
  if (in == sizeof(T)) {  // 16-bit operands: the values do not change the speed; zeros will do
    cudaMemcpy(da, o.A(), n * n * in, cudaMemcpyHostToDevice);
    cudaMemcpy(db, o.B(), n * n * in, cudaMemcpyHostToDevice);
  } else {
    cudaMemset(da, 0, n * n * in);
    cudaMemset(db, 0, n * n * in);
  }
  cublasHandle_t h;
  cublasCreate(&h);
  const double alpha = 1, beta = 0;
  const float alpha_f = 1, beta_f = 0;
  const int ni = int(n);
  auto call = [&] {
    if (t == gemm_dtype::f64)
      return cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &alpha, db, CUDA_R_64F, ni, da, CUDA_R_64F, ni, &beta,
                          dc, CUDA_R_64F, ni, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT);
    const cudaDataType ty = t == gemm_dtype::bf16 ? CUDA_R_16BF : t == gemm_dtype::f16 ? CUDA_R_16F : CUDA_R_32F;
    return cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &alpha_f, db, ty, ni, da, ty, ni, &beta_f, dc,
                        CUDA_R_32F, ni, t == gemm_dtype::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
  };
  if (call() != CUBLAS_STATUS_SUCCESS) state.SkipWithError("cublasGemmEx failed");
  cudaDeviceSynchronize();
  for (auto _ : state) {
    call();
    cudaDeviceSynchronize();
  }
  cublasDestroy(h);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  state.SetLabel(std::string("cublasGemmEx ") + to_string(t) + " " + gpu::discover().devices[0].name);
  state.counters["TFLOPS"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n) / 1e12,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// Tandem's gpu backend, resident: one GEMM and the norm of C per run (what `tandem gemm` times).
template <class T>
void gpu_tandem_resident(benchmark::State& state) {
  GPU_OR_SKIP();
  const std::uint64_t n = std::uint64_t(state.range(0));
  const gemm_dtype t = gpu_dtype(state.range(1));
  operands<T>& o = shared_operands<T>(n);
  auto ctx = gpu::context::open();
  gemm_gpu g(*ctx, host_params(o), t, gemm_gpu_mode::resident, 0);
  g.run(false);
  for (auto _ : state) benchmark::DoNotOptimize(g.run(false));
  state.SetLabel(std::string("tandem gpu resident ") + to_string(t));
  state.counters["TFLOPS"] = benchmark::Counter(2.0 * double(n) * double(n) * double(n) / 1e12,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// Host-resident f64: the streamed schedule, against max(time to copy A and B to the device from
// page-locked memory, the GEMM alone on the device), both measured here.
void gpu_tandem_streamed(benchmark::State& state) {
  GPU_OR_SKIP();
  const std::uint64_t n = std::uint64_t(state.range(0));
  operands<double>& o = shared_operands<double>(n);
  auto ctx = gpu::context::open();
  const std::uint64_t budget = std::uint64_t(state.range(1)) << 20;  // 0: free memory
  double h2d = 0, compute = 0;
  {
    // The two parts the goal is measured against.
    gpu::device_array<std::byte> da(*ctx, n * n * 8), db(*ctx, n * n * 8);
    cudaHostRegister(o.A(), n * n * 8, cudaHostRegisterDefault);
    cudaHostRegister(o.B(), n * n * 8, cudaHostRegisterDefault);
    const auto t0 = std::chrono::steady_clock::now();
    cudaMemcpy(da.data(), o.A(), n * n * 8, cudaMemcpyHostToDevice);
    cudaMemcpy(db.data(), o.B(), n * n * 8, cudaMemcpyHostToDevice);
    h2d = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cudaHostUnregister(o.A());
    cudaHostUnregister(o.B());
  }
  {
    gemm_gpu resident(*ctx, host_params(o), gemm_dtype::f64, gemm_gpu_mode::resident, 0);
    resident.run(false);
    const auto t0 = std::chrono::steady_clock::now();
    resident.run(false);
    compute = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  gemm_gpu g(*ctx, host_params(o), gemm_dtype::f64, gemm_gpu_mode::streamed, budget);
  g.run(true);
  double total = 0;
  std::int64_t runs = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(g.run(true));
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++runs;
  }
  state.counters["h2d_s"] = h2d;
  state.counters["compute_s"] = compute;
  state.counters["vs_bound"] = total / double(runs) / std::max(h2d, compute);  // goal: <= 1.2
  state.SetLabel("panels " + std::to_string(g.panel_rows()) + " x " + std::to_string(g.panel_cols()));
}

BENCHMARK(gpu_cublas_direct<double>)->Name("gpu/n8192/f64/cublas_direct")->Args({8192, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_tandem_resident<double>)->Name("gpu/n8192/f64/tandem")->Args({8192, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_cublas_direct<float>)->Name("gpu/n8192/f32/cublas_direct")->Args({8192, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_tandem_resident<float>)->Name("gpu/n8192/f32/tandem")->Args({8192, 1})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_cublas_direct<float>)->Name("gpu/n8192/tf32/cublas_direct")->Args({8192, 2})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_tandem_resident<float>)->Name("gpu/n8192/tf32/tandem")->Args({8192, 2})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_cublas_direct<float>)->Name("gpu/n8192/bf16/cublas_direct")->Args({8192, 3})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_tandem_resident<float>)->Name("gpu/n8192/bf16/tandem")->Args({8192, 3})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);
BENCHMARK(gpu_tandem_streamed)->Name("gpu/n10000/f64/streamed")->Args({10000, 0})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(gpu_tandem_streamed)->Name("gpu/n10000/f64/streamed_1GiB")->Args({10000, 1024})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
#endif

}  // namespace

BENCHMARK(fma_peak_case)->Name("fma_peak")->Iterations(1);
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
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  peak = measure_fma_peak(cores, 0.2);
  std::printf("machine FMA peak: %.1f GFLOP/s f64, %.1f f32 (%s, %u cores); %s\n", peak.f64_gflops, peak.f32_gflops,
              simd_level(), cores, openblas_get_config());
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
  // The peak again after the cases: on a shared machine the higher of the two is the ceiling.
  const fma_peak after = measure_fma_peak(cores, 0.2);
  std::printf("machine FMA peak after the cases: %.1f GFLOP/s f64, %.1f f32 (before: %.1f, %.1f); peak_fraction "
              "above used the first\n", after.f64_gflops, after.f32_gflops, peak.f64_gflops, peak.f32_gflops);
  benchmark::Shutdown();
  return 0;
}
