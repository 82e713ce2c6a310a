// The building blocks of the Monte Carlo paths, each against an independent reference: Philox
// against Random123's published known-answer vectors, the portable exp/log against glibc, the
// inverse normal against a long-double Newton refinement, the Sobol table against the net property
// (and cuRAND in CUDA builds), the Brownian bridge against the covariance min(s, t).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "tandem/build_config.hpp"
#include "tandem/kernels/montecarlo.hpp"
#include "tandem/kernels/normal.hpp"
#include "tandem/kernels/portable_math.hpp"
#include "tandem/workloads/sobol.hpp"
#if TANDEM_WITH_CUDA
#include <curand.h>
#endif

namespace {

using namespace tandem;
using namespace tandem::kernels;

// Random123's kat_vectors for philox4x32 with 10 rounds: counter[4], key[2] -> output[4].
TEST(philox, known_answer_vectors) {
  struct kat {
    std::uint32_t ctr[4], key[2], out[4];
  };
  const kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}, {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}, {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const kat& k : kats) {
    const mc_philox::ctr_type c = {{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}};
    const mc_philox::key_type key = {{k.key[0], k.key[1]}};
    const mc_philox::ctr_type r = mc_philox()(c, key);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], k.out[i]) << "word " << i;
  }
}

TEST(philox, path_streams_put_seed_in_key_and_path_in_counter) {
  const std::uint64_t seed = 0x0123456789abcdefull, path = 0xfedcba9876543210ull;
  const mc_philox::ctr_type r = mc_block(seed, path, 7, 1);
  const mc_philox::ctr_type c = {{7, 0x76543210u, 0xfedcba98u, 1}};
  const mc_philox::key_type k = {{0x89abcdefu, 0x01234567u}};
  const mc_philox::ctr_type expect = mc_philox()(c, k);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(r.v[i], expect.v[i]);
}

double ulps(double a, double b) {
  if (a == b) return 0;
  return std::abs(a - b) / std::abs(std::nextafter(b, b > 0 ? INFINITY : -INFINITY) - b);
}

TEST(portable_math, exp_within_one_ulp_of_glibc) {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<double> wide(-745.0, 709.7), narrow(-1.0, 1.0);
  double worst = 0;
  for (int i = 0; i < 400000; ++i) {
    const double x = i % 2 ? wide(gen) : narrow(gen);
    worst = std::max(worst, ulps(portable_exp(x), std::exp(x)));
  }
  EXPECT_LE(worst, 1.0);
  EXPECT_EQ(portable_exp(0.0), 1.0);
  EXPECT_EQ(portable_exp(1000.0), std::numeric_limits<double>::infinity());
  EXPECT_EQ(portable_exp(-1000.0), 0.0);
  EXPECT_GT(portable_exp(-740.0), 0.0);  // subnormal results
  EXPECT_LE(ulps(portable_exp(-740.0), std::exp(-740.0)), 1.0);
}

TEST(portable_math, branch_free_exp_core_is_bitwise_exp_in_its_range) {
  std::mt19937_64 gen(4);
  std::uniform_real_distribution<double> range(portable_exp_normal_min, portable_exp_normal_max);
  for (int i = 0; i < 200000; ++i) {
    const double x = range(gen);
    ASSERT_EQ(double_bits(portable_exp_normal(x)), double_bits(portable_exp(x))) << x;
  }
  for (double x : {portable_exp_normal_min, portable_exp_normal_max, 0.0, -0.0})
    EXPECT_EQ(double_bits(portable_exp_normal(x)), double_bits(portable_exp(x))) << x;
}

