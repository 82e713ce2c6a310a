// The CPU's fast path for pseudo-random paths (GBM or arithmetic, any option): mc_lanes paths
// advance together, step by step, in arrays the compiler turns into SIMD instructions. Each lane performs exactly the operations of kernels::mc_pseudo_path, in the same
// order, so the results are bitwise those of the per-path function the GPU runs
// (test_montecarlo.cpp checks it). Philox4x32-10 is written out in structure-of-arrays form
// for the same reason; the tests compare every lane's outputs with the per-path function's.
#pragma once

#include <cstdint>

#include "tandem/kernels/montecarlo.hpp"

namespace tandem::detail {

// Paths advanced together. CPU time for 10,000 x 252 GBM paths on one AMD EPYC (Zen 5) core,
// AVX-512 clone: 8 lanes 7.4 ms, 16 lanes 5.0 ms, 32 lanes 4.3 ms (more independent work per
// instruction stream hides the latency of the polynomial chains and the division).
inline constexpr unsigned mc_lanes = 32;

// GCC/Clang vector types: mc_lanes 32-bit words, and the same lanes widened to 64 bits for the
// 32x32 -> 64-bit products. Written as vectors because the compiler would otherwise unroll the
// small lane loops into scalar code before it tried to vectorise them.
typedef std::uint32_t u32_lanes __attribute__((vector_size(4 * mc_lanes)));
typedef std::uint64_t u64_lanes __attribute__((vector_size(8 * mc_lanes)));

typedef double f64_lanes __attribute__((vector_size(8 * mc_lanes)));

// Philox4x32-10 of counters {block, lo[i], hi[i], 0} under one key, for mc_lanes counters at once.
// The four 32-bit words live in 64-bit lanes (upper halves zero) so the 32x32 -> 64-bit products
// need no widening or narrowing shuffles: measured 1.5x faster than 32-bit lanes on Zen 5.
inline void philox_lanes(std::uint32_t block, const u64_lanes& lo, const u64_lanes& hi, std::uint64_t seed,
                         u32_lanes* out) {
  constexpr std::uint64_t low32 = 0xffffffffu;
  u64_lanes c0 = std::uint64_t{block} + u64_lanes{}, c1 = lo, c2 = hi, c3 = u64_lanes{};
  std::uint64_t k0 = seed & low32, k1 = seed >> 32;
  for (unsigned round = 0; round < 10; ++round) {
    const u64_lanes p0 = (c0 & low32) * std::uint64_t{0xD2511F53u};
    const u64_lanes p1 = (c2 & low32) * std::uint64_t{0xCD9E8D57u};
    c0 = (p1 >> 32) ^ c1 ^ k0;
    c2 = (p0 >> 32) ^ c3 ^ k1;
    c1 = p1 & low32;
    c3 = p0 & low32;
    k0 = (k0 + 0x9E3779B9u) & low32;
    k1 = (k1 + 0xBB67AE85u) & low32;
  }
  out[0] = __builtin_convertvector(c0, u32_lanes);
  out[1] = __builtin_convertvector(c1, u32_lanes);
  out[2] = __builtin_convertvector(c2, u32_lanes);
  out[3] = __builtin_convertvector(c3, u32_lanes);
}

// The 32-bit inputs whose uniform lies in Acklam's tails: bits < lower_end gives u < p_low, bits >
// upper_start gives u > 1 - p_low (found by bisection on the exact, increasing uniform_open).
struct acklam_tail_bits {
  std::uint32_t lower_end;
  std::uint32_t upper_start;
};
constexpr acklam_tail_bits make_acklam_tail_bits() {
  std::uint64_t lo = 0, hi = std::uint64_t{1} << 32;  // first b with uniform_open(b) >= p_low
  while (lo < hi) {
    const std::uint64_t mid = (lo + hi) / 2;
    if (kernels::uniform_open(static_cast<std::uint32_t>(mid)) < kernels::acklam_p_low) lo = mid + 1;
    else hi = mid;
  }
  const std::uint64_t lower_end = lo;
  lo = 0;
  hi = std::uint64_t{1} << 32;  // first b with uniform_open(b) > 1 - p_low
  while (lo < hi) {
    const std::uint64_t mid = (lo + hi) / 2;
    if (kernels::uniform_open(static_cast<std::uint32_t>(mid)) > 1.0 - kernels::acklam_p_low) hi = mid;
    else lo = mid + 1;
  }
  return {static_cast<std::uint32_t>(lower_end), static_cast<std::uint32_t>(lo - 1)};
}
inline constexpr acklam_tail_bits tail_bits = make_acklam_tail_bits();

inline bool in_acklam_tail(std::uint32_t bits) {
  // uniform_open is exact and increasing, so u < p_low and u > 1 - p_low are these integer tests.
  return (bits < tail_bits.lower_end) | (bits > tail_bits.upper_start);
}

// Steps whose normals are made together: 16 steps of 32 lanes hold about 25 tail draws, gathered
// into SIMD batches, which costs a fraction of evaluating the tail formula for every lane of
// every step that has a tail draw (that made the tail 40% of the time). 8 steps: 5.2 ms, 16 and
// 32: 4.3-4.5 ms for the case above.
inline constexpr unsigned normal_block_steps = 16;

// inverse_normal for `count` steps of mc_lanes uniforms each (bits[step][lane]) into z[step][lane]:
// the central rational function everywhere (SIMD), then the draws that fall in a tail, gathered
// and evaluated mc_lanes at a time. The same comparisons pick each draw's formula as in
// inverse_normal, and both formulas are the same operations, so every value is bitwise the same.
inline void normals_block(const u32_lanes* bits, unsigned count, double (*z)[mc_lanes]) {
  static_assert(mc_lanes <= 32, "the tail masks are 32-bit");
  unsigned row_tails[normal_block_steps];  // bit l: lane l's draw is in a tail
  for (unsigned k = 0; k < count; ++k) {
    unsigned mask = 0;
    for (unsigned l = 0; l < mc_lanes; ++l) {
      z[k][l] = kernels::acklam_central(kernels::uniform_open(bits[k][l]));
      mask |= (in_acklam_tail(bits[k][l]) ? 1u : 0u) << l;
    }
    row_tails[k] = mask;
  }
  unsigned where[normal_block_steps * mc_lanes];
  unsigned tails = 0;
  for (unsigned k = 0; k < count; ++k)
    for (unsigned mask = row_tails[k]; mask != 0; mask &= mask - 1)
      where[tails++] = k * mc_lanes + static_cast<unsigned>(__builtin_ctz(mask));
  for (unsigned t0 = 0; t0 < tails; t0 += mc_lanes) {
    double u[mc_lanes], v[mc_lanes];
    for (unsigned i = 0; i < mc_lanes; ++i) {
      const unsigned w = where[t0 + i < tails ? t0 + i : t0];
      u[i] = kernels::uniform_open(bits[w / mc_lanes][w % mc_lanes]);
    }
    for (unsigned i = 0; i < mc_lanes; ++i) {
      // 1 - u is exact here, and inverse_normal's upper tail is -acklam_tail(1 - u).
      const bool lower = u[i] < 0.5;
      const double t = kernels::acklam_tail(lower ? u[i] : 1.0 - u[i]);
      v[i] = lower ? t : -t;
    }
    for (unsigned i = 0; i < mc_lanes && t0 + i < tails; ++i) {
      const unsigned w = where[t0 + i];
      z[w / mc_lanes][w % mc_lanes] = v[i];
    }
  }
}

// Paths of streams stream[l] (mirrored when mirror[l]), pseudo-random sampling: writes each lane's
// final price and, for Asian options, the sums of S and of log(S / S0) over the monitoring dates
// (zero otherwise), for kernels::mc_finish.
void mc_pseudo_lanes(const kernels::mc_params& p, const std::uint64_t* stream, const bool* mirror, double* finals,
                     double* sums_s, double* sums_x);

}  // namespace tandem::detail
