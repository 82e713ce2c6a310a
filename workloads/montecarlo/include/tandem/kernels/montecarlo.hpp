// The per-path code of the Monte Carlo workload: one stock path from counter-based random numbers
// (or a Sobol point through a Brownian bridge), its final price, option payoff and control variate,
// and the statistics of one chunk of paths. The CPU chunk kernel and the CUDA kernels are loops
// around these functions, so the CPU tests check the arithmetic the GPU runs. See workloads/montecarlo/README.md.
#pragma once

#include <cstdint>

#include <Random123/philox.h>

#include "tandem/kernels/hd.hpp"
#include "tandem/kernels/normal.hpp"
#include "tandem/kernels/portable_math.hpp"

namespace tandem::kernels {

enum class mc_model : std::uint32_t { gbm = 0, arithmetic = 1 };
enum class mc_option : std::uint32_t { none = 0, call = 1, put = 2, asian_call = 3, asian_put = 4 };
enum class mc_sampling : std::uint32_t { pseudo = 0, sobol = 1 };

// Samples per chunk. A chunk of 1024 GBM paths of 252 steps is about 0.3 ms of work on one core:
// ten chunks for the published 10,000-path example (balanced on 2 workers), and the per-chunk
// dispatch and fold are well under 1% of it.
inline constexpr std::uint64_t mc_chunk_samples = 1024;
// The Sobol table (workloads/montecarlo/README.md) has this many dimensions; one dimension per time step.
inline constexpr std::uint32_t mc_qmc_max_steps = 1024;

// Everything a path needs, plain data. The derived fields are computed once on the host
// (make_mc_params) so every backend starts from the same bits.
struct mc_params {
  std::uint64_t samples = 0;          // items of the chunk plan: paths, or antithetic pairs
  std::uint64_t paths = 0;            // samples, or 2 * samples with antithetic
  std::uint64_t seed = 0;
  std::uint64_t replicate_points = 0; // sobol: points per randomised replicate (a power of two)
  std::uint32_t steps = 0;
  mc_model model = mc_model::gbm;
  mc_option option = mc_option::none;
  mc_sampling sampling = mc_sampling::pseudo;
  std::uint32_t antithetic = 0;
  std::uint32_t control_variate = 0;
  double s0 = 0, mu = 0, sigma = 0, dt = 0, strike = 0, rate = 0;
  double drift = 0;     // per step: gbm (mu - sigma^2/2) dt, arithmetic mu dt
  double vol = 0;       // per step: sigma sqrt(dt)
  double discount = 0;  // e^{-rate T}, T = steps dt
};

TANDEM_HD_INLINE bool mc_is_asian(mc_option o) { return o == mc_option::asian_call || o == mc_option::asian_put; }
TANDEM_HD_INLINE bool mc_is_put(mc_option o) { return o == mc_option::put || o == mc_option::asian_put; }

// Random numbers: Philox4x32-10 (Random123) keyed by the seed; the counter holds the path and the
// block of four steps, so path p's step k is word k % 4 of philox({k / 4, p_lo, p_hi, stream}, seed).
// stream 0 drives paths, stream 1 the digital shifts of the Sobol replicates.
using mc_philox = r123::Philox4x32;

TANDEM_HD_INLINE mc_philox::ctr_type mc_block(std::uint64_t seed, std::uint64_t index, std::uint32_t block,
                                               std::uint32_t stream) {
  const mc_philox::ctr_type ctr = {{block, static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32), stream}};
  const mc_philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  return mc_philox()(ctr, key);
}

// What one path contributes.
struct mc_path_result {
  double final_price = 0;
  double payoff = 0;   // discounted option payoff (0 without an option)
  double control = 0;  // discounted geometric-Asian payoff (the control variate), when asked for
};