TEST(portable_math, log_within_one_ulp_of_glibc) {
  std::mt19937_64 gen(2);
  double worst = 0;
  for (int i = 0; i < 400000; ++i) {
    // Random bit patterns of positive finite doubles: every exponent, subnormals included.
    const std::uint64_t bits = gen() % 0x7ff0000000000000ull;
    const double x = bits_double(bits == 0 ? 1 : bits);
    worst = std::max(worst, ulps(portable_log(x), std::log(x)));
    const double y = 0.5 + static_cast<double>(i) / 400000.0;  // near 1, both final forms
    worst = std::max(worst, ulps(portable_log(y), std::log(y)));
  }
  EXPECT_LE(worst, 1.0);
  EXPECT_EQ(portable_log(1.0), 0.0);
  EXPECT_EQ(portable_log(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(portable_log(-1.0)));
  EXPECT_EQ(portable_log(std::numeric_limits<double>::infinity()), std::numeric_limits<double>::infinity());
}

// Phi^{-1}(u) to long-double accuracy: Newton on Phi(x) = u from the double estimate.
long double reference_inverse_normal(double u) {
  long double x = inverse_normal(u);
  for (int i = 0; i < 4; ++i) {
    const long double phi = 0.5L * std::erfc(-x / std::sqrt(2.0L));
    const long double pdf = std::exp(-0.5L * x * x) / std::sqrt(2.0L * 3.14159265358979323846264338327950288L);
    x -= (phi - static_cast<long double>(u)) / pdf;
  }
  return x;
}

// Acklam bounds his rational approximation's relative error by 1.15e-9; evaluated in double it
// measures 1.17e-9 at worst, so the test allows 1.2e-9.
TEST(inverse_normal, acklam_relative_error_below_1_2e_9) {
  std::vector<std::uint32_t> inputs = {0u, 1u, 2u, 1000u, 0xffffffffu, 0xfffffffeu, 0x80000000u, 0x7fffffffu};
  std::mt19937 gen(3);
  for (int i = 0; i < 200000; ++i) inputs.push_back(static_cast<std::uint32_t>(gen()));
  for (std::uint32_t b = 0; b < 4000; ++b) inputs.push_back(b * 1024u);  // the lower tail, densely
  double worst = 0;
  for (std::uint32_t b : inputs) {
    const double u = uniform_open(b);
    const long double ref = reference_inverse_normal(u);
    const double z = normal_from_bits(b);
    if (std::abs(ref) < 1e-300L) continue;
    worst = std::max(worst, static_cast<double>(std::abs((z - ref) / ref)));
    EXPECT_EQ(normal_from_bits(~b), -z) << "the inverse is odd: u and 1 - u give opposite normals";
  }
  EXPECT_LT(worst, 1.2e-9);
  RecordProperty("worst_relative_error", std::to_string(worst));
  EXPECT_NEAR(normal_from_bits(0u), -6.338, 0.001);  // the most extreme draw, u = 2^-33
}

TEST(sobol, first_dimensions_are_the_known_sequences) {
  const std::vector<std::uint32_t> v = sobol_directions(2);
  const double scale = 1.0 / 4294967296.0;
  const double d0[] = {0, 0.5, 0.25, 0.75, 0.125};
  // Natural order: point i is the XOR of v_b over the bits b of i; dimension 1 has v = 1/2, 3/4, 5/8.
  const double d1[] = {0, 0.5, 0.75, 0.25, 0.625};
  for (std::uint64_t i = 0; i < 5; ++i) {
    EXPECT_EQ(sobol_bits(v.data(), 0, i) * scale, d0[i]);
    EXPECT_EQ(sobol_bits(v.data(), 1, i) * scale, d1[i]);
  }
}

// Every one-dimensional projection of the first 2^m points of a Sobol sequence puts exactly one
// point in each interval [j / 2^m, (j + 1) / 2^m): the direction numbers of each dimension must
// be a triangular basis. Checked for all 1024 dimensions with m = 10.
TEST(sobol, every_dimension_stratifies) {
  const std::vector<std::uint32_t> v = sobol_directions(sobol_max_dims);
  for (std::uint32_t d = 0; d < sobol_max_dims; ++d) {
    std::vector<int> seen(1024, 0);
    for (std::uint64_t i = 0; i < 1024; ++i) ++seen[sobol_bits(v.data(), d, i) >> 22];
    for (int c : seen) ASSERT_EQ(c, 1) << "dimension " << d;
  }
  EXPECT_THROW(sobol_directions(sobol_max_dims + 1), std::out_of_range);
}

TEST(sobol, table_matches_curand_joe_kuo) {
#if TANDEM_WITH_CUDA
  curandDirectionVectors32_t* curand_vectors = nullptr;
  ASSERT_EQ(curandGetDirectionVectors32(&curand_vectors, CURAND_DIRECTION_VECTORS_32_JOEKUO6), CURAND_STATUS_SUCCESS);
  const std::vector<std::uint32_t> v = sobol_directions(sobol_max_dims);
  for (std::uint32_t d = 0; d < sobol_max_dims; ++d)
    for (unsigned b = 0; b < 32; ++b) ASSERT_EQ(v[d * 32 + b], curand_vectors[d][b]) << "dimension " << d << " bit " << b;
#else
  GTEST_SKIP() << "this build has no CUDA toolkit (cuRAND's host API is the reference)";
#endif
}

// The bridge is linear in its normals, W = A z; Cov(W(i), W(j)) = (A A^T)_{ij} must be min(i, j).
TEST(brownian_bridge, covariance_is_min_of_times) {
  for (std::uint32_t n : {1u, 2u, 3u, 5u, 8u, 13u, 252u}) {
    qmc_tables t;
    t.bridge = make_brownian_bridge(n);
    const mc_qmc_tables view = t.view();
    std::vector<std::vector<double>> a(n, std::vector<double>(n));  // a[col][row]
    for (std::uint32_t c = 0; c < n; ++c) {
      std::vector<double> w(n, 0.0);
      for (std::uint32_t i = 0; i < n; ++i) mc_bridge_step(view, i, i == c ? 1.0 : 0.0, w.data());
      a[c] = w;
    }
    for (std::uint32_t i = 0; i < n; ++i)
      for (std::uint32_t j = 0; j < n; ++j) {
        double cov = 0;
        for (std::uint32_t c = 0; c < n; ++c) cov += a[c][i] * a[c][j];
        ASSERT_NEAR(cov, std::min(i, j) + 1.0, 1e-9 * n) << "n=" << n << " i=" << i << " j=" << j;
      }
  }
}

}  // namespace
