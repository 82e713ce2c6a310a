// exact_add's block kernel on AVX-512: 8 doubles per vector, 4 vectors per level in flight.
#include <immintrin.h>

#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "exact_block_levels.hpp"
#include "tandem/kernels/exact_sum.hpp"

#pragma GCC push_options
#pragma GCC target("avx512f,fma")
// GCC 12's AVX-512 reductions start from _mm512_undefined_*, which it then reports as used
// uninitialized (a false positive of the header, not of this code).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "exact_block_kernel.hpp"

namespace tandem::exact_detail {
namespace {

struct v512 {
  static constexpr std::size_t width = 8;
  using reg = __m512d;
  using ireg = __m512i;
  static reg load(const double* p) { return _mm512_loadu_pd(p); }
  static reg load(const float* p) { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
  static reg set1(double v) { return _mm512_set1_pd(v); }
  static reg zero() { return _mm512_setzero_pd(); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm512_sub_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static reg fms(reg a, reg b, reg c) { return _mm512_fmsub_pd(a, b, c); }
  static reg bor(reg a, reg b) {
    return _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(a), _mm512_castpd_si512(b)));
  }
  // Some lane is nonzero (-0 counts as zero).
  static bool any_magnitude(reg a) {
    return _mm512_test_epi64_mask(_mm512_castpd_si512(a), _mm512_set1_epi64(std::int64_t(abs_mask))) != 0;
  }
  static void store(double* p, reg a) { _mm512_storeu_pd(p, a); }
  static ireg izero() { return _mm512_setzero_si512(); }
  static ireg abs_bits(reg x) {
    return _mm512_and_si512(_mm512_castpd_si512(x), _mm512_set1_epi64(std::int64_t(abs_mask)));
  }
  static ireg imax(ireg a, ireg b) { return _mm512_max_epu64(a, b); }
  static ireg iones() { return _mm512_set1_epi64(-1); }
  // a - 1, unsigned, makes zero the largest: the min then skips zeros.
  static ireg imin_nonzero(ireg m, ireg a) { return _mm512_min_epu64(m, _mm512_sub_epi64(a, _mm512_set1_epi64(1))); }
  static std::uint64_t hmax(ireg a) { return _mm512_reduce_max_epu64(a); }
  static std::uint64_t hmin(ireg a) {  // undoes the - 1; all zeros stay ~0 (no nonzero element)
    const std::uint64_t m = _mm512_reduce_min_epu64(a);
    return m == ~std::uint64_t{0} ? m : m + 1;
  }
  static ireg iadd(ireg a, ireg b) { return _mm512_add_epi64(a, b); }
  static std::int64_t hsum(ireg a) { return _mm512_reduce_add_epi64(a); }
  // A level's s in [2^b, 2^(b+1)) minus S = 1.5 * 2^b, in units of 2^(b-52): mantissa bits - 2^51.
  static ireg level_int(reg s) {
    return _mm512_sub_epi64(_mm512_and_si512(_mm512_castpd_si512(s), _mm512_set1_epi64(std::int64_t(frac_mask))),
                            _mm512_set1_epi64(std::int64_t{1} << 51));
  }
};

}  // namespace

// With the squares, the levels of the sum, p and e take up to 3 x 4 x U registers: U = 2 keeps
// them within AVX-512's 32 (measured 3% faster than U = 4 at 10^8 doubles).
void add_avx512(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  if (q) exact_add_blocks<v512, 2>(x, n, s, q);
  else exact_add_blocks<v512, 4>(x, n, s, q);
}
void add_avx512(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  if (q) exact_add_blocks<v512, 2>(x, n, s, q);
  else exact_add_blocks<v512, 4>(x, n, s, q);
}

}  // namespace tandem::exact_detail

#pragma GCC diagnostic pop
#pragma GCC pop_options
