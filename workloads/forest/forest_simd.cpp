#include "forest_simd.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace tandem::forest_simd {

namespace {

using wnode = kernels::forest_walk_node;
using kernels::forest_default_left;
using kernels::forest_feature_mask;
using kernels::forest_leaf;

// Gathers, extracts and shifts take their masked forms with a zero source even with every lane on: GCC 12
// warns that the unmasked forms' undefined source may be used uninitialised.

// Leaf indices of the rows from `leaf` on: a whole vector's store, or the rows below n alone for the
// last, short vector (a memcpy of a length known only at run time costs as much as the gather
// before it).
__attribute__((target("avx512f"), always_inline)) inline void store_leaves(std::uint32_t* leaf, __m512i v, std::size_t rows) {
  if (rows >= 16) return _mm512_storeu_si512(leaf, v);
  _mm512_mask_storeu_epi32(leaf, __mmask16((1u << rows) - 1), v);
}
__attribute__((target("avx2"), always_inline)) inline void store_leaves(std::uint32_t* leaf, __m256i v, std::size_t rows) {
  if (rows >= 8) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(leaf), v);
  alignas(32) std::uint32_t out[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), v);
  std::memcpy(leaf, out, rows * sizeof(std::uint32_t));
}

// Vectors walked together, level by level: independent chains of loads the core overlaps.
constexpr std::size_t group = 8;

// The fields of a walk node's word (kernels::forest_walk_node): the feature in the low
// feature_bits bits, then the left child relative to the tree's root.
struct word_fields {
  unsigned feature_bits;
  std::uint32_t feature_mask, child_mask;
  explicit word_fields(unsigned bits)
      : feature_bits(bits), feature_mask((1u << bits) - 1), child_mask((1u << (30 - bits)) - 1) {}
  std::uint32_t feature(std::uint32_t word) const { return word & feature_mask; }
  std::uint32_t child(std::uint32_t word) const { return (word >> feature_bits) & child_mask; }
};

// A tree's top levels, where a vector of rows loads its inputs instead of gathering them: the
// split nodes of levels 0, 1 and 2 (at most 1 + 2 + 4), relative to the root, each with its
// feature's column. A row at one of these levels is at one of these nodes (or at a leaf), so a
// load per node and a select give every lane its value. Deeper levels have more nodes than a
// gather costs.
struct top_levels {
  static constexpr std::uint32_t levels = 3;
  std::uint32_t rel[(1u << levels) - 1];
  const float* column[(1u << levels) - 1];
  std::uint32_t start[levels + 1];
};

top_levels direct_levels(const wnode* t, const word_fields& wf, const float* xt, unsigned shift) noexcept {
  top_levels c{};
  std::uint32_t n = 0;
  auto add = [&](std::uint32_t rel) {
    const std::uint32_t w = t[rel].word;
    if (w & forest_leaf) return;
    c.rel[n] = rel;
    c.column[n] = xt + (std::size_t(wf.feature(w)) << shift);
    ++n;
  };
  c.start[0] = 0;
  add(0);
  c.start[1] = n;
  for (std::uint32_t d = 1; d < top_levels::levels; ++d) {
    for (std::uint32_t j = c.start[d - 1]; j < c.start[d]; ++j) {
      const std::uint32_t left = wf.child(t[c.rel[j]].word);  // children are adjacent
      add(left);
      add(left + 1);
    }
    c.start[d + 1] = n;
  }
  return c;
}

// The first 128 nodes of a tree as registers: their bits (threshold, or a leaf's value index) and
// words, eight registers of 16 each. `base` is the tree's root node, for the nodes below the table.
struct table512 {
  static constexpr int nodes = 128;
  __m512i bits[nodes / 16], word[nodes / 16];
  const long long* base;
};

// One field of node `r` of each lane in the table (lanes below it get a meaningless value): a
// permute per 32 nodes, only as far as some lane is.
__attribute__((target("avx512f"), always_inline)) inline __m512i from_table(const __m512i (&field)[table512::nodes / 16],
                                                                            __m512i r) {
  __m512i v = _mm512_permutex2var_epi32(field[0], r, field[1]);
  for (int q = 1; q < table512::nodes / 32; ++q) {
    const __mmask16 there = _mm512_cmpge_epu32_mask(r, _mm512_set1_epi32(32 * q));
    if (there == 0) break;
    v = _mm512_mask_mov_epi32(v, there, _mm512_permutex2var_epi32(field[2 * q], r, field[2 * q + 1]));
  }
  return v;
}

