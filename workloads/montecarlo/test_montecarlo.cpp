// The Monte Carlo workload: the answer against closed forms within the error bars it reports, the
// exact order statistic against a brute-force sort, bitwise reproducibility across backends,
// worker counts and chunk edges, and clear errors for bad parameters.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "fsum_reference.hpp"
#include "backend_context.hpp"
#include "tandem/backend.hpp"
#include "tandem/errors.hpp"
#include "tandem/executors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/runner.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/montecarlo_fold.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"

namespace {

using namespace tandem;
using kernels::mc_model;
using kernels::mc_option;
using kernels::mc_sampling;

montecarlo_result run_seq(const montecarlo_options& o) {
  seq_executor ex;
  return run_montecarlo(ex, o);
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// ---- statistics against closed forms --------------------------------------------------------

TEST(montecarlo_statistics, gbm_mean_within_3_standard_errors) {
  montecarlo_options o;
  o.paths = 20000;
  o.steps = 64;
  o.mu = 0.002;
  o.sigma = 0.03;
  const montecarlo_result r = run_seq(o);
  const double exact = o.s0 * std::exp(o.mu * o.steps * o.dt);
  EXPECT_LT(std::abs(r.mean - exact), 3 * r.mean_std_error) << r.mean << " vs " << exact;
  // The spread of a log-normal: sd = E * sqrt(e^{sigma^2 T} - 1).
  const double sd = exact * std::sqrt(std::expm1(o.sigma * o.sigma * o.steps * o.dt));
  EXPECT_NEAR(r.std, sd, 0.05 * sd);
}

TEST(montecarlo_statistics, arithmetic_model_mean_within_3_standard_errors) {
  montecarlo_options o;  // the published example's model
  o.model = mc_model::arithmetic;
  o.paths = 20000;
  o.steps = 100;
  o.mu = 0.001;
  const montecarlo_result r = run_seq(o);
  // E[S_n] = S0 (1 + mu dt)^n while the floor at 0 never binds (a 50-sigma move per step).
  const double exact = o.s0 * std::pow(1 + o.mu * o.dt, o.steps);
  EXPECT_LT(std::abs(r.mean - exact), 3 * r.mean_std_error);
}

struct bs_case {
  mc_option option;
  double strike, rate, sigma, t;
};

TEST(montecarlo_statistics, european_options_within_3_standard_errors_of_black_scholes) {
  const bs_case cases[] = {{mc_option::call, 100, 0.05, 0.2, 1.0},
                           {mc_option::call, 120, 0.01, 0.3, 0.5},
                           {mc_option::call, 80, 0.03, 0.15, 2.0},
                           {mc_option::put, 110, 0.02, 0.25, 1.0},
                           {mc_option::put, 90, 0.04, 0.35, 0.25}};
  std::uint64_t seed = 7;
  for (const bs_case& c : cases) {
    montecarlo_options o;
    o.paths = 40000;
    o.steps = 4;  // the log-normal step is exact, so the step count does not bias a European price
    o.dt = c.t / o.steps;
    o.sigma = c.sigma;
    o.rate = c.rate;
    o.strike = c.strike;
    o.option = c.option;
    o.seed = seed++;
    const montecarlo_result r = run_seq(o);
    ASSERT_TRUE(r.bs_price.has_value());
    EXPECT_LT(std::abs(r.price - *r.bs_price), 3 * r.price_std_error)
        << "K=" << c.strike << " r=" << c.rate << " sigma=" << c.sigma << " T=" << c.t << ": " << r.price << " +- "
        << r.price_std_error << " vs " << *r.bs_price;
    EXPECT_NEAR(r.price_ci_high - r.price_ci_low, 2 * 1.959963984540054 * r.price_std_error, 1e-12);
  }
}

TEST(montecarlo_statistics, var_within_3_standard_errors_of_lognormal_quantile) {
  for (double level : {0.01, 0.05, 0.25}) {
    montecarlo_options o;
    o.paths = 100000;
    o.steps = 4;
    o.sigma = 0.1;
    o.mu = 0.01;
    o.var_level = level;
    const montecarlo_result r = run_seq(o);
    const double t = o.steps * o.dt;
    const double m = std::log(o.s0) + (o.mu - 0.5 * o.sigma * o.sigma) * t, s = o.sigma * std::sqrt(t);
    const double zq = kernels::inverse_normal(level);
    const double q = std::exp(m + s * zq);
    // The sample quantile's standard error: sqrt(a (1 - a) / N) / f(q), f the log-normal density.
    const double density = std::exp(-0.5 * zq * zq) / (q * s * std::sqrt(2 * M_PI));
    const double se = std::sqrt(level * (1 - level) / static_cast<double>(o.paths)) / density;
    EXPECT_LT(std::abs(r.var - q), 3 * se) << "level " << level << ": " << r.var << " vs " << q;
    // CVaR: E[S | S <= q] = E[S] Phi(zq - s) / a for a log-normal.
    const double cvar = std::exp(m + 0.5 * s * s) * normal_cdf(zq - s) / level;
    EXPECT_NEAR(r.cvar, cvar, 0.01 * cvar);
    EXPECT_LT(r.cvar, r.var);
  }
}

TEST(montecarlo_variance_reduction, sobol_with_bridge_at_least_100x_for_a_european_call) {
  montecarlo_options o;
  o.option = mc_option::call;
  o.sigma = 0.2;
  o.rate = 0.05;
  o.steps = 252;
  o.dt = 1.0 / 252;
  o.sampling = mc_sampling::sobol;
  o.qmc_replicates = 16;
  o.paths = 16 * 4096;  // 4096 points per estimate
  const montecarlo_result r = run_seq(o);
  EXPECT_GE(r.variance_reduction, 100.0) << "price " << r.price << " +- " << r.price_std_error;
  EXPECT_LT(std::abs(r.price - *r.bs_price), 3 * r.price_std_error + 1e-6);
}

TEST(montecarlo_variance_reduction, antithetic_reduces_a_call_variance) {
  montecarlo_options o;
  o.option = mc_option::call;
  o.sigma = 0.2;
  o.rate = 0.05;
  o.steps = 8;
  o.dt = 1.0 / 8;
  o.paths = 40000;
  o.antithetic = true;
  const montecarlo_result r = run_seq(o);
  EXPECT_GT(r.variance_reduction, 1.5);
  EXPECT_LT(std::abs(r.price - *r.bs_price), 3 * r.price_std_error);
}

TEST(montecarlo_variance_reduction, geometric_asian_control_for_asian_options) {
  for (mc_option opt : {mc_option::asian_call, mc_option::asian_put}) {
    montecarlo_options o;
    o.option = opt;
    o.sigma = 0.2;
    o.rate = 0.05;
    o.steps = 50;
    o.dt = 1.0 / 50;
    o.paths = 20000;
    const montecarlo_result plain = run_seq(o);
    o.control_variate = true;
    const montecarlo_result cv = run_seq(o);
    EXPECT_GE(cv.variance_reduction, 20.0);
    // Same paths: the controlled estimate must sit inside the plain one's error bar.
    EXPECT_LT(std::abs(cv.price - plain.price), 3 * plain.price_std_error);
    EXPECT_LT(cv.price_std_error, plain.price_std_error);
  }
}

// The control's closed form (discrete geometric average) against a direct simulation of it.
TEST(montecarlo_statistics, geometric_asian_closed_form_matches_simulation) {
  montecarlo_options o;
  o.option = mc_option::asian_call;
  o.control_variate = true;
  o.sigma = 0.3;
  o.rate = 0.03;
  o.steps = 12;
  o.dt = 1.0 / 12;
  o.strike = 95;
  o.paths = 50000;
  const kernels::mc_params p = montecarlo_job(o);
  double sum = 0, sum2 = 0;
  for (std::uint64_t i = 0; i < o.paths; ++i) {
    const double x = kernels::mc_pseudo_path(p, i, false).control;
    sum += x;
    sum2 += x * x;
  }
  const double n = static_cast<double>(o.paths), mean = sum / n;
  const double se = std::sqrt((sum2 / n - mean * mean) / n);
  const double exact = geometric_asian_price(false, o.s0, o.strike, o.rate, o.sigma, o.dt, o.steps);
  EXPECT_LT(std::abs(mean - exact), 3 * se) << mean << " vs " << exact;
}

// ---- the exact order statistic ---------------------------------------------------------------

TEST(montecarlo_var, is_the_exact_order_statistic_of_every_final_price) {
  for (double level : {0.01, 0.3}) {
    montecarlo_options o;
    o.paths = 150001;  // several windows, and more candidates than the first compaction keeps
    o.steps = 2;
    o.sigma = 0.1;
    o.var_level = level;
    const kernels::mc_params p = montecarlo_job(o);
    std::vector<double> finals(o.paths);
    for (std::uint64_t i = 0; i < o.paths; ++i) finals[i] = kernels::mc_pseudo_path(p, i, false).final_price;
    std::sort(finals.begin(), finals.end());
    const std::uint64_t k = static_cast<std::uint64_t>(std::ceil(level * static_cast<double>(o.paths)));
    const double sum = tandem::testing::fsum(std::vector<double>(finals.begin(), finals.begin() + std::ptrdiff_t(k)));
    thread_executor ex(2);
    const montecarlo_result r = run_montecarlo(ex, o);
    EXPECT_EQ(r.var_rank, k);
    EXPECT_EQ(r.var, finals[k - 1]);
    EXPECT_EQ(r.cvar, sum / static_cast<double>(k));  // the correctly rounded sum, over k
    // Mean and spread against a plain two-pass computation (a different summation order).
    double s = 0;
    for (double f : finals) s += f;
    const double mean = s / static_cast<double>(o.paths);
    double m2 = 0;
    for (double f : finals) m2 += (f - mean) * (f - mean);
    EXPECT_NEAR(r.mean, mean, 1e-12 * mean);
    EXPECT_NEAR(r.std, std::sqrt(m2 / static_cast<double>(o.paths - 1)), 1e-10 * r.std);
  }
}

TEST(montecarlo_var, rank_is_ceil_of_level_times_paths) {
  EXPECT_EQ(var_rank(0.05, 10000), 500u);
  EXPECT_EQ(var_rank(0.05, 10001), 501u);
  EXPECT_EQ(var_rank(0.5, 1), 1u);
  EXPECT_EQ(var_rank(1e-9, 100), 1u);
}

// ---- the chunk kernel is the per-path function -------------------------------------------------

// The CPU runs pseudo-random paths in SIMD lanes; each lane must be bitwise the per-path function
// the GPU runs: final price, payoff and control, for both models, every option, antithetic pairs,
// step counts around the lane code's blocks of 4 and 16, and drifts that take the Asian average's
// exponential outside its vectorised range.
TEST(montecarlo_kernel, lanes_equal_the_per_path_function_bitwise) {
  struct variant {
    mc_model model;
    mc_option option;
    bool control;
  };
  const variant variants[] = {{mc_model::gbm, mc_option::put, false},        {mc_model::arithmetic, mc_option::call, false},
                              {mc_model::gbm, mc_option::asian_call, true},  {mc_model::gbm, mc_option::asian_put, false},
                              {mc_model::arithmetic, mc_option::asian_call, false}, {mc_model::gbm, mc_option::none, false}};
  for (const variant& v : variants)
    for (bool antithetic : {false, true})
      for (std::uint32_t steps : {1u, 3u, 4u, 5u, 16u, 17u, 33u, 252u}) {
        montecarlo_options o;
        o.model = v.model;
        o.option = v.option;
        o.control_variate = v.control;
        o.antithetic = antithetic;
        o.steps = steps;
        o.sigma = 0.3;  // wide enough that the arithmetic floor and both normal tails occur
        o.rate = 0.01;
        o.paths = 2 * 300 + 2;
        o.seed = steps;
        kernels::mc_params p = montecarlo_job(o);
        // e^x below the exponential's range (x < -745 by step 3): a drift of -300 a step. Through the
        // flags that would take --rate -300, whose discount e^{-rate T} overflows (refused), so set here.
        if (v.option == mc_option::asian_put && steps == 3) p.drift = -300.0;
        const montecarlo_partial part = montecarlo_kernel::run({p, 0}, {0, p.samples});
        ASSERT_EQ(part.paths, o.paths);
        // The chunk statistics come from the per-path values; rebuild them from the per-path function.
        std::vector<double> finals, payoffs, controls;
        for (std::uint64_t j = 0; j < part.paths; ++j) {
          const std::uint64_t stream = antithetic ? j / 2 : j;
          const bool mirror = antithetic && (j & 1u);
          const kernels::mc_path_result ref = kernels::mc_pseudo_path(p, stream, mirror);
          ASSERT_EQ(part.finals[j], ref.final_price)
              << to_string(v.model) << " " << to_string(v.option) << " antithetic=" << antithetic << " steps=" << steps
              << " path " << j;
          finals.push_back(ref.final_price);
          payoffs.push_back(ref.payoff);
          controls.push_back(ref.control);
        }
        const bool option = v.option != mc_option::none;
        const kernels::mc_chunk_stats expect = kernels::mc_fold_chunk(
            p, p.samples, finals.data(), option ? payoffs.data() : nullptr, option && v.control ? controls.data() : nullptr);
        EXPECT_EQ(std::memcmp(&part.stats, &expect, sizeof expect), 0)
            << to_string(v.model) << " " << to_string(v.option) << " antithetic=" << antithetic << " steps=" << steps;
      }
}

// ---- reproducibility -------------------------------------------------------------------------

std::vector<montecarlo_options> reproducibility_cases() {
  std::vector<montecarlo_options> cases;
  montecarlo_options base;
  base.steps = 20;
  for (std::uint64_t paths : {1u, 2u, 7u, 1023u, 1024u, 1025u, 2053u, 65536u + 1025u}) {
    montecarlo_options o = base;
    o.paths = paths;
    cases.push_back(o);
  }
  montecarlo_options o = base;
  o.paths = 5000;
  o.option = mc_option::call;
  o.rate = 0.01;
  o.antithetic = true;
  cases.push_back(o);
  o.antithetic = false;
  o.option = mc_option::asian_put;
  o.control_variate = true;
  cases.push_back(o);
  o.option = mc_option::call;
  o.control_variate = false;
  o.sampling = mc_sampling::sobol;
  o.qmc_replicates = 4;
  o.paths = 4 * 2048;
  cases.push_back(o);
  o.qmc_replicates = 8;  // replicates of 256 points: chunks of 256 samples, one chunk per fold group
  o.paths = 8 * 256;
  cases.push_back(o);
  o = base;
  o.model = mc_model::arithmetic;
  o.paths = 3001;
  cases.push_back(o);
  o = base;  // antithetic pairs with payoffs and controls: every series of the fold
  o.paths = 4098;
  o.option = mc_option::asian_call;
  o.control_variate = true;
  o.antithetic = true;
  cases.push_back(o);
  return cases;
}

// Full-precision outputs (the JSON document writes every double so it reads back exactly).
std::string fingerprint(const montecarlo_result& r) { return to_json(r).dump(); }

class montecarlo_backends : public ::testing::TestWithParam<const char*> {};

// One body, every backend (gpu included, skipped by name without a device): bitwise the same
// answer as seq for every case and worker count.
TEST_P(montecarlo_backends, same_bits_as_seq_for_every_worker_count) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  const std::vector<montecarlo_options> cases = reproducibility_cases();
  std::vector<std::string> reference;
  for (const montecarlo_options& o : cases) reference.push_back(fingerprint(run_seq(o)));
  for (unsigned workers : {1u, 2u, 8u}) {
    tandem::testing::backend_context ctx(b, workers);
    for (std::size_t i = 0; i < cases.size(); ++i)
      EXPECT_EQ(fingerprint(run_montecarlo(*ctx, cases[i])), reference[i])
          << GetParam() << " x" << workers << " case " << i << " paths=" << cases[i].paths;
    if (b == backend::seq || b == backend::gpu) break;
  }
}

INSTANTIATE_TEST_SUITE_P(every, montecarlo_backends, ::testing::ValuesIn(tandem::testing::every_backend),
                         [](const auto& p) { return std::string(p.param); });

// ---- the GPU engine --------------------------------------------------------------------------

// Windows of one, two and three fold groups: the fold sees the groups and the VaR candidates window
// by window, and from the second window on the candidates are filtered on the device against the
// fold's bound. Any window size gives seq's bits.
TEST(montecarlo_gpu_engine, any_window_size_gives_the_same_bits) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  session s;
  std::vector<montecarlo_options> cases = reproducibility_cases();
  montecarlo_options many;  // 13 windows of one group; the fold knows its bound after 4 (65,536 candidates)
  many.paths = 200'000;
  many.steps = 4;
  many.var_level = 0.01;
  cases.push_back(many);
  for (const montecarlo_options& o : cases) {
    const std::string reference = fingerprint(run_seq(o));
    const kernels::mc_params p = montecarlo_job(o);
    const std::uint64_t group = montecarlo_chunk_size(p) * montecarlo_group_chunks(p);
    for (std::uint64_t groups : {1u, 2u, 3u}) {
      montecarlo_gpu engine(s.gpu(), p, groups * group);
      EXPECT_EQ(engine.window_samples(), std::min(groups, (p.samples + group - 1) / group) * group);
      EXPECT_EQ(fingerprint(run_montecarlo(engine, o)), reference) << "windows of " << groups << " groups, paths="
                                                                    << o.paths;
    }
  }
}

