// exact_add's block kernel on AVX2 + FMA: 4 doubles per vector, 2 vectors per level in flight
// (16 registers: 3 levels x 2 for the sum and 3 x 2 for the squares, and the temporaries).
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
#pragma GCC target("avx2,fma")

#include "exact_block_kernel.hpp"

namespace tandem::exact_detail {
namespace {

struct v256 {
  static constexpr std::size_t width = 4;
  using reg = __m256d;
  using ireg = __m256i;
  static reg load(const double* p) { return _mm256_loadu_pd(p); }
  static reg load(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
  static reg set1(double v) { return _mm256_set1_pd(v); }
  static reg zero() { return _mm256_setzero_pd(); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg sub(reg a, reg b) { return _mm256_sub_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static reg fms(reg a, reg b, reg c) { return _mm256_fmsub_pd(a, b, c); }
  static reg bor(reg a, reg b) { return _mm256_or_pd(a, b); }
  static bool any_magnitude(reg a) {
    return !_mm256_testz_si256(_mm256_castpd_si256(a), _mm256_set1_epi64x(std::int64_t(abs_mask)));
  }
  static void store(double* p, reg a) { _mm256_storeu_pd(p, a); }
  static ireg izero() { return _mm256_setzero_si256(); }
  static ireg abs_bits(reg x) {
    return _mm256_and_si256(_mm256_castpd_si256(x), _mm256_set1_epi64x(std::int64_t(abs_mask)));
  }
  // Both below 2^63, so the signed compare orders them.
  static ireg imax(ireg a, ireg b) { return _mm256_blendv_epi8(b, a, _mm256_cmpgt_epi64(a, b)); }
  static ireg iones() { return _mm256_set1_epi64x(std::int64_t(abs_mask)); }  // the min's start
  // Zeros become 2^63 - 1, above every finite |x|; then the signed min is the unsigned one.
  static ireg imin_nonzero(ireg m, ireg a) {
    const ireg z = _mm256_srli_epi64(_mm256_cmpeq_epi64(a, _mm256_setzero_si256()), 1);
    const ireg b = _mm256_or_si256(a, z);
    return _mm256_blendv_epi8(m, b, _mm256_cmpgt_epi64(m, b));
  }
  static std::uint64_t hmax(ireg a) {
    alignas(32) std::uint64_t t[width];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), a);
    std::uint64_t m = t[0];
    for (std::uint64_t v : t) m = v > m ? v : m;
    return m;
  }
  static std::uint64_t hmin(ireg a) {
    alignas(32) std::uint64_t t[width];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), a);
    std::uint64_t m = t[0];
    for (std::uint64_t v : t) m = v < m ? v : m;
    return m;
  }
  static ireg iadd(ireg a, ireg b) { return _mm256_add_epi64(a, b); }
  static std::int64_t hsum(ireg a) {
    alignas(32) std::int64_t t[width];
    _mm256_store_si256(reinterpret_cast<__m256i*>(t), a);
    return t[0] + t[1] + t[2] + t[3];
  }
  static ireg level_int(reg s) {
    return _mm256_sub_epi64(_mm256_and_si256(_mm256_castpd_si256(s), _mm256_set1_epi64x(std::int64_t(frac_mask))),
                            _mm256_set1_epi64x(std::int64_t{1} << 51));
  }
};

}  // namespace

void add_avx2(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  exact_add_blocks<v256, 2>(x, n, s, q);
}
void add_avx2(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  exact_add_blocks<v256, 2>(x, n, s, q);
}

}  // namespace tandem::exact_detail

#pragma GCC pop_options