// The threshold and word of node `r` (relative to the root) of each lane: from the table (not
// read when every lane is below it), and gathered for the lanes below it.
__attribute__((target("avx512f"), always_inline)) inline void fetch512(const table512& t, __m512i r, __m512& thr,
                                                                      __m512i& word) {
  const __mmask16 deep = _mm512_cmpge_epu32_mask(r, _mm512_set1_epi32(table512::nodes));
  thr = _mm512_setzero_ps();
  word = _mm512_setzero_si512();
  if (deep != 0xFFFF) {
    thr = _mm512_castsi512_ps(from_table(t.bits, r));
    word = from_table(t.word, r);
  }
  if (deep == 0) return;
  // Whole 8-byte nodes: two gathers of 8 pairs, and two permutes split the pairs.
  const __m512i lo = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), __mmask8(deep),
                                                 _mm512_maskz_extracti64x4_epi64(0xFF, r, 0), t.base, 8);
  const __m512i hi = _mm512_mask_i32gather_epi64(_mm512_setzero_si512(), __mmask8(deep >> 8),
                                                 _mm512_maskz_extracti64x4_epi64(0xFF, r, 1), t.base, 8);
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  thr = _mm512_mask_mov_ps(thr, deep, _mm512_castsi512_ps(_mm512_permutex2var_epi32(lo, even, hi)));
  word = _mm512_mask_mov_epi32(word, deep, _mm512_permutex2var_epi32(lo, odd, hi));
}

// The bits of node `r` of each lane: at a leaf, its first value's index (or its value).
__attribute__((target("avx512f"), always_inline)) inline __m512i leaf512(const table512& t, __m512i r) {
  const __mmask16 deep = _mm512_cmpge_epu32_mask(r, _mm512_set1_epi32(table512::nodes));
  const __m512i bits = deep == 0xFFFF ? _mm512_setzero_si512() : from_table(t.bits, r);
  if (deep == 0) return bits;
  return _mm512_mask_i32gather_epi32(bits, deep, r, t.base, 8);
}

// One vector of rows per step: the node of each lane from the 128-node table (a permute and a
// select per 32 nodes and field) or, below it, gathered whole; the input loaded (top levels) or gathered; then
// each lane steps to its child. `rel` is the lane's node relative to the root, as are the
// children in the words.
__attribute__((target("avx512f"))) void walk512(const wnode* nodes, std::uint32_t n_nodes, const word_fields& wf,
                                                const kernels::forest_tree& tree, const float* xt, unsigned shift,
                                                std::size_t n, std::uint32_t* leaf) {
  constexpr int lanes = 16;
  const wnode* t = nodes + tree.root;
  const auto* ints = reinterpret_cast<const int*>(t);

  // The table: the tree's first nodes (those that exist), masked loads split into bits and words.
  constexpr std::uint32_t loads = table512::nodes / 8;
  const std::uint32_t have = 2 * std::min<std::uint32_t>(table512::nodes, n_nodes - tree.root);
  __m512i raw[loads];
  for (std::uint32_t k = 0; k < loads; ++k) {
    const std::uint32_t lo = 16 * k;
    const __mmask16 m = have <= lo ? __mmask16(0) : have >= lo + 16 ? __mmask16(0xFFFF) : __mmask16((1u << (have - lo)) - 1);
    raw[k] = _mm512_maskz_loadu_epi32(m, ints + lo);
  }
  table512 table;
  table.base = reinterpret_cast<const long long*>(t);
  {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    for (std::uint32_t h = 0; h < loads / 2; ++h) {
      table.bits[h] = _mm512_permutex2var_epi32(raw[2 * h], even, raw[2 * h + 1]);
      table.word[h] = _mm512_permutex2var_epi32(raw[2 * h], odd, raw[2 * h + 1]);
    }
  }

  const top_levels top = direct_levels(t, wf, xt, shift);
  const __m512i feature_mask = _mm512_set1_epi32(int(wf.feature_mask));
  const __m512i child_mask = _mm512_set1_epi32(int(wf.child_mask));
  const __m512i leaf_bit = _mm512_set1_epi32(int(forest_leaf));
  const __m512i left_bit = _mm512_set1_epi32(int(forest_default_left));
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m128i sh = _mm_cvtsi32_si128(int(shift));
  const __m128i fb = _mm_cvtsi32_si128(int(wf.feature_bits));

  const std::size_t vectors = (n + lanes - 1) / lanes;
  for (std::size_t g0 = 0; g0 < vectors; g0 += group) {
    const std::size_t gv = std::min(group, vectors - g0);
    __m512i rel[group];
    for (std::size_t v = 0; v < gv; ++v) rel[v] = _mm512_setzero_si512();
    // Vectors whose rows are all at leaves drop out; the walk ends when none is left (deep, uneven
    // trees: scikit-learn's Titanic forest is 25 levels deep, its rows' leaves ~10 on average).
    std::uint32_t live = (1u << gv) - 1;
    for (std::uint32_t d = 0; d < tree.depth && live; ++d) {
      for (std::size_t v = 0; v < gv; ++v) {
        if (!(live >> v & 1u)) continue;
        const std::size_t r0 = (g0 + v) * lanes;
        const __m512i r = rel[v];
        __m512 thr;
        __m512i word;
        fetch512(table, r, thr, word);
        __m512 xv;
        if (d < top_levels::levels) {
          // Lanes at a leaf match no node and keep 0: they do not move.
          xv = _mm512_setzero_ps();
          for (std::uint32_t j = top.start[d]; j < top.start[d + 1]; ++j)
            xv = _mm512_mask_loadu_ps(xv, _mm512_cmpeq_epi32_mask(r, _mm512_set1_epi32(int(top.rel[j]))),
                                      top.column[j] + r0);
        } else {
          const __m512i col = _mm512_maskz_sll_epi32(0xFFFF, _mm512_and_si512(word, feature_mask), sh);
          xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF,
                                         _mm512_add_epi32(col, _mm512_add_epi32(lane, _mm512_set1_epi32(int(r0)))), xt, 4);
        }
        const __mmask16 nan = _mm512_cmp_ps_mask(xv, xv, _CMP_UNORD_Q);
        const __mmask16 le = _mm512_cmp_ps_mask(xv, thr, _CMP_LE_OQ);  // false for NaN
        const __mmask16 left = le | (nan & _mm512_test_epi32_mask(word, left_bit));
        const __mmask16 at_leaf = _mm512_test_epi32_mask(word, leaf_bit);
        const __m512i next = _mm512_and_si512(_mm512_maskz_srl_epi32(0xFFFF, word, fb), child_mask);
        const __m512i stepped = _mm512_mask_add_epi32(next, __mmask16(~left), next, one);
        rel[v] = _mm512_mask_mov_epi32(stepped, at_leaf, r);
        if (at_leaf == 0xFFFF) live &= ~(1u << v);
      }
    }
    for (std::size_t v = 0; v < gv; ++v) {
      const std::size_t r0 = (g0 + v) * lanes;
      store_leaves(leaf + r0, leaf512(table, rel[v]), n - r0);
    }
  }
}

