// GPU entry point of the Monte Carlo workload. Declared without CUDA types so host code compiles
// with g++; defined in kernels/cuda/montecarlo.cu, present only in builds with CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "tandem/kernels/montecarlo.hpp"

namespace tandem::kernels::gpu {

struct mc_gpu_output {
  std::vector<mc_chunk_stats> chunks;  // one per chunk, in chunk order
  std::vector<double> lowest;          // the `rank` smallest final prices, ascending
};

// Runs every path of `p` on the current device, one thread per sample (the per-path functions of
// montecarlo.hpp), folds each chunk of `chunk_samples` samples with mc_fold_chunk (one thread per
// chunk, the CPU's order), and sorts the final prices to return the `rank` smallest. `tables` are
// host pointers to the Sobol/bridge tables (unused for pseudo-random sampling). Throws
// tandem::gpu::error on any CUDA failure.
void montecarlo_run(const mc_params& p, std::uint64_t chunk_samples, std::uint64_t rank, const mc_qmc_tables& tables,
                    mc_gpu_output& out);

}  // namespace tandem::kernels::gpu
