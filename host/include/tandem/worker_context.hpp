// Per-worker state for chunk kernels: tables built once per worker instead of once per chunk
// (Sobol direction numbers, a model's flattened trees), scratch buffers, open files, BLAS state.
//
// A worker is a thread of the thread pool, the caller of seq, or a procs worker process; each has
// its own context (thread-local storage), so kernels never share mutable state and a chunk's
// result still depends only on the chunk. A kernel that takes a `worker_context&` gets it from
// the executor:
//
//   static partial_type run(const params_type& p, chunk_range r, worker_context& w) {
//     const auto& tables = w.local<sobol_cache>().for_steps(p.steps);
//
// State must not change a chunk's answer, only how fast it is found; and a kernel must not keep a
// reference to it across a nested parallel call on the same thread.
#pragma once

#include <memory>
#include <typeindex>
#include <unordered_map>
#include <vector>

namespace tandem {

class worker_context {
 public:
  // This thread's context.
  static worker_context& current();

  // The worker's T, default-constructed on first use.
  template <class T>
  T& local() {
    std::shared_ptr<void>& slot = items_[std::type_index(typeid(T))];
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  // A scratch buffer of at least n elements of T, reused across chunks on this worker.
  template <class T>
  T* scratch(std::size_t n) {
    std::vector<T>& v = local<std::vector<T>>();
    if (v.size() < n) v.resize(n);
    return v.data();
  }

 private:
  std::unordered_map<std::type_index, std::shared_ptr<void>> items_;
};

}  // namespace tandem