// The bitvector walk, 16 rows per vector and G vectors together (G fixed, so the rows' masks
// stay in registers): for each split, each vector loads its rows' feature column and compares it
// with the threshold; the rows that go right clear the split's left leaves from their masks, kept
// as two registers of 16 32-bit halves (leaves 0-31, 32-63). The lowest bit left is each row's
// leaf. Runs that send NaN right compare "not <=", the others ">": the scalar walk's answer for
// every input.
template <int G, int Predicate, bool Low, bool High>
__attribute__((target("avx512f"), always_inline)) inline void clear_left_leaves(
    const kernels::forest_bitvector_split<float>* s, std::uint32_t first, std::uint32_t last, const float* xt, unsigned shift,
    std::size_t r0, __m512i (&low)[G], __m512i (&high)[G]) {
  for (std::uint32_t i = first; i < last; ++i) {
    const __m512 thr = _mm512_set1_ps(s[i].threshold);
    const __m512i keep_low = _mm512_set1_epi32(int(~std::uint32_t(s[i].left_leaves)));
    const __m512i keep_high = _mm512_set1_epi32(int(~std::uint32_t(s[i].left_leaves >> 32)));
    const float* col = xt + (std::size_t(s[i].feature) << shift) + r0;
    for (int v = 0; v < G; ++v) {
      const __mmask16 right = _mm512_cmp_ps_mask(_mm512_loadu_ps(col + 16 * v), thr, Predicate);
      if constexpr (Low) low[v] = _mm512_mask_and_epi32(low[v], right, low[v], keep_low);
      if constexpr (High) high[v] = _mm512_mask_and_epi32(high[v], right, high[v], keep_high);
    }
  }
}

template <int G>
__attribute__((target("avx512f,avx512cd"), always_inline)) inline void bitvector_vectors(
    const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<float>* s, const std::uint32_t* leaves,
    const float* xt, unsigned shift, std::size_t r0, std::size_t n, std::uint32_t* leaf) {
  __m512i low[G], high[G];
  for (int v = 0; v < G; ++v) low[v] = high[v] = _mm512_set1_epi32(-1);
  const std::uint8_t* e = tree.end;
  clear_left_leaves<G, _CMP_NLE_UQ, true, false>(s, 0, e[0], xt, shift, r0, low, high);
  clear_left_leaves<G, _CMP_NLE_UQ, false, true>(s, e[0], e[1], xt, shift, r0, low, high);
  clear_left_leaves<G, _CMP_NLE_UQ, true, true>(s, e[1], e[2], xt, shift, r0, low, high);
  clear_left_leaves<G, _CMP_GT_OQ, true, false>(s, e[2], e[3], xt, shift, r0, low, high);
  clear_left_leaves<G, _CMP_GT_OQ, false, true>(s, e[3], e[4], xt, shift, r0, low, high);
  clear_left_leaves<G, _CMP_GT_OQ, true, true>(s, e[4], e[5], xt, shift, r0, low, high);
  const __m512i zero = _mm512_setzero_si512();
  for (int v = 0; v < G; ++v) {
    // The lowest set bit's index, 31 - lzcnt(p & -p) in the low half, else 63 - that in the high.
    const __m512i lo = _mm512_and_si512(low[v], _mm512_sub_epi32(zero, low[v]));
    const __m512i hi = _mm512_and_si512(high[v], _mm512_sub_epi32(zero, high[v]));
    const __m512i index = _mm512_mask_sub_epi32(_mm512_sub_epi32(_mm512_set1_epi32(63), _mm512_lzcnt_epi32(hi)),
                                                _mm512_test_epi32_mask(lo, lo), _mm512_set1_epi32(31),
                                                _mm512_lzcnt_epi32(lo));
    const std::size_t rv = r0 + std::size_t(v) * 16;
    store_leaves(leaf + rv, _mm512_mask_i32gather_epi32(zero, 0xFFFF, index, leaves, 4), n - rv);
  }
}

