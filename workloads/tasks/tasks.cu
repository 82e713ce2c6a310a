// The tasks workload on the GPU, as Thrust: each piece (chunk item) is split into S strided
// shares (piece_sum_strided, the same source the CPU runs), and one reduce_by_key sums the shares
// of each chunk. uint128 addition is exact and associative, so any grouping Thrust picks gives the
// bits the CPU gives. The shares are computed on the fly (a transform iterator feeding the
// reduction) rather than stored: one pass, and device memory only for the chunk sums.
//
// Built by nvcc it runs on the context's stream; built as C++ in a TANDEM_GPU_EMULATION test
// build it runs on the host through Thrust's CPP system, so the CPU tests cover this file.
#include <thrust/iterator/discard_iterator.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/reduce.h>

#include <algorithm>
#include <cstdint>

#include "tandem/gpu/thrust.hpp"
#include "tandem/kernels/tasks.hpp"
#include "tandem/workloads/tasks.hpp"

namespace tandem {

namespace {

// Shares per piece: enough threads to fill a device even for the default 8 x 10^7 job (80 pieces
// x 4096 = 327,680 threads; an H100 holds 270,336), at least 256 terms per share so each thread
// amortises its start, and never more than the piece has terms worth splitting.
constexpr std::uint64_t max_shares = 4096;
// Shares per launch: bounds the index range (a reduce_by_key over at most 2^28 items) whatever
// the job's size.
constexpr std::uint64_t max_batch_shares = std::uint64_t{1} << 28;

std::uint64_t shares_per_piece(std::uint64_t items) {
  const std::uint64_t target = (std::uint64_t{1} << 20) / std::max<std::uint64_t>(items, 1);
  return std::clamp<std::uint64_t>(target, 1, max_shares);
}

// Share k of the batch (k / S: item, k % S: share of the item's piece).
struct share_sum {
  kernels::tasks_params p;
  std::uint64_t first_item;
  std::uint64_t shares;
  TANDEM_HD kernels::uint128 operator()(std::uint64_t k) const {
    return kernels::piece_sum_strided(p, first_item + k / shares, k % shares, shares);
  }
};

// The chunk that share k of the batch belongs to; equal keys are adjacent, as reduce_by_key needs.
struct share_chunk {
  std::uint64_t first_item;
  std::uint64_t shares;
  std::uint64_t chunk_size;
  TANDEM_HD std::uint64_t operator()(std::uint64_t k) const { return (first_item + k / shares) / chunk_size; }
};

}  // namespace

void tasks_kernel::run_gpu(gpu::context& ctx, const params_type& p, const chunk_plan& plan, chunk_span span,
                           partial_type* out) {
  if (span.size() == 0) return;
  const gpu::stream_t stream = ctx.stream(0);
  const std::uint64_t chunk_size = plan.chunk_size();
  const std::uint64_t items = plan.range(span.last - 1).end - plan.range(span.first).begin;
  const std::uint64_t shares = shares_per_piece(items);
  // Whole chunks per batch, so every chunk's sum comes out of one reduction.
  const std::uint64_t batch_chunks = std::max<std::uint64_t>(1, max_batch_shares / (shares * chunk_size));

  gpu::device_array<kernels::uint128> sums(ctx, std::min<std::uint64_t>(span.size(), batch_chunks), stream);
  for (std::uint64_t c0 = span.first; c0 < span.last; c0 += batch_chunks) {
    const std::uint64_t c1 = std::min<std::uint64_t>(span.last, c0 + batch_chunks);
    const std::uint64_t first_item = plan.range(c0).begin;
    const std::uint64_t batch_shares = (plan.range(c1 - 1).end - first_item) * shares;
    const gpu::counting<std::uint64_t> k(0);
    thrust::reduce_by_key(gpu::policy(ctx, stream), thrust::make_transform_iterator(k, share_chunk{first_item, shares, chunk_size}),
                          thrust::make_transform_iterator(k + batch_shares, share_chunk{first_item, shares, chunk_size}),
                          thrust::make_transform_iterator(k, share_sum{p, first_item, shares}),
                          thrust::make_discard_iterator(), sums.data(), thrust::equal_to<std::uint64_t>(),
                          kernels::uint128_plus{});
    ctx.copy(out + (c0 - span.first), sums.data(), (c1 - c0) * sizeof(kernels::uint128), gpu::copy_kind::device_to_host,
             stream);
    ctx.synchronize(stream);
  }
}

}  // namespace tandem
