// The worker side of the procs backend: what a forked worker process does until it exits.
#include <dlfcn.h>
#include <signal.h>
#include <sys/prctl.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "procs_protocol.hpp"

namespace tandem {

using namespace procs_protocol;

namespace {

thread_local unsigned attempt_in_this_worker = 0;

using control = process_pool::control;
using worker_slot = procs_worker_slot;

struct job_view {
  void (*run_chunk)(const void*, const chunk_plan&, std::size_t, void*);
  const void* params;
  chunk_plan plan;
  std::size_t partial_size;
  unsigned char* partials;
  std::atomic<u64>* state;
  u64 chunks;
  u64 first_chunk;  // chunk index of local chunk 0
};

job_view read_job(const control& c) {
  job_view j{};
  j.run_chunk = reinterpret_cast<decltype(j.run_chunk)>(c.run_chunk.load(std::memory_order_relaxed));
  j.params = reinterpret_cast<const void*>(c.params.load(std::memory_order_relaxed));
  const u64 items = c.items.load(std::memory_order_relaxed);
  const u64 chunk_size = c.chunk_size.load(std::memory_order_relaxed);
  if (chunk_size) j.plan = chunk_plan(items, chunk_size);
  j.partial_size = c.partial_size.load(std::memory_order_relaxed);
  j.partials = reinterpret_cast<unsigned char*>(c.partials.load(std::memory_order_relaxed));
  j.state = reinterpret_cast<std::atomic<u64>*>(c.state.load(std::memory_order_relaxed));
  j.chunks = c.chunks.load(std::memory_order_relaxed);
  j.first_chunk = c.first_chunk.load(std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return j;
}

// A worker must not start N threads of BLAS or OpenMP each: N workers would run N x cores threads.
// The variables cover libraries loaded later; the calls cover ones already initialised.
void limit_library_threads() {
  for (const char* var : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                          "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "GOTO_NUM_THREADS"})
    setenv(var, "1", 1);
  for (const char* fn : {"openblas_set_num_threads", "omp_set_num_threads", "mkl_set_num_threads",
                         "bli_thread_set_num_threads"})
    if (void* f = dlsym(RTLD_DEFAULT, fn)) reinterpret_cast<void (*)(int)>(f)(1);
}

void report_error(control& c, u32 gen, const char* what) {
  u32 expected = 0;
  if (c.failed.compare_exchange_strong(expected, 1)) {
    std::snprintf(c.error, sizeof c.error, "%s", what);
    c.failed.store(2, std::memory_order_release);
  }
  u64 v = c.claim.load();
  while (gen_of(v) == gen && !c.claim.compare_exchange_weak(v, pack(gen, closed))) {
  }
  c.completion.fetch_add(1);
  if (c.parent_sleeping.load()) futex_wake_all(&c.completion);
}

// Runs chunk `chunk` of job `gen` unless it is already done. The caller has published
// slot.holding = (gen, chunk) and slot.started_ns, and checked that the job is still open.
void run_one(control& c, u32 gen, u64 chunk, const job_view& j) {
  std::atomic<u64>& st = j.state[chunk];
  u64 s = st.load();
  u64 next;
  do {
    if (gen_of(s) == gen && (s & done_bit)) return;
    next = gen_of(s) == gen ? s + 1 : pack(gen, 1);
  } while (!st.compare_exchange_weak(s, next));
  attempt_in_this_worker = unsigned(next & 0xffff);
  try {
    j.run_chunk(j.params, j.plan, j.first_chunk + chunk, j.partials + chunk * j.partial_size);
  } catch (const std::exception& e) {
    report_error(c, gen, e.what());
    return;
  } catch (...) {
    report_error(c, gen, "a chunk threw an exception that is not a std::exception");
    return;
  }
  attempt_in_this_worker = 0;
  const u64 before = st.fetch_or(done_bit, std::memory_order_acq_rel);
  if (before & done_bit) return;  // a duplicate run of a chunk re-queued after a crash
  if (c.done.fetch_add(1, std::memory_order_acq_rel) + 1 == j.chunks) {
    c.completion.fetch_add(1);
    if (c.parent_sleeping.load()) futex_wake_all(&c.completion);
  }
}

// Takes part in job `gen`: first the chunk this worker was forked to retry, then claims.
void work_on(control& c, worker_slot& slot, u32 gen) {
  const job_view j = read_job(c);
  if (const u64 assigned = slot.assignment.load(); assigned != idle) {
    // Publish the chunk before dropping the assignment: the parent, which reads the assignment
    // first and then `holding`, always sees one of them until we are done with this job.
    slot.started_ns.store(now_ns(), std::memory_order_relaxed);
    slot.holding.store(assigned);
    slot.assignment.store(idle);
    const u64 v = c.claim.load();
    if (gen_of(assigned) == gen && gen_of(v) == gen && chunk_of(v) != closed)
      run_one(c, gen, chunk_of(assigned), j);
    slot.holding.store(idle);
  }
  for (;;) {
    u64 v = c.claim.load();
    if (gen_of(v) != gen || chunk_of(v) >= j.chunks) return;
    // Publish what we are about to claim before claiming it, so that if this process dies
    // between the two the parent still knows which chunk may have been taken.
    slot.started_ns.store(now_ns(), std::memory_order_relaxed);
    slot.holding.store(v);
    if (c.claim.compare_exchange_strong(v, v + 1)) run_one(c, gen, chunk_of(v), j);
    slot.holding.store(idle);
  }
}

// Leaves the worker without running the parent's atexit handlers or destructors (they belong to
// the parent). A coverage build first writes the worker's gcov counters, which _exit would drop.
#if defined(TANDEM_COVERAGE)
extern "C" void __gcov_dump(void);
#endif
[[noreturn]] void leave(int status) {
#if defined(TANDEM_COVERAGE)
  __gcov_dump();
#endif
  _exit(status);
}

// exit() called by a chunk: registered last, this runs before every handler the worker inherited
// (the parent's atexit functions and static destructors, which must not run twice) and before the
// inherited stdio buffers would be written out again (the parent flushes them before each fork,
// so what stdout holds now is the worker's own). Without taking its lock: a thread of the parent
// may have held it at the fork, and that thread does not exist here to let it go.
void exit_called_in_chunk(int status, void*) {
  fflush_unlocked(stdout);
  leave(status);
}

}  // namespace

[[noreturn]] void procs_protocol::worker_main(control& c, unsigned index, pid_t parent) {
  // The parent's Ctrl-C handling belongs to the parent: it stops us. SIGTERM kills, as it should.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // Die with the parent, however it ends (even SIGKILL): no orphans.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) leave(0);
  on_exit(exit_called_in_chunk, nullptr);
  limit_library_threads();

  worker_slot& slot = c.slots[index];
  slot.ready.store(1);
  u32 seen = ~u32{0};  // never a job's generation: join whatever job is current
  for (;;) {
    u32 gen = c.job_seq.load(std::memory_order_acquire);
    if (gen == seen) {
      auto posted = [&] { return (gen = c.job_seq.load(std::memory_order_acquire)) != seen; };
      if (!poll_for(posted, worker_poll_ns)) {
        while (!posted()) {
          c.sleepers.fetch_add(1);
          futex_wait(&c.job_seq, seen, 0);
          c.sleepers.fetch_sub(1);
        }
      }
    }
    if (c.stop.load()) leave(0);
    work_on(c, slot, gen);
    seen = gen;
  }
}

unsigned process_pool::current_attempt() noexcept { return attempt_in_this_worker; }

}  // namespace tandem