__attribute__((target("avx512f,avx512cd"))) void bitvector512(const kernels::forest_bitvector_tree& tree,
                                                              const kernels::forest_bitvector_split<float>* splits,
                                                              const std::uint32_t* leaves, const float* xt,
                                                              unsigned shift, std::size_t n, std::uint32_t* leaf) {
  const kernels::forest_bitvector_split<float>* s = splits + tree.first_split;
  const std::uint32_t* tree_leaves = leaves + tree.first_leaf;
  std::size_t v = 0;
  const std::size_t vectors = (n + 15) / 16;
  for (; v + 8 <= vectors; v += 8) bitvector_vectors<8>(tree, s, tree_leaves, xt, shift, v * 16, n, leaf);
  if (v + 4 <= vectors) {
    bitvector_vectors<4>(tree, s, tree_leaves, xt, shift, v * 16, n, leaf);
    v += 4;
  }
  if (v + 2 <= vectors) {
    bitvector_vectors<2>(tree, s, tree_leaves, xt, shift, v * 16, n, leaf);
    v += 2;
  }
  if (v < vectors) bitvector_vectors<1>(tree, s, tree_leaves, xt, shift, v * 16, n, leaf);
}

// Double comparisons (LightGBM): 8 rows per vector, each row's 64 possible leaves in one 64-bit
// lane, so every split is one masked AND per vector whichever leaves it touches; the runs only
// matter for NaN (the first three send it right).
template <int G, int Predicate>
__attribute__((target("avx512f"), always_inline)) inline void clear_left_leaves_pd(
    const kernels::forest_bitvector_split<double>* s, std::uint32_t first, std::uint32_t last, const double* xt,
    unsigned shift, std::size_t r0, __m512i (&possible)[G]) {
  for (std::uint32_t i = first; i < last; ++i) {
    const __m512d thr = _mm512_set1_pd(s[i].threshold);
    const __m512i keep = _mm512_set1_epi64(std::int64_t(~s[i].left_leaves));
    const double* col = xt + (std::size_t(s[i].feature) << shift) + r0;
    for (int v = 0; v < G; ++v) {
      const __mmask8 right = _mm512_cmp_pd_mask(_mm512_loadu_pd(col + 8 * v), thr, Predicate);
      possible[v] = _mm512_mask_and_epi64(possible[v], right, possible[v], keep);
    }
  }
}

template <int G>
__attribute__((target("avx512f,avx512cd"), always_inline)) inline void bitvector_vectors_pd(
    const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<double>* s,
    const std::uint32_t* leaves, const double* xt, unsigned shift, std::size_t r0, std::size_t n, std::uint32_t* leaf) {
  __m512i possible[G];
  for (int v = 0; v < G; ++v) possible[v] = _mm512_set1_epi64(-1);
  clear_left_leaves_pd<G, _CMP_NLE_UQ>(s, 0, tree.end[2], xt, shift, r0, possible);
  clear_left_leaves_pd<G, _CMP_GT_OQ>(s, tree.end[2], tree.end[5], xt, shift, r0, possible);
  for (int v = 0; v < G; ++v) {
    const __m512i lowest = _mm512_and_si512(possible[v], _mm512_sub_epi64(_mm512_setzero_si512(), possible[v]));
    const __m512i index = _mm512_sub_epi64(_mm512_set1_epi64(63), _mm512_lzcnt_epi64(lowest));
    const std::size_t rv = r0 + std::size_t(v) * 8;
    store_leaves(leaf + rv, _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), 0xFF, index, leaves, 4), n - rv);
  }
}

__attribute__((target("avx512f,avx512cd"))) void bitvector512_pd(const kernels::forest_bitvector_tree& tree,
                                                                 const kernels::forest_bitvector_split<double>* splits,
                                                                 const std::uint32_t* leaves, const double* xt,
                                                                 unsigned shift, std::size_t n, std::uint32_t* leaf) {
  const kernels::forest_bitvector_split<double>* s = splits + tree.first_split;
  const std::uint32_t* tree_leaves = leaves + tree.first_leaf;
  std::size_t v = 0;
  const std::size_t vectors = (n + 7) / 8;
  for (; v + 16 <= vectors; v += 16) bitvector_vectors_pd<16>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
  for (; v + 4 <= vectors; v += 4) bitvector_vectors_pd<4>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
  for (; v < vectors; ++v) bitvector_vectors_pd<1>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
}

// The same with AVX2: 4 rows per vector, the compare's all-ones lanes clearing the left leaves.
template <int G, int Predicate>
__attribute__((target("avx2"), always_inline)) inline void clear_left_leaves_pd256(
    const kernels::forest_bitvector_split<double>* s, std::uint32_t first, std::uint32_t last, const double* xt,
    unsigned shift, std::size_t r0, __m256i (&possible)[G]) {
  for (std::uint32_t i = first; i < last; ++i) {
    const __m256d thr = _mm256_set1_pd(s[i].threshold);
    const __m256i left = _mm256_set1_epi64x(std::int64_t(s[i].left_leaves));
    const double* col = xt + (std::size_t(s[i].feature) << shift) + r0;
    for (int v = 0; v < G; ++v) {
      const __m256i right = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_loadu_pd(col + 4 * v), thr, Predicate));
      possible[v] = _mm256_andnot_si256(_mm256_and_si256(right, left), possible[v]);
    }
  }
}

