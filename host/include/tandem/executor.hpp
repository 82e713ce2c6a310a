// Executors run the chunks of a job; callers combine the partials in chunk order.
//
// A chunk_job is plain data: a chunk plan, a pointer to trivially copyable parameters, the size of
// one chunk's partial result, and a plain function that computes one chunk. Nothing in it depends
// on the executor, which is what lets a thread pool, a process pool (after fork the function
// address is the same in every worker) or an MPI rank run any chunk and get the same bytes.
// Executors run a range of a job's chunks, so a caller can go window by window (bounded memory,
// outputs streamed in order) and an MPI rank can hand its share of chunks to a local backend.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tandem/chunk_plan.hpp"
#include "tandem/worker_context.hpp"

namespace tandem {

// Memory a job's chunks read (its inputs). The procs backend checks every region is memory its
// worker processes can see (a shared_buffer, or a mapping made before they were forked) and
// refuses the job otherwise, naming `what`: misuse is an error, never a wrong answer.
struct memory_region {
  const void* data = nullptr;
  std::size_t bytes = 0;
  const char* what = "input";
};

struct chunk_job {
  chunk_plan plan;
  const void* params = nullptr;
  std::size_t params_size = 0;
  std::size_t partial_size = 0;
  // Computes chunk `chunk` of `plan` and writes partial_size bytes at `partial`.
  void (*run_chunk)(const void* params, const chunk_plan& plan, std::size_t chunk, void* partial) = nullptr;
  std::span<const memory_region> regions;  // the inputs params point into, if any
};

class executor {
 public:
  virtual ~executor() = default;
  virtual std::string_view name() const noexcept = 0;
  // How many chunks can run at once.
  virtual unsigned workers() const noexcept = 0;
  // Runs chunks [span.first, span.last) of `job`; chunk c's partial lands at
  // partials + (c - span.first) * job.partial_size. The first error from a chunk cancels the
  // chunks not yet started and is rethrown.
  virtual void run(const chunk_job& job, chunk_span span, void* partials) = 0;
  // Every chunk of the job.
  void run(const chunk_job& job, void* partials) { run(job, {0, job.plan.chunks()}, partials); }
};

// A chunk kernel: `Kernel::params_type` and `Kernel::partial_type` are trivially copyable and
// `Kernel::run(const params_type&, chunk_range)` (or with a third argument, the worker's
// worker_context&) returns the chunk's partial.
template <class Kernel>
concept chunk_kernel =
    std::is_trivially_copyable_v<typename Kernel::params_type> &&
    std::is_trivially_copyable_v<typename Kernel::partial_type> &&
    (requires(const typename Kernel::params_type& p, chunk_range r) {
      { Kernel::run(p, r) } -> std::same_as<typename Kernel::partial_type>;
    } || requires(const typename Kernel::params_type& p, chunk_range r, worker_context& w) {
      { Kernel::run(p, r, w) } -> std::same_as<typename Kernel::partial_type>;
    });

template <chunk_kernel Kernel>
typename Kernel::partial_type run_kernel(const typename Kernel::params_type& p, chunk_range r) {
  if constexpr (requires(worker_context& w) { Kernel::run(p, r, w); })
    return Kernel::run(p, r, worker_context::current());
  else
    return Kernel::run(p, r);
}

namespace detail {
// Values up to this size may be locals of the thread running a chunk; larger ones never are: a
// pool thread has an 8 MiB stack (RLIMIT_STACK), and a partial may be megabytes.
inline constexpr std::size_t max_stack_bytes = 64 * 1024;
inline bool is_aligned(const void* p, std::size_t alignment) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}
}  // namespace detail

template <chunk_kernel Kernel>
void run_kernel_chunk(const void* params, const chunk_plan& plan, std::size_t chunk, void* partial) {
  using params_type = typename Kernel::params_type;
  using partial_type = typename Kernel::partial_type;
  const chunk_range range = plan.range(chunk);
  auto compute = [&](const params_type& p) {
    if (detail::is_aligned(partial, alignof(partial_type))) {
      // Built where it belongs: the kernel's return value is this object (guaranteed copy
      // elision), so a large partial is never on the stack (given the kernel's own return
      // statement is elided too: `partial_type out; ...; return out;`).
      ::new (partial) partial_type(run_kernel<Kernel>(p, range));
    } else if constexpr (sizeof(partial_type) <= detail::max_stack_bytes) {
      const partial_type r = run_kernel<Kernel>(p, range);
      std::memcpy(partial, &r, sizeof r);
    } else {
      // Not make_unique: its forwarding parameter would materialise the value on the stack first.
      const std::unique_ptr<partial_type> r(new partial_type(run_kernel<Kernel>(p, range)));
      std::memcpy(partial, r.get(), sizeof(partial_type));
    }
  };
  // Params may sit unaligned in a shared-memory message. Small ones are copied into a local (which
  // the compiler knows nothing else writes); large ones are read in place, or copied to the heap.
  if constexpr (sizeof(params_type) <= detail::max_stack_bytes) {
    params_type p;
    std::memcpy(&p, params, sizeof p);
    compute(p);
  } else if (detail::is_aligned(params, alignof(params_type))) {
    compute(*static_cast<const params_type*>(params));
  } else {
    const auto p = std::make_unique_for_overwrite<params_type>();
    std::memcpy(p.get(), params, sizeof(params_type));
    compute(*p);
  }
}

template <chunk_kernel Kernel>
chunk_job make_chunk_job(const chunk_plan& plan, const typename Kernel::params_type& params,
                         std::span<const memory_region> regions = {}) {
  // The process pool lays params and partials out in 64-byte aligned shared memory.
  static_assert(alignof(typename Kernel::params_type) <= 64 && alignof(typename Kernel::partial_type) <= 64,
                "a chunk kernel's params_type and partial_type may be aligned to at most 64 bytes");
  return chunk_job{plan, &params, sizeof params, sizeof(typename Kernel::partial_type), &run_kernel_chunk<Kernel>,
                   regions};
}

// Runs every chunk and returns the partials in chunk order. `regions`: what params point into.
template <chunk_kernel Kernel>
std::vector<typename Kernel::partial_type> run_chunks(executor& ex, const chunk_plan& plan,
                                                      const typename Kernel::params_type& params,
                                                      std::span<const memory_region> regions = {}) {
  std::vector<typename Kernel::partial_type> partials(plan.chunks());
  ex.run(make_chunk_job<Kernel>(plan, params, regions), partials.data());
  return partials;
}

}  // namespace tandem
