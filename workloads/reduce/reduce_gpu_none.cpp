// The GPU engine in a build without GPU code (no CUDA, no emulation): code that names it links,
// and making one says why it cannot run.
#include "tandem/build_config.hpp"

#if !TANDEM_WITH_GPU_CODE
#include "reduce_gpu.hpp"
#include "tandem/errors.hpp"

namespace tandem::detail {

struct reduce_gpu::state {};

reduce_gpu::reduce_gpu(gpu::context&, const reduce_input&, std::uint64_t, std::uint64_t) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}
reduce_gpu::~reduce_gpu() = default;
bool reduce_gpu::resident() const noexcept { return false; }
void reduce_gpu::partials(std::uint32_t, chunk_span, kernels::reduce_partial*) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}

void reduce_gpu::exact_partials(bool, chunk_span, exact_moments*) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}
double reduce_gpu::cub_sum() { throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code"); }
void reduce_gpu::copy_in_from_pinned() {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}

}  // namespace tandem::detail
#endif
