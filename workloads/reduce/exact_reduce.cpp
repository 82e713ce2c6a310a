// Finishing `--exact`: the correctly rounded sum, mean, sumsq, var and std from exact
// accumulators, with GMP's integers (host only; a few thousand bits per result).
#include <gmp.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "tandem/workloads/exact_reduce.hpp"

namespace tandem {

namespace {

// An mpz_t that frees itself.
struct big {
  mpz_t v;
  big() { mpz_init(v); }
  ~big() { mpz_clear(v); }
  big(const big&) = delete;
  big& operator=(const big&) = delete;
  operator mpz_ptr() { return v; }
  operator mpz_srcptr() const { return v; }
};

void set_u64(mpz_ptr r, std::uint64_t u) {
  mpz_set_ui(r, static_cast<unsigned long>(u >> 32));
  mpz_mul_2exp(r, r, 32);
  mpz_add_ui(r, r, static_cast<unsigned long>(u & 0xffffffffu));
}

// The accumulator's value in units of 2^-offset: sum of limb[i] * 2^(32 i).
template <class Acc>
void to_mpz(mpz_ptr r, Acc a) {
  a.normalise();  // every limb but the top one in [0, 2^32)
  mpz_set_si(r, static_cast<long>(a.limb[Acc::limbs - 1]));
  for (int i = Acc::limbs - 2; i >= 0; --i) {
    mpz_mul_2exp(r, r, 32);
    mpz_add_ui(r, r, static_cast<unsigned long>(a.limb[i]));
  }
}

// The binary format of T: precision p, smallest normal exponent, largest exponent.
template <class T>
struct format {
  static constexpr long p = std::numeric_limits<T>::digits;           // 53, 24
  static constexpr long emin = std::numeric_limits<T>::min_exponent - 1;  // -1022, -126
  static constexpr long emax = std::numeric_limits<T>::max_exponent - 1;  // 1023, 127
};

// floor(log2(a / b)) for a, b > 0.
long floor_log2_ratio(mpz_srcptr a, mpz_srcptr b) {
  const long d = long(mpz_sizeinbase(a, 2)) - long(mpz_sizeinbase(b, 2));
  big t;
  // a / b lies in (2^(d-1), 2^(d+1)): it is d when a >= b * 2^d.
  if (d >= 0) {
    mpz_mul_2exp(t, b, static_cast<mp_bitcnt_t>(d));
    return mpz_cmp(a, t) >= 0 ? d : d - 1;
  }
  mpz_mul_2exp(t, a, static_cast<mp_bitcnt_t>(-d));
  return mpz_cmp(t, b) >= 0 ? d : d - 1;
}

// num / den with num = a * 2^s, den = b (s >= 0) or num = a, den = b * 2^-s.
void scale_pair(mpz_ptr num, mpz_ptr den, mpz_srcptr a, mpz_srcptr b, long s) {
  if (s >= 0) {
    mpz_mul_2exp(num, a, static_cast<mp_bitcnt_t>(s));
    mpz_set(den, b);
  } else {
    mpz_set(num, a);
    mpz_mul_2exp(den, b, static_cast<mp_bitcnt_t>(-s));
  }
}

template <class T>
T make(std::uint64_t q, long ulp_exp, bool negative) {
  // q <= 2^p is exact in T; the scaling is exact or overflows to infinity as it should.
  const T r = std::ldexp(static_cast<T>(q), static_cast<int>(ulp_exp));
  return negative ? -r : r;
}

// (a / b) * 2^k rounded to nearest, ties to even, in T. b > 0.
template <class T>
T round_ratio(mpz_srcptr a, mpz_srcptr b, long k) {
  using F = format<T>;
  const int sign = mpz_sgn(a);
  if (sign == 0) return T(0);
  big abs_a;
  mpz_abs(abs_a, a);
  long e = floor_log2_ratio(abs_a, b) + k;
  if (e < F::emin) e = F::emin;  // subnormal: the grid stops at 2^(emin - p + 1)
  if (e > F::emax) return sign < 0 ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  const long ulp = e - F::p + 1;
  big num, den, q, r;
  scale_pair(num, den, abs_a, b, k - ulp);  // value / 2^ulp = num / den
  mpz_tdiv_qr(q, r, num, den);
  mpz_mul_2exp(r, r, 1);
  const int c = mpz_cmp(r, den);
  if (c > 0 || (c == 0 && mpz_odd_p(q.v))) mpz_add_ui(q, q, 1);
  return make<T>(mpz_get_ui(q), ulp, sign < 0);
}

// sqrt((a / b) * 2^k) rounded to nearest, ties to even; a >= 0, b > 0, k even.
template <class T>
T round_sqrt_ratio(mpz_srcptr a, mpz_srcptr b, long k) {
  using F = format<T>;
  if (mpz_sgn(a) == 0) return T(0);
  const long l = floor_log2_ratio(a, b) + k;
  long e = l >= 0 ? l / 2 : -((-l + 1) / 2);  // floor(l / 2) = floor(log2(sqrt))
  if (e < F::emin) e = F::emin;
  if (e > F::emax) return std::numeric_limits<T>::infinity();
  const long ulp = e - F::p + 1;
  // 4 y with y = value / 2^(2 ulp): floor(sqrt(4y)) = floor(2 sqrt(y)) keeps the half bit.
  big num, den, f, frem, root, rrem;
  scale_pair(num, den, a, b, k - 2 * ulp + 2);
  mpz_tdiv_qr(f, frem, num, den);
  mpz_sqrtrem(root, rrem, f);
  const bool half = mpz_odd_p(root.v);
  mpz_fdiv_q_2exp(root, root, 1);
  if (half) {
    // sqrt(y) >= q + 1/2; equal only when 4y is the perfect square (2q + 1)^2: then ties to even.
    const bool tie = mpz_sgn(rrem.v) == 0 && mpz_sgn(frem.v) == 0;
    if (!tie || mpz_odd_p(root.v)) mpz_add_ui(root, root, 1);
  }
  return make<T>(mpz_get_ui(root), ulp, false);
}

template <class T>
T nan() {
  return std::numeric_limits<T>::quiet_NaN();
}
template <class T>
T inf(bool negative) {
  return negative ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
}

// IEEE's answer for a sum with NaN or infinities, or false when the sum is finite.
template <class T>
bool special_sum(const kernels::exact_accumulator& s, T& out) {
  if (s.nan_count != 0 || (s.pos_inf_count != 0 && s.neg_inf_count != 0)) {
    out = nan<T>();
    return true;
  }
  if (s.pos_inf_count != 0 || s.neg_inf_count != 0) {
    out = inf<T>(s.neg_inf_count != 0);
    return true;
  }
  return false;
}

bool has_special(const kernels::exact_accumulator& s, const kernels::exact_square_accumulator& q) {
  return s.nan_count + s.pos_inf_count + s.neg_inf_count + q.nan_count + q.pos_inf_count + q.neg_inf_count != 0;
}

// var's exact value as (num / n^2) * 2^-2148: num = n * N2 - N1^2 >= 0.
void variance_parts(mpz_ptr num, mpz_ptr den, const kernels::exact_accumulator& s,
                    const kernels::exact_square_accumulator& q, std::uint64_t n) {
  static_assert(2 * kernels::exact_accumulator::offset == kernels::exact_square_accumulator::offset);
  big n1, n2, nn;
  to_mpz(n1, s);
  to_mpz(n2, q);
  set_u64(nn, n);
  mpz_mul(num, n2, nn);
  mpz_submul(num, n1, n1);
  mpz_mul(den, nn, nn);
}

}  // namespace

template <class T>
T exact_sum(const kernels::exact_accumulator& s) {
  T out;
  if (special_sum(s, out)) return out;
  big a, one;
  to_mpz(a, s);
  mpz_set_ui(one, 1);
  return round_ratio<T>(a, one, -long(kernels::exact_accumulator::offset));
}

template <class T>
T exact_mean(const kernels::exact_accumulator& s, std::uint64_t n) {
  if (n == 0) return nan<T>();
  T out;
  if (special_sum(s, out)) return out;
  big a, d;
  to_mpz(a, s);
  set_u64(d, n);
  return round_ratio<T>(a, d, -long(kernels::exact_accumulator::offset));
}

template <class T>
T exact_sumsq(const kernels::exact_square_accumulator& q) {
  if (q.nan_count != 0) return nan<T>();
  if (q.pos_inf_count + q.neg_inf_count != 0) return inf<T>(false);
  big a, one;
  to_mpz(a, q);
  mpz_set_ui(one, 1);
  return round_ratio<T>(a, one, -long(kernels::exact_square_accumulator::offset));
}

template <class T>
T exact_var(const kernels::exact_accumulator& s, const kernels::exact_square_accumulator& q, std::uint64_t n) {
  if (n == 0 || has_special(s, q)) return nan<T>();
  big num, den;
  variance_parts(num, den, s, q, n);
  return round_ratio<T>(num, den, -long(kernels::exact_square_accumulator::offset));
}

template <class T>
T exact_std(const kernels::exact_accumulator& s, const kernels::exact_square_accumulator& q, std::uint64_t n) {
  if (n == 0 || has_special(s, q)) return nan<T>();
  big num, den;
  variance_parts(num, den, s, q, n);
  return round_sqrt_ratio<T>(num, den, -long(kernels::exact_square_accumulator::offset));
}

template float exact_sum<float>(const kernels::exact_accumulator&);
template double exact_sum<double>(const kernels::exact_accumulator&);
template float exact_mean<float>(const kernels::exact_accumulator&, std::uint64_t);
template double exact_mean<double>(const kernels::exact_accumulator&, std::uint64_t);
template float exact_sumsq<float>(const kernels::exact_square_accumulator&);
template double exact_sumsq<double>(const kernels::exact_square_accumulator&);
template float exact_var<float>(const kernels::exact_accumulator&, const kernels::exact_square_accumulator&,
                                std::uint64_t);
template double exact_var<double>(const kernels::exact_accumulator&, const kernels::exact_square_accumulator&,
                                  std::uint64_t);
template float exact_std<float>(const kernels::exact_accumulator&, const kernels::exact_square_accumulator&,
                                std::uint64_t);
template double exact_std<double>(const kernels::exact_accumulator&, const kernels::exact_square_accumulator&,
                                  std::uint64_t);

}  // namespace tandem
