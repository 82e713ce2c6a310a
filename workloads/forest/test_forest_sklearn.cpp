// Exactness of the scikit-learn path against the library's own predictions (fixtures in
// testdata/sklearn/, made by make_fixtures.py with Debian's scikit-learn 1.2.1 and a recent one
// from PyPI), the behaviour chosen where scikit-learn refuses NaN, the refusal of malformed
// Tandem forest JSON, and the Titanic example end to end when its data is present.
#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "tandem/errors.hpp"
#include "temp_dir.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tf = tandem::forest;
namespace fs = std::filesystem;

namespace {

using tandem::testing::slurp;

const std::string testdata = std::string(TANDEM_FOREST_TESTDATA) + "/sklearn";

// A CSV of doubles with a header (round-trip text, "nan" for NaN).
struct table {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
  std::size_t count(char prefix) const {
    std::size_t n = 0;
    for (const auto& h : header) n += !h.empty() && h[0] == prefix && h.size() > 1 && std::isdigit(h[1]);
    return n;
  }
};

table read_csv(const std::string& path) {
  table t;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::string line;
  bool first = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cells;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      cells.push_back(line.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (first) {
      t.header = cells;
      first = false;
      continue;
    }
    std::vector<double> row;
    for (const std::string& c : cells) {
      double v = 0;
      const auto r = std::from_chars(c.data(), c.data() + c.size(), v);
      EXPECT_TRUE(r.ec == std::errc() && r.ptr == c.data() + c.size()) << path << ": bad number '" << c << "'";
      row.push_back(v);
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }

struct fixture_case {
  std::string folder, name;
};

std::string case_name(const ::testing::TestParamInfo<fixture_case>& info) {
  return info.param.folder + "_" + info.param.name;
}

class sklearn_fixture : public ::testing::TestWithParam<fixture_case> {};

// Margins (forests: predict_proba / predict; GradientBoosting: decision_function) bitwise; the
// probabilities bitwise where the library's arithmetic is reproduced (identity, expit), within
// the bound of numpy's exp otherwise (softmax); the predicted label exactly.
TEST_P(sklearn_fixture, reproduces_scikit_learn) {
  const std::string base = testdata + "/" + GetParam().folder + "/" + GetParam().name;
  const tf::forest_model m = tf::load_model(base + ".json");
  const tf::compiled_forest c = tf::compile_forest(m);
  const table t = read_csv(base + ".csv");
  const std::size_t nf = t.count('x'), no = t.count('m'), np = t.count('p');
  ASSERT_EQ(nf, m.features);
  ASSERT_EQ(no, m.outputs);
  ASSERT_EQ(np, m.proba_columns);
  ASSERT_GE(t.rows.size(), 100u);
  std::vector<double> x;
  for (const auto& r : t.rows) x.insert(x.end(), r.begin(), r.begin() + std::ptrdiff_t(nf));
  const std::vector<double> got = tf::reference_margins(m, c, x.data(), t.rows.size());
  const bool softmax = m.post == tf::link::sklearn_softmax || m.post == tf::link::sklearn_logsumexp;
  std::vector<double> proba(m.proba_columns);
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    const auto& row = t.rows[r];
    double biggest = 0;
    for (std::size_t o = 0; o < no; ++o) {
      const double want = row[nf + o], have = got[r * no + o];
      ASSERT_EQ(bits(have), bits(want)) << GetParam().name << " row " << r << " margin " << o << ": " << have
                                        << " vs scikit-learn " << want;
      biggest = std::max(biggest, std::fabs(want));
    }
    tf::margins_to_proba(m, &got[r * no], proba.data());
    for (std::size_t p = 0; p < np; ++p) {
      const double want = row[nf + no + p];
      if (!softmax) {
        ASSERT_EQ(bits(proba[p]), bits(want)) << GetParam().name << " row " << r << " proba " << p << ": "
                                              << proba[p] << " vs scikit-learn " << want;
        continue;
      }
      // scikit-learn's softmax takes numpy's exp (and, before 1.4, log), which on this x86-64
      // machine is numpy's own AVX512F code: measured against glibc over 2M arguments it differs
      // by at most 2 ulp (numpy 1.24) / 1 ulp (numpy 2.4), which cannot be reproduced with libm.
      // Each exp/log contributes a relative error of at most 2 ulp; the sum of k terms and the
      // division at most k + 1 more; before 1.4, exp(m - logsumexp(m)) also carries the absolute
      // error of logsumexp (about 2 ulp of its magnitude, which is at most |m|max + log k) into
      // the exponent. So the relative bound is 2^-52 * (8 + k + 4 (|m|max + log k + 1)).
      const double k = double(np);
      const double bound = std::ldexp(8 + k + 4 * (biggest + std::log(k) + 1), -52) * std::fabs(want);
      ASSERT_LE(std::fabs(proba[p] - want), bound)
          << GetParam().name << " row " << r << " proba " << p << ": " << proba[p] << " vs scikit-learn " << want;
    }
    const double label = row[nf + no + np];
    if (m.classes.empty()) {
      ASSERT_EQ(bits(label), bits(proba[0])) << "row " << r;
    } else {
      ASSERT_EQ(m.classes[tf::predicted_class(m, proba.data())], label) << GetParam().name << " row " << r;
    }
  }
}

std::vector<fixture_case> fixture_cases() {
  std::vector<fixture_case> v;
  for (const char* folder : {"debian", "recent"})
    for (const char* name : {"rf_classifier", "rf_regressor", "extra_trees_classifier", "extra_trees_regressor",
                             "decision_tree_classifier", "decision_tree_regressor", "gb_binary",
                             "gb_binary_exponential", "gb_multiclass", "gb_multiclass_10", "gb_regressor"})
      v.push_back({folder, name});
  v.push_back({"debian", "titanic_like"});
  v.push_back({"recent", "rf_classifier_nan"});
  return v;
}

INSTANTIATE_TEST_SUITE_P(models, sklearn_fixture, ::testing::ValuesIn(fixture_cases()), case_name);

// Where scikit-learn refuses NaN (1.2 everywhere; GradientBoosting in every version, whose
// predict_stages compares `x <= t` with no missing-value branch), Tandem sends NaN right at every
// split, documented in docs/forest-format.md: the same leaf as a value above every threshold.
TEST(sklearn_nan, goes_right_where_scikit_learn_has_no_missing_value_rule) {
  const std::vector<std::string> models = {"debian/rf_classifier", "debian/gb_multiclass", "debian/decision_tree_regressor",
                                           "recent/gb_binary", "recent/gb_regressor"};
  for (const std::string& name : models) {
    const tf::forest_model m = tf::load_model(testdata + "/" + name + ".json");
    const tf::compiled_forest c = tf::compile_forest(m);
    const table t = read_csv(testdata + "/" + name + ".csv");
    const std::size_t nf = m.features;
    std::vector<double> with_nan, with_big;
    for (std::size_t r = 0; r < t.rows.size(); ++r)
      for (std::size_t f = 0; f < nf; ++f) {
        const bool missing = (r + f) % 3 == 0;
        with_nan.push_back(missing ? std::numeric_limits<double>::quiet_NaN() : t.rows[r][f]);
        with_big.push_back(missing ? 3e38 : t.rows[r][f]);  // above every threshold, still a float
      }
    const auto a = tf::reference_margins(m, c, with_nan.data(), t.rows.size());
    const auto b = tf::reference_margins(m, c, with_big.data(), t.rows.size());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) ASSERT_EQ(bits(a[i]), bits(b[i])) << name << " margin " << i;
  }
}

// The recent scikit-learn routes NaN by each node's missing_go_to_left, and a forest trained with
// NaN has "missing or not" splits at threshold +inf (written "inf"): the fixture exercises both
// (reproduces_scikit_learn/recent_rf_classifier_nan); here, that the export holds such splits.
TEST(sklearn_nan, nan_trained_forest_has_infinite_thresholds_and_missing_left) {
  const tf::forest_model m = tf::load_model(testdata + "/recent/rf_classifier_nan.json");
  std::size_t inf = 0, left = 0;
  for (const auto& t : m.trees)
    for (const auto& n : t.nodes)
      if (!n.leaf) {
        inf += std::isinf(n.threshold);
        left += n.default_left;
      }
  EXPECT_GT(inf, 0u);
  EXPECT_GT(left, 0u);
}

TEST(sklearn_load, describes_the_model) {
  const tf::forest_model m = tf::load_model(testdata + "/debian/gb_multiclass.json");
  EXPECT_EQ(m.format, "Tandem forest JSON 1 (scikit-learn 1.2.1, GradientBoostingClassifier)");
  EXPECT_EQ(m.objective, "GradientBoostingClassifier(log_loss)");
  EXPECT_EQ(m.post, tf::link::sklearn_logsumexp);
  EXPECT_EQ(m.outputs, 3u);
  EXPECT_EQ(m.trees.size(), 30u);
  EXPECT_EQ(m.classes, (std::vector<double>{0, 1, 2}));
  const tf::forest_model r = tf::load_model(testdata + "/recent/rf_classifier.json");
  EXPECT_EQ(r.post, tf::link::identity);
  EXPECT_EQ(r.divisor, 20);
  EXPECT_EQ(r.leaf_width, 3u);
  EXPECT_EQ(r.input, tf::precision::f32);
  EXPECT_EQ(r.sum, tf::precision::f64);
  EXPECT_EQ(r.compare, tf::comparison::less_equal);
}

// A small valid document, edited by each malformed case.
const std::string small_model = R"({"format": "tandem-forest", "format_version": 1,
"producer": {"tool": "test", "library": "scikit-learn", "library_version": "0", "estimator": "RandomForestClassifier"},
"objective": "RandomForestClassifier", "n_features": 2, "feature_names": [], "input": "f32",
"comparison": "less_equal", "sum": "f64", "n_outputs": 2, "leaf_width": 2, "base": [0.0, 0.0], "divisor": 2.0,
"link": "identity", "link_scale": 1.0, "classes": [0, 1], "proba_columns": 2,
"trees": [
{"output": 0, "left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, -2, -2], "threshold": [0.5, -2.0, -2.0], "missing_left": [0, 0, 0], "values": [1.0, 0.0, 0.25, 0.75]},
{"output": 0, "left": [1, 3, -1, -1, -1], "right": [2, 4, -1, -1, -1], "feature": [1, 0, -2, -2, -2], "threshold": ["inf", -1.5, -2.0, -2.0, -2.0], "missing_left": [1, 0, 0, 0, 0], "values": [0.5, 0.5, 1.0, 0.0, 0.0, 1.0]}
]}
)";

