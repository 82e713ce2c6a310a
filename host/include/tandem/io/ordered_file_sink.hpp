// Per-item outputs (one prediction per row, one flag per line) written to a file in chunk order.
//
// The job runs window by window (run_groups); the callback that receives each group's partials
// writes them here, in order, so the output never has to fit in memory. A regular-file destination
// is written under a temporary name in the same folder and renamed onto PATH by commit(): a reader
// sees the old file or the whole new one, never half, and a failed or interrupted run leaves PATH
// as it was. Something that is not a regular file (/dev/null, /dev/stdout, a FIFO, a terminal) is
// written directly: renaming over it would replace the device node or the pipe, not write to it.
// A symlink is followed: its target is what gets replaced. See docs/io.md.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace tandem {

class ordered_file_sink {
 public:
  // Prepares PATH for writing. Throws usage_error (one line: the path and the reason) when PATH
  // cannot be written at all: a directory, a folder that does not exist or is not writable.
  explicit ordered_file_sink(std::string path);
  // Checks, before any work, that a sink on PATH could be made, and says whether it would write
  // PATH directly (true) or through a temporary file (false). Throws usage_error as the
  // constructor would. Leaves nothing behind: a regular file's folder is tested by creating the
  // temporary file and removing it at once; a device or FIFO is checked for write permission, not
  // opened (opening a FIFO would wait for a reader, and closing it would end the reader's input).
  static bool check(const std::string& path);
  // Throws usage_error when PATH and INPUT are the same regular file (links followed): the output,
  // renamed onto PATH, would replace a file the run reads (which the user may have nowhere else)
  // or another of its outputs. `what` names INPUT's flag in the message ("--input", "--model").
  static void check_not_input(const std::string& path, const std::string& input, std::string_view what);
  // Without commit(): removes the temporary file; PATH is untouched.
  ~ordered_file_sink();
  ordered_file_sink(const ordered_file_sink&) = delete;
  ordered_file_sink& operator=(const ordered_file_sink&) = delete;

  // Appends bytes. Throws std::runtime_error naming the path and the reason when a write fails
  // (disk full, I/O error); the temporary file is then already removed.
  void write(const void* bytes, std::size_t size);
  void write(std::string_view text) { write(text.data(), text.size()); }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  void write(std::span<const T> items) {
    write(items.data(), items.size_bytes());
  }

  // Writes what is buffered, fsyncs and closes the file (every error checked) and renames it onto
  // PATH. Throws std::runtime_error on failure, leaving nothing behind.
  void commit();

  const std::string& path() const noexcept { return path_; }
  // Where the bytes go before commit(): the temporary file, or PATH itself when written directly.
  const std::string& writing_to() const noexcept { return temp_.empty() ? target_ : temp_; }
  bool direct() const noexcept { return temp_.empty(); }
  std::size_t bytes_written() const noexcept { return written_ + buffer_.size(); }

 private:
  void flush();
  void write_all(const char* p, std::size_t size);
  [[noreturn]] void fail_write(const char* what, int err);
  void give_name();
  void discard() noexcept;

  std::string path_;    // as given, for messages
  std::string target_;  // PATH with symlinks followed: what commit() replaces
  std::string temp_;    // empty when writing directly
  bool unnamed_ = false;  // temp_ is the name it will get: the file has none yet (O_TMPFILE)
  int temp_slot_ = -1;  // the temporary file's entry in the signal handler's table (interrupt.hpp)
  int fd_ = -1;
  std::vector<char> buffer_;
  std::size_t written_ = 0;
  bool committed_ = false;
};

}  // namespace tandem
