// Exactness of the lightgbm loader against the library's own predictions (fixtures in testdata/lightgbm/,
// made by make_fixtures.py with LightGBM 4.7.0), and its refusals of malformed models.
#include <gtest/gtest.h>
#include <cstdio>
#include <unistd.h>

#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/errors.hpp"
#include "temp_dir.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tf = tandem::forest;

namespace {

using tandem::testing::slurp;

const std::string dir = std::string(TANDEM_FOREST_TESTDATA) + "/lightgbm/";

// NAME.csv: "features=F raw=R pred=P", then rows of F inputs, R raw scores, P predictions.
struct fixture {
  std::size_t features = 0, raw = 0, pred = 0, rows = 0;
  std::vector<double> x, raw_scores, predictions;
};

double number(std::string_view s) {
  double v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) ADD_FAILURE() << "bad number in fixture: " << s;
  return v;
}

fixture read_fixture(const std::string& name) {
  std::ifstream in(dir + name + ".csv");
  EXPECT_TRUE(in) << name;
  fixture f;
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(std::sscanf(line.c_str(), "features=%zu raw=%zu pred=%zu", &f.features, &f.raw, &f.pred), 3);
  while (std::getline(in, line)) {
    std::vector<double> v;
    std::size_t i = 0;
    while (i <= line.size()) {
      std::size_t j = line.find(',', i);
      if (j == std::string::npos) j = line.size();
      v.push_back(number(std::string_view(line).substr(i, j - i)));
      i = j + 1;
    }
    EXPECT_EQ(v.size(), f.features + f.raw + f.pred);
    f.x.insert(f.x.end(), v.begin(), v.begin() + std::ptrdiff_t(f.features));
    f.raw_scores.insert(f.raw_scores.end(), v.begin() + std::ptrdiff_t(f.features),
                        v.begin() + std::ptrdiff_t(f.features + f.raw));
    f.predictions.insert(f.predictions.end(), v.begin() + std::ptrdiff_t(f.features + f.raw), v.end());
    ++f.rows;
  }
  return f;
}

std::string row_text(const fixture& f, std::size_t r) {
  std::ostringstream s;
  s.precision(17);
  for (std::size_t j = 0; j < f.features; ++j) s << (j ? "," : "") << f.x[r * f.features + j];
  return s.str();
}

class LightgbmFixture : public ::testing::TestWithParam<const char*> {};

