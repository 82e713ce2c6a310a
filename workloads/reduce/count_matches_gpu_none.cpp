// count-matches in a build without GPU code (no CUDA, no emulation): the staging that the
// workload's prepare asks for says why it cannot be made, as the device context does.
#include "tandem/build_config.hpp"

#if !TANDEM_WITH_GPU_CODE
#include "tandem/errors.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace tandem {

struct count_matches_gpu_staging {};

std::shared_ptr<count_matches_gpu_staging> make_count_matches_gpu_staging(gpu::context&, const count_matches_params&,
                                                                          std::size_t) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU code");
}

}  // namespace tandem
#endif
