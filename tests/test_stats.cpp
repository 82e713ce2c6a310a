// The bench's statistics: the median's interval against binomial sums done in exact integers, the
// stop rule, the Mann-Whitney test against brute-force enumeration and an independent normal
// approximation, and --compare's decisions on synthetic reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <vector>

#include "tandem/compare.hpp"
#include "tandem/errors.hpp"
#include "tandem/stats.hpp"
#include "temp_dir.hpp"

namespace {

using namespace tandem;
__extension__ typedef unsigned __int128 u128;  // C(100, 50) needs more than 64 bits

// C(n, i) for i = 0..n from Pascal's triangle, exact for n <= 120.
std::vector<u128> binomial_row(unsigned n) {
  std::vector<u128> row{1};
  for (unsigned r = 1; r <= n; ++r) {
    std::vector<u128> next(r + 1, 1);
    for (unsigned i = 1; i < r; ++i) next[i] = row[i - 1] + row[i];
    row = std::move(next);
  }
  return row;
}

std::vector<double> shuffled_ranks(std::size_t n, unsigned seed) {
  std::vector<double> x(n);
  std::iota(x.begin(), x.end(), 1.0);
  std::mt19937 rng(seed);
  std::shuffle(x.begin(), x.end(), rng);
  return x;
}

// --- the median and its interval ---

TEST(stats_interval, order_statistics_match_exact_binomial_coverage) {
  for (unsigned n = 1; n <= 100; ++n) {
    const std::vector<u128> c = binomial_row(n);
    const u128 total = u128(1) << n;
    // S(k) = #{outcomes with at most k-1 below}; [x(k), x(n+1-k)] covers >= 95% iff 40 S(k) <= 2^n.
    const auto below = [&](unsigned k) {
      u128 s = 0;
      for (unsigned i = 0; i < k; ++i) s += c[i];
      return s;
    };
    const auto covers = [&](unsigned k) { return 40 * below(k) <= total; };
    unsigned k = 1;
    while (k + 1 <= (n + 1) / 2 && covers(k + 1)) ++k;
    if (n >= 6) {
      ASSERT_TRUE(covers(k)) << n;
    } else {
      ASSERT_FALSE(covers(1)) << n;  // too few samples for 95%: [min, max]
    }
    if (k + 1 <= (n + 1) / 2) {
      ASSERT_FALSE(covers(k + 1)) << n << ": a tighter pair still covers";
    }
    const double coverage = 1 - 2 * static_cast<double>(below(k)) / static_cast<double>(total);

    const stats::summary s = stats::summarize(shuffled_ranks(n, n));
    EXPECT_EQ(s.n, n);
    EXPECT_EQ(s.ci_lo, k) << n;
    EXPECT_EQ(s.ci_hi, n + 1 - k) << n;
    EXPECT_NEAR(s.coverage, coverage, 1e-12) << n;
    EXPECT_GE(s.coverage, n >= 6 ? 0.95 : 0.0) << n;
  }
}

TEST(stats_interval, known_small_cases) {
  const auto r9 = stats::median_interval_ranks(9);
  EXPECT_EQ(r9.lo, 2u);
  EXPECT_EQ(r9.hi, 8u);
  EXPECT_NEAR(r9.coverage, 492.0 / 512.0, 1e-15);  // 1 - 2 (1 + 9) / 2^9 = 0.9609375
  const auto r6 = stats::median_interval_ranks(6);  // the first n that reaches 95%: [min, max]
  EXPECT_EQ(r6.lo, 1u);
  EXPECT_EQ(r6.hi, 6u);
  EXPECT_NEAR(r6.coverage, 1 - 2.0 / 64, 1e-15);
  const auto r5 = stats::median_interval_ranks(5);  // short of 95%, and says so
  EXPECT_EQ(r5.lo, 1u);
  EXPECT_EQ(r5.hi, 5u);
  EXPECT_NEAR(r5.coverage, 0.9375, 1e-15);
  // n = 20: P(B <= 5) = 21700 / 2^20 holds, P(B <= 6) = 60460 / 2^20 > 2.5% does not.
  const auto r20 = stats::median_interval_ranks(20);
  EXPECT_EQ(r20.lo, 6u);
  EXPECT_EQ(r20.hi, 15u);
  EXPECT_NEAR(r20.coverage, 1 - 2 * 21700.0 / 1048576.0, 1e-15);
  const auto r1 = stats::median_interval_ranks(1);
  EXPECT_EQ(r1.lo, 1u);
  EXPECT_EQ(r1.hi, 1u);
  EXPECT_EQ(r1.coverage, 0.0);
  EXPECT_EQ(stats::median_interval_ranks(0).lo, 0u);
}

TEST(stats_interval, large_n_follows_the_normal_limit_without_underflow) {
  // 2^-n underflows beyond n = 1074; the ranks still come out near n/2 - 1.96 sqrt(n)/2.
  for (std::size_t n : {1000u, 5000u, 100000u}) {
    const auto r = stats::median_interval_ranks(n);
    const double expected = static_cast<double>(n) / 2 - 1.959964 * std::sqrt(static_cast<double>(n)) / 2;
    EXPECT_NEAR(static_cast<double>(r.lo), expected, 2.0) << n;
    EXPECT_EQ(r.hi, n + 1 - r.lo);
    EXPECT_GE(r.coverage, 0.95) << n;
    EXPECT_LT(r.coverage, 0.96) << n;
  }
}

TEST(stats_interval, median_min_max) {
  const std::vector<double> odd{3, 1, 2};
  const auto s = stats::summarize(odd);
  EXPECT_EQ(s.median, 2);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 3);
  const std::vector<double> even{4, 1, 3, 2};
  EXPECT_EQ(stats::summarize(even).median, 2.5);
  const std::vector<double> one{0.25};
  const auto s1 = stats::summarize(one);
  EXPECT_EQ(s1.median, 0.25);
  EXPECT_EQ(s1.ci_lo, 0.25);
  EXPECT_EQ(s1.ci_hi, 0.25);
  EXPECT_EQ(s1.coverage, 0.0);
  const auto empty = stats::summarize({});
  EXPECT_EQ(empty.n, 0u);
  EXPECT_EQ(empty.median, 0);
  EXPECT_EQ(empty.ci_hi, 0);
  EXPECT_EQ(empty.coverage, 0);
}

