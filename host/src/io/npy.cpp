#include "tandem/io/npy.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <string_view>

#include "tandem/errors.hpp"

namespace tandem {

std::size_t npy_item_size(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f32: case npy_dtype::i32: return 4;
    case npy_dtype::f64: case npy_dtype::i64: return 8;
    case npy_dtype::u8: return 1;
  }
  return 1;
}

const char* npy_descr(npy_dtype t) noexcept {
  switch (t) {
    case npy_dtype::f32: return "<f4";
    case npy_dtype::f64: return "<f8";
    case npy_dtype::i32: return "<i4";
    case npy_dtype::i64: return "<i8";
    case npy_dtype::u8: return "|u1";
  }
  return "?";
}

namespace {
[[noreturn]] void bad(const std::string& path, const std::string& what) {
  throw usage_error("input '" + path + "': " + what);
}

// The value of 'key' in the header dict, as text up to the next top-level comma or brace.
std::string_view field(std::string_view dict, std::string_view key, const std::string& path) {
  std::string quoted1(1, '\''), quoted2(1, '"');
  quoted1.append(key).push_back('\'');
  quoted2.append(key).push_back('"');
  std::size_t at = dict.find(quoted1);
  std::size_t len = quoted1.size();
  if (at == std::string_view::npos) {
    at = dict.find(quoted2);
    len = quoted2.size();
  }
  if (at == std::string_view::npos) bad(path, "the .npy header has no '" + std::string(key) + "'");
  std::size_t p = dict.find(':', at + len);
  if (p == std::string_view::npos) bad(path, "malformed .npy header");
  ++p;
  while (p < dict.size() && dict[p] == ' ') ++p;
  std::size_t end = p;
  if (p < dict.size() && dict[p] == '(') {
    end = dict.find(')', p);
    if (end == std::string_view::npos) bad(path, "malformed .npy header shape");
    return dict.substr(p, end + 1 - p);
  }
  while (end < dict.size() && dict[end] != ',' && dict[end] != '}') ++end;
  std::string_view v = dict.substr(p, end - p);
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return v;
}
}  // namespace

npy_array parse_npy_header(std::span<const std::byte> file, const std::string& path) {
  static const unsigned char magic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (file.size() < 10 || std::memcmp(file.data(), magic, 6) != 0) bad(path, "not a .npy file (no NUMPY magic)");
  const auto* b = reinterpret_cast<const unsigned char*>(file.data());
  const unsigned major = b[6];
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = b[8] | (std::size_t(b[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (file.size() < 12) bad(path, "truncated .npy header");
    header_len = b[8] | (std::size_t(b[9]) << 8) | (std::size_t(b[10]) << 16) | (std::size_t(b[11]) << 24);
    start = 12;
  } else {
    bad(path, ".npy version " + std::to_string(major) + " is not supported (1 to 3 are)");
  }
  if (header_len > file.size() - start) bad(path, "truncated .npy header");
  const std::string_view dict(reinterpret_cast<const char*>(b + start), header_len);
  npy_array a;
  a.data_offset = start + header_len;

  std::string_view descr = field(dict, "descr", path);
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) descr = descr.substr(1, descr.size() - 2);
  if (descr == "<f4") a.dtype = npy_dtype::f32;
  else if (descr == "<f8") a.dtype = npy_dtype::f64;
  else if (descr == "<i4") a.dtype = npy_dtype::i32;
  else if (descr == "<i8") a.dtype = npy_dtype::i64;
  else if (descr == "|u1" || descr == "<u1") a.dtype = npy_dtype::u8;
  else bad(path, "dtype " + std::string(descr) + " is not supported (little-endian float32/float64, int32/int64, uint8)");

  if (field(dict, "fortran_order", path) != "False")
    bad(path, "Fortran-order arrays are not supported: save with np.ascontiguousarray");

  const std::string_view shape = field(dict, "shape", path);  // "(3, 4)", "(5,)", "()"
  if (shape.size() < 2 || shape.front() != '(') bad(path, "malformed .npy shape");
  std::size_t p = 1;
  a.items = 1;
  while (p < shape.size() - 1) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',')) ++p;
    if (p >= shape.size() - 1) break;
    std::uint64_t d = 0;
    const auto r = std::from_chars(shape.data() + p, shape.data() + shape.size(), d);
    if (r.ec != std::errc()) bad(path, "malformed .npy shape " + std::string(shape));
    p = std::size_t(r.ptr - shape.data());
    if (d != 0 && a.items > std::numeric_limits<std::uint64_t>::max() / d) bad(path, "the .npy shape is too large");
    a.items *= d;
    a.shape.push_back(d);
  }
  const std::uint64_t item = npy_item_size(a.dtype);
  if (a.items > (file.size() - a.data_offset) / item)
    bad(path, "the data is shorter than the shape " + std::string(shape) + " says (a truncated file?)");
  return a;
}

std::string npy_header(npy_dtype dtype, std::span<const std::uint64_t> shape) {
  std::string dict = std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // Magic (6) + version (2) + length (2) + dict + padding + '\n', a multiple of 64.
  std::size_t total = 10 + dict.size() + 1;
  const std::size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string h;
  h.reserve(10 + dict.size());
  const char prefix[] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, char(dict.size() & 0xff), char((dict.size() >> 8) & 0xff)};
  h.append(prefix, sizeof prefix);
  h.append(dict);
  return h;
}

}  // namespace tandem
