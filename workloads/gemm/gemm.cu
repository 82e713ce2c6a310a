// The gemm GPU engine (gemm_gpu.hpp). Built by nvcc it calls cuBLAS on the context's streams;
// built as C++ in a TANDEM_GPU_EMULATION test build, the three device operations below (a 2-D
// copy, the GEMM, a tile's sum of squares) run on the host, the GEMM through the same CBLAS the CPU
// backends call, so the CPU tests run this file's schedules, panel edges included.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "gemm_blas.hpp"
#include "gemm_gpu.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/kernels/gemm.hpp"

#if !defined(TANDEM_GPU_EMULATED)
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "tandem/gpu/runtime.hpp"
#endif

namespace tandem {

namespace {

// Bytes per element on the device: the inputs (16-bit for bf16/f16) and C (float or double).
std::size_t input_bytes(gemm_dtype t) {
  return t == gemm_dtype::f64 ? 8 : t == gemm_dtype::bf16 || t == gemm_dtype::f16 ? 2 : 4;
}
std::size_t output_bytes(gemm_dtype t) { return t == gemm_dtype::f64 ? 8 : 4; }

// rows x width bytes from src (pitch spitch) to dst (pitch dpitch), on stream s.
void copy_2d(gpu::context& ctx, void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
             std::size_t rows, gpu::copy_kind kind, gpu::stream_t s) {
  if (rows == 0 || width == 0) return;
  if (dpitch == width && spitch == width) {
    ctx.copy(dst, src, rows * width, kind, s);
    return;
  }
#if defined(TANDEM_GPU_EMULATED)
  (void)kind;
  (void)s;
  for (std::size_t r = 0; r < rows; ++r)
    std::memmove(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
#else
  const cudaMemcpyKind k = kind == gpu::copy_kind::host_to_device   ? cudaMemcpyHostToDevice
                           : kind == gpu::copy_kind::device_to_host ? cudaMemcpyDeviceToHost
                                                                    : cudaMemcpyDeviceToDevice;
  TANDEM_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows, k, static_cast<cudaStream_t>(s)));
#endif
}

// C (rows x cols, ld ldc) = alpha A (rows x k, ld lda) B (k x cols, ld ldb) + beta C, row-major, on
// device memory, on stream s.
void device_gemm(gpu::context& ctx, gpu::stream_t s, gemm_dtype t, std::uint64_t rows, std::uint64_t cols,
                 std::uint64_t k, double alpha, const void* a, std::uint64_t lda, const void* b, std::uint64_t ldb,
                 double beta, void* c, std::uint64_t ldc) {
#if defined(TANDEM_GPU_EMULATED)
  (void)ctx;
  (void)s;
  // One BLAS thread: OpenBLAS's bits depend on its thread count, which a launcher's core binding
  // changes (mpirun -np 2 binds each rank to one core), and the emulated device must give the same
  // bits for the same call wherever it runs, as cuBLAS does on one device.
  gemm_blas::single_threaded_scope one_thread;
  if (t == gemm_dtype::bf16 || t == gemm_dtype::f16) {
    // The device's inputs are 16-bit: widen them (exactly) and multiply in float.
    std::vector<float> wa(rows * k), wb(k * cols);
    auto widen = [t](std::uint16_t h) { return t == gemm_dtype::bf16 ? kernels::from_bf16_bits(h) : kernels::from_f16_bits(h); };
    for (std::uint64_t r = 0; r < rows; ++r)
      for (std::uint64_t j = 0; j < k; ++j) wa[r * k + j] = widen(static_cast<const std::uint16_t*>(a)[r * lda + j]);
    for (std::uint64_t r = 0; r < k; ++r)
      for (std::uint64_t j = 0; j < cols; ++j) wb[r * cols + j] = widen(static_cast<const std::uint16_t*>(b)[r * ldb + j]);
    gemm_blas::gemm(false, rows, cols, k, alpha, wa.data(), k, wb.data(), cols, beta, c, ldc);
    return;
  }
  // tf32: emulated in float (the tensor cores' input rounding is not modelled).
  gemm_blas::gemm(t == gemm_dtype::f64, rows, cols, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  auto h = static_cast<cublasHandle_t>(ctx.blas());
  TANDEM_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(s)));
  TANDEM_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  // Row-major C = A B is column-major C^T = B^T A^T: the operands swap, nothing is transposed.
  const int m_ = int(cols), n_ = int(rows), k_ = int(k);
  if (t == gemm_dtype::f64) {
    TANDEM_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m_, n_, k_, &alpha, b, CUDA_R_64F, int(ldb), a,
                                     CUDA_R_64F, int(lda), &beta, c, CUDA_R_64F, int(ldc), CUBLAS_COMPUTE_64F,
                                     CUBLAS_GEMM_DEFAULT));
    return;
  }
  const float alpha_f = float(alpha), beta_f = float(beta);
  const cudaDataType in = t == gemm_dtype::bf16 ? CUDA_R_16BF : t == gemm_dtype::f16 ? CUDA_R_16F : CUDA_R_32F;
  // FP32 stays FP32 (no TF32) unless --dtype tf32 asks for the tensor cores.
  const cublasComputeType_t compute = t == gemm_dtype::tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  TANDEM_CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m_, n_, k_, &alpha_f, b, in, int(ldb), a, in,
                                   int(lda), &beta_f, c, CUDA_R_32F, int(ldc), compute, CUBLAS_GEMM_DEFAULT));
