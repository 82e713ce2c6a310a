// `tandem montecarlo`: the flags of the Monte Carlo workload.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <memory>

#include "cli.hpp"
#include "tandem/workloads/montecarlo.hpp"

namespace tandem::cli {

namespace {
// The answer in words under the timing table (the JSON document has every digit).
void print_answer(const run_report& rr) {
  for (const run_record& rec : rr.records) {
    if (rec.skipped) continue;
    const nlohmann::json& j = rec.result;
    auto num = [&](const char* key) { return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN; };
    std::printf("  final price: mean %.6g +- %.3g (std error), std %.6g; VaR(%g) %.6g, CVaR %.6g (%s)\n",
                num("mean"), num("mean_std_error"), num("std"), num("var_level"), num("var"), num("cvar"),
                rec.backend.c_str());
    if (j.contains("price")) {
      std::printf("  option: price %.6g +- %.3g, 95%% interval [%.6g, %.6g], variance reduction %.3gx", num("price"),
                  num("price_std_error"), j["price_ci95"][0].is_number() ? j["price_ci95"][0].get<double>() : NAN,
                  j["price_ci95"][1].is_number() ? j["price_ci95"][1].get<double>() : NAN, num("variance_reduction"));
      if (j.contains("bs_price")) std::printf("; Black-Scholes %.6g", num("bs_price"));
      if (j.contains("geometric_asian_price")) std::printf("; geometric Asian (control) %.6g", num("geometric_asian_price"));
      std::printf("\n");
    }
    return;  // every backend gave this answer (or the table says they disagreed)
  }
}

// The published Ray example's problem (arithmetic steps, 252 days), over the number of paths.
std::vector<bench_case> bench() {
  return {{"", "paths", {1e3, 1e4}, {1e3, 1e4, 1e5, 1e6}, {1e3, 1e4, 1e5, 1e6, 1e7},
           [](double size, std::uint64_t seed) {
             montecarlo_options o;
             o.model = kernels::mc_model::arithmetic;
             o.paths = std::uint64_t(size);
             o.seed = seed;
             return make_montecarlo_workload(o);
           }}};
}

workload_factory add_flags(CLI::App& app) {
  struct state {
    montecarlo_options options;
    std::string model = "gbm";
    std::string option = "none";
    std::string qmc = "none";
  };
  auto s = std::make_shared<state>();
  CLI::App* cmd = &app;
  montecarlo_options& o = s->options;
  cmd->add_option("--paths", o.paths, "Number of paths (at most 2^40)")
      ->check(whole_number(1, std::uint64_t{1} << 40))
      ->capture_default_str();
  cmd->add_option("--steps", o.steps, "Time steps per path")
      ->check(whole_number(1, std::numeric_limits<std::uint32_t>::max()))
      ->capture_default_str();
  cmd->add_option("--s0", o.s0, "Initial price")->check(finite_number())->capture_default_str();
  CLI::Option* mu = cmd->add_option("--mu", o.mu, "Drift per unit time (an option is priced with --rate instead)")
      ->check(finite_number())
      ->capture_default_str();
  cmd->add_option("--sigma", o.sigma, "Volatility per sqrt(unit time)")->check(finite_number())->capture_default_str();
  cmd->add_option("--dt", o.dt, "Step length in units of time")->check(finite_number())->capture_default_str();
  cmd->add_option("--model", s->model,
                  "gbm: exact log-normal step S*exp((mu-sigma^2/2)dt + sigma*sqrt(dt)*Z); arithmetic: the published "
                  "example's S*max(0, 1 + mu*dt + sigma*sqrt(dt)*Z)")
      ->check(CLI::IsMember({"gbm", "arithmetic"}))
      ->capture_default_str();
  cmd->add_option("--var-level", o.var_level,
                  "VaR/CVaR level, strictly between 0 and 1: VaR is the k-th smallest final price, k = "
                  "ceil(level*paths). Exact VaR keeps the k smallest prices: k must be at most 2^26 = 67108864 "
                  "(1 GiB)")
      ->check(finite_number())
      ->capture_default_str();
  cmd->add_option("--option", s->option, "Price an option: call, put, asian-call, asian-put")
      ->check(CLI::IsMember({"none", "call", "put", "asian-call", "asian-put"}))
      ->capture_default_str();
  CLI::Option* strike = cmd->add_option("--strike", o.strike, "Option strike")->check(finite_number())->capture_default_str();
  CLI::Option* rate = cmd->add_option("--rate", o.rate, "Risk-free rate per unit time (the drift when pricing)")
      ->check(finite_number())
      ->capture_default_str();
  cmd->add_flag("--antithetic", o.antithetic, "Antithetic pairs: each path's increments negated for its partner");
  cmd->add_flag("--control-variate", o.control_variate,
                "Geometric-Asian control variate (asian-call/asian-put under gbm)");
  cmd->add_option("--qmc", s->qmc, "Quasi-random sampling: sobol (with a Brownian bridge), or none")
      ->check(CLI::IsMember({"none", "sobol"}))
      ->capture_default_str();
  CLI::Option* replicates = cmd->add_option("--qmc-replicates", o.qmc_replicates,
                  "Sobol: randomly shifted replicates whose spread is the error bar (2 to 65536); --paths must be "
                  "this times a power of two")
      ->check(whole_number(2, montecarlo_max_qmc_replicates))
      ->capture_default_str();
  return [s, mu, strike, rate, replicates](const common_flags& flags) {
    if (s->option == "none") {
      refuse_given("montecarlo", {strike}, "applies to --option call, put, asian-call or asian-put");
      refuse_given("montecarlo", {rate}, "applies to --option call, put, asian-call or asian-put (price paths drift with --mu)");
    } else {
      refuse_given("montecarlo", {mu}, "is the drift of price paths; an option is priced under --rate, the risk-neutral drift");
    }
    if (s->qmc != "sobol") refuse_given("montecarlo", {replicates}, "applies to --qmc sobol");
    static const std::map<std::string, kernels::mc_option> options = {{"none", kernels::mc_option::none},
                                                                       {"call", kernels::mc_option::call},
                                                                       {"put", kernels::mc_option::put},
                                                                       {"asian-call", kernels::mc_option::asian_call},
                                                                       {"asian-put", kernels::mc_option::asian_put}};
    s->options.model = s->model == "arithmetic" ? kernels::mc_model::arithmetic : kernels::mc_model::gbm;
    s->options.option = options.at(s->option);
    s->options.sampling = s->qmc == "sobol" ? kernels::mc_sampling::sobol : kernels::mc_sampling::pseudo;
    s->options.seed = flags.seed;
    return make_montecarlo_workload(s->options);
  };
}
}  // namespace

const workload_command& montecarlo_command() {
  static const workload_command c{
      "montecarlo",
      "Stock paths by Monte Carlo: mean, std, VaR and CVaR of the final price, and option prices with error bars "
      "(defaults: the published 10,000 x 252-day example)",
      add_flags, bench, print_answer};
  return c;
}

}  // namespace tandem::cli
