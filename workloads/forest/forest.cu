// The forest on a GPU (forest_gpu.hpp): one thread per row runs forest_margins, the same per-row
// walk the CPU backends run, over the model image uploaded once. Rows go through pinned buffers on
// two streams: while the device walks batch b, the host converts batch b+1 into the other stream's
// pinned buffer and finishes batch b-1's margins.
//
// Built by nvcc it runs on the device; built as C++ in a TANDEM_GPU_EMULATION test build it runs
// on the host through Thrust's CPP system, so the CPU tests cover this file.
#include <thrust/for_each.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "forest_gpu.hpp"
#include "tandem/gpu/thrust.hpp"
#include "tandem/kernels/forest.hpp"

namespace tandem {

namespace {

template <class T, class S>
struct row_margins {
  kernels::forest_view<T, S> m;
  const T* x;
  S* out;
  std::uint32_t features;
  std::uint32_t outputs;
  TANDEM_HD void operator()(std::uint64_t r) const { kernels::forest_margins(m, x + r * features, out + r * outputs); }
};

constexpr unsigned lanes = 2;  // streams in flight

}  // namespace

struct forest_gpu::state {
  gpu::context* ctx = nullptr;
  const forest::compiled_forest* model = nullptr;
  std::size_t batch_rows = 0;
  std::size_t in_size = 4, sum_size = 8;  // bytes per value
  gpu::device_array<std::byte> image;
  struct lane {
    gpu::device_array<std::byte> in, margins;
    gpu::pinned_array<std::byte> host_in, host_margins;
    std::size_t first = 0, rows = 0;  // the batch in flight
    bool busy = false;
  };
  lane lane_[lanes];
  std::vector<double> finished;
};

forest_gpu::forest_gpu(gpu::context& c, const forest::compiled_forest& model, std::size_t batch_rows)
    : s_(std::make_unique<state>()) {
  state& s = *s_;
  s.ctx = &c;
  s.model = &model;
  s.in_size = model.input() == forest::precision::f64 ? 8 : 4;
  s.sum_size = model.sum() == forest::precision::f64 ? 8 : 4;
  // At most 64 MiB of rows and of margins per batch (x2 lanes, device and pinned): a model with
  // 100,000 features gets 167-row batches instead of 26 GB of pinned memory.
  const std::size_t row_bytes = std::max<std::size_t>(std::size_t(model.features()) * s.in_size,
                                                      std::size_t(model.outputs()) * s.sum_size);
  s.batch_rows = std::clamp<std::size_t>(batch_rows, 1, std::max<std::size_t>((std::size_t{64} << 20) / row_bytes, 1));
  const gpu::stream_t s0 = c.stream(0);
  const auto img = model.image();
  s.image = gpu::device_array<std::byte>(c, img.size(), s0);
  c.copy(s.image.data(), img.data(), img.size(), gpu::copy_kind::host_to_device, s0);
  for (unsigned k = 0; k < lanes; ++k) {
    state::lane& l = s.lane_[k];
    const gpu::stream_t st = c.stream(k);
    l.in = gpu::device_array<std::byte>(c, s.batch_rows * model.features() * s.in_size, st);
    l.margins = gpu::device_array<std::byte>(c, s.batch_rows * model.outputs() * s.sum_size, st);
    l.host_in = gpu::pinned_array<std::byte>(c, s.batch_rows * model.features() * s.in_size);
    l.host_margins = gpu::pinned_array<std::byte>(c, s.batch_rows * model.outputs() * s.sum_size);
  }
  s.finished.resize(s.batch_rows * model.outputs());
  c.synchronize(s0);
}

forest_gpu::~forest_gpu() = default;

namespace {

template <class T, class In>
void convert(const In* src, std::size_t n, std::byte* dst) {
  T* d = reinterpret_cast<T*>(dst);
  for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<T>(src[i]);
}

template <class T, class S>
void launch(gpu::context& c, gpu::stream_t st, const forest::compiled_forest& model, const std::byte* image,
            const std::byte* in, std::byte* out, std::size_t rows) {
  const row_margins<T, S> f{model.view<T, S>(image), reinterpret_cast<const T*>(in), reinterpret_cast<S*>(out),
                            model.features(), model.outputs()};
  thrust::for_each(gpu::policy(c, st), gpu::counting<std::uint64_t>(0), gpu::counting<std::uint64_t>(rows), f);
}

}  // namespace

void forest_gpu::run_batches(const void* rows, bool rows_f64, std::size_t n,
                             void (*done)(void*, std::size_t, std::size_t, const double*), void* done_ctx) {
  state& s = *s_;
  gpu::context& c = *s.ctx;
  const std::uint32_t F = s.model->features(), O = s.model->outputs();
  // Finishes the batch in flight on lane l: waits for it and hands its margins on, as double.
  auto drain = [&](state::lane& l, gpu::stream_t st) {
    if (!l.busy) return;
    c.synchronize(st);
    const std::size_t values = l.rows * O;
    if (s.sum_size == 8) std::memcpy(s.finished.data(), l.host_margins.data(), values * sizeof(double));
    else {
      const float* m = reinterpret_cast<const float*>(l.host_margins.data());
      for (std::size_t i = 0; i < values; ++i) s.finished[i] = double(m[i]);
    }
    l.busy = false;
    done(done_ctx, l.first, l.rows, s.finished.data());
  };
  std::size_t batch = 0;
  for (std::size_t r0 = 0; r0 < n; r0 += s.batch_rows, ++batch) {
    const unsigned k = unsigned(batch % lanes);
    state::lane& l = s.lane_[k];
    const gpu::stream_t st = c.stream(k);
    drain(l, st);
    const std::size_t rows_now = std::min(s.batch_rows, n - r0);
    // The input precision conversion every backend makes, on the host, into pinned memory.
    if (rows_f64) {
      const double* src = static_cast<const double*>(rows) + r0 * F;
      if (s.in_size == 8) std::memcpy(l.host_in.data(), src, rows_now * F * 8);
      else convert<float>(src, rows_now * F, l.host_in.data());
    } else {
      const float* src = static_cast<const float*>(rows) + r0 * F;
      if (s.in_size == 4) std::memcpy(l.host_in.data(), src, rows_now * F * 4);
      else convert<double>(src, rows_now * F, l.host_in.data());
    }
    c.copy(l.in.data(), l.host_in.data(), rows_now * F * s.in_size, gpu::copy_kind::host_to_device, st);
    if (s.in_size == 4 && s.sum_size == 4)
      launch<float, float>(c, st, *s.model, s.image.data(), l.in.data(), l.margins.data(), rows_now);
    else if (s.in_size == 4)
      launch<float, double>(c, st, *s.model, s.image.data(), l.in.data(), l.margins.data(), rows_now);
    else
      launch<double, double>(c, st, *s.model, s.image.data(), l.in.data(), l.margins.data(), rows_now);
    c.copy(l.host_margins.data(), l.margins.data(), rows_now * O * s.sum_size, gpu::copy_kind::device_to_host, st);
    l.first = r0;
    l.rows = rows_now;
    l.busy = true;
  }
  // The last batches, in order.
  for (std::size_t b = batch >= lanes ? batch - lanes : 0; b < batch; ++b) drain(s.lane_[b % lanes], c.stream(unsigned(b % lanes)));
}

}  // namespace tandem
