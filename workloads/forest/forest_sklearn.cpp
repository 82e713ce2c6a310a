// Tandem forest JSON (docs/forest-format.md), written by tools/export_sklearn.py from a fitted
// scikit-learn estimator, and scikit-learn's links from margins to predict_proba.
//
// The file is parsed with simdjson's On-Demand API in one pass: the trees are columnar arrays
// (left, right, feature, threshold, missing_left, values), so a 3M-node forest is a few hundred
// MB of numbers read straight into vectors. Every index and size is checked against the header
// before it is used; compile_forest then checks the structure (cycles, nodes reached twice).
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <simdjson.h>

#include "forest_loaders.hpp"

namespace tandem::forest {

namespace {

namespace od = simdjson::ondemand;

// One tree's arrays as read: reused from tree to tree, so a large model is not a fresh allocation
// (and its page faults) per array.
struct tree_arrays {
  std::int64_t output = -1;
  std::vector<std::int64_t> left, right, feature, missing;
  std::vector<double> threshold, values;
  void clear() {
    output = -1;
    for (auto* v : {&left, &right, &feature, &missing}) v->clear();
    threshold.clear();
    values.clear();
  }
};

class reader {
 public:
  explicit reader(const std::string& path) : path_(path) {}
  std::uint32_t leaf_width = 1;  // known once the header is checked
  std::size_t text_bytes = 0;

  [[noreturn]] void fail(const std::string& what) const { malformed(path_, what); }
  [[noreturn]] void fail(simdjson::error_code e, const std::string& where) const {
    fail(where + "not valid Tandem forest JSON (" + simdjson::error_message(e) + ")");
  }

  template <class T, class R>
  T get(R&& result, const std::string_view where) const {
    T v{};
    if (const auto e = std::forward<R>(result).get(v); e) fail(e, std::string(where));
    return v;
  }

  std::string string(od::value v, std::string_view field) const {
    return std::string(get<std::string_view>(v.get_string(), where(field)));
  }
  double number(od::value v, std::string_view field) const { return get<double>(v.get_double(), where(field)); }
  std::int64_t integer(od::value v, std::string_view field) const {
    return get<std::int64_t>(v.get_int64(), where(field));
  }

  // An array of numbers; with `infinities`, also the strings "inf" and "-inf" (JSON has no
  // infinity; scikit-learn's "missing or not" splits have threshold +inf).
  template <class T>
  void numbers(od::value v, std::vector<T>& out, const std::string& where, bool infinities = false) const {
    od::array a = get<od::array>(v.get_array(), where);
    for (auto element : a) {
      T x{};
      simdjson::error_code e;
      if constexpr (std::is_same_v<T, double>) {
        e = element.get_double().get(x);
        if (e == simdjson::INCORRECT_TYPE && infinities) {
          std::string_view s;
          if (!element.get_string().get(s) && (s == "inf" || s == "-inf")) {
            x = s == "inf" ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
            e = simdjson::SUCCESS;
          }
        }
      } else {
        e = element.get_int64().get(x);
      }
      if (e) fail(e, where + "element " + std::to_string(out.size()) + ": ");
      out.push_back(x);
    }
  }

  static std::string where(std::string_view field) { return "field \"" + std::string(field) + "\": "; }

