// The per-block fast path of exact_add, written once over a small vector-traits type V and built
// three times: exact_block.cpp (scalar), exact_block_avx2.cpp, exact_block_avx512.cpp, each with
// its own target flags. Everything here has internal linkage (an unnamed namespace), so the
// linker can never hand one level's instructions to another.
//
// Method (error-free extraction, as in ReproBLAS; workloads/reduce/README.md, "--exact" has the proof):
// a level is a running double s that starts at S = 1.5 * 2^b. While s stays in [2^b, 2^(b+1)),
// s + r rounds r to a multiple of 2^(b-52); t = (s + r) - s is that rounded part, exactly, and
// r - t the exact remainder, passed to the next level whose b is 51 - h bits lower. With at most
// 2^h deposits per lane, s cannot leave its binade. A block's plan (b of level 1 from its largest
// |x|, the level count K from its smallest) makes the last level's grid hold every element's
// lowest bit, so that level only adds; when four levels do not reach it, the last remainder is
// tested, and a block with one that is not zero runs again keeping those remainders, whose sum
// is then added the same way (they are exact doubles). So the result is exact for every input. A block's level sums
// are integers times 2^(b-52), read from s's mantissa bits, and go into the exact accumulator
// once per block. Blocks are deposited with the previous block's plan while they are scanned
// (one pass over memory), and again from L1 with their own plan when they leave it.
//
// Include it after <array>, <climits>, <cstddef>, <cstdint>, <cstring>, <utility>, <vector> and
// tandem/kernels/exact_sum.hpp, and after the TU's `#pragma GCC target`: the pragma then applies
// to this file's functions only, never to the shared inline functions of other headers (which
// the linker may merge across TUs).
#pragma once

