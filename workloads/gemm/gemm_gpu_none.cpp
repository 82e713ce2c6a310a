// The GPU engine in a build without GPU code (no CUDA, no emulation): code that names it links,
// and making one says why it cannot run.
#include "tandem/build_config.hpp"

#if !TANDEM_WITH_GPU_CODE
#include "gemm_gpu.hpp"
#include "tandem/errors.hpp"

namespace tandem {

struct gemm_gpu::state {};

gemm_gpu::gemm_gpu(gpu::context&, const gemm_params&, gemm_dtype, gemm_gpu_mode, std::uint64_t, gemm_rows) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}
gemm_gpu::~gemm_gpu() = default;
bool gemm_gpu::resident() const noexcept { return false; }
std::uint64_t gemm_gpu::panel_rows() const noexcept { return 0; }
std::uint64_t gemm_gpu::panel_cols() const noexcept { return 0; }
const std::vector<double>& gemm_gpu::group_sums() const noexcept {
  static const std::vector<double> none;
  return none;
}
double gemm_gpu::run(bool) { throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code"); }

}  // namespace tandem
#endif
