// The per-block fast path of exact_add, written once over a small vector-traits type V and built
// three times: exact_block.cpp (scalar), exact_block_avx2.cpp, exact_block_avx512.cpp, each with
// its own target flags. Everything here has internal linkage (an unnamed namespace), so the
// linker can never hand one level's instructions to another.
//
// Method (error-free extraction, as in ReproBLAS; workloads/reduce/EXACT.md has the proof):
// a level is a running double s that starts at S = 1.5 * 2^b. While s stays in [2^b, 2^(b+1)),
// s + r rounds r to a multiple of 2^(b-52); t = (s + r) - s is that rounded part, exactly, and
// r - t the exact remainder, passed to the next level whose b is W = 51 - h bits lower. With at
// most 2^h deposits per lane, s cannot leave its binade. After K levels a remainder that is not
// zero marks the block dirty: it is run again adding such remainders into the exact accumulator
// one by one, so the result is exact for every input. A block's level sums are integers times
// 2^(b-52), read from s's mantissa bits, and go into the exact accumulator once per block.
// Include it after <cstddef>, <cstdint>, <cstring> and tandem/kernels/exact_sum.hpp, and after
// the TU's `#pragma GCC target`: the pragma then applies to this file's functions only, never to
// the shared inline functions of other headers (which the linker may merge across TUs).
#pragma once

