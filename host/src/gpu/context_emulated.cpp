// The device context of a TANDEM_GPU_EMULATION test build: "device memory" is aligned host
// memory and the streams are distinct fake handles whose work (Thrust's CPP system) is done by
// the time a call returns, so synchronize has nothing to wait for.
//
// The pool is modelled, not just passed through, so the tests that check "a second run takes its
// memory from the pool" run here too: freed blocks are kept per size and handed out again, and
// pool_reserved() counts every byte the pool holds.
//
// Transfers (host<->device copies) are counted like the CUDA context's, timed by the host clock
// around the memmove, so the accounting's tests run here.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>

#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"

namespace tandem::gpu {

namespace {

// cudaMalloc's alignment, so code that relies on it (vector loads) is exercised as on a device.
constexpr std::size_t device_alignment = 256;

std::size_t rounded(std::size_t bytes) { return (bytes + device_alignment - 1) / device_alignment * device_alignment; }

class emulated_context final : public context {
 public:
  explicit emulated_context(unsigned streams) : streams_(streams) {}
  ~emulated_context() override {
    for (auto& [size, p] : free_) std::free(p);
  }
  emulated_context(const emulated_context&) = delete;
  emulated_context& operator=(const emulated_context&) = delete;

  int device() const noexcept override { return 0; }
  std::string device_name() const override { return discover().devices.at(0).name; }
  bool emulated() const noexcept override { return true; }

  unsigned streams() const noexcept override { return streams_; }
  // Distinct, non-null, never dereferenced: 1, 2, 3, ...
  stream_t stream(unsigned i) const noexcept override {
    return reinterpret_cast<stream_t>(std::uintptr_t(i % streams_) + 1);
  }

  void* allocate(std::size_t bytes, stream_t) override {
    if (bytes == 0) return nullptr;
    const std::size_t size = rounded(bytes);
    std::lock_guard lock(mutex_);
    if (auto it = free_.find(size); it != free_.end()) {
      void* p = it->second;
      free_.erase(it);
      return p;
    }
    void* p = std::aligned_alloc(device_alignment, size);
    if (!p) throw std::bad_alloc();
    reserved_ += size;
    return p;
  }
  void deallocate(void* p, std::size_t bytes, stream_t) noexcept override {
    if (!p) return;
    std::lock_guard lock(mutex_);
    try {
      free_.emplace(rounded(bytes), p);
    } catch (...) {  // no room to remember the block: give it back instead
      std::free(p);
      reserved_ -= rounded(bytes);
    }
  }
  void* allocate_pinned(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = std::aligned_alloc(device_alignment, rounded(bytes));
    if (!p) throw std::bad_alloc();
    return p;
  }
  void deallocate_pinned(void* p) noexcept override { std::free(p); }

  void copy(void* dst, const void* src, std::size_t bytes, copy_kind kind, stream_t) override {
    if (!bytes) return;  // no copy, as in the CUDA context: nothing to count
    if (kind == copy_kind::device_to_device) {
      std::memmove(dst, src, bytes);
      return;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::memmove(dst, src, bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::lock_guard lock(mutex_);
    transfers_.seconds += s;
    transfers_.bytes += bytes;
    ++transfers_.copies;
  }
  void fill_zero(void* dst, std::size_t bytes, stream_t) override {
    if (bytes) std::memset(dst, 0, bytes);
  }
  void synchronize(stream_t) override {}
  void synchronize() override {}

  void* blas() override {
    throw unavailable_error(
        "cuBLAS is not available in a TANDEM_GPU_EMULATION build (the gpu backend runs on the host; build with CUDA)");
  }

  transfer_stats take_transfer_stats() override {
    std::lock_guard lock(mutex_);
    return std::exchange(transfers_, transfer_stats{});
  }

  std::size_t pool_reserved() const override {
    std::lock_guard lock(mutex_);
    return reserved_;
  }

 private:
  unsigned streams_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // blocks kept for reuse, by rounded size
  std::size_t reserved_ = 0;               // bytes held: in use or in free_
  transfer_stats transfers_;               // since the last take_transfer_stats()
};

}  // namespace

std::unique_ptr<context> context::open(int device, unsigned streams) {
  const discovery& d = discover();
  if (d.devices.empty()) throw unavailable_error("backend gpu unavailable: " + d.reason);
  if (device < 0 || std::size_t(device) >= d.devices.size())
    throw unavailable_error("backend gpu unavailable: no device " + std::to_string(device) +
                            " (the emulated backend has one)");
  return std::make_unique<emulated_context>(streams == 0 ? 1 : streams);
}

}  // namespace tandem::gpu
