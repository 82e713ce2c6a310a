// compile_forest: checks a loaded model and lays it out flat for the per-row walk.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <type_traits>

#include "tandem/errors.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tandem::forest {

namespace {

constexpr std::size_t image_align = 64;

std::size_t align_up(std::size_t n) { return (n + image_align - 1) / image_align * image_align; }

[[noreturn]] void bad_model(const forest_model& m, const std::string& what) {
  throw usage_error("model '" + m.path + "': " + what);
}

std::string where(std::size_t tree, std::int64_t node) {
  return "tree " + std::to_string(tree) + ", node " + std::to_string(node) + ": ";
}

// The threshold t' in precision T with "x <= t'" equal to the library's comparison of x with t for
// every value x of type T (NaN is handled before the comparison). For float inputs and a double
// threshold that is the largest float below t (less) or at most t (less_equal). A `less` split at
// -inf sends nothing left: NaN as t' does that (no x is <= NaN).
template <class T>
T exact_threshold(double t, comparison c) {
  if (c == comparison::less && t == -std::numeric_limits<double>::infinity())
    return std::numeric_limits<T>::quiet_NaN();
  T r = static_cast<T>(t);  // round to nearest (float; overflow gives inf), exact (double)
  const bool too_high = c == comparison::less_equal ? double(r) > t : double(r) >= t;
  if (too_high) r = std::nextafter(r, -std::numeric_limits<T>::infinity());
  return r;
}

// One node of the compiled order: which tree and which of its nodes, and its depth.
struct placed {
  std::uint32_t tree;
  std::uint32_t node;
};

// Breadth-first order of every tree (a split's children take the next two slots, so they are
// adjacent), checking that each tree is a proper tree.
std::vector<placed> place_nodes(const forest_model& m, std::vector<std::uint32_t>& roots,
                                std::vector<std::uint32_t>& depths, std::uint32_t& depth) {
  std::uint64_t total = 0;
  for (const tree_spec& t : m.trees) total += t.nodes.size();
  if (total > max_nodes)
    bad_model(m, std::to_string(total) + " nodes, more than the " + std::to_string(max_nodes) + " supported");
  std::vector<placed> order;
  order.reserve(total);
  std::vector<std::uint8_t> seen;
  std::vector<std::uint32_t> level;  // depth of each placed node of the current tree
  depth = 0;
  for (std::size_t t = 0; t < m.trees.size(); ++t) {
    const tree_spec& tree = m.trees[t];
    const std::size_t n = tree.nodes.size();
    if (n == 0) bad_model(m, "tree " + std::to_string(t) + " has no nodes");
    if (std::uint64_t(tree.output) + m.leaf_width > m.outputs)
      bad_model(m, "tree " + std::to_string(t) + ": output " + std::to_string(tree.output) + " is out of range (" +
                       std::to_string(m.outputs) + " outputs)");
    seen.assign(n, 0);
    level.clear();
    const std::size_t first = order.size();
    roots.push_back(std::uint32_t(first));
    order.push_back({std::uint32_t(t), 0});
    level.push_back(0);
    seen[0] = 1;
    std::uint32_t tree_depth = 0;
    for (std::size_t q = first; q < order.size(); ++q) {
      const std::int64_t id = order[q].node;
      const node_spec& s = tree.nodes[std::size_t(id)];
      tree_depth = std::max(tree_depth, level[q - first]);
      if (s.leaf) {
        if (s.value > tree.values.size() || tree.values.size() - s.value < m.leaf_width)
          bad_model(m, where(t, id) + "leaf value index " + std::to_string(s.value) + " is out of range (" +
                           std::to_string(tree.values.size()) + " values, " + std::to_string(m.leaf_width) +
                           " per leaf)");
        continue;
      }
      for (const std::int64_t c : {s.left, s.right}) {
        if (c < 0 || std::uint64_t(c) >= n)
          bad_model(m, where(t, id) + "child " + std::to_string(c) + " is out of range (" + std::to_string(n) +
                           " nodes)");
        if (seen[std::size_t(c)])
          bad_model(m, where(t, id) + "child " + std::to_string(c) + " is reached twice (a cycle or a shared subtree)");
        seen[std::size_t(c)] = 1;
        order.push_back({std::uint32_t(t), std::uint32_t(c)});
        level.push_back(level[q - first] + 1);
      }
      if (s.feature >= m.features)
        bad_model(m, where(t, id) + "feature " + std::to_string(s.feature) + " is out of range (" +
                         std::to_string(m.features) + " features)");
      if (s.category_set >= 0) {
        if (std::uint64_t(s.category_set) >= m.category_sets.size())
          bad_model(m, where(t, id) + "category set " + std::to_string(s.category_set) + " is out of range (" +
                           std::to_string(m.category_sets.size()) + " sets)");
      } else if (std::isnan(s.threshold)) {
        bad_model(m, where(t, id) + "threshold is NaN");
      }
    }
    depths.push_back(tree_depth);
    depth = std::max(depth, tree_depth);
  }
  return order;
}

template <class T, class S>
void write_image(const forest_model& m, const std::vector<placed>& order, const std::vector<std::uint32_t>& roots,
                 const std::vector<std::uint32_t>& depths, std::byte* image, const compiled_forest::layout& L) {
  auto* nodes = reinterpret_cast<kernels::forest_node<T>*>(image + L.nodes);
  auto* trees = reinterpret_cast<kernels::forest_tree*>(image + L.trees);
  auto* values = reinterpret_cast<S*>(image + L.values);
  auto* base = reinterpret_cast<S*>(image + L.base);
  auto* cats = reinterpret_cast<kernels::category_split*>(image + L.categories);
  auto* words = reinterpret_cast<std::uint32_t*>(image + L.category_words);
  for (std::size_t t = 0; t < m.trees.size(); ++t) trees[t] = {roots[t], m.trees[t].output, depths[t], 0};
  for (std::uint32_t o = 0; o < m.outputs; ++o) base[o] = static_cast<S>(m.base[o]);
  std::uint64_t next_child = 0, next_value = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    const tree_spec& tree = m.trees[order[i].tree];
    if (i == roots[order[i].tree]) next_child = i + 1;
    const node_spec& s = tree.nodes[order[i].node];
    kernels::forest_node<T>& out = nodes[i];
    if (s.leaf) {
      out.threshold = T(0);
      out.feature_flags = kernels::forest_leaf;
      out.next = std::uint32_t(next_value);
      for (std::uint32_t j = 0; j < m.leaf_width; ++j) values[next_value + j] = static_cast<S>(tree.values[s.value + j]);
      next_value += m.leaf_width;
      continue;
    }
    std::uint32_t flags = s.feature;
    if (s.default_left) flags |= kernels::forest_default_left;
    if (s.category_set >= 0 || s.zero_missing) trees[order[i].tree].special = 1;
    if (s.category_set >= 0) {
      flags |= kernels::forest_categorical;
      out.threshold = T(s.category_set);
    } else {
      if (s.zero_missing) flags |= kernels::forest_zero_missing;
      out.threshold = exact_threshold<T>(s.threshold, m.compare);
    }
    out.feature_flags = flags;
    // Breadth first within the tree: children are placed in the order their parents were.
    out.next = std::uint32_t(next_child);
    next_child += 2;
  }
  std::uint32_t w = 0;
  for (std::size_t c = 0; c < m.category_sets.size(); ++c) {
    const category_set_spec& set = m.category_sets[c];
    std::uint32_t n_words = 0;
    for (const std::uint32_t v : set.categories) n_words = std::max(n_words, v / 32 + 1);
    cats[c] = {w, n_words, std::uint8_t(set.in_set_left), std::uint8_t(set.nan_is_zero),
               std::uint8_t(set.negative_invalid), 0};
    for (const std::uint32_t v : set.categories) words[w + v / 32] |= 1u << (v % 32);
    w += n_words;
  }
}

