// The CPU search behind count-matches: the partial of a byte range (kernels::line_match_partial)
// at memory speed.
//
// avx512 / avx2: one pass of 64 (32) byte blocks. Each block gives three masks: bytes equal to the
// pattern's first byte, bytes pattern_length - 1 further on equal to its last byte (their AND is the
// candidates, rare in text, each checked with memcmp), and newlines (counted, and walked in order
// with the verified matches only when a block holds a match or closes a line). This is the
// "generic SIMD" substring filter; it reads every byte once, so newlines are counted for free.
// scalar: the C library's memchr / memmem, jumping to the next newline after a match (what grep
// does); it needs a separate count of the newlines.
//
// Every level returns exactly kernels::piece_partial's value (the tests compare them on every
// boundary), and the edges use masked loads (avx512) or the byte loop (avx2), so nothing is read
// outside [text, text + avail).
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "tandem/errors.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace tandem {

namespace {

using kernels::line_match_partial;

// The fragment state of a scan: the partial so far and whether the open fragment holds a match.
struct scan_state {
  line_match_partial r;
  bool matched = false;
  std::uint64_t failed = 0;  // candidates that memcmp rejected

  // A newline ends the open fragment.
  void close() noexcept {
    kernels::close_fragment(r, matched);
    matched = false;
  }
  line_match_partial finish() noexcept {
    kernels::finish_fragments(r, matched);
    return r;
  }
  // Bytes [i, len) one at a time (the vector loops' edges).
  void bytes(const unsigned char* text, std::size_t i, std::size_t len, std::size_t avail, const unsigned char* pat,
             std::uint32_t m) noexcept {
    for (; i < len; ++i) {
      if (!matched && kernels::match_at(text + i, avail - i, pat, m)) matched = true;
      if (text[i] == '\n') {
        ++r.newlines;
        close();
      }
    }
  }
  // Whether a newline now would change the partial: it closes a fragment with a match, or the
  // piece's first one. Most newlines do neither, and cost only their count.
  bool pending() const noexcept { return matched || !r.has_newline; }
  // One block's events in order: verified match starts `v` and newlines `nl` (bit j: byte j). The
  // caller counts the newlines.
  void events(std::uint64_t nl, std::uint64_t v) noexcept {
    if (v == 0) {
      // Only the first newline closes a fragment that can count; the others close lines without a
      // match, which add nothing once a newline was seen.
      if (nl) close();
      return;
    }
    while (nl) {
      const std::uint64_t below = (nl & -nl) - 1;  // bits before this newline
      if (v & below) matched = true;
      v &= ~(below | (below + 1));
      close();
      nl &= nl - 1;
    }
    if (v) matched = true;
  }
};

bool rest_matches(const unsigned char* s, const unsigned char* pat, std::uint32_t m) noexcept {
  return m <= 2 || std::memcmp(s + 1, pat + 1, m - 2) == 0;
}

// The empty pattern matches every line: only the newlines matter.
line_match_partial every_line(std::size_t newlines, const unsigned char* text, std::size_t len) noexcept {
  line_match_partial r;
  r.newlines = newlines;
  if (newlines == 0) {
    r.head = r.tail = len > 0;
    return r;
  }
  r.has_newline = 1;
  r.head = 1;
  r.middle = newlines - 1;
  r.tail = text[len - 1] != '\n';
  return r;
}

std::size_t newlines_scalar(const unsigned char* text, std::size_t len) noexcept {
  return static_cast<std::size_t>(std::count(text, text + len, static_cast<unsigned char>('\n')));
}

__attribute__((target("avx2,popcnt"))) std::size_t newlines_avx2(const unsigned char* text, std::size_t len) noexcept {
  const __m256i nlv = _mm256_set1_epi8('\n');
  std::size_t n = 0, i = 0;
  for (; i + 32 <= len; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text + i));
    n += static_cast<std::size_t>(std::popcount(static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nlv)))));
  }
  return n + newlines_scalar(text + i, len - i);
}

__attribute__((target("avx512f,avx512bw,bmi2,popcnt"))) std::size_t newlines_avx512(const unsigned char* text,
                                                                              std::size_t len) noexcept {
  const __m512i nlv = _mm512_set1_epi8('\n');
  std::size_t n = 0, i = 0;
  for (; i + 64 <= len; i += 64)
    n += static_cast<std::size_t>(_mm_popcnt_u64(_mm512_cmpeq_epi8_mask(_mm512_loadu_si512(text + i), nlv)));
  const __mmask64 k = _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(len - i));
  return n + static_cast<std::size_t>(_mm_popcnt_u64(_mm512_mask_cmpeq_epi8_mask(k, _mm512_maskz_loadu_epi8(k, text + i), nlv)));
}

