// The CUDA runtime layer: one checking macro per API family and RAII owners for device memory,
// pinned host memory and streams. Only for code built with CUDA (it includes the CUDA headers).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <curand.h>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tandem::gpu {

// A failed CUDA, cuBLAS or cuRAND call: the call as written, where, and the error's name.
class error : public std::runtime_error {
 public:
  error(const char* call, const char* file, int line, const char* name, const char* what_text);
};

const char* curand_status_name(curandStatus_t status) noexcept;

[[noreturn]] void throw_error(const char* call, const char* file, int line, const char* name, const char* text);

}  // namespace tandem::gpu

#define TANDEM_CUDA_CHECK(call)                                                                  \
  do {                                                                                           \
    const cudaError_t tandem_status_ = (call);                                                   \
    if (tandem_status_ != cudaSuccess)                                                           \
      ::tandem::gpu::throw_error(#call, __FILE__, __LINE__, cudaGetErrorName(tandem_status_),    \
                                 cudaGetErrorString(tandem_status_));                            \
  } while (0)

#define TANDEM_CUBLAS_CHECK(call)                                                                \
  do {                                                                                           \
    const cublasStatus_t tandem_status_ = (call);                                                \
    if (tandem_status_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::tandem::gpu::throw_error(#call, __FILE__, __LINE__, cublasGetStatusName(tandem_status_), \
                                 cublasGetStatusString(tandem_status_));                         \
  } while (0)

#define TANDEM_CURAND_CHECK(call)                                                                \
  do {                                                                                           \
    const curandStatus_t tandem_status_ = (call);                                                \
    if (tandem_status_ != CURAND_STATUS_SUCCESS)                                                 \
      ::tandem::gpu::throw_error(#call, __FILE__, __LINE__,                                      \
                                 ::tandem::gpu::curand_status_name(tandem_status_), "cuRAND call failed"); \
  } while (0)

namespace tandem::gpu {

// The two kinds of CUDA memory the buffers below own.
struct device_memory {
  static constexpr const char* allocate_call = "cudaMalloc";
  static constexpr bool host_visible = false;
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
  static void release(void* p) noexcept { cudaFree(p); }
};
struct pinned_memory {
  static constexpr const char* allocate_call = "cudaMallocHost";
  static constexpr bool host_visible = true;
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }
  static void release(void* p) noexcept { cudaFreeHost(p); }
};

// n elements of T in one kind of CUDA memory, released on destruction; move-only.
template <class T, class Memory>
class cuda_buffer {
 public:
  cuda_buffer() = default;
  explicit cuda_buffer(std::size_t n) : size_(n) {
    if (n == 0) return;
    if (const cudaError_t e = Memory::allocate(reinterpret_cast<void**>(&data_), n * sizeof(T)); e != cudaSuccess)
      throw_error(Memory::allocate_call, __FILE__, __LINE__, cudaGetErrorName(e), cudaGetErrorString(e));
  }
  ~cuda_buffer() { reset(); }
  cuda_buffer(cuda_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  cuda_buffer& operator=(cuda_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t bytes() const noexcept { return size_ * sizeof(T); }
  T& operator[](std::size_t i) const noexcept
    requires Memory::host_visible
  {
    return data_[i];
  }

 private:
  void reset() noexcept {
    if (data_) Memory::release(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

template <class T>
using device_buffer = cuda_buffer<T, device_memory>;
// Page-locked host memory, for asynchronous copies.
template <class T>
using pinned_buffer = cuda_buffer<T, pinned_memory>;

// A fixed set of non-blocking streams, handed out round robin, so independent pieces of work
// (chunks, batches) overlap copies and kernels.
class stream_pool {
 public:
  explicit stream_pool(std::size_t count);
  ~stream_pool();
  stream_pool(const stream_pool&) = delete;
  stream_pool& operator=(const stream_pool&) = delete;

  std::size_t size() const noexcept { return streams_.size(); }
  cudaStream_t operator[](std::size_t i) const noexcept { return streams_[i % streams_.size()]; }
  void synchronize() const;

 private:
  std::vector<cudaStream_t> streams_;
};

}  // namespace tandem::gpu
