#include "gemm_blas.hpp"

#include <cblas.h>

namespace tandem::gemm_blas {

void gemm(bool f64, std::uint64_t rows, std::uint64_t cols, std::uint64_t k, double alpha, const void* a,
          std::uint64_t lda, const void* b, std::uint64_t ldb, double beta, void* c, std::uint64_t ldc) {
  // Dimensions were checked against gemm_max_dim (BLAS's int) when the problem was made.
  if (f64)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols), int(k), alpha,
                static_cast<const double*>(a), int(lda), static_cast<const double*>(b), int(ldb), beta,
                static_cast<double*>(c), int(ldc));
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols), int(k), float(alpha),
                static_cast<const float*>(a), int(lda), static_cast<const float*>(b), int(ldb), float(beta),
                static_cast<float*>(c), int(ldc));
}

int threads() noexcept { return openblas_get_num_threads(); }
void set_threads(int n) noexcept { openblas_set_num_threads(n); }
const char* config() noexcept { return openblas_get_config(); }

}  // namespace tandem::gemm_blas
