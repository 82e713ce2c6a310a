// The forest workload: the chunk kernel (blocks of rows walked tree by tree), the library API,
// the synthetic forest, and the workload that streams an input through the job window by window.
#include "tandem/workloads/forest.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "forest_gpu.hpp"
#include "forest_io.hpp"
#include "forest_simd.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/ranks.hpp"
#include "tandem/shared_buffer.hpp"

namespace tandem {

const char* to_string(forest_output k) noexcept {
  switch (k) {
    case forest_output::margin: return "margin";
    case forest_output::proba: return "proba";
    case forest_output::label: return "class";
  }
  return "?";
}

namespace {

// What margins_to_proba reads of a model: the link and the sizes (a chunk makes one from params).
forest::forest_model link_model(const forest_params& p) {
  forest::forest_model m;
  m.post = p.post;
  m.link_scale = p.link_scale;
  m.outputs = p.outputs;
  m.proba_columns = p.proba_columns;
  return m;
}

// One row's outputs from its margins (as double), in the library's arithmetic: host code shared
// by every backend (the GPU returns margins).
void finish_row(const forest_params& p, const forest::forest_model& link, const double* margins, double* out,
                double* proba_scratch) {
  switch (p.kind) {
    case forest_output::margin: std::memcpy(out, margins, p.outputs * sizeof(double)); return;
    case forest_output::proba: forest::margins_to_proba(link, margins, out); return;
    case forest_output::label:
      forest::margins_to_proba(link, margins, proba_scratch);
      // One class (a classifier fitted on one class; LightGBM multiclassova with num_class=1): one
      // column, which is not P(class 1), and no class 1 to read.
      out[0] = p.classes[p.n_classes == 1 ? 0 : forest::predicted_class(link, proba_scratch)];
      return;
  }
}

template <class T>
struct input_scratch {
  std::vector<T> v;
};
// A block's rows as columns, for the vector walk.
template <class T>
struct column_scratch {
  std::vector<T> v;
};
template <class S>
struct margin_scratch {
  std::vector<S> v;
};
// One row's margins as double and its probabilities (distinct from margin_scratch<double>, the
// accumulators of double-sum models).
struct row_scratch {
  std::vector<double> v;
};

// Rows per block: every tree walks the block's rows before the next tree, so a model larger than
// the caches streams through them once per block. 256 rows (28 KiB of float inputs at 28
// features) halve that traffic against 64 (500 trees of depth 8, 2 MB of nodes: 1.25x the rows/s).
constexpr std::size_t max_block = 256;
// Rows per call of the level-by-level walk.
constexpr std::size_t walk_rows = 64;
constexpr std::size_t min_block_walk = 8;
static_assert(max_block <= forest_simd::max_rows, "the vector walk takes a whole block");

// The leaf each of n rows reaches in a tree without special splits, the rows stepped one level at a
// time together: each step is n independent loads, which the core overlaps, where a row walked
// alone waits on every node in turn (measured: ~3x the rows/s of walking rows one by one). A row
// at a leaf stays there; the loop runs the tree's depth.
template <class T, class S>
inline void walk_level_by_level(const kernels::forest_view<T, S>& v, const kernels::forest_tree& tree, const T* x,
                                std::size_t F, std::size_t n, std::uint32_t* out) {
  std::uint32_t idx[max_block];
  for (std::size_t r = 0; r < n; ++r) idx[r] = tree.root;
  for (std::uint32_t d = 0; d < tree.depth; ++d) {
    std::uint32_t at_leaves = 0;  // the walk ends early once every row is at a leaf
    for (std::size_t r = 0; r < n; ++r) {
      const kernels::forest_node<T> nd = v.nodes[idx[r]];
      const std::uint32_t f = nd.feature_flags;
      at_leaves += (f & kernels::forest_leaf) ? 1u : 0u;
      const T xv = x[r * F + (f & kernels::forest_feature_mask)];
      const bool nan = xv != xv;
      const bool left = nan ? (f & kernels::forest_default_left) != 0 : xv <= nd.threshold;
      const std::uint32_t next = nd.next + (left ? 0u : 1u);
      idx[r] = (f & kernels::forest_leaf) ? idx[r] : next;
    }
    if (at_leaves == n) break;
  }
  for (std::size_t r = 0; r < n; ++r) out[r] = v.nodes[idx[r]].next;
}

// Rows [r0, r1) of the window: blocks of rows walked tree by tree (each row still adds its trees
// in model order, so the bits do not depend on the block), then finished.
template <class T, class S>
void predict_rows(const forest_params& p, const kernels::forest_view<T, S>& v, std::uint64_t r0, std::uint64_t r1,
                  worker_context& w) {
  const std::uint32_t F = p.features, O = p.outputs;
  // A block's rows stay in L1/L2 (at most 32 KiB of inputs) while every tree walks them.
  const std::size_t block = std::clamp<std::size_t>((32768 / sizeof(T)) / std::max<std::uint32_t>(F, 1), 1, max_block);
  const bool convert = (p.input_f64 != 0) != std::is_same_v<T, double>;
  std::vector<T>& xs = w.local<input_scratch<T>>().v;
  std::vector<S>& acc = w.local<margin_scratch<S>>().v;
  std::vector<double>& md = w.local<row_scratch>().v;
  if (convert && xs.size() < block * F) xs.resize(block * F);
  if (acc.size() < block * O) acc.resize(block * O);
  // The vector walk (float inputs) and the bitvector form (float or double inputs), a vector level on.
  const bool simd = (std::is_same_v<T, float> || v.bv_trees) && p.simd &&
                    forest_simd::active() != forest_simd::level::scalar;
  std::vector<T>& xt = w.local<column_scratch<T>>().v;
  const std::size_t column_floats = std::size_t(F) << forest_simd::column_shift(block);
  if (simd && xt.size() < column_floats) xt.resize(column_floats);
  if (md.size() < 2 * std::size_t(O) + p.proba_columns) md.resize(2 * std::size_t(O) + p.proba_columns);
  const forest::forest_model link = link_model(p);
  std::uint32_t leaf[max_block];
  for (std::uint64_t b0 = r0; b0 < r1; b0 += block) {
    const std::size_t n = std::size_t(std::min<std::uint64_t>(block, r1 - b0));
    const std::size_t first = std::size_t(b0 - p.input_row0) * F;
    const T* x;
    if (!convert) {
      x = static_cast<const T*>(p.input) + first;
    } else {
      if (p.input_f64) {
        const double* src = static_cast<const double*>(p.input) + first;
        for (std::size_t i = 0; i < n * F; ++i) xs[i] = static_cast<T>(src[i]);
      } else {
        const float* src = static_cast<const float*>(p.input) + first;
        for (std::size_t i = 0; i < n * F; ++i) xs[i] = static_cast<T>(src[i]);
      }
      x = xs.data();
    }
    for (std::size_t r = 0; r < n; ++r)
      for (std::uint32_t o = 0; o < O; ++o) acc[r * O + o] = v.base[o];
    // The vector walk reads the block as columns, made once for every tree.
    const T* columns = nullptr;
    unsigned shift = 0;
    if (simd && n >= min_block_walk) {
      shift = forest_simd::column_shift(n);
      forest_simd::to_columns(x, F, n, shift, xt.data());
      columns = xt.data();
    }
    for (std::uint32_t t = 0; t < v.n_trees; ++t) {
      const kernels::forest_tree tree = v.trees[t];
      S* a = acc.data() + tree.output;
      // A few rows walk alone (a batch of 1: the vector walk's set-up would dominate, measured
      // 3.2 us scalar against 21.7 us for one row through 100 trees of depth 6).
      if (tree.special || n < min_block_walk) {
        for (std::size_t r = 0; r < n; ++r) leaf[r] = kernels::forest_leaf_of(v, tree.root, x + r * F);
      } else {
        bool done = false;
        // A tree with a bitvector form: every split once per vector, no gathers; else the walk.
        if (columns && v.bv_trees && v.bv_trees[t].leaves != 0)
          done = forest_simd::walk_bitvector(v.bv_trees[t], v.bv_splits, v.bv_leaves, columns, shift, F, n, leaf);
        if constexpr (std::is_same_v<T, float>) {
          if (!done && columns)
            done = forest_simd::walk(v.walk_nodes, v.n_nodes, v.walk_feature_bits, tree, columns, shift, F, n, leaf);
          if constexpr (std::is_same_v<S, float>) {
            if (done && v.walk_leaf_values) {
              // Both gave the leaves' values themselves: the same additions, row by row.
              if (O == 1)
                for (std::size_t r = 0; r < n; ++r) a[r] += std::bit_cast<float>(leaf[r]);
              else
                for (std::size_t r = 0; r < n; ++r) a[r * O] += std::bit_cast<float>(leaf[r]);
              continue;
            }
          }
        }
        if (!done)
          for (std::size_t w0 = 0; w0 < n; w0 += walk_rows)
            walk_level_by_level(v, tree, x + w0 * F, F, std::min(walk_rows, n - w0), leaf + w0);
      }
      if (v.leaf_width == 1) {
        // One margin per row: the rows' sums are contiguous, and gathers add the values.
        if (!(O == 1 && simd && forest_simd::add_leaf_values(v.values, leaf, n, a)))
          for (std::size_t r = 0; r < n; ++r) a[r * O] += v.values[leaf[r]];
      } else {
        for (std::size_t r = 0; r < n; ++r)
          for (std::uint32_t j = 0; j < v.leaf_width; ++j) a[r * O + j] += v.values[leaf[r] + j];
      }
    }
    for (std::size_t r = 0; r < n; ++r) {
      double* m = md.data();
      for (std::uint32_t o = 0; o < O; ++o) {
        S s = acc[r * O + o];
        if (v.divisor != S(1)) s /= v.divisor;
        m[o] = double(s);
      }
      finish_row(p, link, m, p.output + (b0 + r - p.output_row0) * p.columns, md.data() + O);
    }
  }
}

void predict_range(const forest_params& p, std::uint64_t r0, std::uint64_t r1, worker_context& w) {
  switch (p.which) {
    case 0: predict_rows(p, p.ff, r0, r1, w); break;
    case 1: predict_rows(p, p.fd, r0, r1, w); break;
    default: predict_rows(p, p.dd, r0, r1, w); break;
  }
}

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ull, fnv_prime = 0x100000001b3ull;

// One FNV step, then a rotation: a product carries a bit only upwards, so without it the hash's
// low bits never saw the values' high bits (two sign flips cancelled; outputs rounded from float,
// whose low 29 mantissa bits are 0, left the low 24 bits of every checksum alike).
inline std::uint64_t mix(std::uint64_t h, std::uint64_t v) noexcept { return std::rotl((h ^ v) * fnv_prime, 29); }

}  // namespace

forest_digest digest_outputs(const double* outputs, std::size_t n, std::uint32_t columns) noexcept {
  forest_digest d;
  d.rows = n;
  std::uint64_t h = fnv_offset;
  const std::uint32_t summed = std::min(columns, forest_digest::summed);
  for (std::size_t r = 0; r < n; ++r) {
    const double* row = outputs + r * columns;
    for (std::uint32_t c = 0; c < columns; ++c) h = mix(h, std::bit_cast<std::uint64_t>(row[c]));
    for (std::uint32_t c = 0; c < summed; ++c) d.sums[c] += row[c];
  }
  d.hash = h;
  return d;
}

void fold_digest(forest_digest& into, const forest_digest& next) noexcept {
  into.rows += next.rows;
  into.hash = mix(into.hash, next.hash) + 0x9e3779b97f4a7c15ull;
  for (std::uint32_t c = 0; c < forest_digest::summed; ++c) into.sums[c] += next.sums[c];
}

forest_digest empty_digest() noexcept {
  forest_digest d;
  d.hash = fnv_offset;
  return d;
}

bool forest_group_fold::add(std::uint64_t c, const forest_digest& d) noexcept {
  if (c % forest_group_chunks == 0) group_ = empty_digest();
  fold_digest(group_, d);
  return (c + 1) % forest_group_chunks == 0 || c + 1 == chunks_;
}

forest_row_share forest_rows_of(std::uint64_t rows, int rank, int size) noexcept {
  constexpr std::uint64_t group_rows = std::uint64_t{forest_chunk_rows} * forest_group_chunks;
  const std::uint64_t groups = (rows + group_rows - 1) / group_rows;
  const ranks::share s = ranks::share_of(std::size_t(groups), rank, size);
  return {std::min<std::uint64_t>(rows, s.first * group_rows), std::min<std::uint64_t>(rows, s.last * group_rows),
          s.first, groups};
}

forest_kernel::partial_type forest_kernel::run(const params_type& p, chunk_range rows, worker_context& w) {
  predict_range(p, rows.begin, rows.end, w);
  return digest_outputs(p.output + (rows.begin - p.output_row0) * p.columns, rows.size(), p.columns);
}

nlohmann::json result_json(const forest_result& r) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r.checksum));
  return {{"rows", r.rows},       {"columns", r.columns}, {"output", to_string(r.kind)},
          {"checksum", hex},      {"column_means", r.column_means}};
}

