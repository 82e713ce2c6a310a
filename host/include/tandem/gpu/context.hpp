// The GPU device context the runner owns: one device, a few streams, a stream-ordered memory pool
// and a cuBLAS handle made on first use. A workload uploads its inputs and takes its buffers in
// `prepare`; its timed runs then allocate nothing from the driver (the pool hands memory back
// without cudaMalloc). This header needs no CUDA headers, so host code and the workloads' public
// headers build with g++ alone; the CUDA side is in gpu/runtime.hpp and gpu/thrust.hpp.
//
// Two implementations: the CUDA one (gpu/context_cuda.cpp) and, in a TANDEM_GPU_EMULATION test
// build without nvcc, a host one (gpu/context_emulated.cpp) whose "device memory" is host memory
// and whose streams run in order: the same workload GPU sources, built as C++ against Thrust's
// host system, then run in CPU tests (docs/gpu.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace tandem::gpu {

using stream_t = CUstream_st*;

enum class copy_kind { host_to_device, device_to_host, device_to_device };

// Host<->device copies made through copy() since the last take_transfer_stats(): how long they
// took, how many bytes, how many copies. Device-to-device copies are not transfers and are not
// counted.
struct transfer_stats {
  double seconds = 0;  // the sum of the copies' durations (see take_transfer_stats)
  std::uint64_t bytes = 0;
  unsigned copies = 0;
};

class context {
 public:
  // Opens `device` (an index into discover().devices) with `streams` non-blocking streams. Throws
  // unavailable_error when there is no such device, gpu::error on a CUDA failure.
  static std::unique_ptr<context> open(int device = 0, unsigned streams = 4);
  virtual ~context() = default;

  virtual int device() const noexcept = 0;
  virtual std::string device_name() const = 0;
  virtual bool emulated() const noexcept = 0;

  virtual unsigned streams() const noexcept = 0;
  virtual stream_t stream(unsigned i) const noexcept = 0;  // i % streams()

  // Stream-ordered device memory from the context's pool (cudaMallocAsync on a pool that keeps
  // freed memory for reuse). Throws gpu::error when the device is out of memory.
  virtual void* allocate(std::size_t bytes, stream_t s) = 0;
  virtual void deallocate(void* p, std::size_t bytes, stream_t s) noexcept = 0;
  // Page-locked host memory for asynchronous copies.
  virtual void* allocate_pinned(std::size_t bytes) = 0;
  virtual void deallocate_pinned(void* p) noexcept = 0;

  // Host-to-device and device-to-host copies are counted for take_transfer_stats().
  virtual void copy(void* dst, const void* src, std::size_t bytes, copy_kind kind, stream_t s) = 0;
  virtual void fill_zero(void* dst, std::size_t bytes, stream_t s) = 0;
  virtual void synchronize(stream_t s) = 0;
  virtual void synchronize() = 0;  // every stream of the context

  // The cuBLAS handle, created on first use, bound to no stream in particular (set it per call).
  // Returned as void* (a cublasHandle_t) so this header needs no cuBLAS. Throws in an emulated
  // context and in a build without CUDA.
  virtual void* blas() = 0;

  // The transfers since the last call, then starts counting afresh: what a report shows as a GPU
  // run's transfer time apart from its compute. On a device each copy is timed by CUDA events
  // around it on its stream, and the call waits for the copies still queued. Copies on several
  // streams may overlap each other and the kernels, so `seconds` is the sum of the copies'
  // durations, not wall time: it may exceed the run's time when copies overlap. In the emulated
  // context it is the host time of the memcpy.
  virtual transfer_stats take_transfer_stats() = 0;

  // Bytes the pool holds (in use or kept for reuse), for the tests' "timed runs allocate nothing".
  virtual std::size_t pool_reserved() const = 0;
};

// n elements of T in a context's device memory, given back to the pool on destruction (on the
// stream it was taken on); move-only.
template <class T>
class device_array {
 public:
  device_array() = default;
  device_array(context& c, std::size_t n, stream_t s = nullptr)
      : ctx_(&c), stream_(s), data_(static_cast<T*>(n ? c.allocate(n * sizeof(T), s) : nullptr)), size_(n) {}
  ~device_array() { reset(); }
  device_array(device_array&& o) noexcept
      : ctx_(o.ctx_), stream_(o.stream_), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  device_array& operator=(device_array&& o) noexcept {
    if (this != &o) {
      reset();
      ctx_ = o.ctx_;
      stream_ = o.stream_;
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
    if (data_) ctx_->deallocate(data_, size_ * sizeof(T), stream_);
    data_ = nullptr;
    size_ = 0;
  }
  context* ctx_ = nullptr;
  stream_t stream_ = nullptr;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// n elements of T in a context's pinned host memory; move-only.
template <class T>
class pinned_array {
 public:
  pinned_array() = default;
  pinned_array(context& c, std::size_t n)
      : ctx_(&c), data_(static_cast<T*>(n ? c.allocate_pinned(n * sizeof(T)) : nullptr)), size_(n) {}
  ~pinned_array() { reset(); }
  pinned_array(pinned_array&& o) noexcept
      : ctx_(o.ctx_), data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  pinned_array& operator=(pinned_array&& o) noexcept {
    if (this != &o) {
      reset();
      ctx_ = o.ctx_;
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
    if (data_) ctx_->deallocate_pinned(data_);
    data_ = nullptr;
    size_ = 0;
  }
  context* ctx_ = nullptr;
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tandem::gpu
