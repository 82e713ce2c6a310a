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
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/mapped_file.hpp"
#include "worker_processes.hpp"

namespace tandem {

using namespace procs_protocol;

namespace {

// How often a waiting parent looks for dead and stuck workers and for Ctrl-C.
constexpr long monitor_period_ns = 2'000'000;
// Stop: idle workers leave on request at once; then SIGTERM, and SIGKILL after this grace.
constexpr u64 stop_request_ns = 50'000'000;
constexpr u64 term_grace_ns = 250'000'000;
// Start-up: two workers are ready 0.4-3 ms after the fork on this machine (docs/procs.md). One not
// ready after 5 s is stuck (stopped, or starved on an overloaded machine): killed and forked again.
constexpr u64 start_timeout_ns = 5'000'000'000;
// When this many workers in a row die before they are ready, with none getting ready in between,
// the system cannot run them (no memory, something killing every new process): the pool says so
// instead of forking forever. A storm of kills (tests/fault_storm.py) has workers get ready between
// its kills and never comes near.
constexpr unsigned max_start_failures = 8;
// The stall check reads /proc/<pid>/stat of workers that hold a chunk older than stall_min_age_ns
// (or of every worker once no chunk has finished for that long), every stall_look_ns: a few
// microseconds per worker read, nothing for the short chunks of a healthy job.
constexpr u64 stall_look_ns = 100'000'000;
constexpr u64 stall_min_age_ns = 500'000'000;
// A worker seen stopped (SIGSTOP, SIGTSTP sent to it alone) for this long while the parent runs is
// stuck: nothing in the job will continue it. Ctrl-Z stops the whole process group, parent included.
constexpr u64 stopped_grace_ns = 1'000'000'000;
// A gap this long between two looks means the parent itself did not run (stopped, suspended): what
// it saw before says nothing about the workers, so the watch starts again.
constexpr u64 parent_away_ns = 1'000'000'000;

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
        else if (d.stalled) s += "made no progress (stopped, or using no CPU time) and was killed";
        else if (!d.status_known) s += "ended; how is unknown (this program reaps or ignores SIGCHLD)";
        else if (d.signal) s += "was killed by " + signal_name(d.signal);
        else s += "exited with status " + std::to_string(d.exit_code);
        return s;
      }()),
      details_(d) {}

process_pool::process_pool(const procs_options& options) : options_(options) {
  if (options_.workers == 0) throw std::invalid_argument("procs backend needs at least 1 worker");
  if (!(options_.chunk_timeout >= 0)) throw std::invalid_argument("procs: chunk timeout must be >= 0");
  if (!(options_.stall_timeout >= 0)) throw std::invalid_argument("procs: stall timeout must be >= 0");
  // The arena must exist before the first fork for later shared buffers to be seen by workers.
  shared_arena::ensure();
  ctl_bytes_ = sizeof(control) + sizeof(worker_slot) * (options_.workers - 1);
  void* p = mmap(nullptr, ctl_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "procs: mmap");
  ctl_ = new (p) control();
  for (unsigned i = 1; i < options_.workers; ++i) new (&ctl_->slots[i]) worker_slot();
  watch_.assign(options_.workers, {});
  exited_.reserve(options_.workers);
  try {
    procs_ = std::make_unique<worker_table>(options_.workers);
    start_all();
  } catch (...) {
    stop_all();
    procs_.reset();
    munmap(ctl_, ctl_bytes_);
    throw;
  }
}

process_pool::~process_pool() {
  stop_all();
  procs_.reset();
  munmap(ctl_, ctl_bytes_);
}

void process_pool::spawn(unsigned slot, u64 assignment) {
  worker_slot& s = ctl_->slots[slot];
  s.holding.store(idle);
  s.assignment.store(assignment);
  s.ready.store(0);
  slot_watch& w = watch_[slot];
  w.killed = kill_reason::none;
  w.ready_seen = false;
  w.progress_ns = w.stopped_ns = 0;
  w.spawned_ns = now_ns();
  const pid_t parent = getpid();
  procs_->spawn(slot, [&] { procs_protocol::worker_main(*ctl_, slot, parent); });
}

void process_pool::start_all() {
  forked_at_ = mapping_registry::now();  // read before forking: every mapping up to here is inherited
  ctl_->stop.store(0);
  running_ = true;
  start_failures_ = 0;
  for (unsigned i = 0; i < options_.workers; ++i) spawn(i, idle);
  wait_until_ready();
}

void process_pool::note_ready_workers() {
  for (unsigned w = 0; w < options_.workers; ++w) {
    if (watch_[w].ready_seen || !ctl_->slots[w].ready.load()) continue;
    watch_[w].ready_seen = true;
    start_failures_ = 0;
  }
}