template <int G>
__attribute__((target("avx2"), always_inline)) inline void bitvector_vectors_pd256(
    const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<double>* s,
    const std::uint32_t* leaves, const double* xt, unsigned shift, std::size_t r0, std::size_t n, std::uint32_t* leaf) {
  __m256i possible[G];
  for (int v = 0; v < G; ++v) possible[v] = _mm256_set1_epi64x(-1);
  clear_left_leaves_pd256<G, _CMP_NLE_UQ>(s, 0, tree.end[2], xt, shift, r0, possible);
  clear_left_leaves_pd256<G, _CMP_GT_OQ>(s, tree.end[2], tree.end[5], xt, shift, r0, possible);
  for (int v = 0; v < G; ++v) {
    alignas(32) std::uint64_t p[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(p), possible[v]);
    const std::size_t rv = r0 + std::size_t(v) * 4;
    const std::size_t rows = std::min<std::size_t>(4, n - rv);
    for (std::size_t r = 0; r < rows; ++r) leaf[rv + r] = leaves[__builtin_ctzll(p[r])];
  }
}

__attribute__((target("avx2"))) void bitvector256_pd(const kernels::forest_bitvector_tree& tree,
                                                     const kernels::forest_bitvector_split<double>* splits,
                                                     const std::uint32_t* leaves, const double* xt, unsigned shift,
                                                     std::size_t n, std::uint32_t* leaf) {
  const kernels::forest_bitvector_split<double>* s = splits + tree.first_split;
  const std::uint32_t* tree_leaves = leaves + tree.first_leaf;
  std::size_t v = 0;
  const std::size_t vectors = (n + 3) / 4;
  for (; v + 8 <= vectors; v += 8) bitvector_vectors_pd256<8>(tree, s, tree_leaves, xt, shift, v * 4, n, leaf);
  for (; v < vectors; ++v) bitvector_vectors_pd256<1>(tree, s, tree_leaves, xt, shift, v * 4, n, leaf);
}

// As clear_left_leaves with 8 rows per vector, one 32-bit half of the rows' masks at a time (`High`:
// leaves 32-63): the compare gives all-ones lanes for the rows that go right, and the masks lose
// the split's left leaves of that half there (and-not).
template <int G, int Predicate, bool High>
__attribute__((target("avx2"), always_inline)) inline void clear_left_leaves256(
    const kernels::forest_bitvector_split<float>* s, std::uint32_t first, std::uint32_t last, const float* xt, unsigned shift,
    std::size_t r0, __m256i (&possible)[G]) {
  for (std::uint32_t i = first; i < last; ++i) {
    const __m256 thr = _mm256_set1_ps(s[i].threshold);
    const __m256i left = _mm256_set1_epi32(int(std::uint32_t(High ? s[i].left_leaves >> 32 : s[i].left_leaves)));
    const float* col = xt + (std::size_t(s[i].feature) << shift) + r0;
    for (int v = 0; v < G; ++v) {
      const __m256i right = _mm256_castps_si256(_mm256_cmp_ps(_mm256_loadu_ps(col + 8 * v), thr, Predicate));
      possible[v] = _mm256_andnot_si256(_mm256_and_si256(right, left), possible[v]);
    }
  }
}

// The index of each lane's lowest set bit (0-31; meaningless where the lane is 0): the lowest bit
// alone, as a float, is a power of two whose exponent is the index (bit 31 converts to -2^31,
// the same exponent).
__attribute__((target("avx2"), always_inline)) inline __m256i lowest_bit256(__m256i x) {
  const __m256i alone = _mm256_and_si256(x, _mm256_sub_epi32(_mm256_setzero_si256(), x));
  const __m256i biased = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(alone)), 23),
                                          _mm256_set1_epi32(0xFF));
  return _mm256_sub_epi32(biased, _mm256_set1_epi32(127));
}

// AVX2 has 16 vector registers: the masks of G = 8 vectors (64 rows) fit one half at a time. So a
// tree is taken in two passes, leaves 0-31 then 32-63; a split whose left leaves lie in both halves
// (at most one per level, on the path to the boundary between leaf 31 and 32) is evaluated in each.
// Each row's leaf is the lowest bit of its low half if any is left, else 32 + the high half's.
template <int G>
__attribute__((target("avx2"), always_inline)) inline void bitvector_vectors256(
    const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<float>* s, const std::uint32_t* leaves,
    const float* xt, unsigned shift, std::size_t r0, std::size_t n, std::uint32_t* leaf) {
  const std::uint8_t* e = tree.end;
  __m256i possible[G];
  for (int v = 0; v < G; ++v) possible[v] = _mm256_set1_epi32(-1);
  clear_left_leaves256<G, _CMP_NLE_UQ, false>(s, 0, e[0], xt, shift, r0, possible);
  clear_left_leaves256<G, _CMP_NLE_UQ, false>(s, e[1], e[2], xt, shift, r0, possible);
  clear_left_leaves256<G, _CMP_GT_OQ, false>(s, e[2], e[3], xt, shift, r0, possible);
  clear_left_leaves256<G, _CMP_GT_OQ, false>(s, e[4], e[5], xt, shift, r0, possible);
  __m256i index[G], low_empty[G];
  for (int v = 0; v < G; ++v) {
    index[v] = lowest_bit256(possible[v]);
    low_empty[v] = _mm256_cmpeq_epi32(possible[v], _mm256_setzero_si256());
    possible[v] = _mm256_set1_epi32(-1);
  }
  clear_left_leaves256<G, _CMP_NLE_UQ, true>(s, e[0], e[2], xt, shift, r0, possible);
  clear_left_leaves256<G, _CMP_GT_OQ, true>(s, e[3], e[5], xt, shift, r0, possible);
  for (int v = 0; v < G; ++v) {
    const __m256i high = _mm256_add_epi32(lowest_bit256(possible[v]), _mm256_set1_epi32(32));
    // The and keeps the gather inside the tree's 64 leaves whatever the lanes past n hold.
    const __m256i i = _mm256_and_si256(_mm256_blendv_epi8(index[v], high, low_empty[v]), _mm256_set1_epi32(63));
    const std::size_t rv = r0 + std::size_t(v) * 8;
    store_leaves(leaf + rv, _mm256_i32gather_epi32(reinterpret_cast<const int*>(leaves), i, 4), n - rv);
  }
}

