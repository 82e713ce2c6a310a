// The gemm workload's per-tile arithmetic that host and device share: the tile geometry of C, the
// generated inputs, the conversion of float inputs to the GPU's 16-bit formats, and the error
// bound --check holds a result to.
#pragma once

#include <cstdint>
#include <cstring>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

// C (m x n, row-major) cut into tiles of `tile` x `tile` (the last row and column of tiles may be
// short), numbered row by row: tile t is row block t / col_tiles, column block t % col_tiles.
// Neighbouring tiles share their rows of A, so workers that take consecutive tiles share caches.
struct gemm_tiling {
  std::uint64_t m = 0, n = 0, tile = 1;
  std::uint64_t row_tiles = 0, col_tiles = 0;
};

TANDEM_HD_INLINE gemm_tiling make_gemm_tiling(std::uint64_t m, std::uint64_t n, std::uint64_t tile) {
  return {m, n, tile, (m + tile - 1) / tile, (n + tile - 1) / tile};
}

struct gemm_tile {
  std::uint64_t row0 = 0, rows = 0, col0 = 0, cols = 0;
};

TANDEM_HD_INLINE gemm_tile tile_of(const gemm_tiling& g, std::uint64_t t) {
  const std::uint64_t rb = t / g.col_tiles, cb = t % g.col_tiles;
  const std::uint64_t r0 = rb * g.tile, c0 = cb * g.tile;
  return {r0, g.m - r0 < g.tile ? g.m - r0 : g.tile, c0, g.n - c0 < g.tile ? g.n - c0 : g.tile};
}

// Generated inputs: element i of matrix `which` (0: A, 1: B, 2: the initial C) is a hash of
// (seed, which, i), uniform in [-1, 1) and exact in the element type (24 random bits for float, 53
// for double), so any worker or device makes the same value for the same index.
TANDEM_HD_INLINE std::uint64_t gemm_hash(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
TANDEM_HD_INLINE std::uint64_t gemm_key(std::uint64_t seed, std::uint32_t which) {
  return gemm_hash(seed ^ (0x67656d6d00000000ull + which));  // "gemm" + which
}
TANDEM_HD_INLINE double gemm_value_f64(std::uint64_t key, std::uint64_t i) {
  return double(std::int64_t(gemm_hash(key ^ gemm_hash(i)) >> 11) - (std::int64_t{1} << 52)) * 0x1p-52;
}
TANDEM_HD_INLINE float gemm_value_f32(std::uint64_t key, std::uint64_t i) {
  return float(std::int64_t(gemm_hash(key ^ gemm_hash(i)) >> 40) - (std::int64_t{1} << 23)) * 0x1p-23f;
}

// float -> bfloat16 / half bits, rounded to nearest even (what cuBLAS is given for --dtype bf16 and
// f16: the host converts the float inputs once, before they are uploaded). Finite inputs in
// [-1, 1) only: the generated ones, or checked .npy values (no NaN, infinity or half overflow).
TANDEM_HD_INLINE std::uint16_t to_bf16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return std::uint16_t(u >> 16);
}
TANDEM_HD_INLINE float from_bf16_bits(std::uint16_t h) {
  const std::uint32_t u = std::uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}
TANDEM_HD_INLINE std::uint16_t to_f16_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  const std::uint32_t sign = (u >> 16) & 0x8000u;
  const std::uint32_t a = u & 0x7fffffffu;
  if (a >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to beyond 65504: infinity
  if (a < 0x38800000u) {                                          // below 2^-14: a subnormal half
    // a's value / 2^-24, rounded to nearest even, by adding in float where 0.5 ulp is exact.
    float v;
    std::memcpy(&v, &a, 4);
    const float scaled = v * 0x1p24f;  // exact: a power-of-two scale
    const std::uint32_t q = std::uint32_t(scaled);
    const float rest = scaled - float(q);
    const std::uint32_t r = q + ((rest > 0.5f || (rest == 0.5f && (q & 1u))) ? 1u : 0u);
    return std::uint16_t(sign | r);
  }
  const std::uint32_t rounded = a + 0xfffu + ((a >> 13) & 1u);
  return std::uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}
TANDEM_HD_INLINE float from_f16_bits(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu, f = h & 0x3ffu;
  float x;
  if (e == 0) {
    x = float(f) * 0x1p-24f;
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    u |= sign;
    std::memcpy(&x, &u, 4);
    return x;
  }
  const std::uint32_t u = sign | (e == 31 ? 0x7f800000u | (f << 13) : ((e + 112) << 23) | (f << 13));
  std::memcpy(&x, &u, 4);
  return x;
}

// The bound --check holds each entry to (Higham, Accuracy and Stability, 3.5): a computed
// C = fl(alpha A B + beta C0) satisfies |C - C_exact| <= gamma_{k+2} (|alpha| |A||B| + |beta| |C0|)
// entrywise, gamma_j = j u / (1 - j u), whatever order the k products are summed in (any blocking,
// FMA or not). The two extra roundings are the scaling by alpha and the addition of beta C0. With
// inputs rounded to a narrower format first (tf32, bf16, f16: unit roundoff u_in), each product
// carries up to 2 u_in + u_in^2 more. The relative error of an entry is measured against
// (|alpha| |A||B| + |beta| |C0|) so that entries that cancel to near zero are held to the same bound.
TANDEM_HD_INLINE double gemm_error_bound(std::uint64_t k, double u, double u_in) {
  const double j = double(k + 2) * u;
  const double gamma = j < 1 ? j / (1 - j) : 1e300;
  return gamma + (2 * u_in + u_in * u_in) * (1 + gamma);
}

}  // namespace tandem::kernels
