// The exact accumulator, exact_add at every SIMD level, and the correctly rounded results, against
// references computed here independently: GMP rationals (mpq_t) for the exact values, and
// rounding by bracketing (the two neighbouring floats of the exact value and the midpoint between
// them, compared as rationals), not the library's shift-and-divide.
#include <gmp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "tandem/errors.hpp"
#include "tandem/workloads/exact_reduce.hpp"

namespace {

using tandem::exact_simd;
using tandem::kernels::exact_accumulator;
using tandem::kernels::exact_square_accumulator;

// An mpq_t that frees itself.
struct rat {
  mpq_t v;
  rat() { mpq_init(v); }
  explicit rat(double d) {
    mpq_init(v);
    mpq_set_d(v, d);  // exact
  }
  ~rat() { mpq_clear(v); }
  rat(const rat& o) {
    mpq_init(v);
    mpq_set(v, o.v);
  }
  rat& operator=(const rat& o) {
    mpq_set(v, o.v);
    return *this;
  }
};

rat pow2(long e) {
  rat r;
  mpq_set_ui(r.v, 1, 1);
  if (e >= 0) mpq_mul_2exp(r.v, r.v, static_cast<mp_bitcnt_t>(e));
  else mpq_div_2exp(r.v, r.v, static_cast<mp_bitcnt_t>(-e));
  return r;
}

int cmp(const rat& a, const rat& b) { return mpq_cmp(a.v, b.v); }

// An accumulator's value read limb by limb (without normalising): sum limb[i] * 2^(32 i - offset).
template <class Acc>
rat value_of(const Acc& a) {
  rat r, t;
  for (int i = 0; i < Acc::limbs; ++i) {
    mpq_set_si(t.v, static_cast<long>(a.limb[i]), 1);
    const long sh = 32L * i - Acc::offset;
    if (sh >= 0) mpq_mul_2exp(t.v, t.v, static_cast<mp_bitcnt_t>(sh));
    else mpq_div_2exp(t.v, t.v, static_cast<mp_bitcnt_t>(-sh));
    mpq_add(r.v, r.v, t.v);
  }
  return r;
}

template <class T>
rat exact_sum_ref(const std::vector<T>& x) {
  rat s;
  for (T v : x) mpq_add(s.v, s.v, rat(double(v)).v);
  return s;
}
template <class T>
rat exact_sumsq_ref(const std::vector<T>& x) {
  rat s, t;
  for (T v : x) {
    const rat r(static_cast<double>(v));
    mpq_mul(t.v, r.v, r.v);
    mpq_add(s.v, s.v, t.v);
  }
  return s;
}
// Population variance: sum (x - mean)^2 / n, the textbook two-pass form (not the library's).
template <class T>
rat exact_var_ref(const std::vector<T>& x) {
  rat mean = exact_sum_ref(x), n, d, t, acc;
  mpq_set_ui(n.v, x.size(), 1);
  mpq_div(mean.v, mean.v, n.v);
  for (T v : x) {
    mpq_sub(d.v, rat(double(v)).v, mean.v);
    mpq_mul(t.v, d.v, d.v);
    mpq_add(acc.v, acc.v, t.v);
  }
  mpq_div(acc.v, acc.v, n.v);
  return acc;
}

template <class T>
T next_up(T c) {
  return std::nextafter(c, std::numeric_limits<T>::infinity());
}
// The value just past T's largest: 2^(emax + 1), where rounding to infinity starts being relevant.
template <class T>
rat beyond_max() {
  return pow2(std::numeric_limits<T>::max_exponent);
}
template <class T>
rat rat_of(T c) {
  return std::isinf(c) ? beyond_max<T>() : rat(double(c));
}
template <class T>
bool even(T c) {
  if (std::isinf(c)) return true;  // IEEE: a tie at the overflow threshold goes to infinity
  if constexpr (sizeof(T) == 8) {
    std::uint64_t b;
    std::memcpy(&b, &c, 8);
    return (b & 1) == 0;
  } else {
    std::uint32_t b;
    std::memcpy(&b, &c, 4);
    return (b & 1) == 0;
  }
}

// Round |v| to nearest-even in T by bracketing: c <= |v| < next_up(c), then the midpoint decides.
// `sq`: compare squares instead (the correctly rounded square root of v).
template <class T>
T round_ref(const rat& v_in, bool sqrt_of = false) {
  rat v = v_in;
  const int sign = mpq_sgn(v.v);
  if (sign == 0) return T(0);
  mpq_abs(v.v, v.v);
  auto key = [&](const rat& r) {  // what is compared against v
    if (!sqrt_of) return r;
    rat s;
    mpq_mul(s.v, r.v, r.v);
    return s;
  };
  T c;
  if (!sqrt_of) {
    if (cmp(v, beyond_max<T>()) >= 0) return sign < 0 ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    c = static_cast<T>(mpq_get_d(v.v));
  } else {
    // sqrt(v) = sqrt(v * 2^-2s) * 2^s with the scaled value near 1, so mpq_get_d stays in range.
    const long s = (long(mpz_sizeinbase(mpq_numref(v.v), 2)) - long(mpz_sizeinbase(mpq_denref(v.v), 2))) / 2;
    rat w;
    mpq_mul(w.v, v.v, pow2(-2 * s).v);
    c = static_cast<T>(std::ldexp(std::sqrt(mpq_get_d(w.v)), int(std::clamp(s, -2000L, 2000L))));
  }
  if (std::isinf(c)) c = std::numeric_limits<T>::max();
  while (c > 0 && cmp(key(rat_of(c)), v) > 0) c = std::nextafter(c, T(0));
  while (!std::isinf(next_up(c)) && cmp(key(rat_of(next_up(c))), v) <= 0) c = next_up(c);
  const T n = next_up(c);
  rat mid;
  mpq_add(mid.v, rat_of(c).v, rat_of(n).v);
  mpq_div_2exp(mid.v, mid.v, 1);
  const int m = cmp(v, key(mid));
  const T r = m < 0 ? c : m > 0 ? n : (even(c) ? c : n);
  return sign < 0 ? -r : r;
}

template <class T>
void expect_same(T got, T want, const char* what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what << ": " << got;
  } else {
    EXPECT_EQ(std::memcmp(&got, &want, sizeof(T)), 0) << what << ": got " << got << " want " << want;
  }
}

