// `tandem reduce --exact`: exact partial sums of a chunk (sum, and sum of squares when var/std
// need it), and the correctly rounded sum, mean, sumsq, var and std made from them.
//
// A chunk's partial is an exact_moments; partials merge exactly (any order, any grouping), so the
// result depends only on the data: the same bits on every backend, worker count and chunking.
// Results are rounded once, to nearest with ties to even, directly into the data's own type
// (float results never pass through double), subnormals and overflow to infinity included.
//
// Special values, as IEEE arithmetic and NumPy give them:
//   sum, mean: any NaN, or both +inf and -inf -> NaN; else +inf / -inf if present.
//   sumsq: any NaN -> NaN; else +inf if any infinity.
//   var, std: any NaN or infinity -> NaN.
//   empty input: sum 0, sumsq 0, mean NaN, var NaN, std NaN (NumPy: 0.0 and nan with a warning).
//   An exact zero sum is +0 (also for a sum of -0.0 values, where IEEE addition would give -0).
// var is the population variance (ddof = 0, NumPy's default): (n*S2 - S1^2) / n^2, std its
// correctly rounded square root (not the rounded root of the rounded variance).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/kernels/exact_sum.hpp"

namespace tandem {

// A chunk's exact partial. `sumsq` is filled only when the caller asks for it (var, std, sumsq);
// sum alone is the cheap case.
struct exact_moments {
  kernels::exact_accumulator sum;
  kernels::exact_square_accumulator sumsq;
  std::uint64_t n;

  void clear() {
    sum.clear();
    sumsq.clear();
    n = 0;
  }
  void add(const exact_moments& o) {
    sum.add(o.sum);
    sumsq.add(o.sumsq);
    n += o.n;
  }
  void normalise() {
    sum.normalise();
    sumsq.normalise();
  }
};

// Adds x[0..n) to `sum` and, when sq is not null, their squares to *sq; exactly. The fast path
// runs per block of 2048 elements in L1 (see workloads/reduce/README.md, "--exact"); blocks holding NaN,
// infinities or values beyond its range take the element-by-element path. Thread-safe (no state
// but the arguments); uses the SIMD level exact_simd_active() reports.
void exact_add(const double* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq);
void exact_add(const float* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq);
// The same into an exact_moments (squares only when with_squares); also counts n.
template <class T>
void exact_add(const T* x, std::size_t n, exact_moments& m, bool with_squares) {
  exact_add(x, n, m.sum, with_squares ? &m.sumsq : nullptr);
  m.n += n;
}

// The element-by-element reference path (the kernels' fallback; tests compare against it).
void exact_add_scalar(const double* x, std::size_t n, kernels::exact_accumulator& sum,
                      kernels::exact_square_accumulator* sq);

// The vector level of exact_add: the best this CPU has, or a lower one named by
// TANDEM_REDUCE_SIMD=scalar|avx2|avx512 (an unknown value is ignored here; the CLI refuses it with
// exact_simd_check_environment()).
enum class exact_simd : std::uint8_t { scalar, avx2, avx512 };
const char* to_string(exact_simd l) noexcept;
exact_simd exact_simd_active() noexcept;
// For tests and benchmarks: use `l` from now on (clamped to what the CPU has); returns the level
// now in use.
exact_simd exact_simd_force(exact_simd l) noexcept;
// Throws usage_error when TANDEM_REDUCE_SIMD is set to something other than scalar, avx2, avx512.
void exact_simd_check_environment();

// Correctly rounded results. T is float (f32 data) or double (f64 data). The accumulators may be
// in any state (they are copied and normalised inside).
template <class T> T exact_sum(const kernels::exact_accumulator& s);
template <class T> T exact_mean(const kernels::exact_accumulator& s, std::uint64_t n);
template <class T> T exact_sumsq(const kernels::exact_square_accumulator& q);
template <class T> T exact_var(const kernels::exact_accumulator& s, const kernels::exact_square_accumulator& q,
                               std::uint64_t n);
template <class T> T exact_std(const kernels::exact_accumulator& s, const kernels::exact_square_accumulator& q,
                               std::uint64_t n);

}  // namespace tandem
