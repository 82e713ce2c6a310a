// Discovery in a TANDEM_GPU_EMULATION test build: one "device", the host, so the gpu backend is
// available and every backend-parameterised test runs the GPU sources' orchestration on the CPU.
// The name says plainly that it is not a GPU; TANDEM_DISABLE_GPU=1 hides it like a real one.
#include <string>

#include "tandem/env.hpp"
#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

namespace {
discovery look() {
  discovery d;
  d.built = false;  // no CUDA in this build
  if (const std::string off = gpu_disabled_by_environment(); !off.empty()) {
    d.reason = "no CUDA device: " + off;
    return d;
  }
  device_info host;
  host.index = 0;
  host.name = "host emulation of the GPU backend (TANDEM_GPU_EMULATION test build, not a GPU)";
  host.multiprocessors = 1;
  host.total_memory = std::size_t{1} << 30;  // nominal: emulated allocations come from the heap
  d.devices.push_back(host);
  return d;
}
}  // namespace

const discovery& discover() {
  static const discovery d = look();
  return d;
}

}  // namespace tandem::gpu
