// The CPU BLAS the gemm workload calls (OpenBLAS through CBLAS), kept behind one small interface so
// that cblas.h stays out of the public headers and the GPU emulation build calls the same code.
#pragma once

#include <cstdint>

namespace tandem::gemm_blas {

// C = alpha A B + beta C, row-major, on the calling thread's BLAS (single-threaded inside workers).
void gemm(bool f64, std::uint64_t rows, std::uint64_t cols, std::uint64_t k, double alpha, const void* a,
          std::uint64_t lda, const void* b, std::uint64_t ldb, double beta, void* c, std::uint64_t ldc);

// OpenBLAS's thread count (process-wide in its pthread build).
int threads() noexcept;
void set_threads(int n) noexcept;

// One BLAS thread for the scope of a run (workers are the parallelism; nothing oversubscribed),
// and the caller's setting back afterwards so a program that embeds Tandem keeps its own.
class single_threaded_scope {
 public:
  single_threaded_scope() noexcept : saved_(threads()) {
    if (saved_ != 1) set_threads(1);
  }
  ~single_threaded_scope() {
    if (saved_ != 1) set_threads(saved_);
  }
  single_threaded_scope(const single_threaded_scope&) = delete;
  single_threaded_scope& operator=(const single_threaded_scope&) = delete;

 private:
  int saved_;
};

// "OpenBLAS 0.3.21 ... Cooperlake MAX_THREADS=64": the library and the kernel it chose.
const char* config() noexcept;

}  // namespace tandem::gemm_blas