struct all_results {
  exact_accumulator s;
  exact_square_accumulator q;
};

template <class T>
all_results accumulate(const std::vector<T>& x) {
  all_results r;
  r.s.clear();
  r.q.clear();
  tandem::exact_add(x.data(), x.size(), r.s, &r.q);
  return r;
}

// Every result of x against the references.
template <class T>
void check_all(const std::vector<T>& x, const char* what) {
  SCOPED_TRACE(what);
  const all_results a = accumulate(x);
  const rat s = exact_sum_ref(x), q = exact_sumsq_ref(x);
  EXPECT_EQ(cmp(value_of(a.s), s), 0) << "exact sum value";
  EXPECT_EQ(cmp(value_of(a.q), q), 0) << "exact sum of squares value";
  expect_same(tandem::exact_sum<T>(a.s), round_ref<T>(s), "sum");
  expect_same(tandem::exact_sumsq<T>(a.q), round_ref<T>(q), "sumsq");
  if (!x.empty()) {
    rat mean = s, n;
    mpq_set_ui(n.v, x.size(), 1);
    mpq_div(mean.v, mean.v, n.v);
    expect_same(tandem::exact_mean<T>(a.s, x.size()), round_ref<T>(mean), "mean");
    const rat var = exact_var_ref(x);
    expect_same(tandem::exact_var<T>(a.s, a.q, x.size()), round_ref<T>(var), "var");
    expect_same(tandem::exact_std<T>(a.s, a.q, x.size()), round_ref<T>(var, true), "std");
  }
  // The fast path gives the same bytes as the element-by-element path.
  if constexpr (sizeof(T) == 8) {
    all_results b;
    b.s.clear();
    b.q.clear();
    tandem::exact_add_scalar(x.data(), x.size(), b.s, &b.q);
    all_results c = a;
    c.s.normalise();
    c.q.normalise();
    b.s.normalise();
    b.q.normalise();
    EXPECT_EQ(std::memcmp(&b.s, &c.s, sizeof b.s), 0) << "sum bytes vs the element-by-element path";
    EXPECT_EQ(std::memcmp(&b.q, &c.q, sizeof b.q), 0) << "squares bytes vs the element-by-element path";
  }
}

