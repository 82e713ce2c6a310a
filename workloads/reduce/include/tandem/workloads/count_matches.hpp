// `tandem reduce --op count-matches --pattern P --input FILE`: the number of lines of FILE that
// contain the literal P, equal to what `grep -c -F P FILE` prints, on every backend.
//
// The file is mapped, cut into fixed chunks of bytes (the job's chunk size, never the worker
// count), and each chunk's partial is the line-fragment monoid of tandem/kernels/count_matches.hpp,
// so lines cut by chunks, one line longer than every chunk, a last line without a newline, CRLF
// ('\r' is part of the line, as grep sees it) and overlapping occurrences all count exactly as grep
// counts them. See workloads/reduce/README.md ("count-matches").
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/job.hpp"
#include "tandem/kernels/count_matches.hpp"
#include "tandem/workload.hpp"

namespace tandem {

// Bytes per chunk: large enough that a chunk's dispatch is noise next to its ~0.1 ms of search,
// small enough that 2 threads balance a file of a few MiB.
inline constexpr std::size_t count_matches_chunk_bytes = std::size_t{1} << 20;

struct count_matches_options {
  std::string path;
  std::string pattern;
  // For tests and tuning: bytes per CPU chunk (>= 1), and the GPU path's bytes per piece (>= 1;
  // pieces never cross a chunk) and per batch streamed to the device (whole chunks, at least one).
  std::size_t chunk_bytes = count_matches_chunk_bytes;
  std::size_t gpu_piece_bytes = std::size_t{4} << 10;
  std::size_t gpu_batch_bytes = std::size_t{32} << 20;
};

struct count_matches_result {
  std::uint64_t count = 0;  // lines containing the pattern (grep -c -F)
  std::uint64_t bytes = 0;  // the file's size
  std::uint64_t lines = 0;  // its lines (grep -c ''): newlines, plus one for a last line without one
};

// How the CPU search looks for the pattern. Levels above what the CPU has are lowered to it.
enum class count_matches_simd : std::uint8_t {
  scalar,  // memchr / memmem from the C library, then a jump to the next newline
  avx2,    // 32-byte first-and-last-byte filter, newlines counted in the same pass
  avx512,  // the same with 64-byte vectors and masked loads at the edges
};
const char* to_string(count_matches_simd l) noexcept;
// The best level this CPU runs.
count_matches_simd count_matches_simd_best() noexcept;
// The level runs use: the best, or TANDEM_COUNT_MATCHES_SIMD=scalar|avx2|avx512 when it names a
// lower one. Throws usage_error for any other value.
count_matches_simd count_matches_simd_from_environment();

// The GPU path's pinned and device buffers (workloads/reduce/count_matches.cu), made once per
// backend so that timed runs allocate nothing; a run without one makes its own.
struct count_matches_gpu_staging;

struct count_matches_params {
  const unsigned char* text = nullptr;  // the mapped file (null when empty)
  std::uint64_t size = 0;
  std::uint64_t gpu_piece_bytes = 4096;
  std::uint64_t gpu_batch_bytes = std::uint64_t{32} << 20;
  count_matches_gpu_staging* gpu_staging = nullptr;  // used by the process that made it only
  count_matches_simd simd = count_matches_simd::scalar;
  std::uint32_t pattern_length = 0;
  unsigned char pattern[kernels::count_matches_max_pattern] = {};
};

// The partial of bytes [begin, end) of p's text (reading up to pattern_length - 1 bytes past end),
// by the CPU search at `level`; equal to kernels::piece_partial at every level.
kernels::line_match_partial count_matches_search(const count_matches_params& p, std::size_t begin, std::size_t end,
                                                 count_matches_simd level);

// The chunk kernel: a chunk is a range of bytes; its partial the fragment monoid of those bytes.
struct count_matches_kernel {
  using params_type = count_matches_params;
  using partial_type = kernels::line_match_partial;
  static partial_type run(const params_type& p, chunk_range r);
  // The same partials on the GPU (workloads/reduce/count_matches.cu): the chunks' bytes streamed
  // through pinned buffers on several streams, pieces searched on the device, each chunk's pieces
  // combined in order by a scan.
  static void run_gpu(gpu::context& c, const params_type& p, const chunk_plan& plan, chunk_span span,
                      partial_type* out);
};

// Staging for runs of p's job (chunks of chunk_bytes) on c; unavailable_error in a build without
// GPU code.
std::shared_ptr<count_matches_gpu_staging> make_count_matches_gpu_staging(gpu::context& c, const count_matches_params& p,
                                                                          std::size_t chunk_bytes);

// The parameters for a search of `pattern` in text[0 .. size): usage_error for a pattern holding a
// newline (grep would read it as several patterns) or longer than count_matches_max_pattern bytes.
count_matches_params count_matches_params_of(const unsigned char* text, std::uint64_t size, const std::string& pattern,
                                             const count_matches_options& o);

// The job over p's text: chunks of o.chunk_bytes, fold groups of whole chunks.
job<count_matches_kernel> count_matches_job(const count_matches_params& p, const count_matches_options& o);

// One MPI rank's part of a count: the fragment monoid over the bytes of a block of fold groups, and
// whether the file's last line has no newline (known only to the block holding the file's end).
struct count_matches_block {
  kernels::line_match_partial partial;
  std::uint8_t open_last_line = 0;
};
// The part of groups [groups.first, groups.last) of j, reading only their bytes (and up to
// pattern_length - 1 after them).
count_matches_block count_matches_of_groups(run_context& ctx, const job<count_matches_kernel>& j, ranks::share groups);
// a's bytes followed by b's.
count_matches_block merge(const count_matches_block& a, const count_matches_block& b) noexcept;

// The count over an already prepared job (its text must stay mapped), on any backend. Under MPI
// each rank counts its block of groups (ranks::my_share) and rank 0 combines them; only rank 0's
// result is complete.
count_matches_result run_count_matches(run_context& ctx, const job<count_matches_kernel>& j);
// Maps o.path and counts, on any backend. Throws usage_error for a missing, unreadable or
// non-regular file and for a bad pattern (one line each).
count_matches_result run_count_matches(run_context& ctx, const count_matches_options& o);
// On a CPU executor, for programs that embed Tandem.
count_matches_result run_count_matches(executor& ex, const count_matches_options& o);

// {"value": count, "n": lines, "bytes": bytes, "dtype": "text"}.
nlohmann::json result_json(const count_matches_result& r);

// Writes `lines` lines of a generated application log (timestamp, level INFO/DEBUG/WARN/ERROR at
// 70/15/10/5%, service, message; some WARN messages mention an upstream ERROR) to `path`, the same
// bytes for the same seed; returns its size. About 90 bytes a line.
std::uint64_t write_count_matches_log(const std::string& path, std::uint64_t lines, std::uint64_t seed);

// The workload `tandem reduce --op count-matches` runs: the file is mapped when the workload is
// made (so procs workers, forked later, read the same mapping), and every backend is supported.
std::unique_ptr<workload> make_count_matches_workload(const count_matches_options& o);

}  // namespace tandem
