// Exactness of the xgboost loader against the library's own predictions (fixtures in testdata/xgboost/,
// made by make_fixtures.py with XGBoost 1.7.4, 2.1.4 and 3.2.0), and the one-line refusals of
// malformed and unsupported models.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <string>
#include <vector>

#include "tandem/errors.hpp"
#include "temp_dir.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tf = tandem::forest;
namespace fs = std::filesystem;

namespace {

using tandem::testing::slurp;

const std::string testdata = std::string(TANDEM_FOREST_TESTDATA) + "/xgboost/";

// One .expected file: rows of inputs, XGBoost's margins and its predict() output.
struct expected {
  std::string objective;
  std::size_t rows = 0, features = 0, margins = 0, predict = 0;
  std::vector<double> x, margin, pred;
};

expected read_expected(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  expected e;
  std::string line, word;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    if (line.rfind("objective ", 0) == 0) {
      s >> word >> e.objective;
    } else if (line.rfind("rows ", 0) == 0) {
      s >> word >> e.rows >> word >> e.features >> word >> e.margins >> word >> e.predict;
    } else {
      // strtod reads "nan" and "-0"; margins and predict values are float32 written with 9 digits.
      const char* p = line.c_str();
      char* end = nullptr;
      for (std::size_t i = 0; i < e.features + e.margins + e.predict; ++i) {
        const double v = std::strtod(p, &end);
        EXPECT_NE(end, p) << path << ": short line";
        p = end;
        if (i < e.features) e.x.push_back(v);
        else if (i < e.features + e.margins) e.margin.push_back(double(float(v)));
        else e.pred.push_back(double(float(v)));
      }
    }
  }
  EXPECT_EQ(e.x.size(), e.rows * e.features) << path;
  return e;
}

std::uint32_t bits(double v) { return std::bit_cast<std::uint32_t>(float(v)); }

class xgboost_fixture : public ::testing::TestWithParam<std::string> {};

// Margins bit for bit equal to predict(output_margin=True); probabilities bit for bit equal to
// predict() (glibc's expf, which XGBoost's wheels and Debian's build call too); for multi:softmax
// the predicted class equal to predict()'s class index.
TEST_P(xgboost_fixture, margins_and_predict_equal_xgboost_bitwise) {
  const std::string name = GetParam();
  const expected e = read_expected(testdata + name + ".expected");
  const tf::forest_model m = tf::load_model(testdata + name + ".json");
  ASSERT_EQ(m.objective, e.objective);
  ASSERT_EQ(m.features, e.features);
  ASSERT_EQ(m.outputs, e.margins);
  const tf::compiled_forest c = tf::compile_forest(m);
  const std::vector<double> got = tf::reference_margins(m, c, e.x.data(), e.rows);
  std::size_t differ = 0;
  for (std::size_t r = 0; r < e.rows; ++r)
    for (std::size_t o = 0; o < e.margins; ++o)
      if (bits(got[r * e.margins + o]) != bits(e.margin[r * e.margins + o]) && differ++ < 5)
        ADD_FAILURE() << name << " row " << r << " margin " << o << ": " << got[r * e.margins + o] << " vs XGBoost's "
                      << e.margin[r * e.margins + o];
  EXPECT_EQ(differ, 0u);

  std::vector<double> proba(m.proba_columns);
  differ = 0;
  for (std::size_t r = 0; r < e.rows; ++r) {
    tf::margins_to_proba(m, got.data() + r * e.margins, proba.data());
    if (e.objective == "multi:softmax") {
      ASSERT_EQ(e.predict, 1u);
      const std::size_t k = tf::predicted_class(m, proba.data());
      if (m.classes[k] != e.pred[r] && differ++ < 5)
        ADD_FAILURE() << name << " row " << r << ": class " << m.classes[k] << " vs XGBoost's " << e.pred[r];
      continue;
    }
    ASSERT_EQ(m.proba_columns, e.predict);
    for (std::size_t j = 0; j < e.predict; ++j)
      if (bits(proba[j]) != bits(e.pred[r * e.predict + j]) && differ++ < 5)
        ADD_FAILURE() << name << " row " << r << " predict " << j << ": " << proba[j] << " vs XGBoost's "
                      << e.pred[r * e.predict + j];
  }
  EXPECT_EQ(differ, 0u);
}

