// The host/device pieces the GPU path is built from, against independent references: the chunk
// fold's fixed 32-lane order (a direct transcription of the documented order, lanes called in any
// order, and long-double sums), the streamed Brownian bridge against the whole-path bridge it
// replaced (bitwise), and the antithetic pair walk against two single-path walks (bitwise).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "tandem/kernels/montecarlo.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/sobol.hpp"

namespace {

using namespace tandem;
using namespace tandem::kernels;

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }

// ---- the chunk fold ---------------------------------------------------------------------------

// The documented order, written out: element i goes to accumulator i % 32 in index order, then
// v[i] += v[i + h] for h = 16, 8, 4, 2, 1.
double documented_sum(const std::vector<double>& v) {
  double acc[32] = {};
  for (std::size_t i = 0; i < v.size(); ++i) acc[i % 32] = acc[i % 32] + v[i];
  for (unsigned h = 16; h != 0; h /= 2)
    for (unsigned i = 0; i < h; ++i) acc[i] = acc[i] + acc[i + h];
  return acc[0];
}

struct series_stats {
  double mean = 0, m2 = 0;
};
series_stats documented_moments(const std::vector<double>& v) {
  series_stats s;
  if (v.empty()) return s;
  s.mean = documented_sum(v) / static_cast<double>(v.size());
  std::vector<double> sq;
  for (double x : v) sq.push_back((x - s.mean) * (x - s.mean));
  s.m2 = documented_sum(sq);
  return s;
}

std::vector<double> per_sample(const std::vector<double>& v, bool antithetic) {
  if (!antithetic) return v;
  std::vector<double> out;
  for (std::size_t i = 0; i + 1 < v.size(); i += 2) out.push_back((v[i] + v[i + 1]) * 0.5);
  return out;
}

struct fold_case {
  mc_params p;
  std::uint64_t samples;
  std::vector<double> finals, payoffs, controls;
  bool payoff, control;
};

fold_case make_fold_case(std::uint64_t samples, bool antithetic, bool payoff, bool control, std::uint64_t seed) {
  fold_case c;
  c.p.antithetic = antithetic ? 1 : 0;
  c.samples = samples;
  c.payoff = payoff;
  c.control = control;
  std::mt19937_64 gen(seed);
  std::lognormal_distribution<double> price(std::log(100.0), 0.2);
  const std::uint64_t paths = samples * (antithetic ? 2 : 1);
  for (std::uint64_t i = 0; i < paths; ++i) {
    const double s = price(gen);
    c.finals.push_back(s);
    c.payoffs.push_back(std::max(s - 100.0, 0.0) * 0.95);
    c.controls.push_back(std::max(s * 0.98 - 100.0, 0.0) * 0.95);
  }
  return c;
}

mc_chunk_stats fold(const fold_case& c) {
  return mc_fold_chunk(c.p, c.samples, c.finals.data(), c.payoff ? c.payoffs.data() : nullptr,
                       c.control ? c.controls.data() : nullptr);
}

const std::uint64_t fold_sizes[] = {0, 1, 2, 31, 32, 33, 63, 64, 65, 97, 1000, 1023, 1024};