void process_pool::note_start_failure(unsigned slot, const worker_end& end) {
  ++stats_.workers_replaced;
  if (++start_failures_ <= max_start_failures) return;
  const std::string how = watch_[slot].killed == kill_reason::start ? "was not ready after 5 s and was killed"
                          : !end.known ? "ended (how is unknown: this program reaps or ignores SIGCHLD)"
                          : end.signal ? "was killed by " + signal_name(end.signal)
                                       : "exited with status " + std::to_string(end.exit_code);
  start_failures_ = 0;
  throw resource_error("procs: " + std::to_string(max_start_failures + 1) +
                       " worker processes in a row died before they were ready; the last (worker " +
                       std::to_string(slot + 1) + " of " + std::to_string(options_.workers) + ") " + how);
}

void process_pool::wait_until_ready() {
  // Ready means waiting for work. A worker that dies first is forked again; one that is not ready
  // in time is killed, and then counts as dead.
  for (;;) {
    note_ready_workers();
    exited_.clear();
    procs_->exited(exited_, 0);
    for (unsigned w : exited_) {
      const bool was_ready = ctl_->slots[w].ready.load() != 0;
      const worker_end end = procs_->reap(w);
      if (!was_ready) note_start_failure(w, end);
      else ++stats_.workers_replaced;
      spawn(w, idle);
    }
    bool all_ready = true;
    const u64 t = now_ns();
    for (unsigned w = 0; w < options_.workers; ++w) {
      if (ctl_->slots[w].ready.load()) continue;
      all_ready = false;
      if (watch_[w].killed == kill_reason::none && t - watch_[w].spawned_ns > start_timeout_ns) {
        watch_[w].killed = kill_reason::start;
        procs_->signal(w, SIGKILL);
      }
    }
    if (all_ready) return;
    if (const int sig = interrupt_signal()) stop_and_throw_interrupted(sig);
    exited_.clear();
    procs_->exited(exited_, 1);  // sleeps until a death or for 1 ms
    if (exited_.empty()) sched_yield();
  }
}

void process_pool::stop_all() noexcept {
  if (!running_) return;
  running_ = false;
  // Reaps every worker that has exited; true once none is left. Waits at most wait_ns.
  auto reap_all = [&](u64 wait_ns) {
    const u64 deadline = now_ns() + wait_ns;
    for (;;) {
      bool left = false;
      for (unsigned w = 0; w < options_.workers; ++w) left |= procs_->pid(w) > 0;
      if (!left) return true;
      const u64 t = now_ns();
      if (t > deadline) return false;
      exited_.clear();
      procs_->exited(exited_, int(std::min<u64>((deadline - t) / 1'000'000 + 1, 10)));
      for (unsigned w : exited_) procs_->reap(w);
    }
  };
  // Idle workers leave when asked; busy ones are ended by signals.
  ctl_->stop.store(1);
  ctl_->claim.store(pack(ctl_->job_seq.load(), closed));
  ctl_->job_seq.fetch_add(1);
  futex_wake_all(&ctl_->job_seq);
  if (reap_all(stop_request_ns)) return;
  for (unsigned w = 0; w < options_.workers; ++w) procs_->signal(w, SIGTERM);
  if (reap_all(term_grace_ns)) return;
  for (unsigned w = 0; w < options_.workers; ++w) procs_->signal(w, SIGKILL);
  reap_all(~u64{0} / 2);
}

void process_pool::stop_and_throw_interrupted(int sig) {
  stop_all();
  throw interrupted(sig);
}

std::vector<pid_t> process_pool::worker_pids() const {
  std::lock_guard lock(mutex_);
  std::vector<pid_t> pids(options_.workers);
  for (unsigned w = 0; w < options_.workers; ++w) pids[w] = procs_->pid(w);
  return pids;
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
  note_ready_workers();
  exited_.clear();
  procs_->exited(exited_, 0);
  for (unsigned w : exited_) {
    worker_slot& slot = ctl_->slots[w];
    const bool was_ready = slot.ready.load() != 0;
    // A replacement that died before taking up its assigned chunk still owed it.
    const u64 assigned = slot.assignment.load();
    const u64 held = assigned != idle ? assigned : slot.holding.load();
    const pid_t pid = procs_->pid(w);
    const kill_reason killed = watch_[w].killed;
    const worker_end end = procs_->reap(w);
    u64 retry = idle;
    if (!was_ready) {
      // It never started its chunk: the chunk goes to the next replacement as it is (while the job
      // runs), and a start failure is counted (which ends the job when they keep coming).
      note_start_failure(w, end);
      if (chunks != 0) retry = assigned;
    } else if (held != idle && gen_of(held) == gen && chunk_of(held) < chunks) {
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
          d.signal = end.signal;
          d.exit_code = end.exit_code;
          d.status_known = end.known;
          d.timed_out = killed == kill_reason::timeout;
          d.stalled = killed == kill_reason::stalled;
          failure_ = std::make_unique<chunk_failed::details>(d);
          ok = false;
        } else {
          retry = held;
          ++stats_.chunks_retried;
        }
      }
    }
    if (was_ready) ++stats_.workers_replaced;
    spawn(w, retry);
  }
  return ok;
}

