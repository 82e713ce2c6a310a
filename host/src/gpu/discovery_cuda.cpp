// GPU discovery through the CUDA runtime. Any error is an answer ("no GPU, because ..."), never
// an exception: on a machine without a driver, cudaGetDeviceCount fails and that is normal.
#include <cuda_runtime.h>

#include <string>

#include "tandem/env.hpp"
#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

namespace {
discovery look() {
  discovery d;
  d.built = true;
  cudaRuntimeGetVersion(&d.runtime_version);
  if (const std::string off = gpu_disabled_by_environment(); !off.empty()) {
    d.reason = "no CUDA device: " + off;
    return d;
  }
  if (cudaDriverGetVersion(&d.driver_version) != cudaSuccess) d.driver_version = 0;
  int count = 0;
  if (const cudaError_t err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    d.reason = std::string("no CUDA device: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return d;
  }
  if (count == 0) {
    d.reason = "no CUDA device: the driver reports zero devices";
    return d;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (const cudaError_t err = cudaGetDeviceProperties(&p, i); err != cudaSuccess) {
      d.devices.clear();
      d.reason = "no CUDA device: reading device " + std::to_string(i) + " failed: " + cudaGetErrorString(err);
      return d;
    }
    device_info info{i, p.name, p.major, p.minor, p.multiProcessorCount, p.totalGlobalMem};
    // Only for the peak-bandwidth ceiling: a device that does not say leaves them 0.
    if (cudaDeviceGetAttribute(&info.memory_clock_khz, cudaDevAttrMemoryClockRate, i) != cudaSuccess ||
        cudaDeviceGetAttribute(&info.memory_bus_bits, cudaDevAttrGlobalMemoryBusWidth, i) != cudaSuccess) {
      info.memory_clock_khz = info.memory_bus_bits = 0;
      cudaGetLastError();
    }
    d.devices.push_back(info);
  }
  return d;
}
}  // namespace

const discovery& discover() {
  static const discovery d = look();
  return d;
}

}  // namespace tandem::gpu
