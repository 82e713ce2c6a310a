#include "tandem/workloads/montecarlo.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/ranks.hpp"
#include "tandem/workloads/montecarlo_fold.hpp"
#include "tandem/workloads/sobol.hpp"
#include "montecarlo_lanes.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"

namespace tandem {

namespace {
using kernels::mc_model;
using kernels::mc_option;
using kernels::mc_sampling;

constexpr std::uint64_t max_paths = std::uint64_t{1} << 40;

// Chunks per executor run: 64, in whole fold groups (4 groups of 16, or 16 of 4 for Sobol
// replicates of 4,096 points). Each window's finals are folded into the lower-tail candidates
// before the next runs, so memory is one window of partials (about 1 MB) plus the candidates,
// whatever the number of paths. 64 chunks keep 2-8 workers busy with less than one chunk of
// imbalance; windows of 4 groups whatever their size made Sobol runs of 4-chunk groups 7% slower
// on 2 busy cores (a barrier every 16 chunks).
constexpr std::size_t window_chunks = 64;

std::string number(double v) {
  nlohmann::json j = v;
  return j.dump();
}

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// The option leg's closed-form reference and control expectation.
void add_closed_forms(const montecarlo_options& o, montecarlo_result& r) {
  const bool put = kernels::mc_is_put(o.option);
  if (o.option == mc_option::call || o.option == mc_option::put)
    r.bs_price = black_scholes_price(put, o.s0, o.strike, o.rate, o.sigma, o.dt * o.steps);
  if (kernels::mc_is_asian(o.option) && o.model == mc_model::gbm)
    r.geometric_asian_price = geometric_asian_price(put, o.s0, o.strike, o.rate, o.sigma, o.dt, o.steps);
}
}  // namespace

kernels::mc_params montecarlo_job(const montecarlo_options& o) {
  auto fail = [](const std::string& what) { throw usage_error("montecarlo: " + what); };
  if (o.paths == 0) fail("--paths must be at least 1");
  if (o.paths > max_paths) fail("--paths must be at most 2^40");
  if (o.steps == 0) fail("--steps must be at least 1");
  if (!(o.s0 > 0) || !std::isfinite(o.s0)) fail("--s0 must be a positive number (got " + number(o.s0) + ")");
  if (!(o.sigma >= 0) || !std::isfinite(o.sigma)) fail("--sigma must be zero or positive (got " + number(o.sigma) + ")");
  if (!(o.dt > 0) || !std::isfinite(o.dt)) fail("--dt must be positive (got " + number(o.dt) + ")");
  if (!std::isfinite(o.mu)) fail("--mu must be a finite number");
  if (!(o.var_level > 0 && o.var_level < 1))
    fail("--var-level must lie strictly between 0 and 1 (got " + number(o.var_level) + ")");
  const bool option = o.option != mc_option::none;
  if (option && (!(o.strike > 0) || !std::isfinite(o.strike)))
    fail("--strike must be positive (got " + number(o.strike) + ")");
  if (!std::isfinite(o.rate)) fail("--rate must be a finite number");
  if (o.control_variate && !(kernels::mc_is_asian(o.option) && o.model == mc_model::gbm))
    fail("--control-variate applies to asian-call and asian-put under --model gbm");
  if (o.antithetic && o.paths % 2 != 0) fail("--antithetic needs an even --paths (paths come in pairs)");
  if (const std::uint64_t k = var_rank(o.var_level, o.paths); k > montecarlo_max_var_rank)
    fail("exact VaR keeps the k smallest final prices: k = ceil(--var-level x --paths) = " + std::to_string(k) +
         " must be at most 2^26 = " + std::to_string(montecarlo_max_var_rank) +
         " (1 GiB); lower --paths or --var-level");
  if (o.sampling == mc_sampling::sobol) {
    if (o.antithetic) fail("--antithetic and --qmc sobol cannot be combined");
    if (o.qmc_replicates > montecarlo_max_qmc_replicates)
      fail("--qmc-replicates must be at most " + std::to_string(montecarlo_max_qmc_replicates) + " (got " +
           std::to_string(o.qmc_replicates) + ")");
    if (o.steps > kernels::mc_qmc_max_steps)
      fail("--qmc sobol supports at most " + std::to_string(kernels::mc_qmc_max_steps) + " steps (one dimension each)");
    if (o.qmc_replicates < 2) fail("--qmc-replicates must be at least 2 (their spread is the error bar)");
    if (o.paths % o.qmc_replicates != 0 || !std::has_single_bit(o.paths / o.qmc_replicates))
      fail("with --qmc sobol, --paths must be --qmc-replicates (" + std::to_string(o.qmc_replicates) +
           ") times a power of two, e.g. " + std::to_string(std::uint64_t{o.qmc_replicates} * 4096));
  }
  kernels::mc_params p;
  p.paths = o.paths;
  p.samples = o.antithetic ? o.paths / 2 : o.paths;
  p.seed = o.seed;
  p.replicate_points = o.sampling == mc_sampling::sobol ? o.paths / o.qmc_replicates : p.samples;
  p.steps = o.steps;
  p.model = o.model;
  p.option = o.option;
  p.sampling = o.sampling;
  p.antithetic = o.antithetic ? 1 : 0;
  p.control_variate = o.control_variate ? 1 : 0;
  p.s0 = o.s0;
  // Prices are computed under the risk-neutral measure: the drift is the rate.
  p.mu = option ? o.rate : o.mu;
  p.sigma = o.sigma;
  p.dt = o.dt;
  p.strike = o.strike;
  p.rate = o.rate;
  p.drift = o.model == mc_model::gbm ? (p.mu - 0.5 * p.sigma * p.sigma) * p.dt : p.mu * p.dt;
  p.vol = p.sigma * std::sqrt(p.dt);
  p.discount = std::exp(-p.rate * (p.dt * static_cast<double>(p.steps)));
  // Each flag finite, their products may still overflow; every path would then be inf or NaN.
  // (Finite inputs with dt > 0 overflow to +-inf, never NaN; number() would print inf as JSON's null.)
  auto shown = [](double v) { return std::isfinite(v) ? number(v) : std::string(v > 0 ? "inf" : "-inf"); };
  if (!std::isfinite(p.drift) || !std::isfinite(p.vol))
    fail("--mu, --sigma and --dt give a step that overflows a double (drift per step " + shown(p.drift) +
         ", volatility per step " + shown(p.vol) + ")");
  if (!std::isfinite(p.discount))
    fail("--rate x --dt x --steps gives a discount factor exp(-rate T) that overflows a double");
  return p;
}

std::uint64_t montecarlo_chunk_size(const kernels::mc_params& p) {
  return std::min<std::uint64_t>(kernels::mc_chunk_samples, p.replicate_points);
}

std::uint64_t montecarlo_group_chunks(const kernels::mc_params& p) {
  // Chunks per replicate is a power of two (replicate_points is, and so is the chunk size then).
  return std::min<std::uint64_t>(16, std::max<std::uint64_t>(1, p.replicate_points / montecarlo_chunk_size(p)));
}

job<montecarlo_kernel> montecarlo_job_of(const montecarlo_options& o) {
  job<montecarlo_kernel> j;
  j.params = {montecarlo_job(o), 0};
  j.plan = chunk_plan(j.params.p.samples, montecarlo_chunk_size(j.params.p));
  j.group_chunks = montecarlo_group_chunks(j.params.p);
  return j;
}

namespace {
// A worker's Sobol tables, rebuilt only when the step count changes.
struct qmc_cache {
  std::uint32_t steps = 0;
  qmc_tables tables;
  const qmc_tables& for_steps(std::uint32_t s) {
    if (steps != s) {
      tables = make_qmc_tables(s);
      steps = s;
    }
    return tables;
  }
};
}  // namespace

namespace {
// The CPU's Sobol path: the whole Brownian path W(1..n) in a worker's scratch buffer, filled in
// bridge order and differenced. The GPU streams the bridge instead (kernels::mc_sobol_path, O(log n)
// doubles per thread); both compute every W from the same operands in the same order, so they give
// the same bits (test_montecarlo_kernels.cpp, montecarlo_streamed_bridge). On one CPU core the
// whole path is about 1.4x faster than the streamed program (workloads/montecarlo/README.md).
kernels::mc_path_result sobol_path_whole(const kernels::mc_params& p, const kernels::mc_qmc_tables& t,
                                         std::uint64_t sample, double* w) {
  const std::uint64_t replicate = sample / p.replicate_points;
  const std::uint64_t point = sample % p.replicate_points;
  kernels::mc_philox::ctr_type shift{};
  for (std::uint32_t i = 0; i < p.steps; ++i) {
    if ((i & 3u) == 0) shift = kernels::mc_block(p.seed, replicate, i >> 2, 1);
    const double z = kernels::normal_from_bits(kernels::sobol_bits(t.directions, i, point) ^ shift.v[i & 3u]);
    kernels::mc_bridge_step(t, i, z, w);
  }
  return kernels::mc_walk(p, [&](std::uint32_t k) { return k == 0 ? w[0] : w[k] - w[k - 1]; });
}
}  // namespace

montecarlo_kernel::partial_type montecarlo_kernel::run(const params_type& cp, chunk_range r, worker_context& w) {
  const kernels::mc_params& p = cp.p;
  partial_type out{};  // zeroed: the unused tail of finals travels through procs' shared memory
  const std::uint32_t per = p.antithetic != 0 ? 2u : 1u;
  const std::uint64_t samples = r.size();
  out.paths = samples * per;
  double payoffs[2 * kernels::mc_chunk_samples];
  double controls[2 * kernels::mc_chunk_samples];
  auto store = [&](std::uint64_t path, const kernels::mc_path_result& res) {
    out.finals[path] = res.final_price;
    payoffs[path] = res.payoff;
    controls[path] = res.control;
  };
  if (p.sampling == mc_sampling::sobol) {
    const kernels::mc_qmc_tables view = w.local<qmc_cache>().for_steps(p.steps).view();
    double* path = w.scratch<double>(p.steps);
    for (std::uint64_t s = 0; s < samples; ++s) store(s, sobol_path_whole(p, view, cp.first_sample + r.begin + s, path));
  } else {
    // Lanes of paths in path order; a short last group repeats its first path and drops it.
    constexpr unsigned L = detail::mc_lanes;
    const std::uint64_t paths = out.paths;
    for (std::uint64_t j0 = 0; j0 < paths; j0 += L) {
      std::uint64_t stream[L];
      bool mirror[L];
      double finals[L], sums_s[L], sums_x[L];
      for (unsigned l = 0; l < L; ++l) {
        const std::uint64_t j = j0 + l < paths ? j0 + l : j0;
        stream[l] = cp.first_sample + r.begin + j / per;
        mirror[l] = per == 2 && (j & 1u) != 0;
      }
      detail::mc_pseudo_lanes(p, stream, mirror, finals, sums_s, sums_x);
      for (unsigned l = 0; l < L && j0 + l < paths; ++l)
        store(j0 + l, kernels::mc_finish(p, finals[l], sums_s[l], sums_x[l]));
    }
  }
  const bool option = p.option != mc_option::none;
  out.stats = kernels::mc_fold_chunk(p, samples, out.finals, option ? payoffs : nullptr,
                                     option && p.control_variate != 0 ? controls : nullptr);
  return out;
}

montecarlo_result run_montecarlo(executor& ex, const montecarlo_options& o) {
  run_context ctx = cpu_context(ex);
  return run_montecarlo(ctx, o);
}

namespace {
// The GPU engine runs its own windows rather than run_groups: fold_rank_blocks (job.hpp) gives it
// the same exchange as fold_groups, so rank 0 folds the tree `seq` folds.
void run_gpu_groups(montecarlo_gpu& engine, montecarlo_fold& fold) {
  fold_rank_blocks<kernels::mc_chunk_stats>(
      engine.groups(),
      [&](std::size_t first, std::size_t last, auto&& emit) {
        engine.run(fold, first, last, [&](std::uint64_t g, const kernels::mc_chunk_stats& s) { emit(std::size_t(g), s); });
      },
      [&](std::size_t g, const kernels::mc_chunk_stats& s) { fold.add_group_summary(g * engine.group_samples(), s); });
}
}  // namespace

// In a build without GPU code no engine can be made (montecarlo_gpu_none.cpp), so these need no
// guard of their own.
montecarlo_result run_montecarlo(montecarlo_gpu& engine, const montecarlo_options& o) {
  static_assert(sizeof(kernels::mc_params) == 4 * 8 + 6 * 4 + 9 * 8, "mc_params has no padding: memcmp compares values");
  const kernels::mc_params p = montecarlo_job(o);
  if (std::memcmp(&p, &engine.params(), sizeof p) != 0)
    throw std::invalid_argument("run_montecarlo: the GPU engine was made for other options");
  montecarlo_fold fold(p, o.var_level);
  run_gpu_groups(engine, fold);
  montecarlo_result r = fold.finish();
  add_closed_forms(o, r);
  return r;
}

double black_scholes_price(bool put, double s0, double strike, double rate, double sigma, double t) {
  const double df = std::exp(-rate * t);
  if (sigma * std::sqrt(t) == 0) return std::max(put ? strike * df - s0 : s0 - strike * df, 0.0);
  const double sd = sigma * std::sqrt(t);
  const double d1 = (std::log(s0 / strike) + (rate + 0.5 * sigma * sigma) * t) / sd;
  const double d2 = d1 - sd;
  return put ? strike * df * normal_cdf(-d2) - s0 * normal_cdf(-d1) : s0 * normal_cdf(d1) - strike * df * normal_cdf(d2);
}

double geometric_asian_price(bool put, double s0, double strike, double rate, double sigma, double dt,
                             std::uint32_t steps) {
  // log G = log S0 + (1/n) sum_{i=1..n} X(i dt), X(t) = (r - sigma^2/2) t + sigma W(t):
  // normal with mean m and variance v below (sum of i = n(n+1)/2, sum of min(i,j) = n(n+1)(2n+1)/6).
  const double n = static_cast<double>(steps);
  const double m = std::log(s0) + (rate - 0.5 * sigma * sigma) * dt * (n + 1) / 2;
  const double v = sigma * sigma * dt * (n + 1) * (2 * n + 1) / (6 * n);
  const double df = std::exp(-rate * dt * n);
  if (v == 0) return df * std::max(put ? strike - std::exp(m) : std::exp(m) - strike, 0.0);
  const double sd = std::sqrt(v);
  const double d2 = (m - std::log(strike)) / sd;
  const double d1 = d2 + sd;
  const double forward = std::exp(m + 0.5 * v);
  return put ? df * (strike * normal_cdf(-d2) - forward * normal_cdf(-d1))
             : df * (forward * normal_cdf(d1) - strike * normal_cdf(d2));
}

std::string to_string(mc_model m) { return m == mc_model::gbm ? "gbm" : "arithmetic"; }
std::string to_string(mc_option o) {
  switch (o) {
    case mc_option::call: return "call";
    case mc_option::put: return "put";
    case mc_option::asian_call: return "asian-call";
    case mc_option::asian_put: return "asian-put";
    default: return "none";
  }
}

nlohmann::json to_json(const montecarlo_options& o) {
  nlohmann::json j = {{"paths", o.paths},         {"steps", o.steps},   {"s0", o.s0},
                      {"mu", o.mu},               {"sigma", o.sigma},   {"dt", o.dt},
                      {"model", to_string(o.model)}, {"var_level", o.var_level}, {"seed", o.seed},
                      {"antithetic", o.antithetic},
                      {"qmc", o.sampling == mc_sampling::sobol ? "sobol" : "none"}};
  if (o.sampling == mc_sampling::sobol) j["qmc_replicates"] = o.qmc_replicates;
  if (o.option != mc_option::none) {
    j["option"] = to_string(o.option);
    j["strike"] = o.strike;
    j["rate"] = o.rate;
    j["control_variate"] = o.control_variate;
  }
  return j;
}

nlohmann::json to_json(const montecarlo_result& r) {
  // Non-finite numbers (a zero error bar's reduction factor) become null, as JSON has no infinity.
  auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = {{"paths", r.paths},
                      {"mean", num(r.mean)},
                      {"std", num(r.std)},
                      {"mean_std_error", num(r.mean_std_error)},
                      {"mean_variance_reduction", num(r.mean_variance_reduction)},
                      {"var", num(r.var)},
                      {"cvar", num(r.cvar)},
                      {"var_level", r.var_level},
                      {"var_rank", r.var_rank}};
  if (r.priced) {
    j["price"] = num(r.price);
    j["price_std_error"] = num(r.price_std_error);
    j["price_ci95"] = {num(r.price_ci_low), num(r.price_ci_high)};
    j["variance_reduction"] = num(r.variance_reduction);
    j["plain_price_std_error"] = num(r.plain_price_std_error);
    if (r.control_beta != 0) j["control_beta"] = num(r.control_beta);
    if (r.bs_price) j["bs_price"] = num(*r.bs_price);
    if (r.geometric_asian_price) j["geometric_asian_price"] = num(*r.geometric_asian_price);
  }
  return j;
}

nlohmann::json result_json(const montecarlo_result& r) { return to_json(r); }

montecarlo_result run_montecarlo(run_context& ctx, const montecarlo_options& o) {
  if (ctx.which == backend::gpu) {
    if (!ctx.gpu) throw std::logic_error("run_montecarlo: the gpu backend needs a device context");
    montecarlo_gpu engine(*ctx.gpu, montecarlo_job(o));
    return run_montecarlo(engine, o);
  }
  const job<montecarlo_kernel> j = montecarlo_job_of(o);
  montecarlo_fold fold(j.params.p, o.var_level);
  const std::uint64_t chunk = j.plan.chunk_size();
  std::vector<kernels::mc_chunk_stats> stats(j.group_chunks);
  // Each rank keeps the VaR candidates of its own groups (finish() selects across ranks); the
  // group summaries (120 bytes each) travel to rank 0 and are folded there in group order.
  fold_groups(
      ctx, j, std::max<std::size_t>(1, window_chunks / j.group_chunks),
      [&](std::size_t, std::span<const montecarlo_partial> partials) {
        for (std::size_t c = 0; c < partials.size(); ++c) {
          stats[c] = partials[c].stats;
          fold.add_finals(partials[c].finals, partials[c].paths);
        }
        return montecarlo_fold::group_summary(stats.data(), partials.size());
      },
      [&](std::size_t g, const kernels::mc_chunk_stats& s) { fold.add_group_summary(j.group(g).first * chunk, s); });
  montecarlo_result r = fold.finish();
  add_closed_forms(o, r);
  return r;
}

namespace {
class montecarlo_workload final : public workload_of<montecarlo_result> {
 public:
  explicit montecarlo_workload(const montecarlo_options& o) : options_(o) { montecarlo_job(o); }
  std::string name() const override { return "montecarlo"; }
  nlohmann::json params() const override { return to_json(options_); }
  work_amount work() const override { return {double(options_.paths) * double(options_.steps), "path-steps/s"}; }
  // Threads pay off from about a millisecond of paths (5e8 path-steps/s per core); the GPU from
  // about 50 ms (docs/execution-model.md, "auto"). Every backend, the GPU included, gives the same
  // bits: the GPU runs the same per-path functions with contraction off.
  auto_thresholds thresholds() const override { return {5e5, 2.5e7}; }
  backend_status supports(backend b) const override {
    if (b == backend::gpu && !TANDEM_WITH_GPU_CODE) return backend_status::no("this build of Tandem has no GPU code");
    return backend_status::yes();
  }
  // The GPU engine holds the device tables and one window's buffers, so timed runs allocate nothing.
  void prepare(run_context& ctx) override {
    if (ctx.which == backend::gpu && ctx.gpu) gpu_ = std::make_unique<montecarlo_gpu>(*ctx.gpu, montecarlo_job(options_));
  }
  void release(run_context&) override { gpu_.reset(); }
  montecarlo_result compute(run_context& ctx) override {
    if (ctx.which == backend::gpu && gpu_) return run_montecarlo(*gpu_, options_);
    return run_montecarlo(ctx, options_);
  }

 private:
  montecarlo_options options_;
  std::unique_ptr<montecarlo_gpu> gpu_;
};
}  // namespace

std::unique_ptr<workload> make_montecarlo_workload(const montecarlo_options& o) {
  return std::make_unique<montecarlo_workload>(o);
}

}  // namespace tandem