// ---------------------------------------------------------------------------------------------
// The library API.

struct forest_predictor::state {
  forest::forest_model model;
  forest::compiled_forest compiled;
  std::vector<double> classes;
  // For procs: the image and the classes in shared memory, made on first use.
  shared_buffer shared_image, shared_classes;
  std::unique_ptr<forest_gpu> gpu;
  gpu::context* gpu_for = nullptr;
};

forest_predictor::forest_predictor(forest::forest_model model) : s_(std::make_unique<state>()) {
  s_->compiled = forest::compile_forest(model);
  s_->classes = model.classes;
  s_->model = std::move(model);
}
forest_predictor::~forest_predictor() = default;
forest_predictor::forest_predictor(forest_predictor&&) noexcept = default;
forest_predictor& forest_predictor::operator=(forest_predictor&&) noexcept = default;

const forest::forest_model& forest_predictor::model() const noexcept { return s_->model; }
const forest::compiled_forest& forest_predictor::compiled() const noexcept { return s_->compiled; }

std::uint32_t forest_predictor::columns(forest_output kind) const {
  switch (kind) {
    case forest_output::margin: return s_->model.outputs;
    case forest_output::proba: return s_->model.proba_columns;
    case forest_output::label:
      if (s_->model.classes.empty())
        throw usage_error("model '" + s_->model.path + "' is a regressor: it has no classes (use --output-kind proba)");
      return 1;
  }
  return 1;
}

