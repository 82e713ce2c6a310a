// reduce across MPI ranks, without mpirun: every rank of a simulated world of P = 1..4 ranks runs
// its block in this process, holding only its share of the array (between NaN guards, so a read
// outside it changes the answer), and the blocks, merged as rank 0 merges them, must give the
// whole run's bits: the default mode's group summaries, --exact's accumulators, count-matches'
// fragment monoid. The transport itself (fold_groups, gather) is exercised by the mpirun runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend_context.hpp"
#include "reduce_fold.hpp"
#include "reduce_gpu.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/count_matches.hpp"
#include "tandem/workloads/exact_reduce.hpp"
#include "tandem/workloads/reduce.hpp"
#include "temp_dir.hpp"

namespace {

using namespace tandem;
namespace tt = tandem::testing;

constexpr std::uint64_t chunk = reduce_chunk_elements;
constexpr std::uint64_t group = reduce_group_chunks * reduce_chunk_elements;  // elements per fold group

// Array sizes at the edges of chunks and groups; the last has 6 groups, so 4 ranks all hold some.
const std::uint64_t sizes[] = {0, 1, chunk - 1, group - 1, group + 1, 2 * group + chunk + 17, 5 * group + 3};

std::vector<double> data(std::uint64_t n) {
  std::mt19937_64 g(n + 11);
  std::normal_distribution<double> d(3.0, 2.0);
  std::vector<double> x(n);
  for (double& v : x) v = d(g);
  return x;
}

// Elements [part.first, part.last) of x in shared memory (procs reads it), between NaN guards.
struct rank_part {
  static constexpr std::size_t guard = 64;
  shared_buffer buf;
  reduce_input in;
  rank_part(const std::vector<double>& x, reduce_elements part)
      : buf((part.last - part.first + 2 * guard) * sizeof(double)) {
    double* p = static_cast<double*>(buf.data());
    for (std::size_t i = 0; i < guard; ++i) p[i] = p[guard + part.last - part.first + i] = std::nan("");
    std::memcpy(p + guard, x.data() + part.first, (part.last - part.first) * sizeof(double));
    in = {p + guard, x.size(), reduce_dtype::f64, part.first, part.last};
  }
};

TEST(reduce_share, tiles_the_array_in_rank_order_on_group_boundaries) {
  for (std::uint64_t n : sizes)
    for (int size = 1; size <= 5; ++size) {
      std::uint64_t next = 0;
      for (int r = 0; r < size; ++r) {
        const reduce_elements e = reduce_share(n, r, size);
        EXPECT_EQ(e.first, next) << "n " << n << " rank " << r << " of " << size;
        EXPECT_LE(e.first, e.last);
        EXPECT_TRUE(e.first == n || e.first % group == 0) << "n " << n << " rank " << r << " of " << size;
        EXPECT_TRUE(e.last == n || e.last % group == 0) << "n " << n << " rank " << r << " of " << size;
        next = e.last;
      }
      EXPECT_EQ(next, n) << "n " << n << " ranks " << size;
    }
  // Blocks of whole groups, the first n % P ranks one more (ranks::share_of).
  EXPECT_EQ(reduce_share(5 * group + 3, 0, 4).last, 2 * group);
  EXPECT_EQ(reduce_share(5 * group + 3, 1, 4).first, 2 * group);
  EXPECT_EQ(reduce_share(5 * group + 3, 1, 4).last, 4 * group);  // 6 groups: 2, 2, 1, 1
  EXPECT_EQ(reduce_share(5 * group + 3, 3, 4).last, 5 * group + 3);
}

bool same_bits(const kernels::reduce_summary& a, const kernels::reduce_summary& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// The default mode: each group's summary, computed by a rank holding only its share, equals the
// whole array's; every group is made by exactly one rank. `engine_batch`: for the gpu backend,
// 0 resident, else the streamed batch in elements.
void check_default(backend b, std::uint64_t engine_batch) {
  for (std::uint64_t n : sizes) {
    const std::vector<double> x = data(n);
    const std::uint64_t groups = detail::reduce_groups(n);
    for (std::uint32_t pass : {std::uint32_t{kernels::pass_sum}, std::uint32_t{kernels::pass_var},
                               std::uint32_t{kernels::pass_sum | kernels::pass_sumsq | kernels::pass_var | kernels::pass_minmax}}) {
      tt::backend_context seq(backend::seq, 1);
      std::vector<kernels::reduce_summary> want(groups);
      const rank_part whole(x, {0, n});
      detail::reduce_group_summaries(*seq, whole.in, pass, nullptr, {0, groups},
                                     [&](std::size_t g, const kernels::reduce_summary& s) { want[g] = s; });
      for (int size = 1; size <= 4; ++size) {
        std::vector<int> made(groups, 0);
        for (int r = 0; r < size; ++r) {
          const rank_part part(x, reduce_share(n, r, size));
          tt::backend_context ctx(b, 2);
          std::optional<detail::reduce_gpu> engine;
          if (b == backend::gpu) engine.emplace(*ctx->gpu, part.in, engine_batch == 0 ? 0 : 1, engine_batch);
          detail::reduce_group_summaries(*ctx, part.in, pass, engine ? &*engine : nullptr,
                                         ranks::share_of(groups, r, size),
                                         [&](std::size_t g, const kernels::reduce_summary& s) {
                                           ++made[g];
                                           EXPECT_TRUE(same_bits(s, want[g]))
                                               << "n " << n << " pass " << pass << " group " << g << " rank " << r << " of " << size;
                                         });
        }
        for (std::size_t g = 0; g < groups; ++g) EXPECT_EQ(made[g], 1) << "n " << n << " group " << g << " ranks " << size;
      }
    }
  }
}

// --exact: the ranks' accumulators, added, round to the whole run's values.
void check_exact(backend b, std::uint64_t engine_batch) {
  for (std::uint64_t n : sizes) {
    std::vector<double> x = data(n);
    if (n > 2 * chunk) x[chunk + 5] = 1e300, x[2 * chunk - 1] = -1e300;  // cancellation across chunks
    const rank_part whole(x, {0, n});
    tt::backend_context seq(backend::seq, 1);
    const reduce_result want = run_reduce(*seq, whole.in, reduce_op::all, true);
    for (int size = 1; size <= 4; ++size) {
      exact_moments total;
      total.clear();
      for (int r = 0; r < size; ++r) {
        const rank_part part(x, reduce_share(n, r, size));
        tt::backend_context ctx(b, 2);
        std::optional<detail::reduce_gpu> engine;
        if (b == backend::gpu) engine.emplace(*ctx->gpu, part.in, engine_batch == 0 ? 0 : 1, engine_batch);
        total.add(detail::exact_block(*ctx, part.in, true, engine ? &*engine : nullptr,
                                      ranks::share_of(detail::reduce_groups(n), r, size)));
      }
      EXPECT_EQ(total.n, n);
      const double sum = exact_sum<double>(total.sum), sumsq = exact_sumsq<double>(total.sumsq);
      const double var = exact_var<double>(total.sum, total.sumsq, total.n);
      if (n == 0) continue;  // no mean or variance to compare
      EXPECT_EQ(sum, want.v.sum) << "n " << n << " ranks " << size;
      EXPECT_EQ(sumsq, want.v.sumsq) << "n " << n << " ranks " << size;
      EXPECT_EQ(var, want.v.var) << "n " << n << " ranks " << size;
    }
  }
}

class reduce_ranks : public ::testing::TestWithParam<const char*> {};

TEST_P(reduce_ranks, default_mode_blocks_give_the_whole_runs_group_summaries) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  check_default(b, 0);
  if (b == backend::gpu) check_default(b, 3 * chunk);  // streamed: batches end inside a rank's block
}

TEST_P(reduce_ranks, exact_blocks_add_to_the_whole_runs_rounding) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  check_exact(b, 0);
  if (b == backend::gpu) check_exact(b, 3 * chunk);
}