namespace tandem::exact_detail {
namespace {

// Elements per block: 16 KiB of doubles, well inside L1 (48 KiB on Zen 5), so the deposit pass
// reads what the scan pass just brought in. 1024 and 4096 measured within 3% of it.
constexpr std::size_t block = 2048;
// Levels. Level 1 takes the top 51 - h - 2 bits below the block's largest exponent, each further
// level 51 - h more: with h = 6 (AVX-512) three levels reach 134 bits below the largest element,
// so only elements more than 2^82 times smaller than it leave a remainder.
constexpr int levels = 3;
constexpr std::uint64_t frac_mask = (std::uint64_t{1} << 52) - 1;
constexpr std::uint64_t abs_mask = ~(std::uint64_t{1} << 63);
constexpr std::uint64_t inf_bits = std::uint64_t{0x7ff} << 52;
// |x| below 2^-485 (nonzero): x*x's fma error is not an exact double (it would need bits below
// 2^-1074), so such blocks take the integer square path.
constexpr std::uint64_t tiny_square_bits = std::uint64_t(1023 - 485) << 52;

// What the scan pass learned about a block.
struct block_scan {
  std::uint64_t max_abs_bits;  // the largest |x| as bits: NaN above inf above every finite
  bool tiny;                   // some nonzero |x| below 2^-485 (only when asked)
};

// b for each level, from the block's bound |x| <= 2^e and the headroom h (log2 of the deposits
// per lane and level). Level 1 needs b >= e + h + 2 (proof in EXACT.md); below 2^-1022, s would be
// subnormal, but b = -1022 already has ulp 2^-1074, the grid of every double, so it clamps there.
struct level_plan {
  int b[levels];
  double s0[levels];
};

inline double pow2(int e) {  // 2^e for -1022 <= e <= 1023
  const std::uint64_t bits = std::uint64_t(e + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

inline level_plan plan_levels(int e, int h) {
  level_plan p;
  int b = e + h + 2;
  for (int k = 0; k < levels; ++k) {
    p.b[k] = b < -1022 ? -1022 : b;
    p.s0[k] = 1.5 * pow2(p.b[k]);
    b = p.b[k] - (51 - h);
  }
  return p;
}

// The level sums of one block: level k holds lev[k] * 2^(b_k - 52).
struct level_sums {
  std::int64_t lev[levels];
};

template <class V, class In>
block_scan scan(const In* x, std::size_t n, bool want_tiny) {
  typename V::ireg mx = V::izero(), tiny = V::izero();
  std::size_t i = 0;
  for (; i + V::width <= n; i += V::width) {
    const typename V::ireg a = V::abs_bits(V::load(x + i));
    mx = V::imax(mx, a);
    if (want_tiny) tiny = V::tiny_acc(tiny, a);
  }
  block_scan r{V::hmax(mx), want_tiny && V::iany(tiny)};
  for (; i < n; ++i) {
    const std::uint64_t a = kernels::exact_bits_of(double(x[i])) & abs_mask;
    if (a > r.max_abs_bits) r.max_abs_bits = a;
    if (want_tiny && a != 0 && a < tiny_square_bits) r.tiny = true;
  }
  return r;
}

// Deposits n elements (a multiple of V::width * U) into the levels. Sum and/or Sq (the squares:
// p = x*x and, for double input, e = fma(x, x, -p), which are exact here because the caller
// checked the range). Returns a mask of the parts left dirty (1: sum, 2: squares); with
// `careful` set, nonzero remainders go into the accumulators instead and nothing is dirty.
template <class V, int U, bool Sum, bool Sq, class In>
unsigned deposit(const In* x, std::size_t n, const level_plan& ps, const level_plan& pq, level_sums& out_s,
                 level_sums& out_q, bool careful, kernels::exact_accumulator& acc_s,
                 kernels::exact_square_accumulator& acc_q) {
  using reg = typename V::reg;
  constexpr bool with_error = Sq && sizeof(In) == sizeof(double);  // float squares are exact doubles
  reg s[levels][U], q[levels][U];
  for (int k = 0; k < levels; ++k)
    for (int u = 0; u < U; ++u) {
      s[k][u] = V::set1(ps.s0[k]);
      q[k][u] = V::set1(pq.s0[k]);
    }
  reg dirty_s = V::zero(), dirty_q = V::zero();
  for (std::size_t i = 0; i < n; i += V::width * U) {
    for (int u = 0; u < U; ++u) {
      const reg xv = V::load(x + i + std::size_t(u) * V::width);
      if constexpr (Sum) {
        reg r = xv;
        for (int k = 0; k < levels; ++k) {
          const reg ns = V::add(s[k][u], r);
          r = V::sub(r, V::sub(ns, s[k][u]));
          s[k][u] = ns;
        }
        if (careful) {
          if (V::any_magnitude(r)) V::spill(r, [&](double v) { acc_s.add(v); });
        } else {
          dirty_s = V::bor(dirty_s, r);
        }
      }
      if constexpr (Sq) {
        const reg p = V::mul(xv, xv);
        reg r = p;
        for (int k = 0; k < levels; ++k) {
          const reg ns = V::add(q[k][u], r);
          r = V::sub(r, V::sub(ns, q[k][u]));
          q[k][u] = ns;
        }
        reg r2 = V::zero();
        if constexpr (with_error) {
          // |e| <= ulp(p)/2 is below level 1's grid, so it starts at level 2.
          r2 = V::fms(xv, xv, p);
          for (int k = 1; k < levels; ++k) {
            const reg ns = V::add(q[k][u], r2);
            r2 = V::sub(r2, V::sub(ns, q[k][u]));
            q[k][u] = ns;
          }
        }
        if (careful) {
          if (V::any_magnitude(r)) V::spill(r, [&](double v) { acc_q.add_term(v); });
          if (V::any_magnitude(r2)) V::spill(r2, [&](double v) { acc_q.add_term(v); });
        } else {
          dirty_q = V::bor(dirty_q, V::bor(r, r2));
        }
      }
    }
  }
  unsigned dirty = 0;
  if (!careful) {
    if (Sum && V::any_magnitude(dirty_s)) dirty |= 1;
    if (Sq && V::any_magnitude(dirty_q)) dirty |= 2;
  }
  for (int k = 0; k < levels; ++k) {
    if constexpr (Sum) {
      typename V::ireg t = V::izero();
      for (int u = 0; u < U; ++u) t = V::iadd(t, V::level_int(s[k][u]));
      out_s.lev[k] = V::hsum(t);
    }
    if constexpr (Sq) {
      typename V::ireg t = V::izero();
      for (int u = 0; u < U; ++u) t = V::iadd(t, V::level_int(q[k][u]));
      out_q.lev[k] = V::hsum(t);
    }
  }
  return dirty;
}

// log2 of the deposits one lane's level receives in a full block (squares: twice, p's remainder
// and e, from level 2 on).
template <class V, int U>
constexpr int headroom_bits() {
  int h = 0;
  while ((std::size_t{1} << h) < block / (V::width * U)) ++h;
  return h;
}

inline void flush(const level_plan& p, const level_sums& l, kernels::exact_accumulator& acc) {
  for (int k = 0; k < levels; ++k) acc.add_int(l.lev[k], p.b[k] - 52 + kernels::exact_accumulator::offset);
}
inline void flush(const level_plan& p, const level_sums& l, kernels::exact_square_accumulator& acc) {
  for (int k = 0; k < levels; ++k) acc.add_int(l.lev[k], p.b[k] - 52 + kernels::exact_square_accumulator::offset);
}

// The bound e with |x| <= 2^e for the block's largest magnitude (finite, nonzero).
inline int exponent_bound(std::uint64_t max_abs_bits) {
  const int field = int(max_abs_bits >> 52);
  return field == 0 ? -1022 : field - 1022;
}

// exact_add for one SIMD level: V the traits, U the independent accumulators per level (they
// hide the add latency: the chain through s is the loop's only dependency).
template <class V, int U, class In>
void exact_add_blocks(const In* x, std::size_t n, kernels::exact_accumulator& sum, kernels::exact_square_accumulator* sq) {
  constexpr int h_sum = headroom_bits<V, U>();
  constexpr int h_sq = h_sum + 1;
  constexpr std::size_t step = V::width * U;
  const bool want_sq = sq != nullptr;
  kernels::exact_square_accumulator dummy_q;  // never touched when sq is null (Sq = false)
  kernels::exact_square_accumulator& acc_q = want_sq ? *sq : dummy_q;
  for (std::size_t at = 0; at < n; at += block) {
    const std::size_t len = n - at < block ? n - at : block;
    const In* xb = x + at;
    const block_scan sc = scan<V>(xb, len, want_sq && sizeof(In) == sizeof(double));
    const std::size_t body = len - len % step;
    bool slow_sum = false, slow_sq = false;
    if (sc.max_abs_bits >= inf_bits) {
      slow_sum = slow_sq = true;  // NaN or infinity: counted element by element
    } else if (sc.max_abs_bits != 0) {
      const int e = exponent_bound(sc.max_abs_bits);
      // Level 1's S = 1.5 * 2^(e + h + 2) must be finite.
      slow_sum = e + h_sum + 2 > 1023;
      // p <= 2^(2e) must leave level 1 finite too; tiny x have no exact fma error.
      slow_sq = sc.tiny || 2 * e + h_sq + 2 > 1023;
      const bool fast_sum = !slow_sum, fast_sq = want_sq && !slow_sq;
      if (fast_sum || fast_sq) {
        const level_plan ps = plan_levels(e, h_sum), pq = plan_levels(2 * e, h_sq);
        level_sums ls{}, lq{};
        unsigned dirty;
        if (fast_sum && fast_sq)
          dirty = deposit<V, U, true, true>(xb, body, ps, pq, ls, lq, false, sum, acc_q);
        else if (fast_sum)
          dirty = deposit<V, U, true, false>(xb, body, ps, pq, ls, lq, false, sum, acc_q);
        else
          dirty = deposit<V, U, false, true>(xb, body, ps, pq, ls, lq, false, sum, acc_q);
        // A dirty part is run again, its nonzero remainders added one by one.
        if (dirty == 3)
          deposit<V, U, true, true>(xb, body, ps, pq, ls, lq, true, sum, acc_q);
        else if (dirty == 1)
          deposit<V, U, true, false>(xb, body, ps, pq, ls, lq, true, sum, acc_q);
        else if (dirty == 2)
          deposit<V, U, false, true>(xb, body, ps, pq, ls, lq, true, sum, acc_q);
        if (fast_sum) flush(ps, ls, sum);
        if (fast_sq) flush(pq, lq, acc_q);
        // The tail shorter than one step goes element by element.
        for (std::size_t i = body; i < len; ++i) {
          if (fast_sum) sum.add(double(xb[i]));
          if (fast_sq) acc_q.add_square(double(xb[i]));
        }
      }
    }
    if (slow_sum)
      for (std::size_t i = 0; i < len; ++i) sum.add(double(xb[i]));
    if (want_sq && slow_sq)
      for (std::size_t i = 0; i < len; ++i) acc_q.add_square(double(xb[i]));
  }
}

}  // namespace
}  // namespace tandem::exact_detail
