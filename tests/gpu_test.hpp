// TANDEM_SKIP_WITHOUT_GPU(): the first line of every test that needs a device (a real one, or the
// host emulation of a TANDEM_GPU_EMULATION build).
//
// Without a usable device the test is skipped, by name, with discovery's reason. On a machine
// that is meant to have a GPU, set TANDEM_REQUIRE_GPU=1 (scripts/gpu-check.sh does): the same
// tests then fail with the reason instead, so a driver too old for the CUDA runtime, a hidden
// device or a broken install can never pass as "no GPU, skipped".
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "tandem/build_config.hpp"
#include "tandem/gpu/device.hpp"

namespace tandem::testing {

inline bool gpu_required() {
  const char* v = std::getenv("TANDEM_REQUIRE_GPU");
  return v && *v && std::string(v) != "0";
}

}  // namespace tandem::testing

// A macro, not a function: GTEST_SKIP and FAIL return from the test body.
#define TANDEM_SKIP_WITHOUT_GPU()                                                                    \
  do {                                                                                               \
    if (const ::tandem::gpu::discovery& tandem_d_ = ::tandem::gpu::discover(); tandem_d_.devices.empty()) { \
      if (::tandem::testing::gpu_required()) FAIL() << "TANDEM_REQUIRE_GPU=1 but " << tandem_d_.reason;   \
      GTEST_SKIP() << tandem_d_.reason;                                                              \
    }                                                                                                \
  } while (0)
