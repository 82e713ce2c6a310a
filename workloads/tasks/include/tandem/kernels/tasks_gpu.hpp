// GPU entry point of the tasks workload. Declared without CUDA types so host code compiles with
// g++; defined in kernels/cuda/tasks.cu, present only in builds with CUDA (TANDEM_WITH_CUDA).
#pragma once

#include "tandem/kernels/tasks.hpp"
#include "tandem/kernels/uint128.hpp"

namespace tandem::kernels::gpu {

// The sum of every piece of every task, on the current device, into out[count * pieces] in chunk
// order (task-major). Throws tandem::gpu::error on any CUDA failure.
void tasks_piece_sums(const tasks_params& p, uint128* out);

}  // namespace tandem::kernels::gpu