// The bitvector form of the compiled trees that can have one (kernels::forest_bitvector_tree):
// at most 64 leaves, no special split, no NaN threshold (a `less` split at -inf: see
// exact_threshold; the vector compares could not give it the scalar walk's answer for NaN inputs).
template <class T>
struct bitvector_form {
  std::vector<kernels::forest_bitvector_tree> trees;
  std::vector<kernels::forest_bitvector_split<T>> splits;
  std::vector<std::uint32_t> leaves;
  std::uint32_t with_form = 0;
};

template <class T>
bitvector_form<T> make_bitvectors(const kernels::forest_node<T>* nodes, const kernels::forest_tree* trees,
                                  std::uint32_t n_trees) {
  bitvector_form<T> b;
  b.trees.assign(n_trees, kernels::forest_bitvector_tree{0, 0, 0, {0, 0, 0, 0, 0, 0}});
  std::vector<kernels::forest_bitvector_split<T>> run[6];
  std::vector<std::uint32_t> leaves;
  bool fits = true;
  // In order: a split's left subtree's leaves come before its right subtree's. A tree with at most
  // 64 leaves is at most 63 deep, so the recursion is too.
  auto visit = [&](auto&& self, std::uint32_t i) -> void {
    if (!fits) return;
    const kernels::forest_node<T>& nd = nodes[i];
    if (nd.feature_flags & kernels::forest_leaf) {
      if (leaves.size() == 64) fits = false;
      else leaves.push_back(nd.next);
      return;
    }
    const std::size_t lo = leaves.size();
    self(self, nd.next);
    const std::size_t hi = leaves.size();
    self(self, nd.next + 1);
    if (!fits) return;
    if (std::isnan(nd.threshold)) {
      fits = false;
      return;
    }
    const std::uint64_t below_hi = hi == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << hi) - 1;
    const kernels::forest_bitvector_split<T> s{below_hi & ~((std::uint64_t{1} << lo) - 1), nd.threshold,
                                            nd.feature_flags & kernels::forest_feature_mask};
    const int half = hi <= 32 ? 0 : lo >= 32 ? 1 : 2;
    run[((nd.feature_flags & kernels::forest_default_left) ? 3 : 0) + half].push_back(s);
  };
  for (std::uint32_t t = 0; t < n_trees; ++t) {
    const kernels::forest_tree& tree = trees[t];
    if (tree.special || tree.depth > 63) continue;
    for (auto& r : run) r.clear();
    leaves.clear();
    fits = true;
    visit(visit, tree.root);
    if (!fits) continue;
    kernels::forest_bitvector_tree& out = b.trees[t];
    out.first_split = std::uint32_t(b.splits.size());
    out.first_leaf = std::uint32_t(b.leaves.size());
    out.leaves = std::uint16_t(leaves.size());
    for (int r = 0; r < 6; ++r) {
      b.splits.insert(b.splits.end(), run[r].begin(), run[r].end());
      out.end[r] = std::uint8_t(b.splits.size() - out.first_split);
    }
    b.leaves.insert(b.leaves.end(), leaves.begin(), leaves.end());
    ++b.with_form;
  }
  return b;
}

}  // namespace

