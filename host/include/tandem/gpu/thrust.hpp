// Thrust for the workloads' GPU sources (kernels/, workloads/*/ *.cu): the execution policy of a
// context's stream, with temporary storage from the context's memory pool.
//
// Built by nvcc, a policy runs on the device (thrust::cuda::par_nosync on the stream). Built as
// C++ in a TANDEM_GPU_EMULATION test build (TANDEM_GPU_EMULATED defined), it is Thrust's host
// (CPP) system: the same source, the same algorithms, run on the CPU by the tests. GPU code is
// written as Thrust algorithms over counting ranges with host/device functors (TANDEM_HD), so the
// orchestration around the per-item functions is tested too (docs/gpu.md).
#pragma once

#include <cstddef>

#include <thrust/execution_policy.h>
#include <thrust/iterator/counting_iterator.h>

#include "tandem/gpu/context.hpp"
#include "tandem/kernels/hd.hpp"

#if defined(TANDEM_GPU_EMULATED)
#include <thrust/system/cpp/execution_policy.h>
#else
#include <cuda_runtime.h>
#include <thrust/system/cuda/execution_policy.h>

#include "tandem/gpu/runtime.hpp"
#endif

namespace tandem::gpu {

// Thrust's temporary storage (sort buffers and the like) from the context's pool.
struct pool_allocator {
  using value_type = char;
  context* ctx;
  stream_t stream;
  char* allocate(std::ptrdiff_t n) { return static_cast<char*>(ctx->allocate(static_cast<std::size_t>(n), stream)); }
  void deallocate(char* p, std::size_t n) noexcept { ctx->deallocate(p, n, stream); }
};

#if defined(TANDEM_GPU_EMULATED)
inline auto policy(context& c, stream_t s) { return thrust::cpp::par(pool_allocator{&c, s}); }
#else
// Thrust launches on the calling thread's current device: make it the context's, so a program that
// uses other devices between runs still launches on the device its streams and memory belong to.
inline auto policy(context& c, stream_t s) {
  TANDEM_CUDA_CHECK(cudaSetDevice(c.device()));
  return thrust::cuda::par_nosync(pool_allocator{&c, s}).on(static_cast<cudaStream_t>(s));
}
#endif

template <class Index>
using counting = thrust::counting_iterator<Index>;

}  // namespace tandem::gpu