#endif
}

// The Euclidean norm of `count` contiguous elements of C into *out (device memory), on stream s,
// without waiting for it (cuBLAS nrm2 with a device result).
void device_norm(gpu::context& ctx, gpu::stream_t s, bool f64, const void* c, std::uint64_t count, void* out) {
#if defined(TANDEM_GPU_EMULATED)
  (void)ctx;
  (void)s;
  double sum = 0;
  for (std::uint64_t i = 0; i < count; ++i) {
    const double v = f64 ? static_cast<const double*>(c)[i] : double(static_cast<const float*>(c)[i]);
    sum += v * v;
  }
  if (f64) *static_cast<double*>(out) = std::sqrt(sum);
  else *static_cast<float*>(out) = float(std::sqrt(sum));
#else
  auto h = static_cast<cublasHandle_t>(ctx.blas());
  TANDEM_CUBLAS_CHECK(cublasSetStream(h, static_cast<cudaStream_t>(s)));
  TANDEM_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE));
  if (f64) TANDEM_CUBLAS_CHECK(cublasDnrm2(h, int(count), static_cast<const double*>(c), 1, static_cast<double*>(out)));
  else TANDEM_CUBLAS_CHECK(cublasSnrm2(h, int(count), static_cast<const float*>(c), 1, static_cast<float*>(out)));
  TANDEM_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
#endif
}

constexpr std::uint64_t norm_piece = std::uint64_t{1} << 30;

// Device memory free for the schedule when no budget is given.
std::uint64_t free_device_bytes() {
#if defined(TANDEM_GPU_EMULATED)
  return std::uint64_t{1} << 40;  // host memory: the host limit (gemm_memory_limit) already applied
#else
  std::size_t free_b = 0, total = 0;
  TANDEM_CUDA_CHECK(cudaMemGetInfo(&free_b, &total));
  return free_b / 10 * 9;  // cuBLAS's workspace and the pool's rounding need a little
#endif
}

// Page-locks host memory in place for the streamed schedule's asynchronous copies (a read-only
// .npy mapping included); where the system refuses, copies still work, staged by the driver.
struct host_pin {
  void* p = nullptr;
  host_pin() = default;
  host_pin(const void* data, std::size_t bytes, bool read_only) {
#if defined(TANDEM_GPU_EMULATED)
    (void)data;
    (void)bytes;
    (void)read_only;
#else
    if (!data || bytes == 0) return;
    const unsigned flags = read_only ? cudaHostRegisterReadOnly : cudaHostRegisterDefault;
    if (cudaHostRegister(const_cast<void*>(data), bytes, flags) == cudaSuccess) p = const_cast<void*>(data);
    else (void)cudaGetLastError();
#endif
  }
  ~host_pin() {
#if !defined(TANDEM_GPU_EMULATED)
    if (p) cudaHostUnregister(p);
#endif
  }
  host_pin(const host_pin&) = delete;
  host_pin& operator=(const host_pin&) = delete;
};

}  // namespace

