#include "montecarlo_lanes.hpp"

#include <cstring>

namespace tandem::detail {

// Built for AVX-512, AVX2 and the baseline, chosen at load time for the running CPU. The wider
// instructions change how many lanes one instruction covers, never an operation's rounding:
// contraction stays off (-ffp-contract=off), so the result is the same bits on every version.
// (GCC on x86-64 only; elsewhere the function is built once, for the compiler's target.)
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define TANDEM_MC_LANES_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TANDEM_MC_LANES_CLONES
#endif
TANDEM_MC_LANES_CLONES
void mc_pseudo_lanes(const kernels::mc_params& p, const std::uint64_t* stream, const bool* mirror, double* finals,
                     double* sums_s, double* sums_x) {
  u64_lanes lo, hi;
  f64_lanes sign, x, s, sum_s = {}, sum_x = {};
  for (unsigned l = 0; l < mc_lanes; ++l) {
    lo[l] = stream[l] & 0xffffffffu;
    hi[l] = stream[l] >> 32;
    sign[l] = mirror[l] ? -1.0 : 1.0;
    x[l] = 0;
    s[l] = p.s0;
  }
  const bool gbm = p.model == kernels::mc_model::gbm;
  const bool asian = kernels::mc_is_asian(p.option);
  u32_lanes bits[normal_block_steps];
  double z[normal_block_steps][mc_lanes];
  for (std::uint32_t k0 = 0; k0 < p.steps; k0 += normal_block_steps) {
    const std::uint32_t n = p.steps - k0 < normal_block_steps ? p.steps - k0 : normal_block_steps;
    for (std::uint32_t b = 0; b < n; b += 4) philox_lanes((k0 + b) >> 2, lo, hi, p.seed, bits + b);
    normals_block(bits, n, z);
    for (std::uint32_t j = 0; j < n; ++j) {
      f64_lanes zj;
      std::memcpy(&zj, z[j], sizeof zj);
      // -z is exact, so sign * z is the per-path function's `mirror ? -z : z`; the same order of
      // operations as mc_walk, lane by lane.
      const f64_lanes step = p.drift + p.vol * (sign * zj);
      if (gbm) {
        x = x + step;
        if (asian) {
          // portable_exp for every lane through its branch-free core (on a clamped argument, so
          // the int conversion is defined), then the rare lanes outside the core's range again
          // through portable_exp itself.
          double xs[mc_lanes], e[mc_lanes];
          std::memcpy(xs, &x, sizeof xs);
          unsigned outside = 0;
          for (unsigned l = 0; l < mc_lanes; ++l) {
            const bool in = (xs[l] >= kernels::portable_exp_normal_min) & (xs[l] <= kernels::portable_exp_normal_max);
            e[l] = kernels::portable_exp_normal(in ? xs[l] : 0.0);
            outside |= in ? 0u : 1u;
          }
          if (outside != 0)
            for (unsigned l = 0; l < mc_lanes; ++l)
              if (!(xs[l] >= kernels::portable_exp_normal_min && xs[l] <= kernels::portable_exp_normal_max))
                e[l] = kernels::portable_exp(xs[l]);
          f64_lanes ev;
          std::memcpy(&ev, e, sizeof ev);
          sum_s = sum_s + p.s0 * ev;
          sum_x = sum_x + x;
        }
      } else {
        for (unsigned l = 0; l < mc_lanes; ++l) {
          const double g = 1.0 + step[l];
          s[l] = s[l] * (g > 0.0 ? g : 0.0);
        }
        if (asian) sum_s = sum_s + s;
      }
    }
  }
  for (unsigned l = 0; l < mc_lanes; ++l) {
    finals[l] = gbm ? p.s0 * kernels::portable_exp(x[l]) : s[l];
    sums_s[l] = sum_s[l];
    sums_x[l] = sum_x[l];
  }
}

}  // namespace tandem::detail