double from_bits(std::uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}

// Doubles with exponent fields drawn uniformly from [lo, hi] (0: subnormal), random mantissas
// and signs.
std::vector<double> random_exponents(std::size_t n, int lo, int hi, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_int_distribution<int> field(lo, hi);
  std::vector<double> x(n);
  for (auto& v : x) {
    const std::uint64_t b = (g() & ((std::uint64_t{1} << 52) - 1)) | (std::uint64_t(field(g)) << 52) | (g() & (std::uint64_t{1} << 63));
    v = from_bits(b);
  }
  return x;
}

std::vector<double> normal(std::size_t n, double mean, double sd, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(mean, sd);
  std::vector<double> x(n);
  for (auto& v : x) v = d(g);
  return x;
}

// Restores the SIMD level in use when it goes out of scope.
struct level_guard {
  exact_simd saved = tandem::exact_simd_active();
  ~level_guard() { tandem::exact_simd_force(saved); }
};

// Each test below runs at every SIMD level this CPU has; a level it lacks is skipped by name.
class exact_at_level : public ::testing::TestWithParam<exact_simd> {
 protected:
  void SetUp() override {
    saved_ = tandem::exact_simd_active();
    if (tandem::exact_simd_force(GetParam()) != GetParam()) {
      tandem::exact_simd_force(saved_);
      GTEST_SKIP() << "this CPU has no " << tandem::to_string(GetParam());
    }
  }
  void TearDown() override { tandem::exact_simd_force(saved_); }
  exact_simd saved_{};
};

TEST_P(exact_at_level, cancellation) {
  check_all<double>({1e16, 1.0, -1e16}, "1e16 + 1 - 1e16");
  std::vector<double> x;
  for (int i = 0; i < 5000; ++i) x.insert(x.end(), {1e16, 1.0, -1e16});
  check_all(x, "5000 x (1e16, 1, -1e16), across blocks");
  EXPECT_EQ(tandem::exact_sum<double>(accumulate(x).s), 5000.0);
}

TEST_P(exact_at_level, whole_exponent_range) {
  check_all<double>({DBL_MAX, from_bits(1), -DBL_MAX, DBL_MIN}, "max, min subnormal, -max, min normal");
  for (std::size_t n : {1u, 31u, 32u, 33u, 2047u, 2048u, 2049u, 6151u})
    check_all(random_exponents(n, 0, 2046, n), "random exponent fields 0..2046");
  // The fast path's range: wide but within one block's three levels, and far beyond them.
  check_all(random_exponents(20000, 1000, 1060, 7), "fields 1000..1060 (fast path)");
  check_all(random_exponents(20000, 900, 1100, 8), "fields 900..1100 (remainders past the last level)");
  check_all(random_exponents(9000, 1990, 2046, 9), "near DBL_MAX (past the fast path's range)");
}

TEST_P(exact_at_level, subnormals) {
  check_all(random_exponents(10000, 0, 0, 11), "all subnormal");
  check_all(random_exponents(10000, 0, 3, 12), "subnormal and the smallest normals");
  std::vector<double> ones(5000, from_bits(1));
  check_all(ones, "5000 x 2^-1074");
  EXPECT_EQ(tandem::exact_sum<double>(accumulate(ones).s), 5000 * from_bits(1));
}

TEST_P(exact_at_level, normal_data_and_sizes) {
  for (std::size_t n : {0u, 1u, 2u, 7u, 8u, 9u, 63u, 64u, 65u, 2039u, 4096u, 4097u, 10007u})
    check_all(normal(n, 0.0, 1.0, n), "N(0, 1)");
  check_all(normal(30000, 1e9, 1e-3, 5), "N(1e9, 1e-3): var's cancellation");
  check_all(normal(30000, -3.0, 1e5, 6), "N(-3, 1e5)");
}

