#include "tandem/workloads/tasks.hpp"

#include <algorithm>

#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"

namespace tandem {

namespace {
constexpr std::uint64_t max_count = std::uint64_t{1} << 20;

// Partials arrive task-major; fold each task's pieces in order, then the tasks in order.
tasks_result fold(const kernels::tasks_params& p, const std::vector<kernels::uint128>& partials) {
  tasks_result r;
  r.sums.assign(p.count, kernels::uint128{});
  for (std::uint64_t t = 0; t < p.count; ++t) {
    for (std::uint64_t k = 0; k < p.pieces; ++k) r.sums[t] = kernels::add(r.sums[t], partials[t * p.pieces + k]);
    r.total = kernels::add(r.total, r.sums[t]);
  }
  return r;
}

class tasks_workload final : public workload {
 public:
  explicit tasks_workload(const tasks_options& o) : options_(o) { tasks_job(o); }
  std::string name() const override { return "tasks"; }
  nlohmann::json params() const override { return {{"count", options_.count}, {"n", options_.n}}; }
  work_amount work() const override { return {double(options_.count) * double(options_.n), "terms/s"}; }
  nlohmann::json run(const run_context& ctx) override {
    const tasks_result r = ctx.backend == "gpu" ? run_tasks_gpu(options_) : run_tasks(*ctx.cpu, options_);
    nlohmann::json sums = nlohmann::json::array();
    for (const auto& s : r.sums) sums.push_back(to_decimal(s));
    return {{"sums", sums}, {"total", to_decimal(r.total)}};
  }

 private:
  tasks_options options_;
};
}  // namespace

kernels::tasks_params tasks_job(const tasks_options& o) {
  if (o.n > kernels::tasks_max_n)
    throw usage_error("tasks: --n must be at most 2^32 = 4294967296 (got " + std::to_string(o.n) + ")");
  if (o.count > max_count)
    throw usage_error("tasks: --count must be at most 2^20 = 1048576 (got " + std::to_string(o.count) + ")");
  return kernels::make_tasks_params(o.count, o.n);
}

tasks_kernel::partial_type tasks_kernel::run(const params_type& p, chunk_range r) {
  kernels::uint128 s;
  for (std::size_t g = r.begin; g < r.end; ++g) s = kernels::add(s, kernels::piece_sum_strided(p, g, 0, 1));
  return s;
}

tasks_result run_tasks(executor& ex, const tasks_options& o) {
  const kernels::tasks_params p = tasks_job(o);
  // One piece per chunk: the plan depends on the job alone.
  const chunk_plan plan(p.count * p.pieces, 1);
  return fold(p, run_chunks<tasks_kernel>(ex, plan, p));
}

tasks_result run_tasks_gpu(const tasks_options& o) {
  const kernels::tasks_params p = tasks_job(o);
#if TANDEM_WITH_GPU_CODE
  // Until the runner owns the device context: one per process, so the pool's memory is reused.
  static const std::unique_ptr<gpu::context> ctx = gpu::context::open();
  const chunk_plan plan(p.count * p.pieces, 1);
  std::vector<kernels::uint128> partials(plan.chunks());
  tasks_kernel::run_gpu(*ctx, p, plan, {0, plan.chunks()}, partials.data());
  return fold(p, partials);
#else
  (void)p;
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU support");
#endif
}

std::string to_decimal(kernels::uint128 v) {
  if (v.hi == 0 && v.lo == 0) return "0";
  std::string digits;
  // Long division by 10 on the two 64-bit words, through 32-bit halves.
  while (v.hi != 0 || v.lo != 0) {
    std::uint64_t rem = 0;
    std::uint32_t parts[4] = {std::uint32_t(v.hi >> 32), std::uint32_t(v.hi), std::uint32_t(v.lo >> 32),
                              std::uint32_t(v.lo)};
    for (auto& part : parts) {
      const std::uint64_t cur = (rem << 32) | part;
      part = std::uint32_t(cur / 10);
      rem = cur % 10;
    }
    v.hi = (std::uint64_t(parts[0]) << 32) | parts[1];
    v.lo = (std::uint64_t(parts[2]) << 32) | parts[3];
    digits.push_back(char('0' + rem));
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::unique_ptr<workload> make_tasks_workload(const tasks_options& o) { return std::make_unique<tasks_workload>(o); }

}  // namespace tandem
