// Folds the Monte Carlo chunk partials, in chunk order, into the reported statistics; shared by
// the CPU backends and the GPU so that the last steps are the same code on every backend.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tandem/kernels/montecarlo.hpp"
#include "tandem/workloads/montecarlo.hpp"

namespace tandem {

// The VaR's order statistic: k = ceil(level * paths) computed in double, at least 1.
std::uint64_t var_rank(double level, std::uint64_t paths);

class montecarlo_fold {
 public:
  montecarlo_fold(const kernels::mc_params& p, double var_level);
  std::uint64_t var_rank() const noexcept { return rank_; }
  // Final prices, any order: keeps the var_rank() smallest.
  void add_finals(const double* values, std::size_t count);
  // Once known, the rank-th smallest final price so far: add_finals ignores values at or above it,
  // so a caller may drop them first (the GPU filters its candidates on the device).
  std::optional<double> candidate_bound() const {
    return have_threshold_ ? std::optional<double>(threshold_) : std::nullopt;
  }
  // The candidates kept so far (any order): the var_rank() smallest added values are among them.
  const std::vector<double>& candidates() const noexcept { return lowest_; }
  // A fold group's summary: its chunks' statistics merged in chunk order. Made where the group
  // ran (any rank, CPU or GPU), then added on rank 0 in group order (add_group_summary): the same
  // tree for every backend and rank count.
  static kernels::mc_chunk_stats group_summary(const kernels::mc_chunk_stats* chunks, std::size_t count);
  // Groups must arrive in group order; first_sample (the group's first) says which Sobol
  // replicate the group is in.
  void add_group_summary(std::uint64_t first_sample, const kernels::mc_chunk_stats& group);
  // Collective under MPI: every rank calls it with its own candidates (montecarlo_tail.hpp); the
  // result is complete on rank 0 (elsewhere only the VaR and CVaR are left out).
  montecarlo_result finish();

 private:
  void compact();
  kernels::mc_params p_;
  double level_;
  std::uint64_t rank_;
  std::vector<kernels::mc_chunk_stats> replicates_;  // one per Sobol replicate; one for pseudo-random
  std::vector<double> lowest_;                        // candidates for the rank_ smallest
  bool have_threshold_ = false;
  double threshold_ = 0;                              // the rank_-th smallest so far, once known
};

}  // namespace tandem
