// `tandem gemm`: C = alpha A B + beta C through the best libraries (OpenBLAS on the CPU backends,
// cuBLAS on the GPU), split into tiles of C across threads, processes or streams, with an optional
// check against a float64 reference. See workloads/gemm/README.md and docs/gemm.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"
#include "tandem/job.hpp"
#include "tandem/kernels/gemm.hpp"
#include "tandem/workload.hpp"

namespace tandem {

// f32 and f64 run on every backend; tf32, bf16 and f16 are the GPU's tensor-core formats (float
// data, float result; bf16 and f16 inputs are converted from float on the host, rounded to
// nearest even, before upload).
enum class gemm_dtype : std::uint8_t { f32, f64, tf32, bf16, f16 };
const char* to_string(gemm_dtype t) noexcept;
// "f32" -> f32; throws usage_error for anything else.
gemm_dtype parse_gemm_dtype(const std::string& s);
// The element type the host holds A, B and C in: double for f64, float otherwise.
inline bool gemm_holds_f64(gemm_dtype t) noexcept { return t == gemm_dtype::f64; }

// How the gpu backend places the matrices: `resident` uploads A and B once (prepare) and keeps C
// on the device; `streamed` leaves them in host memory and moves panels through page-locked
// memory on two streams every run (for matrices larger than the device); `automatic` picks
// resident when A, B and C fit the device budget.
enum class gemm_gpu_mode : std::uint8_t { automatic, resident, streamed };

struct gemm_options {
  std::uint64_t m = 2000, n = 2000, k = 2000;  // ignored (or checked) when A and B come from .npy
  std::string dtype;                           // empty: f64, or the .npy files' dtype
  double alpha = 1, beta = 0;
  std::uint64_t tile = 0;                      // 0: gemm_default_tile
  bool check = false;
  std::string a, b;                            // .npy inputs (C order, float32 or float64); empty: generated
  std::string output;                          // write C here as .npy; empty: not written
  std::uint64_t seed = 42;
  gemm_gpu_mode gpu_mode = gemm_gpu_mode::automatic;
  std::uint64_t gpu_memory = 0;                // device bytes the GPU schedule may use; 0: what is free
};

// Memory limit on A + B + C (and the initial C when beta != 0) in host memory: 3/4 of physical
// memory, so a typo (--m 1e6) is refused with one line instead of a swap storm or the OOM killer.
std::uint64_t gemm_memory_limit();
// Each dimension: 1 to 2^31 - 1 (BLAS's int).
inline constexpr std::uint64_t gemm_max_dim = (std::uint64_t{1} << 31) - 1;
// Entries the check compares: all when m * n <= 2^16, else up to 64 rows x 64 columns spread over C.
inline constexpr std::uint64_t gemm_check_all_entries = std::uint64_t{1} << 16;
inline constexpr std::uint64_t gemm_check_sample_side = 64;

// The tile size when none is given: C in about ceil(sqrt(cores))^2 equal tiles, so every worker
// of the default pool gets the same number of whole tiles, each a large BLAS call (at least 256).
// Measured on 2 cores at n = 4000 (docs/gemm.md): tiles of 2000 lose 1-2% to one multithreaded
// OpenBLAS call, tiles of 1000 lose 4-5% (each call repacks its A and B panels), tiles of 256 20%.
std::uint64_t gemm_default_tile(std::uint64_t m, std::uint64_t n);

struct gemm_check_result {
  std::uint64_t entries = 0;
  double max_rel_error = 0;  // max over entries of |C - C_ref| / (|alpha| |A||B| + |beta| |C0|)
  double bound = 0;          // gemm_error_bound for k and the dtype's unit roundoff
  bool passed = false;
};

struct gemm_result {
  std::uint64_t m = 0, n = 0, k = 0, tile = 0;
  gemm_dtype dtype = gemm_dtype::f64;
  double frobenius_norm = 0;  // of C, summed tile by tile in the job's fixed fold order
  std::optional<gemm_check_result> check;
};
nlohmann::json result_json(const gemm_result& r);

// The chunk kernel: one chunk is one tile of C, computed by one single-threaded BLAS call over
// the full k (C_tile = alpha A_rows B_cols + beta C0_tile), written in place into C (shared
// memory for procs). Its partial: the tile's sum of squares and the BLAS thread count seen inside
// the worker (the oversubscription guard's evidence: it must be 1).
// Under MPI a rank holds only its block of rows of A, C and the initial C (gemm_rank_rows): a, c
// and c0 then point at row `row0` of their matrix, and tiles are found at (tile row - row0).
struct gemm_params {
  const void* a = nullptr;   // m x k, row-major (rows row0.. of it)
  const void* b = nullptr;   // k x n, row-major (all of it)
  void* c = nullptr;         // m x n, row-major: the result (rows row0.. of it)
  const void* c0 = nullptr;  // m x n initial C, read when beta != 0 (C itself may not be: runs repeat)
  std::uint64_t row0 = 0;    // the first row a, c and c0 hold
  std::uint64_t k = 0;
  kernels::gemm_tiling tiling;
  double alpha = 1, beta = 0;
  std::uint8_t f64 = 1;
  std::uint8_t sum_squares = 1;  // 0: skip each tile's sum of squares (the partials then hold 0)
};
struct gemm_tile_partial {
  double sum_squares = 0;
  std::int32_t blas_threads = 0;
};
struct gemm_kernel {
  using params_type = gemm_params;
  using partial_type = gemm_tile_partial;
  static partial_type run(const params_type& p, chunk_range tiles, worker_context& w);
};

// One fold group per row of tiles.
job<gemm_kernel> gemm_job(const gemm_params& p);

// The rows of C (and of A and the initial C) rank `rank` of `size` computes: its block of the
// job's groups (ranks::share_of over the rows of tiles), as rows [first, last); empty blocks sit at
// m. Rank 0's block always starts at row 0.
struct gemm_rows {
  std::uint64_t first = 0, last = 0;
  std::size_t group_first = 0, group_last = 0;
  std::uint64_t count() const noexcept { return last - first; }
};
gemm_rows gemm_rank_rows(const kernels::gemm_tiling& t, int rank, int size);

// The tiles of groups [groups.first, groups.last) of p (rows of tiles; p holds their rows from
// p.row0), one sum of squares of C per group in group order. `max_blas_threads` (if given) gets
// the largest BLAS thread count a tile saw.
std::vector<double> run_gemm_groups(run_context& ctx, const gemm_params& p, chunk_span groups,
                                    std::span<const memory_region> regions = {},
                                    std::int32_t* max_blas_threads = nullptr);
// The job's fixed fold of the groups' sums of squares: `mine` are this rank's groups (its block,
// in order); rank 0 receives every other rank's, in rank order, and adds all of them in group
// order (fold_rank_blocks), so it gets the bits one rank gets (8 bytes per group travel). Other ranks return the sum
// of their own groups. With one rank: the sum of `mine` in order.
double fold_gemm_group_sums(std::size_t groups, const std::vector<double>& mine);

struct gemm_run_summary {
  double frobenius_norm = 0;
  std::int32_t max_blas_threads = 0;  // the largest BLAS thread count any tile saw
};
// Runs every tile of p on ctx's CPU backend (seq, threads, procs; procs needs a, b, c, c0 in
// shared memory or a mapping made before the pool, and says which it is not). `regions` are what
// the params point into, for procs' check. Rank-local: it never calls MPI (the library call below
// runs on it, so a program that calls gemm() on some ranks only cannot hang).
gemm_run_summary run_gemm_tiles(run_context& ctx, const gemm_params& p, std::span<const memory_region> regions = {});

// The library call for programs that embed Tandem: C = alpha A B + beta C (row-major, contiguous)
// on ctx's CPU backend in tiles of `tile` (0: the default). For procs, A, B and C must be in shared
// memory (tandem::shared_buffer). It is rank-local under MPI: every calling rank computes all of
// C (so rank 0 holds the full C); `tandem gemm` is the distributed one (row blocks, gathered).
void gemm(run_context& ctx, std::uint64_t m, std::uint64_t n, std::uint64_t k, double alpha, const double* a,
          const double* b, double beta, double* c, std::uint64_t tile = 0);
void gemm(run_context& ctx, std::uint64_t m, std::uint64_t n, std::uint64_t k, float alpha, const float* a,
          const float* b, float beta, float* c, std::uint64_t tile = 0);

// The float64 check of C (see gemm_check_result) for the dtype's unit roundoff; `c0` may be null
// when beta is 0. Only the sampled entries in rows [rows.first, rows.last) are checked (p holds
// them from p.row0): a rank checks its own block, and merge_checks of every block's result is the
// check of the whole C, bit for bit (a count and a maximum).
gemm_check_result check_gemm(const gemm_params& p, std::uint64_t m, std::uint64_t n, gemm_dtype dtype,
                             gemm_rows rows = {0, std::uint64_t(-1)});
gemm_check_result merge_checks(const gemm_check_result& x, const gemm_check_result& y);
// merge_checks over every rank (a sum and a maximum: 16 bytes each way); the result on every rank.
gemm_check_result merge_checks_across_ranks(const gemm_check_result& mine);

// The BLAS threads a BLAS call on this thread would use now (openblas_get_num_threads).
int blas_threads_here();

std::unique_ptr<workload> make_gemm_workload(const gemm_options& o);

}  // namespace tandem
