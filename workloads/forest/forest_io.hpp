// The forest workload's inputs (generated rows, .npy, CSV) and outputs (CSV, .npy), window by
// window: the job runs a window of rows at a time, so neither the input nor the predictions need
// to fit in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/io/mapped_file.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/workloads/forest.hpp"

namespace tandem::forest_io {

// A CSV file with a header line: one column per feature, in the model's order. An empty field,
// NaN or NA is a missing value. Rows are read in order, window by window.
class csv_input {
 public:
  // Maps the file, reads the header and counts the rows. Throws usage_error (one line: the path,
  // the line and what is wrong) for a missing or empty file, a header whose column count is not
  // `features`, or names that differ from `names` when both have them.
  csv_input(const std::string& path, std::uint32_t features, const std::vector<std::string>& names);
  std::uint64_t rows() const noexcept { return rows_; }
  const mapped_file& file() const noexcept { return file_; }
  // To row `row` (0-based, among the rows counted; every run reads the file again). The count's
  // pass marked every forest_chunk_rows-th row, so this skips at most that many lines: a rank
  // reaches its first row without parsing the rows before it.
  void rewind(std::uint64_t row = 0);
  // Parses the next n rows into out (n x features). Throws usage_error naming the line and column
  // of a field that is not a number or a row with the wrong number of fields.
  void read(std::uint64_t n, float* out);
  void read(std::uint64_t n, double* out);

 private:
  template <class T>
  void read_rows(std::uint64_t n, T* out);
  mapped_file file_;
  std::uint32_t features_ = 0;
  std::uint64_t rows_ = 0;
  std::size_t data_begin_ = 0;  // the first byte after the header line
  std::size_t cursor_ = 0;
  std::uint64_t line_ = 0;      // 1-based number of the line at cursor_
  struct mark {
    std::size_t offset;
    std::uint64_t line;
  };
  std::vector<mark> marks_;     // where rows 0, forest_chunk_rows, 2 forest_chunk_rows, ... begin
};

// Rows [first, first + rows) of the generated input (rows x features), the same values whichever
// rows a rank generates: value i of the whole input depends on (seed, i) alone.
void generate_rows(float* out, std::uint64_t first, std::uint64_t rows, std::uint32_t features, std::uint64_t seed);
void generate_rows(double* out, std::uint64_t first, std::uint64_t rows, std::uint32_t features, std::uint64_t seed);

// The bytes of the predictions file: CSV (a header line, then one line per row) or .npy (a header,
// then float64 rows x columns), by the path's extension. A row's bytes depend on the row alone, so
// the file is the header followed by its rows' encodings in row order, however the rows were cut.
class prediction_format {
 public:
  prediction_format(const std::string& path, forest_output kind, std::uint32_t columns, bool float_values);
  std::string header(std::uint64_t rows) const;
  // n rows of outputs (n x columns) as the file holds them: the doubles themselves (.npy), or
  // their text in `scratch` (CSV).
  std::string_view encode(const double* outputs, std::uint64_t n, std::string& scratch) const;

 private:
  forest_output kind_;
  std::uint32_t columns_;
  bool float_values_;
  bool npy_;
};

// Where the predictions go: CSV with a header, or .npy (float64, rows x columns) by extension.
class prediction_writer {
 public:
  // Checks the destination can be written (usage_error otherwise); opens nothing yet.
  prediction_writer(std::string path, forest_output kind, std::uint32_t columns, std::uint64_t rows,
                    bool float_values);
  // A fresh temporary file for one run.
  void begin();
  void write(const double* outputs, std::uint64_t n);
  // Rows already encoded (prediction_format::encode), e.g. by another rank.
  void write_encoded(const void* bytes, std::size_t size);
  void commit();
  void abandon() noexcept;

 private:
  std::string path_;
  prediction_format format_;
  std::uint64_t rows_;
  std::unique_ptr<ordered_file_sink> sink_;
  std::string text_;
};

// A rank's encoded predictions, held until rank 0 asks for them (the rank's share of the output
// need not fit in memory, and no shared file system is assumed): an unnamed file in the node's
// temporary folder ($TMPDIR, else /tmp), unlinked as soon as it is made, so whatever ends the
// process leaves nothing behind.
class spool {
 public:
  spool();
  ~spool();
  spool(const spool&) = delete;
  spool& operator=(const spool&) = delete;
  // Empties it for a new run.
  void clear();
  // Throws std::runtime_error naming the folder and the reason when a write fails (disk full).
  void append(std::string_view bytes);
  std::uint64_t size() const noexcept { return size_; }
  // Reads bytes [offset, offset + n) into out (after the appends; flushes them first).
  void read(std::uint64_t offset, void* out, std::size_t n);

 private:
  void flush();
  void write_all(const char* p, std::size_t size);
  int fd_ = -1;
  std::string folder_;
  std::string buffer_;
  std::uint64_t size_ = 0;
  std::uint64_t flushed_ = 0;  // bytes in the file (the rest of size_ is in buffer_)
};

}  // namespace tandem::forest_io
