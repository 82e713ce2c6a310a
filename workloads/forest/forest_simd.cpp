#include "forest_simd.hpp"

#include <immintrin.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace tandem::forest_simd {

namespace {

static_assert(sizeof(kernels::forest_node<float>) == 12, "the gathers read threshold, flags and next at 0, 4, 8");

// Vectors in flight per level: independent gathers the core overlaps.
constexpr std::size_t max_rows = 64;

// The first 32 nodes of a tree (breadth first: its top levels, 5 of a full tree) are held in
// registers, and a step among them is a permute instead of three gathers; only rows deeper down
// gather their node. Measured on Zen 5 (100 trees of depth 6): 1.7x the rows/s of gathering every
// level.
__attribute__((target("avx512f"))) void walk512(const kernels::forest_node<float>* nodes, std::uint32_t n_nodes,
                                                const kernels::forest_tree& tree, const float* x, std::uint32_t F,
                                                std::size_t n, std::uint32_t* leaf) {
  constexpr int lanes = 16;
  const std::size_t vectors = (n + lanes - 1) / lanes;
  const auto* base = reinterpret_cast<const int*>(nodes);
  const __m512i feature_mask = _mm512_set1_epi32(int(kernels::forest_feature_mask));
  const __m512i leaf_bit = _mm512_set1_epi32(int(kernels::forest_leaf));
  const __m512i left_bit = _mm512_set1_epi32(int(kernels::forest_default_left));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i idx[max_rows / lanes], row[max_rows / lanes];
  for (std::size_t v = 0; v < vectors; ++v) {
    alignas(64) std::int32_t offsets[lanes];
    // Lanes past n read row 0 (valid memory) and are not stored.
    for (int l = 0; l < lanes; ++l) offsets[l] = v * lanes + l < n ? std::int32_t((v * lanes + l) * F) : 0;
    row[v] = _mm512_load_si512(offsets);
    idx[v] = _mm512_set1_epi32(int(tree.root));
  }
  // The table: nodes root .. root + 31 (those that exist), as three pairs of registers.
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i root = _mm512_set1_epi32(int(tree.root));
  __m512 t_thr[2];
  __m512i t_flags[2], t_next[2];
  for (int h = 0; h < 2; ++h) {
    const __m512i id = _mm512_add_epi32(root, _mm512_add_epi32(lane, _mm512_set1_epi32(16 * h)));
    const __mmask16 exists = _mm512_cmplt_epu32_mask(id, _mm512_set1_epi32(int(n_nodes)));
    const __m512i i3 = _mm512_add_epi32(_mm512_add_epi32(id, id), id);
    t_thr[h] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), exists, i3, base, 4);
    t_flags[h] = _mm512_mask_i32gather_epi32(leaf_bit, exists, i3, base + 1, 4);
    t_next[h] = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), exists, i3, base + 2, 4);
  }
  const __m512i table_size = _mm512_set1_epi32(32);
  // Vectors whose rows are all at leaves drop out; the walk ends when none is left (deep, uneven
  // trees: scikit-learn's Titanic forest is 25 levels deep, its rows' leaves ~10 on average).
  std::uint32_t live = (1u << vectors) - 1;
  for (std::uint32_t d = 0; d < tree.depth && live; ++d) {
    for (std::size_t v = 0; v < vectors; ++v) {
      if (!(live >> v & 1u)) continue;
      const __m512i rel = _mm512_sub_epi32(idx[v], root);
      const __mmask16 in_table = _mm512_cmplt_epu32_mask(rel, table_size);
      __m512 thr = _mm512_permutex2var_ps(t_thr[0], rel, t_thr[1]);
      __m512i flags = _mm512_permutex2var_epi32(t_flags[0], rel, t_flags[1]);
      __m512i next = _mm512_permutex2var_epi32(t_next[0], rel, t_next[1]);
      if (in_table != 0xFFFF) {
        const __mmask16 deep = __mmask16(~in_table);
        const __m512i i3 = _mm512_add_epi32(_mm512_add_epi32(idx[v], idx[v]), idx[v]);  // 12-byte nodes, scale 4
        thr = _mm512_mask_i32gather_ps(thr, deep, i3, base, 4);
        flags = _mm512_mask_i32gather_epi32(flags, deep, i3, base + 1, 4);
        next = _mm512_mask_i32gather_epi32(next, deep, i3, base + 2, 4);
      }
      const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF,
                                                 _mm512_add_epi32(row[v], _mm512_and_si512(flags, feature_mask)), x, 4);
      const __mmask16 nan = _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
      const __mmask16 le = _mm512_cmp_ps_mask(xv, thr, _CMP_LE_OQ);  // false for NaN
      const __mmask16 left = le | (nan & _mm512_test_epi32_mask(flags, left_bit));
      const __mmask16 at_leaf = _mm512_test_epi32_mask(flags, leaf_bit);
      const __m512i stepped = _mm512_mask_add_epi32(next, __mmask16(~left), next, one);
      idx[v] = _mm512_mask_mov_epi32(stepped, at_leaf, idx[v]);
      if (at_leaf == 0xFFFF) live &= ~(1u << v);
    }
  }
  for (std::size_t v = 0; v < vectors; ++v) {
    const __m512i i3 = _mm512_add_epi32(_mm512_add_epi32(idx[v], idx[v]), idx[v]);
    alignas(64) std::uint32_t out[lanes];
    _mm512_store_si512(out, _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), 0xFFFF, i3, base + 2, 4));
    const std::size_t k = n - v * lanes < lanes ? n - v * lanes : lanes;
    std::memcpy(leaf + v * lanes, out, k * sizeof(std::uint32_t));
  }
}

