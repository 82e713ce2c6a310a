// The gemm job on the CPU backends: tiles of C, one single-threaded BLAS call each, written in
// place; the fold sums the tiles' squares in the job's fixed order.
#include "tandem/workloads/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "gemm_blas.hpp"
#include "tandem/errors.hpp"
#include "tandem/machine.hpp"
#include "tandem/ranks.hpp"

namespace tandem {

const char* to_string(gemm_dtype t) noexcept {
  switch (t) {
    case gemm_dtype::f32: return "f32";
    case gemm_dtype::f64: return "f64";
    case gemm_dtype::tf32: return "tf32";
    case gemm_dtype::bf16: return "bf16";
    case gemm_dtype::f16: return "f16";
  }
  return "?";
}

gemm_dtype parse_gemm_dtype(const std::string& s) {
  for (gemm_dtype t : {gemm_dtype::f32, gemm_dtype::f64, gemm_dtype::tf32, gemm_dtype::bf16, gemm_dtype::f16})
    if (s == to_string(t)) return t;
  throw usage_error("gemm: --dtype must be f32, f64, tf32, bf16 or f16 (got '" + s + "')");
}

std::uint64_t gemm_memory_limit() {
  const std::uint64_t physical = physical_memory_bytes();
  return (physical > 0 ? physical : std::uint64_t{1} << 32) / 4 * 3;
}

std::uint64_t gemm_default_tile(std::uint64_t m, std::uint64_t n) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  const auto side = std::uint64_t(std::ceil(std::sqrt(double(cores))));
  const std::uint64_t longest = std::max<std::uint64_t>({m, n, 1});
  return std::min(std::max<std::uint64_t>((longest + side - 1) / side, 256), std::max<std::uint64_t>(longest, 1));
}

int blas_threads_here() { return gemm_blas::threads(); }

namespace {
// A tile's sum of squares in double, in a fixed order that does not depend on who runs the tile:
// eight running sums (column j goes to sum j mod 8), added pairwise at the end. Eight independent
// chains let the compiler use vector adds, so the pass runs at memory speed (a 2000 x 2000 f64
// tile: 3.7 ms, against 5 ms for one dependent chain and about 600 ms for the tile's GEMM).
template <class T>
double tile_sum_squares(const T* c, std::uint64_t rows, std::uint64_t cols, std::uint64_t ld) {
  double acc[8] = {};
  const std::uint64_t whole = cols / 8 * 8;
  for (std::uint64_t r = 0; r < rows; ++r) {
    const T* row = c + r * ld;
    for (std::uint64_t j = 0; j < whole; j += 8)
      for (int l = 0; l < 8; ++l) {
        const double v = double(row[j + std::uint64_t(l)]);
        acc[l] += v * v;
      }
    for (std::uint64_t j = whole; j < cols; ++j) {
      const double v = double(row[j]);
      acc[j - whole] += v * v;
    }
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
}  // namespace

gemm_kernel::partial_type gemm_kernel::run(const params_type& p, chunk_range tiles, worker_context&) {
  // procs workers already run BLAS with one thread (procs_worker); the threads backend's caller
  // set it for the run (single_threaded_scope). Enforced here too, so a kernel run by any other
  // executor cannot oversubscribe: the setting is one integer, read before every call anyway.
  if (gemm_blas::threads() != 1) gemm_blas::set_threads(1);
  gemm_tile_partial out;
  out.blas_threads = gemm_blas::threads();
  const std::size_t elem = p.f64 ? sizeof(double) : sizeof(float);
  const std::uint64_t n = p.tiling.n;
  for (std::size_t t = tiles.begin; t < tiles.end; ++t) {
    const kernels::gemm_tile tl = kernels::tile_of(p.tiling, t);
    const std::uint64_t held = tl.row0 - p.row0;  // in the rows p holds
    auto* c = static_cast<std::byte*>(p.c) + (held * n + tl.col0) * elem;
    if (p.beta != 0 && p.c0 && p.c0 != p.c)  // in place (the library call): C is its own C0
      for (std::uint64_t r = 0; r < tl.rows; ++r)
        std::memcpy(c + r * n * elem, static_cast<const std::byte*>(p.c0) + ((held + r) * n + tl.col0) * elem,
                    tl.cols * elem);
    const auto* a = static_cast<const std::byte*>(p.a) + held * p.k * elem;
    const auto* b = static_cast<const std::byte*>(p.b) + tl.col0 * elem;
    gemm_blas::gemm(p.f64 != 0, tl.rows, tl.cols, p.k, p.alpha, a, p.k, b, n, p.beta, c, n);
    if (p.sum_squares)
      out.sum_squares += p.f64 ? tile_sum_squares(reinterpret_cast<const double*>(c), tl.rows, tl.cols, n)
                               : tile_sum_squares(reinterpret_cast<const float*>(c), tl.rows, tl.cols, n);
  }
  return out;
}

job<gemm_kernel> gemm_job(const gemm_params& p) {
  job<gemm_kernel> j;
  j.params = p;
  j.plan = chunk_plan(p.tiling.row_tiles * p.tiling.col_tiles, 1);
  j.group_chunks = std::max<std::size_t>(p.tiling.col_tiles, 1);
  return j;
}

gemm_rows gemm_rank_rows(const kernels::gemm_tiling& t, int rank, int size) {
  const ranks::share s = ranks::share_of(std::size_t(t.row_tiles), rank, size);
  gemm_rows r;
  r.group_first = s.first;
  r.group_last = s.last;
  r.first = std::min<std::uint64_t>(s.first * t.tile, t.m);
  r.last = std::min<std::uint64_t>(s.last * t.tile, t.m);
  return r;
}

std::vector<double> run_gemm_groups(run_context& ctx, const gemm_params& p, chunk_span groups,
                                    std::span<const memory_region> regions, std::int32_t* max_blas_threads) {
  job<gemm_kernel> j = gemm_job(p);
  j.regions = regions;
  std::vector<double> sums;
  if (j.plan.items() == 0 || groups.first >= groups.last) return sums;
  sums.reserve(groups.size());
  gemm_blas::single_threaded_scope one_thread;
  std::int32_t threads = 0;
  // Partials are 16 bytes: every group of the job in one window up to 4096 rows of tiles.
  run_groups(
      ctx, j, 4096,
      [&](std::size_t, std::span<const gemm_tile_partial> tiles) {
        double row = 0;
        for (const gemm_tile_partial& t : tiles) {
          row += t.sum_squares;
          threads = std::max(threads, t.blas_threads);
        }
        sums.push_back(row);
      },
      groups);
  if (max_blas_threads) *max_blas_threads = threads;
  return sums;
}

double fold_gemm_group_sums(std::size_t groups, const std::vector<double>& mine) {
  // This rank's block is already computed (`mine`, in group order): fold_rank_blocks (job.hpp)
  // hands it over, and rank 0 adds every group's sum in group order.
  double total = 0;
  fold_rank_blocks<double>(
      groups,
      [&](std::size_t first, std::size_t, auto&& emit) {
        for (std::size_t i = 0; i < mine.size(); ++i) emit(first + i, mine[i]);
      },
      [&](std::size_t, double s) { total += s; });
  if (ranks::is_root()) return total;
  for (double s : mine) total += s;  // another rank: the sum of its own groups
  return total;
}

gemm_run_summary run_gemm_tiles(run_context& ctx, const gemm_params& p, std::span<const memory_region> regions) {
  gemm_run_summary s;
  double total = 0;
  for (double row : run_gemm_groups(ctx, p, {0, std::size_t(p.tiling.row_tiles)}, regions, &s.max_blas_threads))
    total += row;
  s.frobenius_norm = std::sqrt(total);
  return s;
}

namespace {
template <class T>
void gemm_on(run_context& ctx, std::uint64_t m, std::uint64_t n, std::uint64_t k, double alpha, const T* a, const T* b,
             double beta, T* c, std::uint64_t tile) {
  if (m == 0 || n == 0) return;
  if (m > gemm_max_dim || n > gemm_max_dim || k > gemm_max_dim)
    throw usage_error("gemm: dimensions must be at most 2^31 - 1 (BLAS's int)");
  gemm_params p;
  p.a = a;
  p.b = b;
  p.c = c;
  p.c0 = c;  // in place: each tile reads its own C before writing it
  p.k = k;
  p.tiling = kernels::make_gemm_tiling(m, n, tile ? tile : gemm_default_tile(m, n));
  p.alpha = alpha;
  p.beta = beta;
  p.f64 = sizeof(T) == 8;
  p.sum_squares = 0;  // the library call returns C alone: no pass over it for a norm nobody reads
  const memory_region regions[] = {{a, m * k * sizeof(T), "A"}, {b, k * n * sizeof(T), "B"}, {c, m * n * sizeof(T), "C"}};
  run_gemm_tiles(ctx, p, regions);
}
}  // namespace

void gemm(run_context& ctx, std::uint64_t m, std::uint64_t n, std::uint64_t k, double alpha, const double* a,
          const double* b, double beta, double* c, std::uint64_t tile) {
  gemm_on(ctx, m, n, k, alpha, a, b, beta, c, tile);
}
void gemm(run_context& ctx, std::uint64_t m, std::uint64_t n, std::uint64_t k, float alpha, const float* a,
          const float* b, float beta, float* c, std::uint64_t tile) {
  gemm_on(ctx, m, n, k, alpha, a, b, beta, c, tile);
}

nlohmann::json result_json(const gemm_result& r) {
  nlohmann::json j = {{"m", r.m},         {"n", r.n},
                      {"k", r.k},         {"dtype", to_string(r.dtype)},
                      {"tile", r.tile},   {"frobenius_norm", r.frobenius_norm}};
  if (r.check) {
    j["max_rel_error"] = r.check->max_rel_error;
    j["bound"] = r.check->bound;
    j["checked_entries"] = r.check->entries;
    j["check_passed"] = r.check->passed;
  }
  return j;
}

}  // namespace tandem
