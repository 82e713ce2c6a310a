// VaR and CVaR from lower-tail candidates spread over MPI ranks, with only scalars travelling.
//
// Each rank keeps the k smallest final prices of its own paths (montecarlo_fold::add_finals); the
// union of those sets holds k smallest of the whole job. The k-th smallest over every rank is found
// by bisection on the order key of doubles: every round sums one count over the ranks (at most 64
// rounds). CVaR is the correctly rounded sum of the k smallest, divided by k in double: the values
// below the k-th go into an exact accumulator per rank (order-independent, so it merges across
// ranks), and the ties at the k-th value are added as (k - below) times that value. One rank, or a
// split into any number of ranks, gives the same bits.
//
// The pieces are free functions over a rank's sorted candidates so that tests can simulate ranks;
// lower_tail() is the collective that ties them to ranks.hpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tandem/kernels/exact_sum.hpp"

namespace tandem {

// Order-preserving key: a < b as doubles (with -0 before +0) exactly when key(a) < key(b).
inline std::uint64_t tail_key(double x) {
  const std::uint64_t b = kernels::exact_bits_of(x);
  return (b >> 63) != 0 ? ~b : b | (std::uint64_t{1} << 63);
}
double tail_value(std::uint64_t key);

// Sorts a rank's candidates by key (ascending).
void sort_tail_candidates(std::vector<double>& v);
// How many of the sorted candidates have a key at most `key`.
std::uint64_t tail_count_at_most(std::span<const double> sorted, std::uint64_t key);

// The smallest key t in [lo, hi] with count_at_most(t) >= k, given count_at_most(hi) >= k; one
// count per round, at most 64 rounds. count_at_most must be the same function on every rank (the
// sum over ranks), so every rank takes the same branches.
template <class CountAtMost>
std::uint64_t select_tail_key(std::uint64_t lo, std::uint64_t hi, std::uint64_t k, CountAtMost&& count_at_most) {
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    if (count_at_most(mid) >= k)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

// One rank's part of the CVaR sum: its candidates strictly below the threshold key, summed exactly.
struct tail_part {
  kernels::exact_accumulator sum;
  std::uint64_t count;
};
tail_part tail_part_below(std::span<const double> sorted, std::uint64_t key);
// Adds b into a (exact, any order).
void merge_tail_parts(tail_part& a, const tail_part& b);
// CVaR from every rank's parts merged: the sum below the k-th value `var`, plus (k - count) ties
// at `var`, correctly rounded, then divided by k.
double tail_mean(tail_part all, double var, std::uint64_t k);

struct lower_tail {
  bool found = false;  // false only when fewer than k candidates exist over every rank
  double var = 0;
  double cvar = 0;
};
// Collective: every rank calls it with its own candidates (sorted here). Complete on rank 0;
// other ranks get found = false. Travels: 2 + at most 64 sums of 8 bytes, and one tail_part
// (sizeof 584 bytes) per rank gathered on rank 0.
lower_tail lower_tail_over_ranks(std::vector<double>& mine, std::uint64_t k);

}  // namespace tandem
