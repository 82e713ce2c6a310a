// The forest workload: every backend gives the calling thread's bits (which the core tests hold to
// the libraries' rules), for every output kind and around chunk edges; the inputs (CSV, .npy,
// generated) and the outputs (CSV, .npy) read and write exactly; bad inputs are one line.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <functional>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "backend_context.hpp"
#include "forest_gpu.hpp"
#include "forest_io.hpp"
#include "forest_simd.hpp"
#include "temp_dir.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/forest.hpp"

namespace tf = tandem::forest;
using tandem::forest_output;
using tandem::forest_predictor;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// A scikit-learn-like forest: float inputs, double sums, three classes per leaf, averaged.
tf::forest_model three_class_forest(std::uint64_t seed, std::uint32_t features = 5) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  tf::forest_model m;
  m.path = "three_class";
  m.input = tf::precision::f32;
  m.sum = tf::precision::f64;
  m.compare = tf::comparison::less_equal;
  m.features = features;
  m.outputs = 3;
  m.leaf_width = 3;
  m.base = {0, 0, 0};
  m.divisor = 7;
  m.classes = {2, 5, 9};
  m.proba_columns = 3;
  for (int t = 0; t < 7; ++t) {
    tf::tree_spec tree;
    // A full tree of depth 4, children listed in reverse so ids are not breadth first.
    std::function<std::int64_t(int)> build = [&](int d) -> std::int64_t {
      const std::int64_t id = std::int64_t(tree.nodes.size());
      tree.nodes.emplace_back();
      if (d == 0) {
        tf::node_spec s;
        s.leaf = true;
        s.value = tree.values.size();
        double a = std::abs(u(g)), b = std::abs(u(g)), c = std::abs(u(g));
        const double sum = a + b + c;
        for (double v : {a / sum, b / sum, c / sum}) tree.values.push_back(v);
        tree.nodes[std::size_t(id)] = s;
        return id;
      }
      tf::node_spec s;
      s.feature = std::uint32_t(g() % features);
      s.threshold = u(g);
      s.default_left = g() & 1;
      s.right = build(d - 1);
      s.left = build(d - 1);
      tree.nodes[std::size_t(id)] = s;
      return id;
    };
    build(4);
    m.trees.push_back(std::move(tree));
  }
  return m;
}

// XGBoost-like (float inputs and sums, `x < t` splits) with uneven trees: a leaf at the root, leaves
// at every level, paths from 1 to 14 splits deep, trees larger and smaller than the vector walk's
// node table, and a small tree last (the table's loads stop at the model's end).
// An XGBoost-like model with no trees yet: float inputs and sums, `x < t`, one margin.
tf::forest_model xgboost_like(const char* path, std::uint32_t features, double base) {
  tf::forest_model m;
  m.path = path;
  m.input = tf::precision::f32;
  m.sum = tf::precision::f32;
  m.compare = tf::comparison::less;
  m.features = features;
  m.outputs = 1;
  m.leaf_width = 1;
  m.base = {base};
  m.proba_columns = 1;
  return m;
}

tf::forest_model uneven_forest(std::uint64_t seed, std::uint32_t features = 6) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  tf::forest_model m = xgboost_like("uneven", features, 0.5);
  for (int t = 0; t < 24; ++t) {
    tf::tree_spec tree;
    const int max_depth = t == 0 ? 0 : t == 23 ? 2 : 1 + int(g() % 14);
    std::function<std::int64_t(int)> build = [&](int d) -> std::int64_t {
      const std::int64_t id = std::int64_t(tree.nodes.size());
      tree.nodes.emplace_back();
      tf::node_spec s;
      if (d == max_depth || (d > 0 && g() % 4 == 0)) {
        s.leaf = true;
        s.value = tree.values.size();
        tree.values.push_back(u(g));
      } else {
        s.feature = std::uint32_t(g() % features);
        s.threshold = u(g);
        s.default_left = g() & 1;
        s.left = build(d + 1);
        s.right = build(d + 1);
      }
      tree.nodes[std::size_t(id)] = s;
      return id;
    };
    build(0);
    m.trees.push_back(std::move(tree));
  }
  return m;
}

