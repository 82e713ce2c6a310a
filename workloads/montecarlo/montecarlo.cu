// The Monte Carlo workload on the GPU, as Thrust algorithms over counting ranges: one thread per
// sample runs the per-path functions the CPU tests check (kernels/montecarlo.hpp); each chunk's
// statistics come from the 32-lane fold the CPU runs, one thread per lane (neighbouring lanes read
// neighbouring values), and a fixed tree over the lanes, so the bits are the CPU's; the VaR
// candidates are filtered on the device against the fold's current bound. Design:
// tandem/workloads/montecarlo_gpu.hpp and workloads/montecarlo/README.md.
//
// Built by nvcc it runs on the context's first stream; built as C++ in a TANDEM_GPU_EMULATION test
// build it runs on the host through Thrust's CPP system, so the CPU tests cover this file.
#include <thrust/copy.h>
#include <thrust/for_each.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "tandem/gpu/thrust.hpp"
#include "tandem/workloads/montecarlo.hpp"
#include "tandem/workloads/montecarlo_fold.hpp"
#include "tandem/workloads/montecarlo_gpu.hpp"
#include "tandem/workloads/sobol.hpp"

namespace tandem {

namespace {
using kernels::mc_fold_lanes;

// Where one window's per-path values go: paths in order, sample s of the window at s * per.
struct path_store {
  double* finals;
  double* payoffs;   // null without an option
  double* controls;  // null without the control variate
  TANDEM_HD void operator()(std::uint64_t path, const kernels::mc_path_result& r) const {
    finals[path] = r.final_price;
    if (payoffs) payoffs[path] = r.payoff;
    if (controls) controls[path] = r.control;
  }
};

// One functor per sampling scheme, so each launch compiles only the path code it runs.
struct pseudo_paths {
  kernels::mc_params p;
  std::uint64_t first_sample;
  path_store out;
  TANDEM_HD void operator()(std::uint64_t s) const { out(s, kernels::mc_pseudo_path(p, first_sample + s, false)); }
};

// An antithetic pair from one stream of normals; the partner steps with -z.
struct pseudo_pairs {
  kernels::mc_params p;
  std::uint64_t first_sample;
  path_store out;
  TANDEM_HD void operator()(std::uint64_t s) const {
    const kernels::mc_path_pair pair = kernels::mc_pseudo_pair(p, first_sample + s);
    out(2 * s, pair.path);
    out(2 * s + 1, pair.mirror);
  }
};

// The streamed bridge: O(log steps) doubles per thread, not the whole path.
struct sobol_paths {
  kernels::mc_params p;
  kernels::mc_qmc_tables tables;
  std::uint64_t first_sample;
  path_store out;
  TANDEM_HD void operator()(std::uint64_t s) const { out(s, kernels::mc_sobol_path(p, tables, first_sample + s)); }
};

// The chunks of one window: chunk c holds samples [c * chunk, min((c + 1) * chunk, samples)) of the
// window, its paths from c * chunk * per in the per-path arrays.
struct window_chunks {
  kernels::mc_params p;
  std::uint64_t samples;
  std::uint64_t chunk;
  const double* finals;
  const double* payoffs;
  const double* controls;
  kernels::mc_fold_lane* lanes;  // mc_fold_lanes per chunk
  kernels::mc_fold_means* means;
  TANDEM_HD std::uint64_t offset(std::uint64_t c) const { return c * chunk * (p.antithetic != 0 ? 2u : 1u); }
  TANDEM_HD kernels::mc_fold_shape shape(std::uint64_t c) const {
    const std::uint64_t first = c * chunk;
    return kernels::mc_fold_shape_of(p, samples - first < chunk ? samples - first : chunk, payoffs, controls);
  }
  TANDEM_HD const double* at(const double* v, std::uint64_t c) const { return v ? v + offset(c) : nullptr; }
};

// First pass: item k is lane k % 32 of chunk k / 32.
struct lane_sums {
  window_chunks w;
  TANDEM_HD void operator()(std::uint64_t k) const {
    const std::uint64_t c = k / mc_fold_lanes;
    w.lanes[k] = kernels::mc_fold_lane_sums(w.shape(c), w.at(w.finals, c), w.at(w.payoffs, c), w.at(w.controls, c),
                                            static_cast<std::uint32_t>(k % mc_fold_lanes));
  }
};

struct chunk_means {
  window_chunks w;
  TANDEM_HD void operator()(std::uint64_t c) const {
    w.means[c] = kernels::mc_fold_means_of(w.shape(c), kernels::mc_fold_combine(w.lanes + c * mc_fold_lanes));
  }
};

struct lane_squares {
  window_chunks w;
  TANDEM_HD void operator()(std::uint64_t k) const {
    const std::uint64_t c = k / mc_fold_lanes;
    w.lanes[k] = kernels::mc_fold_lane_squares(w.shape(c), w.at(w.finals, c), w.at(w.payoffs, c), w.at(w.controls, c),
                                               w.means[c], static_cast<std::uint32_t>(k % mc_fold_lanes));
  }
};

struct chunk_stats {
  window_chunks w;
  kernels::mc_chunk_stats* stats;
  TANDEM_HD void operator()(std::uint64_t c) const {
    stats[c] = kernels::mc_fold_stats(w.shape(c), w.means[c], kernels::mc_fold_combine(w.lanes + c * mc_fold_lanes));
  }
};

// The fold's candidate test (montecarlo_fold::add_finals): only a value below the rank-th smallest
// so far can change the rank smallest.
struct below {
  double bound;
  TANDEM_HD bool operator()(double v) const { return v < bound; }
};

template <class T>
gpu::device_array<T> upload(gpu::context& c, gpu::stream_t s, const std::vector<T>& host) {
  gpu::device_array<T> d(c, host.size(), s);
  c.copy(d.data(), host.data(), host.size() * sizeof(T), gpu::copy_kind::host_to_device, s);
  return d;
}
}  // namespace

struct montecarlo_gpu::state {
  gpu::context& ctx;
  gpu::stream_t stream;
  kernels::mc_params p;
  std::uint64_t chunk;         // samples per chunk
  std::uint64_t group_chunks;  // chunks per fold group
  std::uint64_t window;        // samples per window: whole groups
  std::uint32_t per;           // paths per sample

