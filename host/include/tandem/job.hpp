// A job on the platform: a chunk plan, the fold's grouping, the parameters; and the driver that
// runs it on any backend window by window and hands the partials to the fold group by group.
//
// The fold is a fixed two-level tree: the chunks of a group are folded in chunk order into one
// group summary, and group summaries are folded in group order. The grouping belongs to the job
// (like the chunk size), so a rank or a window that pre-folds its groups gives bitwise what `seq`
// gives, and only group summaries, never every partial, need to travel (docs/execution-model.md).
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/executor.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/ranks.hpp"
#include "tandem/workload.hpp"

namespace tandem {

template <chunk_kernel Kernel>
struct job {
  using params_type = typename Kernel::params_type;
  using partial_type = typename Kernel::partial_type;

  chunk_plan plan;
  std::size_t group_chunks = 1;  // chunks per fold group; the last group may be short
  params_type params{};
  std::span<const memory_region> regions;  // what params point into (checked by procs)

  std::size_t groups() const noexcept {
    const std::size_t c = plan.chunks();
    return c / group_chunks + (c % group_chunks != 0 ? 1 : 0);
  }
  chunk_span group(std::size_t g) const noexcept {
    const std::size_t first = g * group_chunks;
    return {first, std::min(first + group_chunks, plan.chunks())};
  }
};

// A kernel with a GPU path: fills out[0 .. span.size()) with the same partials the CPU computes,
// in host memory, using the context's streams and pool:
//   static void run_gpu(gpu::context&, const params_type&, const chunk_plan&, chunk_span, partial_type* out);
template <class Kernel>
concept gpu_chunk_kernel = requires(gpu::context& c, const typename Kernel::params_type& p, const chunk_plan& plan,
                                    chunk_span s, typename Kernel::partial_type* out) {
  Kernel::run_gpu(c, p, plan, s, out);
};

namespace detail {
// The fault point `chunk_span` (docs/reliability.md): TANDEM_FAULT=chunk_span@N:fail makes the
// N-th run_span of the process throw as a failing chunk would.
void chunk_span_fault_point();
}  // namespace detail

// Runs chunks `span` of `j` on ctx's backend into out[0 .. span.size()).
template <chunk_kernel Kernel>
void run_span(run_context& ctx, const job<Kernel>& j, chunk_span span, typename Kernel::partial_type* out) {
  if (span.size() == 0) return;
  detail::chunk_span_fault_point();
  if (ctx.which == backend::gpu) {
    if constexpr (gpu_chunk_kernel<Kernel>) {
#if TANDEM_WITH_GPU_CODE
      if (!ctx.gpu) throw std::logic_error("run_span: the gpu backend needs a device context");
      Kernel::run_gpu(*ctx.gpu, j.params, j.plan, span, out);
      return;
#endif
    }
    throw unavailable_error("backend gpu unavailable: this workload has no GPU path in this build");
  }
  if (!ctx.cpu) throw std::logic_error("run_span: a CPU backend needs an executor");
  ctx.cpu->run(make_chunk_job<Kernel>(j.plan, j.params, j.regions), span, out);
}

// Runs the chunks of groups [groups.first, groups.last) of `j` (every group when not given), at
// most `window_groups` groups at a time (memory: one window of partials), and calls
// on_group(g, partials of group g in chunk order) for every group in order.
template <chunk_kernel Kernel, class OnGroup>
void run_groups(run_context& ctx, const job<Kernel>& j, std::size_t window_groups, OnGroup&& on_group,
                chunk_span groups = {0, std::size_t(-1)}) {
  using partial_type = typename Kernel::partial_type;
  if (j.group_chunks == 0) throw std::invalid_argument("job: group_chunks must be at least 1");
  window_groups = std::max<std::size_t>(window_groups, 1);
  groups.last = std::min(groups.last, j.groups());
  if (groups.first >= groups.last) return;
  partial_type* partials =
      ctx.windows.get<partial_type>(std::min(j.plan.chunks(), window_groups * j.group_chunks));
  for (std::size_t g0 = groups.first; g0 < groups.last; g0 += window_groups) {
    const std::size_t g1 = std::min(groups.last, g0 + window_groups);
    const chunk_span window{j.group(g0).first, j.group(g1 - 1).last};
    run_span(ctx, j, window, partials);
    for (std::size_t g = g0; g < g1; ++g) {
      const chunk_span s = j.group(g);
      on_group(g, std::span<const partial_type>(partials + (s.first - window.first), s.size()));
    }
    throw_if_interrupted();  // a signal recorded during the fold (docs/reliability.md)
  }
}

// The exchange under fold_groups, for any runner of groups (run_groups, or a GPU engine with its
// own windows). The job's `groups` are shared out in contiguous blocks (ranks::my_share); this
// rank calls run_block(first, last, emit), which must call emit(g, summary) for its groups in
// order, and rank 0 calls on_summary(g, summary) for every group of the job in group order: its
// own block as it runs, then each other rank's, received whole, in rank order. So rank 0 folds
// exactly the summaries, in exactly the order, `seq` folds, and only summaries travel
// (sizeof(Summary) per group). Other ranks never call on_summary: their part of the answer is on
// rank 0. With one rank: run_block(0, groups, on_summary).
template <class Summary, class RunBlock, class OnSummary>
void fold_rank_blocks(std::size_t groups, RunBlock&& run_block, OnSummary&& on_summary) {
  static_assert(std::is_trivially_copyable_v<Summary>, "a group summary travels between ranks as bytes");
  if (!ranks::distributed()) {
    run_block(std::size_t{0}, groups, [&](std::size_t g, const Summary& s) { on_summary(g, s); });
    return;
  }
  const ranks::share mine = ranks::my_share(groups);
  if (!ranks::is_root()) {
    std::vector<Summary> summaries;
    summaries.reserve(mine.size());
    run_block(mine.first, mine.last, [&](std::size_t, const Summary& s) { summaries.push_back(s); });
    ranks::send(0, summaries.data(), summaries.size() * sizeof(Summary));
    return;
  }
  run_block(mine.first, mine.last, [&](std::size_t g, const Summary& s) { on_summary(g, s); });
  std::vector<Summary> theirs;
  for (int r = 1; r < ranks::world().size; ++r) {
    const ranks::share s = ranks::share_of(groups, r, ranks::world().size);
    theirs.resize(s.size());
    ranks::receive(r, theirs.data(), s.size() * sizeof(Summary));
    for (std::size_t g = s.first; g < s.last; ++g) on_summary(g, theirs[g - s.first]);
  }
}

// The job's fold across MPI ranks: each rank runs its block of groups of `j` (run_groups over its
// share) and makes one summary per group, summarize(g, partials) -> Summary (trivially copyable);
// rank 0 calls on_summary(g, summary) for every group in group order (fold_rank_blocks). With one
// rank this is run_groups with on_group = on_summary(g, summarize(g, partials)).
template <chunk_kernel Kernel, class Summarize, class OnSummary>
void fold_groups(run_context& ctx, const job<Kernel>& j, std::size_t window_groups, Summarize&& summarize,
                 OnSummary&& on_summary) {
  using partial_type = typename Kernel::partial_type;
  using summary_type = std::invoke_result_t<Summarize&, std::size_t, std::span<const partial_type>>;
  fold_rank_blocks<summary_type>(
      j.groups(),
      [&](std::size_t first, std::size_t last, auto&& emit) {
        run_groups(ctx, j, window_groups, [&](std::size_t g, std::span<const partial_type> p) { emit(g, summarize(g, p)); },
                   {first, last});
      },
      on_summary);
}

}  // namespace tandem
