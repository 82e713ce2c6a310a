// NumPy .npy files: the header of an array (read from a mapped file, so the data is used in place)
// and the header to write before an array whose size is known. Versions 1.0 to 3.0, little-endian
// float32 / float64 (and the integer types reduce may read), C order. See docs/io.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace tandem {

enum class npy_dtype : std::uint8_t { f32, f64, i32, i64, u8 };

std::size_t npy_item_size(npy_dtype t) noexcept;
const char* npy_descr(npy_dtype t) noexcept;  // "<f4", "<f8", ...

struct npy_array {
  npy_dtype dtype = npy_dtype::f64;
  std::vector<std::uint64_t> shape;  // () for a scalar
  std::size_t data_offset = 0;       // where the data starts in the file
  std::uint64_t items = 0;           // product of shape
};

// Reads the header of the .npy file whose bytes are `file` (`path` only for messages). Throws
// usage_error, one line naming the path, for a file that is not .npy, a big-endian or unsupported
// dtype, Fortran order, or data shorter than the shape says.
npy_array parse_npy_header(std::span<const std::byte> file, const std::string& path);

// The header (magic, version 1.0, padded to 64 bytes) of a C-order array of this dtype and shape.
std::string npy_header(npy_dtype dtype, std::span<const std::uint64_t> shape);

}  // namespace tandem
