#include "tandem/ranks.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include <nlohmann/json.hpp>

#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/interrupt.hpp"

#if TANDEM_WITH_MPI
#include <mpi.h>
#endif

namespace tandem::ranks {

namespace {
world_info the_world;
bool started = false;

// A whole decimal number from an environment variable, or -1.
int env_int(const char* name) noexcept {
  const char* v = std::getenv(name);
  if (!v || !*v) return -1;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return *end == '\0' && n >= 0 && n < (1L << 30) ? int(n) : -1;
}

#if TANDEM_WITH_MPI
// MPI counts are ints: messages go in pieces of at most 1 GiB.
constexpr std::size_t piece = std::size_t{1} << 30;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI: ") + what + " failed: " + std::string(text, std::size_t(len)));
}

const char* level_name(int level) {
  switch (level) {
    case MPI_THREAD_SINGLE: return "single";
    case MPI_THREAD_FUNNELED: return "funneled";
    case MPI_THREAD_SERIALIZED: return "serialized";
    default: return "multiple";
  }
}

std::uint64_t all_reduce(std::uint64_t v, MPI_Op op) {
  if (!the_world.active) return v;
  std::uint64_t out = 0;
  check(MPI_Allreduce(&v, &out, 1, MPI_UINT64_T, op, MPI_COMM_WORLD), "MPI_Allreduce");
  return out;
}
#endif
}  // namespace

launch launcher() noexcept {
  static const char* const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"};
  static const char* const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "MPI_LOCALRANKID"};
  launch l;
  for (std::size_t i = 0; i < std::size(ranks); ++i) {
    const int r = env_int(ranks[i]);
    if (r < 0) continue;
    l.launched = true;
    l.rank = r;
    l.size = std::max(env_int(sizes[i]), r + 1);
    return l;
  }
  return l;
}

void start() {
  if (started) return;
  started = true;
  const launch l = launcher();
  if (!l.launched) return;
#if TANDEM_WITH_MPI
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  the_world.active = true;
  // Errors come back as codes (check() turns them into exceptions) instead of ending the job
  // silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &the_world.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &the_world.size);
  MPI_Comm local;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, the_world.rank, MPI_INFO_NULL, &local),
        "MPI_Comm_split_type");
  MPI_Comm_rank(local, &the_world.local_rank);
  MPI_Comm_size(local, &the_world.local_size);
  MPI_Comm_free(&local);
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, std::size_t(len));
  v = v.substr(0, v.find_first_of(",\n"));  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
  the_world.implementation = v;
  the_world.thread_level = level_name(provided);
  char node[MPI_MAX_PROCESSOR_NAME];
  MPI_Get_processor_name(node, &len);
  the_world.node.assign(node, std::size_t(len));
  if (provided < MPI_THREAD_FUNNELED)
    throw unavailable_error("MPI gives thread level " + the_world.thread_level +
                            "; Tandem needs funneled (worker threads run while the main thread calls MPI)");
#else
  if (l.size > 1)
    throw unavailable_error("this build of Tandem has no MPI support (TANDEM_MPI=OFF or no MPI library when it was "
                            "built): it cannot run as one of " + std::to_string(l.size) +
                            " ranks; rebuild with libopenmpi-dev installed, or run without mpirun");
#endif
}

void finish() noexcept {
#if TANDEM_WITH_MPI
  int done = 0;
  if (the_world.active && MPI_Finalized(&done) == MPI_SUCCESS && !done) MPI_Finalize();
#endif
}

const world_info& world() noexcept { return the_world; }

std::string library_version() {
#if TANDEM_WITH_MPI
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(version, &len) != MPI_SUCCESS) return "unknown";
  std::string v(version, std::size_t(std::max(len, 0)));
  v = v.substr(0, v.find('\n'));
  while (!v.empty() && (v.back() == '\0' || v.back() == ' ' || v.back() == '\r')) v.pop_back();
  return v;
#else
  return "";
#endif
}

nlohmann::json to_json(const world_info& w) {
  if (!w.active) return nullptr;
  return {{"implementation", w.implementation}, {"ranks", w.size},          {"thread_level", w.thread_level},
          {"rank", w.rank},                     {"local_ranks", w.local_size}, {"node", w.node}};
}

share share_of(std::size_t n, int rank, int size) noexcept {
  const std::size_t p = std::size_t(std::max(size, 1)), r = std::size_t(rank);
  const std::size_t base = n / p, extra = n % p;
  const std::size_t first = r * base + std::min(r, extra);
  return {first, first + base + (r < extra ? 1 : 0)};
}

