#include "tandem/thread_pool.hpp"

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

#include "cpu_relax.hpp"
#include "fault_injection.hpp"
#include "tandem/errors.hpp"

namespace tandem {

namespace {
thread_local const thread_pool* current_pool = nullptr;

// How long an idle worker polls for a new loop before it sleeps on the condition variable.
// Waking a sleeping thread costs tens of microseconds; back-to-back loops (a benchmark's repeats,
// a solver's iterations) arrive well inside this window. A time, not a count of pause
// instructions: one pause is ~30 ns on AMD Zen (4096 of them took 120 us on the dev machine) and a
// few ns on older Intel parts.
constexpr auto spin_time = std::chrono::microseconds(50);
}  // namespace

struct thread_pool::loop {
  loop(std::size_t n_, function_ref<void(std::size_t)> body_) : n(n_), body(body_) {}
  const std::size_t n;
  const function_ref<void(std::size_t)> body;
  alignas(64) std::atomic<std::size_t> next{0};  // next index to claim
  alignas(64) std::atomic<std::size_t> done{0};  // indices finished or cancelled
  std::atomic<bool> failed{false};
  std::exception_ptr error;  // written once, by the thread that set `failed`
};

thread_pool::thread_pool(unsigned threads) {
  threads_.reserve(threads);
  // The pool's threads never run the program's SIGINT/SIGTERM handlers: they inherit this mask.
  // The handlers then run on a thread of the program, which the process pool's handling relies on
  // (interrupt.cpp), and a Ctrl-C never lands in the middle of a chunk on a pool thread.
  sigset_t block, previous;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &block, &previous);
  try {
    for (unsigned i = 0; i < threads; ++i) {
      if (fault::hit("thread_create")) throw std::system_error(EAGAIN, std::generic_category());
      threads_.emplace_back([this] { worker_main(); });
    }
  } catch (const std::system_error& e) {
    // A std::thread still joinable when the vector goes would call std::terminate: end and join
    // the threads already running, then say which one could not start and why.
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    const std::size_t started = threads_.size();
    stop_and_join();
    throw resource_error("threads: could not start thread " + std::to_string(started + 1) + " of " +
                         std::to_string(threads) + " (" + e.code().message() +
                         "); use fewer --workers or raise the limit (ulimit -u, ulimit -v)");
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

thread_pool::~thread_pool() { stop_and_join(); }

void thread_pool::stop_and_join() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  generation_.fetch_add(1, std::memory_order_release);
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool thread_pool::on_worker_thread() const noexcept { return current_pool == this; }

void thread_pool::work_on(loop& l) {
  // Completed indices are counted locally and published once, so the only shared write per index
  // is the claim.
  std::size_t finished = 0;
  for (;;) {
    const std::size_t i = l.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= l.n) break;
    ++finished;
    if (l.failed.load(std::memory_order_relaxed)) continue;
    try {
      l.body(i);
    } catch (...) {
      if (!l.failed.exchange(true)) {
        l.error = std::current_exception();
        // Cancel what nobody has claimed yet: those indices count as done without running.
        const std::size_t claimed = std::min(l.next.exchange(l.n), l.n);
        finished += l.n - claimed;
      }
    }
  }
  if (finished != 0 && l.done.fetch_add(finished, std::memory_order_acq_rel) + finished == l.n) l.done.notify_all();
}

void thread_pool::prune_loops() {
  std::erase_if(loops_, [](const std::shared_ptr<loop>& l) { return l->next.load(std::memory_order_relaxed) >= l->n; });
  published_.store(loops_.size(), std::memory_order_release);
}

void thread_pool::for_each(std::size_t n, function_ref<void(std::size_t)> body) {
  if (n == 0) return;
  if (threads_.empty() || n == 1) {
    for (std::size_t i = 0; i < n; ++i) body(i);
    return;
  }
  auto l = std::make_shared<loop>(n, body);
  bool anyone_asleep = false;
  {
    std::lock_guard lock(mutex_);
    prune_loops();
    loops_.push_back(l);
    published_.store(loops_.size(), std::memory_order_release);
    anyone_asleep = sleepers_ != 0;
  }
  {
    std::lock_guard lock(newest_mutex_);
    newest_ = l;
  }
  generation_.fetch_add(1, std::memory_order_release);
  // Spinning workers see the new generation; only sleeping ones need the (system-call) wake-up.
  if (anyone_asleep) wake_.notify_all();

  work_on(*l);
  // Wait for the indices other threads claimed; they hold their own reference to the loop.
  for (std::size_t d = l->done.load(std::memory_order_acquire); d != n; d = l->done.load(std::memory_order_acquire))
    l->done.wait(d, std::memory_order_acquire);
  // Take the exception out of the loop: a worker may drop the last reference to the loop at any time.
  if (l->error) std::rethrow_exception(std::exchange(l->error, nullptr));
}

void thread_pool::worker_main() {
  current_pool = this;
  std::uint64_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    // Poll briefly for new work before looking under the lock or sleeping.
    const auto deadline = std::chrono::steady_clock::now() + spin_time;
    for (unsigned spin = 1; generation_.load(std::memory_order_acquire) == seen; ++spin) {
      TANDEM_CPU_RELAX();
      if (spin % 16 == 0 && std::chrono::steady_clock::now() > deadline) break;
    }

    // Fast path: the newest loop is published on its own, behind a lock held only to copy one
    // pointer. Going through the loop list's mutex (and its pruning) here contended with the
    // caller publishing its next loop: back-to-back small loops paid several microseconds each.
    if (const std::uint64_t now = generation_.load(std::memory_order_acquire); now != seen) {
      seen = now;
      std::shared_ptr<loop> l;
      {
        std::lock_guard lock(newest_mutex_);
        l = newest_;
      }
      if (l && l->next.load(std::memory_order_relaxed) < l->n) work_on(*l);
      // Only the newest loop was published: back to polling. Otherwise older loops (an outer
      // loop of a nested one) may still have indices: look for them under the lock.
      if (published_.load(std::memory_order_acquire) <= 1) continue;
    }

    std::shared_ptr<loop> l;
    {
      std::unique_lock lock(mutex_);
      ++sleepers_;
      wake_.wait(lock, [&] {
        prune_loops();
        return stopping_ || !loops_.empty() || generation_.load(std::memory_order_acquire) != seen;
      });
      --sleepers_;
      seen = generation_.load(std::memory_order_acquire);
      if (loops_.empty()) {
        if (stopping_) return;
        continue;
      }
      // Newest first: a nested loop is what its caller is waiting on.
      l = loops_.back();
    }
    work_on(*l);
  }
}

}  // namespace tandem
