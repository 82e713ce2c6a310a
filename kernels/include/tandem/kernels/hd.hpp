// The host/device marker for the per-item functions that both the CPU executors and the CUDA
// kernels run. It is empty unless nvcc compiles the file, so these headers build with g++ alone
// and the CPU tests exercise the exact source the GPU runs.
#pragma once

#if defined(__CUDACC__)
#define TANDEM_HD __host__ __device__
#define TANDEM_HD_INLINE __host__ __device__ __forceinline__
#else
#define TANDEM_HD
#define TANDEM_HD_INLINE inline
#endif