TEST(stats_interval, rejects_samples_that_are_not_numbers) {
  const std::vector<double> with_nan{1, std::numeric_limits<double>::quiet_NaN(), 2};
  EXPECT_THROW(stats::summarize(with_nan), std::invalid_argument);
  const std::vector<double> with_inf{1, std::numeric_limits<double>::infinity()};
  EXPECT_THROW(stats::summarize(with_inf), std::invalid_argument);
}

TEST(stats_interval, relative_half_width) {
  stats::summary s;
  s.n = 9;
  s.median = 2;
  s.ci_lo = 1.9;
  s.ci_hi = 2.3;
  EXPECT_NEAR(stats::rel_half_width(s), 0.1, 1e-15);
  s.ci_lo = s.ci_hi = s.median = 0;  // all equal, even at 0
  EXPECT_EQ(stats::rel_half_width(s), 0);
  s.ci_hi = 1e-9;
  EXPECT_TRUE(std::isinf(stats::rel_half_width(s)));
  EXPECT_TRUE(std::isinf(stats::rel_half_width(stats::summary{})));  // nothing measured
  const std::vector<double> same(7, 0.5);
  EXPECT_EQ(stats::rel_half_width(stats::summarize(same)), 0);
}

// --- the stop rule ---

// A member with n runs whose interval is +-rel around a median of 1.
stats::summary member(std::size_t n, double rel) {
  stats::summary s;
  s.n = n;
  s.median = s.min = s.max = 1;
  s.ci_lo = 1 - rel;
  s.ci_hi = 1 + rel;
  s.coverage = 0.95;
  return s;
}

TEST(stats_stop_rule, stable_once_every_member_is_tight_after_min_runs) {
  const stats::stop_rule rule;  // 5..50 runs, 5%, 10 s
  const std::vector<stats::summary> tight{member(5, 0.01), member(5, 0.04)};
  EXPECT_EQ(stats::should_stop(rule, tight, 1.0), stats::stop_reason::stable);
  const std::vector<stats::summary> young{member(4, 0.01), member(4, 0.01)};
  EXPECT_EQ(stats::should_stop(rule, young, 1.0), stats::stop_reason::none);
  const std::vector<stats::summary> one_behind{member(5, 0.01), member(4, 0.01)};  // mid-round
  EXPECT_EQ(stats::should_stop(rule, one_behind, 1.0), stats::stop_reason::none);
}

TEST(stats_stop_rule, one_unstable_member_keeps_the_cell_running) {
  const stats::stop_rule rule;
  const std::vector<stats::summary> members{member(20, 0.01), member(20, 0.2), member(20, 0.02)};
  EXPECT_EQ(stats::should_stop(rule, members, 5.0), stats::stop_reason::none);
  const std::vector<stats::summary> edge{member(20, 0.05), member(20, 0.0500001)};
  EXPECT_EQ(stats::should_stop(rule, edge, 5.0), stats::stop_reason::none);
}

