// `tandem montecarlo`: stock paths by Monte Carlo, their final price's mean, spread, VaR and CVaR,
// and optionally an option price with error bars, on every backend with bitwise the same answer.
// Defaults reproduce the published Ray example (10,000 paths of 252 steps, S0 = 100, sigma = 0.02
// per step, mu = 0). Design and accuracy: workloads/montecarlo/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"
#include "tandem/job.hpp"
#include "tandem/kernels/montecarlo.hpp"
#include "tandem/workload.hpp"

namespace tandem {

// Limits that keep memory bounded whatever the flags (montecarlo_job refuses more):
// - Sobol replicates: the fold keeps statistics per replicate (120 bytes each), and each replicate
//   is at least one chunk; 65,536 is far more than an error bar needs (16 is the default).
inline constexpr std::uint32_t montecarlo_max_qmc_replicates = 65536;
// - the exact VaR keeps the k smallest final prices, k = ceil(level x paths), in a candidate list
//   of at most max(2k, 65,536) doubles: k <= 2^26 keeps it within 1 GiB.
inline constexpr std::uint64_t montecarlo_max_var_rank = std::uint64_t{1} << 26;

struct montecarlo_options {
  std::uint64_t paths = 10'000;
  std::uint32_t steps = 252;
  double s0 = 100;
  double mu = 0;        // drift per unit time (replaced by the rate when pricing an option)
  double sigma = 0.02;  // volatility per sqrt(unit time)
  double dt = 1;        // step length in units of time
  kernels::mc_model model = kernels::mc_model::gbm;
  double var_level = 0.05;
  kernels::mc_option option = kernels::mc_option::none;
  double strike = 100;
  double rate = 0;
  bool antithetic = false;
  bool control_variate = false;  // geometric-Asian control, Asian options under GBM only
  kernels::mc_sampling sampling = kernels::mc_sampling::pseudo;
  std::uint32_t qmc_replicates = 16;  // Sobol: independent digital shifts, for the error bar
  std::uint64_t seed = 42;
};

struct montecarlo_result {
  std::uint64_t paths = 0;
  double mean = 0, std = 0, mean_std_error = 0;
  double mean_variance_reduction = 1;  // plain sampling's variance of the mean over this run's
  double var = 0, cvar = 0, var_level = 0;
  std::uint64_t var_rank = 0;          // VaR is the var_rank-th smallest final price (1-based)
  bool priced = false;                 // an option was asked for
  double price = 0, price_std_error = 0, price_ci_low = 0, price_ci_high = 0;
  double variance_reduction = 1;       // plain sampling's price variance over this run's
  double plain_price_std_error = 0;
  double control_beta = 0;
  std::optional<double> bs_price;                // European options
  std::optional<double> geometric_asian_price;   // Asian options: the control's exact value
};

// Validates and derives the per-path parameters. Throws usage_error with the flag's name.
kernels::mc_params montecarlo_job(const montecarlo_options& o);

// One chunk's partial: its statistics and every final price of its paths (for the exact VaR).
// Fixed size and trivially copyable, so the procs backend ships it through shared memory.
struct montecarlo_partial {
  kernels::mc_chunk_stats stats;
  std::uint64_t paths = 0;
  double finals[2 * kernels::mc_chunk_samples];
};

struct montecarlo_chunk_params {
  kernels::mc_params p;
  std::uint64_t first_sample = 0;  // added to every chunk's sample indices (0 for a whole job)
};

// The chunk kernel: one chunk is mc_chunk_samples samples (fewer for Sobol replicates smaller
// than that, so no chunk straddles two replicates).
struct montecarlo_kernel {
  using params_type = montecarlo_chunk_params;
  using partial_type = montecarlo_partial;
  // The worker's context keeps the Sobol tables between chunks (built once per worker).
  static partial_type run(const params_type& p, chunk_range r, worker_context& w);
  static partial_type run(const params_type& p, chunk_range r) { return run(p, r, worker_context::current()); }
};

std::uint64_t montecarlo_chunk_size(const kernels::mc_params& p);
// Chunks per fold group: 16, or fewer so that a group never straddles two Sobol replicates.
std::uint64_t montecarlo_group_chunks(const kernels::mc_params& p);

// The job: one sample per item, chunks of montecarlo_chunk_size, fold groups of
// montecarlo_group_chunks (the chunks' statistics merge in order within a group, then the groups
// in order: the same tree on every backend).
job<montecarlo_kernel> montecarlo_job_of(const montecarlo_options& o);

montecarlo_result run_montecarlo(executor& ex, const montecarlo_options& o);
// On any backend (the run context the runner sets up). On the gpu backend this makes a GPU engine
// for the one run; the workload (make_montecarlo_workload) makes it once, in prepare.
montecarlo_result run_montecarlo(run_context& ctx, const montecarlo_options& o);
// On the GPU engine made for these options (montecarlo_gpu.hpp), with the buffers it holds: the way
// to time repeated GPU runs. Throws unavailable_error in a build without GPU code.
class montecarlo_gpu;
montecarlo_result run_montecarlo(montecarlo_gpu& engine, const montecarlo_options& o);

// Closed forms: Black-Scholes for a European option and the discretely monitored geometric-Asian
// option (average of S at t = dt, 2 dt, ..., T), both under GBM with volatility sigma, rate r.
double black_scholes_price(bool put, double s0, double strike, double rate, double sigma, double t);
double geometric_asian_price(bool put, double s0, double strike, double rate, double sigma, double dt,
                             std::uint32_t steps);

nlohmann::json to_json(const montecarlo_result& r);
nlohmann::json result_json(const montecarlo_result& r);
nlohmann::json to_json(const montecarlo_options& o);
std::string to_string(kernels::mc_model m);
std::string to_string(kernels::mc_option o);

std::unique_ptr<workload> make_montecarlo_workload(const montecarlo_options& o);

}  // namespace tandem
