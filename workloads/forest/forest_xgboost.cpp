// XGBoost JSON models (Booster.save_model("m.json")): gbtree boosters, read with simdjson's
// on-demand parser (the arrays XGBoost keeps only for training, base_weights, loss_changes,
// sum_hessian and parents, are skipped unparsed), and XGBoost's link from margins to predict().
//
// What XGBoost does at prediction (src/predictor/predict_fn.h, cpu_predictor.cc, common/math.h,
// objective/regression_loss.h in 1.7.4, 2.1.4 and 3.2.0, checked against their outputs by
// test_forest_xgboost.cpp):
// - inputs are float32; a numeric split goes left when x < split_condition (a float), NaN goes to
//   default_left; a categorical split sends the categories in its set right, everything else
//   (x < 0, x >= 2^24, categories past its bitset) left, NaN to default_left;
// - the margin of each output is, in float, base_score's margin plus each tree's leaf value in tree
//   order (trees ordered by their "id"; tree_info names each tree's output). All trees are used, as
//   Booster.predict and inplace_predict do by default: a "best_iteration" attribute is ignored (only
//   the scikit-learn wrapper applies it);
// - the base margin is ProbToMargin(base_score) in float: -logf(1/b - 1) for the logistic
//   objectives (3.1 on first clamps b to [1e-6, 1 - 1e-6]), logf(b) for the log-link ones, b
//   otherwise, b being base_score's text correctly rounded to float.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "forest_loaders.hpp"

namespace tandem::forest {

namespace {

namespace od = simdjson::ondemand;

// XGBoost's categories are int32 and inputs of 2^24 and more are "invalid" (common/categorical.h).
constexpr std::int64_t max_category = (std::int64_t{1} << 24) - 1;

struct version_number {
  std::int64_t major = -1, minor = 0, patch = 0;
  bool at_least(std::int64_t a, std::int64_t b) const { return major > a || (major == a && minor >= b); }
};

// One tree's arrays as the file gives them (any key order); reused from tree to tree.
struct tree_arrays {
  std::vector<std::int64_t> left, right, split_index, categories, category_nodes, category_segments,
      category_sizes;
  std::vector<float> condition;
  std::vector<std::uint8_t> default_left, split_type;
  std::int64_t id = -1, num_nodes = -1, size_leaf_vector = 0;
  bool has_split_type = false;
  void clear() {
    for (auto* v : {&left, &right, &split_index, &categories, &category_nodes, &category_segments, &category_sizes})
      v->clear();
    condition.clear();
    default_left.clear();
    split_type.clear();
    id = num_nodes = -1;
    size_leaf_vector = 0;
    has_split_type = false;
  }
};

// A float as XGBoost's JSON reader gives it: the decimal text correctly rounded to float.
bool json_float(std::string_view token, float& out) {
  while (!token.empty() && (token.back() == ' ' || token.back() == '\n' || token.back() == '\r' ||
                            token.back() == '\t'))
    token.remove_suffix(1);
  if (token.empty() || token.front() == '+') return false;
  const auto r = std::from_chars(token.data(), token.data() + token.size(), out);
  return r.ec == std::errc() && r.ptr == token.data() + token.size();
}

class xgboost_reader {
 public:
  explicit xgboost_reader(const std::string& path) : path_(path) {}

  forest_model read(const std::string& text);

 private:
  [[noreturn]] void fail(const std::string& what) const {
    malformed(path_, (tree_ >= 0 ? "tree " + std::to_string(tree_) + ": " : std::string()) + what);
  }
  [[noreturn]] void fail_node(std::int64_t node, const std::string& what) const {
    fail("node " + std::to_string(node) + ": " + what);
  }
  // An error from simdjson while reading `what`: a type mismatch says what was expected; anything
  // else is a broken document (truncated, unbalanced, bad literal).
  void need(simdjson::error_code e, const char* what) const {
    if (!e) return;
    if (e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_ERROR || e == simdjson::NUMBER_OUT_OF_RANGE)
      fail(std::string(what));
    fail(std::string("invalid JSON while reading ") + what + " (" + simdjson::error_message(e) + ")");
  }

