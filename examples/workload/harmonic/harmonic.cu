// The example workload on the GPU: one thread per chunk sums the chunk's terms with the same
// host/device function as the CPU (so the partials are the same bits), as a Thrust transform over
// the chunk indices, into the context's pool; then one copy to the host.
#include <thrust/transform.h>

#include "tandem/gpu/thrust.hpp"
#include "tandem/kernels/harmonic.hpp"
#include "tandem/workloads/harmonic.hpp"

namespace tandem {

namespace {
struct chunk_sum {
  chunk_plan plan;
  TANDEM_HD double operator()(std::size_t c) const {
    const chunk_range r = plan.range(c);
    return kernels::harmonic_terms(r.begin, r.end);
  }
};
}  // namespace

void harmonic_kernel::run_gpu(gpu::context& c, const params_type&, const chunk_plan& plan, chunk_span span,
                              double* out) {
  const gpu::stream_t s = c.stream(0);
  gpu::device_array<double> sums(c, span.size(), s);
  thrust::transform(gpu::policy(c, s), gpu::counting<std::size_t>(span.first), gpu::counting<std::size_t>(span.last),
                    sums.data(), chunk_sum{plan});
  c.copy(out, sums.data(), sums.bytes(), gpu::copy_kind::device_to_host, s);
  c.synchronize(s);
}

}  // namespace tandem
