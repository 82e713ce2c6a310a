// One test body, every backend: a run context for a backend, or a skip (by name, with the reason)
// when the backend cannot run here. With TANDEM_REQUIRE_GPU=1 in the environment a missing GPU is
// a failure instead of a skip, so a machine whose driver cannot run the CUDA 13 runtime never
// passes as "no GPU".
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "gpu_test.hpp"
#include "tandem/backend.hpp"
#include "tandem/runner.hpp"
#include "tandem/workload.hpp"

namespace tandem::testing {

// The backends every shared test runs on.
inline constexpr const char* every_backend[] = {"seq", "threads", "procs", "gpu"};

// A run context for one backend, as the runner sets it up (the executor or the device context).
class backend_context {
 public:
  backend_context(backend b, unsigned workers, const procs_settings& procs = {}) {
    ctx_.which = b;
    ctx_.workers = b == backend::seq || b == backend::gpu ? 1 : workers;
    if (b == backend::gpu) ctx_.gpu = &session_.gpu();
    else {
      ex_ = make_executor(b, ctx_.workers, procs);
      ctx_.cpu = ex_.get();
    }
  }
  run_context& operator*() noexcept { return ctx_; }
  run_context* operator->() noexcept { return &ctx_; }

 private:
  session session_;
  std::unique_ptr<executor> ex_;
  run_context ctx_;
};

}  // namespace tandem::testing

// Skips the current test (or fails it, under TANDEM_REQUIRE_GPU=1 for the gpu) when backend `b`
// cannot run here.
#define TANDEM_SKIP_UNLESS_AVAILABLE(b)                                                               \
  do {                                                                                                \
    const ::tandem::backend tandem_b_ = (b);                                                          \
    if (const auto tandem_st_ = ::tandem::backend_availability(tandem_b_); !tandem_st_.available) {   \
      if (tandem_b_ == ::tandem::backend::gpu && ::tandem::testing::gpu_required())                   \
        FAIL() << "TANDEM_REQUIRE_GPU=1 but backend gpu is unavailable: " << tandem_st_.reason;       \
      GTEST_SKIP() << "backend " << ::tandem::to_string(tandem_b_) << " unavailable: " << tandem_st_.reason; \
    }                                                                                                 \
  } while (0)
