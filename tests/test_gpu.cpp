// The GPU layer: discovery answers without throwing, the check macros name the call, the place and
// the error, the RAII owners fail cleanly without a device, and the device context (streams, pool,
// copies) works wherever the gpu backend is available: on a device, or on the host in a
// TANDEM_GPU_EMULATION build. Device tests skip, by name, when there is none (gpu_test.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/runner.hpp"
#include "tandem/workloads/tasks.hpp"

#if TANDEM_WITH_CUDA
#include "tandem/gpu/runtime.hpp"
#endif

namespace {

using namespace tandem;

TEST(gpu_discovery, is_consistent) {
  const gpu::discovery& d = gpu::discover();
  EXPECT_EQ(d.built, TANDEM_WITH_CUDA != 0);
  if (d.devices.empty()) {
    EXPECT_EQ(d.reason.rfind("no CUDA device: ", 0), 0u) << d.reason;
  } else if (TANDEM_WITH_GPU_EMULATION) {
    ASSERT_EQ(d.devices.size(), 1u);
    EXPECT_NE(d.devices[0].name.find("not a GPU"), std::string::npos) << d.devices[0].name;
  } else {
    for (const auto& dev : d.devices) {
      EXPECT_FALSE(dev.name.empty());
      EXPECT_GE(dev.cc_major, 7);
      EXPECT_GT(dev.multiprocessors, 0);
      EXPECT_GT(dev.total_memory, 0u);
    }
  }
  EXPECT_EQ(&gpu::discover(), &d) << "discovery is looked up once";
}

TEST(gpu_discovery, version_strings) {
  EXPECT_EQ(gpu::version_string(13000), "13.0");
  EXPECT_EQ(gpu::version_string(12040), "12.4");
  EXPECT_EQ(gpu::version_string(0), "unknown");
}

#if TANDEM_WITH_CUDA

TEST(gpu_check, cuda_error_names_call_place_and_error) {
  try {
    TANDEM_CUDA_CHECK(cudaErrorInvalidValue);
    FAIL() << "no exception";
  } catch (const gpu::error& e) {
    const std::string w = e.what();
    EXPECT_NE(w.find("cudaErrorInvalidValue"), std::string::npos) << w;
    EXPECT_NE(w.find("test_gpu.cpp:"), std::string::npos) << w;
    EXPECT_NE(w.find("cudaErrorInvalidValue failed at"), std::string::npos) << "the call is named: " << w;
  }
  EXPECT_NO_THROW(TANDEM_CUDA_CHECK(cudaSuccess));
}

TEST(gpu_check, cublas_and_curand_errors_are_named) {
  try {
    TANDEM_CUBLAS_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
    FAIL() << "no exception";
  } catch (const gpu::error& e) {
    EXPECT_NE(std::string(e.what()).find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << e.what();
  }
  try {
    TANDEM_CURAND_CHECK(CURAND_STATUS_LAUNCH_FAILURE);
    FAIL() << "no exception";
  } catch (const gpu::error& e) {
    EXPECT_NE(std::string(e.what()).find("CURAND_STATUS_LAUNCH_FAILURE"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(TANDEM_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
  EXPECT_NO_THROW(TANDEM_CURAND_CHECK(CURAND_STATUS_SUCCESS));
}

// A device hidden by TANDEM_DISABLE_GPU is still there: cudaMalloc would succeed.
bool gpu_hidden() {
  const char* v = std::getenv("TANDEM_DISABLE_GPU");
  return v && *v && std::string(v) != "0";
}

TEST(gpu_memory, allocation_without_a_device_throws_a_named_error) {
  if (gpu::available()) GTEST_SKIP() << "a CUDA device is present";
  if (gpu_hidden()) GTEST_SKIP() << "TANDEM_DISABLE_GPU hides devices but does not remove them";
  try {
    gpu::device_buffer<float> b(1024);
    FAIL() << "allocated device memory without a device";
  } catch (const gpu::error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gpu::stream_pool(2), gpu::error);
  gpu::device_buffer<float> empty(0);  // no allocation, no error
  EXPECT_EQ(empty.data(), nullptr);
}

TEST(gpu_memory, buffers_and_streams_on_a_device) {
  TANDEM_SKIP_WITHOUT_GPU();
  gpu::device_buffer<int> d(1000);
  gpu::pinned_buffer<int> h(1000);
  for (int i = 0; i < 1000; ++i) h[i] = i;
  gpu::stream_pool streams(4);
  ASSERT_EQ(streams.size(), 4u);
  TANDEM_CUDA_CHECK(cudaMemcpyAsync(d.data(), h.data(), d.bytes(), cudaMemcpyHostToDevice, streams[1]));
  TANDEM_CUDA_CHECK(cudaMemsetAsync(d.data(), 0, 400, streams[1]));
  TANDEM_CUDA_CHECK(cudaMemcpyAsync(h.data(), d.data(), d.bytes(), cudaMemcpyDeviceToHost, streams[1]));
  streams.synchronize();
  EXPECT_EQ(h[0], 0);
  EXPECT_EQ(h[99], 0);
  EXPECT_EQ(h[100], 100);
  EXPECT_EQ(h[999], 999);
  gpu::device_buffer<int> moved = std::move(d);
  EXPECT_EQ(d.data(), nullptr);
  EXPECT_NE(moved.data(), nullptr);
}

TEST(gpu_context, blas_handle_is_made_on_first_use) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  void* h = ctx->blas();
  EXPECT_NE(h, nullptr);
  EXPECT_EQ(ctx->blas(), h) << "one handle per context";
}

#endif  // TANDEM_WITH_CUDA

// ---- the device context ---------------------------------------------------------------------

TEST(gpu_context, open_without_such_a_device_says_why) {
  EXPECT_THROW(gpu::context::open(1 << 20), unavailable_error);
  EXPECT_THROW(gpu::context::open(-1), unavailable_error);
  if (!gpu::available()) {
    try {
      gpu::context::open();
      FAIL() << "opened a context without a device";
    } catch (const unavailable_error& e) {
      EXPECT_NE(std::string(e.what()).find(gpu::discover().reason), std::string::npos) << e.what();
    }
  }
}

TEST(gpu_context, opens_the_device_with_distinct_streams) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open(0, 4);
  EXPECT_EQ(ctx->device(), 0);
  EXPECT_EQ(ctx->device_name(), gpu::discover().devices.at(0).name);
  EXPECT_EQ(ctx->emulated(), TANDEM_WITH_GPU_EMULATION != 0);
  ASSERT_EQ(ctx->streams(), 4u);
  std::set<gpu::stream_t> streams;
  for (unsigned i = 0; i < 4; ++i) {
    EXPECT_NE(ctx->stream(i), nullptr);
    EXPECT_EQ(ctx->stream(i + 4), ctx->stream(i)) << "stream(i) is stream(i % streams())";
    streams.insert(ctx->stream(i));
  }
  EXPECT_EQ(streams.size(), 4u);
  EXPECT_EQ(gpu::context::open(0, 0)->streams(), 1u) << "at least one stream";
}

TEST(gpu_context, copies_round_trip_through_pinned_memory) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  const gpu::stream_t s = ctx->stream(1);
  gpu::pinned_array<int> h(*ctx, 1000);
  for (int i = 0; i < 1000; ++i) h[std::size_t(i)] = i + 1;
  gpu::device_array<int> d(*ctx, 1000, s);
  gpu::device_array<int> d2(*ctx, 1000, s);
  ctx->copy(d.data(), h.data(), d.bytes(), gpu::copy_kind::host_to_device, s);
  ctx->fill_zero(d.data(), 100 * sizeof(int), s);
  ctx->copy(d2.data(), d.data(), d.bytes(), gpu::copy_kind::device_to_device, s);
  ctx->copy(h.data(), d2.data(), d2.bytes(), gpu::copy_kind::device_to_host, s);
  ctx->synchronize(s);
  EXPECT_EQ(h[0], 0);
  EXPECT_EQ(h[99], 0);
  EXPECT_EQ(h[100], 101);
  EXPECT_EQ(h[999], 1000);
  ctx->synchronize();
}

TEST(gpu_context, the_pool_keeps_freed_memory_for_reuse) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  const gpu::stream_t s = ctx->stream(0);
  constexpr std::size_t n = std::size_t{32} << 20;
  { gpu::device_array<char> warm_up(*ctx, n, s); }
  ctx->synchronize(s);
  const std::size_t reserved = ctx->pool_reserved();
  EXPECT_GE(reserved, n) << "freed memory stays in the pool";
  for (int run = 0; run < 3; ++run) {
    gpu::device_array<char> again(*ctx, n, s);
    ctx->fill_zero(again.data(), n, s);
  }
  ctx->synchronize(s);
  EXPECT_EQ(ctx->pool_reserved(), reserved) << "the same size again comes from the pool";
}

TEST(gpu_context, device_arrays_move) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  gpu::device_array<double> a(*ctx, 10);
  double* p = a.data();
  ASSERT_NE(p, nullptr);
  gpu::device_array<double> b = std::move(a);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 10u);
  EXPECT_EQ(b.bytes(), 10 * sizeof(double));
  gpu::device_array<double> c(*ctx, 3);
  c = std::move(b);  // c's own memory goes back to the pool
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(b.data(), nullptr);
  gpu::device_array<double> none(*ctx, 0);
  EXPECT_EQ(none.data(), nullptr);
  gpu::pinned_array<int> h(*ctx, 4);
  gpu::pinned_array<int> h2 = std::move(h);
  EXPECT_EQ(h.data(), nullptr);
  EXPECT_EQ(h2.size(), 4u);
}