TEST(montecarlo_fold_order, chunk_statistics_are_the_documented_32_lane_order_bitwise) {
  for (std::uint64_t n : fold_sizes)
    for (bool antithetic : {false, true})
      for (int series = 0; series < 3; ++series) {
        const fold_case c = make_fold_case(n, antithetic, series >= 1, series == 2, n * 7 + series);
        const mc_chunk_stats s = fold(c);
        const std::string what = "samples=" + std::to_string(n) + " antithetic=" + std::to_string(antithetic) +
                                 " series=" + std::to_string(series);
        const double paths = static_cast<double>(c.finals.size()), samples = static_cast<double>(n);
        EXPECT_EQ(s.final_path.n, n == 0 ? 0.0 : paths) << what;
        const series_stats f = documented_moments(c.finals);
        EXPECT_TRUE(same_bits(s.final_path.mean, f.mean) && same_bits(s.final_path.m2, f.m2)) << what;
        const series_stats fs = documented_moments(per_sample(c.finals, antithetic));
        EXPECT_EQ(s.final_sample.n, n == 0 ? 0.0 : samples) << what;
        EXPECT_TRUE(same_bits(s.final_sample.mean, fs.mean) && same_bits(s.final_sample.m2, fs.m2)) << what;
        if (!c.payoff || n == 0) {
          const mc_moments zero;
          EXPECT_EQ(std::memcmp(&s.payoff_path, &zero, sizeof zero), 0) << what;
          continue;
        }
        const series_stats y = documented_moments(c.payoffs);
        EXPECT_TRUE(same_bits(s.payoff_path.mean, y.mean) && same_bits(s.payoff_path.m2, y.m2)) << what;
        const std::vector<double> ys = per_sample(c.payoffs, antithetic);
        const series_stats yy = documented_moments(ys);
        EXPECT_EQ(s.payoff_sample.n, samples) << what;
        EXPECT_TRUE(same_bits(s.payoff_sample.mean_y, yy.mean) && same_bits(s.payoff_sample.m2_y, yy.m2)) << what;
        if (!c.control) {
          EXPECT_EQ(s.payoff_sample.m2_x, 0.0) << what;
          EXPECT_EQ(s.payoff_sample.c_xy, 0.0) << what;
          continue;
        }
        const std::vector<double> xs = per_sample(c.controls, antithetic);
        const series_stats x = documented_moments(xs);
        EXPECT_TRUE(same_bits(s.payoff_sample.mean_x, x.mean) && same_bits(s.payoff_sample.m2_x, x.m2)) << what;
        std::vector<double> cross;
        for (std::size_t i = 0; i < xs.size(); ++i) cross.push_back((xs[i] - x.mean) * (ys[i] - yy.mean));
        EXPECT_TRUE(same_bits(s.payoff_sample.c_xy, documented_sum(cross))) << what;
      }
}

// A GPU runs the lanes of all chunks at once, in no particular order, and combines them later:
// each lane's sums depend only on its own elements.
TEST(montecarlo_fold_order, lanes_run_in_any_order_give_the_chunk_fold) {
  std::mt19937 gen(5);
  for (std::uint64_t n : fold_sizes)
    for (bool antithetic : {false, true}) {
      const fold_case c = make_fold_case(n, antithetic, true, true, n + 11);
      const mc_fold_shape shape = mc_fold_shape_of(c.p, n, c.payoffs.data(), c.controls.data());
      std::vector<std::uint32_t> order(mc_fold_lanes);
      for (std::uint32_t l = 0; l < mc_fold_lanes; ++l) order[l] = l;
      std::shuffle(order.begin(), order.end(), gen);
      mc_fold_lane lanes[mc_fold_lanes];
      for (std::uint32_t l : order) lanes[l] = mc_fold_lane_sums(shape, c.finals.data(), c.payoffs.data(), c.controls.data(), l);
      const mc_fold_means m = mc_fold_means_of(shape, mc_fold_combine(lanes));
      std::shuffle(order.begin(), order.end(), gen);
      for (std::uint32_t l : order)
        lanes[l] = mc_fold_lane_squares(shape, c.finals.data(), c.payoffs.data(), c.controls.data(), m, l);
      const mc_chunk_stats s = mc_fold_stats(shape, m, mc_fold_combine(lanes));
      const mc_chunk_stats expect = fold(c);
      EXPECT_EQ(std::memcmp(&s, &expect, sizeof s), 0) << "samples=" << n << " antithetic=" << antithetic;
    }
}

