// The device context in a build without GPU code: there is none to open, and the error says why.
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"

namespace tandem::gpu {

std::unique_ptr<context> context::open(int, unsigned) {
  throw unavailable_error("backend gpu unavailable: this build of Tandem has no GPU support (built without nvcc)");
}

}  // namespace tandem::gpu
