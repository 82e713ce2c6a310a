// Internal to the reduce workload: one rank's part of a run, factored out of run_reduce so that
// tests can run every rank's block of a simulated MPI world in one process and check that the
// blocks, merged as rank 0 merges them, give the whole run's bits.
#pragma once

#include <cstdint>
#include <functional>

#include "tandem/kernels/reduce.hpp"
#include "tandem/ranks.hpp"
#include "tandem/workload.hpp"
#include "tandem/workloads/exact_reduce.hpp"
#include "tandem/workloads/reduce.hpp"

namespace tandem::detail {

class reduce_gpu;

// The fold groups (reduce_group_chunks chunks each) of an n-element array.
inline std::uint64_t reduce_groups(std::uint64_t n) noexcept {
  const std::uint64_t chunks = (n + reduce_chunk_elements - 1) / reduce_chunk_elements;
  return (chunks + reduce_group_chunks - 1) / reduce_group_chunks;
}

// The default mode: the summaries of fold groups `groups` of pass `pass` over `in` (which must
// hold their elements; std::logic_error otherwise), each group's chunk partials folded in chunk
// order, handed to on_summary in group order. `engine`: the gpu backend's, null on the CPU.
void reduce_group_summaries(run_context& ctx, const reduce_input& in, std::uint32_t pass, reduce_gpu* engine,
                            ranks::share groups,
                            const std::function<void(std::size_t, const kernels::reduce_summary&)>& on_summary);

// --exact: the exact moments of every chunk of fold groups `groups` of `in`, added (in any order:
// they are exact). Rank 0 adds every rank's and rounds once.
exact_moments exact_block(run_context& ctx, const reduce_input& in, bool squares, reduce_gpu* engine,
                          ranks::share groups);

// Throws std::logic_error unless `in` holds every element of fold groups `groups`.
void check_holds(const reduce_input& in, ranks::share groups);

}  // namespace tandem::detail
