// One row through a tree ensemble: the per-row walk every backend runs (host/device code).
//
// A compiled forest (forest_view) is flat arrays: nodes, trees, leaf values, the base margins and
// categorical bitsets. Every split is "go left when x <= threshold" in the comparison precision T
// (float for scikit-learn and XGBoost, whose inputs are float32; double for LightGBM); the loaders
// turn each library's own rule into that form exactly (compiled_forest.cpp). The two children of
// a split are adjacent, so the walk is `next = left + !go_left`. Sums are in S (float for XGBoost,
// double for scikit-learn and LightGBM), added tree by tree in the model's order, as each library
// adds them: that order is what makes the result the library's bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

// feature_flags of a node: the feature index in the low 28 bits, and these.
inline constexpr std::uint32_t forest_leaf = 1u << 31;          // a leaf: `next` is its first leaf value
inline constexpr std::uint32_t forest_default_left = 1u << 30;  // a missing value (NaN) goes left
inline constexpr std::uint32_t forest_categorical = 1u << 29;   // `threshold` is a category_split index
inline constexpr std::uint32_t forest_zero_missing = 1u << 28;  // |x| <= 1e-35f is missing too (LightGBM)
inline constexpr std::uint32_t forest_feature_mask = (1u << 28) - 1;
inline constexpr std::uint32_t forest_special = forest_categorical | forest_zero_missing;
// LightGBM's kZeroThreshold: values this close to zero are "zero" for missing_type=Zero. LightGBM
// declares it `const double kZeroThreshold = 1e-35f;`, so it is the float 1e-35f as a double
// (1.0000000180025095e-35), not the double 1e-35; values between the two are zero to LightGBM.
inline constexpr double forest_zero_threshold = static_cast<double>(1e-35f);

template <class T>
struct forest_node {
  T threshold;                 // go left when x <= threshold (a category_split index when categorical)
  std::uint32_t feature_flags;
  std::uint32_t next;          // a split: its left child (the right one is next + 1); a leaf: its first value
};

struct forest_tree {
  std::uint32_t root;    // index of the root node
  std::uint32_t output;  // the first margin this tree adds to (its class, for one-tree-per-class models)
  std::uint32_t depth;   // the longest root-to-leaf path, in splits
  std::uint32_t special; // 1: some split is categorical or zero-is-missing (the blocked walk takes the general path)
};

// A categorical split: the categories in the set are bits of words[first_word, first_word + words).
// A value is truncated to an integer category (as XGBoost and LightGBM both do); a negative one, one
// past the bitset or one too large for an int is "not in the set". Where "negative" starts differs:
// LightGBM truncates first (-0.5 is category 0), XGBoost tests x < 0 first (-0.5 is no category).
struct category_split {
  std::uint32_t first_word;
  std::uint32_t words;
  std::uint8_t in_set_left;     // 1: a category in the set goes left (LightGBM); 0: right (XGBoost)
  std::uint8_t nan_is_zero;     // 1: NaN is category 0 (LightGBM without NaN missing type); 0: NaN goes
                                //    where the node's default_left says
  std::uint8_t negative_invalid;  // 1: every x < 0 is no category, -0.5 included (XGBoost's InvalidCat);
                                  // 0: x is truncated first, so (-1, 0) is category 0 (LightGBM)
  std::uint8_t pad;
};

// The bitvector form of a tree with at most 64 leaves and no special splits (QuickScorer,
// Lucchese et al., SIGIR 2015): its leaves numbered left to right; each split knows the leaves of
// its left subtree. A row starts with every leaf possible; each split that sends it right rules
// out its left subtree's leaves; the leftmost leaf left is the row's. That holds whatever order
// the splits are evaluated in (every leaf left of the exit leaf lies in the left subtree of an
// ancestor the row went right at; no split that clears the exit leaf can send the row right), so
// a vector of rows evaluates each split with one load and one compare, with no gathers.
//
// The splits are kept in six runs, so the vector walk needs no per-split branch: first those that
// send NaN right, then those that send it left; within each, those whose left leaves all lie in
// leaves 0-31, then in 32-63, then in both (a vector keeps each row's possible leaves as two
// 32-bit halves and updates only the half a split touches).
struct forest_bitvector_tree {
  std::uint32_t first_split;   // into forest_view::bv_splits
  std::uint32_t first_leaf;    // into forest_view::bv_leaves
  std::uint16_t leaves;        // 0: the tree has no bitvector form (it has leaves - 1 splits)
  std::uint8_t end[6];         // where each run ends: NaN right (low, high, both), NaN left (low, high, both)
};
static_assert(sizeof(forest_bitvector_tree) == 16);
template <class T>
struct forest_bitvector_split {
  std::uint64_t left_leaves;   // bit i: leaf i is in this split's left subtree
  T threshold;                 // go left when x <= threshold (never NaN here)
  std::uint32_t feature;
};

// The vector walk's node (float-input models): 8 bytes, so one gather of a pair fetches a whole
// node where the 12-byte forest_node takes two. `word` holds forest_leaf and forest_default_left
// in bits 31 and 30, the left child's index relative to the tree's root shifted up by the model's
// walk_feature_bits, and the feature in those low bits. A leaf's `bits` is its first value's index
// (forest_node::next), or the bits of that value itself where forest_view::walk_leaf_values (one
// float value per leaf); a split's is its threshold's bits. Made only when every tree without
// special splits fits (fewer than 2^(30 - walk_feature_bits) nodes).
struct forest_walk_node {
  std::uint32_t bits;
  std::uint32_t word;
};
static_assert(sizeof(forest_walk_node) == 8);

