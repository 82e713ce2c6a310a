#include "montecarlo_lanes.hpp"

namespace tandem::detail {

// Built for AVX-512, AVX2 and the baseline, chosen at load time for the running CPU. The wider
// instructions change how many lanes one instruction covers, never an operation's rounding:
// contraction stays off (-ffp-contract=off), so the result is the same bits on every version.
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
void mc_pseudo_lanes(const kernels::mc_params& p, const std::uint64_t* stream, const bool* mirror, double* finals) {
  u32_lanes lo, hi;
  double sign[mc_lanes], x[mc_lanes], s[mc_lanes];
  for (unsigned l = 0; l < mc_lanes; ++l) {
    lo[l] = static_cast<std::uint32_t>(stream[l]);
    hi[l] = static_cast<std::uint32_t>(stream[l] >> 32);
    sign[l] = mirror[l] ? -1.0 : 1.0;
    x[l] = 0;
    s[l] = p.s0;
  }
  const bool gbm = p.model == kernels::mc_model::gbm;
  u32_lanes bits[normal_block_steps];
  double z[normal_block_steps][mc_lanes];
  for (std::uint32_t k0 = 0; k0 < p.steps; k0 += normal_block_steps) {
    const std::uint32_t n = p.steps - k0 < normal_block_steps ? p.steps - k0 : normal_block_steps;
    for (std::uint32_t b = 0; b < n; b += 4) philox_lanes((k0 + b) >> 2, lo, hi, p.seed, bits + b);
    normals_block(bits, n, z);
    for (std::uint32_t j = 0; j < n; ++j) {
      // -z is exact, so sign * z is the per-path function's `mirror ? -z : z`.
      if (gbm) {
        for (unsigned l = 0; l < mc_lanes; ++l) x[l] = x[l] + (p.drift + p.vol * (sign[l] * z[j][l]));
      } else {
        for (unsigned l = 0; l < mc_lanes; ++l) {
          const double g = 1.0 + (p.drift + p.vol * (sign[l] * z[j][l]));
          s[l] = s[l] * (g > 0.0 ? g : 0.0);
        }
      }
    }
  }
  for (unsigned l = 0; l < mc_lanes; ++l) finals[l] = gbm ? p.s0 * kernels::portable_exp(x[l]) : s[l];
}

}  // namespace tandem::detail