TEST(stats_stop_rule, max_runs_and_budget) {
  stats::stop_rule rule;
  const std::vector<stats::summary> at_max{member(50, 0.2), member(49, 0.2)};
  EXPECT_EQ(stats::should_stop(rule, at_max, 1.0), stats::stop_reason::max_runs);
  const std::vector<stats::summary> noisy{member(3, 0.2), member(3, 0.2)};
  EXPECT_EQ(stats::should_stop(rule, noisy, 9.9), stats::stop_reason::none);
  EXPECT_EQ(stats::should_stop(rule, noisy, 10.0), stats::stop_reason::budget);
  // Over budget but only two runs: not yet, unless the budget is exceeded three times over.
  const std::vector<stats::summary> slow{member(2, 0.2), member(2, 0.2)};
  EXPECT_EQ(stats::should_stop(rule, slow, 25.0), stats::stop_reason::none);
  EXPECT_EQ(stats::should_stop(rule, slow, 30.0), stats::stop_reason::budget);
  // A member that has not run at all never ends on the budget.
  const std::vector<stats::summary> unrun{member(1, 0.0), member(0, 0.0)};
  EXPECT_EQ(stats::should_stop(rule, unrun, 100.0), stats::stop_reason::none);
  // min_runs below 3 lowers what the budget needs.
  rule.min_runs = 2;
  EXPECT_EQ(stats::should_stop(rule, slow, 10.0), stats::stop_reason::budget);
  // Stable wins over the other reasons when both hold.
  const std::vector<stats::summary> done{member(50, 0.01)};
  EXPECT_EQ(stats::should_stop(rule, done, 100.0), stats::stop_reason::stable);
  EXPECT_EQ(stats::should_stop(rule, {}, 100.0), stats::stop_reason::none);
}

TEST(stats_stop_rule, names) {
  EXPECT_EQ(stats::to_string(stats::stop_reason::stable), "stable");
  EXPECT_EQ(stats::to_string(stats::stop_reason::budget), "budget");
  EXPECT_EQ(stats::to_string(stats::stop_reason::max_runs), "max_runs");
}

TEST(stats_stop_rule, real_samples_become_stable) {
  // 1% noise around 1 s: stable by 5 runs at a 5% target; 20% noise is not.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> small(0.99, 1.01), big(0.8, 1.2);
  std::vector<double> a, b;
  for (int i = 0; i < 5; ++i) {
    a.push_back(small(rng));
    b.push_back(big(rng));
  }
  const std::vector<stats::summary> quiet{stats::summarize(a)};
  EXPECT_EQ(stats::should_stop({}, quiet, 0.1), stats::stop_reason::stable);
  const std::vector<stats::summary> loud{stats::summarize(a), stats::summarize(b)};
  EXPECT_EQ(stats::should_stop({}, loud, 0.1), stats::stop_reason::none);
}

// --- Mann-Whitney U ---

// The exact two-sided p-value by enumerating every way to choose which pooled positions hold a.
double brute_force_exact_p(const std::vector<double>& a, const std::vector<double>& b, double* u_out) {
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  std::sort(pooled.begin(), pooled.end());
  const auto u_of = [](const std::vector<double>& x, const std::vector<double>& y) {
    double u = 0;
    for (double xi : x)
      for (double yj : y) u += xi > yj ? 1.0 : xi == yj ? 0.5 : 0.0;
    return u;
  };
  const double u = u_of(a, b);
  *u_out = u;
  std::vector<bool> pick(pooled.size(), false);
  std::fill(pick.begin(), pick.begin() + static_cast<std::ptrdiff_t>(a.size()), true);
  std::size_t total = 0, low = 0, high = 0;
  std::sort(pick.begin(), pick.end());
  do {
    std::vector<double> x, y;
    for (std::size_t i = 0; i < pooled.size(); ++i) (pick[i] ? x : y).push_back(pooled[i]);
    const double v = u_of(x, y);
    ++total;
    low += v <= u ? 1 : 0;
    high += v >= u ? 1 : 0;
  } while (std::next_permutation(pick.begin(), pick.end()));
  return std::min(1.0, 2.0 * static_cast<double>(std::min(low, high)) / static_cast<double>(total));
}

