// The GPU layer: discovery answers without throwing, the check macros name the call, the place and
// the error, and the RAII owners fail cleanly without a device. Device tests skip, by name,
// when there is no CUDA device.
#include <gtest/gtest.h>

#include <string>

#include "tandem/build_config.hpp"
#include "tandem/gpu/device.hpp"

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

TEST(gpu_memory, allocation_without_a_device_throws_a_named_error) {
  if (gpu::available()) GTEST_SKIP() << "a CUDA device is present";
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
  if (!gpu::available()) GTEST_SKIP() << gpu::discover().reason;
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

#endif  // TANDEM_WITH_CUDA

}  // namespace