// The payoff and control of a path from its final price and, for Asian options, the sums of S and
// of log(S / S0) over the monitoring dates.
TANDEM_HD_INLINE mc_path_result mc_finish(const mc_params& p, double final_price, double sum_s, double sum_x) {
  mc_path_result r;
  r.final_price = final_price;
  if (p.option == mc_option::none) return r;
  const double n = static_cast<double>(p.steps);
  const double underlying = mc_is_asian(p.option) ? sum_s / n : final_price;
  const double intrinsic = mc_is_put(p.option) ? p.strike - underlying : underlying - p.strike;
  r.payoff = p.discount * (intrinsic > 0.0 ? intrinsic : 0.0);
  if (p.control_variate != 0) {
    const double g = p.s0 * portable_exp(sum_x / n);
    const double gi = mc_is_put(p.option) ? p.strike - g : g - p.strike;
    r.control = p.discount * (gi > 0.0 ? gi : 0.0);
  }
  return r;
}

// One path's state along its walk: GBM: log S advances by drift + vol z (the exact log-normal
// step); arithmetic: S *= max(0, 1 + drift + vol z) (the published example's step). Asian options
// average S over the steps 1..steps.
struct mc_walk_state {
  double x = 0;      // gbm: log(S / S0)
  double s = 0;      // arithmetic: S
  double sum_s = 0;  // asian: sum of S over the monitoring dates
  double sum_x = 0;  // geometric control: sum of log(S / S0)

  TANDEM_HD_INLINE explicit mc_walk_state(const mc_params& p) : s(p.s0) {}
  TANDEM_HD_INLINE void step(const mc_params& p, bool asian, double z) {
    if (p.model == mc_model::gbm) {
      x = x + (p.drift + p.vol * z);
      if (asian) {
        sum_s = sum_s + p.s0 * portable_exp(x);
        sum_x = sum_x + x;
      }
    } else {
      const double g = 1.0 + (p.drift + p.vol * z);
      s = s * (g > 0.0 ? g : 0.0);
      if (asian) sum_s = sum_s + s;
    }
  }
  TANDEM_HD_INLINE mc_path_result finish(const mc_params& p) const {
    return mc_finish(p, p.model == mc_model::gbm ? p.s0 * portable_exp(x) : s, sum_s, sum_x);
  }
};

// Walks one path from its normal increments z(k), k = 0..steps-1, supplied by `next_z`.
template <class NextZ>
TANDEM_HD_INLINE mc_path_result mc_walk(const mc_params& p, NextZ&& next_z) {
  const bool asian = mc_is_asian(p.option);
  mc_walk_state w(p);
  for (std::uint32_t k = 0; k < p.steps; ++k) w.step(p, asian, next_z(k));
  return w.finish(p);
}

// The normal of step k of pseudo-random stream `stream_index`; `block` caches the Philox block of
// four steps (drawn at k % 4 == 0, so steps must come in order).
TANDEM_HD_INLINE double mc_pseudo_normal(const mc_params& p, std::uint64_t stream_index, std::uint32_t k,
                                         mc_philox::ctr_type& block) {
  if ((k & 3u) == 0) block = mc_block(p.seed, stream_index, k >> 2, 0);
  return normal_from_bits(block.v[k & 3u]);
}

// Pseudo-random path `path` (its own counter stream), negated increments when `mirror` (the
// antithetic partner of the same stream).
TANDEM_HD_INLINE mc_path_result mc_pseudo_path(const mc_params& p, std::uint64_t stream_index, bool mirror) {
  mc_philox::ctr_type block{};
  return mc_walk(p, [&](std::uint32_t k) {
    const double z = mc_pseudo_normal(p, stream_index, k, block);
    return mirror ? -z : z;
  });
}

// Both paths of an antithetic pair from one stream of normals: the partner steps with -z (exact),
// so the results are bitwise mc_pseudo_path(p, s, false) and mc_pseudo_path(p, s, true), for half
// the random numbers and normal transforms.
struct mc_path_pair {
  mc_path_result path, mirror;
};
TANDEM_HD_INLINE mc_path_pair mc_pseudo_pair(const mc_params& p, std::uint64_t stream_index) {
  const bool asian = mc_is_asian(p.option);
  mc_walk_state a(p), b(p);
  mc_philox::ctr_type block{};
  for (std::uint32_t k = 0; k < p.steps; ++k) {
    const double z = mc_pseudo_normal(p, stream_index, k, block);
    a.step(p, asian, z);
    b.step(p, asian, -z);
  }
  return {a.finish(p), b.finish(p)};
}