// Margins bitwise equal to predict(raw_score=True) (for rf, that divided by the iterations, which is
// what LightGBM's predict() converts), and probabilities bitwise equal to predict(): LightGBM's
// ConvertOutput is scalar std::exp from the same glibc, so the same double operations give its bits.
TEST_P(LightgbmFixture, MarginsAndPredictionsAreLightgbmsBits) {
  const std::string name = GetParam();
  const tf::forest_model m = tf::load_model(dir + name + ".txt");
  const tf::compiled_forest c = tf::compile_forest(m);
  const fixture f = read_fixture(name);
  ASSERT_GT(f.rows, 100u);
  ASSERT_EQ(f.features, m.features);
  ASSERT_EQ(f.raw, m.outputs);
  ASSERT_EQ(f.pred, m.proba_columns);
  const std::vector<double> margins = tf::reference_margins(m, c, f.x.data(), f.rows);
  std::vector<double> proba(m.proba_columns);
  std::size_t wrong = 0;
  for (std::size_t r = 0; r < f.rows && wrong < 5; ++r) {
    for (std::size_t o = 0; o < f.raw; ++o) {
      const double want = f.raw_scores[r * f.raw + o] / m.divisor;  // GBDT::Predict's division (rf)
      const double got = margins[r * m.outputs + o];
      if (std::bit_cast<std::uint64_t>(got) != std::bit_cast<std::uint64_t>(want)) {
        ++wrong;
        ADD_FAILURE() << name << " row " << r << " (" << row_text(f, r) << ") margin " << o << ": " << got
                      << " != LightGBM " << want;
      }
    }
    tf::margins_to_proba(m, &margins[r * m.outputs], proba.data());
    for (std::size_t p = 0; p < f.pred; ++p) {
      const double want = f.predictions[r * f.pred + p];
      if (std::bit_cast<std::uint64_t>(proba[p]) != std::bit_cast<std::uint64_t>(want)) {
        ++wrong;
        ADD_FAILURE() << name << " row " << r << " (" << row_text(f, r) << ") prediction " << p << ": "
                      << proba[p] << " != LightGBM " << want;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Lightgbm, LightgbmFixture,
                         ::testing::Values("binary_nan", "binary_zero", "regression", "multiclass", "multiclassova",
                                           "categorical", "rf_binary", "constant", "edges", "sigmoid"));

TEST(LightgbmLoader, DescribesTheModel) {
  const tf::forest_model b = tf::load_model(dir + "binary_nan.txt");
  EXPECT_EQ(b.format, "LightGBM text (v4)");
  EXPECT_EQ(b.objective, "binary sigmoid:0.123457");
  EXPECT_EQ(b.post, tf::link::lightgbm_sigmoid);
  EXPECT_EQ(b.link_scale, 0.123457);
  EXPECT_EQ(b.input, tf::precision::f64);
  EXPECT_EQ(b.sum, tf::precision::f64);
  EXPECT_EQ(b.compare, tf::comparison::less_equal);
  EXPECT_EQ(b.features, 5u);
  EXPECT_EQ(b.outputs, 1u);
  EXPECT_EQ(b.proba_columns, 1u);
  EXPECT_EQ(b.classes, (std::vector<double>{0, 1}));
  EXPECT_EQ(b.trees.size(), 12u);
  EXPECT_EQ(b.feature_names.size(), 5u);
  EXPECT_EQ(b.divisor, 1);

  const tf::forest_model mc = tf::load_model(dir + "multiclass.txt");
  EXPECT_EQ(mc.post, tf::link::lightgbm_softmax);
  EXPECT_EQ(mc.outputs, 3u);
  EXPECT_EQ(mc.proba_columns, 3u);
  EXPECT_EQ(mc.classes, (std::vector<double>{0, 1, 2}));
  for (std::size_t t = 0; t < mc.trees.size(); ++t) EXPECT_EQ(mc.trees[t].output, t % 3);

  const tf::forest_model rf = tf::load_model(dir + "rf_binary.txt");
  EXPECT_EQ(rf.divisor, 10);  // the iterations, not the trees' count per output
  const tf::forest_model cat = tf::load_model(dir + "categorical.txt");
  std::uint32_t widest = 0;
  for (const auto& s : cat.category_sets) {
    EXPECT_TRUE(s.in_set_left);
    EXPECT_FALSE(s.nan_is_zero);
    for (const std::uint32_t v : s.categories) widest = std::max(widest, v);
  }
  EXPECT_GE(widest, 96u);  // bitsets of four words and more were exercised
  const tf::forest_model k = tf::load_model(dir + "constant.txt");
  ASSERT_EQ(k.trees.size(), 1u);
  EXPECT_EQ(k.trees[0].nodes.size(), 1u);
}

// ---- malformed and unsupported models -------------------------------------------------------

class LightgbmMalformed : public ::testing::Test {
 protected:
  void SetUp() override { base_ = slurp(dir + "edges.txt"); }
  // The error load_model + compile_forest give for `text`, which must be one line naming the file.
  std::string error_of(const std::string& text) {
    const std::string path = dir_ / "malformed.txt";
    {
      std::ofstream out(path, std::ios::binary);
      out << text;
    }
    try {
      const tf::forest_model m = tf::load_model(path);
      (void)tf::compile_forest(m);
    } catch (const tandem::usage_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(path), std::string::npos) << what;
      return what;
    }
    ADD_FAILURE() << "accepted a malformed model";
    return "";
  }
  // base_ with the first occurrence of `from` after "Tree=<tree>" replaced by `to`.
  std::string edit(int tree, const std::string& from, const std::string& to) const {
    const std::size_t at = base_.find("Tree=" + std::to_string(tree) + "\n");
    const std::size_t p = base_.find(from, at);
    EXPECT_NE(p, std::string::npos) << from;
    std::string s = base_;
    return s.replace(p, from.size(), to);
  }
  std::string base_;
  tandem::testing::temp_dir dir_{"tandem_lightgbm_"};
};

#define EXPECT_MENTIONS(error, text) EXPECT_NE((error).find(text), std::string::npos) << (error)

TEST_F(LightgbmMalformed, TheBaseModelLoads) {
  const tf::forest_model m = tf::load_model(dir + "edges.txt");
  EXPECT_NO_THROW((void)tf::compile_forest(m));
  EXPECT_NE(edit(1, "left_child=-1 2 -3 -4 -5", "x"), base_);
}

TEST_F(LightgbmMalformed, Truncated) {
  for (const double frac : {0.05, 0.3, 0.5, 0.77, 0.95}) {
    const std::string e = error_of(base_.substr(0, std::size_t(double(base_.find("end of trees")) * frac)));
    EXPECT_TRUE(e.find("tree") != std::string::npos || e.find("header") != std::string::npos) << e;
  }
  EXPECT_MENTIONS(error_of(base_.substr(0, base_.find("leaf_value=0.015625") + 25)), "tree 1: leaf_value has 2 values");
}

TEST_F(LightgbmMalformed, NoEndOfTrees) {
  EXPECT_MENTIONS(error_of(base_.substr(0, base_.find("end of trees"))), "no 'end of trees' line after tree 5");
}

TEST_F(LightgbmMalformed, ChildOutOfRange) {
  EXPECT_MENTIONS(error_of(edit(1, "left_child=-1 2 -3 -4 -5", "left_child=-1 5 -3 -4 -5")),
                  "tree 1, node 1: left_child 5 is out of range (5 internal nodes)");
  EXPECT_MENTIONS(error_of(edit(1, "right_child=1 -2 3 4 -6", "right_child=1 -2 3 4 -7")),
                  "tree 1, node 4: right_child -7 is leaf 6, out of range (6 leaves)");
}

TEST_F(LightgbmMalformed, Cycle) {
  EXPECT_MENTIONS(error_of(edit(1, "left_child=-1 2 -3 -4 -5", "left_child=-1 2 -3 -4 2")),
                  "tree 1, node 4: left_child 2 is the child of two nodes");
  EXPECT_MENTIONS(error_of(edit(1, "left_child=-1 2 -3 -4 -5", "left_child=-1 2 -3 -4 0")),
                  "tree 1, node 4: left_child is the root");
}

TEST_F(LightgbmMalformed, FeatureBeyondMaxFeatureIdx) {
  EXPECT_MENTIONS(error_of(edit(2, "split_feature=1 2 3 3", "split_feature=1 2 3 4")),
                  "tree 2, node 3: split_feature 4 is beyond max_feature_idx 3");
}

TEST_F(LightgbmMalformed, ArrayLengthsDisagreeWithNumLeaves) {
  EXPECT_MENTIONS(error_of(edit(2, "threshold=inf -inf", "threshold=inf")),
                  "tree 2: threshold has 3 values where num_leaves - 1 needs 4");
  EXPECT_MENTIONS(error_of(edit(3, "decision_type=4 6 4 6", "decision_type=4 6 4 6 0")),
                  "tree 3: decision_type has more than 4 values");
  EXPECT_MENTIONS(error_of(edit(1, "num_leaves=6", "num_leaves=7")), "tree 1: leaf_value has 6 values");
}

TEST_F(LightgbmMalformed, AbsurdNumLeaves) {
  EXPECT_MENTIONS(error_of(edit(1, "num_leaves=6", "num_leaves=1000000000000")),
                  "tree 1: num_leaves 1000000000000 is more than");
  EXPECT_MENTIONS(error_of(edit(1, "num_leaves=6", "num_leaves=1000000")), "tree 1: leaf_value has 6 values");
  EXPECT_MENTIONS(error_of(edit(1, "num_leaves=6", "num_leaves=0")), "tree 1: num_leaves 0 is not");
  EXPECT_MENTIONS(error_of(edit(1, "num_leaves=6", "num_leaves=99999999999999999999999")),
                  "tree 1: num_leaves '99999999999999999999999' is not an integer");
}

TEST_F(LightgbmMalformed, NonNumericFields) {
  EXPECT_MENTIONS(error_of(edit(2, "threshold=inf", "threshold=abc")), "tree 2: threshold 'abc' is not a number");
  EXPECT_MENTIONS(error_of(edit(1, "leaf_value=0.015625", "leaf_value=0.015625x")),
                  "tree 1: leaf_value '0.015625x' is not a number");
  EXPECT_MENTIONS(error_of(edit(3, "decision_type=4 6", "decision_type=4 q")),
                  "tree 3: decision_type 'q' is not an integer");
  EXPECT_MENTIONS(error_of(edit(1, "num_cat=0", "num_cat=zero")), "tree 1: num_cat 'zero' is not an integer");
  EXPECT_MENTIONS(error_of(edit(2, "threshold=inf", "threshold=nan")), "tree 2, node 0: threshold is NaN");
  EXPECT_MENTIONS(error_of(edit(1, "leaf_value=0.015625", "leaf_value=inf")), "tree 1: a leaf_value is not finite");
  EXPECT_MENTIONS(error_of(edit(3, "decision_type=4 6", "decision_type=12 6")),
                  "tree 3, node 0: decision_type 12 is not a LightGBM decision type");
}

TEST_F(LightgbmMalformed, LinearTreesAreRefused) {
  EXPECT_MENTIONS(error_of(edit(2, "is_linear=0", "is_linear=1")), "tree 2: is a linear tree");
}

TEST_F(LightgbmMalformed, BadCategoricalSplits) {
  // Node 0 of tree 4 made categorical with cat_idx 0 of a one-word bitset.
  const std::string cat = edit(4, "num_cat=0", "num_cat=1\ncat_boundaries=0 1\ncat_threshold=10");
  EXPECT_MENTIONS(error_of(edit(4, "decision_type=0 0 2", "decision_type=1 0 2")),
                  "tree 4, node 0: categorical threshold");  // -inf is no category index
  std::string s = cat;
  s.replace(s.find("threshold=-inf", s.find("Tree=4")), 14, "threshold=0");
  s.replace(s.find("decision_type=0 0 2", s.find("Tree=4")), 19, "decision_type=1 0 2");
  {
    const std::string path = dir_ / "categorical.txt";
    std::ofstream(path, std::ios::binary) << s;
    EXPECT_NO_THROW((void)tf::compile_forest(tf::load_model(path)));
  }
  std::string bad = s;
  bad.replace(bad.find("cat_boundaries=0 1"), 18, "cat_boundaries=0 2");
  EXPECT_MENTIONS(error_of(bad), "tree 4: cat_threshold has 1 words where cat_boundaries ends at 2");
  bad = s;
  bad.replace(bad.find("threshold=0 inf", bad.find("Tree=4")), 15, "threshold=1 inf");
  EXPECT_MENTIONS(error_of(bad), "tree 4, node 0: categorical threshold 1.000000 is not a category index below num_cat 1");
  bad = s;
  bad.replace(bad.find("cat_threshold=10"), 16, "cat_threshold=-1");
  EXPECT_MENTIONS(error_of(bad), "tree 4: cat_threshold '-1' is not a 32-bit word");
}

TEST_F(LightgbmMalformed, HeaderAndObjective) {
  const auto header = [&](const std::string& from, const std::string& to) {
    std::string s = base_;
    return s.replace(s.find(from), from.size(), to);
  };
  EXPECT_MENTIONS(error_of(header("objective=regression", "objective=regression sqrt")), "sqrt transform");
  EXPECT_MENTIONS(error_of(header("objective=regression", "objective=cross_entropy_lambda")),
                  "objective 'cross_entropy_lambda' is not supported");
  EXPECT_MENTIONS(error_of(header("objective=regression", "objective=binary sigmoid:-1")), "sigmoid parameter");
  EXPECT_MENTIONS(error_of(header("objective=regression", "objective=multiclass num_class:3")),
                  "objective 'multiclass num_class:3' disagrees with num_class=1");
  std::string three = header("num_class=1", "num_class=3");
  three.replace(three.find("objective=regression"), 20, "objective=multiclass num_class:3");
  EXPECT_MENTIONS(error_of(three), "with num_tree_per_iteration=1 (3 expected)");
  EXPECT_MENTIONS(error_of(header("num_tree_per_iteration=1", "num_tree_per_iteration=2")),
                  "5 trees is not a whole number of iterations of 2 trees");
  EXPECT_MENTIONS(error_of(header("max_feature_idx=3", "max_feature_idx=2")), "4 feature_names for max_feature_idx 2");
  EXPECT_MENTIONS(error_of(header("max_feature_idx=3", "max_feature_idx=x")), "max_feature_idx 'x' is not an integer");
  EXPECT_MENTIONS(error_of(header("Tree=3\n", "Tree=7\n")), "expected 'Tree=3' or 'end of trees', found 'Tree=7'");
  EXPECT_MENTIONS(error_of("tree\nversion=v4\nnum_class=1\n"), "no trees");
}

// The objective's sigmoid is read as LightGBM reads it (Common::Atof, not correctly rounded):
// "1.00544" is 1.0054400000000001 to LightGBM, one double above the correctly rounded value, and
// the "sigmoid" fixture's probabilities show it (about half its rows differ with 1.00544).
TEST(LightgbmLoader, SigmoidIsReadAsLightgbmReadsIt) {
  const tf::forest_model m = tf::load_model(dir + "sigmoid.txt");
  EXPECT_EQ(m.link_scale, 1.0054400000000001);
  EXPECT_NE(m.link_scale, 1.00544);
}

// Load speed: TANDEM_LIGHTGBM_BIG_MODEL names a large model (e.g. 3M nodes); prints the time of
// load_model + compile_forest. Run with --gtest_also_run_disabled_tests.
TEST(LightgbmLoader, DISABLED_LoadSpeed) {
  const char* path = std::getenv("TANDEM_LIGHTGBM_BIG_MODEL");
  if (!path) GTEST_SKIP() << "TANDEM_LIGHTGBM_BIG_MODEL is not set";
  // CPU time beside wall time: on a shared machine the wall time includes waiting for a core.
  const auto cpu = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = cpu();
    const tf::forest_model m = tf::load_model(path);
    const auto t1 = std::chrono::steady_clock::now();
    const double c1 = cpu();
    const tf::compiled_forest c = tf::compile_forest(m);
    const auto t2 = std::chrono::steady_clock::now();
    const double c2 = cpu();
    std::printf("%llu nodes, %zu trees: load %.3f s (cpu %.3f), compile %.3f s (cpu %.3f)\n",
                (unsigned long long)c.nodes(), m.trees.size(), std::chrono::duration<double>(t1 - t0).count(), c1 - c0,
                std::chrono::duration<double>(t2 - t1).count(), c2 - c1);
  }
}

}  // namespace
