// The CUDA device context: one device, non-blocking streams, a private stream-ordered memory pool
// that keeps freed memory for reuse, and a cuBLAS handle made on first use.
//
// The pool is the point: a workload's timed runs take and give back buffers every run, and with
// the release threshold at its maximum the pool never returns memory to the driver, so after the
// first run no cudaMalloc (and no implicit device synchronisation) happens at all.
//
// Transfers: each host<->device copy is bracketed by two CUDA events recorded on its stream, from
// a pool the context keeps (events are made once and reused), so a report can show a run's copy
// time apart from its compute without adding a synchronisation to the run: the events are read
// in take_transfer_stats(), after the run.
#include <cuda_runtime.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "blas.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/gpu/runtime.hpp"

namespace tandem::gpu {

namespace {

cudaMemcpyKind to_cuda(copy_kind k) {
  switch (k) {
    case copy_kind::host_to_device: return cudaMemcpyHostToDevice;
    case copy_kind::device_to_host: return cudaMemcpyDeviceToHost;
    case copy_kind::device_to_device: return cudaMemcpyDeviceToDevice;
  }
  return cudaMemcpyDefault;
}

class cuda_context final : public context {
 public:
  cuda_context(int device, unsigned streams) : device_(device) {
    TANDEM_CUDA_CHECK(cudaSetDevice(device));
    try {
      streams_.reserve(streams);
      for (unsigned i = 0; i < streams; ++i) {
        cudaStream_t s = nullptr;
        TANDEM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        streams_.push_back(s);
      }
      cudaMemPoolProps props{};
      props.allocType = cudaMemAllocationTypePinned;
      props.handleTypes = cudaMemHandleTypeNone;
      props.location.type = cudaMemLocationTypeDevice;
      props.location.id = device;
      TANDEM_CUDA_CHECK(cudaMemPoolCreate(&pool_, &props));
      std::uint64_t keep_everything = UINT64_MAX;
      TANDEM_CUDA_CHECK(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_everything));
    } catch (...) {
      release();
      throw;
    }
  }
  ~cuda_context() override { release(); }
  cuda_context(const cuda_context&) = delete;
  cuda_context& operator=(const cuda_context&) = delete;

  int device() const noexcept override { return device_; }
  std::string device_name() const override { return discover().devices.at(std::size_t(device_)).name; }
  bool emulated() const noexcept override { return false; }

  unsigned streams() const noexcept override { return unsigned(streams_.size()); }
  stream_t stream(unsigned i) const noexcept override { return streams_[i % streams_.size()]; }

  void* allocate(std::size_t bytes, stream_t s) override {
    void* p = nullptr;
    if (bytes == 0) return nullptr;
    TANDEM_CUDA_CHECK(cudaMallocFromPoolAsync(&p, bytes, pool_, on(s)));
    return p;
  }
  void deallocate(void* p, std::size_t, stream_t s) noexcept override {
    if (p) cudaFreeAsync(p, on(s));  // an error here is sticky and surfaces at the next checked call
  }
  void* allocate_pinned(std::size_t bytes) override {
    void* p = nullptr;
    if (bytes == 0) return nullptr;
    TANDEM_CUDA_CHECK(cudaMallocHost(&p, bytes));
    return p;
  }
  void deallocate_pinned(void* p) noexcept override {
    if (p) cudaFreeHost(p);
  }