// The sections made from the compiled trees go after the rest of the image: a larger image, its
// first L.end bytes as they were.
std::size_t compiled_forest::grow_image(compiled_forest& c, layout& L, std::size_t extra) {
  const std::size_t start = L.end, end = align_up(L.end + extra);
  std::unique_ptr<std::byte, free_image> image(static_cast<std::byte*>(::operator new(end, std::align_val_t{image_align})));
  std::memcpy(image.get(), c.image_.get(), L.end);
  std::memset(image.get() + L.end, 0, end - L.end);
  L.end = end;
  c.image_ = std::move(image);
  c.image_bytes_ = end;
  return start;
}

template <class T>
void compiled_forest::add_bitvectors(compiled_forest& c, layout& L) {
  const std::byte* image0 = c.image_.get();
  bitvector_form<T> b = make_bitvectors(reinterpret_cast<const kernels::forest_node<T>*>(image0 + L.nodes),
                                        reinterpret_cast<const kernels::forest_tree*>(image0 + L.trees), c.trees_);
  if (b.with_form == 0 || b.splits.size() >= std::numeric_limits<std::uint32_t>::max()) return;
  const std::size_t tree_bytes = align_up(b.trees.size() * sizeof(kernels::forest_bitvector_tree));
  const std::size_t split_bytes = align_up(b.splits.size() * sizeof(kernels::forest_bitvector_split<T>));
  for (std::uint32_t& l : b.leaves) l = leaf_bits(c, L, l);
  const std::size_t start = grow_image(c, L, tree_bytes + split_bytes + b.leaves.size() * sizeof(std::uint32_t));
  L.bv_trees = start;
  L.bv_splits = start + tree_bytes;
  L.bv_leaves = start + tree_bytes + split_bytes;
  std::byte* image = c.image_.get();
  std::memcpy(image + L.bv_trees, b.trees.data(), b.trees.size() * sizeof(kernels::forest_bitvector_tree));
  std::memcpy(image + L.bv_splits, b.splits.data(), b.splits.size() * sizeof(kernels::forest_bitvector_split<T>));
  std::memcpy(image + L.bv_leaves, b.leaves.data(), b.leaves.size() * sizeof(std::uint32_t));
  L.n_bv_trees = b.with_form;
}