TEST_P(exact_at_level, float_data) {
  std::vector<float> ones(std::size_t{1} << 25, 1.0f);
  const all_results a = accumulate(ones);
  EXPECT_EQ(tandem::exact_sum<float>(a.s), 33554432.0f);
  EXPECT_EQ(tandem::exact_mean<float>(a.s, ones.size()), 1.0f);
  EXPECT_EQ(tandem::exact_var<float>(a.s, a.q, ones.size()), 0.0f);
  EXPECT_EQ(tandem::exact_std<float>(a.s, a.q, ones.size()), 0.0f);
  EXPECT_EQ(tandem::exact_sumsq<float>(a.q), 33554432.0f);
  std::vector<float> f(20011);
  std::mt19937_64 g(3);
  std::normal_distribution<float> d(10.0f, 3.0f);
  for (auto& v : f) v = d(g);
  check_all(f, "float N(10, 3)");
  check_all(std::vector<float>{FLT_MAX, FLT_MAX, -FLT_MAX}, "float max twice, minus once");
  check_all(std::vector<float>{1e-45f, 1e-45f, 3e-45f, 1e-40f}, "float subnormals");
  check_all(std::vector<float>{FLT_MAX, -FLT_MAX}, "float var overflows float");
  // Floats whose exponents spread over s binades: the level count comes from the block's
  // smallest float's lowest bit (24-bit mantissas), at every distance from a level's grid.
  for (int spread = 8; spread <= 120; spread += 7) {
    std::mt19937_64 gs{std::uint64_t(spread)};
    std::vector<float> w(4100);
    for (auto& v : w) {
      const std::uint32_t bits = std::uint32_t(gs() & 0x7fffff) | (std::uint32_t(127 - int(gs() % std::uint64_t(spread))) << 23) |
                                 (std::uint32_t(gs() & 1) << 31);
      std::memcpy(&v, &bits, 4);
    }
    check_all(w, "floats over a spread of exponents");
  }
}

TEST_P(exact_at_level, squares_beyond_double_range) {
  // std of {0, 2^-599} is 2^-600 exactly: the squares (2^-1198) underflow every double.
  const double t = std::ldexp(1.0, -599);
  const all_results a = accumulate(std::vector<double>{0.0, t});
  EXPECT_EQ(tandem::exact_std<double>(a.s, a.q, 2), std::ldexp(1.0, -600));
  EXPECT_EQ(tandem::exact_var<double>(a.s, a.q, 2), 0.0);  // 2^-1200 rounds to zero
  // std of {0, 2^1001} is 2^1000: the squares (2^2002) overflow every double.
  const double h = std::ldexp(1.0, 1001);
  const all_results b = accumulate(std::vector<double>{0.0, h});
  EXPECT_EQ(tandem::exact_std<double>(b.s, b.q, 2), std::ldexp(1.0, 1000));
  EXPECT_TRUE(std::isinf(tandem::exact_var<double>(b.s, b.q, 2)));
  EXPECT_TRUE(std::isinf(tandem::exact_sumsq<double>(b.q)));
  check_all(random_exponents(5000, 400, 560, 21), "x around 2^-500: fma errors inexact, integer squares");
  check_all(random_exponents(5000, 1500, 1560, 22), "x around 2^510: squares past the fast path");
}

