#include "tandem/stats.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace tandem::stats {

namespace {

void require_finite(std::span<const double> xs, const char* who) {
  for (std::size_t i = 0; i < xs.size(); ++i)
    if (!std::isfinite(xs[i]))
      throw std::invalid_argument(std::string(who) + ": sample " + std::to_string(i) + " is not finite (" +
                                  std::to_string(xs[i]) + ")");
}

// P(B = k) for B ~ B(n, 1/2), through logarithms so that n beyond 1074 (where 2^-n underflows)
// still works.
double binomial_half_pmf(std::size_t n, std::size_t k) {
  const double dn = static_cast<double>(n), dk = static_cast<double>(k);
  return std::exp(std::lgamma(dn + 1) - std::lgamma(dk + 1) - std::lgamma(dn - dk + 1) - dn * std::log(2.0));
}

}  // namespace

median_ranks median_interval_ranks(std::size_t n, double level) {
  if (n == 0) return {};
  // The interval [x(k), x(n+1-k)] misses the median when at most k-1 samples fall below it or at
  // most k-1 above: coverage(k) = 1 - 2 P(B <= k-1). It shrinks as k grows; take the largest k
  // that still holds the level. The tail needed is at most (1 - level) / 2, far below the
  // middle, so the sum stops long before k reaches n / 2.
  const double tail = (1 - level) / 2;
  std::size_t k = 1;
  double cdf = binomial_half_pmf(n, 0);  // P(B <= k-1) for the current k
  while (k < (n + 1) / 2) {
    const double next = cdf + binomial_half_pmf(n, k);  // P(B <= k)
    if (next > tail) break;
    cdf = next;
    ++k;
  }
  // k = 1 is [min, max], used even when it falls short of the level (n <= 5 at 95%).
  return {k, n + 1 - k, std::max(0.0, 1 - 2 * cdf)};
}

summary summarize(std::span<const double> samples) {
  require_finite(samples, "stats::summarize");
  summary s;
  s.n = samples.size();
  if (s.n == 0) return s;
  std::vector<double> x(samples.begin(), samples.end());
  std::sort(x.begin(), x.end());
  const std::size_t n = x.size();
  s.min = x.front();
  s.max = x.back();
  s.median = n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
  const median_ranks r = median_interval_ranks(n);
  s.ci_lo = x[r.lo - 1];
  s.ci_hi = x[r.hi - 1];
  s.coverage = r.coverage;
  return s;
}

double rel_half_width(const summary& s) {
  if (s.n == 0) return std::numeric_limits<double>::infinity();
  const double width = s.ci_hi - s.ci_lo;
  if (width == 0) return 0;
  if (s.median == 0) return std::numeric_limits<double>::infinity();
  return width / (2 * std::fabs(s.median));
}

stop_reason should_stop(const stop_rule& rule, std::span<const summary> members, double elapsed_s) {
  if (members.empty()) return stop_reason::none;
  const std::size_t min_runs = std::max(1u, rule.min_runs);
  std::size_t fewest = members.front().n, most = members.front().n;
  bool all_tight = true;
  for (const summary& m : members) {
    fewest = std::min(fewest, m.n);
    most = std::max(most, m.n);
    if (!(rel_half_width(m) <= rule.target_rel_ci)) all_tight = false;
  }
  if (fewest >= min_runs && all_tight) return stop_reason::stable;
  if (most >= rule.max_runs) return stop_reason::max_runs;
  // Three runs give a median that one outlier cannot move; a cell that cannot afford three
  // within three budgets ends with what it has rather than hold up the rest of the bench.
  const std::size_t budget_runs = std::min<std::size_t>(3, min_runs);
  if (elapsed_s >= rule.budget_s && fewest >= budget_runs) return stop_reason::budget;
  if (elapsed_s >= 3 * rule.budget_s && fewest >= 1) return stop_reason::budget;
  return stop_reason::none;
}

std::string to_string(stop_reason r) {
  switch (r) {
    case stop_reason::stable: return "stable";
    case stop_reason::budget: return "budget";
    case stop_reason::max_runs: return "max_runs";
    case stop_reason::none: break;
  }
  return "none";
}

