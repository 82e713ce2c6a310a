// `tandem harmonic`: the example workload of docs/adding-a-workload.md. H(n) = sum of 1/i for
// i = 1..n, cut into fixed chunks whose sums are folded in chunk order, so every backend gives the
// same bits (a floating-point sum that depends on grouping, made reproducible by the job).
#pragma once

#include <cstdint>
#include <memory>

#include "tandem/gpu/context.hpp"
#include "tandem/job.hpp"
#include "tandem/workload.hpp"

namespace tandem {

struct harmonic_options {
  std::uint64_t n = 100'000'000;
};

struct harmonic_result {
  double sum = 0;
  std::uint64_t terms = 0;
};
nlohmann::json result_json(const harmonic_result& r);

struct harmonic_kernel {
  struct params_type {
    std::uint64_t n;
  };
  using partial_type = double;
  static double run(const params_type& p, chunk_range r);
  static void run_gpu(gpu::context& c, const params_type& p, const chunk_plan& plan, chunk_span span, double* out);
};

job<harmonic_kernel> harmonic_job(const harmonic_options& o);
harmonic_result run_harmonic(run_context& ctx, const harmonic_options& o);
std::unique_ptr<workload> make_harmonic_workload(const harmonic_options& o);

}  // namespace tandem
