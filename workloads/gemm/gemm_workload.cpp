// The gemm workload: its inputs (generated from the seed, or .npy files mapped in place), the run
// on each backend, the check, and C written as .npy.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

#include "gemm_gpu.hpp"
#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/ranks.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/gemm.hpp"

namespace tandem {

namespace {

std::string gib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", double(bytes) / double(std::uint64_t{1} << 30));
  return buf;
}

// One .npy operand: mapped, its header checked.
struct npy_operand {
  mapped_file file;
  npy_array header;
  const void* data = nullptr;
};

npy_operand open_operand(const std::string& path, const char* flag) {
  npy_operand o;
  o.file = mapped_file(path);
  o.header = parse_npy_header(o.file.bytes(), path);
  if (o.header.dtype != npy_dtype::f32 && o.header.dtype != npy_dtype::f64)
    throw usage_error(std::string("gemm: ") + flag + " '" + path + "' has dtype " + npy_descr(o.header.dtype) +
                      " (float32 or float64 needed)");
  if (o.header.shape.size() != 2)
    throw usage_error(std::string("gemm: ") + flag + " '" + path + "' has " + std::to_string(o.header.shape.size()) +
                      " dimensions (a matrix needed)");
  o.data = o.file.data() + o.header.data_offset;
  return o;
}

// Elements [first, first + count) of generated matrix `which` (a rank makes only its rows).
template <class T>
void generate(T* out, std::uint64_t first, std::uint64_t count, std::uint64_t seed, std::uint32_t which) {
  const std::uint64_t key = kernels::gemm_key(seed, which);
  for (std::uint64_t i = 0; i < count; ++i) {
    if constexpr (sizeof(T) == 8) out[i] = kernels::gemm_value_f64(key, first + i);
    else out[i] = kernels::gemm_value_f32(key, first + i);
  }
}
void generate(std::size_t elem, void* out, std::uint64_t first, std::uint64_t count, std::uint64_t seed,
              std::uint32_t which) {
  if (elem == 8) generate(static_cast<double*>(out), first, count, seed, which);
  else generate(static_cast<float*>(out), first, count, seed, which);
}

class gemm_workload final : public workload_of<gemm_result> {
 public:
  explicit gemm_workload(const gemm_options& o) : o_(o) {
    if (o.a.empty() != o.b.empty()) throw usage_error("gemm: --a and --b go together (or neither: generated inputs)");
    if (!o.a.empty()) {
      a_ = open_operand(o.a, "--a");
      b_ = open_operand(o.b, "--b");
      if (a_.header.dtype != b_.header.dtype)
        throw usage_error("gemm: dtype mismatch: --a '" + o.a + "' is " + npy_descr(a_.header.dtype) + ", --b '" + o.b +
                          "' is " + npy_descr(b_.header.dtype));
      m_ = a_.header.shape[0];
      k_ = a_.header.shape[1];
      n_ = b_.header.shape[1];
      if (b_.header.shape[0] != k_)
        throw usage_error("gemm: shapes do not match: A is " + std::to_string(m_) + " x " + std::to_string(k_) +
                          ", B is " + std::to_string(b_.header.shape[0]) + " x " + std::to_string(n_) +
                          " (B needs " + std::to_string(k_) + " rows)");
      const gemm_dtype files = a_.header.dtype == npy_dtype::f64 ? gemm_dtype::f64 : gemm_dtype::f32;
      dtype_ = o.dtype.empty() ? files : parse_gemm_dtype(o.dtype);
      if (gemm_holds_f64(dtype_) != (files == gemm_dtype::f64))
        throw usage_error(std::string("gemm: dtype mismatch: --dtype ") + to_string(dtype_) + " but the .npy files hold " +
                          npy_descr(a_.header.dtype));
    } else {
      m_ = o.m;
      n_ = o.n;
      k_ = o.k;
      dtype_ = o.dtype.empty() ? gemm_dtype::f64 : parse_gemm_dtype(o.dtype);
    }
    if (m_ == 0 || n_ == 0 || k_ == 0)
      throw usage_error("gemm: every dimension must be at least 1 (m = " + std::to_string(m_) + ", n = " +
                        std::to_string(n_) + ", k = " + std::to_string(k_) + ")");
    if (m_ > gemm_max_dim || n_ > gemm_max_dim || k_ > gemm_max_dim)
      throw usage_error("gemm: every dimension must be at most 2^31 - 1 = 2147483647 (BLAS's int)");
    if (!std::isfinite(o.alpha) || !std::isfinite(o.beta)) throw usage_error("gemm: --alpha and --beta must be finite");
    elem_ = gemm_holds_f64(dtype_) ? 8 : 4;
    tile_ = o.tile ? o.tile : gemm_default_tile(m_, n_);
    if (tile_ > gemm_max_dim) tile_ = gemm_max_dim;
    // This rank's block of rows (all of them with one rank): what it generates, holds and computes.
    rows_ = gemm_rank_rows(kernels::make_gemm_tiling(m_, n_, tile_), ranks::world().rank, ranks::world().size);
    // Rank 0 gathers the whole C for --output (its own block starts at row 0).
    c_rows_ = ranks::is_root() && !o.output.empty() ? m_ : rows_.count();
    // What this rank holds, times the ranks on its node (they share its memory). In long double:
    // m * n * 8 overflows 64 bits long before any limit.
    const long double held = (long double)rows_.count();
    const long double values = (o.a.empty() ? held * k_ + (long double)k_ * n_ : 0.0L) + (long double)c_rows_ * n_ +
                               (o.beta != 0 ? held * n_ : 0.0L);
    const long double bytes = values * elem_ * ranks::world().local_size;
    if (bytes > (long double)gemm_memory_limit())
      throw usage_error("gemm: A, B and C need " + gib(std::uint64_t(std::min<long double>(bytes, 1e19L))) +
                        (ranks::world().local_size > 1 ? " (on this node's ranks together)" : "") +
                        "; the limit is 3/4 of this machine's memory, " + gib(gemm_memory_limit()));
    if (!o.output.empty()) {
      ordered_file_sink::check(o.output);
      ordered_file_sink::check_not_input(o.output, o.a, "--a");
      ordered_file_sink::check_not_input(o.output, o.b, "--b");
    }
  }

  std::string name() const override { return "gemm"; }
  nlohmann::json params() const override {
    return {{"m", m_},       {"n", n_},         {"k", k_},        {"dtype", to_string(dtype_)},
            {"alpha", o_.alpha}, {"beta", o_.beta}, {"tile", tile_},
            {"inputs", o_.a.empty() ? std::string("generated") : o_.a + " x " + o_.b},
            {"check", o_.check}};
  }
  work_amount work() const override {
    const double flops = 2.0 * double(m_) * double(n_) * double(k_);
    return {flops, "flop/s", flops, dtype_ != gemm_dtype::f64};
  }
  // Threads from two 256-tiles' work; the GPU from about a 2000^3 product (~50 ms on 2 cores).
  auto_thresholds thresholds() const override { return {2.0 * 2 * 256.0 * 256 * 256, 1.6e10}; }
  backend_status supports(backend b) const override {
    if (b == backend::gpu && !TANDEM_WITH_GPU_CODE) return backend_status::no("this build of Tandem has no GPU code");
    if (b != backend::gpu && !(dtype_ == gemm_dtype::f32 || dtype_ == gemm_dtype::f64))
      return backend_status::no(std::string("--dtype ") + to_string(dtype_) +
                                " is a GPU tensor-core format; the CPU backends take f32 or f64");
    return backend_status::yes();
  }
  // CPU backends give the same bits for a given tile; cuBLAS sums in another order. Each result is
  // within gamma_{k+2} (|A||B| + |beta||C0|) of the exact one entrywise; for the Frobenius norm of C
  // that is about sqrt(k) times the bound relative to ||C|| on data of random signs (the sums
  // cancel, the bound's |A||B| does not), and twice that between two backends.
  tolerance agreement_tolerance() const override {
    const double u = dtype_ == gemm_dtype::f64 ? 0x1p-53 : 0x1p-24;
    const double u_in = dtype_ == gemm_dtype::bf16 ? 0x1p-8 : dtype_ == gemm_dtype::tf32 || dtype_ == gemm_dtype::f16 ? 0x1p-11 : 0;
    const double rel = std::min(0.5, 2 * kernels::gemm_error_bound(k_, u, u_in) * std::sqrt(double(k_)));
    return {rel, "cuBLAS and OpenBLAS sum the k products in different orders; each is within gamma_(k+2) of the exact "
                 "product (CPU backends: the same bits for a given tile)",
            // --check's measured error differs with the order; each backend's own check decides.
            {"max_rel_error", "checked_entries"}};
  }

  void prepare(run_context& ctx) override {
    if (!ready_) {
      // This rank's rows of A and the initial C, all of B (the same values the whole run makes
      // for them: each is a hash of its index).
      const std::uint64_t held = rows_.count();
      if (o_.a.empty()) {
        a_mem_ = shared_buffer(held * k_ * elem_);
        b_mem_ = shared_buffer(k_ * n_ * elem_);
        generate(elem_, a_mem_.data(), rows_.first * k_, held * k_, o_.seed, 0);
        generate(elem_, b_mem_.data(), 0, k_ * n_, o_.seed, 1);
      }
      c_ = shared_buffer(c_rows_ * n_ * elem_);
      if (o_.beta != 0) {
        c0_ = shared_buffer(held * n_ * elem_);
        generate(elem_, c0_.data(), rows_.first * n_, held * n_, o_.seed, 2);
      }
      ready_ = true;
    }
    if (ctx.which == backend::gpu && ctx.gpu)
      gpu_ = std::make_unique<gemm_gpu>(*ctx.gpu, params_of(), dtype_, o_.gpu_mode, o_.gpu_memory, rows_);
  }
  void release(run_context&) override { gpu_.reset(); }

  gemm_result compute(run_context& ctx) override {
    const gemm_params p = params_of();
    gemm_result r;
    r.m = m_;
    r.n = n_;
    r.k = k_;
    r.tile = tile_;
    r.dtype = dtype_;
    // This rank's groups (rows of tiles): one sum of squares each, folded on rank 0 in group order.
    const std::size_t groups = p.tiling.row_tiles;
    if (ctx.which == backend::gpu) {
      if (!gpu_) throw std::logic_error("gemm: the gpu backend was not prepared");
      gpu_->run(o_.check || !o_.output.empty());
      r.frobenius_norm = std::sqrt(fold_gemm_group_sums(groups, gpu_->group_sums()));
    } else {
      const std::uint64_t held = rows_.count();
      const memory_region regions[] = {{p.a, held * k_ * elem_, "A"},
                                       {p.b, k_ * n_ * elem_, "B"},
                                       {p.c, c_rows_ * n_ * elem_, "C"},
                                       {p.c0, p.c0 ? held * n_ * elem_ : 0, "the initial C"}};
      r.frobenius_norm =
          std::sqrt(fold_gemm_group_sums(groups, run_gemm_groups(ctx, p, {rows_.group_first, rows_.group_last}, regions)));
    }
    if (o_.check) {
      // Each rank checks the sampled entries in its rows; the counts add and the errors' maximum
      // is taken over ranks: the whole check's numbers, on every rank, without moving C.
      r.check = merge_checks_across_ranks(check_gemm(p, m_, n_, dtype_, rows_));
      // A wrong product is a failed run (exit 1), its numbers in the one line that says so (from
      // rank 0: the others carry on, and rank 0's failure ends them).
      if (!r.check->passed && ranks::is_root()) {
        char line[256];
        std::snprintf(line, sizeof line, "gemm: check failed on %s: max relative error %.3g > bound %.3g (%llu entries, k = %llu, %s)",
                      std::string(to_string(ctx.which)).c_str(), r.check->max_rel_error, r.check->bound,
                      (unsigned long long)r.check->entries, (unsigned long long)k_, to_string(dtype_));
        throw std::runtime_error(line);
      }
    }
    if (!o_.output.empty()) {
      gather_c();
      if (ranks::is_root()) write_output();
    }
    return r;
  }

 private:
  gemm_params params_of() const {
    gemm_params p;
    // A .npy A is mapped whole; this rank reads only its rows of it.
    p.a = o_.a.empty() ? a_mem_.data() : static_cast<const std::byte*>(a_.data) + rows_.first * k_ * elem_;
    p.b = o_.b.empty() ? b_mem_.data() : b_.data;
    p.c = c_.data();
    p.c0 = o_.beta != 0 ? c0_.data() : nullptr;
    p.row0 = rows_.first;
    p.k = k_;
    p.tiling = kernels::make_gemm_tiling(m_, n_, tile_);
    p.alpha = o_.alpha;
    p.beta = o_.beta;
    p.f64 = elem_ == 8;
    return p;
  }

  // Rank 0 receives every other rank's block of rows of C, in rank order, into its full C (each
  // block in pieces below 2^31 bytes: ranks::receive); the others send theirs.
  void gather_c() {
    if (!ranks::distributed()) return;
    const kernels::gemm_tiling t = kernels::make_gemm_tiling(m_, n_, tile_);
    const int size = ranks::world().size;
    if (!ranks::is_root()) {
      if (rows_.count()) ranks::send(0, c_.data(), rows_.count() * n_ * elem_);
      return;
    }
    for (int r = 1; r < size; ++r) {
      const gemm_rows theirs = gemm_rank_rows(t, r, size);
      if (theirs.count())
        ranks::receive(r, static_cast<std::byte*>(c_.data()) + theirs.first * n_ * elem_, theirs.count() * n_ * elem_);
    }
  }

  void write_output() const {
    ordered_file_sink sink(o_.output);
    const std::uint64_t shape[] = {m_, n_};
    sink.write(npy_header(elem_ == 8 ? npy_dtype::f64 : npy_dtype::f32, shape));
    sink.write(c_.data(), m_ * n_ * elem_);
    sink.commit();
  }

  gemm_options o_;
  gemm_dtype dtype_ = gemm_dtype::f64;
  std::uint64_t m_ = 0, n_ = 0, k_ = 0, tile_ = 1;
  std::size_t elem_ = 8;
  gemm_rows rows_;              // this rank's rows (all of them with one rank)
  std::uint64_t c_rows_ = 0;    // rows of C held: rows_, or all of them on rank 0 with --output
  bool ready_ = false;          // inputs made (prepare runs once per backend)
  npy_operand a_, b_;
  shared_buffer a_mem_, b_mem_, c_, c0_;
  std::unique_ptr<gemm_gpu> gpu_;
};

}  // namespace

std::unique_ptr<workload> make_gemm_workload(const gemm_options& o) { return std::make_unique<gemm_workload>(o); }

}  // namespace tandem
