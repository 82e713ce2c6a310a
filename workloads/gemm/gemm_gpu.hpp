// The gemm workload on a GPU: cuBLAS (cublasGemmEx) through the context's handle, in one of two
// schedules (gemm.cu). `resident`: A and B uploaded once, here; a run is one GEMM on the device.
// `streamed` (matrices larger than the device budget): every run moves panels of A, B and C between
// page-locked host memory and the device on two streams, so the copies of one panel overlap the
// GEMM of the other. In a TANDEM_GPU_EMULATION build the device GEMM is a CBLAS call on the
// emulated device memory, so the CPU tests run both schedules.
#pragma once

#include <cstdint>
#include <memory>

#include "tandem/gpu/context.hpp"
#include "tandem/workloads/gemm.hpp"

namespace tandem {

class gemm_gpu {
 public:
  // p's a, b, c (and c0) are host memory that stays valid while the engine lives; c receives the
  // result. budget: device bytes the schedule may take (0: the device's free memory). Throws
  // usage_error when `resident` is asked for and does not fit, or the budget cannot hold one row
  // of panels; unavailable_error in a build without GPU code.
  gemm_gpu(gpu::context& c, const gemm_params& p, gemm_dtype dtype, gemm_gpu_mode mode, std::uint64_t budget);
  ~gemm_gpu();
  gemm_gpu(const gemm_gpu&) = delete;
  gemm_gpu& operator=(const gemm_gpu&) = delete;

  bool resident() const noexcept;
  // Panels of the streamed schedule (rows of A and C, columns of B and C); the whole matrix when
  // resident.
  std::uint64_t panel_rows() const noexcept;
  std::uint64_t panel_cols() const noexcept;

  // C = alpha A B + beta C0; returns the sum of squares of C. The streamed schedule always leaves
  // C in host memory; the resident one copies it back only when `to_host`.
  double run(bool to_host);

 private:
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem
