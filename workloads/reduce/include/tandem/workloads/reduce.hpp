// `tandem reduce`: sum, mean, min, max, sum of squares, variance and standard deviation of a
// float32 or float64 array (generated from a seed, or a .npy / raw file mapped and read in place),
// compensated by default and correctly rounded with --exact; the same bits on every backend,
// worker count and chunking. Counting lines that match a literal is count_matches.hpp.
// Design and accuracy: workloads/reduce/README.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"
#include "tandem/kernels/reduce.hpp"
#include "tandem/workload.hpp"

namespace tandem {

enum class reduce_op { sum, mean, min, max, sumsq, var, std, all };
enum class reduce_dtype { f32, f64 };

std::string_view to_string(reduce_op op) noexcept;
std::string_view to_string(reduce_dtype t) noexcept;
// Throws usage_error naming the accepted values.
reduce_op parse_reduce_op(std::string_view s);
reduce_dtype parse_reduce_dtype(std::string_view s);

// Elements per chunk: 2^15 (256 KiB of doubles: a few microseconds per chunk on a core, and one
// GPU warp's work). Chunks per fold group: 64. Both belong to the job, never to the machine.
inline constexpr std::uint64_t reduce_chunk_elements = std::uint64_t{1} << 15;
inline constexpr std::uint64_t reduce_group_chunks = 64;
// Generated arrays are held in memory: at most 2^34 elements (128 GiB of doubles) may be asked for.
inline constexpr std::uint64_t reduce_max_generated = std::uint64_t{1} << 34;

struct reduce_options {
  reduce_op op = reduce_op::sum;
  reduce_dtype dtype = reduce_dtype::f64;
  std::uint64_t n = 10'000'000;  // generated elements (ignored with an input file)
  std::uint64_t seed = 42;
  kernels::reduce_dist dist = kernels::reduce_dist::normal;
  std::string input;              // .npy (dtype from its header) or raw little-endian (dtype above)
  bool dtype_stated = false;      // the caller named dtype: a .npy input of another dtype is an error
  bool exact = false;             // correctly rounded results, bitwise the same everywhere
  // The gpu backend holds the data on the device when it fits in this many bytes (0: half the
  // device's memory); otherwise it streams it from host memory on every run.
  std::uint64_t gpu_resident_limit = 0;
};

// The data a reduction reads: in memory or mapped, never copied. Elements [first, last) of the n
// are held, element `first` at `data` (the defaults: all of them, from element 0). Under MPI a
// rank needs only its share (reduce_share): the chunks of its block of fold groups.
struct reduce_input {
  const void* data = nullptr;
  std::uint64_t n = 0;
  reduce_dtype dtype = reduce_dtype::f64;
  std::uint64_t first = 0;
  std::uint64_t last = std::uint64_t(-1);

  std::uint64_t held_last() const noexcept { return last < n ? last : n; }
  std::uint64_t held() const noexcept { return held_last() > first ? held_last() - first : 0; }
};

// The elements [first, last) of an n-element array that rank `rank` of `size` reads: the chunks
// of its contiguous block of fold groups (ranks::share_of over the job's groups), so a whole
// number of chunks from a chunk boundary. The shares of ranks 0 .. size-1 tile [0, n) in order.
struct reduce_elements {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
reduce_elements reduce_share(std::uint64_t n, int rank, int size) noexcept;

// Values in the data's precision (a float32 array's results are float32 values, held in double).
// Those the op did not compute are NaN and left out of the JSON.
struct reduce_values {
  double sum, mean, min, max, sumsq, var, std;
};

struct reduce_result {
  reduce_op op = reduce_op::sum;
  reduce_dtype dtype = reduce_dtype::f64;
  bool exact = false;
  std::uint64_t n = 0;
  reduce_values v{};
};

// Which passes an op needs (kernels::reduce_pass bits).
std::uint32_t reduce_passes(reduce_op op) noexcept;

// On any backend, over data already in memory or mapped (for procs: in a shared_buffer or mapped
// before the workers were forked). The gpu backend streams the data from host memory; the
// workload (make_reduce_workload) keeps it on the device instead when it fits.
reduce_result run_reduce(run_context& ctx, const reduce_input& in, reduce_op op, bool exact);
reduce_result run_reduce(executor& ex, const reduce_input& in, reduce_op op, bool exact);

nlohmann::json result_json(const reduce_result& r);

// Throws usage_error for a missing or malformed input file, a raw file whose size is not a
// multiple of the element size, or n above reduce_max_generated.
std::unique_ptr<workload> make_reduce_workload(const reduce_options& o);

}  // namespace tandem