void process_pool::kill_stuck(u32 gen) {
  const u64 now = now_ns();
  for (unsigned w = 0; w < options_.workers; ++w) {
    slot_watch& watch = watch_[w];
    if (procs_->pid(w) <= 0 || watch.killed != kill_reason::none) continue;
    const worker_slot& slot = ctl_->slots[w];
    // A replacement that cannot get ready (stopped as it started) holds up the chunk it owes.
    if (!slot.ready.load() && now - watch.spawned_ns > start_timeout_ns) {
      watch.killed = kill_reason::start;
      procs_->signal(w, SIGKILL);
      continue;
    }
    if (options_.chunk_timeout <= 0) continue;
    const u64 held = slot.holding.load();
    if (held == idle || gen_of(held) != gen) continue;
    // Workers stamp started_ns before they publish `holding`, so it is this chunk's start.
    const u64 started = slot.started_ns.load();
    if (now > started && now - started > u64(options_.chunk_timeout * 1e9)) {
      watch.killed = kill_reason::timeout;
      procs_->signal(w, SIGKILL);
    }
  }
  check_stalls(gen);
}

void process_pool::check_stalls(u32 gen) {
  if (options_.stall_timeout <= 0) return;
  const u64 t = now_ns();
  if (last_look_ns_ != 0 && t - last_look_ns_ < stall_look_ns) return;
  const bool parent_was_away = last_look_ns_ != 0 && t - last_look_ns_ > parent_away_ns;
  last_look_ns_ = t;
  const u64 done = ctl_->done.load();
  if (done != done_seen_ || done_moved_ns_ == 0 || parent_was_away) {
    done_seen_ = done;
    done_moved_ns_ = t;
  }
  // No chunk finished for a while: look at every worker, for one stopped while idle may be what
  // holds the job up (the others may all be stopped too).
  const bool job_still = t - done_moved_ns_ >= stall_min_age_ns;
  const u64 limit = u64(options_.stall_timeout * 1e9);
  for (unsigned w = 0; w < options_.workers; ++w) {
    slot_watch& watch = watch_[w];
    const pid_t pid = procs_->pid(w);
    if (parent_was_away || pid <= 0 || watch.killed != kill_reason::none) {
      watch.progress_ns = 0;
      continue;
    }
    const worker_slot& slot = ctl_->slots[w];
    const u64 held = slot.holding.load();
    const bool holds = held != idle && gen_of(held) == gen;
    const bool old_chunk = holds && t - slot.started_ns.load() >= stall_min_age_ns;
    if (!old_chunk && !job_still) {
      watch.progress_ns = 0;
      continue;
    }
    const process_sample p = sample_process(pid);
    if (!p.ok) continue;
    const u64 key = holds ? held : idle;
    if (watch.progress_ns == 0 || watch.held != key) {
      watch.held = key;
      watch.cpu_ticks = p.cpu_ticks;
      watch.progress_ns = t;
      watch.stopped_ns = 0;
    } else if (p.cpu_ticks != watch.cpu_ticks || p.state == 'R') {
      // Runnable counts as progress: a worker starved by an overloaded machine is not stuck.
      watch.cpu_ticks = p.cpu_ticks;
      watch.progress_ns = t;
    }
    // 'T' only: 't' is a debugger's stop, and a process being debugged is left alone.
    if (p.state != 'T') watch.stopped_ns = 0;
    else if (watch.stopped_ns == 0) watch.stopped_ns = t;
    const bool stopped_too_long = watch.stopped_ns != 0 && t - watch.stopped_ns >= std::min(stopped_grace_ns, limit);
    const bool no_progress = holds && t - watch.progress_ns >= limit;
    if (stopped_too_long || no_progress) {
      watch.killed = kill_reason::stalled;
      procs_->signal(w, SIGKILL);
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
      if (mine && procs_->pid(w) > 0) busy = true;
    }
    if (!busy) return;
    reap_and_replace(gen, 0);  // chunks = 0: a death now re-queues nothing
    kill_stuck(gen);
    if (const int sig = interrupt_signal()) stop_and_throw_interrupted(sig);
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
  // While we wait on the workers, a SIGINT/SIGTERM handler leaves them to us (we stop them and
  // throw `interrupted`); at any other time it ends them itself (interrupt.cpp).
  struct waiting {
    worker_table& t;
    explicit waiting(worker_table& t_) : t(t_) { t.set_waiting(true); }
    ~waiting() { t.set_waiting(false); }
  };
  {
    const waiting guard(*procs_);
    try {
      run_job(job, span, partials);
    } catch (const std::system_error&) {
      // A fork or mmap failed mid-job: workers may still hold chunks of it. Stop them all, so that
      // nothing of this job can land in the next one; the next run starts a fresh set.
      stop_all();
      throw;
    } catch (const resource_error&) {
      stop_all();
      throw;
    }
  }
  // A signal that came as the job ended, seen by the handler while we were still waiting.
  if (const int sig = interrupt_signal()) stop_and_throw_interrupted(sig);
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
    if (const int sig = interrupt_signal()) stop_and_throw_interrupted(sig);
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
