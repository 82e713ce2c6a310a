// Standard normal deviates from uniform bits: the inverse normal CDF of P. J. Acklam (2003).
//
// Accuracy: relative error below 1.15e-9 over the whole open interval (0, 1) for the rational
// functions (Acklam's bound); evaluated in double, 1.17e-9 at worst (workloads/montecarlo/test_montecarlo_math.cpp,
// against a reference refined with erfc in long double). The
// central region 0.02425 <= p <= 0.97575 (95% of draws) is one rational function with no
// transcendental call; the tails take one portable_log and one sqrt, both bitwise the same on CPU
// and GPU. The inverse CDF keeps the low-discrepancy structure of Sobol points, which Box-Muller
// would scramble, so pseudo-random and quasi-random sampling share one transform.
#pragma once

#include <cmath>
#include <cstdint>

#include "tandem/kernels/hd.hpp"
#include "tandem/kernels/portable_math.hpp"

namespace tandem::kernels {

// 32 random bits -> the midpoint of one of 2^32 equal cells of (0, 1): exact in double, never 0
// or 1, so |z| <= 6.34 (u = 2^-33 at each end; the tails beyond have probability 1.2e-10 each).
TANDEM_HD_INLINE constexpr double uniform_open(std::uint32_t bits) {
  return (static_cast<double>(bits) + 0.5) * 2.3283064365386962890625e-10;  // 2^-32
}

// p in (0, 0.5], a normal double: the lower tail (used below 0.02425); the upper tail is its
// mirror image. Branch-free, so the CPU's lanes can compute it for all lanes at once.
TANDEM_HD_INLINE double acklam_tail(double p) {
  constexpr double c1 = -7.784894002430293e-03, c2 = -3.223964580411365e-01, c3 = -2.400758277161838e+00,
                   c4 = -2.549732539343734e+00, c5 = 4.374664141464968e+00, c6 = 2.938163982698783e+00;
  constexpr double d1 = 7.784695709041462e-03, d2 = 3.224671290700398e-01, d3 = 2.445134137142996e+00,
                   d4 = 3.754408661907416e+00;
  const double q = sqrt(-2.0 * portable_log_normal(p));
  return (((((c1 * q + c2) * q + c3) * q + c4) * q + c5) * q + c6) / ((((d1 * q + d2) * q + d3) * q + d4) * q + 1.0);
}

TANDEM_HD_INLINE double acklam_central(double p) {
  constexpr double a1 = -3.969683028665376e+01, a2 = 2.209460984245205e+02, a3 = -2.759285104469687e+02,
                   a4 = 1.383577518672690e+02, a5 = -3.066479806614716e+01, a6 = 2.506628277459239e+00;
  constexpr double b1 = -5.447609879822406e+01, b2 = 1.615858368580409e+02, b3 = -1.556989798598866e+02,
                   b4 = 6.680131188771972e+01, b5 = -1.328068155288572e+01;
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a1 * r + a2) * r + a3) * r + a4) * r + a5) * r + a6) * q /
         (((((b1 * r + b2) * r + b3) * r + b4) * r + b5) * r + 1.0);
}

inline constexpr double acklam_p_low = 0.02425;

// Phi^{-1}(p) for 0 < p < 1.
TANDEM_HD_INLINE double inverse_normal(double p) {
  if (p < acklam_p_low) return acklam_tail(p);
  if (p > 1.0 - acklam_p_low) return -acklam_tail(1.0 - p);
  return acklam_central(p);
}

TANDEM_HD_INLINE double normal_from_bits(std::uint32_t bits) { return inverse_normal(uniform_open(bits)); }

}  // namespace tandem::kernels
