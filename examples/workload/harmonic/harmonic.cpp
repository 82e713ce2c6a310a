#include "tandem/workloads/harmonic.hpp"

#include "tandem/errors.hpp"
#include "tandem/kernels/harmonic.hpp"

namespace tandem {

namespace {
// 2^16 terms per chunk (about 0.1 ms on one core), 64 chunks per fold group.
constexpr std::size_t chunk_terms = std::size_t{1} << 16;
constexpr std::size_t group_chunks = 64;

class harmonic_workload final : public workload_of<harmonic_result> {
 public:
  explicit harmonic_workload(const harmonic_options& o) : options_(o) { harmonic_job(o); }
  std::string name() const override { return "harmonic"; }
  nlohmann::json params() const override { return {{"n", options_.n}}; }
  work_amount work() const override { return {double(options_.n), "terms/s"}; }
  harmonic_result compute(run_context& ctx) override { return run_harmonic(ctx, options_); }

 private:
  harmonic_options options_;
};
}  // namespace

double harmonic_kernel::run(const params_type&, chunk_range r) { return kernels::harmonic_terms(r.begin, r.end); }

job<harmonic_kernel> harmonic_job(const harmonic_options& o) {
  if (o.n > (std::uint64_t{1} << 40)) throw usage_error("harmonic: --n must be at most 2^40");
  job<harmonic_kernel> j;
  j.params = {o.n};
  j.plan = chunk_plan(o.n, chunk_terms);
  j.group_chunks = group_chunks;
  return j;
}

harmonic_result run_harmonic(run_context& ctx, const harmonic_options& o) {
  harmonic_result r;
  r.terms = o.n;
  run_groups(ctx, harmonic_job(o), 16, [&](std::size_t, std::span<const double> chunks) {
    double group = 0;  // the fold's first level: a group's chunks in order
    for (double c : chunks) group = group + c;
    r.sum = r.sum + group;  // then the groups in order
  });
  return r;
}

nlohmann::json result_json(const harmonic_result& r) { return {{"sum", r.sum}, {"terms", r.terms}}; }

std::unique_ptr<workload> make_harmonic_workload(const harmonic_options& o) {
  return std::make_unique<harmonic_workload>(o);
}

}  // namespace tandem