// The Brownian bridge fills W(1..n) level by level (entry i of the tables places W at
// bridge_index[i] from normal i); a path walks W in time order. Rather than keep all n values
// (8 KB per path at 1024 steps, the stack of every GPU thread), the path follows a small program
// built on the host (make_brownian_bridge): the bridge's bisection tree in depth-first order,
// computing each W once, when its two neighbours are known, into the slot of its tree level, and
// emitting it as soon as every earlier time has been emitted. A W's neighbours are its ancestors in
// the tree, and an ancestor's slot is not reused until its subtree is done, so one slot per level
// suffices: O(log n) doubles, 1 + ceil(log2 n) levels (11 at 1024 steps).
// The deepest tree a path can have: 1 + ceil(log2 mc_qmc_max_steps). It sizes every GPU thread's
// slots and shift caches (392 bytes of state at 11 levels; 928 at the earlier bound of 32).
inline constexpr std::uint32_t mc_bridge_max_levels = 11;
static_assert(mc_qmc_max_steps == 1024, "mc_bridge_max_levels is 1 + ceil(log2 mc_qmc_max_steps)");
static_assert(mc_qmc_max_steps <= 65536, "a bridge entry is 16 bits");

// One operation of the bridge program, n of them in depth-first (pre-order) order: W of entry
// `entry` into slot `slot`, from that entry's normal and the neighbours in slots `left` (absent at
// the left end, W(0) = 0) and `right` (absent for the root, W(n)); then 0, 1 or 2 W are emitted in
// time order from slots emit[0], emit[1] (a leaf and the ancestor whose left subtree it closes; a
// node without a left subtree; nothing when the left subtree follows). `refill` loads the Philox
// block of the entry's digital shift into the slot's shift cache first: the entries of one level
// are visited in increasing order, so each block is drawn once per level that uses it.
struct mc_bridge_op {
  std::uint16_t entry = 0;
  std::uint8_t slot = 0, left = 0, right = 0, flags = 0;
  std::uint8_t emit[2] = {0, 0};
};
inline constexpr std::uint8_t mc_bridge_has_left = 1, mc_bridge_has_right = 2, mc_bridge_refill = 4;
inline constexpr unsigned mc_bridge_emits_shift = 4;  // flags >> 4: how many W the op emits
TANDEM_HD_INLINE std::uint32_t mc_bridge_emits(const mc_bridge_op& o) { return o.flags >> mc_bridge_emits_shift; }

// Normals made ahead of the bridge, in program order: a regular loop, apart from the program's
// irregular emits (measured, 65,536 x 252 Sobol call on one core: computing each normal inside
// the program loop made the path 25% slower than the whole-path bridge).
inline constexpr std::uint32_t mc_bridge_batch = 16;

// The tables a Sobol path reads: direction numbers (32 per dimension, dimension d at d * 32), the
// Brownian bridge's construction order and weights (one entry per step), and the bridge program
// (one operation per step, mc_bridge_op).
struct mc_qmc_tables {
  const std::uint32_t* directions = nullptr;
  const std::uint32_t* bridge_index = nullptr;
  const std::uint32_t* left_index = nullptr;
  const std::uint32_t* right_index = nullptr;
  const double* left_weight = nullptr;
  const double* right_weight = nullptr;
  const double* std_dev = nullptr;
  const mc_bridge_op* bridge_program = nullptr;
};

// Step i of the Brownian bridge: places W at bridge_index[i] from the i-th normal and the already
// placed neighbours (W(0) = 0 on the left of the first gap). The whole-path form, kept for the
// bridge's tests; paths use the program (mc_bridge_value).
TANDEM_HD_INLINE void mc_bridge_step(const mc_qmc_tables& t, std::uint32_t i, double z, double* w) {
  const std::uint32_t l = t.bridge_index[i];
  if (i == 0) {
    w[l] = t.std_dev[0] * z;
    return;
  }
  const std::uint32_t j = t.left_index[i];
  const double base = t.right_weight[i] * w[t.right_index[i]];
  w[l] = j != 0 ? (t.left_weight[i] * w[j - 1] + base) + t.std_dev[i] * z : base + t.std_dev[i] * z;
}

// A compute operation's W: the operations of mc_bridge_step, with the neighbours read from slots.
TANDEM_HD_INLINE double mc_bridge_value(const mc_qmc_tables& t, const mc_bridge_op& o, double z, const double* slot) {
  const std::uint32_t i = o.entry;
  if ((o.flags & mc_bridge_has_right) == 0) return t.std_dev[i] * z;
  const double base = t.right_weight[i] * slot[o.right];
  return (o.flags & mc_bridge_has_left) != 0 ? (t.left_weight[i] * slot[o.left] + base) + t.std_dev[i] * z
                                             : base + t.std_dev[i] * z;
}

// Coordinate `dim` of Sobol point `point` (natural order, not Gray code, so any point is computed
// on its own), as 32 bits.
TANDEM_HD_INLINE std::uint32_t sobol_bits(const std::uint32_t* directions, std::uint32_t dim, std::uint64_t point) {
  std::uint32_t x = 0;
  const std::uint32_t* v = directions + static_cast<std::uint64_t>(dim) * 32u;
  for (std::uint32_t b = 0; b < 32 && (point >> b) != 0; ++b)
    if ((point >> b) & 1u) x ^= v[b];
  return x;
}

// Sample `sample` of a Sobol run: point sample % replicate_points of replicate
// sample / replicate_points, digitally shifted by that replicate's random bits (so each replicate
// is an unbiased estimate and their spread is the error bar). The normals, indexed by dimension,
// feed a Brownian bridge on unit-spaced times; its increments are N(0, 1) steps of the same walk.
// The bridge runs as its program: W arrive in time order, each increment W(k+1) - W(k) as the walk
// asks for it; state is one W and one Philox block per tree level and mc_bridge_batch normals.
TANDEM_HD_INLINE mc_path_result mc_sobol_path(const mc_params& p, const mc_qmc_tables& t, std::uint64_t sample) {
  const std::uint64_t replicate = sample / p.replicate_points;
  const std::uint64_t point = sample % p.replicate_points;
  const std::uint32_t n = p.steps;
  double slot[mc_bridge_max_levels];
  mc_philox::ctr_type shift[mc_bridge_max_levels];
  double z[mc_bridge_batch];
  const mc_bridge_op* program = t.bridge_program;
  std::uint32_t c = 0;                  // the next operation
  std::uint32_t emitted = 0, emits = 0;  // of the last operation's emits
  std::uint8_t emit_slot[2] = {0, 0};
  double previous = 0;                  // W(k), the last W emitted
  return mc_walk(p, [&](std::uint32_t k) {
    while (emitted == emits) {
      if (c % mc_bridge_batch == 0) {
        const std::uint32_t count = n - c < mc_bridge_batch ? n - c : mc_bridge_batch;
        for (std::uint32_t b = 0; b < count; ++b) {
          const mc_bridge_op& o = program[c + b];
          const std::uint32_t i = o.entry;
          if ((o.flags & mc_bridge_refill) != 0) shift[o.slot] = mc_block(p.seed, replicate, i >> 2, 1);
          z[b] = normal_from_bits(sobol_bits(t.directions, i, point) ^ shift[o.slot].v[i & 3u]);
        }
      }
      const mc_bridge_op& o = program[c];
      slot[o.slot] = mc_bridge_value(t, o, z[c % mc_bridge_batch], slot);
      emit_slot[0] = o.emit[0];
      emit_slot[1] = o.emit[1];
      emits = mc_bridge_emits(o);
      emitted = 0;
      ++c;
    }
    const double w = slot[emit_slot[emitted++]];
    const double dw = k == 0 ? w : w - previous;
    previous = w;
    return dw;
  });
}

// Running statistics: count, mean and sum of squared deviations (M2), and for two variables
// (payoff y, control x) the co-moment. Within a chunk they come from two passes over the values
// (mean first, then deviations); chunks merge with Chan et al.'s pairwise formulas, in chunk order.
struct mc_moments {
  double n = 0, mean = 0, m2 = 0;
};
struct mc_comoments {
  double n = 0, mean_y = 0, mean_x = 0, m2_y = 0, m2_x = 0, c_xy = 0;
};

TANDEM_HD_INLINE mc_moments merge(const mc_moments& a, const mc_moments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  const double n = a.n + b.n;
  const double d = b.mean - a.mean;
  return {n, a.mean + d * (b.n / n), (a.m2 + b.m2) + d * d * (a.n * b.n / n)};
}
TANDEM_HD_INLINE mc_comoments merge(const mc_comoments& a, const mc_comoments& b) {
  if (a.n == 0) return b;
  if (b.n == 0) return a;
  const double n = a.n + b.n;
  const double f = a.n * b.n / n;
  const double dy = b.mean_y - a.mean_y;
  const double dx = b.mean_x - a.mean_x;
  return {n,
          a.mean_y + dy * (b.n / n),
          a.mean_x + dx * (b.n / n),
          (a.m2_y + b.m2_y) + dy * dy * f,
          (a.m2_x + b.m2_x) + dx * dx * f,
          (a.c_xy + b.c_xy) + dx * dy * f};
}

// The fixed-size statistics of one chunk.
struct mc_chunk_stats {
  mc_moments final_path;     // final price over paths: mean, std
  mc_moments final_sample;   // final price averaged over a sample's paths: the mean's error bar
  mc_moments payoff_path;    // payoff over paths: what plain sampling's error bar would be
  mc_comoments payoff_sample;  // (payoff, control) averaged over a sample's paths: price, control variate
};

// Value of sample s from per-path values v (paths of the chunk, in order): the mean of its paths.
TANDEM_HD_INLINE double mc_sample_value(const double* v, std::uint64_t s, std::uint32_t per_sample) {
  return per_sample == 2 ? (v[2 * s] + v[2 * s + 1]) * 0.5 : v[s];
}

TANDEM_HD_INLINE mc_moments mc_moments_of(const double* v, std::uint64_t count, std::uint32_t per_sample) {
  mc_moments m;
  if (count == 0) return m;
  double sum = 0;
  for (std::uint64_t i = 0; i < count; ++i) sum = sum + mc_sample_value(v, i, per_sample);
  m.n = static_cast<double>(count);
  m.mean = sum / m.n;
  for (std::uint64_t i = 0; i < count; ++i) {
    const double d = mc_sample_value(v, i, per_sample) - m.mean;
    m.m2 = m.m2 + d * d;
  }
  return m;
}

// ---- the chunk fold: one summation order for the CPU and a warp ----------------------------------
//
// Every sum of a chunk's fold (each series' sum, then its squared deviations from the mean, and the
// payoff/control cross moment) is computed in one fixed order, so that a GPU can read the values
// coalesced and still give the CPU's bits:
//   1. 32 lanes: lane l sums elements l, l + 32, l + 64, ... of the series, in that order, starting
//      from 0 (a lane past the series' end sums nothing and holds 0);
//   2. the 32 lane sums combine by a fixed pairwise tree, v[i] = v[i] + v[i + 16] for i < 16, then
//      + 8, + 4, + 2, + 1: the order of a warp's __shfl_down_sync reduction, v[0] the total.
// On a GPU, lane l of a warp is one thread; neighbouring lanes read neighbouring values. On the CPU
// the lane functions run in a loop. Both call the functions below, so both give the same bits.
// Counts (n) are exact integers; the mean of a series is its total over n, as in mc_moments_of.
inline constexpr std::uint32_t mc_fold_lanes = 32;

// One lane's sums, per series: the final price per path and per sample (antithetic pair mean), the
// payoff per path and per sample, the control per sample, and (second pass only) the cross moment
// sum of (control - mean) (payoff - mean) per sample. The first pass sums values, the second the
// squared deviations from the chunk means. Series a chunk does not have stay 0.
struct mc_fold_lane {
  double final_path = 0, final_sample = 0, payoff_path = 0, payoff_sample = 0, control_sample = 0, cross = 0;
};

// The chunk means the second pass subtracts.
struct mc_fold_means {
  double final_path = 0, final_sample = 0, payoff_path = 0, payoff_sample = 0, control_sample = 0;
};

// The series a chunk has: sample series differ from path series only with antithetic pairs;
// payoffs without an option are absent, controls without the control variate.
struct mc_fold_shape {
  std::uint32_t per = 1;       // paths per sample
  std::uint64_t samples = 0;   // samples of the chunk
  bool payoff = false, control = false;
  TANDEM_HD_INLINE std::uint64_t paths() const { return samples * per; }
};

TANDEM_HD_INLINE mc_fold_shape mc_fold_shape_of(const mc_params& p, std::uint64_t samples, const double* payoffs,
                                                const double* controls) {
  mc_fold_shape s;
  s.per = p.antithetic != 0 ? 2u : 1u;
  s.samples = samples;
  s.payoff = payoffs != nullptr && samples != 0;
  s.control = s.payoff && controls != nullptr;
  return s;
}

// First pass, lane `lane` (0..31): the lane's sum of each series (step 1 above).
TANDEM_HD_INLINE mc_fold_lane mc_fold_lane_sums(const mc_fold_shape& s, const double* finals, const double* payoffs,
                                                const double* controls, std::uint32_t lane) {
  mc_fold_lane r;
  const std::uint64_t paths = s.paths();
  for (std::uint64_t i = lane; i < paths; i += mc_fold_lanes) r.final_path = r.final_path + finals[i];
  if (s.payoff)
    for (std::uint64_t i = lane; i < paths; i += mc_fold_lanes) r.payoff_path = r.payoff_path + payoffs[i];
  if (s.per == 2) {
    for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes)
      r.final_sample = r.final_sample + mc_sample_value(finals, i, 2);
    if (s.payoff)
      for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes)
        r.payoff_sample = r.payoff_sample + mc_sample_value(payoffs, i, 2);
  }
  if (s.control)
    for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes)
      r.control_sample = r.control_sample + mc_sample_value(controls, i, s.per);
  return r;
}

// The pairwise tree over 32 lane values (step 2 above), in place; returns the total, v[0].
TANDEM_HD_INLINE double mc_fold_tree(double* v) {
  for (std::uint32_t half = mc_fold_lanes / 2; half != 0; half /= 2)
    for (std::uint32_t i = 0; i < half; ++i) v[i] = v[i] + v[i + half];
  return v[0];
}

// The totals of 32 lanes, every field by the tree of step 2.
TANDEM_HD_INLINE mc_fold_lane mc_fold_combine(const mc_fold_lane* lanes) {
  mc_fold_lane t;
  double v[mc_fold_lanes];
  auto field = [&](double mc_fold_lane::*f) {
    for (std::uint32_t l = 0; l < mc_fold_lanes; ++l) v[l] = lanes[l].*f;
    t.*f = mc_fold_tree(v);
  };
  field(&mc_fold_lane::final_path);
  field(&mc_fold_lane::final_sample);
  field(&mc_fold_lane::payoff_path);
  field(&mc_fold_lane::payoff_sample);
  field(&mc_fold_lane::control_sample);
  field(&mc_fold_lane::cross);
  return t;
}

// The chunk means from the first pass's totals. Without antithetic pairs a sample is a path, and
// the sample series are the path series.
TANDEM_HD_INLINE mc_fold_means mc_fold_means_of(const mc_fold_shape& s, const mc_fold_lane& sums) {
  mc_fold_means m;
  if (s.samples == 0) return m;
  const double np = static_cast<double>(s.paths()), ns = static_cast<double>(s.samples);
  m.final_path = sums.final_path / np;
  m.final_sample = s.per == 2 ? sums.final_sample / ns : m.final_path;
  if (s.payoff) {
    m.payoff_path = sums.payoff_path / np;
    m.payoff_sample = s.per == 2 ? sums.payoff_sample / ns : m.payoff_path;
  }
  if (s.control) m.control_sample = sums.control_sample / ns;
  return m;
}

// Second pass, lane `lane`: the lane's sums of squared deviations from the chunk means, and of the
// cross products (control - mean) (payoff - mean) per sample, in the order of step 1.
TANDEM_HD_INLINE mc_fold_lane mc_fold_lane_squares(const mc_fold_shape& s, const double* finals, const double* payoffs,
                                                   const double* controls, const mc_fold_means& m,
                                                   std::uint32_t lane) {
  mc_fold_lane r;
  const std::uint64_t paths = s.paths();
  for (std::uint64_t i = lane; i < paths; i += mc_fold_lanes) {
    const double d = finals[i] - m.final_path;
    r.final_path = r.final_path + d * d;
  }
  if (s.payoff)
    for (std::uint64_t i = lane; i < paths; i += mc_fold_lanes) {
      const double d = payoffs[i] - m.payoff_path;
      r.payoff_path = r.payoff_path + d * d;
    }
  if (s.per == 2) {
    for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes) {
      const double d = mc_sample_value(finals, i, 2) - m.final_sample;
      r.final_sample = r.final_sample + d * d;
    }
    if (s.payoff)
      for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes) {
        const double d = mc_sample_value(payoffs, i, 2) - m.payoff_sample;
        r.payoff_sample = r.payoff_sample + d * d;
      }
  }
  if (s.control)
    for (std::uint64_t i = lane; i < s.samples; i += mc_fold_lanes) {
      const double d = mc_sample_value(controls, i, s.per) - m.control_sample;
      r.control_sample = r.control_sample + d * d;
      r.cross = r.cross + d * (mc_sample_value(payoffs, i, s.per) - m.payoff_sample);
    }
  return r;
}

// The chunk statistics from the means and the second pass's totals.
TANDEM_HD_INLINE mc_chunk_stats mc_fold_stats(const mc_fold_shape& s, const mc_fold_means& m, const mc_fold_lane& sq) {
  mc_chunk_stats r;
  if (s.samples == 0) return r;
  const double np = static_cast<double>(s.paths()), ns = static_cast<double>(s.samples);
  r.final_path = {np, m.final_path, sq.final_path};
  r.final_sample = s.per == 2 ? mc_moments{ns, m.final_sample, sq.final_sample} : r.final_path;
  if (!s.payoff) return r;
  r.payoff_path = {np, m.payoff_path, sq.payoff_path};
  r.payoff_sample.n = ns;
  r.payoff_sample.mean_y = m.payoff_sample;
  r.payoff_sample.m2_y = s.per == 2 ? sq.payoff_sample : sq.payoff_path;
  if (!s.control) return r;
  r.payoff_sample.mean_x = m.control_sample;
  r.payoff_sample.m2_x = sq.control_sample;
  r.payoff_sample.c_xy = sq.cross;
  return r;
}

// Statistics of one chunk of `samples` samples, from its per-path final prices, payoffs and
// controls (paths in order; payoffs and controls may be null without an option / control): the
// two passes above, their 32 lanes run one after another.
TANDEM_HD_INLINE mc_chunk_stats mc_fold_chunk(const mc_params& p, std::uint64_t samples, const double* finals,
                                              const double* payoffs, const double* controls) {
  const mc_fold_shape s = mc_fold_shape_of(p, samples, payoffs, controls);
  mc_fold_lane lanes[mc_fold_lanes];
  for (std::uint32_t l = 0; l < mc_fold_lanes; ++l) lanes[l] = mc_fold_lane_sums(s, finals, payoffs, controls, l);
  const mc_fold_means m = mc_fold_means_of(s, mc_fold_combine(lanes));
  for (std::uint32_t l = 0; l < mc_fold_lanes; ++l) lanes[l] = mc_fold_lane_squares(s, finals, payoffs, controls, m, l);
  return mc_fold_stats(s, m, mc_fold_combine(lanes));
}

}  // namespace tandem::kernels
