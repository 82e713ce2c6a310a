// The GPU engine in a build without GPU code (no CUDA, no emulation): code that names it links,
// and making one says why it cannot run, as the device context does (host/src/gpu/context_none.cpp).
#include "tandem/build_config.hpp"

#if !TANDEM_WITH_GPU_CODE
#include "tandem/errors.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"

namespace tandem {

namespace {
[[noreturn]] void no_gpu_code() {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}
}  // namespace

struct montecarlo_gpu::state {
  kernels::mc_params p;
};

montecarlo_gpu::montecarlo_gpu(gpu::context&, const kernels::mc_params&, std::uint64_t) { no_gpu_code(); }
montecarlo_gpu::~montecarlo_gpu() = default;
// Unreachable: no engine is ever made.
const kernels::mc_params& montecarlo_gpu::params() const noexcept { return s_->p; }
std::uint64_t montecarlo_gpu::window_samples() const noexcept { return 0; }
std::uint64_t montecarlo_gpu::groups() const noexcept { return 0; }
std::uint64_t montecarlo_gpu::group_samples() const noexcept { return 0; }
void montecarlo_gpu::run(montecarlo_fold&, std::uint64_t, std::uint64_t, const group_callback&) { no_gpu_code(); }
void montecarlo_gpu::run(montecarlo_fold&) { no_gpu_code(); }

}  // namespace tandem
#endif