__attribute__((target("avx2"))) void walk256(const kernels::forest_node<float>* nodes, std::uint32_t n_nodes,
                                             const kernels::forest_tree& tree, const float* x, std::uint32_t F,
                                             std::size_t n, std::uint32_t* leaf) {
  constexpr int lanes = 8;
  const std::size_t vectors = (n + lanes - 1) / lanes;
  const auto* base = reinterpret_cast<const int*>(nodes);
  const __m256i feature_mask = _mm256_set1_epi32(int(kernels::forest_feature_mask));
  const __m256i leaf_bit = _mm256_set1_epi32(int(kernels::forest_leaf));
  const __m256i left_bit = _mm256_set1_epi32(int(kernels::forest_default_left));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  __m256i idx[max_rows / lanes], row[max_rows / lanes];
  for (std::size_t v = 0; v < vectors; ++v) {
    alignas(32) std::int32_t offsets[lanes];
    for (int l = 0; l < lanes; ++l) offsets[l] = v * lanes + l < n ? std::int32_t((v * lanes + l) * F) : 0;
    row[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(offsets));
    idx[v] = _mm256_set1_epi32(int(tree.root));
  }
  // As in walk512: the tree's first 16 nodes (4 levels of a full tree) in registers, two
  // permutes and a blend per field instead of a gather.
  const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256i root = _mm256_set1_epi32(int(tree.root));
  const __m256i seven = _mm256_set1_epi32(7);
  __m256 t_thr[2];
  __m256i t_flags[2], t_next[2];
  for (int h = 0; h < 2; ++h) {
    const __m256i id = _mm256_add_epi32(root, _mm256_add_epi32(lane, _mm256_set1_epi32(8 * h)));
    // Signed compare is enough: node indices stay below 2^31 / 3 on this path.
    const __m256i exists = _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n_nodes)), id);
    const __m256i i3 = _mm256_add_epi32(_mm256_add_epi32(id, id), id);
    t_thr[h] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), reinterpret_cast<const float*>(base), i3,
                                        _mm256_castsi256_ps(exists), 4);
    t_flags[h] = _mm256_mask_i32gather_epi32(leaf_bit, base + 1, i3, exists, 4);
    t_next[h] = _mm256_mask_i32gather_epi32(zero, base + 2, i3, exists, 4);
  }
  std::uint32_t live = (1u << vectors) - 1;
  for (std::uint32_t d = 0; d < tree.depth && live; ++d) {
    for (std::size_t v = 0; v < vectors; ++v) {
      if (!(live >> v & 1u)) continue;
      const __m256i rel = _mm256_sub_epi32(idx[v], root);
      const __m256i high = _mm256_cmpgt_epi32(rel, seven);  // rel in 8..15 (or deeper)
      __m256 thr = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t_thr[0], rel), _mm256_permutevar8x32_ps(t_thr[1], rel),
                                    _mm256_castsi256_ps(high));
      __m256i flags = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(t_flags[0], rel),
                                         _mm256_permutevar8x32_epi32(t_flags[1], rel), high);
      __m256i next = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(t_next[0], rel),
                                        _mm256_permutevar8x32_epi32(t_next[1], rel), high);
      const __m256i deep = _mm256_cmpgt_epi32(rel, _mm256_set1_epi32(15));
      if (!_mm256_testz_si256(deep, deep)) {
        const __m256i i3 = _mm256_add_epi32(_mm256_add_epi32(idx[v], idx[v]), idx[v]);
        thr = _mm256_mask_i32gather_ps(thr, reinterpret_cast<const float*>(base), i3, _mm256_castsi256_ps(deep), 4);
        flags = _mm256_mask_i32gather_epi32(flags, base + 1, i3, deep, 4);
        next = _mm256_mask_i32gather_epi32(next, base + 2, i3, deep, 4);
      }
      const __m256 xv =
          _mm256_i32gather_ps(x, _mm256_add_epi32(row[v], _mm256_and_si256(flags, feature_mask)), 4);
      const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
      const __m256i le = _mm256_castps_si256(_mm256_cmp_ps(xv, thr, _CMP_LE_OQ));
      const __m256i dl = _mm256_cmpgt_epi32(_mm256_and_si256(flags, left_bit), zero);
      const __m256i left = _mm256_or_si256(le, _mm256_and_si256(nan, dl));  // all ones where left
      // left is -1 where the row goes left, 0 where right: next + 1 + left is next + !left.
      const __m256i stepped = _mm256_add_epi32(_mm256_add_epi32(next, one), left);
      const __m256i at_leaf = _mm256_cmpeq_epi32(_mm256_and_si256(flags, leaf_bit), leaf_bit);
      idx[v] = _mm256_blendv_epi8(stepped, idx[v], at_leaf);
      if (_mm256_movemask_epi8(at_leaf) == -1) live &= ~(1u << v);
    }
  }
  for (std::size_t v = 0; v < vectors; ++v) {
    const __m256i i3 = _mm256_add_epi32(_mm256_add_epi32(idx[v], idx[v]), idx[v]);
    alignas(32) std::uint32_t out[lanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_i32gather_epi32(base + 2, i3, 4));
    const std::size_t k = n - v * lanes < lanes ? n - v * lanes : lanes;
    std::memcpy(leaf + v * lanes, out, k * sizeof(std::uint32_t));
  }
}