// The engine takes its memory when it is made (the runner's prepare); runs after the first take
// nothing more from the pool, which therefore never calls the driver.
TEST(montecarlo_gpu_engine, runs_take_no_new_memory) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  session s;
  montecarlo_options o;
  o.paths = 9000;
  o.steps = 12;
  o.option = mc_option::asian_call;
  o.control_variate = true;
  const kernels::mc_params p = montecarlo_job(o);
  montecarlo_gpu engine(s.gpu(), p, 2048);
  const std::string first = fingerprint(run_montecarlo(engine, o));
  const std::size_t reserved = s.gpu().pool_reserved();
  EXPECT_GT(reserved, 0u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(fingerprint(run_montecarlo(engine, o)), first);
  EXPECT_EQ(s.gpu().pool_reserved(), reserved);
}

TEST(montecarlo_gpu_engine, refuses_options_it_was_not_made_for) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  session s;
  montecarlo_options o;
  o.paths = 100;
  montecarlo_gpu engine(s.gpu(), montecarlo_job(o));
  o.seed = 7;
  EXPECT_THROW(run_montecarlo(engine, o), std::invalid_argument);
}

TEST(montecarlo_reproducibility, the_seed_changes_the_answer_and_only_the_seed) {
  montecarlo_options o;
  o.paths = 3000;
  o.steps = 10;
  const std::string a = fingerprint(run_seq(o));
  EXPECT_EQ(fingerprint(run_seq(o)), a);
  o.seed = 43;
  EXPECT_NE(fingerprint(run_seq(o)), a);
}

