// The execution model's promise: a chunk's result depends only on the job and the chunk, and
// partials combined in chunk order give bitwise the same answer on every backend and worker count.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/chunk_plan.hpp"
#include "tandem/errors.hpp"
#include "tandem/executor.hpp"
#include "tandem/executors.hpp"
#include "tandem/job.hpp"
#include "tandem/ranks.hpp"

namespace {

using namespace tandem;

TEST(chunk_plan, covers_the_index_space_exactly) {
  for (std::size_t items : {0u, 1u, 2u, 63u, 64u, 65u, 97u, 1000u}) {
    for (std::size_t chunk : {1u, 2u, 7u, 64u, 1000u, 5000u}) {
      const chunk_plan plan(items, chunk);
      std::size_t next = 0;
      for (std::size_t c = 0; c < plan.chunks(); ++c) {
        const chunk_range r = plan.range(c);
        ASSERT_EQ(r.begin, next);
        ASSERT_GT(r.size(), 0u);
        ASSERT_LE(r.size(), chunk);
        next = r.end;
      }
      EXPECT_EQ(next, items) << "items=" << items << " chunk=" << chunk;
    }
  }
}

TEST(chunk_plan, rejects_zero_chunk_size) { EXPECT_THROW(chunk_plan(10, 0), std::invalid_argument); }

// A floating-point sum whose value depends on the order of additions: exactly what would differ
// between backends if anything but the chunk decided the grouping.
struct float_sum_kernel {
  struct params_type {
    std::uint64_t salt;
  };
  using partial_type = double;
  static double value(std::uint64_t salt, std::size_t i) {
    std::uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ salt;
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return std::ldexp(static_cast<double>(x >> 11), -53) * std::pow(10.0, static_cast<double>(i % 17) - 8);
  }
  static double run(const params_type& p, chunk_range r) {
    double s = 0;
    for (std::size_t i = r.begin; i < r.end; ++i) s += value(p.salt, i);
    return s;
  }
};

double fold(const std::vector<double>& partials) {
  double s = 0;
  for (double p : partials) s += p;
  return s;
}

struct backend_case {
  std::string backend;
  unsigned workers;
};

void PrintTo(const backend_case& c, std::ostream* os) { *os << c.backend << " x" << c.workers; }

class determinism : public ::testing::TestWithParam<backend_case> {};

TEST_P(determinism, bitwise_equal_to_seq) {
  const auto& [name, workers] = GetParam();
  if (const auto st = backend_availability(name); !st.available) GTEST_SKIP() << name << " unavailable: " << st.reason;
  auto reference = make_executor("seq", 1);
  auto ex = make_executor(name, workers);
  for (std::size_t items : {0u, 1u, 255u, 256u, 257u, 10007u, 1u << 18}) {
    const chunk_plan plan(items, 256);
    const float_sum_kernel::params_type p{12345};
    const auto want = run_chunks<float_sum_kernel>(*reference, plan, p);
    const auto got = run_chunks<float_sum_kernel>(*ex, plan, p);
    ASSERT_EQ(got.size(), plan.chunks());
    for (std::size_t c = 0; c < got.size(); ++c)
      ASSERT_EQ(std::bit_cast<std::uint64_t>(got[c]), std::bit_cast<std::uint64_t>(want[c])) << "chunk " << c;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(fold(got)), std::bit_cast<std::uint64_t>(fold(want)));
  }
}

INSTANTIATE_TEST_SUITE_P(backends, determinism,
                         ::testing::Values(backend_case{"seq", 1}, backend_case{"threads", 1}, backend_case{"threads", 2},
                                           backend_case{"threads", 3}, backend_case{"threads", 8},
                                           backend_case{"threads", 64}, backend_case{"procs", 1},
                                           backend_case{"procs", 2}, backend_case{"procs", 8}),
                         [](const auto& p) { return p.param.backend + "_" + std::to_string(p.param.workers); });

// The sum above really does depend on grouping, so the test above could fail.
TEST(determinism, grouping_changes_the_float_sum) {
  const float_sum_kernel::params_type p{12345};
  const chunk_plan a(1u << 18, 256), b(1u << 18, 1000);
  seq_executor seq;
  EXPECT_NE(fold(run_chunks<float_sum_kernel>(seq, a, p)), fold(run_chunks<float_sum_kernel>(seq, b, p)));
}

// A 16 MiB partial: twice a thread's default stack. Executors build it where it belongs, never
// as a local (the kernel's own `return out;` is elided into that place too).
struct big_partial_kernel {
  struct params_type {
    std::uint64_t salt;
  };
  struct partial_type {
    std::uint64_t words[std::size_t{2} << 20];
  };
  static partial_type run(const params_type& p, chunk_range r) {
    partial_type out;
    for (std::size_t i = 0; i < std::size(out.words); ++i) out.words[i] = (p.salt + r.begin) * (i + 1);
    return out;
  }
};

class large_partials : public ::testing::TestWithParam<backend_case> {};