// The 8-byte nodes of the vector walk (float inputs): made when every tree without special splits
// has its nodes' offsets from its root below 2^(30 - feature bits). The trees' nodes are
// contiguous, in tree order (place_nodes). Trees with special splits are never walked by vectors:
// their nodes are written as leaves. With one float value per leaf, a leaf holds the value itself,
// so the walk's last gather fetches what the row adds.
std::uint32_t compiled_forest::walk_feature_bits() const noexcept {
  return features_ <= 1 ? 0u : std::uint32_t(std::bit_width(features_ - 1));
}

bool compiled_forest::walk_leaf_values() const noexcept { return sum_ == precision::f32 && leaf_width_ == 1; }

std::uint32_t compiled_forest::leaf_bits(const compiled_forest& c, const layout& L, std::uint32_t next) {
  if (!c.walk_leaf_values()) return next;
  return reinterpret_cast<const std::uint32_t*>(c.image_.get() + L.values)[next];
}

void compiled_forest::add_walk_nodes(compiled_forest& c, layout& L) {
  const std::uint32_t feature_bits = c.walk_feature_bits();
  if (feature_bits >= 30) return;
  const std::uint64_t limit = std::uint64_t{1} << (30 - feature_bits);
  std::vector<kernels::forest_walk_node> out(c.nodes_);
  {
    const auto* nodes = reinterpret_cast<const kernels::forest_node<float>*>(c.image_.get() + L.nodes);
    const auto* trees = reinterpret_cast<const kernels::forest_tree*>(c.image_.get() + L.trees);
    for (std::uint32_t t = 0; t < c.trees_; ++t) {
      const std::uint64_t root = trees[t].root, end = t + 1 < c.trees_ ? trees[t + 1].root : c.nodes_;
      if (end < root || end > c.nodes_) return;
      for (std::uint64_t i = root; i < end; ++i) {
        const kernels::forest_node<float>& nd = nodes[i];
        if (trees[t].special || (nd.feature_flags & kernels::forest_leaf)) {
          out[i] = {trees[t].special ? nd.next : leaf_bits(c, L, nd.next), kernels::forest_leaf};
          continue;
        }
        const std::uint64_t left = std::uint64_t(nd.next) - root;
        if (nd.next < root || left + 1 >= limit) return;
        std::uint32_t bits;
        std::memcpy(&bits, &nd.threshold, sizeof bits);
        out[i] = {bits, (nd.feature_flags & kernels::forest_default_left) | std::uint32_t(left << feature_bits) |
                            (nd.feature_flags & kernels::forest_feature_mask)};
      }
    }
  }
  L.walk_nodes = grow_image(c, L, out.size() * sizeof(kernels::forest_walk_node));
  std::memcpy(c.image_.get() + L.walk_nodes, out.data(), out.size() * sizeof(kernels::forest_walk_node));
}