forest_params forest_predictor::params(const std::byte* image, forest_output kind, const double* classes) const {
  const forest::compiled_forest& c = s_->compiled;
  forest_params p;
  if (c.input() == forest::precision::f32 && c.sum() == forest::precision::f32) {
    p.which = 0;
    p.ff = c.view<float, float>(image);
  } else if (c.input() == forest::precision::f32) {
    p.which = 1;
    p.fd = c.view<float, double>(image);
  } else {
    p.which = 2;
    p.dd = c.view<double, double>(image);
  }
  // The vector walk's gathers take 32-bit offsets of 4-byte words: 12-byte nodes * 3 must fit.
  p.simd = c.nodes() < (std::uint64_t{1} << 31) / 3;
  p.kind = kind;
  p.post = s_->model.post;
  p.link_scale = s_->model.link_scale;
  p.features = c.features();
  p.outputs = c.outputs();
  p.proba_columns = s_->model.proba_columns;
  p.columns = columns(kind);
  p.n_classes = std::uint32_t(s_->model.classes.size());
  p.classes = classes;
  return p;
}

namespace {
template <class In>
void predict_here(const forest_predictor& fp, const In* rows, std::size_t n, forest_output kind, double* out,
                  const std::vector<double>& classes) {
  if (n == 0) return;
  forest_params p = fp.params(fp.compiled().image().data(), kind, classes.data());
  p.input = rows;
  p.input_f64 = std::is_same_v<In, double>;
  p.output = out;
  predict_range(p, 0, n, worker_context::current());
}

// Finishes GPU margins for rows [r0, r0 + k) of the output.
void finish_rows(const forest_params& p, std::size_t r0, std::size_t k, const double* margins, double* out) {
  const forest::forest_model link = link_model(p);
  std::vector<double> scratch(p.proba_columns);
  for (std::size_t r = 0; r < k; ++r)
    finish_row(p, link, margins + r * p.outputs, out + (r0 + r) * p.columns, scratch.data());
}
}  // namespace

