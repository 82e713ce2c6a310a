// The per-element and per-chunk steps of `tandem reduce`'s default (compensated) mode, as
// host/device code: the CPU's vector lanes and the GPU's threads run this same source.
//
// A chunk is read by 32 lanes: lane l takes elements begin + l, begin + l + 32, ... in order. Each
// lane keeps compensated sums (Ogita-Rump-Oishi "Sum2": Knuth's TwoSum, errors summed apart), the
// chunk's lanes are combined in lane order, and chunks in chunk order. The lane structure is part
// of the answer, not of the machine: AVX-512 holds the 32 lanes in 4 registers, AVX2 in 8, the
// scalar build in 32 variables and the GPU in one warp's 32 threads, and every one of them gives
// the same bits (contraction is off everywhere: -ffp-contract=off, nvcc --fmad=false).
//
// var/std: each chunk's lanes also sum d = x - K and d*d for K the chunk's first element, so a
// large mean does not cancel; chunks are then combined with Chan's update. The data are read once.
#pragma once

#include <cstdint>

#include <Random123/philox.h>

#include "tandem/kernels/hd.hpp"
#include "tandem/kernels/normal.hpp"

// The lane steps are inlined even on the host: the CPU builds them into loops over its 32 lanes
// inside functions compiled for AVX-512 and AVX2, which its compiler vectorises.
#if defined(__CUDACC__)
#define TANDEM_REDUCE_STEP TANDEM_HD_INLINE
#else
#define TANDEM_REDUCE_STEP [[gnu::always_inline]] inline
#endif

namespace tandem::kernels {

// What one pass computes (a bit set): the ops a user asks for map onto these.
enum reduce_pass : std::uint32_t {
  pass_sum = 1,      // sum, mean
  pass_sumsq = 2,    // sum of squares
  pass_var = 4,      // var, std (shifted sums)
  pass_minmax = 8,   // min, max
};

inline constexpr unsigned reduce_lanes = 32;

// An unevaluated sum hi + lo.
struct dd {
  double hi = 0;
  double lo = 0;
};

TANDEM_HD_INLINE constexpr bool is_finite(double x) { return x - x == 0; }  // false for inf and NaN

// a - b, the subtraction the lane steps use where either execution unit may compute it. The
// default is the subtraction itself; the CPU's FMA levels pass one that computes the same
// difference on the multiply-add units (reduce_lanes.cpp), so the steps' additions spread over
// both kinds of unit. Either way the result is a - b rounded once: the same bits.
struct plain_sub {
  TANDEM_HD_INLINE constexpr double operator()(double a, double b) const { return a - b; }
};

// Adds x into (s, c): s + c + x, with the rounding error of s + x (Knuth's branch-free TwoSum)
// added into c.
template <class T, class Sub = plain_sub>
TANDEM_REDUCE_STEP void compensated_add(T& s, T& c, T x, Sub sub = {}) {
  const T t = s + x;
  const T b = sub(t, s);
  c += sub(s, t - b) + sub(x, b);
  s = t;
}

// a + b in double-double. A sum that is not finite stays what plain addition gives (inf, or NaN
// for inf - inf), so special values follow IEEE as they would in a plain sum.
TANDEM_HD_INLINE dd dd_add(dd a, dd b) {
  const double s = a.hi + b.hi;
  if (!is_finite(s)) return {s, 0.0};
  const double bb = s - a.hi;
  double e = (a.hi - (s - bb)) + (b.hi - bb);
  e += a.lo + b.lo;
  const double h = s + e;
  return {h, e - (h - s)};
}

TANDEM_HD_INLINE double dd_value(dd a) { return is_finite(a.hi) ? a.hi + a.lo : a.hi; }

// One lane's running state.
template <class T>
struct lane_state {
  T s, sc;    // sum x
  T q, qc;    // sum x*x
  T t, tc;    // sum (x - K)
  T v, vc;    // sum (x - K)^2
  T mn, mx;   // NaN once any element is NaN
};

template <class T>
TANDEM_REDUCE_STEP void lane_init(lane_state<T>& st, T zero, T inf) {
  st.s = st.sc = st.q = st.qc = st.t = st.tc = st.v = st.vc = zero;
  st.mn = inf;
  st.mx = zero - inf;
}

// One element into one lane's state, given field by field (the CPU keeps each field of its 32
// lanes as one array, which its compiler turns into vector registers). k is the chunk's shift K.
template <std::uint32_t Pass, class Sub = plain_sub>
TANDEM_REDUCE_STEP void lane_step_fields(double& s, double& sc, double& q, double& qc, double& t, double& tc,
                                         double& v, double& vc, double& mn, double& mx, double x, double k,
                                         Sub sub = {}) {
  if constexpr ((Pass & pass_sum) != 0) compensated_add(s, sc, x, sub);
  if constexpr ((Pass & pass_sumsq) != 0) compensated_add(q, qc, x * x, sub);
  if constexpr ((Pass & pass_var) != 0) {
    const double d = sub(x, k);
    compensated_add(t, tc, d, sub);
    compensated_add(v, vc, d * d, sub);
  }
  if constexpr ((Pass & pass_minmax) != 0) {
    // A NaN sticks: it replaces the running min and max, and x < NaN, x > NaN are false.
    mn = (x < mn) ? x : mn;
    mx = (x > mx) ? x : mx;
    mn = (x == x) ? mn : x;
    mx = (x == x) ? mx : x;
  }
}

template <std::uint32_t Pass>
TANDEM_REDUCE_STEP void lane_step(lane_state<double>& st, double x, double k) {
  lane_step_fields<Pass>(st.s, st.sc, st.q, st.qc, st.t, st.tc, st.v, st.vc, st.mn, st.mx, x, k);
}

// A chunk's result, whatever computed it.
struct reduce_partial {
  std::uint64_t n = 0;
  double shift = 0;  // K, the chunk's first element
  dd sum, sumsq, dsum, dsq;
  double mn = 0, mx = 0;
};

// The chunk's partial from its 32 lanes, folded in lane order.
TANDEM_HD_INLINE reduce_partial partial_from_lanes(const lane_state<double>* lanes, std::uint64_t n, double k) {
  reduce_partial p;
  p.n = n;
  p.shift = k;
  p.mn = lanes[0].mn;
  p.mx = lanes[0].mx;
  for (unsigned l = 0; l < reduce_lanes; ++l) {
    const lane_state<double>& s = lanes[l];
    p.sum = dd_add(p.sum, dd{s.s, s.sc});
    p.sumsq = dd_add(p.sumsq, dd{s.q, s.qc});
    p.dsum = dd_add(p.dsum, dd{s.t, s.tc});
    p.dsq = dd_add(p.dsq, dd{s.v, s.vc});
    p.mn = ((s.mn < p.mn) | (s.mn != s.mn)) ? s.mn : p.mn;
    p.mx = ((s.mx > p.mx) | (s.mx != s.mx)) ? s.mx : p.mx;
  }
  return p;
}

// The lanes of elements [0, n) of x (the chunk), in the order every implementation uses. The
// scalar reference for the CPU's vector code and the GPU's warp: the GPU's thread l runs
// `for (i = l; i < n; i += 32) lane_step(lanes[l], x[i], k)`, which is this loop's lane l.
template <std::uint32_t Pass, class In>
TANDEM_HD_INLINE reduce_partial chunk_partial_scalar(const In* x, std::uint64_t n) {
  lane_state<double> lanes[reduce_lanes];
  const double inf = 1.0 / 0.0;
  for (unsigned l = 0; l < reduce_lanes; ++l) lane_init(lanes[l], 0.0, inf);
  const double k = n > 0 ? double(x[0]) : 0.0;
  for (std::uint64_t i = 0; i < n; ++i) lane_step<Pass>(lanes[i % reduce_lanes], double(x[i]), k);
  return partial_from_lanes(lanes, n, k);
}

// The fold of chunks: sums in double-double, var through (n, mean, M2) with Chan's update.
struct reduce_summary {
  std::uint64_t n = 0;
  dd sum, sumsq;
  dd mean;  // in double-double: chunk means differ by little, and their difference must not round
  dd m2;
  double mn = 1.0 / 0.0, mx = -1.0 / 0.0;
};

TANDEM_HD_INLINE reduce_summary summarize(const reduce_partial& p) {
  reduce_summary s;
  s.n = p.n;
  s.sum = p.sum;
  s.sumsq = p.sumsq;
  s.mn = p.mn;
  s.mx = p.mx;
  if (p.n > 0) {
    const double nd = double(p.n);
    const double t = dd_value(p.dsum);
    s.mean = dd_add(dd{p.shift, 0.0}, dd{t / nd, 0.0});
    s.m2 = dd_add(p.dsq, dd{-(t * (t / nd)), 0.0});
  }
  return s;
}

TANDEM_HD_INLINE void merge(reduce_summary& a, const reduce_summary& b) {
  if (b.n == 0) return;
  a.sum = dd_add(a.sum, b.sum);
  a.sumsq = dd_add(a.sumsq, b.sumsq);
  a.mn = ((b.mn < a.mn) | (b.mn != b.mn)) ? b.mn : a.mn;
  a.mx = ((b.mx > a.mx) | (b.mx != b.mx)) ? b.mx : a.mx;
  if (a.n == 0) {
    a.n = b.n;
    a.mean = b.mean;
    a.m2 = b.m2;
    return;
  }
  const double na = double(a.n), nb = double(b.n), n = na + nb;
  const double delta = dd_value(dd_add(b.mean, dd{-a.mean.hi, -a.mean.lo}));
  a.mean = dd_add(a.mean, dd{delta * (nb / n), 0.0});
  a.m2 = dd_add(dd_add(a.m2, b.m2), dd{delta * delta * (na * (nb / n)), 0.0});
  a.n += b.n;
}

// Generated inputs: element i of a seeded array, the same on every device. Philox4x32-10 keyed by
// the seed; call i / 2 gives elements 2j and 2j + 1 from its two 64-bit halves.
enum class reduce_dist : std::uint32_t { uniform, normal };

TANDEM_HD_INLINE double generated_element(std::uint64_t seed, reduce_dist dist, std::uint64_t i) {
  using philox = r123::Philox4x32;
  const std::uint64_t j = i >> 1;
  const philox::ctr_type ctr = {{static_cast<std::uint32_t>(j), static_cast<std::uint32_t>(j >> 32), 0x7265u, 0}};
  const philox::key_type key = {{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)}};
  const philox::ctr_type r = philox()(ctr, key);
  const unsigned h = unsigned(i & 1) * 2;
  if (dist == reduce_dist::normal) return inverse_normal(uniform_open(r.v[h]));
  const std::uint64_t bits = (std::uint64_t(r.v[h]) << 32) | r.v[h + 1];
  return double(bits >> 11) * 1.1102230246251565404236316680908203125e-16;  // [0, 1), 53 bits
}

}  // namespace tandem::kernels
