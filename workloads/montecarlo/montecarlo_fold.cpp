#include "tandem/workloads/montecarlo_fold.hpp"

#include <algorithm>
#include <cmath>

#include "montecarlo_tail.hpp"

namespace tandem {

namespace {
using kernels::merge;

// 1.96: the two-sided 95% point of the normal distribution, to 16 digits.
constexpr double z95 = 1.959963984540054;

double sample_variance(double m2, double n) { return n > 1 ? m2 / (n - 1) : 0.0; }

kernels::mc_chunk_stats merge_stats(const kernels::mc_chunk_stats& a, const kernels::mc_chunk_stats& b) {
  return {merge(a.final_path, b.final_path), merge(a.final_sample, b.final_sample), merge(a.payoff_path, b.payoff_path),
          merge(a.payoff_sample, b.payoff_sample)};
}

// Mean and standard error of equally weighted replicate estimates.
void replicate_estimate(const std::vector<double>& v, double& mean, double& se) {
  double sum = 0;
  for (double x : v) sum += x;
  const double n = static_cast<double>(v.size());
  mean = sum / n;
  double m2 = 0;
  for (double x : v) m2 += (x - mean) * (x - mean);
  se = std::sqrt(sample_variance(m2, n) / n);
}
}  // namespace

std::uint64_t var_rank(double level, std::uint64_t paths) {
  const double k = std::ceil(level * static_cast<double>(paths));
  return std::max<std::uint64_t>(1, std::min<std::uint64_t>(paths, static_cast<std::uint64_t>(k)));
}

montecarlo_fold::montecarlo_fold(const kernels::mc_params& p, double var_level)
    : p_(p), level_(var_level), rank_(tandem::var_rank(var_level, p.paths)) {
  replicates_.resize(p.sampling == kernels::mc_sampling::sobol ? p.samples / p.replicate_points : 1);
  // The candidates' most: the compaction point plus one CPU window of finals (64 chunks of up to
  // 2048 paths), or every path. One allocation instead of a doubling series: a run of 10,000 paths
  // otherwise spent 3-4% of its time faulting in the pages of each new, larger copy.
  lowest_.reserve(static_cast<std::size_t>(
      std::min<std::uint64_t>(p.paths, std::max<std::uint64_t>(2 * rank_, 1 << 16) + (1 << 17))));
}

kernels::mc_chunk_stats montecarlo_fold::group_summary(const kernels::mc_chunk_stats* chunks, std::size_t count) {
  kernels::mc_chunk_stats group;
  for (std::size_t c = 0; c < count; ++c) group = merge_stats(group, chunks[c]);
  return group;
}

void montecarlo_fold::add_group_summary(std::uint64_t first_sample, const kernels::mc_chunk_stats& group) {
  const std::size_t r = p_.sampling == kernels::mc_sampling::sobol ? first_sample / p_.replicate_points : 0;
  replicates_[r] = merge_stats(replicates_[r], group);
}

void montecarlo_fold::add_finals(const double* values, std::size_t count) {
  // Compacting at the limit, value by value rather than after the batch, keeps the list (and its
  // capacity, which doubles as it grows) within the limit however many values one call brings:
  // montecarlo_max_var_rank's 1 GiB holds.
  const std::size_t limit = std::max<std::size_t>(2 * rank_, 1 << 16);
  for (std::size_t i = 0; i < count; ++i) {
    // A value at or above the rank_-th smallest seen so far cannot change the rank_ smallest values.
    if (have_threshold_ && !(values[i] < threshold_)) continue;
    lowest_.push_back(values[i]);
    if (lowest_.size() >= limit) compact();
  }
}

void montecarlo_fold::compact() {
  if (lowest_.size() <= rank_) return;
  std::nth_element(lowest_.begin(), lowest_.begin() + static_cast<std::ptrdiff_t>(rank_ - 1), lowest_.end());
  threshold_ = lowest_[rank_ - 1];
  have_threshold_ = true;
  lowest_.resize(rank_);
}

montecarlo_result montecarlo_fold::finish() {
  montecarlo_result r;
  kernels::mc_chunk_stats total;
  for (const auto& s : replicates_) total = merge_stats(total, s);
  const bool sobol = p_.sampling == kernels::mc_sampling::sobol;

  r.paths = p_.paths;
  r.mean = total.final_path.mean;
  r.std = std::sqrt(sample_variance(total.final_path.m2, total.final_path.n));
  const double plain_mean_var = sample_variance(total.final_path.m2, total.final_path.n) / total.final_path.n;
  if (sobol) {
    std::vector<double> means;
    for (const auto& s : replicates_) means.push_back(s.final_sample.mean);
    double m = 0;
    replicate_estimate(means, m, r.mean_std_error);
  } else {
    r.mean_std_error =
        std::sqrt(sample_variance(total.final_sample.m2, total.final_sample.n) / total.final_sample.n);
  }
  r.mean_variance_reduction = plain_mean_var / (r.mean_std_error * r.mean_std_error);

  // The exact order statistic over every rank's candidates, and the correctly rounded CVaR.
  compact();
  r.var_level = level_;
  r.var_rank = rank_;
  if (const lower_tail t = lower_tail_over_ranks(lowest_, rank_); t.found) {
    r.var = t.var;
    r.cvar = t.cvar;
  }

  if (p_.option == kernels::mc_option::none) return r;
  r.priced = true;
  const kernels::mc_comoments& y = total.payoff_sample;
  double control_mean = 0;
  if (p_.control_variate != 0) {
    control_mean = geometric_asian_price(kernels::mc_is_put(p_.option), p_.s0, p_.strike, p_.rate, p_.sigma, p_.dt,
                                         p_.steps);
    r.control_beta = y.m2_x > 0 ? y.c_xy / y.m2_x : 0.0;
  }
  const double b = r.control_beta;
  if (sobol) {
    std::vector<double> prices;
    for (const auto& s : replicates_)
      prices.push_back(s.payoff_sample.mean_y - b * (s.payoff_sample.mean_x - control_mean));
    replicate_estimate(prices, r.price, r.price_std_error);
  } else {
    r.price = y.mean_y - b * (y.mean_x - control_mean);
    // With the control, the residual variance y - b x; without, b = 0 and this is var(y).
    const double resid = std::max(0.0, y.m2_y - b * y.c_xy);
    r.price_std_error = std::sqrt(sample_variance(resid, y.n) / y.n);
  }
  r.price_ci_low = r.price - z95 * r.price_std_error;
  r.price_ci_high = r.price + z95 * r.price_std_error;
  r.plain_price_std_error =
      std::sqrt(sample_variance(total.payoff_path.m2, total.payoff_path.n) / total.payoff_path.n);
  r.variance_reduction =
      (r.plain_price_std_error * r.plain_price_std_error) / (r.price_std_error * r.price_std_error);
  return r;
}

}  // namespace tandem
