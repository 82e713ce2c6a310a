// LightGBM text models (booster.save_model("m.txt"), booster.model_to_string()).
//
// The header (num_class, num_tree_per_iteration, max_feature_idx, objective, feature_names,
// average_output), then "Tree=N" blocks of key=value lines, then "end of trees"; what follows
// (feature importances, parameters) does not change predictions and is not read.
//
// LightGBM predicts in double: each tree's leaf value added to a zeroed margin in tree order
// (GBDT::PredictRaw), tree i adding to margin i % num_tree_per_iteration, then for rf boosting
// ("average_output") divided by the number of iterations (GBDT::Predict; raw_score=True skips that
// division), then the objective's ConvertOutput. A split (Tree::NumericalDecision) goes left when
// x <= threshold in double, after its missing-value rule (decision_type bits 2-3):
//   none: NaN becomes 0.0 and is compared;
//   zero: NaN and |x| <= kZeroThreshold go the default way (decision_type bit 1);
//   NaN:  NaN goes the default way.
// Before that, the C API's dense-row readers (RowPairFunctionFromDenseMatrix, what Python's
// predict uses for numpy and pandas input) drop every |x| <= kZeroThreshold, so the tree sees 0.0
// for them. kZeroThreshold is the float 1e-35f held in a double (1.0000000180025095e-35), the
// value LightGBM writes as the threshold between zero and its neighbours. The loader folds that
// zeroing into the thresholds (zero_band_threshold), so the core compares the raw value.
// Categorical splits (Tree::CategoricalDecision): NaN and negative values go right; otherwise the
// value truncated to int goes left when its bit is set in the node's bitset.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "forest_loaders.hpp"

namespace tandem::forest {

namespace {

using sv = std::string_view;

constexpr double zero_threshold = static_cast<double>(1e-35f);  // LightGBM's kZeroThreshold
constexpr double inf = std::numeric_limits<double>::infinity();

// A token from the file, safe to put in a one-line message.
std::string quote(sv s) {
  std::string out = "'";
  for (const char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) out += "...";
  return out + "'";
}

class text_reader {
 public:
  text_reader(const std::string& text, const std::string& path) : text_(text), path_(path) {}
  bool done() const { return pos_ >= text_.size(); }
  // The next line without its "\n" or "\r\n".
  sv line() {
    const char* begin = text_.data() + pos_;
    const void* nl = std::memchr(begin, '\n', text_.size() - pos_);
    const std::size_t len = nl ? std::size_t(static_cast<const char*>(nl) - begin) : text_.size() - pos_;
    pos_ += len + (nl ? 1 : 0);
    sv s(begin, len);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  std::size_t pos() const { return pos_; }
  void seek(std::size_t p) { pos_ = p; }
  [[noreturn]] void fail(const std::string& what) const { malformed(path_, what); }

 private:
  const std::string& text_;
  const std::string& path_;
  std::size_t pos_ = 0;
};

// A whole token as a number (from_chars: integers exactly, doubles correctly rounded, as LightGBM
// reads thresholds and leaf values with fast_double_parser, falling back to strtod for "inf").
template <class T>
bool parse_number(sv s, T& out) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
template <class I>
bool parse_int(sv s, I& out) {
  return parse_number(s, out);
}

// LightGBM's legacy Common::Atof, which its objective constructors use for parameters such as
// "sigmoid:0.123457": not correctly rounded, so the same operations in the same order. Returns
// false for what is not a plain decimal number.
double ten_to(double base, int power) {  // Common::Pow's association of the product
  if (power == 0) return 1;
  if (power % 2 == 0) return ten_to(base * base, power / 2);
  if (power % 3 == 0) return ten_to(base * base * base, power / 3);
  return base * ten_to(base, power - 1);
}
bool parse_legacy_double(sv s, double& out) {
  std::size_t i = 0;
  double sign = 1;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) sign = s[i++] == '-' ? -1.0 : 1.0;
  const auto digit = [&](std::size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (!digit(i) && !(i < s.size() && s[i] == '.')) return false;
  double value = 0;
  for (; digit(i); ++i) value = value * 10.0 + (s[i] - '0');
  if (i < s.size() && s[i] == '.') {
    double right = 0;
    int n = 0;
    for (++i; digit(i); ++i, ++n) right = (s[i] - '0') + right * 10.0;
    if (n > 400) return false;
    value += right / ten_to(10.0, n);
  }
  bool divide = false;
  double scale = 1;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) divide = s[i++] == '-';
    if (!digit(i)) return false;
    std::uint32_t e = 0;
    for (; digit(i); ++i) e = std::min<std::uint32_t>(e * 10 + std::uint32_t(s[i] - '0'), 100000);
    e = std::min<std::uint32_t>(e, 308);
    for (; e >= 50; e -= 50) scale *= 1e50;
    for (; e >= 8; e -= 8) scale *= 1e8;
    for (; e > 0; --e) scale *= 10.0;
  }
  if (i != s.size()) return false;
  out = sign * (divide ? value / scale : value * scale);
  return true;
}

// The space-separated numbers of one array line; at most `limit` + 1 (more is an error the caller
// reports from the count), so a hostile line cannot make us allocate beyond its own length. Each
// number is parsed in place and must end at a space or the end of the line.
template <class T>
bool parse_array(sv s, std::vector<T>& out, std::size_t limit, sv& bad) {
  out.clear();
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p < end) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    T v{};
    const auto r = std::from_chars(p, end, v);
    if (r.ec != std::errc() || (r.ptr < end && *r.ptr != ' ')) {
      const char* stop = std::find(p, end, ' ');
      bad = sv(p, std::size_t(stop - p));
      return false;
    }
    if (out.size() > limit) return true;
    out.push_back(v);
    p = r.ptr;
  }
  return true;
}