struct gemm_gpu::state {
  gpu::context* ctx = nullptr;
  gemm_params p;
  gemm_dtype dtype = gemm_dtype::f64;
  std::uint64_t m = 0, n = 0, k = 0;
  std::size_t ea = 8, ec = 8;
  bool resident = false;
  std::uint64_t rows = 0, cols = 0;  // panel sizes
  // The engine's rows [first, first + held) of C: whole groups (rows of tiles) g0 .. g1.
  std::uint64_t first = 0, held = 0, tile = 1;
  std::size_t g0 = 0, g1 = 0;
  // Group g's norms are slots [slot_first[g - g0], slot_first[g - g0 + 1]) of dnorms, in the
  // order they are folded.
  std::vector<std::size_t> slot_first;
  std::vector<double> sums;
  // 16-bit copies of A and B on the host (bf16, f16), made once.
  std::vector<std::uint16_t> a16, b16;
  const void* a_host = nullptr;
  const void* b_host = nullptr;
  std::unique_ptr<host_pin> pins[4];
  gpu::device_array<std::byte> da, db, dc, dc0, dnorms;

  // Group g's rows, from the engine's first row.
  std::uint64_t group_row(std::size_t g) const noexcept { return g * tile - first; }
  std::uint64_t group_rows(std::size_t g) const noexcept { return std::min(tile, m - g * tile); }
};

gemm_gpu::gemm_gpu(gpu::context& c, const gemm_params& p, gemm_dtype dtype, gemm_gpu_mode mode, std::uint64_t budget,
                   gemm_rows block)
    : s_(std::make_unique<state>()) {
  state& s = *s_;
  s.ctx = &c;
  s.p = p;
  s.dtype = dtype;
  s.m = p.tiling.m;
  s.n = p.tiling.n;
  s.k = p.k;
  s.ea = input_bytes(dtype);
  s.ec = output_bytes(dtype);
  s.tile = std::max<std::uint64_t>(p.tiling.tile, 1);
  s.g0 = std::min<std::size_t>(block.group_first, p.tiling.row_tiles);
  s.g1 = std::max(s.g0, std::min<std::size_t>(block.group_last, p.tiling.row_tiles));
  s.first = std::min<std::uint64_t>(s.g0 * s.tile, s.m);
  s.held = std::min<std::uint64_t>(s.g1 * s.tile, s.m) - s.first;
  if (s.first != p.row0) throw std::logic_error("gemm_gpu: the params' rows do not start at the block's first row");
  const std::uint64_t m = s.held, n = s.n, k = s.k;  // from here, m is this engine's rows
  s.a_host = p.a;
  s.b_host = p.b;
  if (dtype == gemm_dtype::bf16 || dtype == gemm_dtype::f16) {
    auto narrow = [dtype](float x) { return dtype == gemm_dtype::bf16 ? kernels::to_bf16_bits(x) : kernels::to_f16_bits(x); };
    s.a16.resize(m * k);
    s.b16.resize(k * n);
    for (std::uint64_t i = 0; i < m * k; ++i) s.a16[i] = narrow(static_cast<const float*>(p.a)[i]);
    for (std::uint64_t i = 0; i < k * n; ++i) s.b16[i] = narrow(static_cast<const float*>(p.b)[i]);
    s.a_host = s.a16.data();
    s.b_host = s.b16.data();
  }
  if (budget == 0) budget = free_device_bytes();
  const bool with_c0 = p.beta != 0;
  const std::uint64_t whole = (m * k + k * n) * s.ea + m * n * s.ec * (with_c0 ? 2 : 1);
  s.resident = mode == gemm_gpu_mode::resident || (mode == gemm_gpu_mode::automatic && whole <= budget);
  const gpu::stream_t s0 = c.stream(0);
  s.slot_first.assign(1, 0);
  if (s.resident) {
    if (whole > budget)
      throw usage_error("gemm: --gpu-mode resident needs " + std::to_string(whole) + " bytes of device memory; the budget is " +
                        std::to_string(budget) + " (use --gpu-mode streamed)");
    s.rows = s.tile;
    s.cols = n;
    // nrm2 takes an int count: each group's C in pieces of at most 2^30 elements, one norm each.
    for (std::size_t g = s.g0; g < s.g1; ++g)
      s.slot_first.push_back(s.slot_first.back() + (s.group_rows(g) * n + norm_piece - 1) / norm_piece);
    s.da = gpu::device_array<std::byte>(c, m * k * s.ea, s0);
    s.db = gpu::device_array<std::byte>(c, k * n * s.ea, s0);
    s.dc = gpu::device_array<std::byte>(c, m * n * s.ec, s0);
    if (with_c0) {
      s.dc0 = gpu::device_array<std::byte>(c, m * n * s.ec, s0);
      c.copy(s.dc0.data(), p.c0, m * n * s.ec, gpu::copy_kind::host_to_device, s0);
    }
    c.copy(s.da.data(), s.a_host, m * k * s.ea, gpu::copy_kind::host_to_device, s0);
    c.copy(s.db.data(), s.b_host, k * n * s.ea, gpu::copy_kind::host_to_device, s0);
    s.dnorms = gpu::device_array<std::byte>(c, s.slot_first.back() * 8, s0);
    c.synchronize(s0);
    return;
  }
  // Streamed: a panel of B's columns stays on the device while panels of A's rows pass under it on
  // two streams (each with its own A panel and C tile). B whole when it takes at most half the
  // budget; then rows from what is left, at most half a group so that there are panels to overlap.
  // Row panels never straddle two groups (a group's panels start at its first row), and their
  // sizes come from the whole problem's shape, not the engine's rows: a rank's groups are cut as
  // the whole run cuts them.
  s.cols = k * n * s.ea <= budget / 2 ? n : std::max<std::uint64_t>(budget / 2 / std::max<std::uint64_t>(k * s.ea, 1), 1);
  s.cols = std::min(s.cols, n);
  const std::uint64_t left = budget > k * s.cols * s.ea ? budget - k * s.cols * s.ea : 0;
  const std::uint64_t per_row = 2 * (k * s.ea + s.cols * s.ec);
  s.rows = std::min<std::uint64_t>(left / per_row, (s.tile + 1) / 2);
  s.rows = std::min<std::uint64_t>(s.rows, std::max<std::uint64_t>(norm_piece / s.cols, 1));  // nrm2's int count
  if (s.rows == 0)
    throw usage_error("gemm: a device budget of " + std::to_string(budget) + " bytes cannot hold one row of A (" +
                      std::to_string(k * s.ea) + " bytes) on each of two streams beside a column of B");
  const std::uint64_t col_panels = (n + s.cols - 1) / s.cols;
  for (std::size_t g = s.g0; g < s.g1; ++g)
    s.slot_first.push_back(s.slot_first.back() + (s.group_rows(g) + s.rows - 1) / s.rows * col_panels);
  s.pins[0] = std::make_unique<host_pin>(s.a_host, m * k * s.ea, true);
  s.pins[1] = std::make_unique<host_pin>(s.b_host, k * n * s.ea, true);
  s.pins[2] = std::make_unique<host_pin>(p.c, m * n * s.ec, false);
  if (with_c0) s.pins[3] = std::make_unique<host_pin>(p.c0, m * n * s.ec, true);
  s.da = gpu::device_array<std::byte>(c, 2 * s.rows * k * s.ea, s0);
  s.db = gpu::device_array<std::byte>(c, k * s.cols * s.ea, s0);
  s.dc = gpu::device_array<std::byte>(c, 2 * s.rows * s.cols * s.ec, s0);
  s.dnorms = gpu::device_array<std::byte>(c, s.slot_first.back() * 8, s0);
  c.synchronize(s0);
}

gemm_gpu::~gemm_gpu() = default;
bool gemm_gpu::resident() const noexcept { return s_->resident; }
std::uint64_t gemm_gpu::panel_rows() const noexcept { return s_->rows; }
std::uint64_t gemm_gpu::panel_cols() const noexcept { return s_->cols; }
const std::vector<double>& gemm_gpu::group_sums() const noexcept { return s_->sums; }

double gemm_gpu::run(bool to_host) {
  state& s = *s_;
  gpu::context& c = *s.ctx;
  const std::uint64_t m = s.held, n = s.n, k = s.k;
  const bool f64 = s.dtype == gemm_dtype::f64;
  const bool with_c0 = s.p.beta != 0;
  const std::size_t slots = s.slot_first.back();
  std::vector<std::byte> norms(slots * 8);
  if (s.resident) {
    const gpu::stream_t s0 = c.stream(0);
    if (with_c0) c.copy(s.dc.data(), s.dc0.data(), m * n * s.ec, gpu::copy_kind::device_to_device, s0);
    // One GEMM per group: the same calls, so the same bits, whichever block of groups this is.
    for (std::size_t g = s.g0; g < s.g1; ++g) {
      const std::uint64_t r0 = s.group_row(g), rows = s.group_rows(g);
      std::byte* dc = s.dc.data() + r0 * n * s.ec;
      device_gemm(c, s0, s.dtype, rows, n, k, s.p.alpha, s.da.data() + r0 * k * s.ea, k, s.db.data(), n, s.p.beta, dc, n);
      std::size_t slot = s.slot_first[g - s.g0];
      for (std::uint64_t i = 0; i < rows * n; i += norm_piece, ++slot)
        device_norm(c, s0, f64, dc + i * s.ec, std::min(norm_piece, rows * n - i), s.dnorms.data() + slot * 8);
    }
    if (slots) c.copy(norms.data(), s.dnorms.data(), slots * 8, gpu::copy_kind::device_to_host, s0);
    if (to_host && m) c.copy(s.p.c, s.dc.data(), m * n * s.ec, gpu::copy_kind::device_to_host, s0);
    c.synchronize(s0);
  } else {
    const std::uint64_t col_panels = (n + s.cols - 1) / s.cols;
    for (std::uint64_t cp = 0; cp < col_panels; ++cp) {
      const std::uint64_t c0 = cp * s.cols, cols = std::min(s.cols, n - c0);
      // The B panel is one buffer: the previous panel's GEMMs (either stream) must be done with it.
      c.synchronize();
      const gpu::stream_t s0 = c.stream(0);
      copy_2d(c, s.db.data(), cols * s.ea, static_cast<const std::byte*>(s.b_host) + c0 * s.ea, n * s.ea, cols * s.ea, k,
              gpu::copy_kind::host_to_device, s0);
      c.synchronize(s0);
      unsigned which = 0;
      for (std::size_t g = s.g0; g < s.g1; ++g) {
        const std::uint64_t g_rows = s.group_rows(g);
        for (std::uint64_t sub = 0; sub * s.rows < g_rows; ++sub, which ^= 1u) {
          // Alternate streams: in-order streams make reusing a stream's buffers safe without
          // waiting, and the other stream's copies run while this one multiplies.
          const gpu::stream_t st = c.stream(which);
          const std::uint64_t r0 = s.group_row(g) + sub * s.rows, rows = std::min(s.rows, g_rows - sub * s.rows);
          const std::size_t slot = s.slot_first[g - s.g0] + sub * col_panels + cp;
          std::byte* da = s.da.data() + which * s.rows * k * s.ea;
          std::byte* dc = s.dc.data() + which * s.rows * s.cols * s.ec;
          c.copy(da, static_cast<const std::byte*>(s.a_host) + r0 * k * s.ea, rows * k * s.ea, gpu::copy_kind::host_to_device, st);
          if (with_c0)
            copy_2d(c, dc, cols * s.ec, static_cast<const std::byte*>(s.p.c0) + (r0 * n + c0) * s.ec, n * s.ec, cols * s.ec,
                    rows, gpu::copy_kind::host_to_device, st);
          device_gemm(c, st, s.dtype, rows, cols, k, s.p.alpha, da, k, s.db.data(), cols, s.p.beta, dc, cols);
          device_norm(c, st, f64, dc, rows * cols, s.dnorms.data() + slot * 8);
          copy_2d(c, static_cast<std::byte*>(s.p.c) + (r0 * n + c0) * s.ec, n * s.ec, dc, cols * s.ec, cols * s.ec, rows,
                  gpu::copy_kind::device_to_host, st);
        }
      }
    }
    const gpu::stream_t s0 = c.stream(0);
    c.synchronize();
    if (slots) c.copy(norms.data(), s.dnorms.data(), slots * 8, gpu::copy_kind::device_to_host, s0);
    c.synchronize(s0);
  }
  // Each group's norms, squared and summed in slot order; the groups' sums in group order.
  s.sums.assign(s.g1 - s.g0, 0.0);
  double total = 0;
  for (std::size_t g = 0; g < s.sums.size(); ++g) {
    double sum = 0;
    for (std::size_t i = s.slot_first[g]; i < s.slot_first[g + 1]; ++i) {
      double v;
      if (f64) std::memcpy(&v, norms.data() + i * 8, 8);
      else {
        float f;
        std::memcpy(&f, norms.data() + i * 8, 4);
        v = f;
      }
      sum += v * v;
    }
    s.sums[g] = sum;
    total += sum;
  }
  return total;
}

}  // namespace tandem
