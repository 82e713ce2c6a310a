// The device context in a build without GPU support: there is never one to open.
#include <memory>

#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

std::unique_ptr<context> context::open(int, unsigned) {
  throw unavailable_error("backend gpu unavailable: " + discover().reason);
}

}  // namespace tandem::gpu
