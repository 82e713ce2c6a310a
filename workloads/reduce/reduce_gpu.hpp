// Internal to the reduce workload: its GPU engine (reduce.cu; reduce_gpu_none.cpp in a build
// without GPU code). Made in the workload's prepare: it uploads the data once when it fits the
// device (then every run reads device memory), otherwise it streams the host data through pinned
// buffers on three streams in every run, copies overlapping the kernels. Either way it returns the
// chunk partials the CPU computes, bit for bit, into host memory.
#pragma once

#include <cstdint>
#include <memory>

#include "tandem/chunk_plan.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/kernels/reduce.hpp"
#include "tandem/workloads/exact_reduce.hpp"
#include "tandem/workloads/reduce.hpp"

namespace tandem::detail {

class reduce_gpu {
 public:
  // The engine holds or streams elements [in.first, in.held_last()) only (a rank's share under
  // MPI); asking for chunks outside them is a std::logic_error.
  // resident_limit: upload when the data fits in this many bytes (0: half the device's memory).
  // stream_batch: elements per streamed batch (0: the default, 2^24; tests make it small).
  reduce_gpu(gpu::context& c, const reduce_input& in, std::uint64_t resident_limit, std::uint64_t stream_batch = 0);
  ~reduce_gpu();
  reduce_gpu(const reduce_gpu&) = delete;
  reduce_gpu& operator=(const reduce_gpu&) = delete;

  bool resident() const noexcept;
  // The partials of chunks `span` (chunks of reduce_chunk_elements) for `pass`, into out.
  void partials(std::uint32_t pass, chunk_span span, kernels::reduce_partial* out);
  // --exact: the chunks' exact sums (and sums of squares when `squares`), into out.
  void exact_partials(bool squares, chunk_span span, exact_moments* out);

  // Benchmarks' references on resident data: CUB's device-wide sum alone (thrust::reduce, in
  // double; not Tandem's answer, which is compensated), and one host-to-device copy of the data
  // from pinned memory, for the transfer rate.
  double cub_sum();
  void copy_in_from_pinned();

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem::detail