TEST(stats_mann_whitney, hand_computed_tiny_samples) {
  const std::vector<double> a{1, 2, 3}, b{4, 5, 6};
  const auto t = stats::mann_whitney(a, b);
  EXPECT_EQ(t.u, 0);
  EXPECT_NEAR(t.p_value, 0.1, 1e-15);  // 2 of C(6,3) = 20 arrangements are this extreme
  EXPECT_EQ(t.name, "Mann-Whitney U (exact)");
  const auto r = stats::mann_whitney(b, a);
  EXPECT_EQ(r.u, 9);
  EXPECT_NEAR(r.p_value, 0.1, 1e-15);
  // a = {1,3,5}, b = {2,4,6}: U = 3 (3>2, 5>2, 5>4); P(U <= 3) = (1+1+2+3)/20.
  const std::vector<double> c{1, 3, 5}, d{2, 4, 6};
  const auto s = stats::mann_whitney(c, d);
  EXPECT_EQ(s.u, 3);
  EXPECT_NEAR(s.p_value, 0.7, 1e-15);
}

TEST(stats_mann_whitney, exact_matches_enumeration) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> dist(0, 1);
  for (std::size_t m = 1; m <= 7; ++m) {
    for (std::size_t n = 1; n <= 7; ++n) {
      std::vector<double> a(m), b(n);
      for (double& v : a) v = dist(rng);
      for (double& v : b) v = dist(rng) + 0.3;
      double u = 0;
      const double p = brute_force_exact_p(a, b, &u);
      const auto t = stats::mann_whitney(a, b);
      EXPECT_EQ(t.name, "Mann-Whitney U (exact)");
      EXPECT_EQ(t.u, u) << m << "x" << n;
      EXPECT_NEAR(t.p_value, p, 1e-12) << m << "x" << n;
    }
  }
}

TEST(stats_mann_whitney, exact_at_the_largest_sizes_stays_exact) {
  // 20 against 20, fully separated: 2 of C(40, 20) = 137846528820 arrangements.
  std::vector<double> a(20), b(20);
  std::iota(a.begin(), a.end(), 0.0);
  std::iota(b.begin(), b.end(), 100.0);
  const auto t = stats::mann_whitney(a, b);
  EXPECT_EQ(t.name, "Mann-Whitney U (exact)");
  EXPECT_NEAR(t.p_value / (2.0 / 137846528820.0), 1.0, 1e-12);
  EXPECT_NEAR(stats::mann_whitney_min_p(20, 20) / (2.0 / 137846528820.0), 1.0, 1e-9);
  EXPECT_NEAR(stats::mann_whitney_min_p(3, 3), 0.1, 1e-12);
  EXPECT_NEAR(stats::mann_whitney_min_p(4, 4), 2.0 / 70, 1e-12);
  // Interleaved 20 and 20: the null distribution is symmetric, U = 200 is its centre -> p = 1.
  std::vector<double> c, d;
  for (int i = 0; i < 20; ++i) {
    c.push_back(2 * i);
    d.push_back(2 * i + 1);
  }
  const auto mid = stats::mann_whitney(c, d);
  EXPECT_EQ(mid.u, 190);  // c_i beats d_0..d_{i-1}: sum 0..19
  EXPECT_GT(mid.p_value, 0.5);
  EXPECT_LE(mid.p_value, 1.0);
}

