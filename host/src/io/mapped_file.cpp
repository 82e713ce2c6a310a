#include "tandem/io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <utility>

#include "tandem/errors.hpp"
#include "tandem/shared_buffer.hpp"

namespace tandem {

namespace {

struct live_mapping {
  std::uintptr_t end = 0;
  std::uint64_t sequence = 0;
};

// Live mappings by start address. The counter is bumped under the same lock as the insertion, so
// a pool that reads it before forking sees every mapping numbered <= that value as already mapped.
struct registry_state {
  std::mutex mutex;
  std::uint64_t counter = 0;
  std::map<std::uintptr_t, live_mapping> live;
};

registry_state& registry() {
  static registry_state* r = new registry_state();  // never destroyed: mappings may outlive statics
  return *r;
}

std::uint64_t register_mapping(const std::byte* p, std::size_t bytes) {
  registry_state& r = registry();
  std::lock_guard lock(r.mutex);
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uint64_t seq = ++r.counter;
  r.live[begin] = {begin + bytes, seq};
  return seq;
}

void unregister_mapping(const std::byte* p) noexcept {
  registry_state& r = registry();
  std::lock_guard lock(r.mutex);
  r.live.erase(reinterpret_cast<std::uintptr_t>(p));
}

[[noreturn]] void fail(const std::string& path, const std::string& why) {
  throw usage_error("cannot open '" + path + "': " + why);
}

const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a plain file";
}

}  // namespace

mapped_file::mapped_file(std::string path, map_options options) : path_(std::move(path)) {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer before we can refuse it.
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail(path_, std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    fail(path_, std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path_, std::string("is not a regular file (") + kind_of(st.st_mode) + ")");
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ == 0) {
    // /proc and /sys files report size 0 and still have content, which a mapping cannot show:
    // reading them as empty would give a wrong answer without a word.
    char byte;
    const ssize_t got = ::read(fd, &byte, 1);
    if (got > 0) {
      ::close(fd);
      fail(path_, "reports a size of 0 but has content (a /proc or /sys file?), which cannot be mapped; copy it to a regular file first");
    }
  }
  if (size_ != 0) {
    const int flags = MAP_SHARED | (options.populate ? MAP_POPULATE : 0);
    void* p = mmap(nullptr, size_, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      size_ = 0;
      throw usage_error("cannot map '" + path_ + "': " + std::strerror(e));
    }
    data_ = static_cast<const std::byte*>(p);
    sequence_ = register_mapping(data_, size_);
  }
  ::close(fd);  // the mapping keeps the file
}

mapped_file::~mapped_file() { release(); }

void mapped_file::release() noexcept {
  if (data_) {
    unregister_mapping(data_);
    munmap(const_cast<std::byte*>(data_), size_);
  }
  data_ = nullptr;
  size_ = 0;
  sequence_ = 0;
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      sequence_(std::exchange(other.sequence_, 0)),
      path_(std::move(other.path_)) {}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    sequence_ = std::exchange(other.sequence_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

void mapped_file::advise_sequential() const noexcept {
  if (data_) madvise(const_cast<std::byte*>(data_), size_, MADV_SEQUENTIAL);
}

inherited_buffer::inherited_buffer(std::size_t bytes) {
  if (bytes == 0) return;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  madvise(p, bytes, MADV_HUGEPAGE);  // a request: without THP the memory is simply small pages
  data_ = static_cast<std::byte*>(p);
  size_ = bytes;
  register_mapping(data_, size_);
}

inherited_buffer::~inherited_buffer() { release(); }

void inherited_buffer::release() noexcept {
  if (data_) {
    unregister_mapping(data_);
    munmap(data_, size_);
  }
  data_ = nullptr;
  size_ = 0;
}

inherited_buffer::inherited_buffer(inherited_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

inherited_buffer& inherited_buffer::operator=(inherited_buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

namespace mapping_registry {
std::uint64_t now() noexcept {
  registry_state& r = registry();
  std::lock_guard lock(r.mutex);
  return r.counter;
}
}  // namespace mapping_registry

region_visibility procs_visibility(const memory_region& r, std::uint64_t forked_at) {
  if (r.bytes == 0) return region_visibility::visible;
  if (shared_arena::contains(r.data, r.bytes)) return region_visibility::visible;
  const auto begin = reinterpret_cast<std::uintptr_t>(r.data);
  registry_state& reg = registry();
  std::lock_guard lock(reg.mutex);
  auto it = reg.live.upper_bound(begin);
  if (it == reg.live.begin()) return region_visibility::not_shared;
  --it;
  if (begin < it->first || r.bytes > it->second.end - begin) return region_visibility::not_shared;
  return it->second.sequence <= forked_at ? region_visibility::visible : region_visibility::mapped_after_fork;
}

}  // namespace tandem
