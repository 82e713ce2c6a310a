// The Monte Carlo workload on the GPU: one thread per sample runs the per-path function the CPU
// tests check (kernels/montecarlo.hpp), one thread per chunk folds that chunk's values with the
// same mc_fold_chunk in the same order, and cub::DeviceRadixSort orders the final prices for the
// exact VaR. The chunk fold is sequential on purpose: a block-wide tree reduction would add in a
// different order than the CPU and lose bitwise equality (workloads/montecarlo/README.md).
#include <cub/device/device_radix_sort.cuh>

#include <limits>

#include "tandem/errors.hpp"
#include "tandem/gpu/runtime.hpp"
#include "tandem/kernels/montecarlo_gpu.hpp"

namespace tandem::kernels::gpu {

namespace {
constexpr int block_threads = 256;

struct path_outputs {
  double* finals;
  double* payoffs;   // null without an option
  double* controls;  // null without a control variate
};

__device__ __forceinline__ void store(const path_outputs& o, std::uint64_t path, const mc_path_result& r) {
  o.finals[path] = r.final_price;
  if (o.payoffs) o.payoffs[path] = r.payoff;
  if (o.controls) o.controls[path] = r.control;
}

__global__ void __launch_bounds__(block_threads) pseudo_paths_kernel(mc_params p, path_outputs o) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t s = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; s < p.samples; s += stride) {
    if (p.antithetic != 0) {
      const mc_path_pair pair = mc_pseudo_pair(p, s);
      store(o, 2 * s, pair.path);
      store(o, 2 * s + 1, pair.mirror);
    } else {
      store(o, s, mc_pseudo_path(p, s, false));
    }
  }
}

__global__ void __launch_bounds__(block_threads) sobol_paths_kernel(mc_params p, mc_qmc_tables t, path_outputs o) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t s = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x; s < p.samples; s += stride)
    store(o, s, mc_sobol_path(p, t, s));
}

__global__ void __launch_bounds__(block_threads) fold_chunks_kernel(mc_params p, std::uint64_t chunk_samples,
                                                                    std::uint64_t chunks, path_outputs o,
                                                                    mc_chunk_stats* stats) {
  const std::uint64_t c = std::uint64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (c >= chunks) return;
  const std::uint64_t first = c * chunk_samples;
  const std::uint64_t n = p.samples - first < chunk_samples ? p.samples - first : chunk_samples;
  const std::uint64_t path0 = first * (p.antithetic != 0 ? 2 : 1);
  stats[c] = mc_fold_chunk(p, n, o.finals + path0, o.payoffs ? o.payoffs + path0 : nullptr,
                           o.controls ? o.controls + path0 : nullptr);
}

unsigned grid_for(std::uint64_t items) {
  // Enough blocks to fill any current GPU many times over; the kernels loop over the rest.
  const std::uint64_t blocks = (items + block_threads - 1) / block_threads;
  return static_cast<unsigned>(blocks < 65536 * 16 ? (blocks == 0 ? 1 : blocks) : 65536 * 16);
}

template <class T>
tandem::gpu::device_buffer<T> upload(const T* host, std::size_t n) {
  tandem::gpu::device_buffer<T> d(n);
  if (n != 0) TANDEM_CUDA_CHECK(cudaMemcpy(d.data(), host, n * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
}  // namespace

void montecarlo_run(const mc_params& p, std::uint64_t chunk_samples, std::uint64_t rank, const mc_qmc_tables& tables,
                    mc_gpu_output& out) {
  if (p.paths > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw tandem::usage_error("montecarlo: the gpu backend takes at most 2^31 - 1 paths per run (it sorts every final price)");
  const std::uint64_t chunks = (p.samples + chunk_samples - 1) / chunk_samples;
  const bool option = p.option != mc_option::none;
  tandem::gpu::device_buffer<double> finals(p.paths);
  tandem::gpu::device_buffer<double> payoffs(option ? p.paths : 0);
  tandem::gpu::device_buffer<double> controls(option && p.control_variate != 0 ? p.paths : 0);
  const path_outputs o{finals.data(), payoffs.data(), controls.data()};

  if (p.sampling == mc_sampling::sobol) {
    const std::size_t n = p.steps;
    auto directions = upload(tables.directions, n * 32);
    auto bridge_index = upload(tables.bridge_index, n);
    auto left_index = upload(tables.left_index, n);
    auto right_index = upload(tables.right_index, n);
    auto left_weight = upload(tables.left_weight, n);
    auto right_weight = upload(tables.right_weight, n);
    auto std_dev = upload(tables.std_dev, n);
    auto program = upload(tables.bridge_program, n);
    const mc_qmc_tables t{directions.data(),  bridge_index.data(),  left_index.data(), right_index.data(),
                          left_weight.data(), right_weight.data(), std_dev.data(),    program.data()};
    sobol_paths_kernel<<<grid_for(p.samples), block_threads>>>(p, t, o);
    TANDEM_CUDA_CHECK(cudaGetLastError());
    TANDEM_CUDA_CHECK(cudaDeviceSynchronize());  // the tables are freed at the end of this scope
  } else {
    pseudo_paths_kernel<<<grid_for(p.samples), block_threads>>>(p, o);
    TANDEM_CUDA_CHECK(cudaGetLastError());
  }

  tandem::gpu::device_buffer<mc_chunk_stats> stats(chunks);
  fold_chunks_kernel<<<grid_for(chunks), block_threads>>>(p, chunk_samples, chunks, o, stats.data());
  TANDEM_CUDA_CHECK(cudaGetLastError());
  out.chunks.resize(chunks);
  TANDEM_CUDA_CHECK(cudaMemcpy(out.chunks.data(), stats.data(), stats.bytes(), cudaMemcpyDeviceToHost));

  // The exact order statistic: sort every final price (radix sort orders doubles by value; the
  // prices are never -0 or NaN) and bring back the `rank` smallest.
  tandem::gpu::device_buffer<double> sorted(p.paths);
  const int items = static_cast<int>(p.paths);
  std::size_t temp_bytes = 0;
  TANDEM_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(nullptr, temp_bytes, finals.data(), sorted.data(), items));
  tandem::gpu::device_buffer<unsigned char> temp(temp_bytes);
  TANDEM_CUDA_CHECK(cub::DeviceRadixSort::SortKeys(temp.data(), temp_bytes, finals.data(), sorted.data(), items));
  out.lowest.resize(rank);
  TANDEM_CUDA_CHECK(cudaMemcpy(out.lowest.data(), sorted.data(), rank * sizeof(double), cudaMemcpyDeviceToHost));
}

}  // namespace tandem::kernels::gpu