// ---- bad parameters --------------------------------------------------------------------------

TEST(montecarlo_errors, bad_parameters_are_usage_errors) {
  auto with = [](auto change) {
    montecarlo_options o;
    change(o);
    return o;
  };
  const montecarlo_options bad[] = {
      with([](montecarlo_options& o) { o.sigma = -0.1; }),
      with([](montecarlo_options& o) { o.paths = 0; }),
      with([](montecarlo_options& o) { o.steps = 0; }),
      with([](montecarlo_options& o) { o.var_level = 0; }),
      with([](montecarlo_options& o) { o.var_level = 1; }),
      with([](montecarlo_options& o) { o.var_level = -0.5; }),
      with([](montecarlo_options& o) { o.var_level = NAN; }),
      with([](montecarlo_options& o) { o.s0 = 0; }),
      with([](montecarlo_options& o) { o.dt = 0; }),
      with([](montecarlo_options& o) { o.option = mc_option::call; o.strike = -1; }),
      with([](montecarlo_options& o) { o.option = mc_option::call; o.control_variate = true; }),
      with([](montecarlo_options& o) { o.antithetic = true; o.paths = 101; }),
      with([](montecarlo_options& o) { o.sampling = mc_sampling::sobol; o.paths = 10000; }),
      with([](montecarlo_options& o) { o.sampling = mc_sampling::sobol; o.paths = 16 * 1024; o.steps = 2000; }),
      // Each flag finite, the step or the discount not: (mu - sigma^2/2) dt, sigma sqrt(dt), exp(-rate T).
      with([](montecarlo_options& o) { o.mu = 1e308; o.dt = 10; }),
      with([](montecarlo_options& o) { o.sigma = 1e300; }),
      with([](montecarlo_options& o) { o.model = mc_model::arithmetic; o.mu = 1e300; o.dt = 1e300; }),
      with([](montecarlo_options& o) { o.option = mc_option::call; o.rate = -1e306; o.dt = 10; }),
  };
  for (const montecarlo_options& o : bad) EXPECT_THROW(montecarlo_job(o), usage_error);
  EXPECT_NO_THROW(montecarlo_job(montecarlo_options{}));
  // Large but finite: accepted (sigma^2/2 = 5e199, a drift of -5e199 per step; exp gives 0).
  EXPECT_NO_THROW(montecarlo_job(with([](montecarlo_options& o) { o.sigma = 1e100; })));
}

