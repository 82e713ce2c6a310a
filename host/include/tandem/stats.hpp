// The statistics behind `tandem bench`: the median with a distribution-free interval, the rule
// that stops repeating a cell, and the test that `--compare` uses to call a change real.
//
// Timings are not normal (a floor, a long right tail, the odd outlier from another process), so
// everything here is built from ranks and order statistics, which need no shape assumption.
// docs/bench-statistics.md gives the reasons in full.
#pragma once

#include <cstddef>
#include <span>
#include <string>

namespace tandem::stats {

// The sample median and a confidence interval for the population median: the order statistics
// x(k) and x(n+1-k) of the sorted samples, with k the largest rank whose binomial B(n, 1/2)
// coverage 1 - 2 P(B <= k-1) is at least 95%. From n = 6 on the interval reaches 95%; below that
// it is [min, max] and `coverage` says how much less it holds (n = 5: 93.75%, n = 1: 0).
struct summary {
  double median = 0, min = 0, max = 0;
  double ci_lo = 0, ci_hi = 0;
  std::size_t n = 0;
  double coverage = 0;  // the interval's exact coverage under any continuous distribution
};

// Empty input: all zeros and n = 0. A sample that is NaN or infinite throws std::invalid_argument
// (a timing that is not a number is a bug upstream, never something to average over).
summary summarize(std::span<const double> samples);

// The 1-based ranks of the interval's ends for n samples at a confidence level, and its coverage.
// n = 0 gives {0, 0, 0}.
struct median_ranks {
  std::size_t lo = 0, hi = 0;
  double coverage = 0;
};
median_ranks median_interval_ranks(std::size_t n, double level = 0.95);

// Half the interval's width relative to the median: (ci_hi - ci_lo) / (2 |median|). 0 when the
// interval has no width; infinity when the median is 0 but the width is not, or when n = 0
// (nothing measured is never "stable").
double rel_half_width(const summary& s);

// When to stop repeating one cell of the bench (one workload, case and size: every backend and
// peer in it, run round by round so that a noisy machine moves them alike).
struct stop_rule {
  unsigned min_runs = 5, max_runs = 50;
  double target_rel_ci = 0.05;
  double budget_s = 10;
};

enum class stop_reason { none, stable, budget, max_runs };

// The decision after a round, given every member's summary so far and the cell's elapsed time.
// Checked in this order:
//   stable    every member has >= min_runs runs and rel_half_width <= target_rel_ci;
//   max_runs  some member has reached max_runs;
//   budget    elapsed_s >= budget_s and every member has >= min(3, min_runs) runs, or
//             elapsed_s >= 3 budget_s and every member has >= 1 run (a cell whose single round
//             takes longer than the budget still ends, with a median of what it has).
// No members: none. A min_runs of 0 counts as 1.
stop_reason should_stop(const stop_rule& rule, std::span<const summary> members, double elapsed_s);

// "stable", "budget", "max_runs" ("none" for none).
std::string to_string(stop_reason r);

// A two-sided Mann-Whitney U test (Wilcoxon rank-sum) of "a and b come from one distribution".
// u is U of the first sample: the number of pairs (a_i, b_j) with a_i > b_j, ties counting 1/2.
// Exact null distribution when there are no ties and both samples have at most
// mann_whitney_exact_max values; otherwise the normal approximation with the tie-corrected
// variance and a continuity correction. Empty samples or non-finite values throw
// std::invalid_argument.
struct test_result {
  double p_value = 1;
  double u = 0;
  std::string name;  // "Mann-Whitney U (exact)" or "Mann-Whitney U (normal approx.)"
};
inline constexpr std::size_t mann_whitney_exact_max = 20;
test_result mann_whitney(std::span<const double> a, std::span<const double> b);

// The smallest two-sided p-value the test can give for samples of these sizes (every a below
// every b): 2 / C(n_a + n_b, n_a). Below that many runs no difference can be significant, so
// --compare decides from the medians instead.
double mann_whitney_min_p(std::size_t n_a, std::size_t n_b);

}  // namespace tandem::stats
