// Internal to the reduce workload: a chunk's partial on the CPU, in vector lanes.
#pragma once

#include <cstdint>
#include <string_view>

#include "tandem/kernels/reduce.hpp"

namespace tandem::detail {

// The partial of elements [0, n) of x for `pass` (kernels::reduce_pass bits): the same bits as
// kernels::chunk_partial_scalar, computed with the widest vectors the CPU has.
kernels::reduce_partial reduce_chunk(const double* x, std::uint64_t n, std::uint32_t pass);
kernels::reduce_partial reduce_chunk(const float* x, std::uint64_t n, std::uint32_t pass);

// The vector level in use: "avx512", "avx2" or "scalar" (the baseline build of the same lanes).
// Chosen once from the CPU, or from TANDEM_REDUCE_SIMD=avx512|avx2|scalar (a level the CPU lacks
// is refused with a usage_error).
std::string_view reduce_simd_level();
// Tests: run every later reduce_chunk at `level` ("" goes back to the automatic choice).
void force_reduce_simd(std::string_view level);

}  // namespace tandem::detail