using tandem::testing::temp_dir;

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const std::size_t at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

// Loads and compiles `text` from a file; expects one line naming the file and containing `words`.
void expect_malformed(const temp_dir& dir, const std::string& text, const std::string& words) {
  const std::string path = dir.path.string() + "/bad.json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
  }
  try {
    const tf::forest_model m = tf::load_model(path);
    tf::compile_forest(m);
    ADD_FAILURE() << "accepted; expected: " << words;
  } catch (const tandem::usage_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find(words), std::string::npos) << "expected '" << words << "' in: " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(sklearn_load, the_small_document_is_valid) {
  temp_dir dir;
  const std::string path = dir.path.string() + "/ok.json";
  std::ofstream(path) << small_model;
  const tf::forest_model m = tf::load_model(path);
  const tf::compiled_forest c = tf::compile_forest(m);
  // Tree 1 splits feature 1 at +inf with NaN left: every row reaches its node 1 (feature 0 at
  // -1.5), whose leaves are nodes 3 [1, 0] and 4 [0, 1]; its node 2 [0.5, 0.5] is never reached.
  const double rows[] = {0.5, 7, 0.6, std::numeric_limits<double>::quiet_NaN(), -1.5, 0, -1.4, 0};
  const auto got = tf::reference_margins(m, c, rows, 4);
  EXPECT_EQ(got, (std::vector<double>{0.5, 0.5, 0.125, 0.875, 1.0, 0.0, 0.5, 0.5}));
}

TEST(sklearn_load, refuses_malformed_files_with_one_line_naming_the_place) {
  temp_dir dir;
  const std::string& s = small_model;
  expect_malformed(dir, s.substr(0, s.size() / 2), "not valid Tandem forest JSON");
  expect_malformed(dir, s.substr(0, s.size() - 4), "not valid Tandem forest JSON");
  expect_malformed(dir, replaced(s, "\"format_version\": 1", "\"format_version\": 2"),
                   "format_version 2 is not supported");
  expect_malformed(dir, replaced(s, "\"format_version\": 1", "\"format_version\": \"1\""),
                   "field \"format_version\": not valid");
  expect_malformed(dir, replaced(s, "\"left\": [1, 3, -1, -1, -1]", "\"left\": [1, 9, -1, -1, -1]"),
                   "tree 1, node 1: children 9, 4 are out of range (5 nodes");
  expect_malformed(dir, replaced(s, "\"left\": [1, 3, -1, -1, -1]", "\"left\": [1, 0, -1, -1, -1]"),
                   "tree 1, node 1: child 0 is reached twice");
  expect_malformed(dir, replaced(s, "\"left\": [1, 3, -1, -1, -1]", "\"left\": [1, -1, -1, -1, -1]"),
                   "tree 1, node 1: children -1, 4 are out of range");
  expect_malformed(dir, replaced(s, "\"feature\": [1, 0, -2", "\"feature\": [1, 2, -2"),
                   "tree 1, node 1: feature 2 is out of range (2 features)");
  expect_malformed(dir, replaced(s, "\"values\": [1.0, 0.0, 0.25, 0.75]", "\"values\": [1.0, 0.0, 0.25]"),
                   "tree 0: 3 leaf values for 2 leaves of 2 (4 expected)");
  expect_malformed(dir, replaced(s, "\"threshold\": [0.5, -2.0, -2.0]", "\"threshold\": [0.5, -2.0]"),
                   "tree 0: the node arrays differ in length");
  expect_malformed(dir, replaced(s, "\"threshold\": [0.5,", "\"threshold\": [\"x\","),
                   "tree 0: \"threshold\": element 0: not valid");
  expect_malformed(dir, replaced(s, "\"missing_left\": [1,", "\"missing_left\": [7,"),
                   "tree 1, node 0: missing_left 7 is not 0 or 1");
  expect_malformed(dir, replaced(s, "\"n_features\": 2", "\"n_features\": 1000000000000"),
                   "field \"n_features\": 1000000000000 is out of range");
  expect_malformed(dir, replaced(s, "\"n_outputs\": 2", "\"n_outputs\": 4000000000"),
                   "field \"n_outputs\": 4000000000 is out of range");
  expect_malformed(dir, replaced(s, "\"leaf_width\": 2", "\"leaf_width\": 3"), "field \"leaf_width\": 3 is out of range");
  expect_malformed(dir, replaced(s, "{\"output\": 0, \"left\": [1, 3", "{\"output\": 4294967296, \"left\": [1, 3"),
                   "tree 1: output 4294967296 is out of range");
  expect_malformed(dir, replaced(s, "\"n_features\": 2", "\"n_features\": 99999999999999999999999"),
                   "field \"n_features\": not valid");
  expect_malformed(dir, replaced(s, "\"base\": [0.0, 0.0]", "\"base\": [0.0]"), "1 base values for 2 outputs");
  expect_malformed(dir, replaced(s, "\"divisor\": 2.0", "\"divisor\": -1"), "the divisor is not a positive number");
  expect_malformed(dir, replaced(s, "\"link\": \"identity\"", "\"link\": \"sklearn_expit\""),
                   "link \"sklearn_expit\" needs 1 output and 2 proba_columns");
  expect_malformed(dir, replaced(s, "\"classes\": [0, 1]", "\"classes\": [0, 1, 2]"), "3 classes for 2 proba_columns");
  expect_malformed(dir, replaced(s, "\"divisor\": 2.0,", ""), "field \"divisor\" is missing");
  expect_malformed(dir, replaced(s, "\"divisor\": 2.0,", "\"divisor\": 2.0, \"divisor\": 3.0,"),
                   "field \"divisor\": appears twice");
  expect_malformed(dir, replaced(s, "\"divisor\": 2.0,", "\"divisor\": 2.0, \"depth\": 3,"), "unknown field \"depth\"");
  expect_malformed(dir, replaced(s, "{\"output\": 0, \"left\": [1, -1", "{\"output\": 0, \"leaves\": 2, \"left\": [1, -1"),
                   "tree 0: unknown field \"leaves\"");
  expect_malformed(dir, replaced(s, "\"input\": \"f32\"", "\"input\": \"f16\""), "\"f16\" is not \"f32\" or \"f64\"");
  expect_malformed(dir, replaced(s, "\"trees\": [", "\"x\": 1, \"trees\": ["), "unknown field \"x\"");
  expect_malformed(dir, replaced(s, "\n]}\n", "\n], \"divisor\": 3}\n"), "field \"divisor\" after \"trees\"");
  expect_malformed(dir, s.substr(0, s.find("\"trees\": [")) + "\"trees\": []}", "no trees");
  expect_malformed(dir, replaced(s, "\n]}\n", "\n]}]}\n"), "text after the JSON document");
  expect_malformed(dir, replaced(s, "\"trees\": [\n{\"output\": 0", "\"trees\": [\n{\"output\": 0.5"),
                   "tree 0: \"output\": not valid");
}

// The Titanic example end to end: train_and_export.py (the published preprocessing, StandardScaler,
// RandomForestClassifier(random_state=42)) with Debian's scikit-learn, then the exported forest on
// the 418 preprocessed test rows must give scikit-learn's predict_proba bit for bit.
TEST(sklearn_titanic, exported_forest_reproduces_predict_proba_on_the_test_set) {
  const char* env = std::getenv("TANDEM_TITANIC_DIR");
  const std::string data = env && *env ? env : TANDEM_TITANIC_DEFAULT_DIR;
  if (!fs::exists(data + "/train.csv") || !fs::exists(data + "/test.csv"))
    GTEST_SKIP() << "no Titanic data in '" << data << "' (set TANDEM_TITANIC_DIR to the folder of Kaggle's train.csv/test.csv)";
  if (std::system("/usr/bin/python3 -c 'import sklearn, pandas' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with scikit-learn and pandas is not available";
  temp_dir dir;
  ASSERT_FALSE(dir.path.string().empty());
  const std::string script = std::string(TANDEM_SOURCE_DIR) + "/examples/titanic/train_and_export.py";
  const std::string cmd = "/usr/bin/python3 '" + script + "' '" + data + "' '" + dir.path.string() + "' --no-pool > '" +
                          dir.path.string() + "/log.txt' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd << "\n" << slurp(dir.path.string() + "/log.txt");
  const tf::forest_model m = tf::load_model(dir.path.string() + "/titanic_forest.json");
  const tf::compiled_forest c = tf::compile_forest(m);
  const table x = read_csv(dir.path.string() + "/test_features.csv");
  const table p = read_csv(dir.path.string() + "/sklearn_proba.csv");
  ASSERT_EQ(x.rows.size(), 418u);
  ASSERT_EQ(p.rows.size(), 418u);
  ASSERT_EQ(x.header.size(), m.features);
  ASSERT_EQ(m.proba_columns, 2u);
  std::vector<double> rows;
  for (const auto& r : x.rows) rows.insert(rows.end(), r.begin(), r.end());
  const auto got = tf::reference_margins(m, c, rows.data(), 418);
  for (std::size_t r = 0; r < 418; ++r)
    for (std::size_t k = 0; k < 2; ++k)
      ASSERT_EQ(bits(got[r * 2 + k]), bits(p.rows[r][k])) << "row " << r << " class " << k << ": " << got[r * 2 + k]
                                                           << " vs scikit-learn " << p.rows[r][k];
  // And through the CLI on every backend, as examples/titanic/README.md runs it: the written
  // predictions are scikit-learn's, and the classes its predict.
  for (const char* backend : {"seq", "threads", "procs", "gpu"}) {
    for (const char* kind : {"proba", "class"}) {
      const std::string out = dir.path.string() + "/tandem_" + backend + "_" + kind + ".csv";
      const std::string run = std::string(TANDEM_CLI_PATH) + " forest predict --model '" + dir.path.string() +
                              "/titanic_forest.json' --input '" + dir.path.string() + "/test_features.csv' --output '" + out +
                              "' --output-kind " + kind + " --backend " + backend +
                              " --workers 2 --repeat 1 --warmup 0 > /dev/null 2>&1";
      const int status = std::system(run.c_str());
      if (std::string(backend) == "gpu" && WEXITSTATUS(status) == 3) continue;  // no GPU here: exit 3, checked elsewhere
      ASSERT_EQ(status, 0) << run;
      const table t = read_csv(out);
      ASSERT_EQ(t.rows.size(), 418u) << out;
      if (std::string(kind) == "proba") {
        for (std::size_t r = 0; r < 418; ++r)
          for (std::size_t k = 0; k < 2; ++k) ASSERT_EQ(bits(t.rows[r][k]), bits(p.rows[r][k])) << backend << " row " << r;
      } else {
        const table labels = read_csv(dir.path.string() + "/sklearn_predict.csv");  // PassengerId,Survived
        for (std::size_t r = 0; r < 418; ++r) ASSERT_EQ(t.rows[r][0], labels.rows[r][1]) << backend << " row " << r;
      }
    }
  }
}

// tools/export_sklearn.py refuses what it cannot export exactly: exit status 2 and one line on
// stderr that names the file and says what to do; run with Debian's scikit-learn when present.
TEST(sklearn_exporter, refuses_unsupported_models_with_one_line_and_status_2) {
  if (std::system("/usr/bin/python3 -c 'import sklearn, joblib' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with scikit-learn and joblib is not available";
  temp_dir dir;
  const std::string d = dir.path.string();
  const std::string make = "/usr/bin/python3 -c \"import joblib, numpy as np\n"
                           "from sklearn import ensemble, pipeline, preprocessing\n"
                           "X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)\n"
                           "joblib.dump(ensemble.HistGradientBoostingClassifier(max_iter=2).fit(X, y), '" + d + "/hgb.joblib')\n"
                           "joblib.dump(pipeline.make_pipeline(preprocessing.StandardScaler(), ensemble.RandomForestClassifier(n_estimators=2)).fit(X, y), '" + d + "/pipe.joblib')\n"
                           "joblib.dump(ensemble.RandomForestRegressor(n_estimators=2).fit(X, X[:, :2]), '" + d + "/multi.joblib')\n"
                           "joblib.dump(ensemble.RandomForestClassifier(n_estimators=2).fit(X, np.where(y, 'a', 'b')), '" + d + "/str.joblib')\n"
                           "joblib.dump(ensemble.ExtraTreesClassifier(n_estimators=2).fit(X, y), '" + d + "/ok.joblib')\"";
  ASSERT_EQ(std::system(make.c_str()), 0) << make;
  const std::string tool = std::string(TANDEM_SOURCE_DIR) + "/tools/export_sklearn.py";
  const auto run = [&](const std::string& name, std::string& err) {
    const std::string cmd = "/usr/bin/python3 '" + tool + "' '" + d + "/" + name + ".joblib' '" + d + "/" + name +
                            ".json' 2> '" + d + "/err.txt' > /dev/null";
    const int status = std::system(cmd.c_str());
    err = slurp(d + "/err.txt");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::vector<std::pair<std::string, std::string>> refused = {
      {"hgb", "HistGradientBoostingClassifier is not supported"},
      {"pipe", "export its final estimator (pipe[-1])"},
      {"multi", "has 2 outputs"},
      {"str", "LabelEncoder"}};
  for (const auto& [name, words] : refused) {
    std::string err;
    EXPECT_EQ(run(name, err), 2) << name << ": " << err;
    EXPECT_NE(err.find(d + "/" + name + ".joblib"), std::string::npos) << err;
    EXPECT_NE(err.find(words), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), err.size() - 1) << "one line: " << err;
    EXPECT_FALSE(fs::exists(d + "/" + name + ".json"));
  }
  std::string err;
  ASSERT_EQ(run("ok", err), 0) << err;
  const tf::forest_model m = tf::load_model(d + "/ok.json");
  EXPECT_EQ(m.trees.size(), 2u);
  EXPECT_EQ(m.objective, "ExtraTreesClassifier");
}

// Load speed, run by hand: TANDEM_FOREST_BIG_MODEL=big.json test_forest
// --gtest_also_run_disabled_tests --gtest_filter='*load_speed*' (docs/forest-format.md has the figure).
TEST(sklearn_load, DISABLED_load_speed) {
  const char* path = std::getenv("TANDEM_FOREST_BIG_MODEL");
  if (!path) GTEST_SKIP() << "set TANDEM_FOREST_BIG_MODEL to an exported model";
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    const tf::forest_model m = tf::load_model(path);
    const auto t1 = std::chrono::steady_clock::now();
    const tf::compiled_forest c = tf::compile_forest(m);
    const auto t2 = std::chrono::steady_clock::now();
    std::printf("%llu nodes, %u trees: load %.3f s, compile %.3f s\n", (unsigned long long)c.nodes(), c.trees(),
                std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  }
}

}  // namespace