  od::object object(od::value v, const char* what) const {
    od::object o;
    need(v.get_object().get(o), what);
    return o;
  }
  template <class F>
  void fields(od::object o, const char* what, F&& on_field) const {
    for (auto item : o) {
      od::field f;
      need(std::move(item).get(f), what);
      std::string_view key;
      need(f.unescaped_key().get(key), what);
      on_field(key, f.value());
    }
  }
  // An integer written as a JSON number or as a string of digits (XGBoost writes its parameters as strings).
  std::int64_t integer(od::value v, const char* what) const {
    od::json_type t{};
    need(v.type().get(t), what);
    std::int64_t x = 0;
    if (t == od::json_type::string) {
      std::string_view s;
      need(v.get_string().get(s), what);
      const auto r = std::from_chars(s.data(), s.data() + s.size(), x);
      if (r.ec != std::errc() || r.ptr != s.data() + s.size()) fail(std::string(what));
      return x;
    }
    need(v.get_int64().get(x), what);
    return x;
  }
  std::string string(od::value v, const char* what) const {
    std::string_view s;
    need(v.get_string().get(s), what);
    return std::string(s);
  }
  void integers(od::value v, std::vector<std::int64_t>& out, const char* what) const {
    od::array a;
    need(v.get_array().get(a), what);
    for (auto e : a) {
      std::int64_t x = 0;
      need(e.get_int64().get(x), what);
      out.push_back(x);
    }
  }
  // 0/1 as integers (what XGBoost writes) or booleans.
  void flags(od::value v, std::vector<std::uint8_t>& out, const char* what) const {
    od::array a;
    need(v.get_array().get(a), what);
    for (auto e : a) {
      od::json_type t{};
      need(e.type().get(t), what);
      if (t == od::json_type::boolean) {
        bool b = false;
        need(e.get_bool().get(b), what);
        out.push_back(b);
        continue;
      }
      std::int64_t x = 0;
      need(e.get_int64().get(x), what);
      if (x != 0 && x != 1) fail(std::string(what));
      out.push_back(std::uint8_t(x));
    }
  }
  void floats(od::value v, std::vector<float>& out, const char* what) const {
    od::array a;
    need(v.get_array().get(a), what);
    for (auto e : a) {
      std::string_view token;
      need(e.raw_json_token().get(token), what);
      float x = 0;
      if (!json_float(token, x)) fail(std::string(what));
      out.push_back(x);
    }
  }

  void read_learner(od::value v);
  void read_booster(od::value v, bool nested);
  void read_trees(od::value v);
  void read_tree(od::value v, std::size_t index);
  void build_tree(std::size_t index);
  void read_model_param(od::value v);
  forest_model finish();
  std::vector<float> base_scores() const;

  const std::string& path_;
  std::int64_t tree_ = -1;  // the tree being read, for messages
  tree_arrays a_;

  bool has_learner_ = false, has_trees_ = false, has_model_param_ = false;
  version_number version_;
  std::string booster_, objective_, base_score_;
  std::int64_t num_feature_ = -1, num_class_ = 0, num_target_ = 1, num_trees_ = -1, booster_leaf_vector_ = 0;
  std::vector<std::string> feature_names_;
  std::vector<std::int64_t> tree_info_, tree_ids_;
  std::vector<tree_spec> trees_;
  std::vector<category_set_spec> sets_;
};

forest_model xgboost_reader::read(const std::string& text) {
  const simdjson::padded_string json(text);
  od::parser parser;
  od::document doc;
  need(parser.iterate(json).get(doc), "the document");
  od::object root;
  need(doc.get_object().get(root), "the document (not a JSON object)");
  for (auto item : root) {
    od::field f;
    need(std::move(item).get(f), "the document");
    std::string_view key;
    need(f.unescaped_key().get(key), "the document");
    if (key == "learner") {
      read_learner(f.value());
    } else if (key == "version") {
      od::array a;
      need(f.value().get_array().get(a), "version (not an array of integers)");
      std::vector<std::int64_t> parts;
      for (auto e : a) {
        std::int64_t x = 0;
        need(e.get_int64().get(x), "version (not an array of integers)");
        parts.push_back(x);
      }
      if (parts.size() != 3 || parts[0] < 0) fail("version is not [major, minor, patch]");
      version_ = {parts[0], parts[1], parts[2]};
    }
  }
  return finish();
}

void xgboost_reader::read_learner(od::value v) {
  has_learner_ = true;
  fields(object(v, "learner (not an object)"), "learner", [&](std::string_view key, od::value value) {
    if (key == "gradient_booster") {
      read_booster(value, false);
    } else if (key == "learner_model_param") {
      read_model_param(value);
    } else if (key == "objective") {
      fields(object(value, "objective (not an object)"), "objective", [&](std::string_view k, od::value x) {
        if (k == "name") objective_ = string(x, "objective.name (not a string)");
      });
    } else if (key == "feature_names") {
      od::array a;
      need(value.get_array().get(a), "feature_names (not an array of strings)");
      for (auto e : a) {
        std::string_view s;
        need(e.get_string().get(s), "feature_names (not an array of strings)");
        feature_names_.emplace_back(s);
      }
    }
  });
}

// gradient_booster: {"model": {...}, "name": "gbtree"}; dart nests a gbtree under "gbtree" (refused
// once its name is known, since the keys come in any order).
void xgboost_reader::read_booster(od::value v, bool nested) {
  fields(object(v, "gradient_booster (not an object)"), "gradient_booster", [&](std::string_view key, od::value value) {
    if (key == "name") {
      const std::string name = string(value, "gradient_booster.name (not a string)");
      if (!nested) booster_ = name;
    } else if (key == "gbtree" && !nested) {
      read_booster(value, true);
    } else if (key == "model") {
      fields(object(value, "gradient_booster.model (not an object)"), "gradient_booster.model",
             [&](std::string_view k, od::value x) {
               if (k == "trees") {
                 read_trees(x);
               } else if (k == "tree_info") {
                 integers(x, tree_info_, "tree_info (not an array of integers)");
               } else if (k == "gbtree_model_param") {
                 fields(object(x, "gbtree_model_param (not an object)"), "gbtree_model_param",
                        [&](std::string_view p, od::value y) {
                          if (p == "num_trees") num_trees_ = integer(y, "gbtree_model_param.num_trees (not an integer)");
                          if (p == "size_leaf_vector")
                            booster_leaf_vector_ = integer(y, "gbtree_model_param.size_leaf_vector (not an integer)");
                        });
               }
             });
    }
  });
}

void xgboost_reader::read_trees(od::value v) {
  has_trees_ = true;
  od::array a;
  need(v.get_array().get(a), "trees (not an array)");
  for (auto e : a) {
    od::value t;
    need(e.get(t), "trees");
    read_tree(t, trees_.size());
  }
  tree_ = -1;
}

void xgboost_reader::read_tree(od::value v, std::size_t index) {
  tree_ = std::int64_t(index);
  a_.clear();
  fields(object(v, "not an object"), "the tree", [&](std::string_view key, od::value x) {
    if (key == "left_children") integers(x, a_.left, "left_children (not an array of integers)");
    else if (key == "right_children") integers(x, a_.right, "right_children (not an array of integers)");
    else if (key == "split_indices") integers(x, a_.split_index, "split_indices (not an array of integers)");
    else if (key == "split_conditions") floats(x, a_.condition, "split_conditions (not an array of numbers)");
    else if (key == "default_left") flags(x, a_.default_left, "default_left (not an array of 0/1)");
    else if (key == "split_type") {
      a_.has_split_type = true;
      flags(x, a_.split_type, "split_type (not an array of 0/1)");
    } else if (key == "categories") integers(x, a_.categories, "categories (not an array of integers)");
    else if (key == "categories_nodes") integers(x, a_.category_nodes, "categories_nodes (not an array of integers)");
    else if (key == "categories_segments")
      integers(x, a_.category_segments, "categories_segments (not an array of integers)");
    else if (key == "categories_sizes") integers(x, a_.category_sizes, "categories_sizes (not an array of integers)");
    else if (key == "id") a_.id = integer(x, "id (not an integer)");
    else if (key == "tree_param") {
      fields(object(x, "tree_param (not an object)"), "tree_param", [&](std::string_view p, od::value y) {
        if (p == "num_nodes") a_.num_nodes = integer(y, "tree_param.num_nodes (not an integer)");
        if (p == "size_leaf_vector") a_.size_leaf_vector = integer(y, "tree_param.size_leaf_vector (not an integer)");
      });
    }
  });
  build_tree(index);
}

// Checks one tree's arrays against each other and turns them into a tree_spec. Children, cycles and
// features are checked again by compile_forest; here every index is checked before it is used.
void xgboost_reader::build_tree(std::size_t index) {
  const tree_arrays& a = a_;
  if (a.size_leaf_vector > 1)
    fail("size_leaf_vector " + std::to_string(a.size_leaf_vector) +
         ": multi-output trees (multi_strategy=multi_output_tree) are not supported");
  if (a.num_nodes < 1) fail("tree_param.num_nodes is missing or less than 1");
  const std::size_t n = a.left.size();
  const auto check_length = [&](std::size_t size, const char* name) {
    if (std::uint64_t(size) != std::uint64_t(a.num_nodes))
      fail(std::string(name) + " has " + std::to_string(size) + " values for " + std::to_string(a.num_nodes) +
           " nodes (tree_param.num_nodes)");
  };
  check_length(n, "left_children");
  check_length(a.right.size(), "right_children");
  check_length(a.split_index.size(), "split_indices");
  check_length(a.condition.size(), "split_conditions");
  check_length(a.default_left.size(), "default_left");
  if (a.has_split_type) check_length(a.split_type.size(), "split_type");
  if (a.id < 0) fail("id is missing or negative");
  tree_ids_.push_back(a.id);

  tree_spec t;
  t.nodes.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    node_spec& s = t.nodes[i];
    if (a.left[i] == -1) {  // XGBoost's IsLeaf: no left child; the leaf value is its split_condition
      if (!std::isfinite(a.condition[i])) fail_node(std::int64_t(i), "the leaf value is not finite");
      s.leaf = true;
      s.value = t.values.size();
      t.values.push_back(a.condition[i]);
      continue;
    }
    if (a.left[i] < 0 || a.left[i] >= a.num_nodes || a.right[i] < 0 || a.right[i] >= a.num_nodes)
      fail_node(std::int64_t(i), "child " + std::to_string(a.left[i] < 0 || a.left[i] >= a.num_nodes ? a.left[i] : a.right[i]) +
                                     " is out of range (" + std::to_string(n) + " nodes)");
    if (a.split_index[i] < 0 || a.split_index[i] > std::int64_t(std::numeric_limits<std::uint32_t>::max()))
      fail_node(std::int64_t(i), "split index " + std::to_string(a.split_index[i]) + " is out of range");
    s.left = a.left[i];
    s.right = a.right[i];
    s.feature = std::uint32_t(a.split_index[i]);
    s.threshold = a.condition[i];  // compile_forest turns "x < t" into "x <= t'" exactly
    s.default_left = a.default_left[i] != 0;
  }

  // Categorical splits: categories_nodes lists them in node order, each with its segment of
  // `categories` (the categories that go right). XGBoost matches them to nodes in that order.
  const std::size_t k = a.category_nodes.size();
  if (a.category_segments.size() != k || a.category_sizes.size() != k)
    fail("categories_nodes, categories_segments and categories_sizes have " + std::to_string(k) + ", " +
         std::to_string(a.category_segments.size()) + " and " + std::to_string(a.category_sizes.size()) +
         " values");
  std::int64_t previous = -1;
  for (std::size_t j = 0; j < k; ++j) {
    const std::int64_t node = a.category_nodes[j];
    if (node <= previous || node >= a.num_nodes)
      fail("categories_nodes[" + std::to_string(j) + "] = " + std::to_string(node) +
           " is out of range or out of order");
    previous = node;
    const std::int64_t begin = a.category_segments[j], size = a.category_sizes[j];
    if (begin < 0 || size < 1 || std::uint64_t(begin) > a.categories.size() ||
        std::uint64_t(size) > a.categories.size() - std::uint64_t(begin))
      fail_node(node, "category segment [" + std::to_string(begin) + ", +" + std::to_string(size) +
                          ") is out of range (" + std::to_string(a.categories.size()) + " categories)");
    node_spec& s = t.nodes[std::size_t(node)];
    if (s.leaf) continue;  // a split pruned to a leaf keeps its categories; XGBoost never looks at them
    if (!a.has_split_type || a.split_type[std::size_t(node)] != 1)
      fail_node(node, "has categories but split_type does not say categorical");
    category_set_spec set;
    set.in_set_left = false;      // the categories in the set go right
    set.negative_invalid = true;  // x < 0 is no category: left
    set.categories.reserve(std::size_t(size));
    for (std::int64_t c = begin; c < begin + size; ++c) {
      const std::int64_t cat = a.categories[std::size_t(c)];
      if (cat < 0 || cat > max_category)
        fail_node(node, "category " + std::to_string(cat) + " is out of range (0 to " + std::to_string(max_category) + ")");
      set.categories.push_back(std::uint32_t(cat));
    }
    s.category_set = std::int64_t(sets_.size());
    sets_.push_back(std::move(set));
  }
  if (a.has_split_type)
    for (std::size_t i = 0; i < n; ++i)
      if (a.split_type[i] == 1 && !t.nodes[i].leaf && t.nodes[i].category_set < 0)
        fail_node(std::int64_t(i), "a categorical split without categories (not in categories_nodes)");
  (void)index;
  trees_.push_back(std::move(t));
}

void xgboost_reader::read_model_param(od::value v) {
  has_model_param_ = true;
  fields(object(v, "learner_model_param (not an object)"), "learner_model_param", [&](std::string_view key, od::value x) {
    if (key == "num_feature") num_feature_ = integer(x, "learner_model_param.num_feature (not an integer)");
    else if (key == "num_class") num_class_ = integer(x, "learner_model_param.num_class (not an integer)");
    else if (key == "num_target") num_target_ = integer(x, "learner_model_param.num_target (not an integer)");
    else if (key == "base_score") base_score_ = string(x, "learner_model_param.base_score (not a string)");
  });
}

// base_score, correctly rounded to float as every version reads it (1.x and 2.x with from_chars,
// 3.x with its JSON reader): one number, or from 3.1 on an array ("[5E-1]", one per class or target).
std::vector<float> xgboost_reader::base_scores() const {
  std::vector<float> out;
  const std::string what = "learner_model_param.base_score '" + base_score_.substr(0, 64) + "' is not ";
  std::string_view s = base_score_;
  const bool array = !s.empty() && s.front() == '[' && version_.at_least(3, 1);
  if (array) {
    if (s.back() != ']') fail(what + "a number or an array of numbers");
    s = s.substr(1, s.size() - 2);
  }
  for (;;) {
    const std::size_t comma = s.find(',');
    float b = 0;
    std::string_view part = s.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (!json_float(part, b)) fail(what + "a number or an array of numbers");
    out.push_back(b);
    if (comma == std::string_view::npos) break;
    if (!array) fail(what + "a number");
    s.remove_prefix(comma + 1);
  }
  return out;
}

enum class base_link { identity, logit, log };

forest_model xgboost_reader::finish() {
  if (!has_learner_) fail("no \"learner\": not an XGBoost JSON model");
  if (version_.major < 0) fail("no \"version\": not an XGBoost JSON model");
  if (booster_ == "gblinear") fail("the gblinear booster (a linear model) is not supported; only gbtree");
  if (booster_ == "dart")
    fail("the dart booster is not supported (it scales each tree by weight_drop at prediction); only gbtree");
  if (booster_ != "gbtree") fail("booster '" + booster_ + "' is not supported; only gbtree");
  if (!has_trees_) fail("no gradient_booster.model.trees");
  if (!has_model_param_) fail("no learner_model_param");
  if (booster_leaf_vector_ > 1) fail("multi-output trees (multi_strategy=multi_output_tree) are not supported");
  if (num_feature_ < 1 || num_feature_ > std::int64_t(max_features))
    fail("learner_model_param.num_feature " + std::to_string(num_feature_) + " is out of range (1 to " +
         std::to_string(max_features) + ")");
  if (num_class_ < 0 || num_class_ > std::int64_t(max_outputs) || num_target_ < 1 ||
      num_target_ > std::int64_t(max_outputs))
    fail("learner_model_param: num_class " + std::to_string(num_class_) + " or num_target " +
         std::to_string(num_target_) + " is out of range");
  if (num_trees_ >= 0 && std::uint64_t(num_trees_) != trees_.size())
    fail("gbtree_model_param.num_trees is " + std::to_string(num_trees_) + " but there are " +
         std::to_string(trees_.size()) + " trees");
  if (trees_.empty()) fail("no trees");

  forest_model m;
  m.path = path_;
  m.format = "XGBoost JSON (version " + std::to_string(version_.major) + "." + std::to_string(version_.minor) + "." +
             std::to_string(version_.patch) + ")";
  m.objective = objective_;
  m.input = precision::f32;
  m.sum = precision::f32;
  m.compare = comparison::less;
  m.features = std::uint32_t(num_feature_);
  if (!feature_names_.empty() && feature_names_.size() != m.features)
    fail("feature_names has " + std::to_string(feature_names_.size()) + " names for " + std::to_string(m.features) +
         " features");
  m.feature_names = std::move(feature_names_);

  // The objective: outputs, the link predict() applies and the one base_score goes through.
  const std::string& o = objective_;
  base_link to_margin = base_link::identity;
  const bool multiclass = o == "multi:softprob" || o == "multi:softmax";
  if (multiclass) {
    if (num_class_ < 2 || num_target_ != 1) fail(o + " needs num_class >= 2 (it is " + std::to_string(num_class_) + ")");
    m.outputs = std::uint32_t(num_class_);
    m.post = link::xgboost_softmax;
    m.proba_columns = m.outputs;
    for (std::uint32_t c = 0; c < m.outputs; ++c) m.classes.push_back(c);
  } else {
    if (num_class_ > 1) fail("num_class " + std::to_string(num_class_) + " with objective '" + o + "'");
    m.outputs = std::uint32_t(num_target_);
    m.proba_columns = m.outputs;
    if (o == "binary:logistic" || o == "reg:logistic") {
      if (m.outputs != 1) fail(o + " with " + std::to_string(m.outputs) + " targets is not supported");
      m.post = link::xgboost_sigmoid;
      to_margin = base_link::logit;
      if (o == "binary:logistic") m.classes = {0, 1};
    } else if (o == "count:poisson" || o == "reg:gamma" || o == "reg:tweedie") {
      m.post = link::exp;  // expf, as margins_to_proba does for float sums
      to_margin = base_link::log;
    } else if (o == "reg:squarederror" || o == "reg:linear" || o == "reg:squaredlogerror" ||
               o == "reg:pseudohubererror" || o == "reg:absoluteerror" || o == "reg:quantileerror" ||
               o == "binary:logitraw" || o == "rank:pairwise" || o == "rank:ndcg" || o == "rank:map") {
      m.post = link::identity;
    } else {
      fail("objective '" + o + "' is not supported (supported: binary:logistic, binary:logitraw, reg:logistic, "
           "reg:squarederror and the other identity-link regressions, count:poisson, reg:gamma, reg:tweedie, "
           "multi:softprob, multi:softmax, rank:*)");
    }
  }

  // Trees in "id" order, each adding to the output tree_info names.
  if (tree_info_.size() != trees_.size())
    fail("tree_info has " + std::to_string(tree_info_.size()) + " entries for " + std::to_string(trees_.size()) +
         " trees");
  std::vector<std::int64_t> where(trees_.size(), -1);
  for (std::size_t i = 0; i < trees_.size(); ++i) {
    const std::int64_t id = tree_ids_[i];
    if (std::uint64_t(id) >= trees_.size() || where[std::size_t(id)] >= 0)
      malformed(path_, "tree " + std::to_string(i) + ": id " + std::to_string(id) +
                           " is out of range or repeated (ids must number the trees 0 to " +
                           std::to_string(trees_.size() - 1) + ")");
    where[std::size_t(id)] = std::int64_t(i);
  }
  m.trees.resize(trees_.size());
  for (std::size_t id = 0; id < trees_.size(); ++id) {
    m.trees[id] = std::move(trees_[std::size_t(where[id])]);
    const std::int64_t group = tree_info_[id];
    if (group < 0 || group >= std::int64_t(m.outputs))
      malformed(path_, "tree " + std::to_string(id) + ": tree_info " + std::to_string(group) + " is out of range (" +
                           std::to_string(m.outputs) + " outputs)");
    m.trees[id].output = std::uint32_t(group);
    for (std::size_t i = 0; i < m.trees[id].nodes.size(); ++i) {
      const node_spec& s = m.trees[id].nodes[i];
      if (!s.leaf && s.feature >= m.features)
        malformed(path_, "tree " + std::to_string(id) + ": node " + std::to_string(i) + ": split index " +
                             std::to_string(s.feature) + " is out of range (num_feature " +
                             std::to_string(m.features) + ")");
    }
  }
  m.category_sets = std::move(sets_);

  // base_score -> the base margin of each output, in float as XGBoost's ProbToMargin.
  const std::vector<float> scores = base_scores();
  if (scores.size() != 1 && scores.size() != m.outputs)
    fail("learner_model_param.base_score has " + std::to_string(scores.size()) + " values for " +
         std::to_string(m.outputs) + " outputs");
  for (std::uint32_t i = 0; i < m.outputs; ++i) {
    float b = scores[scores.size() == 1 ? 0 : i];
    const float given = b;
    if (to_margin == base_link::logit) {
      if (version_.at_least(3, 1)) b = std::min(std::max(b, 1e-6f), 1.0f - 1e-6f);
      if (!(b > 0.0f && b < 1.0f))
        fail("base_score " + std::to_string(given) + " is not in (0, 1), as " + o + " needs");
      b = -std::log(1.0f / b - 1.0f);
    } else if (to_margin == base_link::log) {
      if (!(b > 0.0f)) fail("base_score " + std::to_string(given) + " is not positive, as " + o + " needs");
      b = std::log(b);
    }
    if (!std::isfinite(b)) fail("base_score " + std::to_string(given) + " gives no finite base margin");
    m.base.push_back(b);
  }
  return m;
}

// XGBoost's common::Sigmoid (1.7 to 3.x): 1 / (expf(min(-x, 88.7)) + 1 + 1e-16), all in float.
float xgboost_sigmoid(float x) {
  constexpr float eps = 1e-16f;
  const float e = std::exp(std::min(-x, 88.7f));
  return 1.0f / (e + 1.0f + eps);
}

}  // namespace

forest_model load_xgboost_json(const std::string& text, const std::string& path) {
  return xgboost_reader(path).read(text);
}

void xgboost_proba(const forest_model& m, const double* margins, double* proba) {
  if (m.post == link::xgboost_sigmoid) {
    for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = xgboost_sigmoid(float(margins[i]));
    return;
  }
  // common::Softmax: the float maximum (fmaxf), expf of each difference, summed in double, each
  // divided (in float) by the sum rounded to float.
  const std::uint32_t n = m.proba_columns;
  float top = float(margins[0]);
  for (std::uint32_t i = 1; i < n; ++i) top = std::fmax(float(margins[i]), top);
  double sum = 0;
  for (std::uint32_t i = 0; i < n; ++i) sum += std::exp(float(margins[i]) - top);
  // expf again rather than a buffer: it gives the same bits, and this runs once per row.
  for (std::uint32_t i = 0; i < n; ++i) proba[i] = std::exp(float(margins[i]) - top) / static_cast<float>(sum);
}

}  // namespace tandem::forest