// The threshold t' with "x <= t'" equal to LightGBM's "z(x) <= t" for every x that is not NaN,
// where z(x) is 0.0 for |x| <= kZeroThreshold (the C API drops those) and x otherwise.
double zero_band_threshold(double t) {
  if (t >= -zero_threshold && t < 0) return std::nextafter(-zero_threshold, -inf);  // only x < -kZ is <= t
  if (t >= 0 && t <= zero_threshold) return zero_threshold;                         // all x <= kZ are
  return t;
}

// One "Tree=N" block, as read from the file.
struct raw_tree {
  std::int64_t num_leaves = -1, num_cat = 0;
  bool linear = false;
  sv split_feature, threshold, decision_type, left_child, right_child, leaf_value, cat_boundaries, cat_threshold;
  bool has_split_feature = false, has_threshold = false, has_decision_type = false, has_left = false,
       has_right = false, has_leaf_value = false, has_cat_boundaries = false, has_cat_threshold = false;
};

// Scratch arrays reused from tree to tree.
struct scratch {
  std::vector<std::int64_t> feature, decision, left, right, boundaries;
  std::vector<double> threshold;
  std::vector<std::uint32_t> words;
  std::vector<std::int64_t> set_of_cat;  // forest_model::category_sets index of each cat_idx, or -1
  std::vector<std::uint8_t> is_child;
};

class tree_builder {
 public:
  tree_builder(forest_model& m, const text_reader& in) : m_(m), in_(in) {}

  void build(const raw_tree& r, std::size_t index) {
    t_ = index;
    const std::string T = "tree " + std::to_string(index);
    if (r.num_leaves < 1) fail("num_leaves " + std::to_string(r.num_leaves) + " is not a positive count");
    if (std::uint64_t(r.num_leaves) > max_nodes / 2)
      fail("num_leaves " + std::to_string(r.num_leaves) + " is more than the " + std::to_string(max_nodes / 2) +
           " supported");
    if (r.linear) fail("is a linear tree (linear_tree=true), which is not supported");
    if (!r.has_leaf_value) fail("has no leaf_value");
    const std::size_t leaves = std::size_t(r.num_leaves), splits = leaves - 1;
    tree_spec tree;
    tree.output = std::uint32_t(index % m_.outputs);
    sv bad;
    if (!parse_array(r.leaf_value, tree.values, leaves, bad))
      fail("leaf_value " + quote(bad) + " is not a number");
    count("leaf_value", tree.values.size(), leaves, "num_leaves");
    for (const double v : tree.values)
      if (!std::isfinite(v)) fail("a leaf_value is not finite");
    if (leaves == 1) {  // a constant (Tree::Predict returns leaf_value[0])
      tree.nodes.resize(1);
      tree.nodes[0].leaf = true;
      m_.trees.push_back(std::move(tree));
      return;
    }
    const auto need = [&](bool has, const char* name) {
      if (!has) fail(std::string("has no ") + name + " (num_leaves=" + std::to_string(leaves) + ")");
    };
    need(r.has_split_feature, "split_feature");
    need(r.has_threshold, "threshold");
    need(r.has_left, "left_child");
    need(r.has_right, "right_child");
    ints("split_feature", r.split_feature, s_.feature, splits);
    ints("left_child", r.left_child, s_.left, splits);
    ints("right_child", r.right_child, s_.right, splits);
    if (r.has_decision_type) {
      ints("decision_type", r.decision_type, s_.decision, splits);
    } else {
      s_.decision.assign(splits, 0);  // LightGBM's default when the line is absent
    }
    if (!parse_array(r.threshold, s_.threshold, splits, bad))
      fail("threshold " + quote(bad) + " is not a number");
    count("threshold", s_.threshold.size(), splits, "num_leaves - 1");
    read_categories(r);

    // Internal node i is node i; leaf j (a child written as ~j) is node splits + j.
    tree.nodes.resize(splits + leaves);
    s_.is_child.assign(splits, 0);
    for (std::size_t i = 0; i < splits; ++i) {
      node_spec& n = tree.nodes[i];
      n.left = child(i, "left_child", s_.left[i], splits, leaves);
      n.right = child(i, "right_child", s_.right[i], splits, leaves);
      if (s_.feature[i] < 0 || s_.feature[i] >= std::int64_t(m_.features))
        fail(i, "split_feature " + std::to_string(s_.feature[i]) + " is beyond max_feature_idx " +
                    std::to_string(m_.features - 1));
      n.feature = std::uint32_t(s_.feature[i]);
      const std::int64_t d = s_.decision[i];
      if (d < 0 || d > 15 || ((d >> 2) & 3) == 3)
        fail(i, "decision_type " + std::to_string(d) + " is not a LightGBM decision type");
      const double t = s_.threshold[i];
      if (d & 1) {
        n.category_set = category_set(i, t);
        n.default_left = false;  // NaN goes right, whatever the missing type
        continue;
      }
      if (std::isnan(t)) fail(i, "threshold is NaN");
      const int missing = int((d >> 2) & 3);
      n.threshold = zero_band_threshold(t);
      if (missing == 0) {
        n.default_left = 0.0 <= t;  // NaN is compared as 0.0
      } else {
        n.default_left = (d & 2) != 0;
        n.zero_missing = missing == 1;
      }
    }
    for (std::size_t j = 0; j < leaves; ++j) {
      tree.nodes[splits + j].leaf = true;
      tree.nodes[splits + j].value = j;
    }
    m_.trees.push_back(std::move(tree));
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { in_.fail("tree " + std::to_string(t_) + ": " + what); }
  [[noreturn]] void fail(std::size_t node, const std::string& what) const {
    in_.fail("tree " + std::to_string(t_) + ", node " + std::to_string(node) + ": " + what);
  }
  void count(const char* name, std::size_t got, std::size_t want, const char* from) const {
    if (got != want)
      fail(std::string(name) + " has " + (got > want ? "more than " + std::to_string(want) : std::to_string(got)) +
           " values where " + from + " needs " + std::to_string(want));
  }
  void ints(const char* name, sv line, std::vector<std::int64_t>& out, std::size_t want) {
    sv bad;
    if (!parse_array(line, out, want, bad))
      fail(std::string(name) + " " + quote(bad) + " is not an integer");
    count(name, out.size(), want, "num_leaves - 1");
  }

  // A child as written: >= 0 an internal node, < 0 the leaf ~c. Each node has one parent and the
  // root none, so with every node reached once the walk from the root ends (no cycle).
  std::int64_t child(std::size_t node, const char* name, std::int64_t c, std::size_t splits, std::size_t leaves) {
    if (c >= 0) {
      if (std::uint64_t(c) >= splits)
        fail(node, std::string(name) + " " + std::to_string(c) + " is out of range (" + std::to_string(splits) +
                       " internal nodes)");
      if (c == 0) fail(node, std::string(name) + " is the root (a cycle)");
      if (s_.is_child[std::size_t(c)]++)
        fail(node, std::string(name) + " " + std::to_string(c) + " is the child of two nodes (a cycle or a shared subtree)");
      return c;
    }
    const std::uint64_t leaf = ~std::uint64_t(c);
    if (leaf >= leaves)
      fail(node, std::string(name) + " " + std::to_string(c) + " is leaf " + std::to_string(leaf) +
                     ", out of range (" + std::to_string(leaves) + " leaves)");
    return std::int64_t(splits + leaf);
  }

  void read_categories(const raw_tree& r) {
    s_.boundaries.clear();
    s_.words.clear();
    s_.set_of_cat.clear();
    if (r.num_cat < 0) fail("num_cat " + std::to_string(r.num_cat) + " is negative");
    if (r.num_cat == 0) return;
    if (!r.has_cat_boundaries || !r.has_cat_threshold)
      fail("num_cat=" + std::to_string(r.num_cat) + " without cat_boundaries and cat_threshold");
    sv bad;
    if (!parse_array(r.cat_boundaries, s_.boundaries, std::size_t(r.num_cat) + 1, bad))
      fail("cat_boundaries " + quote(bad) + " is not an integer");
    count("cat_boundaries", s_.boundaries.size(), std::size_t(r.num_cat) + 1, "num_cat + 1");
    if (!parse_array(r.cat_threshold, s_.words, r.cat_threshold.size(), bad))
      fail("cat_threshold " + quote(bad) + " is not a 32-bit word");
    for (std::size_t i = 0; i + 1 < s_.boundaries.size(); ++i)
      if (s_.boundaries[i] < 0 || s_.boundaries[i] > s_.boundaries[i + 1])
        fail("cat_boundaries are not increasing from 0");
    if (std::uint64_t(s_.boundaries.back()) != s_.words.size())
      fail("cat_threshold has " + std::to_string(s_.words.size()) + " words where cat_boundaries ends at " +
           std::to_string(s_.boundaries.back()));
    s_.set_of_cat.assign(std::size_t(r.num_cat), -1);
  }

  // The category set of a categorical split whose threshold holds its cat_idx (one set per cat_idx
  // of the tree, shared by the nodes that name it).
  std::int64_t category_set(std::size_t node, double t) {
    if (!(t >= 0 && t < double(s_.set_of_cat.size()) && t == std::trunc(t)))
      fail(node, "categorical threshold " + std::to_string(t) + " is not a category index below num_cat " +
                     std::to_string(s_.set_of_cat.size()));
    const std::size_t c = std::size_t(t);
    if (s_.set_of_cat[c] >= 0) return s_.set_of_cat[c];
    category_set_spec set;
    set.in_set_left = true;
    set.nan_is_zero = false;
    const std::size_t first = std::size_t(s_.boundaries[c]), last = std::size_t(s_.boundaries[c + 1]);
    // Categories above INT_MAX cannot be reached (LightGBM truncates to int), so they are left out.
    for (std::size_t w = first; w < last && (w - first) < (std::size_t{1} << 26); ++w)
      for (std::uint32_t b = 0, bits = s_.words[w]; bits != 0; ++b, bits >>= 1)
        if (bits & 1u) set.categories.push_back(std::uint32_t((w - first) * 32 + b));
    s_.set_of_cat[c] = std::int64_t(m_.category_sets.size());
    m_.category_sets.push_back(std::move(set));
    return s_.set_of_cat[c];
  }

  forest_model& m_;
  const text_reader& in_;
  scratch s_;
  std::size_t t_ = 0;
};

std::vector<sv> split_spaces(sv s) {
  std::vector<sv> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    std::size_t j = s.find(' ', i);
    if (j == sv::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The objective line ("binary sigmoid:1", "multiclass num_class:3", "regression") to the link.
void apply_objective(forest_model& m, sv line, std::uint32_t num_class, const text_reader& in) {
  const std::vector<sv> words = split_spaces(line);
  const sv name = words.empty() ? sv("custom") : words[0];
  m.objective = std::string(line);
  double sigmoid = -1;
  std::int64_t objective_classes = -1;
  bool sqrt = false;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::size_t colon = words[i].find(':');
    if (words[i] == "sqrt") sqrt = true;
    if (colon == sv::npos) continue;
    const sv key = words[i].substr(0, colon), value = words[i].substr(colon + 1);
    if (key == "sigmoid" && !parse_legacy_double(value, sigmoid))
      in.fail("objective " + quote(line) + ": sigmoid " + quote(value) + " is not a number");
    if (key == "num_class" && !parse_int(value, objective_classes))
      in.fail("objective " + quote(line) + ": num_class " + quote(value) + " is not an integer");
  }
  const auto classes = [&](std::uint32_t n) {
    m.classes.resize(n);
    for (std::uint32_t i = 0; i < n; ++i) m.classes[i] = i;
  };
  const auto need_outputs = [&](std::uint32_t n) {
    if (m.outputs != n)
      in.fail("objective " + quote(line) + " with num_tree_per_iteration=" + std::to_string(m.outputs) + " (" +
              std::to_string(n) + " expected)");
  };
  if (name == "binary" || name == "multiclassova") {
    if (!(sigmoid > 0)) in.fail("objective " + quote(line) + ": the sigmoid parameter is missing or not positive");
    m.post = link::lightgbm_sigmoid;
    m.link_scale = sigmoid;
    if (name == "binary") {
      need_outputs(1);
      classes(2);
      m.proba_columns = 1;  // predict() gives P(class 1)
    } else {
      if (objective_classes != std::int64_t(num_class)) in.fail("objective " + quote(line) + " disagrees with num_class=" + std::to_string(num_class));
      need_outputs(num_class);
      classes(num_class);
      m.proba_columns = num_class;  // one sigmoid per class, not normalised (as predict())
    }
  } else if (name == "multiclass") {
    if (objective_classes != std::int64_t(num_class)) in.fail("objective " + quote(line) + " disagrees with num_class=" + std::to_string(num_class));
    need_outputs(num_class);
    m.post = link::lightgbm_softmax;
    classes(num_class);
    m.proba_columns = num_class;
  } else if (name == "cross_entropy") {  // 1 / (1 + exp(-x)): the sigmoid link with scale 1, exactly
    need_outputs(1);
    m.post = link::lightgbm_sigmoid;
    m.link_scale = 1;
  } else if (name == "poisson" || name == "gamma" || name == "tweedie") {
    need_outputs(1);
    m.post = link::exp;
  } else if (name == "regression" || name == "regression_l1" || name == "huber" || name == "fair" ||
             name == "quantile" || name == "mape" || name == "lambdarank" || name == "rank_xendcg" || name == "custom") {
    if (sqrt) in.fail("objective " + quote(line) + ": the sqrt transform (reg_sqrt) is not supported");
    m.post = link::identity;
    m.proba_columns = m.outputs;
  } else {
    in.fail("objective " + quote(line) + " is not supported");
  }
}

}  // namespace

forest_model load_lightgbm_text(const std::string& text, const std::string& path) {
  text_reader in(text, path);
  forest_model m;
  m.path = path;
  m.input = precision::f64;
  m.sum = precision::f64;
  m.compare = comparison::less_equal;

  // The header: key=value lines up to the first "Tree=".
  if (in.line() != "tree") in.fail("not a LightGBM text model (the first line is not 'tree')");
  std::int64_t num_class = -1, per_iteration = -1, max_feature_idx = -1;
  bool average_output = false, has_objective = false;
  sv version = "?", objective, names;
  std::size_t tree_start = sv::npos;
  while (!in.done()) {
    const std::size_t at = in.pos();
    const sv line = in.line();
    if (line.starts_with("Tree=") || line == "end of trees") {
      tree_start = at;
      break;
    }
    const std::size_t eq = line.find('=');
    const sv key = line.substr(0, eq), value = eq == sv::npos ? sv() : line.substr(eq + 1);
    const auto integer = [&](std::int64_t& out) {
      if (!parse_int(value, out)) in.fail(std::string(key) + " " + quote(value) + " is not an integer");
    };
    if (key == "version") version = value;
    else if (key == "num_class") integer(num_class);
    else if (key == "num_tree_per_iteration") integer(per_iteration);
    else if (key == "max_feature_idx") integer(max_feature_idx);
    else if (key == "objective") has_objective = true, objective = value;
    else if (key == "feature_names") names = value;
    else if (key == "average_output") average_output = true;
  }
  if (tree_start == sv::npos) in.fail("no trees (the file ends in its header)");
  if (num_class < 1 || num_class > max_outputs) in.fail("num_class is missing or out of range");
  if (per_iteration == -1) per_iteration = num_class;  // LightGBM's default
  if (per_iteration < 1 || per_iteration > max_outputs) in.fail("num_tree_per_iteration is out of range");
  if (max_feature_idx < 0 || max_feature_idx >= std::int64_t(max_features))
    in.fail("max_feature_idx is missing or out of range");
  m.format = "LightGBM text (" + std::string(version.substr(0, 20)) + ")";
  m.features = std::uint32_t(max_feature_idx + 1);
  m.outputs = std::uint32_t(per_iteration);
  m.base.assign(m.outputs, 0.0);
  if (!names.empty()) {
    for (const sv n : split_spaces(names)) m.feature_names.emplace_back(n);
    if (m.feature_names.size() != m.features)
      in.fail(std::to_string(m.feature_names.size()) + " feature_names for max_feature_idx " +
              std::to_string(max_feature_idx));
  }
  apply_objective(m, has_objective ? objective : sv("custom"), std::uint32_t(num_class), in);

  // The trees, each "Tree=N" then key=value lines up to a blank line.
  in.seek(tree_start);
  tree_builder builder(m, in);
  bool ended = false;
  while (!in.done()) {
    const sv head = in.line();
    if (head.empty()) continue;
    if (head == "end of trees") {
      ended = true;
      break;
    }
    const std::size_t index = m.trees.size();
    std::int64_t n = -1;
    if (!head.starts_with("Tree=") || !parse_int(head.substr(5), n) || n != std::int64_t(index))
      in.fail("expected 'Tree=" + std::to_string(index) + "' or 'end of trees', found " + quote(head));
    raw_tree r;
    bool has_leaves = false, has_cat = false;
    while (!in.done()) {
      const std::size_t at = in.pos();
      const sv line = in.line();
      if (line.empty()) break;
      if (line.starts_with("Tree=") || line == "end of trees") {
        in.seek(at);
        break;
      }
      const std::size_t eq = line.find('=');
      if (eq == sv::npos) in.fail("tree " + std::to_string(index) + ": line " + quote(line) + " is not key=value");
      const sv key = line.substr(0, eq), value = line.substr(eq + 1);
      const auto integer = [&](std::int64_t& out) {
        if (!parse_int(value, out))
          in.fail("tree " + std::to_string(index) + ": " + std::string(key) + " " + quote(value) + " is not an integer");
      };
      if (key == "num_leaves") integer(r.num_leaves), has_leaves = true;
      else if (key == "num_cat") integer(r.num_cat), has_cat = true;
      else if (key == "split_feature") r.split_feature = value, r.has_split_feature = true;
      else if (key == "threshold") r.threshold = value, r.has_threshold = true;
      else if (key == "decision_type") r.decision_type = value, r.has_decision_type = true;
      else if (key == "left_child") r.left_child = value, r.has_left = true;
      else if (key == "right_child") r.right_child = value, r.has_right = true;
      else if (key == "leaf_value") r.leaf_value = value, r.has_leaf_value = true;
      else if (key == "cat_boundaries") r.cat_boundaries = value, r.has_cat_boundaries = true;
      else if (key == "cat_threshold") r.cat_threshold = value, r.has_cat_threshold = true;
      else if (key == "is_linear") {
        std::int64_t v = 0;
        integer(v);
        r.linear = v != 0;
      }
    }
    if (!has_leaves) in.fail("tree " + std::to_string(index) + " has no num_leaves (truncated?)");
    if (!has_cat) in.fail("tree " + std::to_string(index) + " has no num_cat (truncated?)");
    builder.build(r, index);
  }
  if (!ended) in.fail("no 'end of trees' line after tree " + std::to_string(m.trees.size()) + " (truncated?)");
  if (m.trees.empty()) in.fail("no trees");
  if (m.trees.size() % m.outputs != 0)
    in.fail(std::to_string(m.trees.size()) + " trees is not a whole number of iterations of " +
            std::to_string(m.outputs) + " trees");
  // rf boosting: GBDT::Predict divides by the iterations (raw_score=True does not).
  if (average_output) m.divisor = double(m.trees.size() / m.outputs);
  return m;
}

// LightGBM's ConvertOutput in its own double arithmetic (std::exp, as glibc's libm here).
void lightgbm_proba(const forest_model& m, const double* margins, double* proba) {
  if (m.post == link::lightgbm_sigmoid) {  // BinaryLogloss, MulticlassOVA, CrossEntropy
    for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = 1.0 / (1.0 + std::exp(-m.link_scale * margins[i]));
    return;
  }
  // Common::Softmax: subtract the largest, exponentiate, divide by the sum added in class order.
  const std::uint32_t n = m.proba_columns;
  double top = margins[0];
  for (std::uint32_t i = 1; i < n; ++i) top = std::max(margins[i], top);
  double sum = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    proba[i] = std::exp(margins[i] - top);
    sum += proba[i];
  }
  for (std::uint32_t i = 0; i < n; ++i) proba[i] /= sum;
}

}  // namespace tandem::forest