  // Sobol and bridge tables (empty for pseudo-random sampling) and their device view.
  gpu::device_array<std::uint32_t> directions, bridge_index, left_index, right_index;
  gpu::device_array<double> left_weight, right_weight, std_dev;
  gpu::device_array<kernels::mc_bridge_op> program;
  kernels::mc_qmc_tables tables{};

  // One window's per-path values, fold lanes and chunk statistics; what comes back.
  gpu::device_array<double> finals, payoffs, controls, candidates;
  gpu::device_array<kernels::mc_fold_lane> lanes;
  gpu::device_array<kernels::mc_fold_means> means;
  gpu::device_array<kernels::mc_chunk_stats> stats;
  gpu::pinned_array<kernels::mc_chunk_stats> host_stats;
  gpu::pinned_array<double> host_candidates;

  state(gpu::context& c, const kernels::mc_params& params, std::uint64_t window_samples)
      : ctx(c), stream(c.stream(0)), p(params), chunk(montecarlo_chunk_size(params)),
        group_chunks(montecarlo_group_chunks(params)), per(params.antithetic != 0 ? 2u : 1u) {
    const std::uint64_t group = chunk * group_chunks;
    window = std::max<std::uint64_t>(1, window_samples / group) * group;
    window = std::min(window, (p.samples + group - 1) / group * group);
    const std::uint64_t paths = window * per;
    const std::uint64_t chunks = window / chunk;
    const bool option = p.option != kernels::mc_option::none;

    if (p.sampling == kernels::mc_sampling::sobol) {
      const qmc_tables host = make_qmc_tables(p.steps);
      directions = upload(ctx, stream, host.directions);
      bridge_index = upload(ctx, stream, host.bridge.bridge_index);
      left_index = upload(ctx, stream, host.bridge.left_index);
      right_index = upload(ctx, stream, host.bridge.right_index);
      left_weight = upload(ctx, stream, host.bridge.left_weight);
      right_weight = upload(ctx, stream, host.bridge.right_weight);
      std_dev = upload(ctx, stream, host.bridge.std_dev);
      program = upload(ctx, stream, host.bridge.program);
      tables = {directions.data(),  bridge_index.data(),  left_index.data(), right_index.data(),
                left_weight.data(), right_weight.data(), std_dev.data(),    program.data()};
      ctx.synchronize(stream);  // `host` goes out of scope
    }
    finals = gpu::device_array<double>(ctx, paths, stream);
    if (option) payoffs = gpu::device_array<double>(ctx, paths, stream);
    if (option && p.control_variate != 0) controls = gpu::device_array<double>(ctx, paths, stream);
    candidates = gpu::device_array<double>(ctx, paths, stream);
    lanes = gpu::device_array<kernels::mc_fold_lane>(ctx, chunks * mc_fold_lanes, stream);
    means = gpu::device_array<kernels::mc_fold_means>(ctx, chunks, stream);
    stats = gpu::device_array<kernels::mc_chunk_stats>(ctx, chunks, stream);
    host_stats = gpu::pinned_array<kernels::mc_chunk_stats>(ctx, chunks);
    host_candidates = gpu::pinned_array<double>(ctx, paths);
  }

