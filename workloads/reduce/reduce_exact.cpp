// --exact on any backend: each chunk's exact sums (exact_reduce.hpp), added in chunk order into
// one exact total (exact, so the order could be any), then rounded once to the data's precision.
// Under MPI each rank adds its own block's chunks into one total, and only that travels: rank 0
// adds the P totals (1.7 KiB each) and rounds.
// min and max need no rounding at all: the default mode's are already exact, so --exact shares
// them (and `all` reads the data a second time for them).
#include "reduce_exact.hpp"

#include <algorithm>
#include <limits>
#include <vector>

#include "reduce_fold.hpp"
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
  const void* data;  // element `first`
  std::uint64_t first;
  reduce_dtype dtype;
  bool squares;
};

struct exact_chunk_kernel {
  using params_type = exact_params;
  using partial_type = exact_moments;
  static partial_type run(const params_type& p, chunk_range r) {
    exact_moments m;
    m.clear();
    const std::uint64_t at = r.begin - p.first;
    if (p.dtype == reduce_dtype::f32) exact_add(static_cast<const float*>(p.data) + at, r.size(), m, p.squares);
    else exact_add(static_cast<const double*>(p.data) + at, r.size(), m, p.squares);
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

exact_moments exact_block(run_context& ctx, const reduce_input& in, bool squares, reduce_gpu* engine,
                          ranks::share groups) {
  check_holds(in, groups);
  const memory_region regions[] = {{in.data, in.held() * (in.dtype == reduce_dtype::f32 ? 4u : 8u), "the array"}};
  job<exact_chunk_kernel> j;
  j.plan = chunk_plan(in.n, reduce_chunk_elements);
  j.group_chunks = reduce_group_chunks;
  j.params = {in.data, in.first, in.dtype, squares};
  j.regions = regions;
  exact_moments total;
  total.clear();
  groups.last = std::min<std::size_t>(groups.last, j.groups());
  if (groups.first >= groups.last) return total;
  const std::size_t first = j.group(groups.first).first, last = j.group(groups.last - 1).last;
  exact_moments* partials = ctx.windows.get<exact_moments>(std::min(last - first, window_chunks));
  for (std::size_t c0 = first; c0 < last; c0 += window_chunks) {
    const chunk_span span{c0, std::min(last, c0 + window_chunks)};
    if (engine) engine->exact_partials(squares, span, partials);
    else run_span(ctx, j, span, partials);
    for (std::size_t c = span.first; c < span.last; ++c) total.add(partials[c - c0]);
    throw_if_interrupted();
  }
  return total;
}

reduce_values run_exact(run_context& ctx, const reduce_input& in, std::uint32_t pass, reduce_gpu* engine,
                        const reduce_values& minmax) {
  const bool squares = (pass & (kernels::pass_sumsq | kernels::pass_var)) != 0;
  exact_moments total = exact_block(ctx, in, squares, engine, ranks::my_share(reduce_groups(in.n)));
  if (ranks::distributed()) {
    // Rank 0 adds every rank's total; the others' values are never read (rank 0 reports).
    const std::vector<exact_moments> all = ranks::gather_values(total);
    if (ranks::is_root()) {
      total.clear();
      for (const exact_moments& m : all) total.add(m);
    }
  }
  reduce_values v = in.dtype == reduce_dtype::f32 ? finish<float>(total, pass) : finish<double>(total, pass);
  if (pass & kernels::pass_minmax) {
    v.min = minmax.min;
    v.max = minmax.max;
  }
  return v;
}

}  // namespace tandem::detail
