// The level-by-level tree walk of float-input models over AVX-512 or AVX2 gathers: 16 (8) rows per
// vector, several vectors in flight. Chosen at run time from what the CPU has; TANDEM_FOREST_SIMD
// (scalar, avx2, avx512) picks a lower level, so tests and benchmarks can run every path.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/kernels/forest.hpp"

namespace tandem::forest_simd {

enum class level : std::uint8_t { scalar, avx2, avx512 };
const char* to_string(level l) noexcept;
// The level in use: the best this CPU has, or TANDEM_FOREST_SIMD when it names a lower one.
level active() noexcept;
// For tests: use `l` from now on (clamped to what the CPU has); returns the level now in use.
level force(level l) noexcept;

// Leaf value indices of n <= 64 rows (row r at x + r * F) in a tree without special splits, with a
// float-input model. Returns false when no vector path is active (the caller walks the rows itself).
// `n_nodes`: the model's node count (the walk reads a tree's first 32 nodes at once, never past it).
bool walk(const kernels::forest_node<float>* nodes, std::uint32_t n_nodes, const kernels::forest_tree& tree,
          const float* x, std::uint32_t F, std::size_t n, std::uint32_t* leaf) noexcept;

}  // namespace tandem::forest_simd