void forest_predictor::predict(const float* rows, std::size_t n, forest_output kind, double* out) const {
  predict_here(*this, rows, n, kind, out, s_->classes);
}
void forest_predictor::predict(const double* rows, std::size_t n, forest_output kind, double* out) const {
  predict_here(*this, rows, n, kind, out, s_->classes);
}

forest_predictor::shared_model forest_predictor::in_shared_memory() const {
  if (s_->shared_image.empty()) {
    const auto img = s_->compiled.image();
    s_->shared_image = shared_buffer(img.size());
    std::memcpy(s_->shared_image.data(), img.data(), img.size());
    if (!s_->classes.empty()) {
      s_->shared_classes = shared_buffer(s_->classes.size() * sizeof(double));
      std::memcpy(s_->shared_classes.data(), s_->classes.data(), s_->classes.size() * sizeof(double));
    }
  }
  return {static_cast<const std::byte*>(s_->shared_image.data()), s_->shared_image.size(),
          static_cast<const double*>(s_->shared_classes.data()), s_->shared_classes.size()};
}

template <class In>
void forest_predictor::predict_on(run_context& ctx, const In* rows, std::size_t n, forest_output kind,
                                  double* out) const {
  if (n == 0) return;
  if (ctx.which == backend::gpu) {
    if (!ctx.gpu) throw std::logic_error("forest_predictor: the gpu backend needs a device context");
    if (!s_->gpu || s_->gpu_for != ctx.gpu) {
      s_->gpu.reset();
      s_->gpu = std::make_unique<forest_gpu>(*ctx.gpu, s_->compiled);
      s_->gpu_for = ctx.gpu;
    }
    const forest_params p = params(nullptr, kind, s_->classes.data());
    s_->gpu->run(rows, std::is_same_v<In, double>, n,
                 [&](std::size_t r0, std::size_t k, const double* m) { finish_rows(p, r0, k, m, out); });
    return;
  }
  const std::byte* image = s_->compiled.image().data();
  const double* classes = s_->classes.data();
  if (ctx.which == backend::procs) {  // workers read the model where they can see it
    const shared_model shared = in_shared_memory();
    image = shared.image;
    classes = shared.classes;
  }
  job<forest_kernel> j;
  j.plan = chunk_plan(n, forest_chunk_rows);
  j.params = params(image, kind, classes);
  j.params.input = rows;
  j.params.input_f64 = std::is_same_v<In, double>;
  j.params.output = out;
  const memory_region regions[] = {
      {image, s_->compiled.image().size(), "the model"},
      {classes, classes ? s_->classes.size() * sizeof(double) : 0, "the class labels"},
      {rows, n * s_->compiled.features() * sizeof(In), "the rows to predict"},
      {out, n * j.params.columns * sizeof(double), "the prediction array"}};
  j.regions = regions;
  std::vector<forest_digest> partials(j.plan.chunks());
  run_span(ctx, j, {0, j.plan.chunks()}, partials.data());
}

void forest_predictor::predict(run_context& ctx, const float* rows, std::size_t n, forest_output kind,
                               double* out) const {
  predict_on(ctx, rows, n, kind, out);
}
void forest_predictor::predict(run_context& ctx, const double* rows, std::size_t n, forest_output kind,
                               double* out) const {
  predict_on(ctx, rows, n, kind, out);
}

// ---------------------------------------------------------------------------------------------
// The synthetic forest.

namespace {
std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// Uniform in [-1, 1), a float (24 random bits).
float unit(std::uint64_t h) { return float(std::int64_t(h >> 40) - (std::int64_t{1} << 23)) / float(1 << 23); }
}  // namespace

void check_synthetic(const forest_synthetic& s) {
  if (s.trees < 1 || s.trees > 100000) throw usage_error("--synthetic: trees must be 1 to 100000");
  if (s.depth < 1 || s.depth > 20) throw usage_error("--synthetic: depth must be 1 to 20");
  if (s.features < 1 || s.features > 100000) throw usage_error("--synthetic: features must be 1 to 100000");
  if ((std::uint64_t(s.trees) << (s.depth + 1)) > (std::uint64_t{1} << 28))
    throw usage_error("--synthetic: trees * 2^(depth+1) must be at most 2^28 nodes");
}

forest::forest_model synthetic_forest(const forest_synthetic& s, std::uint64_t seed) {
  check_synthetic(s);
  forest::forest_model m;
  m.path = "synthetic";
  m.format = "synthetic (" + std::to_string(s.trees) + " trees, depth " + std::to_string(s.depth) + ", " +
             std::to_string(s.features) + " features)";
  m.objective = "binary:logistic";
  m.input = forest::precision::f32;
  m.sum = forest::precision::f32;
  m.compare = forest::comparison::less;
  m.features = s.features;
  m.outputs = 1;
  m.base = {0.0};
  m.post = forest::link::xgboost_sigmoid;
  m.classes = {0, 1};
  m.proba_columns = 1;
  m.trees.resize(s.trees);
  const std::uint64_t key = splitmix(seed ^ 0x666f72657374ull);  // "forest"
  for (std::uint32_t t = 0; t < s.trees; ++t) {
    forest::tree_spec& tree = m.trees[t];
    const std::size_t internal = (std::size_t{1} << s.depth) - 1;
    tree.nodes.resize(2 * internal + 1);
    for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
      const std::uint64_t h = splitmix(key ^ splitmix((std::uint64_t(t) << 32) | i));
      forest::node_spec& n = tree.nodes[i];
      if (i < internal) {
        n.feature = std::uint32_t(h % s.features);
        n.threshold = double(unit(splitmix(h)) * 0.9f);
        n.default_left = (h >> 20) & 1;
        n.left = std::int64_t(2 * i + 1);
        n.right = std::int64_t(2 * i + 2);
      } else {
        n.leaf = true;
        n.value = tree.values.size();
        tree.values.push_back(double(unit(splitmix(h)) * 0.1f));
      }
    }
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// The workload.

namespace {

template <class T>
void generate(T* out, std::uint64_t first, std::uint64_t rows, std::uint32_t features, std::uint64_t seed) {
  const std::uint64_t key = splitmix(seed ^ 0x726f7773ull);  // "rows"
  const std::uint64_t i0 = first * features;
  for (std::uint64_t i = 0; i < rows * features; ++i) {
    const std::uint64_t h = splitmix(key ^ (i0 + i));
    // One value in 64 is missing, so default directions are taken too.
    out[i] = (h & 63) == 0 ? std::numeric_limits<T>::quiet_NaN() : static_cast<T>(unit(h));
  }
}

}  // namespace

void forest_io::generate_rows(float* out, std::uint64_t first, std::uint64_t rows, std::uint32_t features,
                              std::uint64_t seed) {
  generate(out, first, rows, features, seed);
}
void forest_io::generate_rows(double* out, std::uint64_t first, std::uint64_t rows, std::uint32_t features,
                              std::uint64_t seed) {
  generate(out, first, rows, features, seed);
}

namespace {

// Another rank's predictions travel to rank 0 in messages of at most this size (the memory rank
// 0 sets aside for them; big enough that the per-message latency is small beside the bytes).
constexpr std::size_t spool_piece_bytes = std::size_t{8} << 20;

class forest_workload final : public workload_of<forest_result> {
 public:
  explicit forest_workload(const forest_options& o)
      : options_(o),
        predictor_(o.model.empty() ? synthetic_forest(o.synthetic, o.seed) : forest::load_model(o.model)) {
    const forest::forest_model& m = predictor_.model();
    columns_ = predictor_.columns(o.kind);
    input_f64_ = m.input == forest::precision::f64;
    if (!o.input.empty()) {
      const bool npy = o.input.size() >= 4 && o.input.compare(o.input.size() - 4, 4, ".npy") == 0;
      if (npy) {
        npy_ = mapped_file(o.input);
        const npy_array a = parse_npy_header(npy_.bytes(), o.input);
        if (a.dtype != npy_dtype::f32 && a.dtype != npy_dtype::f64)
          throw usage_error("input '" + o.input + "': dtype " + npy_descr(a.dtype) + " (float32 or float64 needed)");
        const std::uint64_t cols = a.shape.size() == 2 ? a.shape[1] : a.shape.size() == 1 && m.features == 1 ? 1 : 0;
        if (cols != m.features || a.shape.empty() || a.shape.size() > 2)
          throw usage_error("input '" + o.input + "' is not rows x " + std::to_string(m.features) +
                            " (the model's features)");
        rows_ = a.shape[0];
        npy_data_ = npy_.data() + a.data_offset;
        npy_f64_ = a.dtype == npy_dtype::f64;
      } else {
        csv_ = std::make_unique<forest_io::csv_input>(o.input, m.features, m.feature_names);
        rows_ = csv_->rows();
      }
    } else {
      if (o.rows > forest_max_generated_values / m.features)
        throw usage_error("--rows: generated rows x features must be at most 2^31 values (" +
                          std::to_string(forest_max_generated_values / m.features) + " rows for this model)");
      rows_ = o.rows;
    }
    // Under MPI: this rank's rows, whole fold groups (forest_rows_of).
    share_ = forest_rows_of(rows_, ranks::world().rank, ranks::world().size);
    if (!o.output.empty()) {
      ordered_file_sink::check_not_input(o.output, o.input, "--input");
      ordered_file_sink::check_not_input(o.output, o.model, "--model");
      const bool float_values = m.sum == forest::precision::f32 && o.kind != forest_output::label;
      // Rank 0 writes the file (temporary name, then rename); the others encode their rows into a
      // local spool and stream it to rank 0 after their share (send_outputs): no shared file
      // system is needed, and no rank holds more than a window of the others' rows.
      if (ranks::is_root())
        writer_ = std::make_unique<forest_io::prediction_writer>(o.output, o.kind, columns_, rows_, float_values);
      else if (share_.last > share_.first)
        spool_ = std::make_unique<forest_io::spool>();
      format_.emplace(o.output, o.kind, columns_, float_values);
    }
    // A window of outputs (and of parsed CSV rows) of at most ~32 MiB, in whole chunks.
    const std::size_t row_bytes = std::max<std::size_t>(columns_ * sizeof(double), csv_ ? m.features * (input_f64_ ? 8 : 4) : 0);
    window_chunks_ = std::clamp<std::size_t>((std::size_t{32} << 20) / (row_bytes * forest_chunk_rows), 1, 64);
  }

  std::string name() const override { return "forest"; }
  nlohmann::json params() const override {
    const forest::forest_model& m = predictor_.model();
    return {{"model", options_.model.empty() ? "synthetic" : options_.model},
            {"format", m.format},
            {"objective", m.objective},
            {"trees", predictor_.compiled().trees()},
            {"nodes", predictor_.compiled().nodes()},
            {"features", m.features},
            {"input", options_.input.empty() ? "generated" : options_.input},
            {"rows", rows_},
            {"output", to_string(options_.kind)}};
  }
  work_amount work() const override { return {double(rows_), "rows/s"}; }
  // Threads from two chunks of rows; the GPU from a few million rows, where its copies and launch
  // are a small part (docs/forest.md).
  auto_thresholds thresholds() const override { return {2.0 * forest_chunk_rows, 2e6}; }
  backend_status supports(backend b) const override {
    if (b == backend::gpu && !TANDEM_WITH_GPU_CODE) return backend_status::no("this build of Tandem has no GPU code");
    return backend_status::yes();
  }

  void prepare(run_context& ctx) override {
    const std::size_t window_rows = window_chunks_ * forest_chunk_rows;
    const std::uint32_t F = predictor_.model().features;
    const std::size_t value_size = input_f64_ ? sizeof(double) : sizeof(float);
    const std::uint64_t mine = share_.last - share_.first;
    if (options_.input.empty() && generated_.empty() && mine > 0) {  // this rank's rows only
      generated_ = shared_buffer(mine * F * value_size);
      if (input_f64_)
        forest_io::generate_rows(static_cast<double*>(generated_.data()), share_.first, mine, F, options_.seed);
      else forest_io::generate_rows(static_cast<float*>(generated_.data()), share_.first, mine, F, options_.seed);
    }
    if (csv_ && csv_rows_.empty()) csv_rows_ = shared_buffer(window_rows * F * value_size);
    if (outputs_.empty()) outputs_ = shared_buffer(std::max<std::size_t>(window_rows * columns_, 1) * sizeof(double));
    predictor_.in_shared_memory();  // the model where procs workers can read it, before they fork
    if (ctx.which == backend::gpu && ctx.gpu) gpu_ = std::make_unique<forest_gpu>(*ctx.gpu, predictor_.compiled());
  }

  void release(run_context&) override { gpu_.reset(); }

  // After every rank's share: rank 0 receives each other rank's group digests and then its
  // encoded predictions, rank by rank in rank order, folding and writing them as they come; so
  // the fold and the file are the ones a single rank makes. Predictions travel in pieces of at
  // most spool_piece_bytes, so rank 0 holds one piece of the others' rows at a time.
  void gather_on_root(forest_digest& total, const std::vector<forest_digest>& my_groups) {
    const int size = ranks::world().size;
    std::vector<char> piece;
    if (!ranks::is_root()) {
      ranks::send(0, my_groups.data(), my_groups.size() * sizeof(forest_digest));
      if (!format_) return;
      const std::uint64_t bytes = spool_ ? spool_->size() : 0;
      ranks::send(0, &bytes, sizeof bytes);
      piece.resize(std::size_t(std::min<std::uint64_t>(bytes, spool_piece_bytes)));
      for (std::uint64_t at = 0; at < bytes; at += piece.size()) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(piece.size(), bytes - at));
        spool_->read(at, piece.data(), n);
        ranks::send(0, piece.data(), n);
      }
      return;
    }
    std::vector<forest_digest> theirs;
    for (int r = 1; r < size; ++r) {
      const forest_row_share s = forest_rows_of(rows_, r, size);
      const ranks::share g = ranks::share_of(std::size_t(s.groups), r, size);
      theirs.resize(g.size());
      ranks::receive(r, theirs.data(), theirs.size() * sizeof(forest_digest));
      for (const forest_digest& d : theirs) fold_digest(total, d);
      if (!format_) continue;
      std::uint64_t bytes = 0;
      ranks::receive(r, &bytes, sizeof bytes);
      piece.resize(std::size_t(std::min<std::uint64_t>(bytes, spool_piece_bytes)));
      for (std::uint64_t at = 0; at < bytes; at += piece.size()) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(piece.size(), bytes - at));
        ranks::receive(r, piece.data(), n);
        writer_->write_encoded(piece.data(), n);
      }
    }
  }

  forest_result compute(run_context& ctx) override {
    const std::uint32_t F = predictor_.model().features;
    job<forest_kernel> j;
    j.plan = chunk_plan(rows_, forest_chunk_rows);
    const forest_predictor::shared_model model = predictor_.in_shared_memory();
    j.params = predictor_.params(model.image, options_.kind, model.classes);
    j.params.output = static_cast<double*>(outputs_.data());
    const std::size_t window_rows = window_chunks_ * forest_chunk_rows;
    memory_region regions[4] = {
        {model.image, model.image_bytes, "the model"},
        {model.classes, model.classes_bytes, "the class labels"},
        {outputs_.data(), outputs_.size(), "the prediction window"},
        {nullptr, 0, "the rows to predict"}};
    if (!generated_.empty()) {
      j.params.input = generated_.data();
      j.params.input_row0 = share_.first;
      j.params.input_f64 = input_f64_;
      regions[3] = {generated_.data(), generated_.size(), "the generated rows"};
    } else if (npy_data_) {
      j.params.input = npy_data_;
      j.params.input_f64 = npy_f64_;
      regions[3] = npy_.region("the input .npy file");
    } else if (csv_) {
      csv_->rewind(share_.first);  // each rank reaches its own rows (marks: no parse before them)
      j.params.input = csv_rows_.data();
      j.params.input_f64 = input_f64_;
      regions[3] = {csv_rows_.data(), csv_rows_.size(), "the parsed CSV rows"};
    }
    j.regions = regions;
    if (writer_) writer_->begin();
    struct abandon_on_error {
      forest_io::prediction_writer* w;
      ~abandon_on_error() {
        if (w) w->abandon();
      }
    } guard{writer_.get()};

    if (spool_) spool_->clear();
    std::string text;
    // Rank 0 folds group digests into the run's as they complete; the others keep theirs for it.
    forest_digest total = empty_digest();
    std::vector<forest_digest> my_groups;
    forest_group_fold fold(j.plan.chunks());
    forest_digest* partials = ctx.windows.get<forest_digest>(window_chunks_);
    for (std::uint64_t r0 = share_.first; r0 < share_.last; r0 += window_rows) {
      const std::uint64_t r1 = std::min<std::uint64_t>(share_.last, r0 + window_rows);
      const chunk_span span{std::size_t(r0 / forest_chunk_rows), std::size_t((r1 + forest_chunk_rows - 1) / forest_chunk_rows)};
      if (csv_) {
        if (input_f64_) csv_->read(r1 - r0, static_cast<double*>(csv_rows_.data()));
        else csv_->read(r1 - r0, static_cast<float*>(csv_rows_.data()));
        j.params.input_row0 = r0;
      }
      j.params.output_row0 = r0;
      if (ctx.which == backend::gpu) {
        if (!gpu_) throw std::logic_error("forest: the gpu backend was not prepared");
        const std::size_t value_size = j.params.input_f64 ? sizeof(double) : sizeof(float);
        const auto* in = static_cast<const std::byte*>(j.params.input) + (r0 - j.params.input_row0) * F * value_size;
        gpu_->run(in, j.params.input_f64 != 0, std::size_t(r1 - r0),
                  [&](std::size_t b0, std::size_t k, const double* m) { finish_rows(j.params, b0, k, m, j.params.output); });
        for (std::size_t c = span.first; c < span.last; ++c) {
          const chunk_range rr = j.plan.range(c);
          partials[c - span.first] = digest_outputs(j.params.output + (rr.begin - r0) * columns_, rr.size(), columns_);
        }
      } else {
        run_span(ctx, j, span, partials);
      }
      for (std::size_t c = span.first; c < span.last; ++c) {
        if (!fold.add(c, partials[c - span.first])) continue;
        if (ranks::is_root()) fold_digest(total, fold.group());
        else my_groups.push_back(fold.group());
      }
      if (writer_) writer_->write(j.params.output, r1 - r0);
      if (spool_) spool_->append(format_->encode(j.params.output, r1 - r0, text));
      throw_if_interrupted();
    }
    if (ranks::distributed()) gather_on_root(total, my_groups);
    if (writer_) {
      writer_->commit();
      guard.w = nullptr;
    }
    forest_result r;
    r.rows = rows_;
    r.columns = columns_;
    r.kind = options_.kind;
    r.checksum = total.hash;
    for (std::uint32_t c = 0; c < std::min(columns_, forest_digest::summed); ++c)
      r.column_means.push_back(rows_ ? total.sums[c] / double(rows_) : 0.0);
    return r;
  }

 private:
  forest_options options_;
  forest_predictor predictor_;
  std::uint32_t columns_ = 1;
  bool input_f64_ = false;
  std::uint64_t rows_ = 0;
  std::size_t window_chunks_ = 1;
  mapped_file npy_;
  const std::byte* npy_data_ = nullptr;
  bool npy_f64_ = false;
  std::unique_ptr<forest_io::csv_input> csv_;
  std::unique_ptr<forest_io::prediction_writer> writer_;  // rank 0
  std::optional<forest_io::prediction_format> format_;    // when --output is given
  std::unique_ptr<forest_io::spool> spool_;               // ranks other than 0, with --output and rows
  forest_row_share share_;
  shared_buffer generated_, csv_rows_, outputs_;
  std::unique_ptr<forest_gpu> gpu_;
};

}  // namespace

std::unique_ptr<workload> make_forest_workload(const forest_options& o) { return std::make_unique<forest_workload>(o); }

}  // namespace tandem