TEST(stats_mann_whitney, large_samples_with_ties_match_an_independent_normal_approximation) {
  // 30 against 40 on a coarse grid (ties within and across samples).
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> grid(0, 12);
  std::vector<double> a(30), b(40);
  for (double& v : a) v = grid(rng) * 0.5;
  for (double& v : b) v = grid(rng) * 0.5 + 1.0;
  double u = 0;
  for (double x : a)
    for (double y : b) u += x > y ? 1.0 : x == y ? 0.5 : 0.0;
  std::vector<double> pooled(a);
  pooled.insert(pooled.end(), b.begin(), b.end());
  double tie_term = 0;
  std::sort(pooled.begin(), pooled.end());
  for (std::size_t i = 0; i < pooled.size();) {
    std::size_t j = i;
    while (j < pooled.size() && pooled[j] == pooled[i]) ++j;
    const double t = static_cast<double>(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  const double m = 30, n = 40, big = 70;
  const double sigma = std::sqrt(m * n / 12 * (big + 1 - tie_term / (big * (big - 1))));
  const double z = (std::fabs(u - m * n / 2) - 0.5) / sigma;
  const double p = std::erfc(z / std::sqrt(2.0));

  const auto t = stats::mann_whitney(a, b);
  EXPECT_EQ(t.name, "Mann-Whitney U (normal approx.)");
  EXPECT_EQ(t.u, u);
  EXPECT_NEAR(t.p_value, p, 1e-12);
  EXPECT_LT(t.p_value, 0.05);  // b sits 1.0 higher on a 0..6 grid: a real shift
}

TEST(stats_mann_whitney, identical_samples_give_one) {
  const std::vector<double> a{1, 2, 3, 4, 5};
  EXPECT_EQ(stats::mann_whitney(a, a).p_value, 1.0);
  const std::vector<double> flat(8, 0.125);
  const auto t = stats::mann_whitney(flat, flat);
  EXPECT_EQ(t.p_value, 1.0);
  EXPECT_EQ(t.u, 32);
  const std::vector<double> empty, bad{1, std::numeric_limits<double>::quiet_NaN()};
  EXPECT_THROW(stats::mann_whitney(empty, a), std::invalid_argument);
  EXPECT_THROW(stats::mann_whitney(a, bad), std::invalid_argument);
}

// --- --compare ---

nlohmann::json result(const std::string& workload, const std::string& kase, double size, const std::string& backend,
                      const std::vector<double>& samples) {
  const auto s = stats::summarize(samples);
  nlohmann::json r = {{"workload", workload},
                      {"case", kase},
                      {"size", size},
                      {"size_unit", "rows"},
                      {"backend", backend},
                      {"time_s",
                       {{"median", s.median},
                        {"min", s.min},
                        {"max", s.max},
                        {"ci95", {s.ci_lo, s.ci_hi}},
                        {"runs", s.n},
                        {"samples", samples}}}};
  return r;
}

nlohmann::json document(int schema, std::vector<nlohmann::json> results) {
  return {{"schema_version", schema}, {"tandem_version", "0.1.0"}, {"results", results}};
}

// n samples spread evenly over [centre (1 - spread), centre (1 + spread)], offset by phase.
std::vector<double> spread(double centre, double spread_rel, std::size_t n, double phase = 0) {
  std::vector<double> x;
  for (std::size_t i = 0; i < n; ++i)
    x.push_back(centre * (1 - spread_rel + 2 * spread_rel * (static_cast<double>(i) + phase) / static_cast<double>(n)));
  return x;
}

TEST(stats_compare, a_clear_20_percent_slowdown_is_a_regression_above_5_not_above_25) {
  const auto old_doc = document(2, {result("forest", "", 1e6, "threads", spread(1.0, 0.01, 10))});
  const auto new_doc = document(2, {result("forest", "", 1e6, "threads", spread(1.2, 0.01, 10))});
  const comparison at5 = compare_reports(old_doc, new_doc, 5);
  ASSERT_EQ(at5.rows.size(), 1u);
  const auto& r = at5.rows[0];
  EXPECT_EQ(r.verdict, "slower");
  EXPECT_EQ(r.test, "Mann-Whitney U (exact)");
  EXPECT_NEAR(r.p_value, 2.0 / 184756, 1e-12);  // 10 vs 10 fully separated: 2 / C(20, 10)
  EXPECT_NEAR(r.change, 0.2, 1e-12);
  EXPECT_TRUE(r.regressed);
  EXPECT_TRUE(at5.any_regressed);
  const comparison at25 = compare_reports(old_doc, new_doc, 25);
  EXPECT_EQ(at25.rows[0].verdict, "slower");
  EXPECT_FALSE(at25.rows[0].regressed);
  EXPECT_FALSE(at25.any_regressed);
  // The other way round it is faster, never a regression.
  const comparison back = compare_reports(new_doc, old_doc, 5);
  EXPECT_EQ(back.rows[0].verdict, "faster");
  EXPECT_FALSE(back.any_regressed);
}

TEST(stats_compare, noise_alone_is_same_even_when_the_medians_differ) {
  // Two draws from one +-10% spread, interleaved: medians 1% apart, well inside the noise.
  const auto old_doc = document(2, {result("reduce", "sum", 1e7, "seq", spread(1.0, 0.1, 15, 0.0))});
  const auto new_doc = document(2, {result("reduce", "sum", 1e7, "seq", spread(1.0, 0.1, 15, 0.5))});
  const comparison c = compare_reports(old_doc, new_doc, 0);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_GT(c.rows[0].change, 0);
  EXPECT_GT(c.rows[0].p_value, 0.5);
  EXPECT_EQ(c.rows[0].verdict, "same");
  EXPECT_FALSE(c.any_regressed);
}

TEST(stats_compare, noise_alone_is_called_a_change_at_about_alpha_and_never_a_regression) {
  // 2000 comparisons of 10 runs against 10 from one skewed distribution (3% log-normal noise, 5%
  // of runs slowed 1.5x by "another process"): the share called faster or slower is the test's
  // false-positive rate, which must sit near alpha = 5% (binomial sd 0.5%; the exact test's
  // discreteness keeps it a little under); a regression above 5% needs a real slowdown.
  std::mt19937_64 rng(20261124);
  std::lognormal_distribution<double> noise(0.0, 0.03);
  std::bernoulli_distribution outlier(0.05);
  const auto draw = [&] {
    std::vector<double> x;
    for (int i = 0; i < 10; ++i) x.push_back(noise(rng) * (outlier(rng) ? 1.5 : 1.0));
    return document(2, {result("w", "", 1, "b", x)});
  };
  int changed = 0, regressed = 0;
  const int trials = 2000;
  for (int t = 0; t < trials; ++t) {
    const comparison c = compare_reports(draw(), draw(), 5);
    changed += c.rows[0].verdict != "same";
    regressed += c.rows[0].regressed;
  }
  EXPECT_GT(changed, trials * 0.025);
  EXPECT_LT(changed, trials * 0.065);
  EXPECT_LT(regressed, trials * 0.01);
}

TEST(stats_compare, new_and_gone_rows_and_the_key) {
  const auto old_doc = document(2, {result("gemm", "", 256, "seq", spread(1.0, 0.01, 6)),
                                    result("gemm", "", 512, "seq", spread(8.0, 0.01, 6)),
                                    result("gemm", "", 256, "procs", spread(1.0, 0.01, 6))});
  const auto new_doc = document(2, {result("gemm", "", 256, "seq", spread(1.0, 0.01, 6, 0.5)),
                                    result("gemm", "", 1024, "seq", spread(60.0, 0.01, 6)),
                                    result("gemm", "", 256, "threads", spread(0.5, 0.01, 6))});
  const comparison c = compare_reports(old_doc, new_doc, 5);
  ASSERT_EQ(c.rows.size(), 5u);
  EXPECT_EQ(c.rows[0].verdict, "same");
  EXPECT_EQ(c.rows[0].size, 256);
  EXPECT_EQ(c.rows[1].verdict, "new");
  EXPECT_EQ(c.rows[1].size, 1024);
  EXPECT_TRUE(std::isnan(c.rows[1].old_median));
  EXPECT_EQ(c.rows[2].verdict, "new");
  EXPECT_EQ(c.rows[2].backend, "threads");
  EXPECT_EQ(c.rows[3].verdict, "gone");  // old order: 512 seq, then 256 procs
  EXPECT_EQ(c.rows[3].size, 512);
  EXPECT_TRUE(std::isnan(c.rows[3].new_median));
  EXPECT_EQ(c.rows[4].verdict, "gone");
  EXPECT_EQ(c.rows[4].backend, "procs");
  EXPECT_FALSE(c.any_regressed);
  // The case is part of the key.
  const auto other_case = document(2, {result("gemm", "tn", 256, "seq", spread(1.0, 0.01, 6))});
  const comparison d = compare_reports(old_doc, other_case, 5);
  EXPECT_EQ(d.rows[0].verdict, "new");
}

TEST(stats_compare, schema_1_documents_are_read) {
  // Schema 1: no case, no size; samples under time_s.
  const auto v1 = [](const std::vector<double>& samples) {
    nlohmann::json r = result("tasks", "", 0, "threads", samples);
    r.erase("case");
    r.erase("size");
    r.erase("size_unit");
    r["time_s"].erase("ci95");
    return document(1, {r});
  };
  const comparison c = compare_reports(v1(spread(1.0, 0.01, 5)), v1(spread(1.3, 0.01, 5)), 5);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].case_name, "");
  EXPECT_TRUE(std::isnan(c.rows[0].size));
  EXPECT_EQ(c.rows[0].verdict, "slower");
  EXPECT_TRUE(c.rows[0].regressed);
  // A schema-1 result matches a schema-2 one that has no size either.
  nlohmann::json unsized = result("tasks", "", 0, "threads", spread(1.0, 0.01, 5, 0.5));
  unsized.erase("size");
  const comparison d = compare_reports(v1(spread(1.0, 0.01, 5)), document(2, {unsized}), 5);
  ASSERT_EQ(d.rows.size(), 1u);
  EXPECT_EQ(d.rows[0].verdict, "same");
}

