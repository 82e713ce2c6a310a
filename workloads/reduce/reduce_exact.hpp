// Internal to the reduce workload: --exact, on any backend.
#pragma once

#include <cstdint>

#include "tandem/workload.hpp"
#include "tandem/workloads/reduce.hpp"

namespace tandem::detail {

// The correctly rounded values `pass` asks for (kernels::reduce_pass bits), in the data's precision.
reduce_values run_exact(run_context& ctx, const reduce_input& in, std::uint32_t pass);

}  // namespace tandem::detail
