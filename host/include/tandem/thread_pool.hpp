// A pool of persistent worker threads that runs index loops.
//
// for_each(n, body) runs body(0) .. body(n-1) on the pool's threads *and* the calling thread. The
// caller always takes part, which gives three properties at once:
//   - a pool of 0 threads is valid (the caller does all the work);
//   - nested use never deadlocks: a body that calls for_each on the same pool keeps working on
//     its own inner loop instead of waiting for a busy worker;
//   - the dispatch cost of one index is one atomic increment, amortised over the loop.
// The first exception thrown by body is rethrown to the caller after the indices already started
// have finished; indices not yet started are cancelled (never run).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tandem/function_ref.hpp"

namespace tandem {

class thread_pool {
 public:
  // `threads` background workers; the caller of for_each is one more. Throws resource_error when
  // the system refuses a thread, after joining the ones already started.
  explicit thread_pool(unsigned threads);
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(threads_.size()); }

  void for_each(std::size_t n, function_ref<void(std::size_t)> body);

  // True when called from one of this pool's worker threads.
  bool on_worker_thread() const noexcept;

 private:
  struct loop;
  void worker_main();
  void work_on(loop& l);
  void prune_loops();  // drops loops with no index left to claim; mutex_ held
  void stop_and_join() noexcept;

  std::mutex mutex_;
  std::condition_variable wake_;
  // Loops that may have indices left, newest last. Exhausted ones are dropped lazily, by the next
  // thread that holds the lock anyway, so finishing a loop costs no lock.
  std::vector<std::shared_ptr<loop>> loops_;
  std::atomic<std::size_t> published_{0};    // loops_.size(), readable without the lock
  std::mutex newest_mutex_;
  std::shared_ptr<loop> newest_;  // the latest loop, for the workers' fast path; newest_mutex_
  std::atomic<std::uint64_t> generation_{0};  // bumped on every new loop, for spinning workers
  unsigned sleepers_ = 0;  // workers blocked on wake_, guarded by mutex_
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tandem