// Accuracy of the order, against sums in long double: two-pass moments of well-scaled values
// are accurate to a few ulps times log2 of the count.
TEST(montecarlo_fold_order, moments_within_1e_13_of_long_double) {
  for (bool antithetic : {false, true}) {
    const fold_case c = make_fold_case(1024, antithetic, true, true, 99);
    const mc_chunk_stats s = fold(c);
    auto check = [](const std::vector<double>& v, const mc_moments& m, const char* what) {
      long double sum = 0;
      for (double x : v) sum += x;
      const long double mean = sum / static_cast<long double>(v.size());
      long double m2 = 0;
      for (double x : v) m2 += (x - mean) * (x - mean);
      EXPECT_EQ(m.n, static_cast<double>(v.size())) << what;
      EXPECT_NEAR(m.mean, static_cast<double>(mean), 1e-13 * std::abs(static_cast<double>(mean))) << what;
      EXPECT_NEAR(m.m2, static_cast<double>(m2), 1e-13 * static_cast<double>(m2)) << what;
    };
    check(c.finals, s.final_path, "final per path");
    check(per_sample(c.finals, antithetic), s.final_sample, "final per sample");
    check(c.payoffs, s.payoff_path, "payoff per path");
  }
}

// ---- the streamed Brownian bridge -------------------------------------------------------------

// The Sobol path as it was before the bridge was streamed: all of W(1..n) on the stack, filled
// in bridge order, then differenced. Test-only; the reference for bitwise equality.
mc_path_result whole_path_sobol(const mc_params& p, const mc_qmc_tables& t, std::uint64_t sample) {
  const std::uint64_t replicate = sample / p.replicate_points;
  const std::uint64_t point = sample % p.replicate_points;
  std::vector<double> w(p.steps);
  mc_philox::ctr_type shift{};
  for (std::uint32_t i = 0; i < p.steps; ++i) {
    if ((i & 3u) == 0) shift = mc_block(p.seed, replicate, i >> 2, 1);
    const double z = normal_from_bits(sobol_bits(t.directions, i, point) ^ shift.v[i & 3u]);
    mc_bridge_step(t, i, z, w.data());
  }
  return mc_walk(p, [&](std::uint32_t k) { return k == 0 ? w[0] : w[k] - w[k - 1]; });
}

TEST(montecarlo_streamed_bridge, sobol_paths_are_bitwise_the_whole_path_bridge) {
  struct variant {
    mc_model model;
    mc_option option;
    bool control;
  };
  const variant variants[] = {{mc_model::gbm, mc_option::none, false},
                              {mc_model::gbm, mc_option::call, false},
                              {mc_model::gbm, mc_option::put, false},
                              {mc_model::gbm, mc_option::asian_call, true},
                              {mc_model::gbm, mc_option::asian_put, true},
                              {mc_model::arithmetic, mc_option::asian_call, false}};
  for (std::uint32_t steps : {1u, 2u, 3u, 5u, 7u, 16u, 17u, 100u, 252u, 1024u})
    for (const variant& v : variants) {
      montecarlo_options o;
      o.sampling = mc_sampling::sobol;
      o.qmc_replicates = 4;
      o.paths = 4 * 64;
      o.steps = steps;
      o.model = v.model;
      o.option = v.option;
      o.control_variate = v.control;
      o.sigma = 0.3;
      o.rate = 0.02;
      o.dt = 1.0 / steps;
      o.seed = 1000 + steps;
      const mc_params p = montecarlo_job(o);
      const qmc_tables tables = make_qmc_tables(steps);
      const mc_qmc_tables view = tables.view();
      // Every point of the first and last replicate, and a spread of the middle ones.
      for (std::uint64_t s = 0; s < p.samples; s += (s < 64 || s >= 192) ? 1 : 7) {
        const mc_path_result a = mc_sobol_path(p, view, s), b = whole_path_sobol(p, view, s);
        ASSERT_TRUE(same_bits(a.final_price, b.final_price) && same_bits(a.payoff, b.payoff) &&
                    same_bits(a.control, b.control))
            << "steps=" << steps << " " << to_string(v.model) << " " << to_string(v.option) << " sample " << s << ": "
            << a.final_price << " vs " << b.final_price;
      }
    }
}