TEST_P(large_partials, a_16_mib_partial_is_built_off_the_stack) {
  const auto& [name, workers] = GetParam();
  if (const auto st = backend_availability(name); !st.available) GTEST_SKIP() << name << " unavailable: " << st.reason;
  // In a child process: on a stack overflow the child dies by SIGSEGV and this test fails, instead
  // of the whole test program. A fresh one (threadsafe: exec'd), which owns its own shared arena.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto ex = make_executor(name, workers);
        const chunk_plan plan(3, 1);
        const auto got = run_chunks<big_partial_kernel>(*ex, plan, {7});
        bool same = got.size() == 3;
        for (std::size_t c = 0; same && c < got.size(); ++c)
          for (std::size_t i = 0; same && i < std::size(got[c].words); i += 4099)
            same = got[c].words[i] == (7 + c) * (i + 1);
        std::exit(same ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

INSTANTIATE_TEST_SUITE_P(backends, large_partials,
                         ::testing::Values(backend_case{"seq", 1}, backend_case{"threads", 2},
                                           backend_case{"procs", 2}),
                         [](const auto& p) { return p.param.backend + "_" + std::to_string(p.param.workers); });

struct throwing_kernel {
  struct params_type {
    std::size_t bad_chunk;
  };
  using partial_type = int;
  static int run(const params_type& p, chunk_range r) {
    if (r.begin / 4 == p.bad_chunk) throw std::runtime_error("bad chunk");
    return 1;
  }
};

// MPI ranks own contiguous blocks of a job's groups, in rank order, covering every group once.
TEST(ranks, shares_partition_the_groups_in_rank_order) {
  for (int size = 1; size <= 7; ++size)
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{64}, std::size_t{1000003}}) {
      std::size_t next = 0, smallest = n, largest = 0;
      for (int r = 0; r < size; ++r) {
        const ranks::share s = ranks::share_of(n, r, size);
        ASSERT_EQ(s.first, next) << "n " << n << " rank " << r << " of " << size;
        ASSERT_LE(s.first, s.last);
        next = s.last;
        smallest = std::min(smallest, s.size());
        largest = std::max(largest, s.size());
      }
      EXPECT_EQ(next, n) << "n " << n << " size " << size;
      EXPECT_LE(largest - smallest, 1u) << "n " << n << " size " << size;
    }
}

// What fold_groups does across P ranks, simulated in one process: each "rank" runs its block of
// groups (run_groups over its share) and summarises them; rank 0 folds every summary in group
// order. The answer must be bitwise the one-process fold for every P, although the sum depends
// on its grouping (determinism.grouping_changes_the_float_sum).
TEST(ranks, blocks_of_groups_fold_to_the_same_bits_for_any_rank_count) {
  seq_executor seq;
  run_context ctx = cpu_context(seq);
  job<float_sum_kernel> j;
  j.plan = chunk_plan(1000003, 256);
  j.group_chunks = 7;
  j.params = {777};
  auto summarize = [](std::size_t, std::span<const double> p) {
    double s = 0;
    for (double x : p) s += x;
    return s;
  };
  double want = 0;
  std::size_t calls = 0;
  fold_groups(ctx, j, 3, summarize, [&](std::size_t g, double s) {
    EXPECT_EQ(g, calls++);
    want += s;
  });
  ASSERT_EQ(calls, j.groups());
  for (int size = 1; size <= 5; ++size) {
    std::vector<double> summaries;
    for (int r = 0; r < size; ++r) {
      const ranks::share s = ranks::share_of(j.groups(), r, size);
      run_groups(ctx, j, 3, [&](std::size_t, std::span<const double> p) { summaries.push_back(summarize(0, p)); },
                 {s.first, s.last});
    }
    ASSERT_EQ(summaries.size(), j.groups());
    double got = 0;
    for (double s : summaries) got += s;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(got), std::bit_cast<std::uint64_t>(want)) << size << " ranks";
  }
  // Summing each rank's block first (another tree) changes the bits: the fixed order matters.
  double per_rank = 0;
  for (int r = 0; r < 3; ++r) {
    const ranks::share s = ranks::share_of(j.groups(), r, 3);
    double block = 0;
    run_groups(ctx, j, 3, [&](std::size_t, std::span<const double> p) { block += summarize(0, p); }, {s.first, s.last});
    per_rank += block;
  }
  EXPECT_NE(std::bit_cast<std::uint64_t>(per_rank), std::bit_cast<std::uint64_t>(want));
}

TEST(executors, chunk_error_reaches_caller) {
  for (const char* name : {"seq", "threads"}) {
    auto ex = make_executor(name, 2);
    EXPECT_THROW(run_chunks<throwing_kernel>(*ex, chunk_plan(400, 4), {37}), std::runtime_error) << name;
    // And the executor still works afterwards.
    EXPECT_EQ(run_chunks<throwing_kernel>(*ex, chunk_plan(400, 4), {1000}).size(), 100u) << name;
  }
}

TEST(backends, parse_and_resolve) {
  EXPECT_EQ(parse_backend_list("seq,threads,gpu,auto"),
            (std::vector<backend_request>{{backend::seq}, {backend::threads}, {backend::gpu}, {}}));
  for (backend b : all_backends) EXPECT_EQ(parse_backend(to_string(b)), b);
  EXPECT_EQ(parse_backend("auto"), std::nullopt);
  EXPECT_THROW(parse_backend_list("seq,warp"), usage_error);
  EXPECT_THROW(parse_backend_list("seq,,threads"), usage_error);
  EXPECT_THROW(parse_backend_list(""), usage_error);
  EXPECT_THROW(parse_backend_list("seq,seq"), usage_error);
  EXPECT_THROW(make_executor("threads", 0), usage_error);
  EXPECT_THROW(make_executor("gpu", 1), usage_error);
}

TEST(backends, gpu_unavailability_is_explained) {
  const backend_status st = backend_availability("gpu");
  if (st.available) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(st.reason.rfind("no CUDA device: ", 0), 0u) << st.reason;
  EXPECT_GT(st.reason.size(), std::string("no CUDA device: ").size());
}

}  // namespace
