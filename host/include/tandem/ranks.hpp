// MPI ranks: one job across the processes `mpirun -np P tandem ...` starts (docs/mpi.md).
//
// A run without an MPI launcher is one rank of one, and every call here is then cheap and local:
// the workloads call the same functions whether or not MPI is in the build or in use. Under a
// launcher, start() initialises MPI; a job's fold groups are then cut into P contiguous blocks in
// rank order (share_of), each rank runs its block on its local backend, and the group summaries
// travel to rank 0, which folds them in group order: the tree `seq` folds, so the same bits
// (fold_groups in job.hpp). Rank 0 prints the report and writes the outputs.
//
// Only the thread that called start() calls MPI (MPI_THREAD_FUNNELED): chunk loops never do.
//
// Failures: before a run, ranks agree (checked(), agreed()): every rank leaves with the status
// and the message of the lowest failing rank, which rank 0 prints once. During a run a rank that
// fails prints its message, naming itself, and ends every rank (abort()): MPI_Abort, never a
// hang. A rank that dies is noticed by the launcher, which ends the others.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace tandem::ranks {

// What the environment says about the launcher, before MPI starts: whether this process was
// started by mpirun/mpiexec/srun as one of `size` ranks, and which (Open MPI's OMPI_COMM_WORLD_*,
// PMIx's PMIX_RANK, MPICH's and Intel MPI's PMI_*).
struct launch {
  bool launched = false;
  int rank = 0;
  int size = 1;
};
launch launcher() noexcept;

struct world_info {
  bool active = false;   // MPI was started (by a launcher, in a build with MPI)
  int rank = 0;
  int size = 1;
  int local_rank = 0;    // among the ranks on this node (MPI_COMM_TYPE_SHARED)
  int local_size = 1;
  std::string implementation;  // e.g. "Open MPI v4.1.4", empty when not active
  std::string thread_level;    // what MPI provided: "funneled", ...
  std::string node;            // MPI_Get_processor_name
};

// Starts MPI when a launcher started this process; once per process, on the main thread. Throws
// unavailable_error when launched as one of several ranks by a build without MPI (P copies would
// each run the whole job), or when MPI gives less than MPI_THREAD_FUNNELED.
void start();
// Ends MPI on the normal way out (every rank calls it); nothing when not active.
void finish() noexcept;
const world_info& world() noexcept;
inline bool distributed() noexcept { return world().size > 1; }
inline bool is_root() noexcept { return world().rank == 0; }

// The MPI library's own name for itself, first line of MPI_Get_library_version (which MPI allows
// before MPI_Init): "Open MPI v4.1.4, package: ..."; empty in a build without MPI.
std::string library_version();

// The machine header's "mpi" object: implementation, ranks, thread level (null when not active).
nlohmann::json to_json(const world_info& w);

// The part of [0, n) rank `rank` of `size` owns: contiguous blocks in rank order, the first
// n % size ranks one item more. Fixed by (n, size) alone.
struct share {
  std::size_t first = 0;
  std::size_t last = 0;
  std::size_t size() const noexcept { return last - first; }
};
share share_of(std::size_t n, int rank, int size) noexcept;
inline share my_share(std::size_t n) noexcept { return share_of(n, world().rank, world().size); }

// The GPU this rank uses: its local rank modulo the node's device count.
int gpu_device(int device_count) noexcept;

// --- failures ------------------------------------------------------------------------------

// The CLI's exit status for an exception: usage_error 2, unavailable_error 3, interrupted its
// signal's, failure its own, anything else 1; `message` gets its text.
int status_of(std::exception_ptr e, std::string& message);

// Thrown on every rank when ranks agreed that one failed: the lowest failing rank's status and
// message ("rank 2 of 4: ..." when distributed). Rank 0 prints it; the others exit quietly.
class failure : public std::runtime_error {
 public:
  failure(int status, const std::string& what) : std::runtime_error(what), status_(status) {}
  int status() const noexcept { return status_; }

 private:
  int status_;
};

// Every rank calls it with what it met (null: nothing). When some rank failed, every rank throws
// `failure` with the lowest failing rank's status and message; when none did, it returns. With
// one rank, rethrows `e` unchanged.
void checked(std::exception_ptr e);
// Runs f() on every rank and then checked() what it threw.
template <class F>
void agreed(F&& f) {
  std::exception_ptr e;
  try {
    f();
  } catch (...) {
    e = std::current_exception();
  }
  checked(e);
}

// Ends every rank at once with `status` (MPI_Abort); exit(status) when not distributed.
[[noreturn]] void abort(int status) noexcept;

// --- data ----------------------------------------------------------------------------------
// Blocking, from the main thread, on MPI_COMM_WORLD; any size (sent in pieces below 2^31 bytes).

void send(int to, const void* data, std::size_t bytes);
void receive(int from, void* data, std::size_t bytes);
void broadcast(void* data, std::size_t bytes, int root = 0);
// Every rank gives `bytes` at `mine`; rank 0 gets every rank's in rank order at `all` (size
// bytes * ranks; ignored elsewhere).
void gather(const void* mine, std::size_t bytes, void* all);
std::uint64_t sum(std::uint64_t v);  // over every rank, on every rank
std::uint64_t max(std::uint64_t v);
std::uint64_t min(std::uint64_t v);

template <class T>
void broadcast_value(T& v, int root = 0) {
  static_assert(std::is_trivially_copyable_v<T>);
  broadcast(&v, sizeof v, root);
}

// Rank 0 gets every rank's values in rank order (one vector per rank); elsewhere empty.
template <class T>
std::vector<T> gather_values(const T& mine) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<T> all(is_root() ? std::size_t(world().size) : 0);
  gather(&mine, sizeof mine, all.data());
  return all;
}

}  // namespace tandem::ranks
