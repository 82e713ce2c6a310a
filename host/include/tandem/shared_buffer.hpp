// Memory that the procs backend's worker processes see at the same address, without copies.
//
// All shared buffers live in one arena: an anonymous MAP_SHARED reservation made once per process,
// before the first worker is forked, so every worker inherits it at the same address and a raw
// pointer into it means the same bytes in the parent and in every worker. A workload allocates its
// big inputs (and any output arrays) as shared_buffer and puts plain pointers to them in its params;
// a chunk then reads them in place. Nothing is named in /dev/shm, so nothing can be left behind: the
// pages go when the last process that maps them exits.
//
// Allocation and release happen in the process that made the arena (the CLI, the test), never in a
// worker: the allocator's bookkeeping is private to that process. See docs/procs.md.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>

namespace tandem {

class shared_buffer {
 public:
  shared_buffer() = default;
  // `bytes` of zeroed shared memory, 64-byte aligned. Throws std::bad_alloc when the arena is full
  // and std::logic_error when called in a worker process.
  explicit shared_buffer(std::size_t bytes);
  ~shared_buffer();
  shared_buffer(shared_buffer&& other) noexcept;
  shared_buffer& operator=(shared_buffer&& other) noexcept;
  shared_buffer(const shared_buffer&) = delete;
  shared_buffer& operator=(const shared_buffer&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // The buffer as an array of T (size() / sizeof(T) elements).
  template <class T>
  std::span<T> as() const noexcept {
    static_assert(std::is_trivially_copyable_v<T>, "shared memory holds trivially copyable data only");
    return {static_cast<T*>(data_), size_ / sizeof(T)};
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// The arena behind shared_buffer. Creating it is idempotent; the process pool does it before it
// forks so that buffers allocated later are still visible to its workers.
namespace shared_arena {
// What TANDEM_SHARED_ARENA_BYTES may ask for: 1 MiB (a few chunks' partials) to 128 TiB (the
// x86-64 user address space; a reservation the kernel refuses is halved until it fits).
inline constexpr std::size_t min_bytes = std::size_t{1} << 20;
inline constexpr std::size_t max_bytes = std::size_t{1} << 47;
// Reserves the arena (address space only; pages are taken when touched). Capacity: the machine's
// physical memory, or TANDEM_SHARED_ARENA_BYTES when set (a byte count, K/M/G/T allowed, env.hpp).
// Throws usage_error for a malformed TANDEM_SHARED_ARENA_BYTES.
void ensure();
// Whether [p, p + bytes) lies inside the arena, i.e. is visible to workers forked after ensure().
// (False, and capacity 0, when the arena cannot be made: ensure() says why.)
bool contains(const void* p, std::size_t bytes) noexcept;
std::size_t capacity() noexcept;
// Bytes handed out and not yet released.
std::size_t in_use() noexcept;
}  // namespace shared_arena

}  // namespace tandem