template <class T, class S>
struct forest_view {
  const forest_node<T>* nodes = nullptr;
  const forest_tree* trees = nullptr;
  const S* values = nullptr;        // leaf values, `leaf_width` per leaf
  const S* base = nullptr;          // the initial margin of each output
  const category_split* categories = nullptr;
  const std::uint32_t* category_words = nullptr;
  std::uint32_t n_trees = 0;
  std::uint32_t n_nodes = 0;
  std::uint32_t n_features = 0;
  std::uint32_t n_outputs = 0;      // margins per row
  std::uint32_t leaf_width = 1;     // values per leaf (scikit-learn classifiers: the classes)
  S divisor = 1;                    // margins are divided by this at the end (averaging forests), unless 1
  // The bitvector form of the trees that have one: one entry per tree, or null.
  const forest_bitvector_tree* bv_trees = nullptr;
  const forest_bitvector_split<T>* bv_splits = nullptr;
  // The leaves' `next` (their first value), left to right; their value's bits where walk_leaf_values.
  const std::uint32_t* bv_leaves = nullptr;
  // The nodes again as forest_walk_node (float inputs, where every tree fits), or null.
  const forest_walk_node* walk_nodes = nullptr;
  std::uint32_t walk_feature_bits = 0;
  // A leaf's bits in walk_nodes and bv_leaves are its float value, not its index (float inputs and
  // sums, one value per leaf).
  bool walk_leaf_values = false;
};

TANDEM_HD_INLINE bool forest_is_nan(float x) { return x != x; }
TANDEM_HD_INLINE bool forest_is_nan(double x) { return x != x; }

template <class T>
TANDEM_HD_INLINE bool forest_category_left(const category_split& c, const std::uint32_t* words, T x,
                                           bool default_left) {
  if (forest_is_nan(x)) {
    if (!c.nan_is_zero) return default_left;
    x = 0;
  }
  bool in_set = false;
  // Truncation toward zero, as static_cast<int>; values outside int's range are no category.
  const bool valid = c.negative_invalid ? x >= T(0) : x > T(-1);
  if (valid && x < T(2147483648.0)) {
    const std::uint32_t cat = static_cast<std::uint32_t>(x);
    const std::uint32_t w = cat >> 5;
    in_set = w < c.words && ((words[c.first_word + w] >> (cat & 31)) & 1u) != 0;
  }
  return in_set == (c.in_set_left != 0);
}

// Whether a split with the special flags (categorical, zero-is-missing) sends x left.
template <class T, class S>
TANDEM_HD bool forest_special_left(const forest_view<T, S>& m, const forest_node<T>& n, T x) {
  const bool default_left = (n.feature_flags & forest_default_left) != 0;
  if (n.feature_flags & forest_categorical)
    return forest_category_left(m.categories[static_cast<std::uint32_t>(n.threshold)], m.category_words, x,
                                default_left);
  // forest_zero_missing: NaN and (near) zero are missing.
  if (forest_is_nan(x) || (x >= T(-forest_zero_threshold) && x <= T(forest_zero_threshold))) return default_left;
  return x <= n.threshold;
}

// The index of the first leaf value of the leaf that row x reaches in the tree rooted at `root`.
// The compiled forest is a proper tree (checked when it was built), so the walk ends.
template <class T, class S>
TANDEM_HD_INLINE std::uint32_t forest_leaf_of(const forest_view<T, S>& m, std::uint32_t root, const T* x) {
  std::uint32_t i = root;
  for (;;) {
    const forest_node<T> n = m.nodes[i];
    const std::uint32_t f = n.feature_flags;
    if (f & forest_leaf) return n.next;
    const T v = x[f & forest_feature_mask];
    bool left;
    if (f & forest_special) [[unlikely]] {
      left = forest_special_left(m, n, v);
    } else {
      left = v <= n.threshold;
      if (forest_is_nan(v)) left = (f & forest_default_left) != 0;
    }
    i = n.next + (left ? 0u : 1u);
  }
}

// The same leaf's `next` (or its value's bits, where walk_leaf_values) through the bitvector form
// of tree `t` (bv_trees[t].leaves > 0), split by split: the vector walk's arithmetic for one row, for tests on any CPU.
template <class T>
TANDEM_HD_INLINE std::uint32_t forest_bitvector_leaf(const forest_bitvector_tree& t, const forest_bitvector_split<T>* splits,
                                                     const std::uint32_t* leaves, const T* x) {
  std::uint64_t possible = ~std::uint64_t{0};
  for (std::uint32_t i = 0; i + 1 < t.leaves; ++i) {
    const forest_bitvector_split<T>& s = splits[t.first_split + i];
    const T v = x[s.feature];
    const bool right = forest_is_nan(v) ? i < std::uint32_t(t.end[2]) : !(v <= s.threshold);
    if (right) possible &= ~s.left_leaves;
  }
  std::uint32_t first = 0;
  while (!((possible >> first) & 1u)) ++first;
  return leaves[t.first_leaf + first];
}

// The margins of one row: base, plus each tree's leaf values in tree order, divided by the
// divisor when it is not 1. `margins` has n_outputs elements.
template <class T, class S>
TANDEM_HD void forest_margins(const forest_view<T, S>& m, const T* x, S* margins) {
  for (std::uint32_t o = 0; o < m.n_outputs; ++o) margins[o] = m.base[o];
  for (std::uint32_t t = 0; t < m.n_trees; ++t) {
    const forest_tree tree = m.trees[t];
    const std::uint32_t leaf = forest_leaf_of(m, tree.root, x);
    for (std::uint32_t j = 0; j < m.leaf_width; ++j) margins[tree.output + j] += m.values[leaf + j];
  }
  if (m.divisor != S(1))
    for (std::uint32_t o = 0; o < m.n_outputs; ++o) margins[o] /= m.divisor;
}

}  // namespace tandem::kernels
