// The compiled forest against a walk of the loaders' description written independently here (the
// library's rule, applied to the double threshold as the library applies it), and the checks that
// refuse a malformed forest.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "tandem/errors.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tf = tandem::forest;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

// The library's decision, on the description, with the input converted as the library converts it.
bool goes_left(const tf::forest_model& m, const tf::node_spec& s, double raw) {
  const double x = m.input == tf::precision::f32 ? double(float(raw)) : raw;
  if (s.category_set >= 0) {
    const tf::category_set_spec& c = m.category_sets[std::size_t(s.category_set)];
    double v = x;
    if (std::isnan(v)) {
      if (!c.nan_is_zero) return s.default_left;
      v = 0;
    }
    bool in = false;
    if ((c.negative_invalid ? v >= 0 : v > -1) && v < 2147483648.0) {
      const auto cat = std::uint32_t(std::trunc(v));
      for (auto k : c.categories) in = in || k == cat;
    }
    return in == c.in_set_left;
  }
  if (std::isnan(x)) return s.default_left;
  if (s.zero_missing && std::fabs(x) <= double(1e-35f)) return s.default_left;  // LightGBM's kZeroThreshold
  return m.compare == tf::comparison::less ? x < s.threshold : x <= s.threshold;
}

std::vector<double> walk(const tf::forest_model& m, const double* row) {
  std::vector<double> out(m.base);
  for (const tf::tree_spec& t : m.trees) {
    std::int64_t i = 0;
    while (!t.nodes[std::size_t(i)].leaf) {
      const tf::node_spec& s = t.nodes[std::size_t(i)];
      i = goes_left(m, s, row[s.feature]) ? s.left : s.right;
    }
    for (std::uint32_t j = 0; j < m.leaf_width; ++j) {
      const double v = t.nodes[std::size_t(i)].value + j < t.values.size() ? t.values[t.nodes[std::size_t(i)].value + j] : nan_v;
      if (m.sum == tf::precision::f32) out[t.output + j] = double(float(out[t.output + j]) + float(v));
      else out[t.output + j] += v;
    }
  }
  if (m.divisor != 1)
    for (double& o : out) o = m.sum == tf::precision::f32 ? double(float(o) / float(m.divisor)) : o / m.divisor;
  return out;
}

tf::node_spec split(std::uint32_t f, double t, std::int64_t l, std::int64_t r, bool dl = false) {
  tf::node_spec s;
  s.feature = f;
  s.threshold = t;
  s.left = l;
  s.right = r;
  s.default_left = dl;
  return s;
}
tf::node_spec leaf(std::size_t v) {
  tf::node_spec s;
  s.leaf = true;
  s.value = v;
  return s;
}

// A random tree of the given depth over `features`, thresholds drawn from `thresholds`, written
// with children in a scrambled order (so the compiler's relayout is exercised).
tf::tree_spec random_tree(std::mt19937_64& g, int depth, std::uint32_t features, std::uint32_t width,
                          const std::vector<double>& thresholds, std::int64_t category_sets = 0) {
  tf::tree_spec t;
  std::uniform_real_distribution<double> val(-2, 2);
  std::function<std::int64_t(int)> build = [&](int d) -> std::int64_t {
    const std::int64_t id = std::int64_t(t.nodes.size());
    t.nodes.emplace_back();
    if (d == 0 || g() % 7 == 0) {
      t.nodes[std::size_t(id)] = leaf(t.values.size());
      for (std::uint32_t j = 0; j < width; ++j) t.values.push_back(val(g));
      return id;
    }
    tf::node_spec s = split(std::uint32_t(g() % features), thresholds[g() % thresholds.size()], -1, -1, g() & 1);
    s.zero_missing = g() % 5 == 0;
    if (category_sets > 0 && g() % 4 == 0) s.category_set = std::int64_t(g() % std::uint64_t(category_sets));
    const std::int64_t r = build(d - 1);  // right subtree first: node ids are not breadth first
    const std::int64_t l = build(d - 1);
    s.left = l;
    s.right = r;
    t.nodes[std::size_t(id)] = s;
    return id;
  };
  build(depth);
  return t;
}

// Values that sit on and beside the thresholds, in both precisions, plus the awkward ones.
std::vector<double> probe_values(const std::vector<double>& thresholds) {
  std::vector<double> v = {0.0, -0.0, nan_v, inf_v, -inf_v, 1e-36, -1e-36, 1e-30, 3.0, 3.7, -0.5, 1e10, 5e9};
  for (double t : thresholds) {
    for (double x : {t, std::nextafter(t, inf_v), std::nextafter(t, -inf_v)}) v.push_back(x);
    const float f = float(t);
    for (float x : {f, std::nextafter(f, float(inf_v)), std::nextafter(f, -float(inf_v))}) v.push_back(x);
  }
  return v;
}

struct precisions {
  tf::precision input, sum;
  tf::comparison compare;
};

class forest_core : public ::testing::TestWithParam<precisions> {};

