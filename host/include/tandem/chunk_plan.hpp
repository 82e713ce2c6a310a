// The execution model's index space: items [0, items) cut into fixed chunks.
//
// The chunk size belongs to the job, never to the number of workers, so a chunk's result depends
// only on the job and the chunk index. Executors may run chunks in any order on any worker; the
// caller combines the per-chunk partials in chunk order. See docs/execution-model.md. The
// accessors are host/device code: GPU paths read the same plan.
#pragma once

#include <cstddef>
#include <stdexcept>

#include "tandem/kernels/hd.hpp"

namespace tandem {

struct chunk_range {
  std::size_t begin = 0;
  std::size_t end = 0;
  TANDEM_HD constexpr std::size_t size() const noexcept { return end - begin; }
};

// Chunks [first, last) of a plan: what one executor call or one GPU launch covers.
struct chunk_span {
  std::size_t first = 0;
  std::size_t last = 0;
  TANDEM_HD constexpr std::size_t size() const noexcept { return last - first; }
  friend constexpr bool operator==(const chunk_span&, const chunk_span&) = default;
};

class chunk_plan {
 public:
  constexpr chunk_plan() = default;
  constexpr chunk_plan(std::size_t items, std::size_t chunk_size) : items_(items), chunk_size_(chunk_size) {
    if (chunk_size == 0) throw std::invalid_argument("chunk_plan: chunk size must be at least 1");
  }

  TANDEM_HD constexpr std::size_t items() const noexcept { return items_; }
  TANDEM_HD constexpr std::size_t chunk_size() const noexcept { return chunk_size_; }
  TANDEM_HD constexpr std::size_t chunks() const noexcept {
    return items_ / chunk_size_ + (items_ % chunk_size_ != 0 ? 1 : 0);
  }
  // The items of chunk c; the last chunk may be short.
  TANDEM_HD constexpr chunk_range range(std::size_t c) const noexcept {
    const std::size_t begin = c * chunk_size_;
    const std::size_t end = items_ - begin < chunk_size_ ? items_ : begin + chunk_size_;
    return {begin, end};
  }

 private:
  std::size_t items_ = 0;
  std::size_t chunk_size_ = 1;
};

}  // namespace tandem