TEST_P(exact_at_level, a_block_that_leaves_the_previous_plan) {
  // Blocks of similar data reuse the previous block's plan; each block below breaks it one way:
  // a smaller lowest bit (the last level would round), a larger exponent (a level would leave its
  // binade), NaN, tiny x (inexact fma error), x whose squares pass the fast range, zeros.
  const std::size_t b = 2048;
  const std::vector<double> breakers[] = {
      {1.0 + std::ldexp(1.0, -40)}, {std::ldexp(1.0, -60)}, {3.0e9}, {std::numeric_limits<double>::quiet_NaN()},
      {std::ldexp(1.0, -600)},      {std::ldexp(1.0, 600)},  {0.0}};
  for (const auto& br : breakers) {
    std::vector<double> x;
    for (int blk = 0; blk < 6; ++blk)
      for (std::size_t i = 0; i < b; ++i) x.push_back(blk == 3 && i == 1000 ? br[0] : 1.0 + double(i % 7));
    std::vector<double> zeros(b, 0.0);
    if (br[0] == 0.0) std::copy(zeros.begin(), zeros.end(), x.begin() + 3 * b);
    if (std::isnan(br[0])) {
      const all_results a = accumulate(x);
      EXPECT_TRUE(std::isnan(tandem::exact_sum<double>(a.s)));
      x[3 * b + 1000] = 2.0;
    }
    check_all(x, "a breaking block among blocks of 1..7");
    if (std::abs(br[0]) < FLT_MAX) {  // the reference takes no infinities
      std::vector<float> f(x.begin(), x.end());
      check_all(f, "the same as floats");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(levels, exact_at_level,
                         ::testing::Values(exact_simd::scalar, exact_simd::avx2, exact_simd::avx512),
                         [](const ::testing::TestParamInfo<exact_simd>& i) {
                           return std::string(i.param == exact_simd::scalar ? "scalar"
                                              : i.param == exact_simd::avx2 ? "avx2"
                                                                            : "avx512");
                         });

TEST(exact_rounding, halfway_cases_tie_to_even) {
  auto sum = [](std::vector<double> x) {
    exact_accumulator s;
    s.clear();
    tandem::exact_add(x.data(), x.size(), s, nullptr);
    return tandem::exact_sum<double>(s);
  };
  const double u = std::ldexp(1.0, -53);  // half an ulp of 1
  EXPECT_EQ(sum({1.0, u}), 1.0);                                           // tie: to even (down)
  EXPECT_EQ(sum({1.0, u, std::ldexp(1.0, -200)}), next_up(1.0));          // just past the tie
  EXPECT_EQ(sum({1.0 + 2 * u, u}), 1.0 + 4 * u);                           // tie: to even (up)
  EXPECT_EQ(sum({-1.0, -u}), -1.0);
  EXPECT_EQ(sum({from_bits(1), std::ldexp(1.0, -1075) * 0}), from_bits(1));
  // A float result rounded once, never through double: 1 + 2^-24 + 2^-60 lies above the float tie
  // 1 + 2^-24, though double rounding (first to double: 1 + 2^-24) would give 1.
  std::vector<float> f{1.0f, std::ldexp(1.0f, -24), std::ldexp(1.0f, -60)};
  exact_accumulator s;
  s.clear();
  tandem::exact_add(f.data(), f.size(), s, nullptr);
  EXPECT_EQ(tandem::exact_sum<float>(s), std::nextafter(1.0f, 2.0f));
  // Subnormal result: 2^-1074 * 3 / 2 (mean of 2^-1074 and 2^-1073) is a tie between 1 and 2
  // units: to even, 2 units.
  std::vector<double> m{from_bits(1), from_bits(2)};
  s.clear();
  tandem::exact_add(m.data(), m.size(), s, nullptr);
  EXPECT_EQ(tandem::exact_mean<double>(s, 2), from_bits(2));
}

TEST(exact_rounding, square_root_ties_and_subnormal_grid) {
  // std of {3, 1 - 2^-52} is (2 + 2^-52) / 2 = 1 + 2^-53 exactly: the midpoint of 1 and its
  // successor; ties to even give 1.
  std::vector<double> d{3.0, 1.0 - std::ldexp(1.0, -52)};
  const all_results a = accumulate(d);
  EXPECT_EQ(tandem::exact_std<double>(a.s, a.q, 2), 1.0);
  d[1] = 1.0 - std::ldexp(1.0, -51);  // std 1 + 2^-52 exactly
  const all_results a2 = accumulate(d);
  EXPECT_EQ(tandem::exact_std<double>(a2.s, a2.q, 2), next_up(1.0));
  std::vector<float> f{3.0f, 1.0f - std::ldexp(1.0f, -23)};  // std 1 + 2^-24: a float tie
  const all_results b = accumulate(f);
  EXPECT_EQ(tandem::exact_std<float>(b.s, b.q, 2), 1.0f);
  // A float subnormal result rounded once on the subnormal grid: 1.5 - 2^-60 units of 2^-149 is
  // 1 unit (rounding first to 24 bits would make it the tie 1.5, then 2 units).
  exact_accumulator s;
  s.clear();
  s.add(1.5 * std::ldexp(1.0, -149));
  s.add(-std::ldexp(1.0, -209));
  EXPECT_EQ(tandem::exact_sum<float>(s), std::numeric_limits<float>::denorm_min());
}

TEST(exact_rounding, overflow) {
  std::vector<double> x{DBL_MAX, DBL_MAX};
  exact_accumulator s;
  s.clear();
  tandem::exact_add(x.data(), x.size(), s, nullptr);
  EXPECT_EQ(tandem::exact_sum<double>(s), std::numeric_limits<double>::infinity());
  EXPECT_EQ(tandem::exact_mean<double>(s, 2), DBL_MAX);  // the exact mean is finite
  const double minus[] = {-DBL_MAX};
  tandem::exact_add(minus, 1, s, nullptr);
  EXPECT_EQ(tandem::exact_sum<double>(s), DBL_MAX);  // exact: no intermediate overflow
  // The overflow threshold: DBL_MAX + half its ulp ties to infinity; just below stays.
  const double half_ulp = std::ldexp(1.0, 970);
  std::vector<double> t{DBL_MAX, half_ulp};
  s.clear();
  tandem::exact_add(t.data(), t.size(), s, nullptr);
  EXPECT_EQ(tandem::exact_sum<double>(s), std::numeric_limits<double>::infinity());
  t.push_back(-std::ldexp(1.0, 900));
  s.clear();
  tandem::exact_add(t.data(), t.size(), s, nullptr);
  EXPECT_EQ(tandem::exact_sum<double>(s), DBL_MAX);
}

TEST(exact_special, nan_and_infinities) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  struct c {
    std::vector<double> x;
    double sum, sumsq;
  };
  const c cases[] = {
      {{1.0, inf, 2.0}, inf, inf},   {{1.0, -inf}, -inf, inf},    {{inf, -inf}, nan, inf},
      {{nan, 1.0}, nan, nan},        {{inf, nan}, nan, nan},      {{-inf, -inf, 5.0}, -inf, inf},
  };
  level_guard guard;
  for (const auto& k : cases) {
    std::vector<double> x = k.x;
    x.resize(3000, 0.5);  // a full block around them: the fast path must hand them over
    for (int level : {0, 1, 2}) {
      tandem::exact_simd_force(exact_simd(level));
      const all_results a = accumulate(x);
      expect_same(tandem::exact_sum<double>(a.s), k.sum, "sum");
      expect_same(tandem::exact_mean<double>(a.s, x.size()), k.sum, "mean");
      expect_same(tandem::exact_sumsq<double>(a.q), k.sumsq, "sumsq");
      EXPECT_TRUE(std::isnan(tandem::exact_var<double>(a.s, a.q, x.size())));
      EXPECT_TRUE(std::isnan(tandem::exact_std<double>(a.s, a.q, x.size())));
      std::vector<float> f(x.begin(), x.end());
      const all_results b = accumulate(f);
      expect_same(tandem::exact_sum<float>(b.s), float(k.sum), "float sum");
      expect_same(tandem::exact_sumsq<float>(b.q), float(k.sumsq), "float sumsq");
    }
  }
}

TEST(exact_special, empty_input_is_numpy) {
  exact_accumulator s;
  exact_square_accumulator q;
  s.clear();
  q.clear();
  tandem::exact_add(static_cast<const double*>(nullptr), 0, s, &q);
  EXPECT_EQ(tandem::exact_sum<double>(s), 0.0);
  EXPECT_EQ(tandem::exact_sumsq<double>(q), 0.0);
  EXPECT_TRUE(std::isnan(tandem::exact_mean<double>(s, 0)));
  EXPECT_TRUE(std::isnan(tandem::exact_var<double>(s, q, 0)));
  EXPECT_TRUE(std::isnan(tandem::exact_std<float>(s, q, 0)));
}

TEST(exact_accumulator_form, any_split_and_merge_order_gives_the_same_bytes) {
  std::vector<double> x = random_exponents(40000, 700, 1300, 31);
  const std::vector<double> y = normal(30000, 0.0, 1.0, 32);
  x.insert(x.end(), y.begin(), y.end());
  x[12345] = 1e300;
  x[23456] = -1e300;
  tandem::exact_moments whole;
  whole.clear();
  tandem::exact_add(x.data(), x.size(), whole, true);
  whole.normalise();
  level_guard guard;
  std::mt19937_64 g(33);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<std::size_t> cuts{0, x.size()};
    const int pieces = 1 + int(g() % 40);
    for (int i = 0; i < pieces; ++i) cuts.push_back(g() % (x.size() + 1));
    std::sort(cuts.begin(), cuts.end());
    std::vector<tandem::exact_moments> parts(cuts.size() - 1);
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      tandem::exact_simd_force(exact_simd(g() % 3));  // each piece at any level
      parts[i].clear();
      tandem::exact_add(x.data() + cuts[i], cuts[i + 1] - cuts[i], parts[i], true);
    }
    std::shuffle(parts.begin(), parts.end(), g);
    tandem::exact_moments m;
    m.clear();
    for (const auto& p : parts) m.add(p);
    m.normalise();
    EXPECT_EQ(std::memcmp(&m.sum, &whole.sum, sizeof m.sum), 0) << "trial " << trial;
    EXPECT_EQ(std::memcmp(&m.sumsq, &whole.sumsq, sizeof m.sumsq), 0) << "trial " << trial;
    EXPECT_EQ(m.n, whole.n);
  }
}