// The program's shape: one operation per W, every entry once, every W emitted once in time order
// (checked by replaying the program on indices), within the slot bound at 1 + ceil(log2 n) levels.
TEST(montecarlo_streamed_bridge, program_places_and_emits_every_w_once_in_few_slots) {
  for (std::uint32_t n = 1; n <= mc_qmc_max_steps; n = n < 70 ? n + 1 : n < 1000 ? n + 37 : n + 1) {
    const brownian_bridge b = make_brownian_bridge(n);
    ASSERT_EQ(b.program.size(), n);
    const std::uint32_t ceil_log2 = n == 1 ? 0 : static_cast<std::uint32_t>(std::bit_width(n - 1));
    EXPECT_EQ(b.levels, 1 + ceil_log2) << "n=" << n;
    ASSERT_LE(b.levels, mc_bridge_max_levels);
    std::vector<int> entry_seen(n, 0);
    std::vector<std::int64_t> slot(mc_bridge_max_levels, -1);  // which W a slot holds
    std::uint32_t next_time = 0;
    for (const mc_bridge_op& o : b.program) {
      ASSERT_LT(o.entry, n);
      ++entry_seen[o.entry];
      ASSERT_LT(o.slot, b.levels);
      // The neighbours the tables name must be in the slots the program reads.
      if (o.flags & mc_bridge_has_right) {
        ASSERT_EQ(slot[o.right], static_cast<std::int64_t>(b.right_index[o.entry])) << "n=" << n;
        if (o.flags & mc_bridge_has_left) ASSERT_EQ(slot[o.left], static_cast<std::int64_t>(b.left_index[o.entry]) - 1);
        else ASSERT_EQ(b.left_index[o.entry], 0u);
      } else {
        ASSERT_EQ(o.entry, 0u);
      }
      slot[o.slot] = b.bridge_index[o.entry];
      for (std::uint32_t e = 0; e < mc_bridge_emits(o); ++e) ASSERT_EQ(slot[o.emit[e]], next_time++) << "n=" << n;
    }
    EXPECT_EQ(next_time, n);
    for (std::uint32_t i = 0; i < n; ++i) ASSERT_EQ(entry_seen[i], 1) << "n=" << n << " entry " << i;
  }
}

// ---- antithetic pairs from one stream ---------------------------------------------------------

TEST(montecarlo_pairs, pair_walk_is_bitwise_two_single_path_walks) {
  const mc_option options[] = {mc_option::none, mc_option::call, mc_option::put, mc_option::asian_call,
                               mc_option::asian_put};
  for (mc_model model : {mc_model::gbm, mc_model::arithmetic})
    for (mc_option option : options)
      for (std::uint32_t steps : {1u, 3u, 4u, 5u, 17u, 252u}) {
        montecarlo_options o;
        o.model = model;
        o.option = option;
        o.control_variate = model == mc_model::gbm && mc_is_asian(option);
        o.antithetic = true;
        o.paths = 2 * 200;
        o.steps = steps;
        o.sigma = 0.3;  // wide enough that the arithmetic floor binds on some paths
        o.rate = 0.01;
        o.seed = steps + 17;
        const mc_params p = montecarlo_job(o);
        for (std::uint64_t s : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{199}, std::uint64_t{1} << 33}) {
          const mc_path_pair pair = mc_pseudo_pair(p, s);
          const mc_path_result a = mc_pseudo_path(p, s, false), b = mc_pseudo_path(p, s, true);
          ASSERT_TRUE(same_bits(pair.path.final_price, a.final_price) && same_bits(pair.path.payoff, a.payoff) &&
                      same_bits(pair.path.control, a.control))
              << to_string(model) << " " << to_string(option) << " steps=" << steps << " stream " << s;
          ASSERT_TRUE(same_bits(pair.mirror.final_price, b.final_price) && same_bits(pair.mirror.payoff, b.payoff) &&
                      same_bits(pair.mirror.control, b.control))
              << to_string(model) << " " << to_string(option) << " steps=" << steps << " stream " << s;
        }
      }
}

}  // namespace
