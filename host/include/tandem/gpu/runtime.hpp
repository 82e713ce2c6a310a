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

// n elements of T in device memory, freed on destruction.
template <class T>
class device_buffer {
 public:
  device_buffer() = default;
  explicit device_buffer(std::size_t n) : size_(n) {
    if (n != 0) TANDEM_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&data_), n * sizeof(T)));
  }
  ~device_buffer() { reset(); }
  device_buffer(device_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  device_buffer& operator=(device_buffer&& o) noexcept {
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

 private:
  void reset() noexcept {
    if (data_) cudaFree(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// n elements of T in page-locked host memory, for asynchronous copies.
template <class T>
class pinned_buffer {
 public:
  pinned_buffer() = default;
  explicit pinned_buffer(std::size_t n) : size_(n) {
    if (n != 0) TANDEM_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&data_), n * sizeof(T)));
  }
  ~pinned_buffer() { reset(); }
  pinned_buffer(pinned_buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  pinned_buffer& operator=(pinned_buffer&& o) noexcept {
    if (this != &o) {
      reset();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) const noexcept { return data_[i]; }

 private:
  void reset() noexcept {
    if (data_) cudaFreeHost(data_);
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

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