TEST(gpu_context, transfers_are_counted_exactly_and_taken_once) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open(0, 4);
  constexpr std::size_t n = std::size_t{1} << 20;  // 4 MiB of ints: long enough to take time
  gpu::pinned_array<int> h(*ctx, n);
  for (std::size_t i = 0; i < n; ++i) h[i] = int(i);
  gpu::device_array<int> d(*ctx, n, ctx->stream(0)), d2(*ctx, n, ctx->stream(0));
  ctx->synchronize();
  (void)ctx->take_transfer_stats();  // whatever opening and allocating did

  const gpu::transfer_stats none = ctx->take_transfer_stats();
  EXPECT_EQ(none.copies, 0u);
  EXPECT_EQ(none.bytes, 0u);
  EXPECT_EQ(none.seconds, 0);

  ctx->copy(d.data(), h.data(), d.bytes(), gpu::copy_kind::host_to_device, ctx->stream(0));
  ctx->copy(d2.data(), d.data(), d.bytes(), gpu::copy_kind::device_to_device, ctx->stream(0));  // not a transfer
  ctx->copy(d.data(), h.data(), 0, gpu::copy_kind::host_to_device, ctx->stream(1));             // no copy at all
  ctx->copy(h.data(), d2.data(), 1000 * sizeof(int), gpu::copy_kind::device_to_host, ctx->stream(2));
  ctx->copy(h.data() + 1000, d2.data() + 1000, 3 * sizeof(int), gpu::copy_kind::device_to_host, nullptr);
  const gpu::transfer_stats t = ctx->take_transfer_stats();  // waits for the queued copies
  EXPECT_EQ(t.copies, 3u);
  EXPECT_EQ(t.bytes, n * sizeof(int) + 1003 * sizeof(int));
  EXPECT_GT(t.seconds, 0);
  EXPECT_TRUE(std::isfinite(t.seconds));
  EXPECT_EQ(h[999], 999) << "the copies themselves still happen";

  const gpu::transfer_stats again = ctx->take_transfer_stats();
  EXPECT_EQ(again.copies, 0u) << "take() resets";
  EXPECT_EQ(again.bytes, 0u);
  EXPECT_EQ(again.seconds, 0);
  ctx->copy(d.data(), h.data(), 8, gpu::copy_kind::host_to_device, ctx->stream(3));
  EXPECT_EQ(ctx->take_transfer_stats().bytes, 8u) << "counting goes on after a take";
}

