// exp and log written with IEEE basic operations only (+, -, *, / and bit manipulation), so the CPU
// and the GPU compute bitwise the same values from the same source.
//
// glibc's and CUDA's libm are both accurate to about 1 ulp but round differently in the last bit
// of a small fraction of inputs; a Monte Carlo result that passes through exp or log would then
// differ between backends. These are the classic fdlibm (Sun, 1993) algorithms and coefficients
// (e_exp.c, e_log.c): error below 1 ulp, checked against glibc in tests/test_portable_math.cpp.
// With floating-point contraction off on both sides (-ffp-contract=off, --fmad=false) each
// operation rounds the same way on every machine.
#pragma once

#include <cstdint>
#include <cstring>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

TANDEM_HD_INLINE std::uint64_t double_bits(double x) {
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
TANDEM_HD_INLINE double bits_double(std::uint64_t u) {
  double x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

// e^x = y 2^k: the reduction and polynomial of fdlibm's exp, shared by the two entry points below.
TANDEM_HD_INLINE double portable_exp_reduced(double x, int& k) {
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  constexpr double inv_ln2 = 1.44269504088896338700e+00;
  constexpr double p1 = 1.66666666666666019037e-01;
  constexpr double p2 = -2.77777777770155933842e-03;
  constexpr double p3 = 6.61375632143793436117e-05;
  constexpr double p4 = -1.65339022054652515390e-06;
  constexpr double p5 = 4.13813679705723846039e-08;
  // x = k ln2 + r with |r| <= ln2/2; ln2 in two parts so k*ln2_hi is exact.
  k = static_cast<int>(inv_ln2 * x + (x < 0 ? -0.5 : 0.5));
  const double hi = x - k * ln2_hi;
  const double lo = k * ln2_lo;
  const double r = hi - lo;
  const double t = r * r;
  const double c = r - t * (p1 + t * (p2 + t * (p3 + t * (p4 + t * p5))));
  return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
}

// The inputs where e^x is a normal double and portable_exp_normal applies.
inline constexpr double portable_exp_normal_min = -707.0;
inline constexpr double portable_exp_normal_max = 709.0;

// e^x for portable_exp_normal_min <= x <= portable_exp_normal_max, without a branch (so a loop of
// them vectorises); bitwise portable_exp(x) there.
TANDEM_HD_INLINE double portable_exp_normal(double x) {
  int k = 0;
  const double y = portable_exp_reduced(x, k);
  // y * 2^k by adding k to the exponent field.
  return bits_double(double_bits(y) + (static_cast<std::uint64_t>(static_cast<std::int64_t>(k)) << 52));
}

// e^x. Overflows to +inf above 709.78, underflows (through subnormals) to 0 below -745.13.
TANDEM_HD_INLINE double portable_exp(double x) {
  constexpr double o_threshold = 7.09782712893383973096e+02;
  constexpr double u_threshold = -7.45133219101941108420e+02;
  constexpr double two_m1000 = 9.33263618503218878990e-302;  // 2^-1000
  if (x != x) return x;
  if (x > o_threshold) return bits_double(0x7ff0000000000000ull);
  if (x < u_threshold) return 0.0;
  int k = 0;
  const double y = portable_exp_reduced(x, k);
  // y * 2^k by adding k to the exponent field; below 2^-1021 go through 2^-1000 to reach subnormals.
  if (k >= -1021) return bits_double(double_bits(y) + (static_cast<std::uint64_t>(static_cast<std::int64_t>(k)) << 52));
  return bits_double(double_bits(y) + (static_cast<std::uint64_t>(static_cast<std::int64_t>(k + 1000)) << 52)) * two_m1000;
}

// log(x) for a positive normal x (2^-1022 <= x < inf), times no special case: branch-free, so a
// loop of them vectorises (the last step computes both of fdlibm's final forms and selects one).
// `k_extra` is added to the binary exponent (portable_log scales subnormals by 2^54 first).
TANDEM_HD_INLINE double portable_log_normal(double x, int k_extra = 0) {
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  constexpr double lg1 = 6.666666666666735130e-01;
  constexpr double lg2 = 3.999999999940941908e-01;
  constexpr double lg3 = 2.857142874366239149e-01;
  constexpr double lg4 = 2.222219843214978396e-01;
  constexpr double lg5 = 1.818357216161805012e-01;
  constexpr double lg6 = 1.531383769920937332e-01;
  constexpr double lg7 = 1.479819860511658591e-01;
  const std::uint64_t u = double_bits(x);
  std::int32_t hx = static_cast<std::int32_t>(u >> 32);
  int k = k_extra + (hx >> 20) - 1023;
  hx &= 0x000fffff;
  // Normalise the mantissa m into [sqrt(2)/2, sqrt(2)) and log x = k ln2 + log m.
  const std::int32_t i = (hx + 0x95f64) & 0x100000;
  const std::uint64_t m_bits =
      (static_cast<std::uint64_t>(static_cast<std::uint32_t>(hx | (i ^ 0x3ff00000))) << 32) | (u & 0xffffffffull);
  k += i >> 20;
  const double f = bits_double(m_bits) - 1.0;
  const double s = f / (2.0 + f);
  const double dk = static_cast<double>(k);
  const double z = s * s;
  const double w = z * z;
  const double t1 = w * (lg2 + w * (lg4 + w * lg6));
  const double t2 = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7)));
  const double r = t2 + t1;
  const double hfsq = 0.5 * f * f;
  const double far_from_one = dk * ln2_hi - ((hfsq - (s * (hfsq + r) + dk * ln2_lo)) - f);
  const double near_one = dk * ln2_hi - ((s * (f - r) - dk * ln2_lo) - f);
  return ((hx - 0x6147a) | (0x6b851 - hx)) > 0 ? far_from_one : near_one;
}

// Natural log: log(0) = -inf, log(negative or NaN) = NaN, log(+inf) = +inf.
TANDEM_HD_INLINE double portable_log(double x) {
  constexpr double two54 = 1.80143985094819840000e+16;
  if (x != x || x < 0) return bits_double(0x7ff8000000000000ull);
  if (x == 0) return -bits_double(0x7ff0000000000000ull);
  if (x == bits_double(0x7ff0000000000000ull)) return x;
  if (double_bits(x) < 0x0010000000000000ull) return portable_log_normal(x * two54, -54);
  return portable_log_normal(x);
}

}  // namespace tandem::kernels