TEST(stats_compare, too_few_runs_decide_from_the_medians) {
  // Three runs a side can never reach p < 0.05 (the best is 0.1): the threshold decides.
  const auto three_old = document(2, {result("montecarlo", "", 1e6, "seq", {1.0, 1.01, 1.02})});
  const auto three_new = document(2, {result("montecarlo", "", 1e6, "seq", {1.5, 1.51, 1.52})});
  const comparison c = compare_reports(three_old, three_new, 10);
  EXPECT_EQ(c.rows[0].test, "too few runs");
  EXPECT_TRUE(std::isnan(c.rows[0].p_value));
  EXPECT_EQ(c.rows[0].verdict, "slower");
  EXPECT_TRUE(c.rows[0].regressed);
  EXPECT_EQ(compare_reports(three_old, three_new, 60).rows[0].verdict, "same");
  EXPECT_EQ(compare_reports(three_new, three_old, 10).rows[0].verdict, "faster");
  // Four a side can (2/70 < 0.05): the test decides.
  const auto four_old = document(2, {result("montecarlo", "", 1e6, "seq", {1.0, 1.01, 1.02, 1.03})});
  const auto four_new = document(2, {result("montecarlo", "", 1e6, "seq", {1.5, 1.51, 1.52, 1.53})});
  EXPECT_EQ(compare_reports(four_old, four_new, 10).rows[0].test, "Mann-Whitney U (exact)");
  // A result without samples (only a median) is decided from the medians too.
  nlohmann::json bare = four_new;
  bare["results"][0]["time_s"].erase("samples");
  const comparison b = compare_reports(four_old, bare, 10);
  EXPECT_EQ(b.rows[0].test, "too few runs");
  EXPECT_TRUE(b.rows[0].regressed);
}