TEST(exact_accumulator_form, normalises_before_limbs_could_overflow) {
  // Near the pending limit, every further addition must first normalise; the value must survive.
  exact_accumulator a;
  a.clear();
  a.add(DBL_MAX);
  a.pending = exact_accumulator::max_pending;
  for (int i = 0; i < 3; ++i) a.add(DBL_MAX);
  EXPECT_LT(a.pending, 8u);
  rat want;
  mpq_mul_2exp(want.v, rat(DBL_MAX).v, 2);
  EXPECT_EQ(cmp(value_of(a), want), 0);
  exact_accumulator b = a;
  b.pending = exact_accumulator::max_pending;
  a.pending = exact_accumulator::max_pending;
  a.add(b);  // both at the limit: normalised copies are added
  mpq_mul_2exp(want.v, want.v, 1);
  EXPECT_EQ(cmp(value_of(a), want), 0);
  EXPECT_LE(a.pending, 2u);
  // Negative values normalise to a signed top limb and non-negative digits.
  exact_accumulator c;
  c.clear();
  c.add(-from_bits(1));
  c.normalise();
  EXPECT_EQ(c.limb[exact_accumulator::limbs - 1], -1);
  for (int i = 0; i < exact_accumulator::limbs - 1; ++i) EXPECT_GE(c.limb[i], 0);
  EXPECT_EQ(c.sign_normalised(), -1);
}

TEST(exact_simd_env, bad_value_is_a_usage_error) {
  ::setenv("TANDEM_REDUCE_SIMD", "avx9000", 1);
  EXPECT_THROW(tandem::exact_simd_check_environment(), tandem::usage_error);
  ::setenv("TANDEM_REDUCE_SIMD", "avx2", 1);
  EXPECT_NO_THROW(tandem::exact_simd_check_environment());
  ::unsetenv("TANDEM_REDUCE_SIMD");
  EXPECT_NO_THROW(tandem::exact_simd_check_environment());
}

}  // namespace