// Values that pass every other check but would need absurd memory are refused up front: one set of
// statistics per Sobol replicate (120 bytes each), and up to 2k VaR candidates of 8 bytes.
TEST(montecarlo_errors, memory_limits_are_usage_errors) {
  montecarlo_options sobol;
  sobol.sampling = mc_sampling::sobol;
  sobol.qmc_replicates = 4294967295u;  // 2^32 - 1 replicates of one point each: 515 GB of statistics
  sobol.paths = 4294967295u;
  EXPECT_THROW(montecarlo_job(sobol), usage_error);
  sobol.qmc_replicates = montecarlo_max_qmc_replicates + 1;
  sobol.paths = std::uint64_t{sobol.qmc_replicates} * 4;
  EXPECT_THROW(montecarlo_job(sobol), usage_error);
  sobol.qmc_replicates = montecarlo_max_qmc_replicates;
  sobol.paths = std::uint64_t{sobol.qmc_replicates} * 4;
  EXPECT_NO_THROW(montecarlo_job(sobol));

  montecarlo_options var;
  var.paths = 1'000'000'000;
  var.var_level = 0.99;  // k = 990,000,000: 15.8 GB of candidates
  try {
    montecarlo_job(var);
    ADD_FAILURE() << "k = 990000000 accepted";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "montecarlo: exact VaR keeps the k smallest final prices: k = ceil(--var-level x --paths) = 990000000 "
              "must be at most 2^26 = 67108864 (1 GiB); lower --paths or --var-level");
  }
  var.var_level = static_cast<double>(montecarlo_max_var_rank) / 1e9;  // k exactly at the limit
  EXPECT_EQ(var_rank(var.var_level, var.paths), montecarlo_max_var_rank);
  EXPECT_NO_THROW(montecarlo_job(var));
  var.paths = std::uint64_t{1} << 40;  // the largest --paths, at a level whose k fits
  var.var_level = 1e-6;
  EXPECT_NO_THROW(montecarlo_job(var));
}

