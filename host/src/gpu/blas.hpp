// Internal to the CUDA context: the cuBLAS handle is made in its own translation unit
// (blas_cuda.cpp), which finds cuBLAS at run time, so a program that never asks for the handle
// neither loads libcublas nor records it as NEEDED.
#pragma once

#include <string>

namespace tandem::gpu::detail {

// A new cublasHandle_t for the current device. Throws gpu::error when cuBLAS cannot be loaded or
// cublasCreate fails.
void* create_blas_handle();
void destroy_blas_handle(void* handle) noexcept;
// "13.1.0" from the loaded library (cublasGetProperty), or why it could not be loaded together with
// the version this build was compiled against. Loads libcublas as blas() would, once.
std::string cublas_version();

}  // namespace tandem::gpu::detail
