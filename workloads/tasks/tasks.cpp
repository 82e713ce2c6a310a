#include "tandem/workloads/tasks.hpp"

#include <algorithm>

#include "tandem/errors.hpp"

namespace tandem {

namespace {
constexpr std::uint64_t max_count = std::uint64_t{1} << 20;
// Partials held at once: 2^16 pieces (1 MiB), whatever count and n are.
constexpr std::size_t window_chunks = std::size_t{1} << 16;

class tasks_workload final : public workload_of<tasks_result> {
 public:
  explicit tasks_workload(const tasks_options& o) : options_(o) { tasks_params_of(o); }
  std::string name() const override { return "tasks"; }
  nlohmann::json params() const override { return {{"count", options_.count}, {"n", options_.n}}; }
  work_amount work() const override { return {double(options_.count) * double(options_.n), "terms/s"}; }
  // Threads pay off from about a millisecond of work (2e9 terms/s per core); the GPU from about
  // 50 ms, where its launch and copy are a few percent (docs/execution-model.md, "auto").
  auto_thresholds thresholds() const override { return {2e6, 1e8}; }
  tasks_result compute(run_context& ctx) override { return run_tasks(ctx, options_); }

 private:
  tasks_options options_;
};
}  // namespace

kernels::tasks_params tasks_params_of(const tasks_options& o) {
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

job<tasks_kernel> tasks_job(const tasks_options& o) {
  job<tasks_kernel> j;
  j.params = tasks_params_of(o);
  j.plan = chunk_plan(j.params.count * j.params.pieces, 1);
  j.group_chunks = std::max<std::size_t>(j.params.pieces, 1);
  return j;
}

tasks_result run_tasks(run_context& ctx, const tasks_options& o) {
  const job<tasks_kernel> j = tasks_job(o);
  tasks_result r;
  r.sums.assign(o.count, kernels::uint128{});
  if (j.params.pieces == 0) return r;  // n = 0: every sum is 0
  // A group is one task: its pieces' sum is the summary (16 bytes per task travel between ranks).
  fold_groups(
      ctx, j, std::max<std::size_t>(window_chunks / j.group_chunks, 1),
      [](std::size_t, std::span<const kernels::uint128> pieces) {
        kernels::uint128 sum;
        for (const kernels::uint128& s : pieces) sum = kernels::add(sum, s);
        return sum;
      },
      [&](std::size_t task, const kernels::uint128& sum) {
        r.sums[task] = sum;
        r.total = kernels::add(r.total, sum);
      });
  return r;
}

tasks_result run_tasks(executor& ex, const tasks_options& o) {
  run_context ctx = cpu_context(ex);
  return run_tasks(ctx, o);
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

nlohmann::json result_json(const tasks_result& r) {
  nlohmann::json sums = nlohmann::json::array();
  for (const auto& s : r.sums) sums.push_back(to_decimal(s));
  return {{"sums", sums}, {"total", to_decimal(r.total)}};
}

std::unique_ptr<workload> make_tasks_workload(const tasks_options& o) { return std::make_unique<tasks_workload>(o); }

}  // namespace tandem
