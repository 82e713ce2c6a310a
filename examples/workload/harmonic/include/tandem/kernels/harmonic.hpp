// The per-item step of the example workload: the terms 1/i of the harmonic series, summed in index
// order over one chunk. Host/device code: the CPU chunk kernel and the GPU path call it.
#pragma once

#include <cstdint>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

// Sum of 1/i for i in [first + 1, last + 1), in increasing i.
TANDEM_HD_INLINE double harmonic_terms(std::uint64_t first, std::uint64_t last) {
  double s = 0;
  for (std::uint64_t i = first + 1; i <= last; ++i) s = s + 1.0 / static_cast<double>(i);
  return s;
}

}  // namespace tandem::kernels
