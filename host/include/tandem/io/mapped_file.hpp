// A file mapped read-only, and the rule for which memory the procs backend's workers can read.
//
// Inputs larger than memory (a .npy array, a raw file, a log, a CSV) are mapped, not read: the
// kernel pages them in as chunks touch them and drops clean pages under pressure. The mapping is
// MAP_SHARED, so a procs worker forked after it reads the same page cache as the parent, with no
// copy. A worker forked *before* the mapping does not have it at all; every mapped_file therefore
// takes a number from a process-wide counter, and the process pool compares it with the counter
// value it recorded when it forked its workers (procs_visibility). See docs/io.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "tandem/executor.hpp"

namespace tandem {

struct map_options {
  // MAP_POPULATE: read the whole file in now. Off by default: for a file larger than memory it
  // only evicts the first pages before anything uses them.
  bool populate = false;
};

class mapped_file {
 public:
  mapped_file() = default;
  // Opens `path` read-only and maps all of it. Throws usage_error with one line naming the path
  // and the reason: "cannot open 'x.npy': No such file or directory", "... is not a regular file".
  explicit mapped_file(std::string path, map_options options = {});
  ~mapped_file();
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  const std::byte* data() const noexcept { return data_; }  // null for an empty file
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  const std::string& path() const noexcept { return path_; }
  std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  // Its number from the mapping counter (0: nothing mapped).
  std::uint64_t sequence() const noexcept { return sequence_; }
  // The mapping as a job input, for chunk_job::regions.
  memory_region region(const char* what = "mapped file") const noexcept { return {data_, size_, what}; }

  // Tells the kernel the file will be read front to back (more read-ahead, earlier eviction).
  void advise_sequential() const noexcept;

 private:
  void release() noexcept;

  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::uint64_t sequence_ = 0;
  std::string path_;
};

// Memory for an input the program fills once and then only reads (a generated array): a private
// anonymous mapping with transparent huge pages requested (MADV_HUGEPAGE). A procs worker forked
// after it was made inherits it at the same address (copy-on-write, never copied while nobody
// writes), so it is registered like a mapped_file and procs accepts it, re-forking workers made
// before it. The rule that makes this correct: write it only before any executor that reads it is
// made (a workload's prepare), never after. Huge pages are why it exists: reading 800 MB through
// 4 KiB pages measured 21 GB/s on one core here, through 2 MiB pages 28.6 GB/s (shared_buffer's
// arena is shmem, which the kernel's default `shmem_enabled=never` keeps on small pages).
class inherited_buffer {
 public:
  inherited_buffer() = default;
  // `bytes` of zeroed memory. Throws std::bad_alloc when the kernel refuses the mapping.
  explicit inherited_buffer(std::size_t bytes);
  ~inherited_buffer();
  inherited_buffer(inherited_buffer&& other) noexcept;
  inherited_buffer& operator=(inherited_buffer&& other) noexcept;
  inherited_buffer(const inherited_buffer&) = delete;
  inherited_buffer& operator=(const inherited_buffer&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  memory_region region(const char* what = "generated input") const noexcept { return {data_, size_, what}; }

 private:
  void release() noexcept;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Which memory a procs worker can read.
enum class region_visibility {
  visible,            // in the shared arena, or mapped before the worker was forked
  mapped_after_fork,  // a live mapped_file made after the oldest current worker was forked
  not_shared,         // ordinary process memory: a worker has a stale copy, or nothing
};

namespace mapping_registry {
// The counter's current value: every mapped_file made so far has a sequence number <= this.
std::uint64_t now() noexcept;
}  // namespace mapping_registry

// Whether workers forked when the counter read `forked_at` can read `r`. Empty regions are visible.
region_visibility procs_visibility(const memory_region& r, std::uint64_t forked_at);

}  // namespace tandem
