// Exact sums of doubles, and of their squares, in a fixed-size integer accumulator that the CPU
// and the GPU share (`tandem reduce --exact`).
//
// Every finite double is an integer multiple of 2^-1074 below 2^1024 in magnitude, and its square
// a multiple of 2^-2148 below 2^2048. So a sum of them is one big integer in units of 2^-1074
// (2^-2148 for squares), held here as base-2^32 digits in signed 64-bit limbs (carry-save: a limb
// may run past 32 bits between normalisations). Adding is exact, so the value does not depend on
// the order of additions, and normalise() gives one canonical form: two accumulators holding the
// same value (and the same NaN / infinity counts) are then equal byte for byte.
//
// No heap, trivially copyable, every method TANDEM_HD: a CUDA thread or block can hold one.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

TANDEM_HD_INLINE std::uint64_t exact_bits_of(double x) {
  std::uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}

// The 106-bit square of a 53-bit integer m, as (hi, lo): the same code on host and device, no
// 128-bit type needed.
TANDEM_HD_INLINE void exact_square_53(std::uint64_t m, std::uint64_t& hi, std::uint64_t& lo) {
  const std::uint64_t a = m >> 32, b = m & 0xffffffffu;  // a < 2^21
  const std::uint64_t t = ((b * b) >> 32) + 2 * a * b;    // < 2^32 + 2^54
  hi = a * a + (t >> 32);
  lo = m * m;
}

// The sum of values that are integer multiples of 2^-Offset, in Limbs digits of 32 bits:
// value = sum_i limb[i] * 2^(32 i - Offset). Limbs cover the largest single term plus 64 bits of
// headroom, so 2^64 additions cannot overflow the top limb.
template <int Limbs, int Offset>
struct exact_fixed_accumulator {
  static constexpr int limbs = Limbs;
  static constexpr int offset = Offset;
  // Additions (of digits below 2^32) allowed between normalisations: limbs then stay below
  // 2^32 * (2^30 + 1) < 2^63, and the carries of a normalisation cannot overflow either.
  static constexpr std::uint64_t max_pending = std::uint64_t{1} << 30;

  std::int64_t limb[Limbs];
  std::uint64_t nan_count;
  std::uint64_t pos_inf_count;
  std::uint64_t neg_inf_count;
  std::uint64_t pending;  // additions since the last normalise()

  TANDEM_HD_INLINE void clear() {
    for (int i = 0; i < Limbs; ++i) limb[i] = 0;
    nan_count = pos_inf_count = neg_inf_count = pending = 0;
  }

  // Adds sign * u * 2^(pos - Offset) for u < 2^64 and 0 <= pos: three digits at most.
  TANDEM_HD_INLINE void add_shifted(std::uint64_t u, int pos, bool negative) {
    if (pending >= max_pending) normalise();
    ++pending;
    const int i = pos >> 5, s = pos & 31;
    const std::uint64_t d0 = (u << s) & 0xffffffffu;
    const std::uint64_t rest = s == 0 ? u >> 32 : u >> (32 - s);  // < 2^63
    const std::uint64_t d1 = rest & 0xffffffffu, d2 = rest >> 32;
    if (negative) {
      limb[i] -= std::int64_t(d0);
      limb[i + 1] -= std::int64_t(d1);
      if (d2 != 0) limb[i + 2] -= std::int64_t(d2);
    } else {
      limb[i] += std::int64_t(d0);
      limb[i + 1] += std::int64_t(d1);
      if (d2 != 0) limb[i + 2] += std::int64_t(d2);
    }
  }

  // Adds v * 2^(pos - Offset), for a signed 64-bit v (the block kernels' level sums).
  TANDEM_HD_INLINE void add_int(std::int64_t v, int pos) {
    if (v == 0) return;
    const bool negative = v < 0;
    const std::uint64_t u = negative ? std::uint64_t(0) - std::uint64_t(v) : std::uint64_t(v);
    add_shifted(u, pos, negative);
  }

  // Exact: the sum of any accumulators is the same in any order and any grouping.
  TANDEM_HD_INLINE void add(const exact_fixed_accumulator& o) {
    if (pending + o.pending + 1 > max_pending) {
      normalise();
      if (pending + o.pending + 1 > max_pending) {
        exact_fixed_accumulator c = o;
        c.normalise();
        add_limbs(c);
        return;
      }
    }
    add_limbs(o);
  }

  // Canonical form: every limb but the top in [0, 2^32), the top one signed; pending 0.
  TANDEM_HD_INLINE void normalise() {
    std::int64_t carry = 0;
    for (int i = 0; i < Limbs - 1; ++i) {
      const std::int64_t v = limb[i] + carry;
      const std::int64_t low = v & 0xffffffff;
      limb[i] = low;
      carry = (v - low) >> 32;  // exact: v - low is a multiple of 2^32
    }
    limb[Limbs - 1] += carry;
    pending = 0;
  }

