// Monte Carlo across MPI ranks, without mpirun: the VaR selection and the CVaR sum over candidate
// sets split as 1..4 ranks would hold them, against a brute-force sort and an independently
// rounded sum (Shewchuk's exact partials, as Python's math.fsum); and the GPU engine run rank
// block by rank block, its group summaries and candidates folded as rank 0 folds them, against
// the whole run's bits.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "backend_context.hpp"
#include "fsum_reference.hpp"
#include "montecarlo_tail.hpp"
#include "tandem/executors.hpp"
#include "tandem/ranks.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/montecarlo_fold.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"

namespace {

using namespace tandem;
using tandem::testing::fsum;

std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }

// lower_tail_over_ranks with the ranks simulated: every sum over ranks is a loop over the parts.
lower_tail simulated_lower_tail(std::vector<std::vector<double>> parts, std::uint64_t k) {
  std::uint64_t total = 0, lo = ~std::uint64_t{0}, hi = 0;
  for (auto& p : parts) {
    sort_tail_candidates(p);
    total += p.size();
    if (!p.empty()) lo = std::min(lo, tail_key(p.front())), hi = std::max(hi, tail_key(p.back()));
  }
  if (total < k) return {};
  int rounds = 0;
  const std::uint64_t key = select_tail_key(lo, hi, k, [&](std::uint64_t t) {
    ++rounds;
    std::uint64_t c = 0;
    for (const auto& p : parts) c += tail_count_at_most(p, t);
    return c;
  });
  EXPECT_LE(rounds, 64);
  tail_part all = tail_part_below(parts[0], key);
  for (std::size_t r = 1; r < parts.size(); ++r) merge_tail_parts(all, tail_part_below(parts[r], key));
  return {true, tail_value(key), tail_mean(all, tail_value(key), k)};
}

TEST(montecarlo_tail, key_orders_doubles_and_round_trips) {
  const std::vector<double> ordered = {-INFINITY, -1e308, -1.5, -1.0, -4.9e-324, -0.0, 0.0, 4.9e-324,
                                       2.2e-308,  1.0,    1.5,  1e308, INFINITY};
  for (std::size_t i = 0; i < ordered.size(); ++i) {
    EXPECT_EQ(bits(tail_value(tail_key(ordered[i]))), bits(ordered[i]));
    if (i > 0) {
      EXPECT_LT(tail_key(ordered[i - 1]), tail_key(ordered[i])) << ordered[i - 1] << " " << ordered[i];
    }
  }
}

// Values with many ties (a few distinct values drawn often), every sign, subnormals and exponents
// from 2^-1074 to 2^900; k at the edges and between; each simulated rank keeps only what its own
// montecarlo_fold keeps (the k smallest of its values, or more).
TEST(montecarlo_tail, selection_and_cvar_match_a_sort_for_1_to_4_ranks) {
  std::mt19937_64 rng(12);
  for (std::size_t n : {1u, 2u, 3u, 17u, 1000u, 4099u, 70000u}) {
    for (int flavour = 0; flavour < 3; ++flavour) {
      std::vector<double> v(n);
      std::vector<double> few = {3.0, -0.0, 0.0, 1.0 / 3, -2.5, 100.25};
      for (double& x : v) {
        const std::uint64_t u = rng();
        if (flavour == 0) x = few[u % few.size()];  // ties everywhere
        else if (flavour == 1) x = std::ldexp(double(u >> 11), int(u % 1975) - 1126) * ((u & 1) ? -1 : 1);
        else x = (u % 3 == 0) ? few[u % few.size()] : 100 * std::exp(double(std::int64_t(u) >> 11) * 0x1p-53);
      }
      std::vector<double> sorted = v;
      std::sort(sorted.begin(), sorted.end());
      for (std::uint64_t k : {std::uint64_t{1}, std::uint64_t(n / 3 + 1), std::uint64_t(n - n / 20), std::uint64_t(n)}) {
        const std::vector<double> smallest(sorted.begin(), sorted.begin() + std::ptrdiff_t(k));
        const double cvar = fsum(smallest) / double(k);
        std::uint64_t var_bits = 0;
        kernels::mc_params p{};
        p.paths = n;
        double level = double(k) / double(n);
        while (var_rank(level, n) > k) level = std::nextafter(level, 0.0);
        for (int size = 1; size <= 4; ++size) {
          std::vector<std::vector<double>> parts;
          for (int r = 0; r < size; ++r) {
            const ranks::share s = ranks::share_of(n, r, size);
            montecarlo_fold fold(p, level);
            ASSERT_EQ(fold.var_rank(), k);
            fold.add_finals(v.data() + s.first, s.size());
            parts.push_back(fold.candidates());
          }
          const lower_tail t = simulated_lower_tail(parts, k);
          ASSERT_TRUE(t.found);
          EXPECT_EQ(t.var, sorted[k - 1]) << "n=" << n << " k=" << k << " ranks=" << size;
          EXPECT_EQ(bits(t.cvar), bits(cvar)) << "n=" << n << " k=" << k << " ranks=" << size << ": " << t.cvar
                                              << " vs " << cvar;
          if (size == 1) var_bits = bits(t.var);
          EXPECT_EQ(bits(t.var), var_bits) << "-0 and +0 are told apart the same way for every split";
        }
        // The collective with one rank (no launcher here) is the same computation.
        std::vector<double> all = v;
        const lower_tail one = lower_tail_over_ranks(all, k);
        ASSERT_TRUE(one.found);
        EXPECT_EQ(bits(one.var), var_bits);
        EXPECT_EQ(bits(one.cvar), bits(cvar));
      }
    }
  }
}

