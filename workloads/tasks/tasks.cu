// The tasks workload on the GPU: one block per piece, each thread a strided share of the piece
// (piece_sum_strided, the same source the CPU tests run), combined by cub::BlockReduce.
#include <cub/block/block_reduce.cuh>

#include "tandem/gpu/runtime.hpp"
#include "tandem/kernels/tasks_gpu.hpp"
#include "tandem/workloads/tasks.hpp"

namespace tandem::kernels::gpu {

namespace {
constexpr int block_threads = 256;

__global__ void __launch_bounds__(block_threads) piece_sums_kernel(tasks_params p, uint128* out) {
  using reduce = cub::BlockReduce<uint128, block_threads>;
  __shared__ typename reduce::TempStorage storage;
  const std::uint64_t g = blockIdx.x;
  const uint128 mine = piece_sum_strided(p, g, threadIdx.x, block_threads);
  const uint128 total = reduce(storage).Reduce(mine, uint128_plus{});
  if (threadIdx.x == 0) out[g] = total;
}
}  // namespace

void tasks_piece_sums(const tasks_params& p, uint128* out) {
  const std::uint64_t chunks = p.count * p.pieces;
  if (chunks == 0) return;
  if (chunks > 0x7fffffffu) throw std::invalid_argument("tasks: too many pieces for one grid");
  // The partials buffer is kept between calls (per thread, grown when a job needs more): a
  // cudaMalloc per run would cost as much as the kernel itself for the default 8 x 10^7 job.
  thread_local tandem::gpu::device_buffer<uint128> d_out;
  if (d_out.size() < chunks) d_out = tandem::gpu::device_buffer<uint128>(chunks);
  piece_sums_kernel<<<static_cast<unsigned>(chunks), block_threads>>>(p, d_out.data());
  TANDEM_CUDA_CHECK(cudaGetLastError());
  TANDEM_CUDA_CHECK(cudaMemcpy(out, d_out.data(), chunks * sizeof(uint128), cudaMemcpyDeviceToHost));
}

}  // namespace tandem::kernels::gpu

namespace tandem {
void tasks_kernel::run_gpu(gpu::context&, const params_type& p, const chunk_plan&, chunk_span span, partial_type* out) {
  std::vector<kernels::uint128> all(p.count * p.pieces);
  kernels::gpu::tasks_piece_sums(p, all.data());
  std::copy(all.begin() + static_cast<std::ptrdiff_t>(span.first), all.begin() + static_cast<std::ptrdiff_t>(span.last), out);
}
}  // namespace tandem
