#include "tandem/process_pool.hpp"

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <system_error>

#include "procs_protocol.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/mapped_file.hpp"

namespace tandem {

using namespace procs_protocol;

namespace {

// How often a waiting parent looks for dead and stuck workers and for Ctrl-C.
constexpr long monitor_period_ns = 2'000'000;
// Stop: idle workers leave on request at once; then SIGTERM, and SIGKILL after this grace.
constexpr u64 stop_request_ns = 50'000'000;
constexpr u64 term_grace_ns = 250'000'000;

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

using worker_slot = procs_worker_slot;

// Whether the workers forked at `forked_at` can read every input of `job`. Memory they cannot see
// is refused (a wrong answer would be worse); a file mapped after they were forked is a reason to
// fork them again (they then inherit the mapping). docs/io.md has the rule.
bool inputs_need_refork(const chunk_job& job, std::uint64_t forked_at) {
  bool refork = false;
  for (const memory_region& r : job.regions) {
    switch (procs_visibility(r, forked_at)) {
      case region_visibility::visible: break;
      case region_visibility::mapped_after_fork: refork = true; break;
      case region_visibility::not_shared:
        throw std::invalid_argument(std::string("procs: ") + (r.what ? r.what : "input") + " (" +
                                    std::to_string(r.bytes) +
                                    " bytes) is ordinary process memory that worker processes cannot see; "
                                    "allocate it with tandem::shared_buffer or map it with tandem::mapped_file");
    }
  }
  return refork;
}

}  // namespace

chunk_failed::chunk_failed(const details& d)
    : std::runtime_error([&] {
        std::string s = "procs: chunk " + std::to_string(d.chunk) + " failed after " + std::to_string(d.attempts) +
                        (d.attempts == 1 ? " attempt" : " attempts") + "; its last worker (pid " +
                        std::to_string(d.pid) + ") ";
        if (d.timed_out) s += "ran past the chunk timeout and was killed";
        else if (d.signal) s += "was killed by " + signal_name(d.signal);
        else s += "exited with status " + std::to_string(d.exit_code);
        return s;
      }()),
      details_(d) {}

process_pool::process_pool(const procs_options& options) : options_(options) {
  if (options_.workers == 0) throw std::invalid_argument("procs backend needs at least 1 worker");
  if (!(options_.chunk_timeout >= 0)) throw std::invalid_argument("procs: chunk timeout must be >= 0");
  // The arena must exist before the first fork for later shared buffers to be seen by workers.
  shared_arena::ensure();
  ctl_bytes_ = sizeof(control) + sizeof(worker_slot) * (options_.workers - 1);
  void* p = mmap(nullptr, ctl_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "procs: mmap");
  ctl_ = new (p) control();
  for (unsigned i = 1; i < options_.workers; ++i) new (&ctl_->slots[i]) worker_slot();
  pids_.assign(options_.workers, 0);
  timed_out_.assign(options_.workers, 0);
  note_pool_created();
  try {
    start_all();
  } catch (...) {
    stop_all();
    munmap(ctl_, ctl_bytes_);
    note_pool_destroyed();
    throw;
  }
}

process_pool::~process_pool() {
  stop_all();
  munmap(ctl_, ctl_bytes_);
  note_pool_destroyed();
}

void process_pool::spawn(unsigned slot, u64 assignment) {
  worker_slot& s = ctl_->slots[slot];
  s.holding.store(idle);
  s.assignment.store(assignment);
  s.ready.store(0);
  timed_out_[slot] = 0;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::system_error(errno, std::generic_category(), "procs: fork");
  if (pid == 0) procs_protocol::worker_main(*ctl_, slot, parent);
  pids_[slot] = pid;
}

void process_pool::start_all() {
  forked_at_ = mapping_registry::now();  // read before forking: every mapping up to here is inherited
  ctl_->stop.store(0);
  for (unsigned i = 0; i < options_.workers; ++i) spawn(i, idle);
  running_ = true;
  // Ready means waiting for work; a worker that cannot get there within a second is broken.
  const u64 deadline = now_ns() + 1'000'000'000;
  for (unsigned i = 0; i < options_.workers; ++i) {
    while (!ctl_->slots[i].ready.load()) {
      if (now_ns() > deadline) throw std::runtime_error("procs: a worker did not start within 1 s");
      sched_yield();
    }
  }
}

void process_pool::stop_all() noexcept {
  if (!running_) return;
  running_ = false;
  auto reap_all = [&](u64 wait_ns) {
    const u64 deadline = now_ns() + wait_ns;
    for (;;) {
      bool left = false;
      for (pid_t& pid : pids_) {
        if (pid <= 0) continue;
        const pid_t r = waitpid(pid, nullptr, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) pid = 0;
        else left = true;
      }
      if (!left || now_ns() > deadline) return !left;
      usleep(1000);
    }
  };
  // Idle workers leave when asked; busy ones are ended by signals.
  ctl_->stop.store(1);
  ctl_->claim.store(pack(ctl_->job_seq.load(), closed));
  ctl_->job_seq.fetch_add(1);
  futex_wake_all(&ctl_->job_seq);
  if (reap_all(stop_request_ns)) return;
  for (pid_t pid : pids_)
    if (pid > 0) kill(pid, SIGTERM);
  if (reap_all(term_grace_ns)) return;
  for (pid_t pid : pids_)
    if (pid > 0) kill(pid, SIGKILL);
  reap_all(~u64{0} / 2);
}

std::vector<pid_t> process_pool::worker_pids() const {
  std::lock_guard lock(mutex_);
  return pids_;
}

process_pool_stats process_pool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void process_pool::ensure_job_memory(std::size_t bytes) {
  if (job_memory_.size() >= bytes) return;
  // Grow geometrically; the new memory is zero, which no job generation stamps.
  job_memory_ = shared_buffer(std::max(bytes, job_memory_.size() * 2));
}

bool process_pool::reap_and_replace(u32 gen, std::size_t chunks) {
  bool ok = true;
  for (unsigned w = 0; w < options_.workers; ++w) {
    int status = 0;
    const pid_t pid = pids_[w];
    if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid) continue;
    worker_slot& slot = ctl_->slots[w];
    // A replacement that died before taking up its assigned chunk still owed it.
    const u64 assigned = slot.assignment.load();
    const u64 held = assigned != idle ? assigned : slot.holding.load();
    u64 retry = idle;
    if (held != idle && gen_of(held) == gen && chunk_of(held) < chunks) {
      const std::size_t c = chunk_of(held);
      const auto* state = reinterpret_cast<const std::atomic<u64>*>(ctl_->state.load());
      const u64 s = state[c].load();
      const bool done = gen_of(s) == gen && (s & done_bit);
      if (!done && ok && !failure_) {
        if (++failures_[c] > options_.max_retries) {
          chunk_failed::details d;
          d.chunk = c;
          d.attempts = failures_[c];
          d.pid = pid;
          d.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
          d.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
          d.timed_out = timed_out_[w] != 0;
          failure_ = std::make_unique<chunk_failed::details>(d);
          ok = false;
        } else {
          retry = held;
          ++stats_.chunks_retried;
        }
      }
    }
    pids_[w] = 0;
    ++stats_.workers_replaced;
    spawn(w, retry);
  }
  return ok;
}