// Many copies and no take: the accounting stays bounded (the CUDA context reuses its events) and
// still adds up when finally taken.
TEST(gpu_context, transfers_add_up_over_many_copies) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open(0, 2);
  gpu::pinned_array<std::uint64_t> h(*ctx, 4);
  gpu::device_array<std::uint64_t> d(*ctx, 4, ctx->stream(0));
  (void)ctx->take_transfer_stats();
  constexpr unsigned copies = 10'000;
  for (unsigned i = 0; i < copies; ++i)
    ctx->copy(d.data(), h.data(), 8 * (i % 4 + 1), gpu::copy_kind::host_to_device, ctx->stream(i));
  const gpu::transfer_stats t = ctx->take_transfer_stats();
  EXPECT_EQ(t.copies, copies);
  EXPECT_EQ(t.bytes, std::uint64_t(copies / 4) * 8 * (1 + 2 + 3 + 4));
}

#if TANDEM_WITH_GPU_EMULATION
TEST(gpu_context, emulation_has_no_cublas) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  try {
    ctx->blas();
    FAIL() << "an emulated context gave a cuBLAS handle";
  } catch (const unavailable_error& e) {
    EXPECT_NE(std::string(e.what()).find("TANDEM_GPU_EMULATION"), std::string::npos) << e.what();
  }
}
#endif