namespace tandem::exact_detail {
namespace {

// Elements per block: 16 KiB of doubles, well inside L1 (48 KiB on Zen 5), so a block that
// leaves the speculated plan is run again from L1.
constexpr std::size_t block = 2048;
// At most four levels. Level 1 takes the top 51 - h - 2 bits below the block's largest exponent,
// each further level 51 - h more (h = 6 on AVX-512: 44 + 45 + 45 + 45 bits). A sum of N(0, 1)
// doubles needs 2 per block; their squares' p and e streams 2 or 3 each.
constexpr int max_levels = 4;
constexpr std::uint64_t frac_mask = (std::uint64_t{1} << 52) - 1;
constexpr std::uint64_t abs_mask = ~(std::uint64_t{1} << 63);
constexpr std::uint64_t inf_bits = std::uint64_t{0x7ff} << 52;
// |x| below 2^-485 (nonzero): x*x's fma error is not an exact double (it would need bits below
// 2^-1074), so such blocks take the integer square path.
constexpr std::uint64_t tiny_square_bits = std::uint64_t(1023 - 485) << 52;

// What the scan pass learned about a block: the largest |x| and the smallest nonzero |x|, as bits
// (NaN above inf above every finite; min is ~0 when every element is zero).
struct block_scan {
  std::uint64_t max_abs_bits;
  std::uint64_t min_abs_bits;
};

// b for each level, from the block's bound |x| <= 2^e and the headroom h (log2 of the deposits
// per lane and level). Level 1 needs b >= e + h + 2 (proof in README.md, "--exact"); below 2^-1022, s would be
// subnormal, but b = -1022 already has ulp 2^-1074, the grid of every double, so it clamps there.
struct level_plan {
  int b[max_levels];
  double s0[max_levels];
  // Levels this block needs: the first K whose grid 2^(b_K - 52) holds the lowest bit of every
  // element; then the last level's sum is exact without extraction. max_levels, with a check,
  // when fewer do not reach it (remainders are then tested), 0 when the part is not run.
  int k;
};

inline double pow2(int e) {  // 2^e for -1022 <= e <= 1023
  const std::uint64_t bits = std::uint64_t(e + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

// `lowest`: the exponent of the lowest bit any element (or square part) can have.
inline level_plan plan_levels(int e, int h, int lowest) {
  level_plan p;
  int b = e + h + 2;
  p.k = max_levels;
  for (int k = 0; k < max_levels; ++k) {
    p.b[k] = b < -1022 ? -1022 : b;
    p.s0[k] = 1.5 * pow2(p.b[k]);
    if (p.b[k] - 52 <= lowest && p.k == max_levels && k < max_levels - 1) p.k = k + 1;
    b = p.b[k] - (51 - h);
  }
  return p;
}

// The exponent of the lowest bit of a nonzero finite double with these abs bits: its ulp.
inline int ulp_exponent(std::uint64_t abs_bits) {
  const int field = int(abs_bits >> 52);
  return (field == 0 ? 1 : field) - 1075;
}

// The level sums of one block: level k holds lev[k] * 2^(b_k - 52).
struct level_sums {
  std::int64_t lev[max_levels];
};

template <class V, class In>
block_scan scan(const In* x, std::size_t n) {
  typename V::ireg mx = V::izero(), mn = V::iones();
  std::size_t i = 0;
#pragma GCC unroll 4
  for (; i + V::width <= n; i += V::width) {
    const typename V::ireg a = V::abs_bits(V::load(x + i));
    mx = V::imax(mx, a);
    mn = V::imin_nonzero(mn, a);
  }
  block_scan r{V::hmax(mx), V::hmin(mn)};
  for (; i < n; ++i) {
    const std::uint64_t a = kernels::exact_bits_of(double(x[i])) & abs_mask;
    if (a > r.max_abs_bits) r.max_abs_bits = a;
    if (a != 0 && a < r.min_abs_bits) r.min_abs_bits = a;
  }
  return r;
}

// One level step for r into s. Extracting (not the last level, or a checked last level): s takes
// r rounded to its grid, r keeps the exact rest. The last level of a K that reaches every bit
// only adds (exact: r lies on its grid).
template <class V, bool extract>
inline void step(typename V::reg& s, typename V::reg& r) {
  if constexpr (extract) {
    const typename V::reg ns = V::add(s, r);
    r = V::sub(r, V::sub(ns, s));
    s = ns;
  } else {
    s = V::add(s, r);
  }
}

// How a deposit pass runs: `plain` on a block already scanned; `careful` adds nonzero remainders
// into the accumulators instead of reporting them; `speculative` runs with the previous block's
// plan and scans as it goes (one pass over memory instead of two), the caller then checking that
// the plan held for this block (else it runs again, from L1, with the right one).
enum class mode : int { plain, careful, speculative };

// Deposits n elements (a multiple of V::width * U) into Ks levels for the sum and Kq for the
// squares (0: that part not run; max_levels: all levels, the remainder tested). The squares are
// p = x*x and, for double input, e = fma(x, x, -p), both exact here because the caller checked
// the range. Returns a mask of the parts left dirty (1: sum, 2: squares).
// The loops over levels and accumulators are unrolled so that s and q live in registers (rolled,
// GCC kept them on the stack: 2.4x slower).
template <class V, int U, int Ks, int Kq, mode M, class In>
unsigned deposit(const In* x, std::size_t n, const level_plan& ps, const level_plan* pq, level_sums& out_s,
                 level_sums* out_q, block_scan* sc, double* rem) {
  using reg = typename V::reg;
  constexpr bool is_careful = M == mode::careful;
  typename V::ireg mx = V::izero(), mn = V::iones();
  constexpr bool Sum = Ks > 0, Sq = Kq > 0;
  constexpr bool check_s = Ks == max_levels, check_q = Kq == max_levels;
  constexpr int ls = Sum ? Ks : 1, lq = Sq ? Kq : 1;
  constexpr bool with_error = Sq && sizeof(In) == sizeof(double);  // float squares are exact doubles
  // p into pq[0]'s levels, e into pq[1]'s (e's own, 53 bits lower: |e| <= ulp(p)/2).
  constexpr int le = with_error ? lq : 1;
  reg s[ls][U], q[lq][U], qe[le][U];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) {
#pragma GCC unroll 8
    for (int k = 0; k < ls; ++k) s[k][u] = V::set1(ps.s0[k]);
#pragma GCC unroll 8
    for (int k = 0; k < lq; ++k) q[k][u] = V::set1(pq[0].s0[k]);
#pragma GCC unroll 8
    for (int k = 0; k < le; ++k) qe[k][u] = V::set1(pq[1].s0[k]);
  }
  reg dirty_s = V::zero(), dirty_q = V::zero();
  for (std::size_t i = 0; i < n; i += V::width * U) {
    // A pass from L1 (after a scan, or a rerun) prefetches the next block, one cache line per 64
    // bytes deposited, so the memory keeps streaming meanwhile (prefetches never fault past the
    // end); the speculative pass streams by itself (its prefetches measured 5-20% slower).
    if constexpr (M != mode::speculative) {
#pragma GCC unroll 8
      for (std::size_t b = 0; b < V::width * U * sizeof(In); b += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(x + i) + block * sizeof(In) + b, 0, 3);
    }
#pragma GCC unroll 8
    for (int u = 0; u < U; ++u) {
      const reg xv = V::load(x + i + std::size_t(u) * V::width);
      if constexpr (M == mode::speculative) {
        const typename V::ireg a = V::abs_bits(xv);
        mx = V::imax(mx, a);
        mn = V::imin_nonzero(mn, a);
      }
      if constexpr (Sum) {
        reg r = xv;
#pragma GCC unroll 8
        for (int k = 0; k < Ks - 1; ++k) step<V, true>(s[k][u], r);
        step<V, check_s>(s[Ks - 1][u], r);
        if constexpr (check_s) {
          if constexpr (is_careful) {
            V::store(rem + i + std::size_t(u) * V::width, r);
          } else {
            dirty_s = V::bor(dirty_s, r);
          }
        }
      }
      if constexpr (Sq) {
        const reg p = V::mul(xv, xv);
        reg r = p;
#pragma GCC unroll 8
        for (int k = 0; k < Kq - 1; ++k) step<V, true>(q[k][u], r);
        step<V, check_q>(q[Kq - 1][u], r);
        reg r2 = V::zero();
        if constexpr (with_error) {
          r2 = V::fms(xv, xv, p);
#pragma GCC unroll 8
          for (int k = 0; k < Kq - 1; ++k) step<V, true>(qe[k][u], r2);
          step<V, check_q>(qe[Kq - 1][u], r2);
        }
        if constexpr (check_q) {
          if constexpr (is_careful) {
            V::store(rem + n + i + std::size_t(u) * V::width, r);
            V::store(rem + 2 * n + i + std::size_t(u) * V::width, r2);
          } else {
            dirty_q = V::bor(dirty_q, V::bor(r, r2));
          }
        }
      }
    }
  }
  if constexpr (M == mode::speculative) *sc = {V::hmax(mx), V::hmin(mn)};
  unsigned dirty = 0;
  if constexpr (!is_careful) {
    if (check_s && V::any_magnitude(dirty_s)) dirty |= 1;
    if (check_q && V::any_magnitude(dirty_q)) dirty |= 2;
  }
  if constexpr (Sum) {
#pragma GCC unroll 8
    for (int k = 0; k < Ks; ++k) {
      typename V::ireg t = V::izero();
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) t = V::iadd(t, V::level_int(s[k][u]));
      out_s.lev[k] = V::hsum(t);
    }
  }
  if constexpr (Sq) {
#pragma GCC unroll 8
    for (int k = 0; k < Kq; ++k) {
      typename V::ireg t = V::izero();
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) t = V::iadd(t, V::level_int(q[k][u]));
      out_q[0].lev[k] = V::hsum(t);
      if constexpr (with_error) {
        typename V::ireg te = V::izero();
#pragma GCC unroll 8
        for (int u = 0; u < U; ++u) te = V::iadd(te, V::level_int(qe[k][u]));
        out_q[1].lev[k] = V::hsum(te);
      }
    }
  }
  return dirty;
}

using deposit_fn = unsigned (*)(const void*, std::size_t, const level_plan&, const level_plan*, level_sums&,
                                level_sums*, block_scan*, double*);

template <class V, int U, class In, int Ks, int Kq, mode M>
unsigned deposit_entry(const void* x, std::size_t n, const level_plan& ps, const level_plan* pq, level_sums& os,
                       level_sums* oq, block_scan* sc, double* rem) {
  if constexpr (Ks == 0 && Kq == 0) {
    return 0;
  } else {
    return deposit<V, U, Ks, Kq, M>(static_cast<const In*>(x), n, ps, pq, os, oq, sc, rem);
  }
}

// Every (Ks, Kq) pair, indexed (max_levels + 1) * Ks + Kq.
template <class V, int U, class In, mode M, std::size_t... I>
constexpr std::array<deposit_fn, sizeof...(I)> deposit_table(std::index_sequence<I...>) {
  constexpr int m = max_levels + 1;
  return {&deposit_entry<V, U, In, int(I) / m, int(I) % m, M>...};
}

// log2 of the deposits one lane's level receives in a full block.
template <class V, int U>
constexpr int headroom_bits() {
  int h = 0;
  while ((std::size_t{1} << h) < block / (V::width * U)) ++h;
  return h;
}

inline void flush(const level_plan& p, const level_sums& l, kernels::exact_accumulator& acc) {
  for (int k = 0; k < p.k; ++k) acc.add_int(l.lev[k], p.b[k] - 52 + kernels::exact_accumulator::offset);
}
inline void flush(const level_plan& p, const level_sums& l, kernels::exact_square_accumulator& acc) {
  for (int k = 0; k < p.k; ++k) acc.add_int(l.lev[k], p.b[k] - 52 + kernels::exact_square_accumulator::offset);
}

// The bound e with |x| <= 2^e for the block's largest magnitude (finite, nonzero).
inline int exponent_bound(std::uint64_t max_abs_bits) {
  const int field = int(max_abs_bits >> 52);
  return field == 0 ? -1022 : field - 1022;
}

// Everything decided about a block from its scan.
struct block_plan {
  level_plan ps, pq[2];  // the sum; the squares' p = fl(x*x) and (double input) e = x*x - p
  bool slow_sum, slow_sq;  // element by element (NaN, infinities, beyond the fast path's range)
  int e;                   // the bound on |x| the plan was made for
  // The smallest lowest bit of x each part's levels hold exactly (its last grid; for the
  // squares in x's terms); INT_MIN where the last level is checked or the part is not run.
  int need_sum, need_sq;
};

// The lowest bit of x (ulp exponent) that a level plan's last grid holds: for the sum, x's own;
// for the squares, the x whose p (lowest bit 2 u + 52) and e (2 u) both lie on their grids.
inline int need_of(const level_plan& p) {
  return p.k == 0 || p.k == max_levels ? INT_MIN : p.b[p.k - 1] - 52;
}
inline int need_of_squares(const level_plan* p, bool with_error) {
  if (p[0].k == 0 || p[0].k == max_levels) return INT_MIN;
  const int g0 = p[0].b[p[0].k - 1] - 52;
  int u = with_error ? g0 - 52 : g0;  // smallest u with 2u + 52 >= g0 (float: 2u >= g0)
  u = (u + 1) >> 1;                   // ceil(u / 2), u of either sign
  if (with_error) {
    const int g1 = p[1].b[p[1].k - 1] - 52;
    const int u1 = (g1 + 1) >> 1;
    u = u1 > u ? u1 : u;
  }
  return u;
}

// The plan for a block with these bounds; `In` float or double. The slack (one bit above the
// largest; below the smallest, eight bits for the sum and two for the squares, where each bit of
// x costs two and a fourth level costs 20%) lets the next blocks of similar data reuse it.
template <class In>
block_plan make_plan(const block_scan& sc, bool want_sq, int h_sum, int h_sq, bool slack) {
  block_plan b{};
  if (sc.max_abs_bits >= inf_bits) {
    b.slow_sum = b.slow_sq = true;
    return b;
  }
  if (sc.max_abs_bits == 0) return b;  // all zeros: nothing to add (k = 0 for both)
  b.e = exponent_bound(sc.max_abs_bits) + (slack ? 1 : 0);
  // Float elements, widened, have zeros in the last 29 bits of their mantissa (a float
  // subnormal's true lowest bit, 2^-149, lies above this bound too).
  const int lowest = ulp_exponent(sc.min_abs_bits) + (sizeof(In) == sizeof(float) ? 29 : 0);
  const int lowest_s = lowest - (slack ? 8 : 0), lowest_q = lowest - (slack ? 2 : 0);
  // Level 1's S = 1.5 * 2^(e + h + 2) must be finite.
  b.slow_sum = b.e + h_sum + 2 > 1023;
  // p <= 2^(2e) must leave level 1 finite too; tiny x have no exact fma error.
  b.slow_sq = want_sq && ((sizeof(In) == sizeof(double) && sc.min_abs_bits < tiny_square_bits) ||
                          2 * b.e + h_sq + 2 > 1023);
  b.ps = plan_levels(b.e, h_sum, lowest_s);
  // p's lowest bit: its ulp, at least 2^(2 ex - 52) for x's exponent ex (ulp(x) = 2^(ex - 52));
  // e's: ulp(x)^2. Float squares are exact: p only, lowest ulp(x)^2. Each stream takes one
  // deposit per element and level, as the sum does; both get the larger level count.
  const bool with_error = sizeof(In) == sizeof(double);
  b.pq[0] = plan_levels(2 * b.e, h_sq, 2 * lowest_q + (with_error ? 52 : 0));
  b.pq[1] = plan_levels(2 * b.e - 53, h_sq, 2 * lowest_q);
  if (with_error && b.pq[1].k > b.pq[0].k) b.pq[0].k = b.pq[1].k;
  b.pq[1].k = with_error ? b.pq[0].k : 0;
  if (b.slow_sum) b.ps.k = 0;
  if (!want_sq || b.slow_sq) b.pq[0].k = b.pq[1].k = 0;
  b.need_sum = need_of(b.ps);
  b.need_sq = need_of_squares(b.pq, with_error);
  return b;
}

// Whether a plan made for earlier blocks is exact for a block with this scan: every element
// within its bounds, and nothing that needs the element-by-element path.
template <class In>
bool plan_holds(const block_plan& b, const block_scan& sc, bool want_sq) {
  if (sc.max_abs_bits >= inf_bits) return false;
  if (sc.max_abs_bits == 0) return true;
  if (exponent_bound(sc.max_abs_bits) > b.e) return false;
  const int lowest = ulp_exponent(sc.min_abs_bits) + (sizeof(In) == sizeof(float) ? 29 : 0);
  if (lowest < b.need_sum || lowest < b.need_sq) return false;
  return !(want_sq && sizeof(In) == sizeof(double) && sc.min_abs_bits < tiny_square_bits);
}

// Adds a sum of doubles (units of 2^-1074) to a sum of squares (units of 2^-2148).
inline void add_as_square_terms(kernels::exact_accumulator t, kernels::exact_square_accumulator& q) {
  t.normalise();
  constexpr int shift = kernels::exact_square_accumulator::offset - kernels::exact_accumulator::offset;
  for (int i = 0; i < kernels::exact_accumulator::limbs; ++i) q.add_int(t.limb[i], 32 * i + shift);
}

// exact_add for one SIMD level: V the traits, U the independent accumulators per level (they
// hide the add latency: the chain through s is the loop's only dependency).
template <class V, int U, class In>
void exact_add_blocks(const In* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq) {
  constexpr int h_sum = headroom_bits<V, U>();
  constexpr int h_sq = h_sum;  // p and e have levels of their own: one deposit each per element
  constexpr std::size_t step = V::width * U;
  constexpr auto pairs = std::make_index_sequence<(max_levels + 1) * (max_levels + 1)>{};
  static constexpr auto plain_fn = deposit_table<V, U, In, mode::plain>(pairs);
  static constexpr auto careful_fn = deposit_table<V, U, In, mode::careful>(pairs);
  static constexpr auto speculative_fn = deposit_table<V, U, In, mode::speculative>(pairs);
  const bool want_sq = sq != nullptr;
  kernels::exact_square_accumulator dummy_q;  // never touched when sq is null (Kq = 0)
  kernels::exact_square_accumulator& acc_q = want_sq ? *sq : dummy_q;
  block_plan plan{};
  bool reuse = false;  // plan came from earlier blocks, all on the fast path
  // A plan that holds is kept, so one made from an unusually small minimum would cost a level
  // on every later block: every `refresh` blocks it is remade from the latest block's scan.
  constexpr unsigned refresh = 8;
  unsigned held_blocks = 0;
  block_scan spec_sc{};
  for (std::size_t at = 0; at < n; at += block) {
    const std::size_t len = n - at < block ? n - at : block;
    const In* xb = x + at;
    const std::size_t body = len - len % step;
    level_sums ls{}, lq[2]{};
    unsigned dirty = 0;
    bool held = false;
    if (reuse && body != 0) {
      block_scan& sc = spec_sc;
      dirty = speculative_fn[std::size_t((max_levels + 1) * plan.ps.k + plan.pq[0].k)](xb, body, plan.ps, plan.pq, ls, lq,
                                                                                     &sc, nullptr);
      const block_scan tail = scan<V>(xb + body, len - body);
      if (tail.max_abs_bits > sc.max_abs_bits) sc.max_abs_bits = tail.max_abs_bits;
      if (tail.min_abs_bits < sc.min_abs_bits) sc.min_abs_bits = tail.min_abs_bits;
      held = plan_holds<In>(plan, sc, want_sq);
    }
    if (!held) {
      plan = make_plan<In>(scan<V>(xb, len), want_sq, h_sum, h_sq, true);
      reuse = plan.ps.k != 0 && (plan.pq[0].k != 0 || !want_sq);
      ls = level_sums{};
      lq[0] = lq[1] = level_sums{};
      dirty = plain_fn[std::size_t((max_levels + 1) * plan.ps.k + plan.pq[0].k)](xb, body, plan.ps, plan.pq, ls, lq, nullptr,
                                                                             nullptr);
    }
    const std::size_t which = std::size_t((max_levels + 1) * plan.ps.k + plan.pq[0].k);
    // A dirty part is run again keeping its last remainders, which are exact doubles far smaller
    // than the block's: their sum is added exactly the same way, with plans of their own.
    if (dirty != 0) {
      std::vector<double> rem(3 * body, 0.0);
      careful_fn[which](xb, body, plan.ps, plan.pq, ls, lq, nullptr, rem.data());
      if (plan.ps.k == max_levels) exact_add_blocks<V, U>(rem.data(), body, sum, nullptr);
      if (plan.pq[0].k == max_levels) {
        kernels::exact_accumulator t;
        t.clear();
        exact_add_blocks<V, U>(rem.data() + body, 2 * body, t, nullptr);
        add_as_square_terms(t, acc_q);
      }
    }
    const bool fast_sum = plan.ps.k != 0, fast_sq = plan.pq[0].k != 0;
    if (fast_sum) flush(plan.ps, ls, sum);
    if (fast_sq) {
      flush(plan.pq[0], lq[0], acc_q);
      flush(plan.pq[1], lq[1], acc_q);  // k = 0 for float input: nothing
    }
    // The tail shorter than one step goes element by element.
    for (std::size_t i = body; i < len; ++i) {
      if (fast_sum) sum.add(double(xb[i]));
      if (fast_sq) acc_q.add_square(double(xb[i]));
    }
    if (plan.slow_sum)
      for (std::size_t i = 0; i < len; ++i) sum.add(double(xb[i]));
    if (want_sq && plan.slow_sq)
      for (std::size_t i = 0; i < len; ++i) acc_q.add_square(double(xb[i]));
    if (held && ++held_blocks % refresh == 0) {
      const block_plan fresh = make_plan<In>(spec_sc, want_sq, h_sum, h_sq, true);
      if (fresh.ps.k != 0 && (fresh.pq[0].k != 0 || !want_sq)) plan = fresh;
    }
  }
}

}  // namespace
}  // namespace tandem::exact_detail