TEST_P(reduce_ranks, count_matches_blocks_combine_to_the_whole_count) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  tt::temp_dir dir;
  std::mt19937_64 g(5);
  // Lines of 0 to 40 bytes over a small alphabet: matches cut by chunks and by rank blocks.
  std::string text;
  while (text.size() < 40000) {
    const std::size_t len = g() % 41;
    for (std::size_t i = 0; i < len; ++i) text.push_back("abE"[g() % 3]);
    text.push_back('\n');
  }
  for (const std::string& t : {text, text + "abEab", std::string("Eb"), std::string()}) {
    const std::string path = dir / "t";
    tt::write_file(path, t);
    count_matches_options o;
    o.path = path;
    o.pattern = "bE";
    o.chunk_bytes = 97;  // 64 chunks a group: 6,208 bytes, so 7 groups for 4 ranks
    tt::backend_context seq(backend::seq, 1);
    const count_matches_result want = run_count_matches(*seq, o);
    const mapped_file file(path);
    count_matches_params p =
        count_matches_params_of(reinterpret_cast<const unsigned char*>(file.data()), file.size(), o.pattern, o);
    job<count_matches_kernel> j = count_matches_job(p, o);
    const memory_region region = file.region("the input file");
    j.regions = {&region, 1};
    for (int size = 1; size <= 4; ++size) {
      count_matches_block total;
      for (int r = 0; r < size; ++r) {
        tt::backend_context ctx(b, 2);
        total = merge(total, count_matches_of_groups(*ctx, j, ranks::share_of(j.groups(), r, size)));
      }
      EXPECT_EQ(kernels::matching_lines(total.partial), want.count) << "bytes " << t.size() << " ranks " << size;
      EXPECT_EQ(total.partial.newlines + total.open_last_line, want.lines) << "bytes " << t.size() << " ranks " << size;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(every_backend, reduce_ranks, ::testing::ValuesIn(tt::every_backend),
                         [](const auto& p) { return std::string(p.param); });

// A rank's input that does not hold its block is refused, on the CPU and by the GPU engine.
TEST(reduce_ranks_misuse, reading_outside_the_held_elements_is_a_logic_error) {
  const std::vector<double> x = data(3 * group);
  const rank_part part(x, reduce_share(x.size(), 1, 3));
  tt::backend_context seq(backend::seq, 1);
  EXPECT_THROW(detail::reduce_group_summaries(*seq, part.in, kernels::pass_sum, nullptr, {0, 2},
                                              [](std::size_t, const kernels::reduce_summary&) {}),
               std::logic_error);
  EXPECT_THROW(detail::exact_block(*seq, part.in, false, nullptr, {2, 3}), std::logic_error);
  if (!backend_availability(backend::gpu).available) return;
  auto ctx = gpu::context::open();
  detail::reduce_gpu engine(*ctx, part.in, 0);
  std::vector<kernels::reduce_partial> out(reduce_group_chunks);
  EXPECT_THROW(engine.partials(kernels::pass_sum, {0, reduce_group_chunks}, out.data()), std::logic_error);
  engine.partials(kernels::pass_sum, {reduce_group_chunks, 2 * reduce_group_chunks}, out.data());
  EXPECT_EQ(out[0].n, chunk);
}

}  // namespace