  // The sign of the finite part after normalise(): -1, 0 or 1.
  TANDEM_HD_INLINE int sign_normalised() const {
    if (limb[Limbs - 1] != 0) return limb[Limbs - 1] < 0 ? -1 : 1;
    for (int i = Limbs - 2; i >= 0; --i)
      if (limb[i] != 0) return 1;
    return 0;
  }

 private:
  TANDEM_HD_INLINE void add_limbs(const exact_fixed_accumulator& o) {
    for (int i = 0; i < Limbs; ++i) limb[i] += o.limb[i];
    nan_count += o.nan_count;
    pos_inf_count += o.pos_inf_count;
    neg_inf_count += o.neg_inf_count;
    pending += o.pending + 1;
  }
};

// A double taken apart: x = (negative ? -1 : 1) * m * 2^(pos - 1074), m the integer significand
// (53 bits, fewer for a subnormal) and pos its lowest bit's position, max(field, 1) - 1.
enum class exact_kind { zero, finite, nan, inf };
struct exact_parts {
  exact_kind kind;
  bool negative;
  std::uint64_t m;
  int pos;
};

TANDEM_HD_INLINE exact_parts exact_parts_of(double x) {
  const std::uint64_t b = exact_bits_of(x);
  const int field = int((b >> 52) & 0x7ff);
  const std::uint64_t frac = b & ((std::uint64_t{1} << 52) - 1);
  const bool negative = (b >> 63) != 0;
  if (field == 0x7ff) return {frac != 0 ? exact_kind::nan : exact_kind::inf, negative, 0, 0};
  if (field == 0 && frac == 0) return {exact_kind::zero, negative, 0, 0};
  return {exact_kind::finite, negative, field == 0 ? frac : frac | (std::uint64_t{1} << 52), (field == 0 ? 1 : field) - 1};
}

// Sums of doubles: positions 0 .. 2097 (2^-1074 .. the top bit of DBL_MAX) plus 64 bits of
// headroom: 2162 bits, 68 limbs.
struct exact_accumulator : exact_fixed_accumulator<68, 1074> {
  // x exactly; NaN and infinities are counted, not summed.
  TANDEM_HD_INLINE void add(double x) {
    const exact_parts p = exact_parts_of(x);
    if (p.kind == exact_kind::nan) ++nan_count;
    else if (p.kind == exact_kind::inf) ++(p.negative ? neg_inf_count : pos_inf_count);
    else if (p.kind == exact_kind::finite) add_shifted(p.m, p.pos, p.negative);
  }
  using exact_fixed_accumulator::add;
};

// Sums of squares x*x of doubles, exact even where the square underflows or overflows a double:
// positions 0 .. 4195 (2^-2148 .. 2^2048) plus 64 bits: 4260 bits, 134 limbs.
struct exact_square_accumulator : exact_fixed_accumulator<134, 2148> {
  // x*x exactly; NaN is counted as NaN, either infinity as +inf.
  TANDEM_HD_INLINE void add_square(double x) {
    const exact_parts p = exact_parts_of(x);
    if (p.kind != exact_kind::finite) return count_special(p);
    std::uint64_t hi, lo;
    exact_square_53(p.m, hi, lo);
    // x^2 = m^2 * 2^(2e): position 2 * pos, the 106-bit m^2 in two parts.
    add_shifted(lo, 2 * p.pos, false);
    if (hi != 0) add_shifted(hi, 2 * p.pos + 64, false);
  }
  // A double that is itself an exact term of the sum of squares (the block kernels' parts of
  // x*x: p and the fma error e), at its own position; NaN and infinities as in add_square.
  TANDEM_HD_INLINE void add_term(double t) {
    const exact_parts p = exact_parts_of(t);
    if (p.kind != exact_kind::finite) return count_special(p);
    add_shifted(p.m, p.pos + (offset - 1074), p.negative);
  }

 private:
  // A square's NaN is NaN, and either infinity squares to +inf; zero adds nothing.
  TANDEM_HD_INLINE void count_special(const exact_parts& p) {
    if (p.kind == exact_kind::nan) ++nan_count;
    else if (p.kind == exact_kind::inf) ++pos_inf_count;
  }

 public:
  using exact_fixed_accumulator::add;
};

static_assert(std::is_trivially_copyable_v<exact_accumulator>);
static_assert(std::is_trivially_copyable_v<exact_square_accumulator>);
static_assert(sizeof(exact_accumulator) == 68 * 8 + 32, "no padding: normalised values compare bytewise");
static_assert(sizeof(exact_square_accumulator) == 134 * 8 + 32, "no padding: normalised values compare bytewise");

}  // namespace tandem::kernels
