// Sobol direction numbers and the Brownian bridge: the tables a quasi-Monte Carlo path reads
// (kernels/montecarlo.hpp, mc_qmc_tables). Built on the host, in the process that runs the chunk.
#pragma once

#include <cstdint>
#include <vector>

#include "tandem/kernels/montecarlo.hpp"

namespace tandem {

// Dimensions the built-in table covers (Joe and Kuo's new-joe-kuo-6.21201, first 1024).
inline constexpr std::uint32_t sobol_max_dims = kernels::mc_qmc_max_steps;

// 32 direction numbers per dimension for dimensions [0, dims), dimension d at d * 32: v[b] is the
// contribution of bit b of the point index, as a 32-bit binary fraction. Throws std::out_of_range
// when dims > sobol_max_dims.
std::vector<std::uint32_t> sobol_directions(std::uint32_t dims);

// The Brownian bridge on times 1, 2, ..., steps (Glasserman, Monte Carlo Methods in Financial
// Engineering, 3.1; the same construction order as QuantLib's BrownianBridge): entry 0 sets W(steps)
// from the first normal, each later entry fills the midpoint of the widest remaining gap.
// `program` is the same bridge as a depth-first program of `steps` operations (kernels::
// mc_bridge_op: compute each W into its level's slot, emit the W in time order), over `levels`
// slots; make_brownian_bridge throws std::length_error if the tree were deeper than
// kernels::mc_bridge_max_levels (it is 1 + ceil(log2 steps) levels).
struct brownian_bridge {
  std::vector<std::uint32_t> bridge_index, left_index, right_index;
  std::vector<double> left_weight, right_weight, std_dev;
  std::vector<kernels::mc_bridge_op> program;
  std::uint32_t levels = 0;
};
brownian_bridge make_brownian_bridge(std::uint32_t steps);

// Owns both, and the view a path reads.
struct qmc_tables {
  std::vector<std::uint32_t> directions;
  brownian_bridge bridge;
  kernels::mc_qmc_tables view() const;
};
qmc_tables make_qmc_tables(std::uint32_t steps);

}  // namespace tandem
