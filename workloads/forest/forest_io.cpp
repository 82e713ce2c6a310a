#include "forest_io.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
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
  // Rows: the non-blank lines after the header (a memchr pass, GB/s).
  for (std::size_t p = pos; p < text.size();)
    if (!blank(next_line(text, p))) ++rows_;
  rewind();
}

void csv_input::rewind() noexcept {
  cursor_ = data_begin_;
  line_ = 2;
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

prediction_writer::prediction_writer(std::string path, forest_output kind, std::uint32_t columns, std::uint64_t rows,
                                     bool float_values)
    : path_(std::move(path)), kind_(kind), columns_(columns), rows_(rows), float_values_(float_values) {
  npy_ = path_.size() >= 4 && path_.compare(path_.size() - 4, 4, ".npy") == 0;
  ordered_file_sink::check(path_);
}

void prediction_writer::begin() {
  sink_ = std::make_unique<ordered_file_sink>(path_);
  if (npy_) {
    std::vector<std::uint64_t> shape{rows_};
    if (kind_ != forest_output::label || columns_ != 1) shape.push_back(columns_);
    sink_->write(npy_header(npy_dtype::f64, shape));
    return;
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
  sink_->write(header);
}

void prediction_writer::write(const double* outputs, std::uint64_t n) {
  if (npy_) {
    sink_->write(outputs, n * columns_ * sizeof(double));
    return;
  }
  text_.clear();
  char buf[40];
  for (std::uint64_t r = 0; r < n; ++r) {
    for (std::uint32_t c = 0; c < columns_; ++c) {
      if (c) text_ += ',';
      const double v = outputs[r * columns_ + c];
      // Round-trip digits in the precision the value was computed in: the shortest text that
      // reads back to the same float (XGBoost) or double.
      const auto res = float_values_ ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(v))
                                     : std::to_chars(buf, buf + sizeof buf, v);
      text_.append(buf, res.ptr);
    }
    text_ += '\n';
  }
  sink_->write(text_);
}

void prediction_writer::commit() {
  sink_->commit();
  sink_.reset();
}

void prediction_writer::abandon() noexcept { sink_.reset(); }

}  // namespace tandem::forest_io