__attribute__((target("avx2"))) void bitvector256(const kernels::forest_bitvector_tree& tree,
                                                      const kernels::forest_bitvector_split<float>* splits,
                                                      const std::uint32_t* leaves, const float* xt, unsigned shift,
                                                      std::size_t n, std::uint32_t* leaf) {
  const kernels::forest_bitvector_split<float>* s = splits + tree.first_split;
  const std::uint32_t* tree_leaves = leaves + tree.first_leaf;
  std::size_t v = 0;
  const std::size_t vectors = (n + 7) / 8;
  for (; v + 8 <= vectors; v += 8) bitvector_vectors256<8>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
  if (v + 4 <= vectors) {
    bitvector_vectors256<4>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
    v += 4;
  }
  if (v + 2 <= vectors) {
    bitvector_vectors256<2>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
    v += 2;
  }
  if (v < vectors) bitvector_vectors256<1>(tree, s, tree_leaves, xt, shift, v * 8, n, leaf);
}

// The first 16 nodes of a tree as registers (two of 8 per field).
struct table256 {
  __m256 thr[2];
  __m256i word[2];
  const int* base;
};

// As fetch512; a node below the table is two gathers (AVX2 has no two-register permute to split
// pairs with). Relative node indices stay below 2^30, so signed compares are enough.
__attribute__((target("avx2"), always_inline)) inline void fetch256(const table256& t, __m256i r, __m256& thr,
                                                                   __m256i& word) {
  const __m256i high = _mm256_cmpgt_epi32(r, _mm256_set1_epi32(7));  // rel in 8..15 (or deeper)
  thr = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.thr[0], r), _mm256_permutevar8x32_ps(t.thr[1], r),
                         _mm256_castsi256_ps(high));
  word = _mm256_blendv_epi8(_mm256_permutevar8x32_epi32(t.word[0], r), _mm256_permutevar8x32_epi32(t.word[1], r),
                            high);
  const __m256i deep = _mm256_cmpgt_epi32(r, _mm256_set1_epi32(15));
  if (_mm256_testz_si256(deep, deep)) return;
  thr = _mm256_mask_i32gather_ps(thr, reinterpret_cast<const float*>(t.base), r, _mm256_castsi256_ps(deep), 8);
  word = _mm256_mask_i32gather_epi32(word, t.base + 1, r, deep, 8);
}

// As leaf512.
__attribute__((target("avx2"), always_inline)) inline __m256i leaf256(const table256& t, __m256i r) {
  const __m256i high = _mm256_cmpgt_epi32(r, _mm256_set1_epi32(7));
  const __m256i bits = _mm256_castps_si256(_mm256_blendv_ps(_mm256_permutevar8x32_ps(t.thr[0], r),
                                                            _mm256_permutevar8x32_ps(t.thr[1], r),
                                                            _mm256_castsi256_ps(high)));
  const __m256i deep = _mm256_cmpgt_epi32(r, _mm256_set1_epi32(15));
  if (_mm256_testz_si256(deep, deep)) return bits;
  return _mm256_mask_i32gather_epi32(bits, t.base, r, deep, 8);
}

