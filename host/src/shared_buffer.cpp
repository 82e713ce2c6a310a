#include "tandem/shared_buffer.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "tandem/env.hpp"
#include "tandem/machine.hpp"

namespace tandem {

namespace {

// Allocations are whole pages: a released range can then be given back to the kernel with
// MADV_REMOVE, which also makes it read as zeros when it is handed out again.
constexpr std::size_t granule = 4096;

std::size_t round_up(std::size_t n) { return (n + granule - 1) / granule * granule; }

// A bad_alloc that tells the user what to change.
struct arena_full : std::bad_alloc {
  const char* what() const noexcept override {
    return "shared arena full: too little free space for this shared buffer (its capacity is physical memory, "
           "or TANDEM_SHARED_ARENA_BYTES)";
  }
};

struct arena_state {
  std::mutex mutex;
  unsigned char* base = nullptr;
  std::size_t capacity = 0;
  std::size_t in_use = 0;
  pid_t owner = 0;
  std::map<std::size_t, std::size_t> free_ranges;  // offset -> length, coalesced

  arena_state() {
    std::size_t bytes = physical_memory_bytes();
    if (const auto env = env_bytes("TANDEM_SHARED_ARENA_BYTES", shared_arena::min_bytes, shared_arena::max_bytes))
      bytes = *env;
    capacity = round_up(bytes);
    // NORESERVE: this is address space, not memory; only touched pages cost anything. Under strict
    // overcommit (vm.overcommit_memory = 2) the kernel still accounts it, so ask for less until it
    // fits, down to 64 MiB.
    void* p = MAP_FAILED;
    for (;;) {
      p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED || errno != ENOMEM || capacity <= (std::size_t{64} << 20)) break;
      capacity = round_up(capacity / 2);
    }
    if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "shared arena: mmap");
    base = static_cast<unsigned char*>(p);
    owner = getpid();
    free_ranges.emplace(0, capacity);
  }

  void check_owner() const {
    if (getpid() != owner)
      throw std::logic_error("shared_buffer: allocate and release shared buffers in the parent, not in a worker");
  }

  void* allocate(std::size_t bytes) {
    const std::size_t len = round_up(bytes);
    std::lock_guard lock(mutex);
    check_owner();
    for (auto it = free_ranges.begin(); it != free_ranges.end(); ++it) {
      if (it->second < len) continue;
      const std::size_t offset = it->first;
      const std::size_t rest = it->second - len;
      free_ranges.erase(it);
      if (rest) free_ranges.emplace(offset + len, rest);
      in_use += len;
      return base + offset;
    }
    throw arena_full();
  }

  void release(void* p, std::size_t bytes) noexcept {
    const std::size_t len = round_up(bytes);
    std::lock_guard lock(mutex);
    if (getpid() != owner) return;  // a worker's copy of the bookkeeping is not the real one
    // Drop the pages: memory goes back to the system and the range reads as zeros next time.
    madvise(p, len, MADV_REMOVE);
    std::size_t offset = std::size_t(static_cast<unsigned char*>(p) - base);
    std::size_t length = len;
    auto next = free_ranges.lower_bound(offset);
    if (next != free_ranges.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        offset = prev->first;
        length += prev->second;
        free_ranges.erase(prev);
      }
    }
    if (next != free_ranges.end() && offset + length == next->first) {
      length += next->second;
      free_ranges.erase(next);
    }
    free_ranges.emplace(offset, length);
    in_use -= len;
  }
};

arena_state& arena() {
  // Never destroyed: buffers may be released during static destruction.
  static arena_state* a = new arena_state();
  return *a;
}

}  // namespace

namespace shared_arena {
void ensure() { (void)arena(); }
// The queries below are noexcept: an arena that cannot be made (a malformed
// TANDEM_SHARED_ARENA_BYTES, no address space) holds nothing, and ensure() reports why.
bool contains(const void* p, std::size_t bytes) noexcept {
  try {
    const arena_state& a = arena();
    const auto* c = static_cast<const unsigned char*>(p);
    return c >= a.base && bytes <= a.capacity && std::size_t(c - a.base) <= a.capacity - bytes;
  } catch (...) {
    return false;
  }
}
std::size_t capacity() noexcept {
  try {
    return arena().capacity;
  } catch (...) {
    return 0;
  }
}
std::size_t in_use() noexcept {
  try {
    arena_state& a = arena();
    std::lock_guard lock(a.mutex);
    return a.in_use;
  } catch (...) {
    return 0;
  }
}
}  // namespace shared_arena

shared_buffer::shared_buffer(std::size_t bytes) : size_(bytes) {
  if (bytes) data_ = arena().allocate(bytes);
}

shared_buffer::~shared_buffer() {
  if (data_) arena().release(data_, size_);
}

shared_buffer::shared_buffer(shared_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

shared_buffer& shared_buffer::operator=(shared_buffer&& other) noexcept {
  if (this != &other) {
    if (data_) arena().release(data_, size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

}  // namespace tandem