std::vector<std::string> fixtures() {
  std::vector<std::string> names;
  for (const char* v : {"v1_", "v2_", "v3_"})
    for (const char* m : {"binary", "edited_base", "regression", "softprob", "softmax", "base_score", "poisson",
                          "categorical", "onehot"})
      names.push_back(std::string(v) + m);
  for (const char* m : {"v1_reg_logistic", "v1_logitraw", "v1_absoluteerror"}) names.push_back(m);
  return names;
}

INSTANTIATE_TEST_SUITE_P(fixtures, xgboost_fixture, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

TEST(forest_xgboost, describes_the_model) {
  const tf::forest_model b = tf::load_model(testdata + "v1_binary.json");
  EXPECT_EQ(b.format, "XGBoost JSON (version 1.7.4)");
  EXPECT_EQ(b.objective, "binary:logistic");
  EXPECT_EQ(b.features, 6u);
  EXPECT_EQ(b.outputs, 1u);
  EXPECT_EQ(b.trees.size(), 20u);
  EXPECT_EQ(b.post, tf::link::xgboost_sigmoid);
  EXPECT_EQ(b.proba_columns, 1u);
  EXPECT_EQ(b.classes, (std::vector<double>{0, 1}));
  EXPECT_EQ(b.input, tf::precision::f32);
  EXPECT_EQ(b.sum, tf::precision::f32);
  EXPECT_EQ(b.compare, tf::comparison::less);
  EXPECT_EQ(b.base, std::vector<double>{0.0});  // base_score 0.5 is margin 0

  const tf::forest_model s = tf::load_model(testdata + "v3_softprob.json");
  EXPECT_EQ(s.format, "XGBoost JSON (version 3.2.0)");
  EXPECT_EQ(s.outputs, 4u);
  EXPECT_EQ(s.proba_columns, 4u);
  EXPECT_EQ(s.classes, (std::vector<double>{0, 1, 2, 3}));
  ASSERT_EQ(s.base.size(), 4u);
  EXPECT_NE(s.base[0], s.base[1]);  // 3.x writes one intercept per class
  for (std::size_t t = 0; t < s.trees.size(); ++t) EXPECT_EQ(s.trees[t].output, t % 4);

  const tf::forest_model k = tf::load_model(testdata + "v2_categorical.json");
  EXPECT_EQ(k.feature_names, (std::vector<std::string>{"a", "num", "b"}));
  EXPECT_FALSE(k.category_sets.empty());
  for (const auto& set : k.category_sets) {
    EXPECT_FALSE(set.in_set_left);
    EXPECT_TRUE(set.negative_invalid);
  }
}

// base_score text that a reader which is not correctly rounded (dmlc-core's strtof) would take one
// ulp off: every version reads it correctly rounded (the fixtures show XGBoost agrees).
TEST(forest_xgboost, base_score_is_correctly_rounded_in_every_version) {
  const float correct = std::strtof("2.7439097E-1", nullptr);
  for (const char* v : {"v1_", "v2_", "v3_"}) {
    const tf::forest_model m = tf::load_model(testdata + v + "edited_base.json");
    ASSERT_EQ(m.base.size(), 1u);
    EXPECT_EQ(m.base[0], double(-std::log(1.0f / correct - 1.0f))) << v;
  }
}

// --- malformed and unsupported models -------------------------------------------------------

class malformed_models : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = slurp(testdata + "v1_binary.json");
    ASSERT_FALSE(good_.empty());
  }

  // `good_` with the first `from` replaced by `to`.
  std::string edit(const std::string& from, const std::string& to) const {
    std::string t = good_;
    const std::size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) t.replace(at, from.size(), to);
    return t;
  }
  // The one-line message loading (and compiling) `text` gives; it names the file.
  std::string refusal(const std::string& text, const std::string& file = "m.json") {
    const std::string path = dir_ / file;
    std::ofstream(path, std::ios::binary) << text;
    try {
      const tf::forest_model m = tf::load_model(path);
      tf::compile_forest(m);
    } catch (const tandem::usage_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(path), std::string::npos) << what;
      return what;
    }
    ADD_FAILURE() << "accepted: " << file;
    return {};
  }
  void expect_refused(const std::string& text, const std::string& part) {
    const std::string what = refusal(text);
    EXPECT_NE(what.find(part), std::string::npos) << "'" << what << "' does not say '" << part << "'";
  }

  tandem::testing::temp_dir dir_{"tandem_xgb_"};
  std::string good_;
};