  // Samples [first, first + n) of the job: first and n are whole groups, or n runs to the job's end.
  void run_window(montecarlo_fold& fold, std::uint64_t first, std::uint64_t n, const group_callback& on_group) {
    const auto policy = gpu::policy(ctx, stream);
    const gpu::counting<std::uint64_t> k(0);
    const path_store out{finals.data(), payoffs.data(), controls.data()};
    if (p.sampling == kernels::mc_sampling::sobol)
      thrust::for_each(policy, k, k + n, sobol_paths{p, tables, first, out});
    else if (p.antithetic != 0)
      thrust::for_each(policy, k, k + n, pseudo_pairs{p, first, out});
    else
      thrust::for_each(policy, k, k + n, pseudo_paths{p, first, out});

    // The chunk fold, pass by pass over every chunk of the window.
    const std::uint64_t chunks = (n + chunk - 1) / chunk;
    const window_chunks w{p, n, chunk, finals.data(), payoffs.data(), controls.data(), lanes.data(), means.data()};
    thrust::for_each(policy, k, k + chunks * mc_fold_lanes, lane_sums{w});
    thrust::for_each(policy, k, k + chunks, chunk_means{w});
    thrust::for_each(policy, k, k + chunks * mc_fold_lanes, lane_squares{w});
    thrust::for_each(policy, k, k + chunks, chunk_stats{w, stats.data()});
    ctx.copy(host_stats.data(), stats.data(), chunks * sizeof(kernels::mc_chunk_stats), gpu::copy_kind::device_to_host,
             stream);

    // VaR candidates: every final price until the fold knows its bound, then those below it.
    const std::uint64_t paths = n * per;
    std::uint64_t count = paths;
    const double* from = finals.data();
    if (const std::optional<double> bound = fold.candidate_bound()) {
      count = static_cast<std::uint64_t>(
          thrust::copy_if(policy, finals.data(), finals.data() + paths, candidates.data(), below{*bound}) -
          candidates.data());
      from = candidates.data();
    }
    ctx.copy(host_candidates.data(), from, count * sizeof(double), gpu::copy_kind::device_to_host, stream);
    ctx.synchronize(stream);

    const std::uint64_t first_group = first / (chunk * group_chunks);
    for (std::uint64_t c = 0; c < chunks; c += group_chunks) {
      const std::uint64_t in_group = std::min(group_chunks, chunks - c);
      on_group(first_group + c / group_chunks, montecarlo_fold::group_summary(host_stats.data() + c, in_group));
    }
    fold.add_finals(host_candidates.data(), count);
  }
};

montecarlo_gpu::montecarlo_gpu(gpu::context& c, const kernels::mc_params& p, std::uint64_t window_samples)
    : s_(std::make_unique<state>(c, p, window_samples)) {}

montecarlo_gpu::~montecarlo_gpu() = default;

const kernels::mc_params& montecarlo_gpu::params() const noexcept { return s_->p; }

std::uint64_t montecarlo_gpu::window_samples() const noexcept { return s_->window; }

std::uint64_t montecarlo_gpu::group_samples() const noexcept { return s_->chunk * s_->group_chunks; }

std::uint64_t montecarlo_gpu::groups() const noexcept { return (s_->p.samples + group_samples() - 1) / group_samples(); }

void montecarlo_gpu::run(montecarlo_fold& fold, std::uint64_t first_group, std::uint64_t last_group,
                         const group_callback& on_group) {
  const std::uint64_t end = std::min(s_->p.samples, std::min(last_group, groups()) * group_samples());
  for (std::uint64_t first = first_group * group_samples(); first < end; first += s_->window)
    s_->run_window(fold, first, std::min(s_->window, end - first), on_group);
}

void montecarlo_gpu::run(montecarlo_fold& fold) {
  run(fold, 0, groups(), [&](std::uint64_t g, const kernels::mc_chunk_stats& s) {
    fold.add_group_summary(g * group_samples(), s);
  });
}

}  // namespace tandem
