// `tandem tasks`: COUNT independent CPU-bound tasks, each the exact sum of i*i for 0 <= i < N, as
// in the published concurrent.futures example (8 tasks of N = 10^7 by default).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tandem/chunk_plan.hpp"
#include "tandem/executor.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/kernels/tasks.hpp"
#include "tandem/workload.hpp"

namespace tandem {

struct tasks_options {
  std::uint64_t count = 8;
  std::uint64_t n = 10'000'000;
};

struct tasks_result {
  std::vector<kernels::uint128> sums;  // one per task
  kernels::uint128 total;              // sum over tasks
};

// Throws usage_error when n > 2^32 (the squares would not fit 64 bits) or count > 2^20.
kernels::tasks_params tasks_job(const tasks_options& o);

// The chunk kernel: one chunk is one piece of one task.
struct tasks_kernel {
  using params_type = kernels::tasks_params;
  using partial_type = kernels::uint128;
  static partial_type run(const params_type& p, chunk_range r);
  // The same partials on a device (tasks.cu): out[i] (host memory) is the exact sum of chunk
  // span.first + i. Defined only in builds with GPU code (TANDEM_WITH_GPU_CODE).
  static void run_gpu(gpu::context& ctx, const params_type& p, const chunk_plan& plan, chunk_span span,
                      partial_type* out);
};

tasks_result run_tasks(executor& ex, const tasks_options& o);
// On GPU device 0 (or its host emulation). Throws unavailable_error in a build without GPU code.
tasks_result run_tasks_gpu(const tasks_options& o);

// Exact decimal text of a 128-bit value.
std::string to_decimal(kernels::uint128 v);

std::unique_ptr<workload> make_tasks_workload(const tasks_options& o);

}  // namespace tandem
