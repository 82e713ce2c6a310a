#include "forest_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>

#include "tandem/errors.hpp"
#include "tandem/io/records.hpp"

namespace tandem::forest_io {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string shown(std::string_view s) {
  return s.size() > 40 ? "'" + std::string(s.substr(0, 40)) + "...'" : "'" + std::string(s) + "'";
}

// The lines of [from, to) of the mapped text.
std::string_view text_of(const mapped_file& f) {
  return {reinterpret_cast<const char*>(f.data()), f.size()};
}

// The next line at or after `pos`, without '\n' and a trailing '\r'; pos moves past it.
std::string_view next_line(std::string_view text, std::size_t& pos) {
  const std::size_t nl = text.find('\n', pos);
  const std::size_t end = nl == std::string_view::npos ? text.size() : nl;
  std::string_view line = text.substr(pos, end - pos);
  pos = nl == std::string_view::npos ? text.size() : nl + 1;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool blank(std::string_view line) { return trim(line).empty() && line.find(',') == std::string_view::npos; }

}  // namespace

csv_input::csv_input(const std::string& path, std::uint32_t features, const std::vector<std::string>& names)
    : file_(path), features_(features) {
  const std::string_view text = text_of(file_);
  if (text.empty()) throw usage_error("input '" + path + "' is empty (a header line is needed)");
  std::size_t pos = 0;
  const std::string_view header = next_line(text, pos);
  std::uint32_t columns = 0;
  std::vector<std::string_view> header_names;
  for (std::size_t a = 0;;) {
    const std::size_t comma = header.find(',', a);
    header_names.push_back(trim(header.substr(a, comma == std::string_view::npos ? std::string_view::npos : comma - a)));
    ++columns;
    if (comma == std::string_view::npos) break;
    a = comma + 1;
  }
  if (columns != features)
    throw usage_error("input '" + path + "' has " + std::to_string(columns) + " columns; the model takes " +
                      std::to_string(features) + " features");
  if (!names.empty())
    for (std::uint32_t c = 0; c < columns; ++c)
      if (header_names[c] != names[c])
        throw usage_error("input '" + path + "': column " + std::to_string(c + 1) + " is " + shown(header_names[c]) +
                          ", the model's feature " + std::to_string(c + 1) + " is " + shown(names[c]));
  data_begin_ = pos;
  // Rows: the non-blank lines after the header (a memchr pass, GB/s), marking where every
  // forest_chunk_rows-th row begins (16 bytes per 4096 rows) for rewind(row).
  std::uint64_t line = 2;
  for (std::size_t p = pos; p < text.size(); ++line) {
    const std::size_t at = p;
    if (blank(next_line(text, p))) continue;
    if (rows_ % forest_chunk_rows == 0) marks_.push_back({at, line});
    ++rows_;
  }
  rewind();
}

void csv_input::rewind(std::uint64_t row) {
  if (row > rows_) throw std::out_of_range("csv_input::rewind: past the last row");
  cursor_ = data_begin_;
  line_ = 2;
  if (row == 0) return;
  const mark& m = marks_[std::size_t((row - 1) / forest_chunk_rows)];
  cursor_ = m.offset;
  line_ = m.line;
  const std::string_view text = text_of(file_);
  for (std::uint64_t skip = (row - 1) / forest_chunk_rows * forest_chunk_rows; skip < row;) {
    if (!blank(next_line(text, cursor_))) ++skip;
    ++line_;
  }
}

template <class T>
void csv_input::read_rows(std::uint64_t n, T* out) {
  const std::string_view text = text_of(file_);
  for (std::uint64_t r = 0; r < n;) {
    if (cursor_ >= text.size())
      throw usage_error("input '" + file_.path() + "' changed while it was read (fewer rows than counted)");
    const std::uint64_t line_no = line_++;
    const std::string_view line = next_line(text, cursor_);
    if (blank(line)) continue;
    std::size_t a = 0;
    for (std::uint32_t c = 0; c < features_; ++c) {
      const std::size_t comma = line.find(',', a);
      if (comma == std::string_view::npos && c + 1 < features_)
        throw usage_error("input '" + file_.path() + "': line " + std::to_string(line_no) + " has " +
                          std::to_string(c + 1) + " fields; the header has " + std::to_string(features_));
      const std::string_view field = trim(line.substr(a, comma == std::string_view::npos ? std::string_view::npos : comma - a));
      double v;
      if (field.empty() || field == "NA" || field == "na" || field == "NaN" || field == "nan" || field == "NAN") {
        v = std::numeric_limits<double>::quiet_NaN();
      } else {
        const char* b = field.data();
        const char* e = b + field.size();
        if (*b == '+') ++b;  // from_chars takes no '+'
        const auto res = std::from_chars(b, e, v);
        if (res.ptr != e || res.ec == std::errc::invalid_argument)
          throw usage_error("input '" + file_.path() + "': line " + std::to_string(line_no) + ", column " +
                            std::to_string(c + 1) + ": " + shown(field) + " is not a number");
        if (res.ec == std::errc::result_out_of_range)  // beyond double's range: an overflow is +-inf
          v = std::strtod(std::string(field).c_str(), nullptr);
      }
      out[r * features_ + c] = static_cast<T>(v);
      a = comma == std::string_view::npos ? line.size() + 1 : comma + 1;
      if (c + 1 == features_ && comma != std::string_view::npos)
        throw usage_error("input '" + file_.path() + "': line " + std::to_string(line_no) +
                          " has more fields than the header's " + std::to_string(features_));
    }
    ++r;
  }
}

void csv_input::read(std::uint64_t n, float* out) { read_rows(n, out); }
void csv_input::read(std::uint64_t n, double* out) { read_rows(n, out); }

prediction_format::prediction_format(const std::string& path, forest_output kind, std::uint32_t columns,
                                     bool float_values)
    : kind_(kind), columns_(columns), float_values_(float_values) {
  npy_ = path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
}

std::string prediction_format::header(std::uint64_t rows) const {
  if (npy_) {
    std::vector<std::uint64_t> shape{rows};
    if (kind_ != forest_output::label || columns_ != 1) shape.push_back(columns_);
    return npy_header(npy_dtype::f64, shape);
  }
  std::string header;
  const char* name = kind_ == forest_output::label ? "class" : kind_ == forest_output::proba ? "proba" : "margin";
  for (std::uint32_t c = 0; c < columns_; ++c) {
    if (c) header += ',';
    header += name;
    if (columns_ > 1) {
      header += '_';
      header += std::to_string(c);
    }
  }
  header += '\n';
  return header;
}

std::string_view prediction_format::encode(const double* outputs, std::uint64_t n, std::string& text) const {
  if (npy_) return {reinterpret_cast<const char*>(outputs), std::size_t(n * columns_ * sizeof(double))};
  text.clear();
  char buf[40];
  for (std::uint64_t r = 0; r < n; ++r) {
    for (std::uint32_t c = 0; c < columns_; ++c) {
      if (c) text += ',';
      const double v = outputs[r * columns_ + c];
      // Round-trip digits in the precision the value was computed in: the shortest text that
      // reads back to the same float (XGBoost) or double.
      const auto res = float_values_ ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                                     : std::to_chars(buf, buf + sizeof buf, v);
      text.append(buf, res.ptr);
    }
    text += '\n';
  }
  return text;
}

prediction_writer::prediction_writer(std::string path, forest_output kind, std::uint32_t columns, std::uint64_t rows,
                                     bool float_values)
    : path_(std::move(path)), format_(path_, kind, columns, float_values), rows_(rows) {
  ordered_file_sink::check(path_);
}

void prediction_writer::begin() {
  sink_ = std::make_unique<ordered_file_sink>(path_);
  sink_->write(format_.header(rows_));
}

void prediction_writer::write(const double* outputs, std::uint64_t n) { sink_->write(format_.encode(outputs, n, text_)); }

void prediction_writer::write_encoded(const void* bytes, std::size_t size) { sink_->write(bytes, size); }

void prediction_writer::commit() {
  sink_->commit();
  sink_.reset();
}

void prediction_writer::abandon() noexcept { sink_.reset(); }

namespace {
// Appends are gathered up to this size before a write() (a window's CSV text is a few MiB).
constexpr std::size_t spool_buffer_bytes = std::size_t{1} << 20;

[[noreturn]] void spool_failed(const std::string& folder, const char* what, int err) {
  throw std::runtime_error("cannot " + std::string(what) + " the predictions spooled in '" + folder +
                           "': " + std::strerror(err));
}
}  // namespace

spool::spool() {
  const char* tmp = std::getenv("TMPDIR");
  folder_ = tmp && *tmp ? tmp : "/tmp";
  std::string name = folder_ + "/tandem-forest-spool.XXXXXX";
  fd_ = ::mkstemp(name.data());
  if (fd_ < 0) spool_failed(folder_, "make a file for", errno);
  ::unlink(name.c_str());  // unnamed from here on: closing or dying removes it
  (void)::fcntl(fd_, F_SETFD, FD_CLOEXEC);
}

spool::~spool() {
  if (fd_ >= 0) ::close(fd_);
}

void spool::clear() {
  buffer_.clear();
  size_ = flushed_ = 0;
  if (::ftruncate(fd_, 0) != 0) spool_failed(folder_, "empty", errno);
}

void spool::append(std::string_view bytes) {
  if (buffer_.size() + bytes.size() > spool_buffer_bytes) flush();
  if (bytes.size() >= spool_buffer_bytes) write_all(bytes.data(), bytes.size());  // a window: no copy
  else buffer_.append(bytes);
  size_ += bytes.size();
}

void spool::flush() {
  write_all(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void spool::write_all(const char* p, std::size_t left) {
  while (left > 0) {
    const ssize_t n = ::pwrite(fd_, p, left, off_t(flushed_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) spool_failed(folder_, "write", n < 0 ? errno : EIO);
    p += n;
    left -= std::size_t(n);
    flushed_ += std::uint64_t(n);
  }
}

void spool::read(std::uint64_t offset, void* out, std::size_t n) {
  flush();
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, p, n, off_t(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) spool_failed(folder_, "read back", got < 0 ? errno : EIO);
    p += got;
    offset += std::uint64_t(got);
    n -= std::size_t(got);
  }
}

}  // namespace tandem::forest_io
