#include <cmath>

#include "tandem/workloads/sobol.hpp"

namespace tandem {

brownian_bridge make_brownian_bridge(std::uint32_t steps) {
  brownian_bridge b;
  const std::uint32_t n = steps;
  b.bridge_index.assign(n, 0);
  b.left_index.assign(n, 0);
  b.right_index.assign(n, 0);
  b.left_weight.assign(n, 0.0);
  b.right_weight.assign(n, 0.0);
  b.std_dev.assign(n, 0.0);
  if (n == 0) return b;
  // t[i] = i + 1. filled[i] marks W(t[i]) as placed; W(0) = 0 is the implicit left end.
  std::vector<std::uint32_t> filled(n, 0);
  filled[n - 1] = 1;
  b.bridge_index[0] = n - 1;
  b.std_dev[0] = std::sqrt(static_cast<double>(n));
  std::uint32_t j = 0;
  for (std::uint32_t i = 1; i < n; ++i) {
    while (filled[j]) ++j;        // first unfilled point: the gap starts at j
    std::uint32_t k = j;
    while (!filled[k]) ++k;       // first filled point after it: the gap ends at k
    const std::uint32_t l = j + ((k - 1 - j) >> 1);  // its midpoint
    filled[l] = 1;
    b.bridge_index[i] = l;
    b.left_index[i] = j;
    b.right_index[i] = k;
    const double tl = static_cast<double>(l) + 1.0;
    const double tk = static_cast<double>(k) + 1.0;
    const double tj = static_cast<double>(j);  // t[j - 1], or 0 when j == 0
    b.left_weight[i] = (tk - tl) / (tk - tj);
    b.right_weight[i] = (tl - tj) / (tk - tj);
    b.std_dev[i] = std::sqrt((tl - tj) * (tk - tl) / (tk - tj));
    j = k + 1;
    if (j >= n) j = 0;
  }
  return b;
}

kernels::mc_qmc_tables qmc_tables::view() const {
  return {directions.data(),         bridge.bridge_index.data(), bridge.left_index.data(), bridge.right_index.data(),
          bridge.left_weight.data(), bridge.right_weight.data(), bridge.std_dev.data()};
}

qmc_tables make_qmc_tables(std::uint32_t steps) { return {sobol_directions(steps), make_brownian_bridge(steps)}; }

}  // namespace tandem