#if TANDEM_WITH_GPU_CODE
// The tasks workload's Thrust path against its CPU kernel: any span of any plan, chunk by chunk,
// and a second run takes all its memory from the pool.
TEST(gpu_tasks, run_gpu_matches_the_cpu_kernel_on_every_span) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  const std::uint64_t piece = kernels::tasks_piece_length;
  for (const auto& [count, n] : {std::pair<std::uint64_t, std::uint64_t>{1, 1}, {3, piece + 1}, {2, 3 * piece - 7}}) {
    const kernels::tasks_params p = kernels::make_tasks_params(count, n);
    for (std::size_t chunk_size : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
      const chunk_plan plan(p.count * p.pieces, chunk_size);
      for (const chunk_span span : {chunk_span{0, plan.chunks()}, chunk_span{1, plan.chunks()}, chunk_span{0, 1},
                                    chunk_span{0, 0}}) {
        if (span.last > plan.chunks() || span.first > span.last) continue;
        std::vector<kernels::uint128> got(span.size());
        tasks_kernel::run_gpu(*ctx, p, plan, span, got.data());
        for (std::size_t i = 0; i < span.size(); ++i) {
          const kernels::uint128 want = tasks_kernel::run(p, plan.range(span.first + i));
          EXPECT_TRUE(got[i] == want) << "n=" << n << " chunk size " << chunk_size << " chunk " << span.first + i;
        }
      }
    }
  }
}

TEST(gpu_tasks, timed_runs_take_memory_from_the_pool) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  const kernels::tasks_params p = kernels::make_tasks_params(8, 5 * kernels::tasks_piece_length);
  const chunk_plan plan(p.count * p.pieces, 1);
  std::vector<kernels::uint128> out(plan.chunks());
  tasks_kernel::run_gpu(*ctx, p, plan, {0, plan.chunks()}, out.data());
  const std::size_t reserved = ctx->pool_reserved();
  for (int run = 0; run < 3; ++run) tasks_kernel::run_gpu(*ctx, p, plan, {0, plan.chunks()}, out.data());
  EXPECT_EQ(ctx->pool_reserved(), reserved);
}

// The runner keeps the timed gpu runs' transfers: tasks copies its chunk sums to the host, the
// same bytes every run (prepare's and the warm-up's copies not counted).
TEST(gpu_tasks, the_runner_records_the_timed_runs_transfers) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto w = make_tasks_workload({3, 5000});
  run_options o;
  o.backends = parse_backend_list("seq,gpu");
  o.repeat = 3;
  o.warmup = 2;
  std::ostringstream notes;
  const run_report r = run_workload(*w, o, notes);
  ASSERT_EQ(r.records.size(), 2u);
  EXPECT_FALSE(r.records[0].transfer_s) << "seq has no transfers";
  const run_record& g = r.records[1];
  ASSERT_FALSE(g.skipped) << g.reason;
  ASSERT_TRUE(g.transfer_s);
  EXPECT_GE(*g.transfer_s, 0);
  EXPECT_GT(g.transfer_bytes, 0);
  EXPECT_EQ(std::fmod(g.transfer_bytes, double(sizeof(kernels::uint128))), 0.0);
}
#endif  // TANDEM_WITH_GPU_CODE

}  // namespace