double mann_whitney_min_p(std::size_t n_a, std::size_t n_b) {
  if (n_a == 0 || n_b == 0) return 1;
  const double a = static_cast<double>(n_a), b = static_cast<double>(n_b);
  const double log_choose = std::lgamma(a + b + 1) - std::lgamma(a + 1) - std::lgamma(b + 1);
  return std::min(1.0, 2 * std::exp(-log_choose));
}

namespace {

// The number of arrangements of m a's and n b's with U = u, for every u in 0..mn: the
// coefficients of the Gaussian binomial [m+n choose m]_q, built as prod_{i=1..m} (1 - q^(n+i)) /
// (1 - q^i). After step i the polynomial is [n+i choose i]_q, so every coefficient stays a
// non-negative integer no larger than C(n+i, i) <= C(40, 20): exact in 64 bits.
std::vector<std::int64_t> u_counts(std::size_t m, std::size_t n) {
  std::vector<std::int64_t> c(m * n + 1, 0);
  c[0] = 1;
  std::size_t degree = 0;
  for (std::size_t i = 1; i <= m; ++i) {
    const std::size_t shift = n + i;
    degree += n;
    // Times (1 - q^shift), from the top down so each term reads the old lower ones; only the
    // terms up to the quotient's degree matter to the exact division that follows.
    for (std::size_t k = degree + 1; k-- > shift;) c[k] -= c[k - shift];
    for (std::size_t k = i; k <= degree; ++k) c[k] += c[k - i];  // divided by (1 - q^i)
  }
  return c;
}

// Midranks (1-based) of the pooled samples, and the tie term sum(t^3 - t) over groups of ties.
struct pooled_ranks {
  double rank_sum_a = 0;
  double tie_term = 0;
};

pooled_ranks rank_pooled(std::span<const double> a, std::span<const double> b) {
  std::vector<std::pair<double, bool>> all;  // value, from a
  all.reserve(a.size() + b.size());
  for (double v : a) all.emplace_back(v, true);
  for (double v : b) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  pooled_ranks r;
  for (std::size_t i = 0; i < all.size();) {
    std::size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double midrank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;
    for (std::size_t k = i; k < j; ++k)
      if (all[k].second) r.rank_sum_a += midrank;
    r.tie_term += t * t * t - t;
    i = j;
  }
  return r;
}

}  // namespace

test_result mann_whitney(std::span<const double> a, std::span<const double> b) {
  if (a.empty() || b.empty()) throw std::invalid_argument("stats::mann_whitney: a sample is empty");
  require_finite(a, "stats::mann_whitney");
  require_finite(b, "stats::mann_whitney");
  const std::size_t m = a.size(), n = b.size();
  const double dm = static_cast<double>(m), dn = static_cast<double>(n);
  const pooled_ranks r = rank_pooled(a, b);
  test_result t;
  t.u = r.rank_sum_a - dm * (dm + 1) / 2;
  const double mean = dm * dn / 2;

  if (r.tie_term == 0 && m <= mann_whitney_exact_max && n <= mann_whitney_exact_max) {
    const std::vector<std::int64_t> counts = u_counts(m, n);
    // U is an integer here (no ties); the two tails at it, each including it.
    const auto u = static_cast<std::size_t>(std::llround(t.u));
    const double total = std::accumulate(counts.begin(), counts.end(), 0.0,
                                         [](double s, std::int64_t c) { return s + static_cast<double>(c); });
    double below = 0, above = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
      if (k <= u) below += static_cast<double>(counts[k]);
      if (k >= u) above += static_cast<double>(counts[k]);
    }
    t.p_value = std::min(1.0, 2 * std::min(below, above) / total);
    t.name = "Mann-Whitney U (exact)";
    return t;
  }

  const double big_n = dm + dn;
  const double variance = dm * dn / 12 * ((big_n + 1) - r.tie_term / (big_n * (big_n - 1)));
  t.name = "Mann-Whitney U (normal approx.)";
  if (variance <= 0) {  // every value equal: nothing tells the samples apart
    t.p_value = 1;
    return t;
  }
  const double z = std::max(0.0, std::fabs(t.u - mean) - 0.5) / std::sqrt(variance);
  t.p_value = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return t;
}

}  // namespace tandem::stats
