// exact_add: the per-block fast path at the SIMD level in use, the scalar level, and the
// element-by-element reference path.
#include <array>
#include <climits>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "exact_block_levels.hpp"
#include "tandem/errors.hpp"
#include "tandem/kernels/exact_sum.hpp"
#include "tandem/workloads/exact_reduce.hpp"

#include "exact_block_kernel.hpp"

namespace tandem {

namespace exact_detail {
namespace {

// One double per "vector": the same algorithm for CPUs without AVX2 and as a third check in the
// tests. std::fma is exact wherever it is computed (hardware or libm).
struct vscalar {
  static constexpr std::size_t width = 1;
  using reg = double;
  using ireg = std::uint64_t;
  static reg load(const double* p) { return *p; }
  static reg load(const float* p) { return double(*p); }
  static reg set1(double v) { return v; }
  static reg zero() { return 0.0; }
  static reg add(reg a, reg b) { return a + b; }
  static reg sub(reg a, reg b) { return a - b; }
  static reg mul(reg a, reg b) { return a * b; }
  static reg fms(reg a, reg b, reg c) { return std::fma(a, b, -c); }
  static reg bor(reg a, reg b) {
    const std::uint64_t u = kernels::exact_bits_of(a) | kernels::exact_bits_of(b);
    double d;
    std::memcpy(&d, &u, sizeof d);
    return d;
  }
  static bool any_magnitude(reg a) { return (kernels::exact_bits_of(a) & abs_mask) != 0; }
  static void store(double* p, reg a) { *p = a; }
  static ireg izero() { return 0; }
  static ireg abs_bits(reg x) { return kernels::exact_bits_of(x) & abs_mask; }
  static ireg imax(ireg a, ireg b) { return a > b ? a : b; }
  static ireg iones() { return ~ireg{0}; }
  static ireg imin_nonzero(ireg m, ireg a) { return a != 0 && a < m ? a : m; }
  static std::uint64_t hmax(ireg a) { return a; }
  static std::uint64_t hmin(ireg a) { return a; }
  static ireg iadd(ireg a, ireg b) { return a + b; }
  static std::int64_t hsum(ireg a) { return std::int64_t(a); }
  static ireg level_int(reg s) { return (kernels::exact_bits_of(s) & frac_mask) - (std::uint64_t{1} << 51); }
};

exact_simd best() noexcept {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return exact_simd::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return exact_simd::avx2;
  return exact_simd::scalar;
}

bool parse_level(const char* s, exact_simd& out) {
  if (std::strcmp(s, "scalar") == 0) out = exact_simd::scalar;
  else if (std::strcmp(s, "avx2") == 0) out = exact_simd::avx2;
  else if (std::strcmp(s, "avx512") == 0) out = exact_simd::avx512;
  else return false;
  return true;
}

exact_simd clamp(exact_simd l) noexcept {
  const exact_simd b = best();
  return l > b ? b : l;
}

exact_simd from_env() noexcept {
  exact_simd l = best();
  if (const char* e = std::getenv("TANDEM_REDUCE_SIMD")) {
    exact_simd asked;
    if (parse_level(e, asked)) l = clamp(asked);
  }
  return l;
}

std::atomic<exact_simd>& current() {
  static std::atomic<exact_simd> l{from_env()};
  return l;
}

template <class In>
void dispatch(const In* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  switch (current().load(std::memory_order_relaxed)) {
    case exact_simd::avx512: return add_avx512(x, n, s, q);
    case exact_simd::avx2: return add_avx2(x, n, s, q);
    case exact_simd::scalar: return add_scalar(x, n, s, q);
  }
}

}  // namespace

void add_scalar(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  exact_add_blocks<vscalar, 4>(x, n, s, q);
}
void add_scalar(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q) {
  exact_add_blocks<vscalar, 4>(x, n, s, q);
}

}  // namespace exact_detail

const char* to_string(exact_simd l) noexcept {
  switch (l) {
    case exact_simd::scalar: return "scalar";
    case exact_simd::avx2: return "AVX2";
    case exact_simd::avx512: return "AVX-512";
  }
  return "?";
}

exact_simd exact_simd_active() noexcept { return exact_detail::current().load(std::memory_order_relaxed); }

exact_simd exact_simd_force(exact_simd l) noexcept {
  const exact_simd c = exact_detail::clamp(l);
  exact_detail::current().store(c, std::memory_order_relaxed);
  return c;
}

void exact_simd_check_environment() {
  if (const char* e = std::getenv("TANDEM_REDUCE_SIMD")) {
    exact_simd l;
    if (*e != '\0' && !exact_detail::parse_level(e, l))
      throw usage_error("TANDEM_REDUCE_SIMD='" + std::string(e) + "': expected scalar, avx2 or avx512");
  }
}

void exact_add(const double* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq) {
  exact_detail::dispatch(x, n, sum, sq);
}
void exact_add(const float* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq) {
  exact_detail::dispatch(x, n, sum, sq);
}

void exact_add_scalar(const double* x, std::size_t n, kernels::exact_accumulator& sum,
                      kernels::exact_square_accumulator* sq) {
  for (std::size_t i = 0; i < n; ++i) sum.add(x[i]);
  if (sq)
    for (std::size_t i = 0; i < n; ++i) sq->add_square(x[i]);
}

}  // namespace tandem