TEST(stats_compare, significant_but_small_slowdowns_are_not_regressions) {
  const auto old_doc = document(2, {result("forest", "", 1e6, "gpu", spread(1.0, 0.001, 12))});
  const auto new_doc = document(2, {result("forest", "", 1e6, "gpu", spread(1.02, 0.001, 12))});
  const comparison c = compare_reports(old_doc, new_doc, 5);
  EXPECT_EQ(c.rows[0].verdict, "slower");
  EXPECT_FALSE(c.rows[0].regressed);
  EXPECT_TRUE(compare_reports(old_doc, new_doc, 1).rows[0].regressed);
}

TEST(stats_compare, repeated_keys_pair_in_order) {
  const auto old_doc = document(2, {result("tasks", "", 10, "seq", spread(1.0, 0.01, 6)),
                                    result("tasks", "", 10, "seq", spread(2.0, 0.01, 6))});
  const auto new_doc = document(2, {result("tasks", "", 10, "seq", spread(1.0, 0.01, 6, 0.5)),
                                    result("tasks", "", 10, "seq", spread(2.0, 0.01, 6, 0.5))});
  const comparison c = compare_reports(old_doc, new_doc, 5);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].verdict, "same");
  EXPECT_EQ(c.rows[1].verdict, "same");
}

