#include "tandem/workloads/reduce.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "reduce_cpu.hpp"
#include "reduce_exact.hpp"
#include "reduce_fold.hpp"
#include "reduce_gpu.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/job.hpp"
#include "tandem/machine.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/exact_reduce.hpp"

namespace tandem {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
// Chunk partials held at once: 256 groups (16,384 chunks, 2^29 elements; 1.5 MiB of partials).
constexpr std::size_t window_groups = 256;

std::size_t item_size(reduce_dtype t) noexcept { return t == reduce_dtype::f32 ? 4 : 8; }

struct reduce_params {
  const void* data;    // element `first`
  std::uint64_t first;
  reduce_dtype dtype;
  std::uint32_t pass;
  detail::reduce_gpu* engine;  // the gpu backend's (it holds or streams the data), else null
};

struct reduce_chunk_kernel {
  using params_type = reduce_params;
  using partial_type = kernels::reduce_partial;
  static partial_type run(const params_type& p, chunk_range r) {
    const std::uint64_t at = r.begin - p.first;
    if (p.dtype == reduce_dtype::f32)
      return detail::reduce_chunk(static_cast<const float*>(p.data) + at, r.size(), p.pass);
    return detail::reduce_chunk(static_cast<const double*>(p.data) + at, r.size(), p.pass);
  }
  static void run_gpu(gpu::context&, const params_type& p, const chunk_plan&, chunk_span span, partial_type* out) {
    p.engine->partials(p.pass, span, out);
  }
};

chunk_plan reduce_plan(std::uint64_t n) { return chunk_plan(n, reduce_chunk_elements); }

// x rounded to the data's precision.
double in_precision(double x, reduce_dtype t) { return t == reduce_dtype::f32 ? double(float(x)) : x; }

// hi + lo divided by n, rounded once more than the quotient needs.
double dd_div(kernels::dd a, double n) {
  if (!kernels::is_finite(a.hi)) return a.hi / n;
  const double q = a.hi / n;
  const double r = std::fma(-q, n, a.hi) + a.lo;
  return q + r / n;
}

reduce_values finish(const kernels::reduce_summary& s, std::uint32_t pass, reduce_dtype t) {
  reduce_values v{nan, nan, nan, nan, nan, nan, nan};
  const double n = double(s.n);
  if (pass & kernels::pass_sum) {
    v.sum = in_precision(kernels::dd_value(s.sum), t);
    v.mean = s.n ? in_precision(dd_div(s.sum, n), t) : nan;
  }
  if (pass & kernels::pass_sumsq) v.sumsq = in_precision(kernels::dd_value(s.sumsq), t);
  if (pass & kernels::pass_var) {
    if (!(pass & kernels::pass_sum)) v.mean = s.n ? in_precision(s.mean.hi + s.mean.lo, t) : nan;
    const double var = s.n ? std::max(kernels::dd_value(s.m2), 0.0) / n : nan;
    // A NaN mean (an inf among the data) makes the variance NaN, as in NumPy.
    const double v64 = std::isnan(s.mean.hi) ? nan : var;
    v.var = in_precision(v64, t);
    v.std = in_precision(std::sqrt(v64), t);
  }
  if (pass & kernels::pass_minmax) {
    v.min = s.n ? in_precision(s.mn, t) : nan;
    v.max = s.n ? in_precision(s.mx, t) : nan;
  }
  return v;
}

// A group's summary: its chunks' partials folded in chunk order.
kernels::reduce_summary summarize_group(std::span<const kernels::reduce_partial> partials) {
  kernels::reduce_summary group = kernels::summarize(partials[0]);
  for (std::size_t c = 1; c < partials.size(); ++c) kernels::merge(group, kernels::summarize(partials[c]));
  return group;
}

job<reduce_chunk_kernel> reduce_job(const reduce_input& in, std::uint32_t pass, detail::reduce_gpu* engine,
                                    std::span<const memory_region> regions) {
  job<reduce_chunk_kernel> j;
  j.plan = reduce_plan(in.n);
  j.group_chunks = reduce_group_chunks;
  j.params = {in.data, in.first, in.dtype, pass, engine};
  j.regions = regions;
  return j;
}

// The default mode: group summaries folded left to right in group order. Under MPI each rank
// runs its block of groups and rank 0 folds every rank's summaries in group order (fold_groups):
// the same tree, so the same bits, as one process.
kernels::reduce_summary fold_default(run_context& ctx, const reduce_input& in, std::uint32_t pass,
                                     detail::reduce_gpu* engine) {
  const memory_region regions[] = {{in.data, in.held() * item_size(in.dtype), "the array"}};
  const job<reduce_chunk_kernel> j = reduce_job(in, pass, engine, regions);
  detail::check_holds(in, ranks::my_share(j.groups()));
  kernels::reduce_summary total;
  fold_groups(
      ctx, j, window_groups, [](std::size_t, std::span<const kernels::reduce_partial> p) { return summarize_group(p); },
      [&](std::size_t, const kernels::reduce_summary& group) { kernels::merge(total, group); });
  return total;
}

reduce_result run_on(run_context& ctx, const reduce_input& in, reduce_op op, bool exact, detail::reduce_gpu* engine) {
  reduce_result r;
  r.op = op;
  r.dtype = in.dtype;
  r.exact = exact;
  r.n = in.n;
  std::optional<detail::reduce_gpu> own;
  if (ctx.which == backend::gpu && !engine) {
    if (!ctx.gpu) throw std::logic_error("run_reduce: the gpu backend needs a device context");
    engine = &own.emplace(*ctx.gpu, in, std::uint64_t{1});  // streamed: the data stays in host memory
  }
  auto compensated = [&](std::uint32_t pass) { return finish(fold_default(ctx, in, pass, engine), pass, in.dtype); };
  const std::uint32_t pass = reduce_passes(op);
  if (!exact) {
    r.v = compensated(pass);
    return r;
  }
  // min and max are exact in the default mode already.
  const reduce_values minmax = (pass & kernels::pass_minmax) ? compensated(kernels::pass_minmax) : reduce_values{};
  r.v = pass == kernels::pass_minmax ? minmax : detail::run_exact(ctx, in, pass, engine, minmax);
  return r;
}

// --- inputs --------------------------------------------------------------------------------------

// Fills x[0, last - first) with elements [first, last) of the seeded array, on every core (prepare
// is not timed, but 10^9 elements on one core would take seconds).
template <class T>
void generate(T* x, std::uint64_t first, std::uint64_t last, std::uint64_t seed, kernels::reduce_dist dist) {
  const std::uint64_t n = last - first;
  const unsigned threads = std::max(1u, std::min(std::thread::hardware_concurrency(), 64u));
  const std::uint64_t per = (n / threads + 1023) / 1024 * 1024;
  std::vector<std::jthread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    const std::uint64_t b = std::min(n, t * per), e = std::min(n, b + per);
    if (b >= e) break;
    pool.emplace_back([=] {
      for (std::uint64_t i = b; i < e; ++i) x[i] = T(kernels::generated_element(seed, dist, first + i));
    });
  }
}

bool is_npy(std::span<const std::byte> f) {
  return f.size() >= 6 && std::memcmp(f.data(), "\x93NUMPY", 6) == 0;
}

class reduce_workload final : public workload_of<reduce_result> {
 public:
  explicit reduce_workload(const reduce_options& o) : o_(o) {
    // A bad TANDEM_REDUCE_SIMD stops here, before any work, with one line.
    detail::reduce_simd_level();
    exact_simd_check_environment();
    if (o.input.empty()) {
      if (o.n > reduce_max_generated)
        throw usage_error("reduce: --n must be at most 2^34 = 17179869184 (got " + std::to_string(o.n) + ")");
      // Under MPI a rank generates and holds its share only.
      const ranks::world_info& w = ranks::world();
      const reduce_elements part = reduce_share(o.n, w.rank, w.size);
      // A generated array is held in memory: refuse one that would not fit, before touching it.
      // The ranks on this node share its memory: their shares (within one group of this one's)
      // together must fit.
      const double physical = double(physical_memory_bytes());
      const std::uint64_t held = part.last - part.first;
      const double bytes = double(held) * double(item_size(o.dtype)) * double(std::max(w.local_size, 1));
      if (physical > 0 && bytes > physical * 0.75)
        throw usage_error("reduce: a generated array of " + std::to_string(o.n) + " " + std::string(to_string(o.dtype)) +
                          " values needs " + std::to_string(std::uint64_t(bytes / 1e9)) + " GB" +
                          (w.size > 1 ? " on this node (" + std::to_string(w.local_size) + " of " +
                                            std::to_string(w.size) + " ranks, " + std::to_string(held) + " values each)"
                                      : std::string()) +
                          ", more than 3/4 of this machine's " + std::to_string(std::uint64_t(physical / 1e9)) +
                          " GB of memory; reduce a file with --input instead (it is read in chunks)");
      in_ = {nullptr, o.n, o.dtype, part.first, part.last};
      return;
    }
    file_ = mapped_file(o.input);
    if (is_npy(file_.bytes())) {
      const npy_array a = parse_npy_header(file_.bytes(), o.input);
      if (a.dtype != npy_dtype::f32 && a.dtype != npy_dtype::f64)
        throw usage_error("reduce: '" + o.input + "' holds " + npy_descr(a.dtype) +
                          " values; reduce reads float32 (<f4) or float64 (<f8)");
      const reduce_dtype held = a.dtype == npy_dtype::f32 ? reduce_dtype::f32 : reduce_dtype::f64;
      if (o.dtype_stated && o.dtype != held)
        throw usage_error("reduce: --dtype " + std::string(to_string(o.dtype)) + ", but '" + o.input + "' holds " +
                          npy_descr(a.dtype) + " values (a .npy names its own dtype: leave --dtype out)");
      in_ = {file_.data() + a.data_offset, a.items, held};
    } else {
      const std::size_t size = item_size(o.dtype);
      if (file_.size() % size != 0)
        throw usage_error("reduce: '" + o.input + "' has " + std::to_string(file_.size()) +
                          " bytes, not a whole number of " + std::string(to_string(o.dtype)) + " values (" +
                          std::to_string(size) + " bytes each); is --dtype right?");
      in_ = {file_.data(), file_.size() / size, o.dtype};
    }
    // The whole file stays mapped; a rank reads the pages of its share only (no copy, no rank 0).
    const reduce_elements part = reduce_share(in_.n, ranks::world().rank, ranks::world().size);
    in_.data = static_cast<const std::byte*>(in_.data) + part.first * item_size(in_.dtype);
    in_.first = part.first;
    in_.last = part.last;
    file_.advise_sequential();
  }

  std::string name() const override { return "reduce"; }
  nlohmann::json params() const override {
    nlohmann::json p = {{"op", to_string(o_.op)}, {"dtype", to_string(in_.dtype)}, {"n", in_.n}, {"exact", o_.exact}};
    if (o_.input.empty()) {
      p["seed"] = o_.seed;
      p["dist"] = o_.dist == kernels::reduce_dist::normal ? "normal" : "uniform";
    } else {
      p["input"] = o_.input;
    }
    return p;
  }
  work_amount work() const override {
    const double bytes = double(in_.n) * double(item_size(in_.dtype));
    return {bytes, "B/s", 0, false, bytes};
  }
  // Threads pay off from about 100 microseconds of reading (2 MB); the GPU, with the data on the
  // device, from about 64 MB (below, the launch and the partials' copy dominate).
  auto_thresholds thresholds() const override { return {2e6, 6.4e7}; }

  void prepare(run_context& ctx) override {
    if (o_.input.empty() && !generated_.data() && in_.held() > 0) {
      // Made before procs forks its workers, who inherit it (huge pages: docs/io.md).
      generated_ = inherited_buffer(in_.held() * item_size(in_.dtype));
      if (in_.dtype == reduce_dtype::f32)
        generate(static_cast<float*>(generated_.data()), in_.first, in_.held_last(), o_.seed, o_.dist);
      else generate(static_cast<double*>(generated_.data()), in_.first, in_.held_last(), o_.seed, o_.dist);
      in_.data = generated_.data();
    }
    if (ctx.which == backend::gpu && ctx.gpu) gpu_.emplace(*ctx.gpu, in_, o_.gpu_resident_limit);
  }
  void release(run_context&) override { gpu_.reset(); }

  reduce_result compute(run_context& ctx) override {
    return run_on(ctx, in_, o_.op, o_.exact, gpu_ ? &*gpu_ : nullptr);
  }

 private:
  reduce_options o_;
  mapped_file file_;
  inherited_buffer generated_;
  reduce_input in_;
  std::optional<detail::reduce_gpu> gpu_;
};

nlohmann::json number(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  return x;
}

}  // namespace

reduce_elements reduce_share(std::uint64_t n, int rank, int size) noexcept {
  const ranks::share g = ranks::share_of(detail::reduce_groups(n), rank, size);
  const std::uint64_t group_elements = reduce_group_chunks * reduce_chunk_elements;
  return {std::min(n, g.first * group_elements), std::min(n, g.last * group_elements)};
}

namespace detail {

void check_holds(const reduce_input& in, ranks::share groups) {
  if (groups.size() == 0) return;
  const std::uint64_t group_elements = reduce_group_chunks * reduce_chunk_elements;
  const std::uint64_t first = groups.first * group_elements, last = std::min(in.n, groups.last * group_elements);
  if (first < in.first || last > in.held_last())
    throw std::logic_error("run_reduce: the input holds elements [" + std::to_string(in.first) + ", " +
                           std::to_string(in.held_last()) + "), not [" + std::to_string(first) + ", " +
                           std::to_string(last) + ") that this rank reduces");
}

void reduce_group_summaries(run_context& ctx, const reduce_input& in, std::uint32_t pass, reduce_gpu* engine,
                            ranks::share groups,
                            const std::function<void(std::size_t, const kernels::reduce_summary&)>& on_summary) {
  check_holds(in, groups);
  const memory_region regions[] = {{in.data, in.held() * item_size(in.dtype), "the array"}};
  run_groups(
      ctx, reduce_job(in, pass, engine, regions), window_groups,
      [&](std::size_t g, std::span<const kernels::reduce_partial> p) { on_summary(g, summarize_group(p)); },
      {groups.first, groups.last});
}

}  // namespace detail

std::string_view to_string(reduce_op op) noexcept {
  switch (op) {
    case reduce_op::sum: return "sum";
    case reduce_op::mean: return "mean";
    case reduce_op::min: return "min";
    case reduce_op::max: return "max";
    case reduce_op::sumsq: return "sumsq";
    case reduce_op::var: return "var";
    case reduce_op::std: return "std";
    case reduce_op::all: return "all";
  }
  return "?";
}

std::string_view to_string(reduce_dtype t) noexcept { return t == reduce_dtype::f32 ? "f32" : "f64"; }

reduce_op parse_reduce_op(std::string_view s) {
  for (reduce_op op : {reduce_op::sum, reduce_op::mean, reduce_op::min, reduce_op::max, reduce_op::sumsq,
                       reduce_op::var, reduce_op::std, reduce_op::all})
    if (s == to_string(op)) return op;
  throw usage_error("reduce: unknown op '" + std::string(s) +
                    "' (sum, mean, min, max, sumsq, var, std, all or count-matches)");
}

reduce_dtype parse_reduce_dtype(std::string_view s) {
  if (s == "f32" || s == "float32") return reduce_dtype::f32;
  if (s == "f64" || s == "float64") return reduce_dtype::f64;
  throw usage_error("reduce: unknown dtype '" + std::string(s) + "' (f32 or f64)");
}

std::uint32_t reduce_passes(reduce_op op) noexcept {
  using namespace kernels;
  switch (op) {
    case reduce_op::sum:
    case reduce_op::mean: return pass_sum;
    case reduce_op::min:
    case reduce_op::max: return pass_minmax;
    case reduce_op::sumsq: return pass_sumsq;
    case reduce_op::var:
    case reduce_op::std: return pass_var;  // the mean they need is K + sum(x - K) / n
    case reduce_op::all: return pass_sum | pass_sumsq | pass_var | pass_minmax;
  }
  return pass_sum;
}

reduce_result run_reduce(run_context& ctx, const reduce_input& in, reduce_op op, bool exact) {
  return run_on(ctx, in, op, exact, nullptr);
}

reduce_result run_reduce(executor& ex, const reduce_input& in, reduce_op op, bool exact) {
  run_context ctx = cpu_context(ex);
  return run_on(ctx, in, op, exact, nullptr);
}

nlohmann::json result_json(const reduce_result& r) {
  nlohmann::json j = {{"n", r.n}, {"dtype", to_string(r.dtype)}, {"exact", r.exact}};
  const std::pair<reduce_op, double> values[] = {{reduce_op::sum, r.v.sum},     {reduce_op::mean, r.v.mean},
                                                 {reduce_op::min, r.v.min},     {reduce_op::max, r.v.max},
                                                 {reduce_op::sumsq, r.v.sumsq}, {reduce_op::var, r.v.var},
                                                 {reduce_op::std, r.v.std}};
  for (const auto& [op, x] : values) {
    if (r.op == reduce_op::all) j[std::string(to_string(op))] = number(x);
    else if (r.op == op) j["value"] = number(x);
  }
  return j;
}

std::unique_ptr<workload> make_reduce_workload(const reduce_options& o) {
  return std::make_unique<reduce_workload>(o);
}

}  // namespace tandem
