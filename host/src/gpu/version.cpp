#include <string>

#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

std::string version_string(int v) {
  if (v <= 0) return "unknown";
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

}  // namespace tandem::gpu
