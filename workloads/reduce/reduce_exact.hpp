// Internal to the reduce workload: --exact, on any backend.
#pragma once

#include <cstdint>

#include "tandem/workload.hpp"
#include "tandem/workloads/reduce.hpp"

namespace tandem::detail {

class reduce_gpu;

// The correctly rounded values `pass` asks for (kernels::reduce_pass bits), in the data's
// precision; min and max are copied from `minmax` (the default mode's, already exact). `engine`:
// the gpu backend's engine (run_reduce makes one when the workload has none), null on the CPU.
reduce_values run_exact(run_context& ctx, const reduce_input& in, std::uint32_t pass, reduce_gpu* engine,
                        const reduce_values& minmax);

}  // namespace tandem::detail