void compiled_forest::free_image::operator()(std::byte* p) const noexcept {
  ::operator delete(p, std::align_val_t{image_align});
}

compiled_forest compile_forest(const forest_model& m) {
  if (m.features == 0) bad_model(m, "no features");
  if (m.features > max_features) bad_model(m, std::to_string(m.features) + " features, more than the supported " + std::to_string(max_features));
  if (m.outputs == 0 || m.outputs > max_outputs) bad_model(m, std::to_string(m.outputs) + " outputs (1 to " + std::to_string(max_outputs) + " supported)");
  if (m.leaf_width == 0 || m.leaf_width > m.outputs) bad_model(m, "leaf width " + std::to_string(m.leaf_width) + " does not fit " + std::to_string(m.outputs) + " outputs");
  if (m.base.size() != m.outputs) bad_model(m, std::to_string(m.base.size()) + " base margins for " + std::to_string(m.outputs) + " outputs");
  for (const double b : m.base)
    if (!std::isfinite(b)) bad_model(m, "a base margin is not finite");
  if (!(m.divisor > 0) || !std::isfinite(m.divisor)) bad_model(m, "the divisor is not a positive number");
  if (m.trees.empty()) bad_model(m, "no trees");
  if (m.trees.size() > std::numeric_limits<std::uint32_t>::max()) bad_model(m, "too many trees");
  if (m.input == precision::f64 && m.sum == precision::f32)
    bad_model(m, "double comparisons with float sums are not supported");
  if (m.proba_columns == 0 || m.proba_columns > max_outputs) bad_model(m, "bad number of probability columns");

  std::uint64_t n_words = 0;
  for (std::size_t c = 0; c < m.category_sets.size(); ++c) {
    std::uint32_t top = 0;
    for (const std::uint32_t v : m.category_sets[c].categories) {
      if (v > std::uint32_t(std::numeric_limits<std::int32_t>::max()))
        bad_model(m, "category set " + std::to_string(c) + ": category " + std::to_string(v) + " is out of range");
      top = std::max(top, v / 32 + 1);
    }
    n_words += top;
  }
  // 256 MiB of bitsets: a real model's sets are a few words each; a hostile file can name category
  // 2^24 in every split (60 KB of XGBoost JSON asked for 1 GiB before this limit).
  if (n_words > (std::uint64_t{1} << 26)) bad_model(m, "categorical splits need more than 256 MiB of bitsets");

  compiled_forest c;
  std::vector<std::uint32_t> roots, depths;
  const std::vector<placed> order = place_nodes(m, roots, depths, c.depth_);
  std::uint64_t n_values = 0;
  for (const placed& p : order)
    if (m.trees[p.tree].nodes[p.node].leaf) n_values += m.leaf_width;
  if (n_values > std::numeric_limits<std::uint32_t>::max()) bad_model(m, "more than 2^32 leaf values");

  c.input_ = m.input;
  c.sum_ = m.sum;
  c.features_ = m.features;
  c.outputs_ = m.outputs;
  c.trees_ = std::uint32_t(m.trees.size());
  c.leaf_width_ = m.leaf_width;
  c.nodes_ = order.size();
  c.divisor_ = m.divisor;
  const std::size_t s_size = m.sum == precision::f32 ? sizeof(float) : sizeof(double);
  const std::size_t node_size = m.input == precision::f32 ? sizeof(kernels::forest_node<float>)
                                                          : sizeof(kernels::forest_node<double>);
  compiled_forest::layout& L = c.layout_;
  L.nodes = 0;
  L.trees = align_up(L.nodes + order.size() * node_size);
  L.values = align_up(L.trees + m.trees.size() * sizeof(kernels::forest_tree));
  L.base = align_up(L.values + n_values * s_size);
  L.categories = align_up(L.base + m.outputs * s_size);
  L.category_words = align_up(L.categories + m.category_sets.size() * sizeof(kernels::category_split));
  L.end = align_up(L.category_words + n_words * sizeof(std::uint32_t));
  L.n_categories = std::uint32_t(m.category_sets.size());
  L.n_category_words = std::uint32_t(n_words);
  L.n_values = n_values;
  c.image_bytes_ = L.end;
  c.image_.reset(static_cast<std::byte*>(::operator new(L.end, std::align_val_t{image_align})));
  std::memset(c.image_.get(), 0, L.end);
  if (m.input == precision::f32 && m.sum == precision::f32) write_image<float, float>(m, order, roots, depths, c.image_.get(), L);
  else if (m.input == precision::f32) write_image<float, double>(m, order, roots, depths, c.image_.get(), L);
  else write_image<double, double>(m, order, roots, depths, c.image_.get(), L);
  if (m.input == precision::f32) {
    compiled_forest::add_bitvectors<float>(c, L);
    compiled_forest::add_walk_nodes(c, L);
  } else {
    compiled_forest::add_bitvectors<double>(c, L);
  }
  return c;
}