  void copy(void* dst, const void* src, std::size_t bytes, copy_kind kind, stream_t s) override {
    if (!bytes) return;
    if (kind == copy_kind::device_to_device) {
      TANDEM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), on(s)));
      return;
    }
    std::lock_guard lock(transfer_mutex_);
    // A program that never takes its statistics still holds a bounded number of events: the
    // oldest copy (long finished, as a rule) is read and its events reused.
    if (pending_.size() >= max_pending_copies) fold_oldest();
    timed_copy c{spare_event(), nullptr, bytes};
    try {
      c.stop = spare_event();
      TANDEM_CUDA_CHECK(cudaEventRecord(c.start, on(s)));
      TANDEM_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, to_cuda(kind), on(s)));
      TANDEM_CUDA_CHECK(cudaEventRecord(c.stop, on(s)));
    } catch (...) {
      spare_.push_back(c.start);
      if (c.stop) spare_.push_back(c.stop);
      throw;
    }
    pending_.push_back(c);
  }
  void fill_zero(void* dst, std::size_t bytes, stream_t s) override {
    if (bytes) TANDEM_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, on(s)));
  }
  void synchronize(stream_t s) override { TANDEM_CUDA_CHECK(cudaStreamSynchronize(on(s))); }
  void synchronize() override {
    for (cudaStream_t s : streams_) TANDEM_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  void* blas() override {
    std::call_once(blas_once_, [this] {
      TANDEM_CUDA_CHECK(cudaSetDevice(device_));
      blas_ = detail::create_blas_handle();
    });
    return blas_;
  }

  transfer_stats take_transfer_stats() override {
    std::lock_guard lock(transfer_mutex_);
    while (!pending_.empty()) fold_oldest();
    return std::exchange(taken_, transfer_stats{});
  }

  std::size_t pool_reserved() const override {
    std::uint64_t bytes = 0;
    TANDEM_CUDA_CHECK(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &bytes));
    return std::size_t(bytes);
  }

 private:
  cudaStream_t on(stream_t s) const noexcept { return s ? s : streams_.front(); }

  struct timed_copy {
    cudaEvent_t start, stop;
    std::uint64_t bytes;
  };
  static constexpr std::size_t max_pending_copies = 4096;

  // Under transfer_mutex_.
  cudaEvent_t spare_event() {
    if (spare_.empty()) {
      cudaEvent_t e = nullptr;
      TANDEM_CUDA_CHECK(cudaEventCreate(&e));  // with timing (the default flags)
      return e;
    }
    cudaEvent_t e = spare_.back();
    spare_.pop_back();
    return e;
  }
  // Waits for the oldest pending copy, adds it to taken_, and keeps its events for reuse.
  void fold_oldest() {
    const timed_copy c = pending_.front();
    pending_.pop_front();
    spare_.push_back(c.start);
    spare_.push_back(c.stop);
    float ms = 0;
    TANDEM_CUDA_CHECK(cudaEventSynchronize(c.stop));
    TANDEM_CUDA_CHECK(cudaEventElapsedTime(&ms, c.start, c.stop));
    taken_.seconds += double(ms) / 1e3;
    taken_.bytes += c.bytes;
    ++taken_.copies;
  }

  // Never throws: the work still queued is waited for, then everything is destroyed in reverse
  // order of creation. Errors are ignored (a destructor has no one to tell; a broken device
  // already reported at the call that broke it).
  void release() noexcept {
    for (cudaStream_t s : streams_) cudaStreamSynchronize(s);
    for (const timed_copy& c : pending_) spare_.insert(spare_.end(), {c.start, c.stop});
    pending_.clear();
    for (cudaEvent_t e : spare_) cudaEventDestroy(e);
    spare_.clear();
    detail::destroy_blas_handle(blas_);
    blas_ = nullptr;
    for (cudaStream_t s : streams_) cudaStreamDestroy(s);
    streams_.clear();
    if (pool_) cudaMemPoolDestroy(pool_);
    pool_ = nullptr;
  }

  int device_;
  std::vector<cudaStream_t> streams_;
  cudaMemPool_t pool_ = nullptr;
  std::once_flag blas_once_;
  void* blas_ = nullptr;
  std::mutex transfer_mutex_;
  std::deque<timed_copy> pending_;  // recorded, not yet read
  std::vector<cudaEvent_t> spare_;  // made earlier, free for the next copy
  transfer_stats taken_;            // copies already read since the last take
};

}  // namespace

std::unique_ptr<context> context::open(int device, unsigned streams) {
  const discovery& d = discover();
  if (d.devices.empty()) throw unavailable_error("backend gpu unavailable: " + d.reason);
  if (device < 0 || std::size_t(device) >= d.devices.size())
    throw unavailable_error("backend gpu unavailable: no CUDA device " + std::to_string(device) + " (this machine has " +
                            std::to_string(d.devices.size()) + ")");
  return std::make_unique<cuda_context>(device, streams == 0 ? 1 : streams);
}

}  // namespace tandem::gpu
