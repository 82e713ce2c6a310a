// Counting the lines of a text that contain a literal, as `grep -c -F PATTERN` does, from pieces of
// bytes that may cut lines anywhere.
//
// A piece of bytes knows nothing of the lines it cuts, so its partial describes the three kinds of
// line fragment it can hold: the fragment before its first newline (the end of a line that began
// earlier), the lines wholly inside it, and the fragment after its last newline (the start of a
// line that ends later). Two adjacent pieces combine by joining the first one's tail fragment to
// the second one's head fragment; the combine is associative (not commutative) and exact, so any
// cut into pieces, any grouping of the combines (a CPU fold in chunk order, a GPU scan) and any
// backend give the same count.
//
// A match belongs to the piece in which it starts. It can end at most pattern_length - 1 bytes
// past the piece, and since the pattern holds no newline, a match never crosses a line's end: the
// fragment it starts in is the fragment it lies in. So a piece reads at most pattern_length - 1
// bytes beyond its own, never a whole line.
//
// The empty pattern matches at every position of every line (grep -c -F '' counts every line), so
// a line counts when any of its bytes, or its newline, is a match start; the empty fragment after
// a final newline is not a line and so is never counted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "tandem/kernels/hd.hpp"

namespace tandem::kernels {

// The longest pattern: it sits inline in the job's parameters (trivially copyable, shared with
// the procs workers as bytes) and bounds how far a piece reads past its end.
inline constexpr std::uint32_t count_matches_max_pattern = 4096;

struct line_match_partial {
  std::uint64_t middle = 0;    // lines wholly inside (after the first newline, up to the last) with a match
  std::uint64_t newlines = 0;  // '\n' bytes in the piece
  // Without a newline the piece is one fragment of one line: head == tail == whether it holds a match.
  std::uint8_t has_newline = 0;
  std::uint8_t head = 0;  // a match before the first newline
  std::uint8_t tail = 0;  // a match after the last newline
};

// A newline ends the open fragment (`matched`: whether it held a match): the first one is the
// head, later ones complete a line inside the piece.
TANDEM_HD_INLINE void close_fragment(line_match_partial& r, bool matched) {
  if (!r.has_newline) {
    r.has_newline = 1;
    r.head = matched;
  } else if (matched) {
    ++r.middle;
  }
}

// The piece's end: the open fragment is the tail (and, without any newline, the head too).
TANDEM_HD_INLINE void finish_fragments(line_match_partial& r, bool matched) {
  r.tail = matched;
  if (!r.has_newline) r.head = matched;
}

// The partial of no bytes: the combine's identity.
TANDEM_HD_INLINE line_match_partial line_match_identity() { return {}; }

// The partial of a followed by b (the bytes of a, then the bytes of b).
TANDEM_HD_INLINE line_match_partial combine(const line_match_partial& a, const line_match_partial& b) {
  line_match_partial r;
  r.newlines = a.newlines + b.newlines;
  if (!a.has_newline && !b.has_newline) {
    r.head = r.tail = a.tail | b.head;
  } else if (!a.has_newline) {
    r.has_newline = 1;
    r.head = a.tail | b.head;
    r.middle = b.middle;
    r.tail = b.tail;
  } else if (!b.has_newline) {
    r.has_newline = 1;
    r.head = a.head;
    r.middle = a.middle;
    r.tail = a.tail | b.head;
  } else {
    r.has_newline = 1;
    r.head = a.head;
    // a's tail and b's head are one line.
    r.middle = a.middle + b.middle + ((a.tail | b.head) ? 1u : 0u);
    r.tail = b.tail;
  }
  return r;
}

struct line_match_combine {
  TANDEM_HD line_match_partial operator()(const line_match_partial& a, const line_match_partial& b) const {
    return combine(a, b);
  }
};

// The number of matching lines in a whole text whose partial is p. The fragment after the last
// newline is a line only when it is not empty; a match there implies it is not.
TANDEM_HD_INLINE std::uint64_t matching_lines(const line_match_partial& p) {
  if (!p.has_newline) return p.tail;
  return std::uint64_t{p.head} + p.middle + p.tail;
}

// Whether the pattern starts at text[0] (reading at most `avail` bytes). m == 0: always.
TANDEM_HD_INLINE bool match_at(const unsigned char* text, std::size_t avail, const unsigned char* pattern,
                               std::uint32_t m) {
  if (m > avail) return false;
  for (std::uint32_t k = 0; k < m; ++k)
    if (text[k] != pattern[k]) return false;
  return true;
}

// The partial of the piece text[0 .. len), which may read text[len .. avail) to finish a match that
// starts inside it (avail <= len + m - 1, less at the end of the input). One pass, byte by byte:
// what the GPU runs per piece, and the reference the CPU's vector search is tested against.
TANDEM_HD_INLINE line_match_partial piece_partial(const unsigned char* text, std::size_t len, std::size_t avail,
                                                  const unsigned char* pattern, std::uint32_t m) {
  line_match_partial r;
  bool matched = false;  // the current fragment holds a match
  for (std::size_t i = 0; i < len; ++i) {
    if (!matched && match_at(text + i, avail - i, pattern, m)) matched = true;
    if (text[i] == '\n') {
      ++r.newlines;
      close_fragment(r, matched);
      matched = false;
    }
  }
  finish_fragments(r, matched);
  return r;
}

}  // namespace tandem::kernels
