// Discovery in a build without CUDA: there is never a device, and the reason says why.
#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

const discovery& discover() {
  static const discovery d{false, {}, "no CUDA device: this build of Tandem has no GPU support (built without nvcc)", 0, 0};
  return d;
}

}  // namespace tandem::gpu
