// The forest workload's inputs (generated rows, .npy, CSV) and outputs (CSV, .npy), window by
// window: the job runs a window of rows at a time, so neither the input nor the predictions need
// to fit in memory.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
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
  // Back to the first row (every run reads the file again).
  void rewind() noexcept;
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
  void commit();
  void abandon() noexcept;

 private:
  std::string path_;
  forest_output kind_;
  std::uint32_t columns_;
  std::uint64_t rows_;
  bool float_values_;
  bool npy_;
  std::unique_ptr<ordered_file_sink> sink_;
  std::string text_;
};

}  // namespace tandem::forest_io
