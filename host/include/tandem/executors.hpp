// The CPU executors behind the seq and threads backends.
#pragma once

#include "tandem/executor.hpp"
#include "tandem/thread_pool.hpp"

namespace tandem {

// One thread, chunks in order: the reference every other backend must match bitwise.
class seq_executor final : public executor {
 public:
  std::string_view name() const noexcept override { return "seq"; }
  unsigned workers() const noexcept override { return 1; }
  void run(const chunk_job& job, chunk_span span, void* partials) override;
  using executor::run;
};

// A persistent thread pool; the calling thread is one of the `workers`.
class thread_executor final : public executor {
 public:
  explicit thread_executor(unsigned workers);
  std::string_view name() const noexcept override { return "threads"; }
  unsigned workers() const noexcept override { return pool_.size() + 1; }
  void run(const chunk_job& job, chunk_span span, void* partials) override;
  using executor::run;

 private:
  thread_pool pool_;
};

}  // namespace tandem