template <class T, class S>
kernels::forest_view<T, S> compiled_forest::view(const std::byte* base) const {
  kernels::forest_view<T, S> v;
  v.nodes = reinterpret_cast<const kernels::forest_node<T>*>(base + layout_.nodes);
  v.trees = reinterpret_cast<const kernels::forest_tree*>(base + layout_.trees);
  v.values = reinterpret_cast<const S*>(base + layout_.values);
  v.base = reinterpret_cast<const S*>(base + layout_.base);
  v.categories = reinterpret_cast<const kernels::category_split*>(base + layout_.categories);
  v.category_words = reinterpret_cast<const std::uint32_t*>(base + layout_.category_words);
  v.n_trees = trees_;
  v.n_nodes = std::uint32_t(nodes_);
  v.n_features = features_;
  v.n_outputs = outputs_;
  v.leaf_width = leaf_width_;
  v.divisor = static_cast<S>(divisor_);
  if (layout_.bv_trees != 0) {
    v.bv_trees = reinterpret_cast<const kernels::forest_bitvector_tree*>(base + layout_.bv_trees);
    v.bv_splits = reinterpret_cast<const kernels::forest_bitvector_split<T>*>(base + layout_.bv_splits);
    v.bv_leaves = reinterpret_cast<const std::uint32_t*>(base + layout_.bv_leaves);
  }
  if (std::is_same_v<T, float> && layout_.walk_nodes != 0) {
    v.walk_nodes = reinterpret_cast<const kernels::forest_walk_node*>(base + layout_.walk_nodes);
    v.walk_feature_bits = walk_feature_bits();
  }
  v.walk_leaf_values = std::is_same_v<T, float> && walk_leaf_values();
  return v;
}

template kernels::forest_view<float, float> compiled_forest::view(const std::byte*) const;
template kernels::forest_view<float, double> compiled_forest::view(const std::byte*) const;
template kernels::forest_view<double, double> compiled_forest::view(const std::byte*) const;

namespace {
template <class T, class S>
void reference_rows(const compiled_forest& c, const double* rows, std::size_t n_rows, double* out) {
  const auto v = c.view<T, S>();
  std::vector<T> x(c.features());
  std::vector<S> margins(c.outputs());
  for (std::size_t r = 0; r < n_rows; ++r) {
    for (std::uint32_t f = 0; f < c.features(); ++f) x[f] = static_cast<T>(rows[r * c.features() + f]);
    kernels::forest_margins(v, x.data(), margins.data());
    for (std::uint32_t o = 0; o < c.outputs(); ++o) out[r * c.outputs() + o] = double(margins[o]);
  }
}
}  // namespace

std::vector<double> reference_margins(const forest_model& m, const compiled_forest& c, const double* rows,
                                      std::size_t n_rows) {
  (void)m;
  std::vector<double> out(n_rows * c.outputs());
  if (c.input() == precision::f32 && c.sum() == precision::f32) reference_rows<float, float>(c, rows, n_rows, out.data());
  else if (c.input() == precision::f32) reference_rows<float, double>(c, rows, n_rows, out.data());
  else reference_rows<double, double>(c, rows, n_rows, out.data());
  return out;
}

}  // namespace tandem::forest