int gpu_device(int device_count) noexcept {
  return device_count > 0 ? the_world.local_rank % device_count : 0;
}

int status_of(std::exception_ptr e, std::string& message) {
  try {
    std::rethrow_exception(e);
  } catch (const failure& f) {
    message = f.what();
    return f.status();
  } catch (const usage_error& x) {
    message = x.what();
    return 2;
  } catch (const unavailable_error& x) {
    message = x.what();
    return 3;
  } catch (const interrupted& x) {
    message = x.what();
    return x.exit_status();
  } catch (const std::bad_alloc& x) {
    message = std::string("out of memory: ") + x.what();
    return 1;
  } catch (const std::exception& x) {
    message = x.what();
    return 1;
  } catch (...) {
    message = "unknown error";
    return 1;
  }
}

void checked(std::exception_ptr e) {
  if (!the_world.active || the_world.size == 1) {
    if (e) std::rethrow_exception(e);
    return;
  }
#if TANDEM_WITH_MPI
  std::string message;
  const int status = e ? status_of(e, message) : 0;
  // The lowest failing rank speaks for all.
  const int first = int(min(e ? std::uint64_t(the_world.rank) : std::uint64_t(the_world.size)));
  if (first == the_world.size) return;
  std::int64_t head[2] = {status, std::int64_t(message.size())};
  broadcast(head, sizeof head, first);
  message.resize(std::size_t(head[1]));
  broadcast(message.data(), message.size(), first);
  // Rank 0's own failure needs no name: it is the one that prints.
  throw failure(int(head[0]), first == 0 ? message
                                         : "rank " + std::to_string(first) + " of " + std::to_string(the_world.size) +
                                               ": " + message);
#endif
}

void abort(int status) noexcept {
#if TANDEM_WITH_MPI
  if (the_world.active && the_world.size > 1) {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  }
#endif
  std::exit(status);
}

#if TANDEM_WITH_MPI
void send(int to, const void* data, std::size_t bytes) {
  const auto* p = static_cast<const char*>(data);
  do {
    const std::size_t n = std::min(bytes, piece);
    check(MPI_Send(p, int(n), MPI_BYTE, to, 0, MPI_COMM_WORLD), "MPI_Send");
    p += n;
    bytes -= n;
  } while (bytes > 0);
}

void receive(int from, void* data, std::size_t bytes) {
  auto* p = static_cast<char*>(data);
  do {
    const std::size_t n = std::min(bytes, piece);
    check(MPI_Recv(p, int(n), MPI_BYTE, from, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
    p += n;
    bytes -= n;
  } while (bytes > 0);
}

void broadcast(void* data, std::size_t bytes, int root) {
  if (!the_world.active) return;
  auto* p = static_cast<char*>(data);
  do {
    const std::size_t n = std::min(bytes, piece);
    check(MPI_Bcast(p, int(n), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    p += n;
    bytes -= n;
  } while (bytes > 0);
}

void gather(const void* mine, std::size_t bytes, void* all) {
  if (!the_world.active) {
    if (bytes) std::memcpy(all, mine, bytes);
    return;
  }
  if (bytes > piece) throw std::invalid_argument("ranks::gather: at most 1 GiB per rank");
  check(MPI_Gather(mine, int(bytes), MPI_BYTE, all, int(bytes), MPI_BYTE, 0, MPI_COMM_WORLD), "MPI_Gather");
}

std::uint64_t sum(std::uint64_t v) { return all_reduce(v, MPI_SUM); }
std::uint64_t max(std::uint64_t v) { return all_reduce(v, MPI_MAX); }
std::uint64_t min(std::uint64_t v) { return all_reduce(v, MPI_MIN); }
#else
// One rank: nothing travels. send/receive have no partner.
void send(int, const void*, std::size_t) { throw std::logic_error("ranks::send: no other rank"); }
void receive(int, void*, std::size_t) { throw std::logic_error("ranks::receive: no other rank"); }
void broadcast(void*, std::size_t, int) {}
void gather(const void* mine, std::size_t bytes, void* all) {
  if (bytes) std::memcpy(all, mine, bytes);
}
std::uint64_t sum(std::uint64_t v) { return v; }
std::uint64_t max(std::uint64_t v) { return v; }
std::uint64_t min(std::uint64_t v) { return v; }
#endif

}  // namespace tandem::ranks