TEST_P(forest_core, compiled_walk_equals_the_library_rule_on_thresholds_nan_zero_and_categories) {
  std::mt19937_64 g(7);
  const std::vector<double> thresholds = {0.1, 0.5, -0.3, 1.0 / 3, 0.0, 1e-36, 2.5, 1e30, -inf_v, inf_v, 16777217.0};
  tf::forest_model m;
  m.path = "test";
  m.input = GetParam().input;
  m.sum = GetParam().sum;
  m.compare = GetParam().compare;
  m.features = 5;
  m.outputs = 3;
  m.leaf_width = 1;
  m.base = {0.5, -0.25, 0.125};
  // The last set is XGBoost's: -0.5 is no category (the others truncate it to category 0).
  m.category_sets = {{{1, 3, 40}, true, false}, {{0, 2}, false, false}, {{5}, true, true}, {{0, 2, 7}, false, false, true}};
  for (int t = 0; t < 30; ++t) {
    m.trees.push_back(random_tree(g, 1 + t % 6, m.features, 1, thresholds, 4));
    m.trees.back().output = std::uint32_t(t % 3);
  }
  const tf::compiled_forest c = tf::compile_forest(m);
  EXPECT_EQ(c.trees(), 30u);
  const std::vector<double> probes = probe_values(thresholds);
  std::vector<double> rows;
  for (int r = 0; r < 4000; ++r)
    for (std::uint32_t f = 0; f < m.features; ++f) rows.push_back(probes[g() % probes.size()]);
  const std::vector<double> got = tf::reference_margins(m, c, rows.data(), 4000);
  for (int r = 0; r < 4000; ++r) {
    const std::vector<double> want = walk(m, rows.data() + r * m.features);
    for (std::uint32_t o = 0; o < m.outputs; ++o)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got[r * m.outputs + o]), std::bit_cast<std::uint64_t>(want[o]))
          << "row " << r << " output " << o << ": " << got[r * m.outputs + o] << " vs " << want[o];
  }
}

INSTANTIATE_TEST_SUITE_P(kinds, forest_core,
                         ::testing::Values(precisions{tf::precision::f32, tf::precision::f32, tf::comparison::less},
                                           precisions{tf::precision::f32, tf::precision::f64, tf::comparison::less_equal},
                                           precisions{tf::precision::f64, tf::precision::f64, tf::comparison::less_equal},
                                           precisions{tf::precision::f64, tf::precision::f64, tf::comparison::less}));

tf::forest_model tiny() {
  tf::forest_model m;
  m.path = "tiny.json";
  m.features = 2;
  m.outputs = 2;
  m.leaf_width = 2;
  m.base = {0, 0};
  m.divisor = 2;
  tf::tree_spec t;
  t.nodes = {split(0, 0.5, 1, 2), leaf(0), leaf(2)};
  t.values = {1, 0, 0.25, 0.75};
  m.trees = {t, t};
  return m;
}

TEST(forest_compile, averages_multi_value_leaves) {
  const tf::forest_model m = tiny();
  const tf::compiled_forest c = tf::compile_forest(m);
  const double rows[] = {0.5, 0, 0.6, 0};
  const auto got = tf::reference_margins(m, c, rows, 2);
  EXPECT_EQ(got, (std::vector<double>{1, 0, 0.25, 0.75}));
  EXPECT_EQ(c.max_depth(), 1u);
  EXPECT_EQ(c.nodes(), 6u);
}

void expect_refused(tf::forest_model m, const std::string& words) {
  try {
    tf::compile_forest(m);
    FAIL() << "accepted; expected: " << words;
  } catch (const tandem::usage_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("tiny.json"), std::string::npos) << what;
    EXPECT_NE(what.find(words), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(forest_compile, refuses_what_is_not_a_proper_forest) {
  tf::forest_model m = tiny();
  m.trees[1].nodes[0].left = 0;  // a cycle to the root
  expect_refused(m, "tree 1, node 0: child 0 is reached twice");
  m = tiny();
  m.trees[0].nodes[0].right = 1;  // both children the same node
  expect_refused(m, "reached twice");
  m = tiny();
  m.trees[0].nodes[0].right = 3;
  expect_refused(m, "child 3 is out of range");
  m = tiny();
  m.trees[0].nodes[0].left = -5;
  expect_refused(m, "child -5 is out of range");
  m = tiny();
  m.trees[0].nodes[0].feature = 2;
  expect_refused(m, "feature 2 is out of range");
  m = tiny();
  m.trees[0].nodes[0].threshold = nan_v;
  expect_refused(m, "threshold is NaN");
  m = tiny();
  m.trees[0].nodes[2].value = 3;
  expect_refused(m, "leaf value index 3 is out of range");
  m = tiny();
  m.trees[0].output = 1;
  expect_refused(m, "output 1 is out of range");
  m = tiny();
  m.trees[0].nodes.clear();
  expect_refused(m, "tree 0 has no nodes");
  m = tiny();
  m.trees[0].nodes[0].category_set = 0;
  expect_refused(m, "category set 0 is out of range");
  m = tiny();
  m.base = {0};
  expect_refused(m, "base margins");
  m = tiny();
  m.trees.clear();
  expect_refused(m, "no trees");
  m = tiny();
  m.features = 0;
  expect_refused(m, "no features");
  m = tiny();
  m.divisor = 0;
  expect_refused(m, "divisor");
}

TEST(forest_compile, a_deep_chain_is_walked_without_recursion) {
  tf::forest_model m;
  m.path = "chain";
  m.features = 1;
  m.base = {0};
  tf::tree_spec t;
  const int depth = 100000;
  for (int d = 0; d < depth; ++d) {
    t.nodes.push_back(split(0, double(d), 2 * d + 1, 2 * d + 2));
    t.nodes.push_back(leaf(std::size_t(d)));
    t.values.push_back(d);
  }
  t.nodes.push_back(leaf(std::size_t(depth)));
  t.values.push_back(depth);
  // node 2d: split at d, left leaf 2d+1, right the next split 2d+2.
  m.trees = {t};
  const tf::compiled_forest c = tf::compile_forest(m);
  EXPECT_EQ(c.max_depth(), std::uint32_t(depth));
  const double rows[] = {99998.5, -1, 1e9};
  const auto got = tf::reference_margins(m, c, rows, 3);
  EXPECT_EQ(got, (std::vector<double>{99999, 0, double(depth)}));
}

}  // namespace
