// GPU discovery. This header needs no CUDA headers: it builds with g++ alone, and in a build
// without CUDA discovery says that GPU support was not built.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tandem::gpu {

struct device_info {
  int index = 0;
  std::string name;
  int cc_major = 0;
  int cc_minor = 0;
  int multiprocessors = 0;
  std::size_t total_memory = 0;  // bytes
  // The memory's peak clock and bus width (cudaDevAttrMemoryClockRate, ...GlobalMemoryBusWidth;
  // CUDA 13's cudaDeviceProp has no memoryClockRate): 0 when the device does not say.
  int memory_clock_khz = 0;
  int memory_bus_bits = 0;
};

struct discovery {
  bool built = false;              // this build has CUDA support
  std::vector<device_info> devices;
  std::string reason;              // why there is no usable device, when devices is empty
  int driver_version = 0;          // e.g. 13000 for 13.0; 0 when unknown
  int runtime_version = 0;
};

// Looks once and caches. Never throws: any CUDA error, or zero devices, means "no GPU" with the
// reason in words ("no CUDA device: CUDA driver version is insufficient for CUDA runtime
// version"). Setting TANDEM_DISABLE_GPU=1 in the environment hides every device.
const discovery& discover();

inline bool available() { return !discover().devices.empty(); }

// "13.0" from 13000.
std::string version_string(int cuda_version);

}  // namespace tandem::gpu
