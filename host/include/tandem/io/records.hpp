// Records (text lines, CSV rows) of a byte range that the job cuts into fixed chunks of bytes.
//
// A record belongs to the chunk in which it starts. A chunk therefore skips the tail of a record
// that started in the chunk before it, and reads past its own end (the overlap) to finish its last
// record. Each chunk's result then depends only on the bytes and the chunk index, every record is
// counted exactly once, and the chunks' record spans laid end to end are the input. A record longer
// than a chunk is owned by the one chunk it starts in; the chunks it merely covers own nothing.
// See docs/io.md.
#pragma once

#include <cstddef>
#include <cstring>
#include <iterator>
#include <span>
#include <string_view>

#include "tandem/chunk_plan.hpp"

namespace tandem {

namespace detail {
// Just past the first `delim` at or after `from`, or `size` when there is none.
inline std::size_t past_delimiter(const std::byte* data, std::size_t size, std::size_t from, char delim) noexcept {
  if (from >= size) return size;
  const void* hit = std::memchr(data + from, static_cast<unsigned char>(delim), size - from);
  return hit ? std::size_t(static_cast<const std::byte*>(hit) - data) + 1 : size;
}
}  // namespace detail

// The whole records owned by the chunk whose bytes are `bytes`: [begin, end) with
//   begin = just past the first delimiter at or after bytes.begin - 1 (0 for the first chunk),
//   end   = just past the first delimiter at or after bytes.end - 1 (or size).
// Consecutive chunks meet exactly (one's end is the next one's begin); begin == end: owns nothing.
inline chunk_range record_span(const std::byte* data, std::size_t size, chunk_range bytes,
                               char delimiter = '\n') noexcept {
  const std::size_t begin = bytes.begin == 0 ? 0 : detail::past_delimiter(data, size, bytes.begin - 1, delimiter);
  if (bytes.end <= bytes.begin) return {begin, begin};
  const std::size_t end = detail::past_delimiter(data, size, bytes.end - 1, delimiter);
  return {begin, end < begin ? begin : end};
}

inline chunk_range record_span(std::span<const std::byte> data, chunk_range bytes, char delimiter = '\n') noexcept {
  return record_span(data.data(), data.size(), bytes, delimiter);
}

// The lines of a record span, without their delimiter and without a trailing '\r' (CRLF files).
// A last line with no final delimiter is a line; an empty span has none. So the number of lines is
// what `grep -c ''` prints.
class line_range {
 public:
  line_range(const std::byte* data, chunk_range span, char delimiter = '\n') noexcept
      : first_(reinterpret_cast<const char*>(data) + span.begin),
        last_(reinterpret_cast<const char*>(data) + span.end),
        delimiter_(delimiter) {}
  line_range(std::string_view text, char delimiter = '\n') noexcept
      : first_(text.data()), last_(text.data() + text.size()), delimiter_(delimiter) {}

  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const std::string_view*;
    using reference = const std::string_view&;

    iterator() = default;
    reference operator*() const noexcept { return line_; }
    pointer operator->() const noexcept { return &line_; }
    iterator& operator++() noexcept {
      p_ = next_;
      load();
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.p_ == b.p_; }

   private:
    friend class line_range;
    iterator(const char* p, const char* last, char delim) noexcept : p_(p), last_(last), delim_(delim) { load(); }
    void load() noexcept {
      if (p_ == last_) return;
      const void* hit = std::memchr(p_, static_cast<unsigned char>(delim_), std::size_t(last_ - p_));
      const char* e = hit ? static_cast<const char*>(hit) : last_;
      next_ = hit ? e + 1 : last_;
      if (e != p_ && e[-1] == '\r') --e;
      line_ = std::string_view(p_, std::size_t(e - p_));
    }
    const char* p_ = nullptr;
    const char* next_ = nullptr;
    const char* last_ = nullptr;
    char delim_ = '\n';
    std::string_view line_;
  };

  iterator begin() const noexcept { return iterator(first_, last_, delimiter_); }
  iterator end() const noexcept { return iterator(last_, last_, delimiter_); }

 private:
  const char* first_;
  const char* last_;
  char delimiter_;
};

}  // namespace tandem
