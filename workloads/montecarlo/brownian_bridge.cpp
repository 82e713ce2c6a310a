#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "tandem/workloads/sobol.hpp"

namespace tandem {

namespace {
using kernels::mc_bridge_op;

// Writes the bridge's program (sobol.hpp, kernels::mc_bridge_op): the bisection tree in
// depth-first order. A gap of unfilled indices [j, k) lies between W(j - 1) (W(0) = 0 when j = 0)
// and W(k); the entry that fills it places its midpoint l at the gap's level, then the gaps
// [j, l) and [l + 1, k) one level deeper. Both neighbours of a gap are its ancestors, still in
// their slots. Each W is emitted after its left subtree, by the last operation before that point.
class bridge_program_writer {
 public:
  explicit bridge_program_writer(brownian_bridge& b)
      : b_(b), entry_of_(b.bridge_index.size()), level_of_(b.bridge_index.size()) {
    for (std::uint32_t i = 0; i < entry_of_.size(); ++i) entry_of_[b.bridge_index[i]] = i;
  }
  void write() {
    const auto n = static_cast<std::uint32_t>(entry_of_.size());
    b_.program.clear();
    b_.program.reserve(n);
    b_.levels = 1;
    compute(0, n - 1, 0, 0, 0, 0);  // the root: W(n) from the first normal
    gap(0, n - 1, 1);
    emit(0);
    if (b_.program.size() != n) throw std::logic_error("brownian bridge: the program does not place every W once");
  }

 private:
  void gap(std::uint32_t j, std::uint32_t k, std::uint32_t level) {
    if (j >= k) return;
    const std::uint32_t l = j + ((k - 1 - j) >> 1);
    const std::uint32_t e = entry_of_[l];
    // The tables were built by the same bisection; the program must place the same W.
    if (b_.left_index[e] != j || b_.right_index[e] != k)
      throw std::logic_error("brownian bridge: entry " + std::to_string(e) + " is not the midpoint of its gap");
    if (level >= kernels::mc_bridge_max_levels)
      throw std::length_error("brownian bridge: more than " + std::to_string(kernels::mc_bridge_max_levels) +
                              " levels (" + std::to_string(entry_of_.size()) + " steps)");
    if (level + 1 > b_.levels) b_.levels = level + 1;
    const int left = j != 0 ? kernels::mc_bridge_has_left : 0;
    compute(e, l, level, j != 0 ? level_of_[j - 1] : 0, level_of_[k],
            static_cast<std::uint8_t>(kernels::mc_bridge_has_right | left));
    gap(j, l, level + 1);
    emit(level);
    gap(l + 1, k, level + 1);
  }
  void compute(std::uint32_t e, std::uint32_t l, std::uint32_t level, std::uint32_t left, std::uint32_t right,
               std::uint8_t flags) {
    level_of_[l] = level;
    // Each level's entries come in increasing order: its shift cache holds one Philox block.
    if (level >= cached_block_.size()) cached_block_.resize(level + 1, std::numeric_limits<std::uint32_t>::max());
    if (cached_block_[level] != e >> 2) {
      cached_block_[level] = e >> 2;
      flags = static_cast<std::uint8_t>(flags | kernels::mc_bridge_refill);
    }
    mc_bridge_op o;
    o.entry = static_cast<std::uint16_t>(e);
    o.slot = static_cast<std::uint8_t>(level);
    o.left = static_cast<std::uint8_t>(left);
    o.right = static_cast<std::uint8_t>(right);
    o.flags = flags;
    b_.program.push_back(o);
  }
  // The next W in time order is in slot `level`: the last operation emits it.
  void emit(std::uint32_t level) {
    mc_bridge_op& o = b_.program.back();
    const std::uint32_t emits = kernels::mc_bridge_emits(o);
    if (emits == 2) throw std::logic_error("brownian bridge: more than two W become ready after one operation");
    o.emit[emits] = static_cast<std::uint8_t>(level);
    o.flags = static_cast<std::uint8_t>(o.flags + (1u << kernels::mc_bridge_emits_shift));
  }

  brownian_bridge& b_;
  std::vector<std::uint32_t> entry_of_;      // index l -> the entry that places W at l
  std::vector<std::uint32_t> level_of_;      // index l -> the level (slot) of W at l
  std::vector<std::uint32_t> cached_block_;  // level -> the Philox block its shift cache holds
};

void make_bridge_program(brownian_bridge& b) {
  if (b.bridge_index.empty()) return;
  bridge_program_writer(b).write();
}
}  // namespace

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
  make_bridge_program(b);
  return b;
}

kernels::mc_qmc_tables qmc_tables::view() const {
  return {directions.data(),         bridge.bridge_index.data(), bridge.left_index.data(), bridge.right_index.data(),
          bridge.left_weight.data(), bridge.right_weight.data(), bridge.std_dev.data(), bridge.program.data()};
}

qmc_tables make_qmc_tables(std::uint32_t steps) { return {sobol_directions(steps), make_brownian_bridge(steps)}; }

}  // namespace tandem