// The candidate list is cut back whenever it reaches its limit, so it never holds more than
// max(2k, 65536) values, however many one call hands over.
TEST(montecarlo_var, exact_with_one_huge_batch_of_finals) {
  montecarlo_options o;
  o.paths = 300'000;
  const kernels::mc_params p = montecarlo_job(o);
  montecarlo_fold fold(p, 0.05);
  std::vector<double> finals(o.paths);
  for (std::size_t i = 0; i < finals.size(); ++i) finals[i] = static_cast<double>((i * 7919) % finals.size());
  fold.add_finals(finals.data(), finals.size());
  const montecarlo_result r = fold.finish();
  EXPECT_EQ(r.var_rank, 15000u);
  EXPECT_EQ(r.var, 14999.0);  // the values are a permutation of 0 .. paths - 1
  EXPECT_EQ(r.cvar, 14999.0 / 2);
}

TEST(montecarlo_cli, bad_parameters_exit_2_with_one_clear_line) {
  using tandem::testing::run_cli;
  const std::pair<std::string, std::string> cases[] = {{"--sigma -0.1", "--sigma"},
                                                       {"--paths 0", "--paths"},
                                                       {"--var-level 0", "--var-level"},
                                                       {"--var-level 1.5", "--var-level"},
                                                       {"--option call --strike 0", "--strike"},
                                                       {"--model brownian", "model"}};
  for (const auto& [args, mentions] : cases) {
    const auto r = run_cli("montecarlo --backend seq " + args);
    EXPECT_EQ(r.status, 2) << args;
    EXPECT_NE(r.err.find(mentions), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(montecarlo_cli, memory_limits_are_stated_in_help_and_enforced_at_once) {
  using tandem::testing::run_cli;
  const auto help = run_cli("montecarlo --help");
  EXPECT_NE(help.out.find("k must be at most 2^26 = 67108864"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find("(2 to 65536)"), std::string::npos) << help.out;
  const auto var = run_cli("montecarlo --backend seq --paths 1000000000 --var-level 0.99");
  EXPECT_EQ(var.status, 2) << var.err;
  EXPECT_EQ(var.err,
            "tandem: error: montecarlo: exact VaR keeps the k smallest final prices: k = ceil(--var-level x --paths) "
            "= 990000000 must be at most 2^26 = 67108864 (1 GiB); lower --paths or --var-level\n");
  const auto qmc = run_cli("montecarlo --backend seq --qmc sobol --qmc-replicates 4294967295 --paths 4294967295");
  EXPECT_EQ(qmc.status, 2) << qmc.err;
  EXPECT_EQ(std::count(qmc.err.begin(), qmc.err.end(), '\n'), 1) << qmc.err;
  EXPECT_NE(qmc.err.find("--qmc-replicates"), std::string::npos) << qmc.err;
  // Flags the run would not use: reported, not ignored.
  for (const std::string args : {"--strike 90", "--rate 0.01", "--option call --mu 0.1", "--qmc-replicates 8"}) {
    const auto r = run_cli("montecarlo --backend seq --repeat 1 " + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(args.substr(args.rfind("--"), args.rfind(' ') - args.rfind("--"))), std::string::npos) << r.err;
  }
}

TEST(montecarlo_cli, json_result_has_the_documented_keys) {
  const auto r = tandem::testing::run_cli(
      "montecarlo --backend seq,threads --workers 2 --paths 4000 --steps 12 --option call --rate 0.01 --repeat 1 "
      "--warmup 0 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["results"].size(), 2u);
  const nlohmann::json& res = doc["results"][0]["result"];
  for (const char* key : {"mean", "std", "mean_std_error", "var", "cvar", "var_level", "price", "price_std_error",
                          "bs_price", "price_ci95", "variance_reduction"})
    EXPECT_TRUE(res.contains(key)) << key;
  EXPECT_EQ(doc["results"][1]["result"], res);
  EXPECT_TRUE(doc["agree"].get<bool>());
}

}  // namespace