// As walk512 with 8 lanes: a 16-node table (two permutes and a blend per field), the same three
// top levels loaded, deeper levels gathered. The table is built with scalar loads.
__attribute__((target("avx2"))) void walk256(const wnode* nodes, std::uint32_t n_nodes, const word_fields& wf,
                                             const kernels::forest_tree& tree, const float* xt, unsigned shift,
                                             std::size_t n, std::uint32_t* leaf) {
  constexpr int lanes = 8;
  const wnode* t = nodes + tree.root;

  alignas(32) std::uint32_t bits_s[16], word_s[16];
  const std::uint32_t have = std::min<std::uint32_t>(16, n_nodes - tree.root);
  for (std::uint32_t j = 0; j < 16; ++j) {
    const wnode nd = j < have ? t[j] : wnode{0, forest_leaf};
    bits_s[j] = nd.bits;
    word_s[j] = nd.word;
  }
  table256 table;
  table.base = reinterpret_cast<const int*>(t);
  for (int h = 0; h < 2; ++h) {
    table.thr[h] = _mm256_load_ps(reinterpret_cast<const float*>(bits_s + 8 * h));
    table.word[h] = _mm256_load_si256(reinterpret_cast<const __m256i*>(word_s + 8 * h));
  }

  const top_levels top = direct_levels(t, wf, xt, shift);
  const __m256i feature_mask = _mm256_set1_epi32(int(wf.feature_mask));
  const __m256i child_mask = _mm256_set1_epi32(int(wf.child_mask));
  const __m256i leaf_bit = _mm256_set1_epi32(int(forest_leaf));
  const __m256i left_bit = _mm256_set1_epi32(int(forest_default_left));
  const __m256i zero = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m128i sh = _mm_cvtsi32_si128(int(shift));
  const __m128i fb = _mm_cvtsi32_si128(int(wf.feature_bits));

  const std::size_t vectors = (n + lanes - 1) / lanes;
  for (std::size_t g0 = 0; g0 < vectors; g0 += group) {
    const std::size_t gv = std::min(group, vectors - g0);
    __m256i rel[group];
    for (std::size_t v = 0; v < gv; ++v) rel[v] = zero;
    std::uint32_t live = (1u << gv) - 1;
    for (std::uint32_t d = 0; d < tree.depth && live; ++d) {
      for (std::size_t v = 0; v < gv; ++v) {
        if (!(live >> v & 1u)) continue;
        const std::size_t r0 = (g0 + v) * lanes;
        const __m256i r = rel[v];
        __m256 thr;
        __m256i word;
        fetch256(table, r, thr, word);
        __m256 xv;
        if (d < top_levels::levels) {
          xv = _mm256_setzero_ps();
          for (std::uint32_t j = top.start[d]; j < top.start[d + 1]; ++j)
            xv = _mm256_blendv_ps(xv, _mm256_loadu_ps(top.column[j] + r0),
                                  _mm256_castsi256_ps(_mm256_cmpeq_epi32(r, _mm256_set1_epi32(int(top.rel[j])))));
        } else {
          const __m256i col = _mm256_sll_epi32(_mm256_and_si256(word, feature_mask), sh);
          xv = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), xt,
                                       _mm256_add_epi32(col, _mm256_add_epi32(lane, _mm256_set1_epi32(int(r0)))),
                                       _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4);
        }
        const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(xv, xv, _CMP_UNORD_Q));
        const __m256i le = _mm256_castps_si256(_mm256_cmp_ps(xv, thr, _CMP_LE_OQ));
        const __m256i dl = _mm256_cmpgt_epi32(_mm256_and_si256(word, left_bit), zero);
        const __m256i left = _mm256_or_si256(le, _mm256_and_si256(nan, dl));  // all ones where left
        // left is -1 where the row goes left, 0 where right: next + 1 + left is next + !left.
        const __m256i next = _mm256_and_si256(_mm256_srl_epi32(word, fb), child_mask);
        const __m256i stepped = _mm256_add_epi32(_mm256_add_epi32(next, one), left);
        const __m256i at_leaf = _mm256_cmpeq_epi32(_mm256_and_si256(word, leaf_bit), leaf_bit);
        rel[v] = _mm256_blendv_epi8(stepped, r, at_leaf);
        if (_mm256_movemask_epi8(at_leaf) == -1) live &= ~(1u << v);
      }
    }
    for (std::size_t v = 0; v < gv; ++v) {
      const std::size_t r0 = (g0 + v) * lanes;
      store_leaves(leaf + r0, leaf256(table, rel[v]), n - r0);
    }
  }
}

// acc[r] += values[leaf[r]] for r < n, 16 (8) rows per gather: the same additions, row by row,
// as the scalar loop.
template <class S>
__attribute__((target("avx512f"))) void add512(const S* values, const std::uint32_t* leaf, std::size_t n, S* acc) {
  std::size_t r = 0;
  if constexpr (std::is_same_v<S, float>) {
    for (; r + 16 <= n; r += 16) {
      const __m512i i = _mm512_loadu_si512(leaf + r);
      _mm512_storeu_ps(acc + r, _mm512_add_ps(_mm512_loadu_ps(acc + r), _mm512_mask_i32gather_ps(_mm512_setzero_ps(), 0xFFFF, i, values, 4)));
    }
  } else {
    for (; r + 8 <= n; r += 8) {
      const __m256i i = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(leaf + r));
      _mm512_storeu_pd(acc + r, _mm512_add_pd(_mm512_loadu_pd(acc + r), _mm512_mask_i32gather_pd(_mm512_setzero_pd(), 0xFF, i, values, 8)));
    }
  }
  for (; r < n; ++r) acc[r] += values[leaf[r]];
}