void process_pool::kill_stuck(u32 gen) {
  if (options_.chunk_timeout <= 0) return;
  const u64 limit = u64(options_.chunk_timeout * 1e9);
  const u64 now = now_ns();
  for (unsigned w = 0; w < options_.workers; ++w) {
    const worker_slot& slot = ctl_->slots[w];
    const u64 held = slot.holding.load();
    if (held == idle || gen_of(held) != gen || timed_out_[w] || pids_[w] <= 0) continue;
    // Workers stamp started_ns before they publish `holding`, so it is this chunk's start.
    const u64 started = slot.started_ns.load();
    if (now > started && now - started > limit) {
      timed_out_[w] = 1;
      kill(pids_[w], SIGKILL);
    }
  }
}

bool process_pool::all_done_by_state(u32 gen, std::size_t chunks) const {
  // A worker killed between setting a chunk's done bit and counting it in `done` leaves the count
  // one short for good. Once every chunk is claimed and no worker holds one, the per-chunk done
  // bits are the truth.
  if (chunk_of(ctl_->claim.load()) < chunks) return false;
  for (unsigned w = 0; w < options_.workers; ++w) {
    const u64 assigned = ctl_->slots[w].assignment.load();
    const u64 held = ctl_->slots[w].holding.load();
    if ((assigned != idle && gen_of(assigned) == gen) || (held != idle && gen_of(held) == gen)) return false;
  }
  const auto* state = reinterpret_cast<const std::atomic<u64>*>(ctl_->state.load());
  for (std::size_t c = 0; c < chunks; ++c) {
    const u64 s = state[c].load(std::memory_order_acquire);
    if (gen_of(s) != gen || !(s & done_bit)) return false;
  }
  return true;
}

void process_pool::wait_until_idle(u32 gen) {
  // After a job ends, a worker may still be inside a chunk of it (a duplicate of a retried chunk,
  // or the rest of a failed job). Its partial must not land in the next job's memory.
  for (;;) {
    bool busy = false;
    for (unsigned w = 0; w < options_.workers; ++w) {
      // A replacement not yet started on its assigned chunk counts as busy: assignment first,
      // then holding (the worker writes them in the other order).
      const u64 assigned = ctl_->slots[w].assignment.load();
      const u64 held = ctl_->slots[w].holding.load();
      const bool mine = (assigned != idle && gen_of(assigned) == gen) || (held != idle && gen_of(held) == gen);
      if (mine && pids_[w] > 0) busy = true;
    }
    if (!busy) return;
    reap_and_replace(gen, 0);  // chunks = 0: a death now re-queues nothing
    kill_stuck(gen);
    if (const int sig = interrupt_signal()) {
      stop_all();
      throw interrupted(sig);
    }
    usleep(50);
  }
}

void process_pool::run(const chunk_job& job, chunk_span span, void* partials) {
  std::lock_guard lock(mutex_);
  throw_if_interrupted();
  if (span.first > span.last || span.last > job.plan.chunks())
    throw std::out_of_range("procs: chunks [" + std::to_string(span.first) + ", " + std::to_string(span.last) +
                            ") are not a range of a job of " + std::to_string(job.plan.chunks()) + " chunks");
  if (span.size() == 0) return;
  if (inputs_need_refork(job, forked_at_)) stop_all();  // run_job starts a fresh set
  try {
    run_job(job, span, partials);
  } catch (const std::system_error&) {
    // A fork or mmap failed mid-job: workers may still hold chunks of it. Stop them all, so that
    // nothing of this job can land in the next one; the next run starts a fresh set.
    stop_all();
    throw;
  }
}

void process_pool::run_job(const chunk_job& job, chunk_span span, void* partials) {
  // The job's chunks [span.first, span.last) travel as local indices 0 .. chunks-1.
  const std::size_t chunks = span.size();
  if (chunks >= closed) throw std::length_error("procs: a job may have at most 2^32 - 2 chunks");
  if (!running_) start_all();

  // Job memory: [params][partials][chunk state], each 64-byte aligned.
  auto align = [](std::size_t n) { return (n + 63) / 64 * 64; };
  const bool direct = shared_arena::contains(partials, chunks * job.partial_size);
  const std::size_t params_bytes = align(job.params_size);
  const std::size_t partial_bytes = direct ? 0 : align(chunks * job.partial_size);
  ensure_job_memory(params_bytes + partial_bytes + chunks * sizeof(u64));
  auto* base = static_cast<unsigned char*>(job_memory_.data());
  if (job.params_size) std::memcpy(base, job.params, job.params_size);
  unsigned char* out = direct ? static_cast<unsigned char*>(partials) : base + params_bytes;
  auto* state = base + params_bytes + partial_bytes;
  failures_.clear();
  failure_.reset();

  // Post: close the claim word under the new generation, write the job, publish, open.
  u32 gen = ctl_->job_seq.load() + 1;
  if (gen == ~u32{0}) gen = 1;  // ~0 means "no job seen yet" to a worker
  ctl_->claim.store(pack(gen, closed));
  std::atomic_thread_fence(std::memory_order_release);
  ctl_->run_chunk.store(reinterpret_cast<u64>(job.run_chunk), std::memory_order_relaxed);
  ctl_->params.store(reinterpret_cast<u64>(base), std::memory_order_relaxed);
  ctl_->items.store(job.plan.items(), std::memory_order_relaxed);
  ctl_->chunk_size.store(job.plan.chunk_size(), std::memory_order_relaxed);
  ctl_->partial_size.store(job.partial_size, std::memory_order_relaxed);
  ctl_->partials.store(reinterpret_cast<u64>(out), std::memory_order_relaxed);
  ctl_->state.store(reinterpret_cast<u64>(state), std::memory_order_relaxed);
  ctl_->chunks.store(chunks, std::memory_order_relaxed);
  ctl_->first_chunk.store(span.first, std::memory_order_relaxed);
  ctl_->done.store(0);
  ctl_->failed.store(0);
  ctl_->claim.store(pack(gen, 0));
  ctl_->job_seq.store(gen);
  if (ctl_->sleepers.load()) futex_wake_all(&ctl_->job_seq);
  ++stats_.jobs;

  auto finished = [&] { return ctl_->done.load(std::memory_order_acquire) == chunks || ctl_->failed.load() != 0; };
  poll_for(finished, parent_poll_ns);
  const u64 replaced_before = stats_.workers_replaced;
  u64 last_monitor = now_ns();
  while (!finished() && !failure_) {
    ctl_->parent_sleeping.store(1);
    const u32 seen = ctl_->completion.load();
    if (!finished()) futex_wait(&ctl_->completion, seen, monitor_period_ns);
    ctl_->parent_sleeping.store(0);
    if (const int sig = interrupt_signal()) {
      stop_all();
      throw interrupted(sig);
    }
    const u64 t = now_ns();
    if (t - last_monitor >= u64(monitor_period_ns) / 2) {
      last_monitor = t;
      if (!reap_and_replace(gen, chunks)) break;
      kill_stuck(gen);
      if (stats_.workers_replaced != replaced_before && all_done_by_state(gen, chunks)) break;
    }
  }
  if (failure_ || ctl_->failed.load()) {
    // Cancel the chunks not yet claimed, let the claimed ones end, then report.
    u64 v = ctl_->claim.load();
    while (gen_of(v) == gen && !ctl_->claim.compare_exchange_weak(v, pack(gen, closed))) {
    }
    wait_until_idle(gen);
    if (failure_) {
      failure_->chunk += span.first;
      throw chunk_failed(*failure_);
    }
    while (ctl_->failed.load(std::memory_order_acquire) != 2) TANDEM_CPU_RELAX();
    throw std::runtime_error(std::string("procs: ") + ctl_->error);
  }
  wait_until_idle(gen);
  if (!direct) std::memcpy(partials, out, chunks * job.partial_size);
}

std::unique_ptr<executor> make_process_pool(const procs_options& options) {
  return std::make_unique<process_pool>(options);
}

}  // namespace tandem
