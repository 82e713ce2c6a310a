// The level-by-level tree walk of float-input models over AVX-512 or AVX2: 16 (8) rows per
// vector, several vectors in flight. Chosen at run time from what the CPU has; TANDEM_FOREST_SIMD
// (scalar, avx2, avx512) picks a lower level, so tests and benchmarks can run every path.
//
// The walk reads a block's rows as columns (feature f of row r at xt[(f << shift) + r]): a
// tree's top three levels then load 16 rows of one feature at once instead of gathering them, and
// its first 128 nodes (16 with AVX2) sit in registers, so only the levels below gather. Trees with
// at most 64 leaves, float or double, are evaluated through their bitvector form instead
// (walk_bitvector): a load, a compare and an AND per split, no gathers.
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

// The most rows one walk takes.
inline constexpr std::size_t max_rows = 256;

// log2 of the column stride for n rows: the smallest power of two >= max(n, 16).
unsigned column_shift(std::size_t n) noexcept;

// Rows [0, n) (row r at x + r * F) as columns of stride 1 << shift; the rows from n up to the
// stride are zero, so a vector that runs past n reads defined values. xt has F << shift floats.
void to_columns(const float* x, std::uint32_t F, std::size_t n, unsigned shift, float* xt) noexcept;
void to_columns(const double* x, std::uint32_t F, std::size_t n, unsigned shift, double* xt) noexcept;

// Leaf value indices of n <= max_rows rows (or the values' bits, where the model's
// walk_leaf_values), in columns `xt` (from to_columns), in a tree without
// special splits, with a float-input model's 8-byte walk nodes (forest_view::walk_nodes and
// walk_feature_bits). Returns false when no vector path is active, the model has no walk nodes or
// the columns are too large for 32-bit offsets (the caller walks the rows itself). `n_nodes`: the
// model's node count (the walk reads a tree's first nodes at once, never past it).
bool walk(const kernels::forest_walk_node* nodes, std::uint32_t n_nodes, std::uint32_t feature_bits,
          const kernels::forest_tree& tree, const float* xt, unsigned shift, std::uint32_t F, std::size_t n,
          std::uint32_t* leaf) noexcept;

// As walk, through the tree's bitvector form (kernels::forest_bitvector_tree, leaves > 0): every
// split of the tree is one column load and one compare per 16 rows, with no gathers but the
// leaves'. AVX-512 (with its conflict-detection subset, for a leading-zero count; without it the
// AVX2 code) or AVX2; returns false at the scalar level, and the caller walks the tree instead.
bool walk_bitvector(const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<float>* splits,
                    const std::uint32_t* leaves, const float* xt, unsigned shift, std::uint32_t F, std::size_t n,
                    std::uint32_t* leaf) noexcept;
// Double-input models (LightGBM): 8 rows per AVX-512 vector (AVX2: 4), each row's leaves in one
// 64-bit lane.
bool walk_bitvector(const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<double>* splits,
                    const std::uint32_t* leaves, const double* xt, unsigned shift, std::uint32_t F, std::size_t n,
                    std::uint32_t* leaf) noexcept;

// acc[r] += values[leaf[r]] for r < n (one value per leaf, one margin per row), with gathers.
// Returns false when no vector path is active (the caller adds them itself).
bool add_leaf_values(const float* values, const std::uint32_t* leaf, std::size_t n, float* acc) noexcept;
bool add_leaf_values(const double* values, const std::uint32_t* leaf, std::size_t n, double* acc) noexcept;

}  // namespace tandem::forest_simd
