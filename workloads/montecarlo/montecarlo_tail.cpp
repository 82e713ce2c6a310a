#include "montecarlo_tail.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "tandem/ranks.hpp"
#include "tandem/workloads/exact_reduce.hpp"

namespace tandem {

namespace {
bool key_less(double a, double b) { return tail_key(a) < tail_key(b); }

// a += n * x exactly: x's significand at its position plus each set bit of n (at most 64 terms).
void add_multiple(kernels::exact_accumulator& a, double x, std::uint64_t n) {
  const kernels::exact_parts p = kernels::exact_parts_of(x);
  switch (p.kind) {
    case kernels::exact_kind::zero: return;
    case kernels::exact_kind::nan: a.nan_count += n; return;
    case kernels::exact_kind::inf: (p.negative ? a.neg_inf_count : a.pos_inf_count) += n; return;
    case kernels::exact_kind::finite:
      for (int bit = 0; bit < 64; ++bit)
        if ((n >> bit) & 1u) a.add_shifted(p.m, p.pos + bit, p.negative);
      return;
  }
}
}  // namespace

double tail_value(std::uint64_t key) {
  const std::uint64_t b = (key >> 63) != 0 ? key & ~(std::uint64_t{1} << 63) : ~key;
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

void sort_tail_candidates(std::vector<double>& v) { std::sort(v.begin(), v.end(), key_less); }

std::uint64_t tail_count_at_most(std::span<const double> sorted, std::uint64_t key) {
  return static_cast<std::uint64_t>(
      std::upper_bound(sorted.begin(), sorted.end(), key, [](std::uint64_t k, double v) { return k < tail_key(v); }) -
      sorted.begin());
}

tail_part tail_part_below(std::span<const double> sorted, std::uint64_t key) {
  tail_part part;
  part.sum.clear();
  part.count = key == 0 ? 0 : tail_count_at_most(sorted, key - 1);
  exact_add(sorted.data(), static_cast<std::size_t>(part.count), part.sum, nullptr);
  return part;
}

void merge_tail_parts(tail_part& a, const tail_part& b) {
  a.sum.add(b.sum);
  a.count += b.count;
}

double tail_mean(tail_part all, double var, std::uint64_t k) {
  add_multiple(all.sum, var, k - all.count);
  return exact_sum<double>(all.sum) / static_cast<double>(k);
}

lower_tail lower_tail_over_ranks(std::vector<double>& mine, std::uint64_t k) {
  sort_tail_candidates(mine);
  if (ranks::sum(mine.size()) < k || k == 0) return {};
  const std::uint64_t lo = ranks::min(mine.empty() ? std::numeric_limits<std::uint64_t>::max() : tail_key(mine.front()));
  const std::uint64_t hi = ranks::max(mine.empty() ? 0 : tail_key(mine.back()));
  const std::uint64_t key =
      select_tail_key(lo, hi, k, [&](std::uint64_t t) { return ranks::sum(tail_count_at_most(mine, t)); });
  const std::vector<tail_part> parts = ranks::gather_values(tail_part_below(mine, key));
  if (!ranks::is_root()) return {};
  tail_part all = parts[0];
  for (std::size_t r = 1; r < parts.size(); ++r) merge_tail_parts(all, parts[r]);
  lower_tail t;
  t.found = true;
  t.var = tail_value(key);
  t.cvar = tail_mean(all, t.var, k);
  return t;
}

}  // namespace tandem
