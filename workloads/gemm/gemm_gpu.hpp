// The gemm workload on a GPU: cuBLAS (cublasGemmEx) through the context's handle, in one of two
// schedules (gemm.cu). `resident`: A and B uploaded once, here; a run is one GEMM on the device.
// `streamed` (matrices larger than the device budget): every run moves panels of A, B and C between
// page-locked host memory and the device on two streams, so the copies of one panel overlap the
// GEMM of the other. In a TANDEM_GPU_EMULATION build the device GEMM is a CBLAS call on the
// emulated device memory, so the CPU tests run both schedules.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tandem/gpu/context.hpp"
#include "tandem/workloads/gemm.hpp"

namespace tandem {

class gemm_gpu {
 public:
  // p's a, b, c (and c0) are host memory that stays valid while the engine lives; c receives the
  // result. budget: device bytes the schedule may take (0: the device's free memory). `rows`: the
  // block of rows of tiles this engine computes (a rank's, gemm_rank_rows; p holds those rows from
  // p.row0); every row when not given. Throws usage_error when `resident` is asked for and does
  // not fit, or the budget cannot hold one row of panels; unavailable_error in a build without
  // GPU code.
  gemm_gpu(gpu::context& c, const gemm_params& p, gemm_dtype dtype, gemm_gpu_mode mode, std::uint64_t budget,
           gemm_rows rows = {0, std::uint64_t(-1), 0, std::size_t(-1)});
  ~gemm_gpu();
  gemm_gpu(const gemm_gpu&) = delete;
  gemm_gpu& operator=(const gemm_gpu&) = delete;

  bool resident() const noexcept;
  // Panels of the streamed schedule (rows of A and C, columns of B and C); the whole matrix when
  // resident.
  std::uint64_t panel_rows() const noexcept;
  std::uint64_t panel_cols() const noexcept;

  // C = alpha A B + beta C0 on the engine's rows; returns their sum of squares. The work is cut by
  // the job's groups (rows of tiles), whatever the rows given: one GEMM per group (resident) or
  // panels that never straddle two groups (streamed), each group's norms folded in a fixed order,
  // so a rank's groups get the bits the whole run gets for them. The streamed schedule always
  // leaves C in host memory; the resident one copies it back only when `to_host`.
  double run(bool to_host);
  // The last run's sum of squares per group, in group order (fold_gemm_group_sums folds them).
  const std::vector<double>& group_sums() const noexcept;

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem
