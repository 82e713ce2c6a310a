// --exact on any backend: each chunk's exact sums (exact_reduce.hpp), added in chunk order into
// one exact total (exact, so the order could be any), then rounded once to the data's precision.
// min and max need no rounding at all: the default mode's are already exact, so --exact shares
// them (and `all` reads the data a second time for them).
#include "reduce_exact.hpp"

#include <algorithm>
#include <limits>

#include "reduce_gpu.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/job.hpp"
#include "tandem/workloads/exact_reduce.hpp"

namespace tandem::detail {

namespace {

// Exact partials are 1.7 KiB: 2048 chunks (2^26 elements, 3.5 MiB of partials) per window.
constexpr std::size_t window_chunks = 2048;

struct exact_params {
  const void* data;
  std::uint64_t n;
  reduce_dtype dtype;
  bool squares;
};

struct exact_chunk_kernel {
  using params_type = exact_params;
  using partial_type = exact_moments;
  static partial_type run(const params_type& p, chunk_range r) {
    exact_moments m;
    m.clear();
    if (p.dtype == reduce_dtype::f32) exact_add(static_cast<const float*>(p.data) + r.begin, r.size(), m, p.squares);
    else exact_add(static_cast<const double*>(p.data) + r.begin, r.size(), m, p.squares);
    return m;
  }
};

template <class T>
reduce_values finish(const exact_moments& m, std::uint32_t pass) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  reduce_values v{nan, nan, nan, nan, nan, nan, nan};
  if (pass & kernels::pass_sum) {
    v.sum = double(exact_sum<T>(m.sum));
    v.mean = double(exact_mean<T>(m.sum, m.n));
  }
  if (pass & kernels::pass_sumsq) v.sumsq = double(exact_sumsq<T>(m.sumsq));
  if (pass & kernels::pass_var) {
    v.mean = double(exact_mean<T>(m.sum, m.n));
    v.var = double(exact_var<T>(m.sum, m.sumsq, m.n));
    v.std = double(exact_std<T>(m.sum, m.sumsq, m.n));
  }
  return v;
}

}  // namespace

reduce_values run_exact(run_context& ctx, const reduce_input& in, std::uint32_t pass, reduce_gpu* engine,
                        const reduce_values& minmax) {
  const bool squares = (pass & (kernels::pass_sumsq | kernels::pass_var)) != 0;
  const memory_region regions[] = {{in.data, in.n * (in.dtype == reduce_dtype::f32 ? 4u : 8u), "the array"}};
  job<exact_chunk_kernel> j;
  j.plan = chunk_plan(in.n, reduce_chunk_elements);
  j.group_chunks = reduce_group_chunks;
  j.params = {in.data, in.n, in.dtype, squares};
  j.regions = regions;
  exact_moments total;
  total.clear();
  const std::size_t chunks = j.plan.chunks();
  exact_moments* partials = ctx.windows.get<exact_moments>(std::min(chunks, window_chunks));
  for (std::size_t c0 = 0; c0 < chunks; c0 += window_chunks) {
    const chunk_span span{c0, std::min(chunks, c0 + window_chunks)};
    if (engine) engine->exact_partials(squares, span, partials);
    else run_span(ctx, j, span, partials);
    for (std::size_t c = span.first; c < span.last; ++c) total.add(partials[c - c0]);
    throw_if_interrupted();
  }
  reduce_values v = in.dtype == reduce_dtype::f32 ? finish<float>(total, pass) : finish<double>(total, pass);
  if (pass & kernels::pass_minmax) {
    v.min = minmax.min;
    v.max = minmax.max;
  }
  return v;
}

}  // namespace tandem::detail