std::string usage_message(const nlohmann::json& old_doc, const nlohmann::json& new_doc) {
  try {
    compare_reports(old_doc, new_doc, 5);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(stats_compare, malformed_documents_name_what_is_wrong) {
  const auto good = document(2, {result("tasks", "", 10, "seq", spread(1.0, 0.01, 6))});
  EXPECT_EQ(usage_message(nlohmann::json::array(), good), "the old report: not a JSON object");
  EXPECT_EQ(usage_message(good, nlohmann::json{{"schema_version", 2}}), "the new report: no \"results\" array");
  EXPECT_EQ(usage_message(good, nlohmann::json{{"schema_version", 2}, {"results", 3}}),
            "the new report: no \"results\" array");
  EXPECT_EQ(usage_message(nlohmann::json{{"results", nlohmann::json::array()}}, good),
            "the old report: no schema_version");
  auto v3 = good;
  v3["schema_version"] = 3;
  EXPECT_EQ(usage_message(v3, good), "the old report: schema_version 3 is not one this Tandem reads (1 or 2)");
  auto no_median = good;
  no_median["results"].push_back(no_median["results"][0]);
  no_median["results"][1]["time_s"].erase("median");
  EXPECT_EQ(usage_message(good, no_median), "the new report: results[1] has no time_s.median");
  auto no_time = good;
  no_time["results"][0].erase("time_s");
  EXPECT_EQ(usage_message(good, no_time), "the new report: results[0] has no time_s.median");
  auto no_backend = good;
  no_backend["results"][0].erase("backend");
  EXPECT_EQ(usage_message(no_backend, good), "the old report: results[0] has no backend");
  auto bad_samples = good;
  bad_samples["results"][0]["time_s"]["samples"][2] = "fast";
  EXPECT_EQ(usage_message(bad_samples, good),
            "the old report: results[0].time_s.samples holds something that is not a number");
  auto negative = good;
  negative["results"][0]["time_s"]["median"] = -1;
  EXPECT_EQ(usage_message(good, negative), "the new report: results[0].time_s.median is negative");
  auto not_object = good;
  not_object["results"][0] = 7;
  EXPECT_EQ(usage_message(good, not_object), "the new report: results[0] is not an object");
  EXPECT_THROW(compare_reports(good, good, -1), usage_error);
  EXPECT_THROW(compare_reports(good, good, 5, 0), usage_error);
}

TEST(stats_compare, report_files) {
  tandem::testing::temp_dir dir;
  const auto good = document(2, {result("tasks", "", 10, "seq", spread(1.0, 0.01, 6))});
  tandem::testing::write_file(dir / "good.json", good.dump());
  EXPECT_EQ(read_report_file(dir / "good.json"), good);
  const auto message = [](const std::string& path) {
    try {
      read_report_file(path);
    } catch (const usage_error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_EQ(message(dir / "missing.json"), "cannot read '" + (dir / "missing.json") + "': No such file or directory");
  tandem::testing::write_file(dir / "text.json", "time: 1 s\n");
  EXPECT_EQ(message(dir / "text.json").rfind("'" + (dir / "text.json") + "' is not JSON: parse error at line 1", 0),
            0u)
      << message(dir / "text.json");
  tandem::testing::write_file(dir / "other.json", R"({"schema_version": 2, "rows": []})");
  EXPECT_EQ(message(dir / "other.json"), "'" + (dir / "other.json") + "' is not a Tandem report: no \"results\" array");
  tandem::testing::write_file(dir / "empty.json", "");
  EXPECT_NE(message(dir / "empty.json").find("is not JSON"), std::string::npos);
}

TEST(stats_compare, table_and_json) {
  const auto old_doc = document(2, {result("forest", "", 1e6, "threads", spread(1.0, 0.01, 10)),
                                    result("forest", "", 1e6, "seq", spread(2.0, 0.01, 10)),
                                    result("forest", "", 1e5, "seq", spread(0.2, 0.01, 10))});
  const auto new_doc = document(2, {result("forest", "", 1e6, "threads", spread(1.2, 0.01, 10)),
                                    result("forest", "", 1e6, "seq", spread(2.0, 0.01, 10, 0.5)),
                                    result("forest", "count-matches", 1e6, "seq", spread(2.0, 0.01, 10))});
  const comparison c = compare_reports(old_doc, new_doc, 5);
  std::ostringstream out;
  print_comparison(out, c);
  const std::string text = out.str();
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_EQ(all.size(), 6u) << text;  // the heading, four rows, the summary
  EXPECT_NE(all[0].find("workload"), std::string::npos);
  EXPECT_NE(all[0].find("verdict"), std::string::npos);
  EXPECT_NE(all[1].find("slower"), std::string::npos);
  EXPECT_NE(all[1].find("+20.0%"), std::string::npos) << all[1];
  EXPECT_NE(all[1].find("1000000 rows"), std::string::npos) << all[1];
  EXPECT_NE(all[1].find("REGRESSED"), std::string::npos);
  EXPECT_EQ(all[2].find("REGRESSED"), std::string::npos);
  EXPECT_NE(all[3].find("count-matches"), std::string::npos);
  EXPECT_NE(all[4].find("gone"), std::string::npos);
  EXPECT_EQ(all[5], "1 slower, 0 faster, 1 same, 1 new, 1 gone; regressions above 5%: 1");

  const nlohmann::json j = comparison_json(c);
  EXPECT_EQ(j["any_regressed"], true);
  EXPECT_EQ(j["fail_above_percent"], 5.0);
  EXPECT_EQ(j["counts"]["slower"], 1);
  EXPECT_EQ(j["counts"]["gone"], 1);
  ASSERT_EQ(j["rows"].size(), 4u);
  EXPECT_EQ(j["rows"][0]["verdict"], "slower");
  EXPECT_EQ(j["rows"][0]["regressed"], true);
  EXPECT_TRUE(j["rows"][2]["old_median"].is_null());  // new
  EXPECT_TRUE(j["rows"][2]["p_value"].is_null());
  EXPECT_TRUE(j["rows"][3]["new_median"].is_null());  // gone
  EXPECT_EQ(j["rows"][3]["size"], 1e5);
  // Written as JSON, with no NaN in it.
  EXPECT_EQ(j.dump().find("NaN"), std::string::npos);
}

}  // namespace