level best() noexcept {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return level::avx512;
  if (__builtin_cpu_supports("avx2")) return level::avx2;
  return level::scalar;
}

level from_env() noexcept {
  level l = best();
  if (const char* e = std::getenv("TANDEM_FOREST_SIMD")) {
    if (std::strcmp(e, "scalar") == 0) l = level::scalar;
    else if (std::strcmp(e, "avx2") == 0 && l >= level::avx2) l = level::avx2;
  }
  return l;
}

std::atomic<level>& current() {
  static std::atomic<level> l{from_env()};
  return l;
}

}  // namespace

const char* to_string(level l) noexcept {
  switch (l) {
    case level::scalar: return "scalar";
    case level::avx2: return "AVX2";
    case level::avx512: return "AVX-512";
  }
  return "?";
}

level active() noexcept { return current().load(std::memory_order_relaxed); }

level force(level l) noexcept {
  const level b = best();
  if (l > b) l = b;
  current().store(l, std::memory_order_relaxed);
  return l;
}

bool walk(const kernels::forest_node<float>* nodes, std::uint32_t n_nodes, const kernels::forest_tree& tree,
          const float* x, std::uint32_t F, std::size_t n, std::uint32_t* leaf) noexcept {
  // 32-bit gather offsets: rows * F must fit (the caller's blocks hold at most 8192 values).
  switch (active()) {
    case level::avx512: walk512(nodes, n_nodes, tree, x, F, n, leaf); return true;
    case level::avx2: walk256(nodes, n_nodes, tree, x, F, n, leaf); return true;
    case level::scalar: return false;
  }
  return false;
}

}  // namespace tandem::forest_simd