template <class S>
__attribute__((target("avx2"))) void add256(const S* values, const std::uint32_t* leaf, std::size_t n, S* acc) {
  std::size_t r = 0;
  if constexpr (std::is_same_v<S, float>) {
    for (; r + 8 <= n; r += 8) {
      const __m256i i = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(leaf + r));
      _mm256_storeu_ps(acc + r, _mm256_add_ps(_mm256_loadu_ps(acc + r), _mm256_mask_i32gather_ps(_mm256_setzero_ps(), values, i, _mm256_castsi256_ps(_mm256_set1_epi32(-1)), 4)));
    }
  } else {
    for (; r + 4 <= n; r += 4) {
      const __m128i i = _mm_loadu_si128(reinterpret_cast<const __m128i*>(leaf + r));
      _mm256_storeu_pd(acc + r, _mm256_add_pd(_mm256_loadu_pd(acc + r), _mm256_mask_i32gather_pd(_mm256_setzero_pd(), values, i, _mm256_castsi256_pd(_mm256_set1_epi64x(-1)), 8)));
    }
  }
  for (; r < n; ++r) acc[r] += values[leaf[r]];
}

template <class S>
bool add_leaves(const S* values, const std::uint32_t* leaf, std::size_t n, S* acc) noexcept {
  switch (active()) {
    case level::avx512: add512(values, leaf, n, acc); return true;
    case level::avx2: add256(values, leaf, n, acc); return true;
    case level::scalar: return false;
  }
  return false;
}

level best() noexcept {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return level::avx512;
  if (__builtin_cpu_supports("avx2")) return level::avx2;
  return level::scalar;
}

bool has_avx512cd() noexcept {
  static const bool cd = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512cd") != 0;
  }();
  return cd;
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

unsigned column_shift(std::size_t n) noexcept {
  unsigned s = 4;
  while ((std::size_t{1} << s) < n) ++s;
  return s;
}

namespace {
template <class T>
void columns_of(const T* x, std::uint32_t F, std::size_t n, unsigned shift, T* xt) noexcept {
  const std::size_t ld = std::size_t{1} << shift;
  for (std::uint32_t f = 0; f < F; ++f) {
    T* col = xt + (std::size_t(f) << shift);
    for (std::size_t r = 0; r < n; ++r) col[r] = x[r * F + f];
    std::fill(col + n, col + ld, T(0));
  }
}
}  // namespace

void to_columns(const float* x, std::uint32_t F, std::size_t n, unsigned shift, float* xt) noexcept {
  columns_of(x, F, n, shift, xt);
}
void to_columns(const double* x, std::uint32_t F, std::size_t n, unsigned shift, double* xt) noexcept {
  columns_of(x, F, n, shift, xt);
}

bool walk(const kernels::forest_walk_node* nodes, std::uint32_t n_nodes, std::uint32_t feature_bits,
          const kernels::forest_tree& tree, const float* xt, unsigned shift, std::uint32_t F, std::size_t n,
          std::uint32_t* leaf) noexcept {
  // 32-bit offsets into the feature columns.
  if (nodes == nullptr || feature_bits >= 30 || n > max_rows || (std::uint64_t(F) << shift) >= (std::uint64_t{1} << 31))
    return false;
  const word_fields wf(feature_bits);
  switch (active()) {
    case level::avx512: walk512(nodes, n_nodes, wf, tree, xt, shift, n, leaf); return true;
    case level::avx2: walk256(nodes, n_nodes, wf, tree, xt, shift, n, leaf); return true;
    case level::scalar: return false;
  }
  return false;
}

bool walk_bitvector(const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<float>* splits,
                    const std::uint32_t* leaves, const float* xt, unsigned shift, std::uint32_t F, std::size_t n,
                    std::uint32_t* leaf) noexcept {
  if (n > max_rows || (std::uint64_t(F) << shift) >= (std::uint64_t{1} << 31) || tree.leaves == 0 || tree.leaves > 64)
    return false;
  switch (active()) {
    case level::avx512:
      if (has_avx512cd()) bitvector512(tree, splits, leaves, xt, shift, n, leaf);
      else bitvector256(tree, splits, leaves, xt, shift, n, leaf);
      return true;
    case level::avx2: bitvector256(tree, splits, leaves, xt, shift, n, leaf); return true;
    case level::scalar: return false;
  }
  return false;
}

bool walk_bitvector(const kernels::forest_bitvector_tree& tree, const kernels::forest_bitvector_split<double>* splits,
                    const std::uint32_t* leaves, const double* xt, unsigned shift, std::uint32_t F, std::size_t n,
                    std::uint32_t* leaf) noexcept {
  if (n > max_rows || (std::uint64_t(F) << shift) >= (std::uint64_t{1} << 31) || tree.leaves == 0 || tree.leaves > 64)
    return false;
  switch (active()) {
    case level::avx512:
      if (has_avx512cd()) bitvector512_pd(tree, splits, leaves, xt, shift, n, leaf);
      else bitvector256_pd(tree, splits, leaves, xt, shift, n, leaf);
      return true;
    case level::avx2: bitvector256_pd(tree, splits, leaves, xt, shift, n, leaf); return true;
    case level::scalar: return false;
  }
  return false;
}

bool add_leaf_values(const float* values, const std::uint32_t* leaf, std::size_t n, float* acc) noexcept {
  return add_leaves(values, leaf, n, acc);
}

bool add_leaf_values(const double* values, const std::uint32_t* leaf, std::size_t n, double* acc) noexcept {
  return add_leaves(values, leaf, n, acc);
}

}  // namespace tandem::forest_simd
