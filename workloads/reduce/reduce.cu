// The reduce workload on a GPU (reduce_gpu.hpp). One thread per (chunk, lane): thread 32c + l
// runs lane l of chunk c over elements l, l + 32, ... of the chunk, the loop of
// kernels::chunk_partial_scalar, so a warp reads 32 consecutive elements at a time (coalesced) and
// the lanes are the CPU's lanes. A second pass folds each chunk's 32 lane states in lane order
// (partial_from_lanes), and only the partials (96 bytes per 2^15 elements) come back to the host,
// where the same fold as the CPU's finishes the job.
//
// Data that fits the device is uploaded once, in prepare. Larger host data is streamed: batches of
// whole chunks go through three pinned buffers and three streams, so that the host's copy into
// pinned memory, the transfer and the kernels of different batches overlap.
//
// Built by nvcc it runs on the device; built as C++ in a TANDEM_GPU_EMULATION test build it runs
// on the host through Thrust's CPP system, so the CPU tests cover this file.
#include <thrust/for_each.h>
#include <thrust/reduce.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "reduce_gpu.hpp"
#include "tandem/workloads/exact_reduce.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/gpu/thrust.hpp"

namespace tandem::detail {

namespace {

using kernels::lane_state;
using kernels::reduce_lanes;
using kernels::reduce_partial;

template <std::uint32_t Pass, class In>
struct run_lane {
  const In* x;           // the batch's first chunk
  std::uint64_t n;       // elements in the batch
  lane_state<double>* lanes;
  TANDEM_HD void operator()(std::uint64_t k) const {
    const std::uint64_t c = k / reduce_lanes;
    const unsigned l = unsigned(k % reduce_lanes);
    const std::uint64_t begin = c * reduce_chunk_elements;
    const std::uint64_t end = begin + reduce_chunk_elements < n ? begin + reduce_chunk_elements : n;
    lane_state<double> st;
    kernels::lane_init(st, 0.0, 1.0 / 0.0);
    const double shift = double(x[begin]);
    for (std::uint64_t i = begin + l; i < end; i += reduce_lanes) kernels::lane_step<Pass>(st, double(x[i]), shift);
    lanes[k] = st;
  }
};

struct fold_lanes {
  const void* x;
  bool f32;
  std::uint64_t n;
  const lane_state<double>* lanes;
  reduce_partial* out;
  TANDEM_HD void operator()(std::uint64_t c) const {
    const std::uint64_t begin = c * reduce_chunk_elements;
    const std::uint64_t end = begin + reduce_chunk_elements < n ? begin + reduce_chunk_elements : n;
    const double shift = f32 ? double(static_cast<const float*>(x)[begin]) : static_cast<const double*>(x)[begin];
    out[c] = kernels::partial_from_lanes(lanes + c * reduce_lanes, end - begin, shift);
  }
};

// --exact: one thread per chunk adds its elements into the chunk's exact accumulators (integer
// limbs: any order gives the same value, so the CPU's blocked fast path and this plain loop agree
// bit for bit once the host rounds them).
template <class In>
struct exact_chunk {
  const In* x;
  std::uint64_t n;
  bool squares;
  exact_moments* out;
  TANDEM_HD void operator()(std::uint64_t c) const {
    const std::uint64_t begin = c * reduce_chunk_elements;
    const std::uint64_t end = begin + reduce_chunk_elements < n ? begin + reduce_chunk_elements : n;
    exact_moments& m = out[c];
    m.sum.clear();
    m.sumsq.clear();
    m.n = end - begin;
    for (std::uint64_t i = begin; i < end; ++i) {
      m.sum.add(double(x[i]));
      if (squares) m.sumsq.add_square(double(x[i]));
    }
  }
};

template <class In>
void launch(gpu::context& ctx, gpu::stream_t s, std::uint32_t pass, const In* x, std::uint64_t n,
            lane_state<double>* lanes, reduce_partial* out) {
  using namespace kernels;
  const std::uint64_t chunks = (n + reduce_chunk_elements - 1) / reduce_chunk_elements;
  const gpu::counting<std::uint64_t> k(0);
  const auto pol = gpu::policy(ctx, s);
  switch (pass) {
    case pass_sum: thrust::for_each(pol, k, k + chunks * reduce_lanes, run_lane<pass_sum, In>{x, n, lanes}); break;
    case pass_sumsq: thrust::for_each(pol, k, k + chunks * reduce_lanes, run_lane<pass_sumsq, In>{x, n, lanes}); break;
    case pass_minmax:
      thrust::for_each(pol, k, k + chunks * reduce_lanes, run_lane<pass_minmax, In>{x, n, lanes});
      break;
    case pass_var:
      thrust::for_each(pol, k, k + chunks * reduce_lanes, run_lane<pass_var, In>{x, n, lanes});
      break;
    default:
      thrust::for_each(pol, k, k + chunks * reduce_lanes,
                       run_lane<pass_sum | pass_sumsq | pass_var | pass_minmax, In>{x, n, lanes});
  }
  thrust::for_each(pol, k, k + chunks, fold_lanes{x, sizeof(In) == 4, n, lanes, out});
}

constexpr unsigned streams = 3;
constexpr std::uint64_t default_batch = std::uint64_t{1} << 24;  // elements: 128 MiB of doubles

}  // namespace

struct reduce_gpu::state {
  gpu::context* ctx = nullptr;
  reduce_input in;
  std::size_t item = 8;
  bool resident = false;
  std::uint64_t batch = default_batch;  // elements per streamed batch, a whole number of chunks
  gpu::device_array<std::byte> data;    // resident: all of it
  gpu::pinned_array<std::byte> pinned_copy;  // copy_in_from_pinned's source
  struct lane {
    gpu::device_array<std::byte> data;  // streamed: one batch
    gpu::pinned_array<std::byte> staging;
    gpu::device_array<lane_state<double>> lanes;
    gpu::device_array<std::byte> partials;       // the batch's chunk partials (either kind)
    gpu::pinned_array<std::byte> host_partials;
    std::uint64_t pending_first = 0, pending = 0;  // chunks (of the span) whose partials are in flight
  };
  lane lane_[streams];
  std::uint64_t partial_capacity = 0;  // bytes of partials each lane holds

  // Room for `bytes` of partials in every lane (exact partials are 1.7 KiB per chunk, made on first use).
  void reserve_partials(std::uint64_t bytes) {
    if (bytes <= partial_capacity) return;
    const unsigned used = resident ? 1 : streams;
    for (unsigned i = 0; i < used; ++i) {
      lane_[i].partials = gpu::device_array<std::byte>(*ctx, bytes, ctx->stream(i));
      if (!resident) lane_[i].host_partials = gpu::pinned_array<std::byte>(*ctx, bytes);
    }
    partial_capacity = bytes;
  }

  // Runs `launch(stream, x, n, lane)` on every batch of chunks `span` and brings each batch's
  // chunk partials (`size` bytes each) back into out, in chunk order.
  template <class Launch>
  void run(chunk_span span, std::size_t size, void* out, Launch&& launch) {
    if (span.size() == 0) return;
    gpu::context& c = *ctx;
    auto* dst = static_cast<std::byte*>(out);
    const std::uint64_t first = span.first * reduce_chunk_elements;
    const std::uint64_t last = std::min<std::uint64_t>(in.n, span.last * reduce_chunk_elements);
    // Under MPI the engine holds (or streams) this rank's elements only: in.first is element 0 here.
    if (first < in.first || last > in.held_last())
      throw std::logic_error("reduce_gpu: chunks [" + std::to_string(span.first) + ", " + std::to_string(span.last) +
                             ") lie outside the elements the engine was given");
    if (resident) {
      reserve_partials(span.size() * size);
      const gpu::stream_t st = c.stream(0);
      launch(st, data.data() + (first - in.first) * item, last - first, lane_[0]);
      c.copy(dst, lane_[0].partials.data(), span.size() * size, gpu::copy_kind::device_to_host, st);
      c.synchronize(st);
      return;
    }
    reserve_partials(batch / reduce_chunk_elements * size);
    // Streamed: batch b on stream b % 3. Before reusing a stream's buffers, wait for that stream
    // (its previous batch has then left the pinned buffer and its partials have arrived); the
    // other two streams keep the device busy meanwhile.
    const std::byte* host = static_cast<const std::byte*>(in.data);
    auto drain = [&](lane& l, gpu::stream_t st) {
      c.synchronize(st);
      if (l.pending) std::memcpy(dst + l.pending_first * size, l.host_partials.data(), l.pending * size);
      l.pending = 0;
    };
    std::uint64_t b = 0;
    for (std::uint64_t e0 = first; e0 < last; e0 += batch, ++b) {
      const std::uint64_t n = std::min(batch, last - e0);
      lane& l = lane_[b % streams];
      const gpu::stream_t st = c.stream(unsigned(b % streams));
      drain(l, st);
      std::memcpy(l.staging.data(), host + (e0 - in.first) * item, n * item);
      c.copy(l.data.data(), l.staging.data(), n * item, gpu::copy_kind::host_to_device, st);
      launch(st, l.data.data(), n, l);
      l.pending_first = (e0 - first) / reduce_chunk_elements;
      l.pending = (n + reduce_chunk_elements - 1) / reduce_chunk_elements;
      c.copy(l.host_partials.data(), l.partials.data(), l.pending * size, gpu::copy_kind::device_to_host, st);
    }
    for (unsigned i = 0; i < streams; ++i) drain(lane_[i], c.stream(i));
  }
};

reduce_gpu::reduce_gpu(gpu::context& c, const reduce_input& in, std::uint64_t resident_limit, std::uint64_t stream_batch)
    : s_(std::make_unique<state>()) {
  state& s = *s_;
  s.ctx = &c;
  s.in = in;
  s.item = in.dtype == reduce_dtype::f32 ? 4 : 8;
  if (stream_batch != 0)
    s.batch = std::max<std::uint64_t>(1, stream_batch / reduce_chunk_elements) * reduce_chunk_elements;
  const std::uint64_t bytes = in.held() * s.item;
  std::uint64_t limit = resident_limit;
  if (limit == 0) {
    for (const gpu::device_info& d : gpu::discover().devices)
      if (d.index == c.device()) limit = d.total_memory / 2;
    if (limit == 0) limit = std::uint64_t{8} << 30;
  }
  s.resident = bytes <= limit;
  const gpu::stream_t s0 = c.stream(0);
  if (s.resident) {
    // Lane states for every chunk at once: 2.5 KiB per 2^15 elements.
    const std::uint64_t chunks = (in.held() + reduce_chunk_elements - 1) / reduce_chunk_elements;
    s.data = gpu::device_array<std::byte>(c, bytes, s0);
    if (bytes) c.copy(s.data.data(), in.data, bytes, gpu::copy_kind::host_to_device, s0);
    s.lane_[0].lanes = gpu::device_array<lane_state<double>>(c, chunks * reduce_lanes, s0);
    s.reserve_partials(chunks * sizeof(reduce_partial));
    c.synchronize(s0);
    return;
  }
  const std::uint64_t chunks = s.batch / reduce_chunk_elements;
  for (unsigned i = 0; i < streams; ++i) {
    state::lane& l = s.lane_[i];
    const gpu::stream_t si = c.stream(i);
    l.data = gpu::device_array<std::byte>(c, s.batch * s.item, si);
    l.staging = gpu::pinned_array<std::byte>(c, s.batch * s.item);
    l.lanes = gpu::device_array<lane_state<double>>(c, chunks * reduce_lanes, si);
  }
  s.reserve_partials(chunks * sizeof(reduce_partial));
}

reduce_gpu::~reduce_gpu() = default;

bool reduce_gpu::resident() const noexcept { return s_->resident; }

void reduce_gpu::partials(std::uint32_t pass, chunk_span span, reduce_partial* out) {
  state& s = *s_;
  s.run(span, sizeof(reduce_partial), out, [&](gpu::stream_t st, const std::byte* x, std::uint64_t n, state::lane& l) {
    auto* p = reinterpret_cast<reduce_partial*>(l.partials.data());
    if (s.item == 4) launch(*s.ctx, st, pass, reinterpret_cast<const float*>(x), n, l.lanes.data(), p);
    else launch(*s.ctx, st, pass, reinterpret_cast<const double*>(x), n, l.lanes.data(), p);
  });
}

void reduce_gpu::exact_partials(bool squares, chunk_span span, exact_moments* out) {
  state& s = *s_;
  s.run(span, sizeof(exact_moments), out, [&](gpu::stream_t st, const std::byte* x, std::uint64_t n, state::lane& l) {
    auto* p = reinterpret_cast<exact_moments*>(l.partials.data());
    const std::uint64_t chunks = (n + reduce_chunk_elements - 1) / reduce_chunk_elements;
    const gpu::counting<std::uint64_t> k(0);
    if (s.item == 4)
      thrust::for_each(gpu::policy(*s.ctx, st), k, k + chunks,
                       exact_chunk<float>{reinterpret_cast<const float*>(x), n, squares, p});
    else
      thrust::for_each(gpu::policy(*s.ctx, st), k, k + chunks,
                       exact_chunk<double>{reinterpret_cast<const double*>(x), n, squares, p});
  });
}

double reduce_gpu::cub_sum() {
  state& s = *s_;
  if (!s.resident) throw std::logic_error("reduce_gpu::cub_sum: the data is not on the device");
  const gpu::stream_t st = s.ctx->stream(0);
  const double r = s.item == 4
                       ? double(thrust::reduce(gpu::policy(*s.ctx, st), reinterpret_cast<const float*>(s.data.data()),
                                               reinterpret_cast<const float*>(s.data.data()) + s.in.held(), 0.0f))
                       : thrust::reduce(gpu::policy(*s.ctx, st), reinterpret_cast<const double*>(s.data.data()),
                                        reinterpret_cast<const double*>(s.data.data()) + s.in.held(), 0.0);
  s.ctx->synchronize(st);
  return r;
}

void reduce_gpu::copy_in_from_pinned() {
  state& s = *s_;
  if (!s.resident) throw std::logic_error("reduce_gpu::copy_in_from_pinned: the data is not on the device");
  const std::size_t bytes = s.in.held() * s.item;
  if (s.pinned_copy.size() < bytes) {
    s.pinned_copy = gpu::pinned_array<std::byte>(*s.ctx, bytes);
    std::memcpy(s.pinned_copy.data(), s.in.data, bytes);
  }
  const gpu::stream_t st = s.ctx->stream(0);
  s.ctx->copy(s.data.data(), s.pinned_copy.data(), bytes, gpu::copy_kind::host_to_device, st);
  s.ctx->synchronize(st);
}

}  // namespace tandem::detail