 private:
  const std::string& path_;
};

void read_tree(const reader& r, od::value v, std::size_t t, tree_arrays& a) {
  const std::string at = "tree " + std::to_string(t) + ": ";
  od::object o = r.get<od::object>(v.get_object(), at);
  a.clear();
  unsigned seen = 0;
  for (auto field : o) {
    const std::string_view key = r.get<std::string_view>(field.unescaped_key(), at);
    od::value value = r.get<od::value>(field.value(), at);
    const std::string here = at + "\"" + std::string(key) + "\": ";
    const auto once = [&](unsigned bit) {
      if (seen & bit) r.fail(at + "field \"" + std::string(key) + "\" appears twice");
      seen |= bit;
    };
    if (key == "output") {
      once(1);
      a.output = r.get<std::int64_t>(value.get_int64(), here);
    } else if (key == "left") {
      once(2);
      r.numbers(value, a.left, here);
    } else if (key == "right") {
      once(4);
      r.numbers(value, a.right, here);
    } else if (key == "feature") {
      once(8);
      r.numbers(value, a.feature, here);
    } else if (key == "threshold") {
      once(16);
      r.numbers(value, a.threshold, here, true);
    } else if (key == "missing_left") {
      once(32);
      r.numbers(value, a.missing, here);
    } else if (key == "values") {
      once(64);
      // The values move into the model; when "left" came first (the exporter's order) they are
      // allocated once, at their final size.
      a.values = {};
      // Never more than the text can hold (two characters a number), whatever the file claims.
      if (seen & 2)
        a.values.reserve(std::min(std::size_t(std::count(a.left.begin(), a.left.end(), -1)) * r.leaf_width,
                                  r.text_bytes / 2));
      r.numbers(value, a.values, here);
    } else {
      r.fail(at + "unknown field \"" + std::string(key) + "\"");
    }
  }
  static const char* names[] = {"output", "left", "right", "feature", "threshold", "missing_left", "values"};
  for (unsigned b = 0; b < 7; ++b)
    if (!(seen & (1u << b))) r.fail(at + "field \"" + names[b] + "\" is missing");
}

// The arrays of tree t as a tree_spec, every index checked against the header.
tree_spec build_tree(const reader& r, const forest_model& m, tree_arrays& a, std::size_t t,
                     std::uint64_t& total) {
  const std::string at = "tree " + std::to_string(t) + ": ";
  const std::size_t n = a.left.size();
  if (n == 0) r.fail(at + "no nodes");
  if (a.right.size() != n || a.feature.size() != n || a.threshold.size() != n || a.missing.size() != n)
    r.fail(at + "the node arrays differ in length (left " + std::to_string(n) + ", right " +
           std::to_string(a.right.size()) + ", feature " + std::to_string(a.feature.size()) + ", threshold " +
           std::to_string(a.threshold.size()) + ", missing_left " + std::to_string(a.missing.size()) + ")");
  total += n;
  if (total > max_nodes) r.fail(at + "more than " + std::to_string(max_nodes) + " nodes in all trees");
  if (a.output < 0 || std::uint64_t(a.output) + m.leaf_width > m.outputs)
    r.fail(at + "output " + std::to_string(a.output) + " is out of range (" + std::to_string(m.outputs) +
           " outputs, " + std::to_string(m.leaf_width) + " per leaf)");
  tree_spec s;
  s.output = std::uint32_t(a.output);
  s.nodes.resize(n);
  const auto nodes = std::int64_t(n);
  std::size_t leaves = 0;
  for (std::size_t i = 0; i < n; ++i) {
    node_spec& d = s.nodes[i];
    const std::int64_t l = a.left[i], rr = a.right[i];
    if (l == -1 && rr == -1) {
      d.leaf = true;
      d.value = leaves * m.leaf_width;
      ++leaves;
      continue;
    }
    const auto node = [&] { return "tree " + std::to_string(t) + ", node " + std::to_string(i) + ": "; };
    if (l < 0 || l >= nodes || rr < 0 || rr >= nodes)
      r.fail(node() + "children " + std::to_string(l) + ", " + std::to_string(rr) + " are out of range (" +
             std::to_string(n) + " nodes; a leaf has both -1)");
    if (a.feature[i] < 0 || std::uint64_t(a.feature[i]) >= m.features)
      r.fail(node() + "feature " + std::to_string(a.feature[i]) + " is out of range (" +
             std::to_string(m.features) + " features)");
    if (a.missing[i] != 0 && a.missing[i] != 1)
      r.fail(node() + "missing_left " + std::to_string(a.missing[i]) + " is not 0 or 1");
    d.left = l;
    d.right = rr;
    d.feature = std::uint32_t(a.feature[i]);
    d.threshold = a.threshold[i];
    d.default_left = a.missing[i] == 1;
  }
  if (a.values.size() != leaves * std::uint64_t(m.leaf_width))
    r.fail(at + std::to_string(a.values.size()) + " leaf values for " + std::to_string(leaves) + " leaves of " +
           std::to_string(m.leaf_width) + " (" + std::to_string(leaves * std::uint64_t(m.leaf_width)) + " expected)");
  for (const double v : a.values)
    if (!std::isfinite(v)) r.fail(at + "a leaf value is not finite");
  s.values = std::move(a.values);
  return s;
}

precision parse_precision(const reader& r, const std::string& s, std::string_view field) {
  if (s == "f32") return precision::f32;
  if (s == "f64") return precision::f64;
  r.fail(reader::where(field) + "\"" + s + "\" is not \"f32\" or \"f64\"");
}

std::uint32_t bounded(const reader& r, std::int64_t v, std::uint64_t lo, std::uint64_t hi, std::string_view field) {
  if (v < 0 || std::uint64_t(v) < lo || std::uint64_t(v) > hi)
    r.fail(reader::where(field) + std::to_string(v) + " is out of range (" + std::to_string(lo) + " to " +
           std::to_string(hi) + ")");
  return std::uint32_t(v);
}

// The header fields and which of them the format requires.
enum field_bit : std::uint32_t {
  f_format = 1u << 0, f_version = 1u << 1, f_features = 1u << 2, f_outputs = 1u << 3, f_width = 1u << 4,
  f_base = 1u << 5, f_divisor = 1u << 6, f_link = 1u << 7, f_classes = 1u << 8, f_columns = 1u << 9,
  f_trees = 1u << 10, f_input = 1u << 11, f_sum = 1u << 12, f_compare = 1u << 13, f_scale = 1u << 14,
  f_names = 1u << 15, f_producer = 1u << 16, f_objective = 1u << 17,
};
constexpr std::uint32_t required = f_format | f_version | f_features | f_outputs | f_width | f_base | f_divisor |
                                   f_link | f_classes | f_columns | f_trees | f_input | f_sum | f_compare;

void check_link(const reader& r, const forest_model& m) {
  const std::string n = std::to_string(m.outputs), c = std::to_string(m.proba_columns);
  switch (m.post) {
    case link::identity:
      if (m.proba_columns != m.outputs) r.fail("link \"identity\" with " + n + " outputs needs " + n + " proba_columns, not " + c);
      break;
    case link::sklearn_expit:
      if (m.outputs != 1 || m.proba_columns != 2)
        r.fail("link \"sklearn_expit\" needs 1 output and 2 proba_columns, not " + n + " and " + c);
      if (!std::isfinite(m.link_scale)) r.fail("link_scale is not finite");
      break;
    case link::sklearn_softmax:
    case link::sklearn_logsumexp:
      if (m.outputs < 2 || m.proba_columns != m.outputs)
        r.fail("a softmax link needs 2 or more outputs and as many proba_columns, not " + n + " and " + c);
      break;
    default: r.fail("unsupported link");
  }
  if (!m.classes.empty() && m.classes.size() != m.proba_columns)
    r.fail(std::to_string(m.classes.size()) + " classes for " + c + " proba_columns");
  if (m.classes.empty() && m.post != link::identity) r.fail("a classifier's link without classes");
}

// The header's checks, made when "trees" begins (the trees come last, so the header is complete).
void check_header(const reader& r, forest_model& m, std::uint32_t seen, std::int64_t features, std::int64_t outputs,
                  std::int64_t width, std::int64_t columns) {
  static const char* names[] = {"format", "format_version", "n_features", "n_outputs", "leaf_width", "base",
                                "divisor", "link", "classes", "proba_columns", "trees", "input", "sum", "comparison"};
  for (std::uint32_t bit = 1; bit <= f_compare; bit <<= 1)
    if ((required & bit) && bit != f_trees && !(seen & bit))
      r.fail(std::string("field \"") + names[std::countr_zero(bit)] + "\" is missing before \"trees\"");
  m.features = bounded(r, features, 1, max_features, "n_features");
  m.outputs = bounded(r, outputs, 1, max_outputs, "n_outputs");
  m.leaf_width = bounded(r, width, 1, m.outputs, "leaf_width");
  m.proba_columns = bounded(r, columns, 1, max_outputs, "proba_columns");
  if (m.base.size() != m.outputs)
    r.fail(std::to_string(m.base.size()) + " base values for " + std::to_string(m.outputs) + " outputs");
  if (!(m.divisor > 0) || !std::isfinite(m.divisor)) r.fail("the divisor is not a positive number");
  if (!m.feature_names.empty() && m.feature_names.size() != m.features)
    r.fail(std::to_string(m.feature_names.size()) + " feature names for " + std::to_string(m.features) + " features");
  if (m.input == precision::f64 && m.sum == precision::f32)
    r.fail("\"input\": \"f64\" with \"sum\": \"f32\" is not supported");
  check_link(r, m);
}

// numpy's sum of a contiguous float64 row (np.add.reduce along the last axis): pairwise, in
// blocks of at most 128 with eight accumulators, as numpy's pairwise_sum, so the bits match.
double numpy_sum(const double* a, std::size_t n) {
  if (n < 8) {
    double s = 0.;
    for (std::size_t i = 0; i < n; ++i) s += a[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    std::size_t i = 8;
    for (; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) s += a[i];
    return s;
  }
  std::size_t n2 = n / 2;
  n2 -= n2 % 8;
  return numpy_sum(a, n2) + numpy_sum(a + n2, n - n2);
}

}  // namespace

forest_model load_tandem_json(const std::string& text, const std::string& path) {
  reader r(path);
  r.text_bytes = text.size();
  // Parse in place when the text has simdjson's padding as spare capacity (load_model's text
  // does); otherwise a padded copy.
  simdjson::padded_string copy;
  simdjson::padded_string_view json(text.data(), text.size(), text.capacity());
  if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING) {
    copy = simdjson::padded_string(text);
    json = copy;
  }
  od::parser parser;
  od::document doc = r.get<od::document>(parser.iterate(json), "");
  od::object top = r.get<od::object>(doc.get_object(), "");

  forest_model m;
  m.path = path;
  std::string producer_text;
  std::uint32_t seen = 0;
  std::int64_t features = 0, outputs = 0, width = 0, columns = 0;
  for (auto field : top) {
    const std::string_view key = r.get<std::string_view>(field.unescaped_key(), "");
    if (seen & f_trees) r.fail("field \"" + std::string(key) + "\" after \"trees\" (the trees come last)");
    od::value v = r.get<od::value>(field.value(), reader::where(key));
    const auto once = [&](std::uint32_t bit) {
      if (seen & bit) r.fail(reader::where(key) + "appears twice");
      seen |= bit;
    };
    if (key == "format") {
      once(f_format);
      const std::string f = r.string(v, key);
      if (f != "tandem-forest") r.fail(reader::where(key) + "\"" + f + "\" is not \"tandem-forest\"");
    } else if (key == "format_version") {
      once(f_version);
      const std::int64_t version = r.integer(v, key);
      if (version != 1)
        r.fail("format_version " + std::to_string(version) + " is not supported (this Tandem reads version 1)");
    } else if (key == "producer") {
      once(f_producer);
      od::object p = r.get<od::object>(v.get_object(), reader::where(key));
      std::string library, version, estimator;
      for (auto pf : p) {
        const std::string_view k = r.get<std::string_view>(pf.unescaped_key(), reader::where(key));
        od::value pv = r.get<od::value>(pf.value(), reader::where(key));
        if (k == "library") library = r.string(pv, "producer.library");
        else if (k == "library_version") version = r.string(pv, "producer.library_version");
        else if (k == "estimator") estimator = r.string(pv, "producer.estimator");
        // other producer fields ("tool") are descriptive only
      }
      producer_text = library + (version.empty() ? "" : " " + version) + (estimator.empty() ? "" : ", " + estimator);
    } else if (key == "objective") {
      once(f_objective);
      m.objective = r.string(v, key);
    } else if (key == "n_features") {
      once(f_features);
      features = r.integer(v, key);
    } else if (key == "feature_names") {
      once(f_names);
      od::array a = r.get<od::array>(v.get_array(), reader::where(key));
      for (auto e : a) m.feature_names.emplace_back(r.get<std::string_view>(e.get_string(), reader::where(key)));
    } else if (key == "input") {
      once(f_input);
      m.input = parse_precision(r, r.string(v, key), key);
    } else if (key == "sum") {
      once(f_sum);
      m.sum = parse_precision(r, r.string(v, key), key);
    } else if (key == "comparison") {
      once(f_compare);
      const std::string c = r.string(v, key);
      if (c == "less_equal") m.compare = comparison::less_equal;
      else if (c == "less") m.compare = comparison::less;
      else r.fail(reader::where(key) + "\"" + c + "\" is not \"less_equal\" or \"less\"");
    } else if (key == "n_outputs") {
      once(f_outputs);
      outputs = r.integer(v, key);
    } else if (key == "leaf_width") {
      once(f_width);
      width = r.integer(v, key);
    } else if (key == "base") {
      once(f_base);
      r.numbers(v, m.base, reader::where(key));
    } else if (key == "divisor") {
      once(f_divisor);
      m.divisor = r.number(v, key);
    } else if (key == "link") {
      once(f_link);
      const std::string l = r.string(v, key);
      if (l == "identity") m.post = link::identity;
      else if (l == "sklearn_expit") m.post = link::sklearn_expit;
      else if (l == "sklearn_softmax") m.post = link::sklearn_softmax;
      else if (l == "sklearn_logsumexp") m.post = link::sklearn_logsumexp;
      else r.fail(reader::where(key) + "\"" + l + "\" is not a link this version reads");
    } else if (key == "link_scale") {
      once(f_scale);
      m.link_scale = r.number(v, key);
    } else if (key == "classes") {
      once(f_classes);
      r.numbers(v, m.classes, reader::where(key));
    } else if (key == "proba_columns") {
      once(f_columns);
      columns = r.integer(v, key);
    } else if (key == "trees") {
      // The header is complete: each tree is checked and built as soon as it is read.
      once(f_trees);
      check_header(r, m, seen, features, outputs, width, columns);
      r.leaf_width = m.leaf_width;
      od::array a = r.get<od::array>(v.get_array(), reader::where(key));
      tree_arrays scratch;
      std::uint64_t total = 0;
      for (auto t : a) {
        const std::size_t i = m.trees.size();
        read_tree(r, r.get<od::value>(std::move(t), "tree " + std::to_string(i) + ": "), i, scratch);
        m.trees.push_back(build_tree(r, m, scratch, i, total));
      }
      if (m.trees.empty()) r.fail("no trees");
    } else {
      r.fail("unknown field \"" + std::string(key) + "\"");
    }
  }
  // current_location() is an error (OUT_OF_BOUNDS) only once the whole text is consumed.
  if (!doc.current_location().error()) r.fail("text after the JSON document");
  if (!(seen & f_trees)) r.fail("field \"trees\" is missing");
  m.format = "Tandem forest JSON 1" + (producer_text.empty() ? std::string() : " (" + producer_text + ")");
  return m;
}

void sklearn_proba(const forest_model& m, const double* margins, double* proba) {
  const std::uint32_t k = m.outputs;
  switch (m.post) {
    case link::sklearn_expit: {
      // scipy.special.expit is 1 / (1 + exp(-x)) in double with libm's exp; scikit-learn takes
      // [1 - p, p] (both the old _gb_losses and the new _loss modules). link_scale is 2 for the
      // exponential loss (expit(2 * raw)), 1 otherwise (1 * m is m).
      const double p = 1.0 / (1.0 + std::exp(-(m.link_scale * margins[0])));
      proba[0] = 1.0 - p;
      proba[1] = p;
      return;
    }
    case link::sklearn_softmax: {
      // sklearn.utils.extmath.softmax (scikit-learn >= 1.4): subtract the row's max, exp, divide
      // by numpy's sum of the row. numpy's exp may be its own SIMD code (AVX512F), which differs
      // from libm's in the last bits: see docs/forest-format.md for the bound.
      double top = margins[0];
      for (std::uint32_t i = 1; i < k; ++i) top = std::max(top, margins[i]);
      for (std::uint32_t i = 0; i < k; ++i) proba[i] = std::exp(margins[i] - top);
      const double s = numpy_sum(proba, k);
      for (std::uint32_t i = 0; i < k; ++i) proba[i] /= s;
      return;
    }
    case link::sklearn_logsumexp: {
      // scikit-learn < 1.4: nan_to_num(exp(m - logsumexp(m))), scipy's logsumexp being
      // log(sum(exp(m - max))) + max (max replaced by 0 when not finite).
      double top = margins[0];
      for (std::uint32_t i = 1; i < k; ++i) top = std::max(top, margins[i]);
      if (!std::isfinite(top)) top = 0;
      for (std::uint32_t i = 0; i < k; ++i) proba[i] = std::exp(margins[i] - top);
      const double lse = std::log(numpy_sum(proba, k)) + top;
      for (std::uint32_t i = 0; i < k; ++i) {
        const double p = std::exp(margins[i] - lse);
        proba[i] = std::isnan(p) ? 0.0 : std::isinf(p) ? std::numeric_limits<double>::max() : p;
      }
      return;
    }
    default:
      for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = margins[i];
  }
}

}  // namespace tandem::forest