// Trees with the given numbers of leaves, each split cut at random (so shapes and depths vary),
// XGBoost-like (less, float sums). Split `minus_inf_split` of tree `minus_inf_tree` (if any)
// compares with -inf, which compiles to a NaN threshold.
tf::forest_model sized_forest(std::uint64_t seed, const std::vector<std::uint32_t>& leaves, std::uint32_t features = 7,
                              int minus_inf_tree = -1) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  tf::forest_model m = xgboost_like("sized", features, -0.25);
  for (std::size_t t = 0; t < leaves.size(); ++t) {
    tf::tree_spec tree;
    std::function<std::int64_t(std::uint32_t)> build = [&](std::uint32_t l) -> std::int64_t {
      const std::int64_t id = std::int64_t(tree.nodes.size());
      tree.nodes.emplace_back();
      tf::node_spec s;
      if (l == 1) {
        s.leaf = true;
        s.value = tree.values.size();
        tree.values.push_back(u(g));
      } else {
        const std::uint32_t left = 1 + std::uint32_t(g() % (l - 1));
        s.feature = std::uint32_t(g() % features);
        s.threshold = int(t) == minus_inf_tree && id == 1 ? -std::numeric_limits<double>::infinity() : u(g);
        s.default_left = g() & 1;
        s.left = build(left);
        s.right = build(l - left);
      }
      tree.nodes[std::size_t(id)] = s;
      return id;
    };
    build(leaves[t]);
    m.trees.push_back(std::move(tree));
  }
  return m;
}

// m as an XGBoost multi:softprob model of three classes: tree t adds to class t % 3, one float
// value per leaf.
tf::forest_model three_margins(tf::forest_model m) {
  m.path += " (3 classes)";
  m.outputs = 3;
  m.base = {0.5, -0.25, 0.125};
  m.proba_columns = 3;
  m.classes = {0, 1, 2};
  m.post = tf::link::xgboost_softmax;
  for (std::size_t t = 0; t < m.trees.size(); ++t) m.trees[t].output = std::uint32_t(t % 3);
  return m;
}

// LightGBM-like: double inputs and sums, one output, zero-as-missing splits.
tf::forest_model double_forest() {
  tf::forest_model m = three_class_forest(11, 4);
  m.path = "double";
  m.input = tf::precision::f64;
  m.outputs = 1;
  m.leaf_width = 1;
  m.base = {0.25};
  m.divisor = 1;
  m.classes.clear();
  m.proba_columns = 1;
  for (auto& t : m.trees) {
    std::vector<double> v;
    for (auto& n : t.nodes)
      if (n.leaf) {
        const double x = t.values[n.value];
        n.value = v.size();
        v.push_back(x - 0.3);
      } else {
        n.zero_missing = n.feature == 0;
      }
    t.values = v;
  }
  return m;
}

// m with double inputs and sums and `x <= t` (LightGBM's arithmetic), its splits as they are.
tf::forest_model lightgbm_like(tf::forest_model m) {
  m.path += " (double)";
  m.input = tf::precision::f64;
  m.sum = tf::precision::f64;
  m.compare = tf::comparison::less_equal;
  return m;
}

template <class T>
std::vector<T> random_rows(std::size_t n, std::uint32_t features, std::uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1.2, 1.2);
  std::vector<T> rows(n * features);
  for (auto& x : rows) {
    const auto k = g() % 50;
    x = k == 0 ? T(nan_v) : k == 1 ? T(0.0) : k == 2 ? T(-0.0) : T(u(g));
  }
  return rows;
}

std::vector<double> margins_of(const tf::forest_model& m, const forest_predictor& p, const std::vector<double>& rows) {
  return tf::reference_margins(m, p.compiled(), rows.data(), rows.size() / m.features);
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

std::vector<tf::forest_model> every_kind_of_model() {
  return {tandem::synthetic_forest({25, 5, 6}, 3), three_class_forest(5), double_forest()};
}

class forest_backends : public ::testing::TestWithParam<const char*> {};

TEST_P(forest_backends, every_output_kind_equals_the_calling_thread_around_chunk_edges) {
  const tandem::backend b = *tandem::parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  tandem::testing::backend_context ctx(b, 3);
  for (const tf::forest_model& m : every_kind_of_model()) {
    const forest_predictor p(m);
    for (const std::size_t n : {std::size_t(0), std::size_t(1), tandem::forest_chunk_rows - 1, tandem::forest_chunk_rows,
                                tandem::forest_chunk_rows + 1, std::size_t(3 * tandem::forest_chunk_rows + 7)}) {
      const std::vector<double> rows = random_rows<double>(n, m.features, n + 1);
      // Inputs and outputs in shared memory, so procs can read and write them.
      tandem::shared_buffer in(std::max<std::size_t>(rows.size(), 1) * sizeof(double));
      std::memcpy(in.data(), rows.data(), rows.size() * sizeof(double));
      for (const forest_output kind : {forest_output::margin, forest_output::proba, forest_output::label}) {
        if (kind == forest_output::label && m.classes.empty()) continue;
        const std::size_t cols = p.columns(kind);
        std::vector<double> here(n * cols);
        p.predict(rows.data(), n, kind, here.data());
        tandem::shared_buffer out(std::max<std::size_t>(n * cols, 1) * sizeof(double));
        p.predict(*ctx, static_cast<const double*>(in.data()), n, kind, static_cast<double*>(out.data()));
        std::vector<double> there(static_cast<double*>(out.data()), static_cast<double*>(out.data()) + n * cols);
        for (std::size_t i = 0; i < here.size(); ++i)
          ASSERT_EQ(std::bit_cast<std::uint64_t>(here[i]), std::bit_cast<std::uint64_t>(there[i]))
              << m.path << " n=" << n << " kind=" << tandem::to_string(kind) << " value " << i << ": " << here[i]
              << " vs " << there[i];
        if (kind == forest_output::margin) {
          ASSERT_TRUE(same_bits(here, margins_of(m, p, rows))) << m.path << " n=" << n;
        }
      }
    }
  }
}

TEST_P(forest_backends, the_workload_gives_one_answer_from_csv_npy_and_generated_rows) {
  const tandem::backend b = *tandem::parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  tandem::testing::temp_dir dir;
  const tf::forest_model m = tandem::synthetic_forest({30, 6, 4}, 9);
  const std::size_t n = 2 * tandem::forest_chunk_rows + 3;
  const std::vector<float> rows = random_rows<float>(n, 4, 1);
  {  // the same rows as CSV (shortest round-trip text) and .npy
    std::ofstream csv(dir / "x.csv");
    csv << "a,b,c,d\n";
    for (std::size_t r = 0; r < n; ++r) {
      for (int f = 0; f < 4; ++f) {
        const float x = rows[r * 4 + f];
        if (f) csv << ',';
        if (!std::isnan(x)) {
          char buf[32];
          csv << std::string_view(buf, std::to_chars(buf, buf + 32, x).ptr);
        }
      }
      csv << (r % 2 ? "\r\n" : "\n");
    }
    const std::uint64_t shape[] = {n, 4};
    std::ofstream npy(dir / "x.npy", std::ios::binary);
    npy << tandem::npy_header(tandem::npy_dtype::f32, shape);
    npy.write(reinterpret_cast<const char*>(rows.data()), std::streamsize(rows.size() * sizeof(float)));
  }
  const forest_predictor p(m);
  std::vector<double> want(n);
  p.predict(rows.data(), n, forest_output::proba, want.data());
  tandem::testing::backend_context ctx(b, 2);
  nlohmann::json answers = nlohmann::json::array();
  for (const std::string input : {"x.csv", "x.npy"}) {
    tandem::forest_options o;
    o.synthetic = {30, 6, 4};
    o.seed = 9;
    o.input = dir / input;
    o.output = dir / (input + ".out.npy");
    auto w = tandem::make_forest_workload(o);
    w->prepare(*ctx);
    const nlohmann::json got = w->run(*ctx)->to_json();
    w->release(*ctx);
    answers.push_back(got);
    EXPECT_EQ(got.at("rows"), n);
    // The written predictions are the calling thread's, bit for bit.
    const tandem::mapped_file f(o.output);
    const tandem::npy_array a = tandem::parse_npy_header(f.bytes(), o.output);
    ASSERT_EQ(a.shape, (std::vector<std::uint64_t>{n, 1}));
    ASSERT_EQ(a.dtype, tandem::npy_dtype::f64);
    EXPECT_EQ(std::memcmp(f.data() + a.data_offset, want.data(), n * sizeof(double)), 0) << input;
  }
  EXPECT_EQ(answers[0], answers[1]);
  // And the CSV output reads back to the same values.
  tandem::forest_options o;
  o.synthetic = {30, 6, 4};
  o.seed = 9;
  o.input = dir / "x.npy";
  o.output = dir / "p.csv";
  auto w = tandem::make_forest_workload(o);
  w->prepare(*ctx);
  EXPECT_EQ(w->run(*ctx)->to_json(), answers[0]);
  w->release(*ctx);
  std::ifstream in(dir / "p.csv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "proba");
  for (std::size_t r = 0; r < n; ++r) {
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(std::strtof(line.c_str(), nullptr), float(want[r])) << "row " << r << ": " << line;
  }
  EXPECT_FALSE(std::getline(in, line));
}

INSTANTIATE_TEST_SUITE_P(every, forest_backends, ::testing::ValuesIn(tandem::testing::every_backend),
                         [](const auto& p) { return std::string(p.param); });

std::string usage_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tandem::usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(forest_input, csv_fields_missing_values_and_errors) {
  tandem::testing::temp_dir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return dir / name;
  };
  {
    tandem::forest_io::csv_input in(write("ok.csv", "a, b ,c\n1,,NaN\n\n\"2.5\",+3,-inf\r\n0.1,1e-320,NA"), 3, {});
    ASSERT_EQ(in.rows(), 3u);
    std::vector<double> v(9);
    in.read(3, v.data());
    EXPECT_EQ(v[0], 1);
    EXPECT_TRUE(std::isnan(v[1]) && std::isnan(v[2]));
    EXPECT_EQ(v[3], 2.5);
    EXPECT_EQ(v[4], 3);
    EXPECT_EQ(v[5], -std::numeric_limits<double>::infinity());
    EXPECT_EQ(v[6], 0.1);
    EXPECT_EQ(v[7], 1e-320);  // subnormal, exactly
    EXPECT_TRUE(std::isnan(v[8]));
    in.rewind();
    std::vector<float> f(9);
    in.read(3, f.data());
    EXPECT_EQ(f[6], 0.1f);
  }
  EXPECT_NE(usage_error_of([&] { tandem::forest_io::csv_input(write("cols.csv", "a,b\n1,2\n"), 3, {}); })
                .find("has 2 columns; the model takes 3 features"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { tandem::forest_io::csv_input(write("empty.csv", ""), 3, {}); }).find("is empty"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { tandem::forest_io::csv_input(dir / "missing.csv", 3, {}); }).find("No such file"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { tandem::forest_io::csv_input(write("names.csv", "a,x\n1,2\n"), 2, {"a", "b"}); })
                .find("column 2 is 'x', the model's feature 2 is 'b'"),
            std::string::npos);
  auto read_all = [&](const std::string& path) {
    tandem::forest_io::csv_input in(path, 2, {});
    std::vector<double> v(in.rows() * 2);
    in.read(in.rows(), v.data());
  };
  EXPECT_NE(usage_error_of([&] { read_all(write("word.csv", "a,b\n1,2\n3,abc\n")); }).find("line 3, column 2: 'abc' is not a number"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { read_all(write("short.csv", "a,b\n1,2\n3\n")); }).find("line 3 has 1 fields"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { read_all(write("long.csv", "a,b\n1,2,3\n")); }).find("line 2 has more fields"),
            std::string::npos);
  EXPECT_NE(usage_error_of([&] { read_all(write("half.csv", "a,b\n1,2.5e\n")); }).find("'2.5e' is not a number"),
            std::string::npos);
  // A header alone is zero rows.
  tandem::forest_io::csv_input none(write("header.csv", "a,b\n"), 2, {});
  EXPECT_EQ(none.rows(), 0u);
}

TEST(forest_input, npy_headers_are_checked) {
  tandem::testing::temp_dir dir;
  const std::uint64_t shape[] = {3, 2};
  const std::string h = tandem::npy_header(tandem::npy_dtype::f64, shape);
  EXPECT_EQ(h.size() % 64, 0u);
  std::string file = h + std::string(6 * 8, '\0');
  const auto a = tandem::parse_npy_header(std::as_bytes(std::span(file.data(), file.size())), "x.npy");
  EXPECT_EQ(a.shape, (std::vector<std::uint64_t>{3, 2}));
  EXPECT_EQ(a.data_offset, h.size());
  const std::string truncated = file.substr(0, file.size() - 1);
  EXPECT_NE(usage_error_of([&] { tandem::parse_npy_header(std::as_bytes(std::span(truncated.data(), truncated.size())), "x.npy"); })
                .find("shorter than the shape"),
            std::string::npos);
  std::string fortran = file;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_NE(usage_error_of([&] { tandem::parse_npy_header(std::as_bytes(std::span(fortran.data(), fortran.size())), "x.npy"); })
                .find("Fortran"),
            std::string::npos);
  const std::string text = "a,b\n1,2\n";
  EXPECT_NE(usage_error_of([&] { tandem::parse_npy_header(std::as_bytes(std::span(text.data(), text.size())), "x.npy"); })
                .find("not a .npy file"),
            std::string::npos);
}

TEST(forest_workload, a_bad_row_leaves_no_output_behind) {
  tandem::testing::temp_dir dir;
  {
    std::ofstream csv(dir / "x.csv");
    csv << "a,b,c,d\n";
    for (int r = 0; r < 20000; ++r) csv << (r == 15000 ? "1,2,x,4\n" : "1,2,3,4\n");
  }
  tandem::forest_options o;
  o.synthetic = {5, 3, 4};
  o.input = dir / "x.csv";
  o.output = dir / "p.csv";
  auto w = tandem::make_forest_workload(o);
  tandem::testing::backend_context ctx(tandem::backend::seq, 1);
  w->prepare(*ctx);
  EXPECT_NE(usage_error_of([&] { w->run(*ctx); }).find("line 15002, column 3: 'x' is not a number"), std::string::npos);
  w->release(*ctx);
  EXPECT_EQ(dir.names(), std::vector<std::string>{"x.csv"});
}

TEST(forest_workload, refuses_label_output_for_a_regressor_and_wrong_npy_shapes) {
  tandem::testing::temp_dir dir;
  const std::uint64_t shape[] = {3, 5};
  std::ofstream(dir / "x.npy", std::ios::binary) << tandem::npy_header(tandem::npy_dtype::f32, shape)
                                                 << std::string(60, '\0');
  tandem::forest_options o;
  o.synthetic = {5, 3, 4};
  o.input = dir / "x.npy";
  EXPECT_NE(usage_error_of([&] { tandem::make_forest_workload(o); }).find("is not rows x 4"), std::string::npos);
  const forest_predictor p(double_forest());
  EXPECT_NE(usage_error_of([&] { p.columns(forest_output::label); }).find("is a regressor"), std::string::npos);
  o.input.clear();
  o.rows = tandem::forest_max_generated_values;
  EXPECT_NE(usage_error_of([&] { tandem::make_forest_workload(o); }).find("--rows"), std::string::npos);
  o.rows = 10;
  o.output = dir / "no/such/folder/p.csv";
  EXPECT_NE(usage_error_of([&] { tandem::make_forest_workload(o); }).find("p.csv"), std::string::npos);
}

// Every vector level this CPU has gives the scalar walk's bits, for blocks of 1 row to several
// blocks (lanes past the rows, groups of vectors, a last short group), on full and uneven trees
// (leaves at the top levels the walk loads, nodes past its register table), with NaN and
// thresholds hit exactly.
TEST(forest_simd, every_level_gives_the_scalar_bits) {
  const tandem::forest_simd::level best = tandem::forest_simd::force(tandem::forest_simd::level::avx512);
  std::vector<tandem::forest_simd::level> levels = {tandem::forest_simd::level::scalar};
  if (best >= tandem::forest_simd::level::avx2) levels.push_back(tandem::forest_simd::level::avx2);
  if (best >= tandem::forest_simd::level::avx512) levels.push_back(tandem::forest_simd::level::avx512);
  for (const tf::forest_model& m :
       {tandem::synthetic_forest({40, 7, 9}, 5), three_class_forest(8), uneven_forest(3), uneven_forest(4, 40),
        sized_forest(5, {64, 33, 1, 65, 2, 32, 63, 12}, 9, 7), three_margins(sized_forest(9, {65, 100, 3, 80, 2}, 6)),
        double_forest(),
        lightgbm_like(sized_forest(8, {64, 33, 1, 65, 2, 32, 63, 12}, 9))}) {
    const forest_predictor p(m);
    // The vector walk runs on the 8-byte nodes: a float model must have them.
    if (m.input == tf::precision::f32) {
      ASSERT_TRUE(p.compiled().has_walk_nodes()) << m.path;
    }
    // Trees with the bitvector form and trees without it, in one model.
    if (m.path.starts_with("sized")) {
      ASSERT_GT(p.compiled().bitvector_trees(), 0u);
      ASSERT_LT(p.compiled().bitvector_trees(), m.trees.size());
    }
    // Rows in the model's input precision (float models read float rows as they are; double
    // models read double rows).
    auto compare_levels = [&](auto zero) {
      using T = decltype(zero);
      for (const std::size_t n : {1, 7, 15, 16, 17, 33, 63, 64, 65, 200, 4097}) {
        std::vector<T> rows = random_rows<T>(n, m.features, n);
        // Some values exactly at thresholds.
        for (std::size_t i = 0; i < rows.size(); i += 7) rows[i] = T(m.trees[i % m.trees.size()].nodes[0].threshold);
        std::vector<double> want(n * 3), got(n * 3);
        tandem::forest_simd::force(tandem::forest_simd::level::scalar);
        p.predict(rows.data(), n, forest_output::margin, want.data());
        for (const auto l : levels) {
          tandem::forest_simd::force(l);
          p.predict(rows.data(), n, forest_output::margin, got.data());
          ASSERT_EQ(std::memcmp(want.data(), got.data(), n * p.columns(forest_output::margin) * sizeof(double)), 0)
              << m.path << " n=" << n << " level " << tandem::forest_simd::to_string(l);
        }
      }
    };
    if (m.input == tf::precision::f32) compare_levels(0.0f);
    else compare_levels(0.0);
  }
  tandem::forest_simd::force(best);
  if (best != tandem::forest_simd::level::avx512) GTEST_SKIP() << "this CPU has no AVX-512: only " << to_string(best) << " and scalar were compared";
}

// Every tree of v with the bitvector form gives the walk's leaf for random rows (NaN, zeros,
// thresholds hit exactly), or that leaf's value where the form's leaves hold values.
template <class T, class S>
void expect_bitvector_leaves(const tandem::kernels::forest_view<T, S>& v, const tf::forest_model& m,
                             std::uint32_t want_form) {
  if (want_form > 0) {
    ASSERT_NE(v.bv_trees, nullptr) << m.path;
  }
  std::vector<T> rows = random_rows<T>(600, m.features, 17);
  for (std::size_t i = 0; i < rows.size(); i += 11) rows[i] = T(m.trees[i % m.trees.size()].nodes[0].threshold);
  std::uint32_t seen = 0;
  for (std::uint32_t t = 0; v.bv_trees && t < v.n_trees; ++t) {
    const tandem::kernels::forest_bitvector_tree& bt = v.bv_trees[t];
    if (bt.leaves == 0) continue;
    ++seen;
    const std::uint8_t* e = bt.end;
    ASSERT_TRUE(e[0] <= e[1] && e[1] <= e[2] && e[2] <= e[3] && e[3] <= e[4] && e[4] <= e[5]);
    ASSERT_EQ(e[5] + 1u, bt.leaves) << m.path << " tree " << t;
    for (std::size_t r = 0; r < 600; ++r) {
      const T* x = rows.data() + r * m.features;
      std::uint32_t want = tandem::kernels::forest_leaf_of(v, v.trees[t].root, x);
      if constexpr (std::is_same_v<S, float>)
        if (v.walk_leaf_values) want = std::bit_cast<std::uint32_t>(v.values[want]);  // the leaf's value
      ASSERT_EQ(tandem::kernels::forest_bitvector_leaf(bt, v.bv_splits, v.bv_leaves, x), want)
          << m.path << " tree " << t << " row " << r;
    }
  }
  EXPECT_EQ(seen, want_form) << m.path;
}

// The bitvector form (kernels::forest_bitvector_tree): exactly the trees with at most 64 leaves,
// no special split and no NaN threshold have it, and through it each row reaches the walk's leaf,
// NaN inputs and thresholds hit exactly included. Scalar: it holds on every CPU.
TEST(forest_bitvector, has_the_walks_leaf_in_every_tree_that_has_the_form) {
  const std::vector<std::uint32_t> sizes = {1, 2, 3, 31, 32, 33, 40, 63, 64, 65, 100, 64, 17};
  // Zero-as-missing at the root of every third tree: special, so no form.
  tf::forest_model special = sized_forest(6, sizes);
  for (std::size_t t = 0; t < special.trees.size(); t += 3)
    if (!special.trees[t].nodes[0].leaf) special.trees[t].nodes[0].zero_missing = true;
  for (const tf::forest_model& m : {sized_forest(1, sizes), sized_forest(2, sizes, 3, 3), special, uneven_forest(3),
                                    uneven_forest(4, 40), three_class_forest(8), double_forest(),
                                    lightgbm_like(sized_forest(7, sizes))}) {
    const tf::compiled_forest c = tf::compile_forest(m);
    std::uint32_t want_form = 0;
    for (std::size_t t = 0; t < m.trees.size(); ++t) {
      std::size_t leaves = 0;
      bool plain = true;
      for (const tf::node_spec& s : m.trees[t].nodes) {
        leaves += s.leaf ? 1 : 0;
        if (!s.leaf && (s.category_set >= 0 || s.zero_missing || std::isinf(s.threshold))) plain = false;
      }
      want_form += leaves <= 64 && plain ? 1 : 0;
    }
    ASSERT_EQ(c.bitvector_trees(), want_form) << m.path;
    if (m.input == tf::precision::f32) expect_bitvector_leaves(c.view<float, float>(), m, want_form);
    else expect_bitvector_leaves(c.view<double, double>(), m, want_form);
  }
}


// The GPU engine's batches and lanes: batches smaller than the rows, and a last short batch, in
// order, equal to the calling thread (the emulation build runs this file's source on the host).
// The vector walk's 8-byte nodes exist exactly when every tree's child offsets fit beside the
// feature index in one word: with 2^27 features (27 bits) three bits are left, so a split's left
// child may be at most 6 nodes from the root. A tree of 4 leaves (7 nodes) fits; one of 5 (9 nodes)
// has its last children at 7 and 8, and does not. Models without them walk rows by the scalar walk.
TEST(forest_compile, walk_nodes_exist_where_every_tree_fits_its_words) {
  EXPECT_TRUE(tf::compile_forest(sized_forest(1, {4, 1, 3}, 1u << 27)).has_walk_nodes());
  EXPECT_FALSE(tf::compile_forest(sized_forest(2, {4, 5}, 1u << 27)).has_walk_nodes());
  EXPECT_TRUE(tf::compile_forest(sized_forest(3, {4, 5, 300}, 9)).has_walk_nodes());
  EXPECT_FALSE(tf::compile_forest(lightgbm_like(sized_forest(4, {4}, 9))).has_walk_nodes());
}

TEST(forest_gpu_engine, batches_arrive_in_order_with_the_cpu_bits) {
  TANDEM_SKIP_UNLESS_AVAILABLE(tandem::backend::gpu);
  tandem::testing::backend_context ctx(tandem::backend::gpu, 1);
  for (const tf::forest_model& m : every_kind_of_model()) {
    const forest_predictor p(m);
    const std::size_t n = 1000;
    const std::vector<double> rows = random_rows<double>(n, m.features, 3);
    std::vector<double> want(n * m.outputs);
    p.predict(rows.data(), n, forest_output::margin, want.data());
    for (const std::size_t batch : {std::size_t(1), std::size_t(7), std::size_t(999), std::size_t(4096)}) {
      tandem::forest_gpu engine(*ctx->gpu, p.compiled(), batch);
      std::vector<double> got(n * m.outputs, nan_v);
      std::size_t expected_first = 0;
      engine.run(rows.data(), true, n, [&](std::size_t first, std::size_t k, const double* margins) {
        EXPECT_EQ(first, expected_first);
        expected_first = first + k;
        std::memcpy(got.data() + first * m.outputs, margins, k * m.outputs * sizeof(double));
      });
      EXPECT_EQ(expected_first, n);
      EXPECT_TRUE(same_bits(want, got)) << m.path << " batch " << batch;
    }
  }
}

TEST(forest_synthetic, is_deterministic_and_checked) {
  const auto a = tandem::synthetic_forest({3, 4, 5}, 1), b = tandem::synthetic_forest({3, 4, 5}, 1),
             c = tandem::synthetic_forest({3, 4, 5}, 2);
  const auto ca = tf::compile_forest(a), cb = tf::compile_forest(b), cc = tf::compile_forest(c);
  ASSERT_EQ(ca.image().size(), cb.image().size());
  EXPECT_EQ(std::memcmp(ca.image().data(), cb.image().data(), ca.image().size()), 0);
  EXPECT_NE(std::memcmp(ca.image().data(), cc.image().data(), ca.image().size()), 0);
  EXPECT_EQ(ca.nodes(), 3u * 31);
  EXPECT_EQ(ca.max_depth(), 4u);
  EXPECT_THROW(tandem::check_synthetic({0, 4, 5}), tandem::usage_error);
  EXPECT_THROW(tandem::check_synthetic({1, 21, 5}), tandem::usage_error);
  EXPECT_THROW(tandem::check_synthetic({100000, 20, 5}), tandem::usage_error);
}

}  // namespace

#include "cli_runner.hpp"

namespace {

// `tandem forest info` as a user runs it: the JSON form, the table, and a bad model.
TEST(forest_cli, info_describes_a_model_and_refuses_a_bad_one) {
  const std::string model = std::string(TANDEM_FOREST_TESTDATA) + "/xgboost/v2_softprob.json";
  const auto j = tandem::testing::run_cli("forest info --model '" + model + "' --json");
  ASSERT_EQ(j.status, 0) << j.err;
  const auto doc = nlohmann::json::parse(j.out);
  const tf::forest_model m = tf::load_model(model);
  const tf::compiled_forest c = tf::compile_forest(m);
  EXPECT_EQ(doc.at("objective"), "multi:softprob");
  EXPECT_EQ(doc.at("features"), m.features);
  EXPECT_EQ(doc.at("trees"), c.trees());
  EXPECT_EQ(doc.at("nodes"), c.nodes());
  EXPECT_EQ(doc.at("max_depth"), c.max_depth());
  EXPECT_EQ(doc.at("bitvector_trees"), c.bitvector_trees());
  EXPECT_EQ(doc.at("vector_walk"), true);
  EXPECT_EQ(doc.at("classes").size(), m.classes.size());
  EXPECT_EQ(doc.at("sum_precision"), "float32");
  const auto t = tandem::testing::run_cli("forest info --model '" + model + "'");
  ASSERT_EQ(t.status, 0) << t.err;
  for (const char* word : {"format", "XGBoost JSON", "multi:softprob", "trees", "max depth", "float32 inputs",
                           "vector walk yes"})
    EXPECT_NE(t.out.find(word), std::string::npos) << word << " in\n" << t.out;
  const auto bad = tandem::testing::run_cli("forest info --model /nonexistent/model.json");
  EXPECT_EQ(bad.status, 2);
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  EXPECT_NE(bad.err.find("/nonexistent/model.json"), std::string::npos) << bad.err;
  // An empty file, and one that reports size 0 yet has content (/proc): neither read as a model.
  tandem::testing::temp_dir dir;
  tandem::testing::write_file(dir / "empty.json", "");
  std::vector<std::pair<std::string, std::string>> zero = {{dir / "empty.json", "the file is empty"}};
  if (access("/proc/self/status", R_OK) == 0) zero.emplace_back("/proc/self/status", "reports a size of 0 but has content");
  for (const auto& [path, words] : zero) {
    const auto r = tandem::testing::run_cli("forest info --model '" + path + "'");
    EXPECT_EQ(r.status, 2) << path;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << r.err;
  }
  const auto none = tandem::testing::run_cli("forest predict --repeat 1");
  EXPECT_EQ(none.status, 2);
  EXPECT_NE(none.err.find("--model FILE or --synthetic"), std::string::npos) << none.err;
  const auto shape = tandem::testing::run_cli("forest predict --synthetic 2,2 --repeat 1");
  EXPECT_EQ(shape.status, 2);
  EXPECT_NE(shape.err.find("TREES,DEPTH,FEATURES"), std::string::npos) << shape.err;
}

// predict through the CLI on a real model: the written probabilities are the library API's.
TEST(forest_cli, predict_writes_what_the_library_computes) {
  tandem::testing::temp_dir dir;
  const std::string model = std::string(TANDEM_FOREST_TESTDATA) + "/lightgbm/binary_nan.txt";
  const tf::forest_model m = tf::load_model(model);
  const std::size_t n = 500;
  const std::vector<double> rows = random_rows<double>(n, m.features, 77);
  {
    std::ofstream csv(dir / "x.csv");
    for (std::uint32_t f = 0; f < m.features; ++f) csv << (f ? "," : "") << (m.feature_names.empty() ? "f" + std::to_string(f) : m.feature_names[f]);
    csv << "\n";
    csv.precision(17);
    for (std::size_t r = 0; r < n; ++r) {
      for (std::uint32_t f = 0; f < m.features; ++f) {
        if (f) csv << ',';
        if (!std::isnan(rows[r * m.features + f])) csv << rows[r * m.features + f];
      }
      csv << "\n";
    }
  }
  const auto r = tandem::testing::run_cli("forest predict --model '" + model + "' --input '" + (dir / "x.csv") +
                                          "' --output '" + (dir / "p.npy") + "' --backend seq,threads,procs --workers 2 --repeat 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out).at("agree").get<bool>());
  const forest_predictor p(m);
  std::vector<double> want(n * p.columns(forest_output::proba));
  p.predict(rows.data(), n, forest_output::proba, want.data());
  const tandem::mapped_file f(dir / "p.npy");
  const tandem::npy_array a = tandem::parse_npy_header(f.bytes(), "p.npy");
  ASSERT_EQ(a.items, want.size());
  EXPECT_EQ(std::memcmp(f.data() + a.data_offset, want.data(), want.size() * sizeof(double)), 0);
  EXPECT_EQ(dir.names(), (std::vector<std::string>{"p.npy", "x.csv"}));  // no temporary file left
}

TEST(forest_cli, an_output_onto_the_input_or_the_model_is_refused_and_both_kept) {
  tandem::testing::temp_dir dir;
  const std::string model_text = tandem::testing::slurp(std::string(TANDEM_FOREST_TESTDATA) + "/lightgbm/binary_nan.txt");
  tandem::testing::write_file(dir / "m.txt", model_text);
  const tf::forest_model m = tf::load_model(dir / "m.txt");
  std::string csv;
  for (std::uint32_t f = 0; f < m.features; ++f)
    csv += (f ? "," : "") + (m.feature_names.empty() ? "f" + std::to_string(f) : m.feature_names[f]);
  csv += "\n";
  for (std::uint32_t f = 0; f < m.features; ++f) csv += f ? ",1" : "1";
  csv += "\n";
  tandem::testing::write_file(dir / "x.csv", csv);
  std::filesystem::create_symlink("x.csv", dir.path / "link.csv");
  const std::string args = "forest predict --backend seq --repeat 1 --model '" + dir / "m.txt" + "' --input '" + dir / "x.csv" + "'";
  const std::pair<std::string, std::string> cases[] = {
      {dir / "x.csv", "--input"},
      {dir / "link.csv", "--input"},  // the same file through a link
      {dir / "m.txt", "--model"},
  };
  for (const auto& [out, what] : cases) {
    const auto r = tandem::testing::run_cli(args + " --output '" + out + "'");
    EXPECT_EQ(r.status, 2) << out;
    EXPECT_EQ(r.err.rfind("tandem: error: cannot write '" + out + "': it is the " + what + " file", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(tandem::testing::slurp(dir / "x.csv"), csv);
  EXPECT_EQ(tandem::testing::slurp(dir / "m.txt"), model_text);
  EXPECT_EQ(dir.names(), (std::vector<std::string>{"link.csv", "m.txt", "x.csv"}));
  // --rows sizes generated rows: with --input it is a mistake, not ignored.
  const auto rows = tandem::testing::run_cli(args + " --rows 5");
  EXPECT_EQ(rows.status, 2);
  EXPECT_NE(rows.err.find("--rows sets the generated rows"), std::string::npos) << rows.err;
  // A copy of the input is another file: written.
  tandem::testing::write_file(dir / "copy.csv", csv);
  EXPECT_EQ(tandem::testing::run_cli(args + " --output '" + dir / "copy.csv" + "'").status, 0);
  EXPECT_NE(tandem::testing::slurp(dir / "copy.csv"), csv);
}

}  // namespace
