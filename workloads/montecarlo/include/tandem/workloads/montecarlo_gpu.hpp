// The Monte Carlo workload on a GPU device context (gpu/context.hpp), as Thrust algorithms over the
// per-path and per-lane functions of kernels/montecarlo.hpp (workloads/montecarlo/montecarlo.cu).
//
// The job runs window by window: every path of a window (whole fold groups), then each chunk's
// statistics by the 32-lane fold the CPU runs (coalesced: lane l of a chunk is one thread), then
// the window's VaR candidates, which only the final prices below the fold's current rank-th
// smallest can be, filtered on the device. Only chunk statistics and candidates come back to the
// host, where montecarlo_fold folds them as it folds the CPU's partials: the same bits as `seq`.
// Under MPI each rank runs its own block of groups (run with a group range).
//
// Memory is fixed when the engine is made (the runner's prepare): the Sobol and bridge tables, one
// window of per-path values and lanes, and pinned host buffers for what comes back; a run takes
// nothing from the driver (Thrust's temporary storage comes from the context's pool). No CUDA
// types here: host code builds with g++.
#pragma once

#include <cstdint>
#include <functional>
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

  // Fold groups of the job (montecarlo_group_chunks chunks each) and their samples.
  std::uint64_t groups() const noexcept;
  std::uint64_t group_samples() const noexcept;

  // Runs groups [first_group, last_group) (an MPI rank's block; windows start at first_group),
  // hands `fold` their VaR candidates and calls on_group(g, summary) for each group in order, the
  // summary made as the CPU makes it (montecarlo_fold::group_summary). `fold` must be made for
  // params().
  using group_callback = std::function<void(std::uint64_t group, const kernels::mc_chunk_stats& summary)>;
  void run(montecarlo_fold& fold, std::uint64_t first_group, std::uint64_t last_group, const group_callback& on_group);
  // Every group, each summary added to `fold` in order.
  void run(montecarlo_fold& fold);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem
