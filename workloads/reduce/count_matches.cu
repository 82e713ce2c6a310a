// count-matches on the GPU: the text lives in host memory (a mapped file), so it is streamed.
//
// The chunks of a span go in batches of whole chunks. Batch k uses staging slot k % S, one per
// stream (S >= 3): the host copies the batch's bytes (plus pattern_length - 1 bytes of overlap)
// from the mapping into the slot's pinned buffer, then queues on the slot's stream the copy to the
// device, a transform that computes every piece's partial with kernels::piece_partial (the
// function the CPU tests check), a scan by chunk with the monoid's combine (a scan, because the
// combine is associative but not commutative: line fragments join in order), a gather of each
// chunk's last scanned value, and the copy of those partials back to pinned memory. The host
// then fills the next slot while the device works on this one; a slot is waited for only when it
// comes round again. The partials are exact integers, so they equal the CPU's bit for bit.
//
// Built by nvcc it runs on the device; built as C++ in a TANDEM_GPU_EMULATION test build it runs on
// the host through Thrust's CPP system, so the CPU tests cover this file.
#include <thrust/gather.h>
#include <thrust/iterator/transform_iterator.h>
#include <thrust/scan.h>
#include <thrust/transform.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tandem/errors.hpp"
#include "tandem/gpu/thrust.hpp"
#include "tandem/kernels/count_matches.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace tandem {

using kernels::line_match_partial;

namespace {

// std::min is not device code without --expt-relaxed-constexpr.
TANDEM_HD_INLINE std::uint64_t min_u64(std::uint64_t a, std::uint64_t b) { return a < b ? a : b; }

// Slots in flight: one filling on the host, one copying, one searching.
constexpr unsigned min_slots = 3;

// The pieces of one batch: piece k is piece k % pieces_per_chunk of chunk first_chunk + k / ppc.
struct batch_layout {
  std::uint64_t first_chunk = 0;
  std::uint64_t batch_begin = 0;  // file offset of the batch buffer's byte 0
  std::uint64_t chunk_bytes = 0;
  std::uint64_t piece_bytes = 0;
  std::uint64_t pieces_per_chunk = 0;
  std::uint64_t size = 0;  // the file's
};

struct piece_search {
  batch_layout b;
  const unsigned char* text;     // device: the batch's bytes
  const unsigned char* pattern;  // device
  std::uint32_t m;
  TANDEM_HD line_match_partial operator()(std::uint64_t k) const {
    const std::uint64_t c = b.first_chunk + k / b.pieces_per_chunk;
    const std::uint64_t chunk_end = min_u64((c + 1) * b.chunk_bytes, b.size);
    const std::uint64_t begin = c * b.chunk_bytes + (k % b.pieces_per_chunk) * b.piece_bytes;
    if (begin >= chunk_end) return kernels::line_match_identity();  // the short last chunk's empty slots
    const std::uint64_t end = min_u64(begin + b.piece_bytes, chunk_end);
    const std::uint64_t readable = m == 0 ? end : min_u64(end + m - 1, b.size);
    return kernels::piece_partial(text + (begin - b.batch_begin), end - begin, readable - begin, pattern, m);
  }
};

struct piece_chunk {
  std::uint64_t pieces_per_chunk;
  TANDEM_HD std::uint64_t operator()(std::uint64_t k) const { return k / pieces_per_chunk; }
};

struct chunk_last_piece {
  std::uint64_t pieces_per_chunk;
  TANDEM_HD std::uint64_t operator()(std::uint64_t j) const { return j * pieces_per_chunk + pieces_per_chunk - 1; }
};

}  // namespace

struct count_matches_gpu_staging {
  struct slot {
    gpu::stream_t stream = nullptr;
    gpu::pinned_array<unsigned char> host;
    gpu::device_array<unsigned char> text;
    gpu::device_array<line_match_partial> pieces, scanned, chunks;
    gpu::pinned_array<line_match_partial> out;
    std::size_t pending_first = 0, pending_count = 0;  // chunks (span-relative) waiting in `out`
  };
  gpu::context* ctx = nullptr;
  std::uint64_t chunk_bytes = 0, piece_bytes = 0, pieces_per_chunk = 0, batch_chunks = 0, text_bytes = 0;
  std::uint32_t m = 0;
  gpu::device_array<unsigned char> pattern;
  std::vector<slot> slots;

  bool fits(const gpu::context& c, const count_matches_params& p, std::uint64_t chunk) const {
    return ctx == &c && chunk == chunk_bytes && p.pattern_length == m &&
           std::min<std::uint64_t>(p.gpu_piece_bytes, chunk) == piece_bytes &&
           std::max<std::uint64_t>(1, p.gpu_batch_bytes / chunk) == batch_chunks &&
           text_bytes >= std::min<std::uint64_t>(p.size, batch_chunks * chunk + (m ? m - 1 : 0));
  }
};

std::shared_ptr<count_matches_gpu_staging> make_count_matches_gpu_staging(gpu::context& c, const count_matches_params& p,
                                                                          std::size_t chunk_bytes) {
  auto s = std::make_shared<count_matches_gpu_staging>();
  s->ctx = &c;
  s->chunk_bytes = chunk_bytes;
  s->m = p.pattern_length;
  s->piece_bytes = std::min<std::uint64_t>(p.gpu_piece_bytes, chunk_bytes);
  s->pieces_per_chunk = (chunk_bytes + s->piece_bytes - 1) / s->piece_bytes;
  s->batch_chunks = std::max<std::uint64_t>(1, p.gpu_batch_bytes / chunk_bytes);
  // Never more than the file: a small file takes small buffers.
  s->text_bytes = std::min<std::uint64_t>(p.size, s->batch_chunks * chunk_bytes + (s->m ? s->m - 1 : 0));
  const gpu::stream_t s0 = c.stream(0);
  s->pattern = gpu::device_array<unsigned char>(c, std::max<std::uint32_t>(s->m, 1), s0);
  if (s->m) {
    c.copy(s->pattern.data(), p.pattern, s->m, gpu::copy_kind::host_to_device, s0);
    c.synchronize(s0);
  }
  const std::uint64_t pieces = s->batch_chunks * s->pieces_per_chunk;
  s->slots.resize(std::max(min_slots, c.streams()));
  for (std::size_t i = 0; i < s->slots.size(); ++i) {
    auto& sl = s->slots[i];
    // Streams 0.. of the context; with fewer than min_slots streams two slots share one, which
    // keeps them in order (correct, less overlap).
    sl.stream = c.stream(static_cast<unsigned>(i));
    sl.host = gpu::pinned_array<unsigned char>(c, s->text_bytes);
    sl.text = gpu::device_array<unsigned char>(c, s->text_bytes, sl.stream);
    sl.pieces = gpu::device_array<line_match_partial>(c, pieces, sl.stream);
    sl.scanned = gpu::device_array<line_match_partial>(c, pieces, sl.stream);
    sl.chunks = gpu::device_array<line_match_partial>(c, s->batch_chunks, sl.stream);
    sl.out = gpu::pinned_array<line_match_partial>(c, s->batch_chunks);
  }
  return s;
}

void count_matches_kernel::run_gpu(gpu::context& ctx, const params_type& p, const chunk_plan& plan, chunk_span span,
                                   partial_type* out) {
  if (span.size() == 0) return;
  std::shared_ptr<count_matches_gpu_staging> own;
  count_matches_gpu_staging* st = p.gpu_staging;
  if (!st || !st->fits(ctx, p, plan.chunk_size())) {
    own = make_count_matches_gpu_staging(ctx, p, plan.chunk_size());
    st = own.get();
  }
  const std::uint64_t ppc = st->pieces_per_chunk;
  const std::uint32_t m = p.pattern_length;

  auto collect = [&](count_matches_gpu_staging::slot& sl) {
    if (sl.pending_count == 0) return;
    ctx.synchronize(sl.stream);
    std::memcpy(out + sl.pending_first, sl.out.data(), sl.pending_count * sizeof(line_match_partial));
    sl.pending_count = 0;
  };

  std::size_t k = 0;
  for (std::size_t c0 = span.first; c0 < span.last; c0 += st->batch_chunks, ++k) {
    auto& sl = st->slots[k % st->slots.size()];
    collect(sl);  // its previous batch: the buffers are free again
    const std::size_t c1 = std::min<std::size_t>(span.last, c0 + st->batch_chunks);
    const std::uint64_t b0 = plan.range(c0).begin;
    const std::uint64_t b1 = plan.range(c1 - 1).end;
    const std::uint64_t readable = (m == 0 ? b1 : std::min<std::uint64_t>(b1 + m - 1, p.size)) - b0;
    std::memcpy(sl.host.data(), p.text + b0, readable);
    ctx.copy(sl.text.data(), sl.host.data(), readable, gpu::copy_kind::host_to_device, sl.stream);

    const batch_layout layout{c0, b0, plan.chunk_size(), st->piece_bytes, ppc, p.size};
    const std::uint64_t chunks = c1 - c0, pieces = chunks * ppc;
    const gpu::counting<std::uint64_t> i0(0);
    auto policy = gpu::policy(ctx, sl.stream);
    thrust::transform(policy, i0, i0 + pieces, sl.pieces.data(), piece_search{layout, sl.text.data(), st->pattern.data(), m});
    thrust::inclusive_scan_by_key(policy, thrust::make_transform_iterator(i0, piece_chunk{ppc}),
                                  thrust::make_transform_iterator(i0 + pieces, piece_chunk{ppc}), sl.pieces.data(),
                                  sl.scanned.data(), thrust::equal_to<std::uint64_t>(), kernels::line_match_combine{});
    thrust::gather(policy, thrust::make_transform_iterator(i0, chunk_last_piece{ppc}),
                   thrust::make_transform_iterator(i0 + chunks, chunk_last_piece{ppc}), sl.scanned.data(),
                   sl.chunks.data());
    ctx.copy(sl.out.data(), sl.chunks.data(), chunks * sizeof(line_match_partial), gpu::copy_kind::device_to_host,
             sl.stream);
    sl.pending_first = c0 - span.first;
    sl.pending_count = chunks;
  }
  for (auto& sl : st->slots) collect(sl);
}

}  // namespace tandem
