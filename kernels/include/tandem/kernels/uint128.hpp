// Exact unsigned 128-bit sums that compile the same for host and device: two 64-bit words and an
// explicit carry, so no compiler extension decides the result.
#pragma once

#include <cstdint>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

struct uint128 {
  std::uint64_t lo = 0;
  std::uint64_t hi = 0;
};

TANDEM_HD_INLINE uint128 add(uint128 a, uint128 b) {
  uint128 r;
  r.lo = a.lo + b.lo;
  r.hi = a.hi + b.hi + (r.lo < a.lo ? 1u : 0u);
  return r;
}

TANDEM_HD_INLINE bool operator==(uint128 a, uint128 b) { return a.lo == b.lo && a.hi == b.hi; }

// For cub::BlockReduce and friends.
struct uint128_plus {
  TANDEM_HD_INLINE uint128 operator()(uint128 a, uint128 b) const { return add(a, b); }
};

}  // namespace tandem::kernels
