// The CPU-bound task of the published concurrent.futures example: sum of i*i for 0 <= i < n.
//
// Results are exact: each term i*i fits 64 bits because n <= 2^32, and the sum is carried in 128
// bits (the largest, n = 2^32, is below 2^96). A task is cut into pieces of a fixed length; a
// piece is one chunk of the job, so the work balances even with fewer tasks than workers.
#pragma once

#include <cstdint>

#include "tandem/kernels/hd.hpp"
#include "tandem/kernels/uint128.hpp"

namespace tandem::kernels {

// Terms per piece. 2^20 terms take about 1 ms on one core, small enough to balance 8 tasks over
// any worker count and large enough that dispatch is noise.
inline constexpr std::uint64_t tasks_piece_length = std::uint64_t{1} << 20;
inline constexpr std::uint64_t tasks_max_n = std::uint64_t{1} << 32;

struct tasks_params {
  std::uint64_t count = 0;   // tasks
  std::uint64_t n = 0;       // terms per task
  std::uint64_t pieces = 0;  // pieces per task: ceil(n / tasks_piece_length)
};

TANDEM_HD_INLINE tasks_params make_tasks_params(std::uint64_t count, std::uint64_t n) {
  return {count, n, (n + tasks_piece_length - 1) / tasks_piece_length};
}

// Sum of i*i for i = first, first + stride, ... below last. With stride 1 this is a piece; a CUDA
// thread of a block of `stride` threads takes first = piece begin + thread index.
TANDEM_HD_INLINE uint128 sum_of_squares(std::uint64_t first, std::uint64_t last, std::uint64_t stride) {
  std::uint64_t lo = 0;
  std::uint64_t carries = 0;
  for (std::uint64_t i = first; i < last; i += stride) {
    // i < 2^32, so the 32-bit operands give the exact 64-bit square.
    const std::uint64_t x = static_cast<std::uint32_t>(i);
    const std::uint64_t t = x * x;
    lo += t;
    carries += lo < t ? 1u : 0u;
  }
  return {lo, carries};
}

// The terms of piece p (0 <= p < pieces) of any task.
TANDEM_HD_INLINE std::uint64_t piece_begin(std::uint64_t piece) {
  return piece * tasks_piece_length;
}
TANDEM_HD_INLINE std::uint64_t piece_end(const tasks_params& p, std::uint64_t piece) {
  const std::uint64_t e = (piece + 1) * tasks_piece_length;
  return e < p.n ? e : p.n;
}

// What one thread of a block computes for global piece g (task g / pieces): the CUDA kernel's body,
// and what the CPU tests run to check it.
TANDEM_HD_INLINE uint128 piece_sum_strided(const tasks_params& p, std::uint64_t g, std::uint64_t thread,
                                           std::uint64_t threads) {
  const std::uint64_t piece = g % p.pieces;
  return sum_of_squares(piece_begin(piece) + thread, piece_end(p, piece), threads);
}

}  // namespace tandem::kernels
