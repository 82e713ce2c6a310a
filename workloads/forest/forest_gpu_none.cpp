// The GPU engine in a build without GPU code (no CUDA, no emulation): code that names it links,
// and making one says why it cannot run.
#include "tandem/build_config.hpp"

#if !TANDEM_WITH_GPU_CODE
#include "forest_gpu.hpp"
#include "tandem/errors.hpp"

namespace tandem {

struct forest_gpu::state {};

forest_gpu::forest_gpu(gpu::context&, const forest::compiled_forest&, std::size_t) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}
forest_gpu::~forest_gpu() = default;
void forest_gpu::run_batches(const void*, bool, std::size_t, void (*)(void*, std::size_t, std::size_t, const double*),
                             void*) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}

}  // namespace tandem
#endif