// A million ties at the k-th value: added as one multiple, not value by value.
TEST(montecarlo_tail, ties_at_the_threshold_are_counted_exactly) {
  const std::uint64_t k = 1'000'003;
  std::vector<double> v(k + 10, 1.0);
  v[5] = 0.5;
  v[7] = 0x1p-30;
  lower_tail t = lower_tail_over_ranks(v, k);
  ASSERT_TRUE(t.found);
  EXPECT_EQ(t.var, 1.0);
  EXPECT_EQ(t.cvar, (0.5 + 0x1p-30 + double(k - 2)) / double(k));  // the sum is exact in double
  // Far below: the sum with the ties needs the accumulator's whole range, and rounds to -1e300.
  v[5] = -1e300;
  v[7] = 1e-310;
  t = lower_tail_over_ranks(v, k);
  std::vector<double> smallest(k - 2, 1.0);
  smallest.push_back(-1e300);
  smallest.push_back(1e-310);
  EXPECT_EQ(bits(t.cvar), bits(fsum(smallest) / double(k)));
  EXPECT_EQ(t.cvar, -1e300 / double(k));
}

// ---- the GPU engine, one rank's block at a time ----------------------------------------------

std::string fingerprint(const montecarlo_result& r) { return to_json(r).dump(); }

TEST(montecarlo_ranks, gpu_blocks_folded_as_rank_0_folds_them_give_the_whole_runs_bits) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  session s;
  std::vector<montecarlo_options> cases(4);
  cases[0].paths = 200'001;  // 7 groups: more candidates than the first compaction keeps
  cases[0].steps = 3;
  cases[0].var_level = 0.02;
  cases[1].paths = 9000;
  cases[1].steps = 12;
  cases[1].option = kernels::mc_option::asian_call;
  cases[1].control_variate = true;
  cases[1].antithetic = true;
  cases[2].paths = 8 * 256;  // Sobol replicates of one chunk per group: summaries per replicate
  cases[2].steps = 5;
  cases[2].sampling = kernels::mc_sampling::sobol;
  cases[2].qmc_replicates = 8;
  cases[2].option = kernels::mc_option::call;
  cases[3].paths = 1;  // one group: ranks 1..3 hold none
  for (const montecarlo_options& o : cases) {
    seq_executor seq;
    const montecarlo_result whole = run_montecarlo(seq, o);
    const kernels::mc_params p = montecarlo_job(o);
    for (int size = 1; size <= 4; ++size) {
      montecarlo_gpu engine(s.gpu(), p, 1);  // windows of one group
      std::vector<kernels::mc_chunk_stats> summaries(engine.groups());
      std::vector<std::vector<double>> parts;
      for (int r = 0; r < size; ++r) {
        const ranks::share block = ranks::share_of(engine.groups(), r, size);
        montecarlo_fold fold(p, o.var_level);
        std::uint64_t next = block.first;
        engine.run(fold, block.first, block.last, [&](std::uint64_t g, const kernels::mc_chunk_stats& st) {
          EXPECT_EQ(g, next++);
          summaries[g] = st;
        });
        EXPECT_EQ(next, block.last);
        parts.push_back(fold.candidates());
      }
      montecarlo_fold root(p, o.var_level);
      for (std::uint64_t g = 0; g < summaries.size(); ++g) root.add_group_summary(g * engine.group_samples(), summaries[g]);
      montecarlo_result r = root.finish();
      const lower_tail t = simulated_lower_tail(parts, root.var_rank());
      ASSERT_TRUE(t.found);
      r.var = t.var;
      r.cvar = t.cvar;
      r.bs_price = whole.bs_price;  // the closed forms run_montecarlo adds after the fold
      r.geometric_asian_price = whole.geometric_asian_price;
      EXPECT_EQ(fingerprint(r), fingerprint(whole)) << "paths=" << o.paths << " ranks=" << size;
    }
  }
}

}  // namespace