TEST_F(malformed_models, the_unedited_model_loads) {
  const std::string path = dir_ / "m.json";
  std::ofstream(path, std::ios::binary) << good_;
  EXPECT_NO_THROW(tf::compile_forest(tf::load_model(path)));
}

TEST_F(malformed_models, truncated_json) {
  for (const double at : {0.1, 0.5, 0.9, 0.999}) {
    const std::string what = refusal(good_.substr(0, std::size_t(double(good_.size()) * at)));
    EXPECT_NE(what.find("JSON"), std::string::npos) << what;
  }
}

TEST_F(malformed_models, node_index_out_of_range) {
  expect_refused(edit("\"left_children\":[1,", "\"left_children\":[99,"), "tree 0: node 0: child 99 is out of range");
  expect_refused(edit("\"right_children\":[2,", "\"right_children\":[-5,"), "tree 0: node 0: child -5 is out of range");
}

TEST_F(malformed_models, a_cycle) {
  // Node 1's left child becomes the root: found by compile_forest's walk.
  const std::size_t at = good_.find("\"left_children\":[1,");
  ASSERT_NE(at, std::string::npos);
  std::string t = good_;
  const std::size_t second = t.find(',', at) + 1;  // node 1's entry
  const std::size_t end = t.find(',', second);
  ASSERT_NE(t.substr(second, end - second), "-1");  // node 1 is a split
  t.replace(second, end - second, "0");
  const std::string what = refusal(t);
  EXPECT_NE(what.find("tree 0, node 1: child 0 is reached twice"), std::string::npos) << what;
}

TEST_F(malformed_models, split_index_beyond_num_feature) {
  const std::size_t at = good_.find("\"split_indices\":[");
  ASSERT_NE(at, std::string::npos);
  std::string t = good_;
  const std::size_t first = at + std::string("\"split_indices\":[").size();
  t.replace(first, t.find(',', first) - first, "6");
  expect_refused(t, "tree 0: node 0: split index 6 is out of range (num_feature 6)");
  t.replace(first, t.find(',', first) - first, "-1");
  expect_refused(t, "tree 0: node 0: split index -1 is out of range");
}

TEST_F(malformed_models, array_lengths_that_disagree) {
  expect_refused(edit("\"right_children\":[2,", "\"right_children\":["), "tree 0: right_children has");
  expect_refused(edit("\"default_left\":[", "\"default_left\":[0,"), "tree 0: default_left has");
  expect_refused(edit("\"tree_info\":[0,", "\"tree_info\":["), "tree_info has 19 entries for 20 trees");
}

TEST_F(malformed_models, absurd_num_nodes) {
  const std::size_t at = good_.find("\"num_nodes\":\"");
  ASSERT_NE(at, std::string::npos);
  std::string t = good_;
  const std::size_t first = at + std::string("\"num_nodes\":\"").size();
  t.replace(first, t.find('"', first) - first, "99999999999999");
  expect_refused(t, "values for 99999999999999 nodes");
  t.replace(first, t.find('"', first) - first, "99999999999999999999999");
  expect_refused(t, "tree_param.num_nodes (not an integer)");
}

TEST_F(malformed_models, non_gbtree_boosters) {
  expect_refused(edit("\"name\":\"gbtree\"", "\"name\":\"gblinear\""), "the gblinear booster (a linear model) is not supported");
  expect_refused(edit("\"name\":\"gbtree\"", "\"name\":\"dart\""), "the dart booster is not supported");
  expect_refused(edit("\"name\":\"binary:logistic\"", "\"name\":\"binary:hinge\""), "objective 'binary:hinge' is not supported");
}

TEST_F(malformed_models, wrong_json_types) {
  expect_refused(edit("\"left_children\":[1,", "\"left_children\":[\"1\","), "tree 0: left_children (not an array of integers)");
  expect_refused(edit("\"split_conditions\":[", "\"split_conditions\":[true,"), "tree 0: split_conditions (not an array of numbers)");
  expect_refused(edit("\"trees\":[", "\"trees\":{\"a\":["), "trees (not an array)");
  expect_refused(edit("\"num_feature\":\"6\",\"num_target\"", "\"num_feature\":[6],\"num_target\""),
                 "learner_model_param.num_feature (not an integer)");
  expect_refused(edit("\"default_left\":[", "\"default_left\":[2,"), "tree 0: default_left (not an array of 0/1)");
  expect_refused("{\"learner\": 5, \"version\": [1, 7, 4]}", "learner (not an object)");
  expect_refused("{\"version\":[1,7,4]}", "no \"learner\"");
}

TEST_F(malformed_models, bad_values) {
  expect_refused(edit("\"base_score\":\"5E-1\"", "\"base_score\":\"1.5E0\""), "is not in (0, 1)");
  expect_refused(edit("\"base_score\":\"5E-1\"", "\"base_score\":\"half\""), "base_score 'half' is not a number");
  expect_refused(edit("\"tree_info\":[0,", "\"tree_info\":[3,"), "tree 0: tree_info 3 is out of range (1 outputs)");
  expect_refused(edit("\"id\":1,", "\"id\":0,"), "id 0 is out of range or repeated");
  expect_refused(edit("\"num_trees\":\"20\"", "\"num_trees\":\"21\""), "num_trees is 21 but there are 20 trees");
}

TEST_F(malformed_models, bad_categories) {
  good_ = slurp(testdata + "v1_categorical.json");
  const std::size_t at = good_.find("\"categories\":[");
  ASSERT_NE(at, std::string::npos);
  std::string t = good_;
  t.insert(at + std::string("\"categories\":[").size(), "-3,");
  expect_refused(t, "category -3 is out of range");
  expect_refused(edit("\"categories_segments\":[0,", "\"categories_segments\":[100000,"), "category segment [100000");
  expect_refused(edit("\"categories_sizes\":[", "\"categories_sizes\":[7,"), "categories_nodes, categories_segments and categories_sizes have");
}

// The load-speed measurement (not a test: it needs a big file). Set TANDEM_XGBOOST_BIG to an XGBoost
// JSON model, e.g. one of ~3M nodes from 380 trees of depth 12, and run with
// --gtest_also_run_disabled_tests --gtest_filter='*big*'. Measured (Release, 2 shared cores, load
// average ~2.8): XGBoost 2.1.4's 380 trees of depth 12 on random data, 1.60 M nodes in 92 MB, load
// 0.30-0.44 s + compile 0.04-0.06 s; those trees twice (3.19 M nodes, 175 MB), load 0.68-0.78 s +
// compile 0.10 s. The time is simdjson's on-demand walk, float parsing (from_chars, correctly
// rounded as XGBoost's reader) and page faults of the model's own memory.
TEST(forest_xgboost, DISABLED_big_model_load_time) {
  const char* path = std::getenv("TANDEM_XGBOOST_BIG");
  if (!path) GTEST_SKIP() << "TANDEM_XGBOOST_BIG is not set";
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const tf::forest_model m = tf::load_model(path);
    const auto t1 = std::chrono::steady_clock::now();
    const tf::compiled_forest c = tf::compile_forest(m);
    const auto t2 = std::chrono::steady_clock::now();
    std::printf("%llu nodes, %zu trees: load_model %.3f s, compile_forest %.3f s\n",
                static_cast<unsigned long long>(c.nodes()), m.trees.size(),
                std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  }
}

}  // namespace
