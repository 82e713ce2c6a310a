// The Monte Carlo workload on a GPU device context (gpu/context.hpp), as Thrust algorithms over the
// per-path and per-lane functions of kernels/montecarlo.hpp (workloads/montecarlo/montecarlo.cu).
//
// The job runs window by window: every path of a window (whole fold groups), then each chunk's
// statistics by the 32-lane fold the CPU runs (coalesced: lane l of a chunk is one thread), then
// the window's VaR candidates, which only the final prices below the fold's current rank-th
// smallest can be, filtered on the device. Only chunk statistics and candidates come back to the
// host, where montecarlo_fold folds them as it folds the CPU's partials: the same bits as `seq`.
//
// Memory is fixed when the engine is made (the runner's prepare): the Sobol and bridge tables, one
// window of per-path values and lanes, and pinned host buffers for what comes back; a run takes
// nothing from the driver (Thrust's temporary storage comes from the context's pool). No CUDA
// types here: host code builds with g++.
#pragma once

#include <cstdint>
#include <memory>

#include "tandem/gpu/context.hpp"
#include "tandem/kernels/montecarlo.hpp"

namespace tandem {

class montecarlo_fold;

class montecarlo_gpu {
 public:
  // Samples per window: about a million threads in flight, several per core of any current GPU,
  // and 8-48 MB of per-path values.
  static constexpr std::uint64_t default_window_samples = std::uint64_t{1} << 20;

  // Uploads the tables and takes the buffers for parameters `p` (montecarlo_job) on `c`'s first
  // stream. `window_samples` is rounded down to whole fold groups (at least one). Throws gpu::error
  // when the device is out of memory.
  montecarlo_gpu(gpu::context& c, const kernels::mc_params& p,
                 std::uint64_t window_samples = default_window_samples);
  ~montecarlo_gpu();
  montecarlo_gpu(const montecarlo_gpu&) = delete;
  montecarlo_gpu& operator=(const montecarlo_gpu&) = delete;

  const kernels::mc_params& params() const noexcept;
  std::uint64_t window_samples() const noexcept;

  // Runs every path and hands `fold` each group's chunk statistics, in order, and the VaR
  // candidates. `fold` must be made for params().
  void run(montecarlo_fold& fold);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem
