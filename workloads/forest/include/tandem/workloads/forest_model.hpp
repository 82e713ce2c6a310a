// A tree ensemble as the loaders describe it, and the compiled form every backend predicts with.
//
// Loaders (XGBoost JSON, LightGBM text, Tandem's own JSON written by tools/export_sklearn.py) fill
// a `forest_model`: trees of nodes with children by index, thresholds in double with the library's
// comparison, leaf values in double, the base margins, the link from margins to probabilities and
// the class labels. `compile_forest` checks it (every child index in range, every node reached
// exactly once from its root, features in range, finite thresholds, sizes within limits) and lays
// it out flat for forest_view (kernels/forest.hpp): children adjacent, thresholds converted to the
// comparison precision exactly, leaf values in the sum precision. See docs/forest.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "tandem/kernels/forest.hpp"

namespace tandem::forest {

enum class precision : std::uint8_t { f32, f64 };

// How the library compares a feature value with a split threshold.
enum class comparison : std::uint8_t {
  less_equal,  // go left when x <= t (scikit-learn, LightGBM)
  less,        // go left when x < t (XGBoost)
};

// From margins to what the library's predict_proba (or predict) returns, in the library's own
// arithmetic (forest_link.cpp).
enum class link : std::uint8_t {
  identity,          // regression, random forests (the margins are already averaged probabilities)
  xgboost_sigmoid,   // binary:logistic, reg:logistic (float)
  xgboost_softmax,   // multi:softprob, multi:softmax (float)
  sklearn_expit,     // GradientBoostingClassifier, two classes: [1 - expit(m), expit(m)]
  sklearn_softmax,   // GradientBoostingClassifier, more classes (scikit-learn >= 1.4: exp(m - max) / sum)
  sklearn_logsumexp, // the same before 1.4, another formula: exp(m - logsumexp(m))
  lightgbm_sigmoid,  // binary: 1 / (1 + exp(-sigmoid * m))
  lightgbm_softmax,  // multiclass
  exp,               // count:poisson and similar log links: exp(m)
};

struct node_spec {
  bool leaf = false;
  // A split:
  std::int64_t left = -1, right = -1;  // child node indices in the same tree
  std::uint32_t feature = 0;
  double threshold = 0;                 // compared with `comparison` (ignored for a categorical split)
  bool default_left = false;            // where a missing value (NaN) goes
  bool zero_missing = false;            // LightGBM missing_type=Zero: |x| <= 1e-35f is missing too
  std::int64_t category_set = -1;       // >= 0: a categorical split on this set of forest_model::category_sets
  // A leaf: its first value in tree_spec::values (leaf_width values).
  std::size_t value = 0;
};

struct tree_spec {
  std::vector<node_spec> nodes;  // nodes[0] is the root
  std::vector<double> values;    // leaf values
  std::uint32_t output = 0;      // the first margin the tree adds to
};

struct category_set_spec {
  std::vector<std::uint32_t> categories;  // the categories in the set
  bool in_set_left = false;               // LightGBM: true; XGBoost: false
  bool nan_is_zero = false;
  bool negative_invalid = false;          // XGBoost: true (x in (-1, 0) is no category); LightGBM: false
};

struct forest_model {
  // Described by `tandem forest info`.
  std::string path;       // where it was loaded from
  std::string format;     // "XGBoost JSON (version 2.0.3)", "LightGBM text (v4)", "Tandem forest JSON 1 (...)"
  std::string objective;  // in the library's words: "binary:logistic", "multiclass", "RandomForestClassifier"
  std::vector<std::string> feature_names;  // may be empty

  precision input = precision::f32;  // what each feature value is converted to before comparing
  precision sum = precision::f64;    // what margins are added in
  comparison compare = comparison::less_equal;
  std::uint32_t features = 0;
  std::uint32_t outputs = 1;     // margins per row
  std::uint32_t leaf_width = 1;  // values per leaf
  std::vector<double> base;      // initial margin per output (outputs values)
  double divisor = 1;            // margins divided by this at the end (random forests: the tree count)
  link post = link::identity;
  double link_scale = 1;         // lightgbm_sigmoid: its sigmoid parameter
  // Class labels, for --output-kind class (empty: a regressor). A binary model with one margin has two.
  std::vector<double> classes;
  // Columns of --output-kind proba: the library's predict_proba (scikit-learn: one per class) or
  // predict (XGBoost and LightGBM binary: one, the probability of class 1).
  std::uint32_t proba_columns = 1;

  std::vector<tree_spec> trees;
  std::vector<category_set_spec> category_sets;
};

// Reads a model file, detecting its format from the content: XGBoost JSON, LightGBM text, or
// Tandem's forest JSON. Throws usage_error with one line naming the file and what is wrong (the
// tree or node when it is one of them) for a file that cannot be read, an unknown format or a
// malformed or unsupported model; never crashes on a hostile file.
forest_model load_model(const std::string& path);

// The loaders, given the file's text (path only for messages). Each throws usage_error as above.
forest_model load_xgboost_json(const std::string& text, const std::string& path);
forest_model load_lightgbm_text(const std::string& text, const std::string& path);
forest_model load_tandem_json(const std::string& text, const std::string& path);

// Hard limits on what a model may ask for, so a hostile file cannot make us allocate absurd sizes.
inline constexpr std::uint64_t max_nodes = std::uint64_t{1} << 31;      // in all trees together
inline constexpr std::uint32_t max_features = kernels::forest_feature_mask;  // 2^28 - 1
inline constexpr std::uint32_t max_outputs = 1u << 16;
inline constexpr std::uint32_t max_depth = 1u << 12;

// The compiled form: one position-independent byte image (so it can live in shared memory for the
// procs backend and be copied to a GPU as it is) and views of it.
class compiled_forest {
 public:
  precision input() const noexcept { return input_; }
  precision sum() const noexcept { return sum_; }
  std::uint32_t features() const noexcept { return features_; }
  std::uint32_t outputs() const noexcept { return outputs_; }
  std::uint32_t trees() const noexcept { return trees_; }
  std::uint64_t nodes() const noexcept { return nodes_; }
  // How many trees have the bitvector form the vector walk evaluates without gathers.
  std::uint32_t bitvector_trees() const noexcept { return layout_.n_bv_trees; }
  // Whether the vector walk's 8-byte nodes were made (float inputs, every tree small enough).
  bool has_walk_nodes() const noexcept { return layout_.walk_nodes != 0; }
  std::uint32_t max_depth() const noexcept { return depth_; }

  // The image: copy it anywhere (aligned to 64 bytes) and view it there.
  std::span<const std::byte> image() const noexcept { return {image_.get(), image_bytes_}; }
  // Views of an image at `base` (this one's, or a copy of it: shared memory, a device).
  template <class T, class S>
  kernels::forest_view<T, S> view(const std::byte* base) const;
  template <class T, class S>
  kernels::forest_view<T, S> view() const { return view<T, S>(image_.get()); }

  struct layout {
    std::size_t nodes = 0, trees = 0, values = 0, base = 0, categories = 0, category_words = 0, end = 0;
    std::uint32_t n_categories = 0, n_category_words = 0;
    std::uint64_t n_values = 0;
    // The bitvector form (of the trees that have one; kernels::forest_bitvector_tree),
    // after the sections above; bv_trees == 0 when there is none.
    std::size_t bv_trees = 0, bv_splits = 0, bv_leaves = 0;
    std::uint32_t n_bv_trees = 0;  // the trees that have the form
    // The nodes as kernels::forest_walk_node (float inputs), after those; 0 when there are none.
    std::size_t walk_nodes = 0;
  };

 private:
  friend compiled_forest compile_forest(const forest_model&);
  template <class T>
  static void add_bitvectors(compiled_forest& c, layout& L);
  static void add_walk_nodes(compiled_forest& c, layout& L);
  // The walk nodes' layout, from the model: the bits of a word's feature index, and whether a
  // leaf (of the walk nodes and of the bitvector form) holds its value (one float per leaf) rather
  // than its index.
  std::uint32_t walk_feature_bits() const noexcept;
  bool walk_leaf_values() const noexcept;
  // What a leaf holds there: its first value's index `next`, or that value's bits.
  static std::uint32_t leaf_bits(const compiled_forest& c, const layout& L, std::uint32_t next);
  // A larger image with `extra` zero bytes after the first L.end; returns where they start.
  static std::size_t grow_image(compiled_forest& c, layout& L, std::size_t extra);
  struct free_image {
    void operator()(std::byte* p) const noexcept;
  };
  precision input_ = precision::f32, sum_ = precision::f64;
  std::uint32_t features_ = 0, outputs_ = 0, trees_ = 0, leaf_width_ = 1, depth_ = 0;
  std::uint64_t nodes_ = 0;
  double divisor_ = 1;
  layout layout_;
  std::unique_ptr<std::byte, free_image> image_;
  std::size_t image_bytes_ = 0;
};

// Checks the model and compiles it. Throws usage_error naming the file, tree and node for a model
// that is not a proper forest (a cycle, a child out of range, a node reached twice, a feature out
// of range, a NaN threshold, a leaf value index out of range, an output out of range, ...).
compiled_forest compile_forest(const forest_model& m);

// Margins to outputs, in the library's arithmetic: `margins` is one row's margins (m.outputs of
// them, in the sum precision, passed as double: exact for float); `proba` receives
// m.proba_columns values. Host code (libm), the same on every backend.
void margins_to_proba(const forest_model& m, const double* margins, double* proba);
// The index into m.classes of the predicted class (the first largest probability).
std::size_t predicted_class(const forest_model& m, const double* proba);

// The reference prediction, one row at a time (every backend must give these bits): the margins of
// `rows` rows of m.features values each (row-major, double; converted to the input precision as
// the library converts them), m.outputs per row.
std::vector<double> reference_margins(const forest_model& m, const compiled_forest& c, const double* rows,
                                      std::size_t n_rows);

}  // namespace tandem::forest