// memmem over [from, to) that only reports a match starting before `limit`.
const unsigned char* find_before(const unsigned char* from, const unsigned char* limit, const unsigned char* to,
                                 const unsigned char* pat, std::uint32_t m) noexcept {
  if (from >= limit) return nullptr;
  const void* hit = m == 1 ? std::memchr(from, pat[0], static_cast<std::size_t>(limit - from))
                           : ::memmem(from, static_cast<std::size_t>(to - from), pat, m);
  const auto* s = static_cast<const unsigned char*>(hit);
  return s && s < limit ? s : nullptr;
}

line_match_partial search_scalar(const unsigned char* text, std::size_t len, std::size_t avail, const unsigned char* pat,
                                 std::uint32_t m) noexcept {
  if (m == 0) return every_line(newlines_scalar(text, len), text, len);
  line_match_partial r;
  const unsigned char* end = text + len;
  const auto* first_nl = static_cast<const unsigned char*>(std::memchr(text, '\n', len));
  if (!first_nl) {
    r.head = r.tail = find_before(text, end, text + avail, pat, m) != nullptr;
    return r;
  }
  r.newlines = newlines_scalar(text, len);
  r.has_newline = 1;
  // A match cannot cross a newline, so each fragment is searched on its own bytes.
  r.head = find_before(text, first_nl, first_nl, pat, m) != nullptr;
  const auto* last_nl = static_cast<const unsigned char*>(::memrchr(text, '\n', len));
  r.tail = find_before(last_nl + 1, end, text + avail, pat, m) != nullptr;
  const unsigned char* pos = first_nl + 1;
  while (pos < last_nl) {
    const unsigned char* s = find_before(pos, last_nl, last_nl, pat, m);
    if (!s) break;
    ++r.middle;
    // The rest of this line cannot add to the count.
    pos = static_cast<const unsigned char*>(std::memchr(s, '\n', static_cast<std::size_t>(last_nl + 1 - s))) + 1;
  }
  return r;
}

// The first-and-last-byte filter checks each candidate with memcmp, so text built against the
// pattern (a pattern `a...aba...a` in a run of `a`s: every byte a candidate, each compared m/2 bytes
// deep) would cost O(len x m). Past a budget of 4 compared bytes per byte of the piece, the piece
// is searched again by the C library's memmem, which stays linear (glibc 2.36: 64 MiB of `a`s
// against such patterns of 5 to 4096 bytes in 0.05 to 0.28 s). Ordinary text stays far below it.
bool too_many_candidates(const scan_state& st, std::size_t len, std::uint32_t m) noexcept {
  return st.failed * m > 4 * len + 65536;
}

// One block of 32 or 64 bytes at text + i (bit j of the masks: byte i + j): count its newlines,
// and walk them with the verified candidates only when the block has candidates or a newline that
// changes the partial.
template <class Mask>
__attribute__((target("popcnt"), always_inline)) inline void block(scan_state& st, const unsigned char* text,
                                                                 std::size_t i, Mask nl, Mask cand,
                                                                 const unsigned char* pat, std::uint32_t m) noexcept {
  static_assert(std::is_same_v<Mask, std::uint32_t> || std::is_same_v<Mask, std::uint64_t>);
  st.r.newlines += static_cast<std::uint64_t>(std::popcount(nl));
  if (cand == 0) {
    if (nl && st.pending()) st.close();
    return;
  }
  Mask v = 0;
  for (; cand; cand &= cand - 1) {
    const unsigned j = static_cast<unsigned>(std::countr_zero(cand));
    if (rest_matches(text + i + j, pat, m)) v |= Mask{1} << j;
    else ++st.failed;
  }
  st.events(nl, v);
}

__attribute__((target("avx2,bmi,popcnt"))) line_match_partial search_avx2(const unsigned char* text, std::size_t len,
                                                                  std::size_t avail, const unsigned char* pat,
                                                                  std::uint32_t m) noexcept {
  if (m == 0) return every_line(newlines_avx2(text, len), text, len);
  const __m256i first = _mm256_set1_epi8(static_cast<char>(pat[0]));
  const __m256i last = _mm256_set1_epi8(static_cast<char>(pat[m - 1]));
  const __m256i nlv = _mm256_set1_epi8('\n');
  scan_state st;
  std::size_t i = 0;
  for (; i + 32 <= len && i + m - 1 + 32 <= avail; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(text + i + m - 1));
    const auto nl = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(a, nlv)));
    const auto cand = static_cast<std::uint32_t>(
        _mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, last))));
    block(st, text, i, nl, cand, pat, m);
    if (cand && too_many_candidates(st, len, m)) return search_scalar(text, len, avail, pat, m);
  }
  st.bytes(text, i, len, avail, pat, m);
  return st.finish();
}

__attribute__((target("avx512f,avx512bw,bmi,bmi2,popcnt"))) line_match_partial search_avx512(
    const unsigned char* text, std::size_t len, std::size_t avail, const unsigned char* pat, std::uint32_t m) noexcept {
  if (m == 0) return every_line(newlines_avx512(text, len), text, len);
  const __m512i first = _mm512_set1_epi8(static_cast<char>(pat[0]));
  const __m512i last = _mm512_set1_epi8(static_cast<char>(pat[m - 1]));
  const __m512i nlv = _mm512_set1_epi8('\n');
  scan_state st;
  std::size_t i = 0;
  for (; i + 64 <= len && i + m - 1 + 64 <= avail; i += 64) {
    const __m512i a = _mm512_loadu_si512(text + i);
    const __m512i b = _mm512_loadu_si512(text + i + m - 1);
    const std::uint64_t nl = _mm512_cmpeq_epi8_mask(a, nlv);
    const std::uint64_t cand = _mm512_mask_cmpeq_epi8_mask(_mm512_cmpeq_epi8_mask(a, first), b, last);
    block(st, text, i, nl, cand, pat, m);
    if (cand && too_many_candidates(st, len, m)) return search_scalar(text, len, avail, pat, m);
  }
  // The edge: masked loads read nothing outside the piece's bytes or past `avail`.
  for (; i < len; i += 64) {
    const __mmask64 ka = _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(std::min<std::size_t>(len - i, 64)));
    const std::size_t past = i + m - 1 < avail ? avail - (i + m - 1) : 0;
    const __mmask64 kb = _bzhi_u64(~std::uint64_t{0}, static_cast<unsigned>(std::min<std::size_t>(past, 64)));
    const __m512i a = _mm512_maskz_loadu_epi8(ka, text + i);
    const __m512i b = _mm512_maskz_loadu_epi8(kb, text + i + m - 1);
    const std::uint64_t nl = _mm512_mask_cmpeq_epi8_mask(ka, a, nlv);
    const std::uint64_t cand = _mm512_mask_cmpeq_epi8_mask(_mm512_mask_cmpeq_epi8_mask(ka & kb, a, first), b, last);
    block(st, text, i, nl, cand, pat, m);
  }
  return st.finish();
}

}  // namespace

const char* to_string(count_matches_simd l) noexcept {
  switch (l) {
    case count_matches_simd::scalar: return "scalar";
    case count_matches_simd::avx2: return "AVX2";
    case count_matches_simd::avx512: return "AVX-512";
  }
  return "?";
}

count_matches_simd count_matches_simd_best() noexcept {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("bmi2"))
    return count_matches_simd::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("popcnt"))
    return count_matches_simd::avx2;
  return count_matches_simd::scalar;
}

count_matches_simd count_matches_simd_from_environment() {
  const count_matches_simd best = count_matches_simd_best();
  const char* e = std::getenv("TANDEM_COUNT_MATCHES_SIMD");
  if (!e || !*e) return best;
  count_matches_simd want;
  if (std::strcmp(e, "scalar") == 0) want = count_matches_simd::scalar;
  else if (std::strcmp(e, "avx2") == 0) want = count_matches_simd::avx2;
  else if (std::strcmp(e, "avx512") == 0) want = count_matches_simd::avx512;
  else throw usage_error(std::string("TANDEM_COUNT_MATCHES_SIMD: '") + e + "' is not scalar, avx2 or avx512");
  return std::min(want, best);
}

kernels::line_match_partial count_matches_search(const count_matches_params& p, std::size_t begin, std::size_t end,
                                                 count_matches_simd level) {
  if (end <= begin) return {};
  const unsigned char* text = p.text + begin;
  const std::size_t len = end - begin;
  const std::size_t m = p.pattern_length;
  const std::size_t avail = m == 0 ? len : std::min<std::size_t>(p.size - begin, len + m - 1);
  switch (std::min(level, count_matches_simd_best())) {
    case count_matches_simd::avx512: return search_avx512(text, len, avail, p.pattern, p.pattern_length);
    case count_matches_simd::avx2: return search_avx2(text, len, avail, p.pattern, p.pattern_length);
    case count_matches_simd::scalar: break;
  }
  return search_scalar(text, len, avail, p.pattern, p.pattern_length);
}

}  // namespace tandem
