// Inputs larger than memory and outputs streamed in chunk order: mapped files, records that cross
// chunk boundaries, the ordered file sink, and which inputs procs workers can see.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/errors.hpp"
#include "tandem/executors.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/mapped_file.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/io/records.hpp"
#include "tandem/job.hpp"
#include "tandem/process_pool.hpp"
#include "tandem/shared_buffer.hpp"
#include "temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using tandem::chunk_plan;
using tandem::chunk_range;

// Every test's folder is named after this file's tests.
struct temp_dir : tandem::testing::temp_dir {
  temp_dir() : tandem::testing::temp_dir("tandem_io_") {}
};
using tandem::testing::write_file;

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- mapped_file ----

TEST(mapped_file, maps_the_bytes_read_only) {
  temp_dir d;
  write_file(d / "a.bin", "hello\nworld\n");
  tandem::mapped_file m(d / "a.bin");
  ASSERT_EQ(m.size(), 12u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m.data()), m.size()), "hello\nworld\n");
  EXPECT_EQ(m.path(), d / "a.bin");
  EXPECT_GT(m.sequence(), 0u);
  m.advise_sequential();

  tandem::mapped_file moved = std::move(m);
  EXPECT_EQ(m.data(), nullptr);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(moved.size(), 12u);
  tandem::mapped_file populated(d / "a.bin", {.populate = true});
  EXPECT_EQ(populated.bytes()[0], std::byte{'h'});
  EXPECT_GT(populated.sequence(), moved.sequence());
}

TEST(mapped_file, empty_file_maps_nothing) {
  temp_dir d;
  write_file(d / "empty", "");
  tandem::mapped_file m(d / "empty");
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.data(), nullptr);
  EXPECT_TRUE(m.bytes().empty());
}

TEST(mapped_file, failures_are_one_line_usage_errors) {
  temp_dir d;
  const std::string missing = d / "x.npy";
  EXPECT_THROW(tandem::mapped_file{missing}, tandem::usage_error);
  EXPECT_EQ(error_of([&] { tandem::mapped_file m(missing); }), "cannot open '" + missing + "': No such file or directory");

  EXPECT_EQ(error_of([&] { tandem::mapped_file m(d.path.string()); }),
            "cannot open '" + d.path.string() + "': is not a regular file (a directory)");

  const std::string fifo = d / "fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // Must not block waiting for a writer.
  EXPECT_EQ(error_of([&] { tandem::mapped_file m(fifo); }), "cannot open '" + fifo + "': is not a regular file (a FIFO)");
  EXPECT_THROW(tandem::mapped_file{"/dev/null"}, tandem::usage_error);
  // A regular file that reports size 0 and has content: refused, not read as empty.
  if (access("/proc/self/status", R_OK) == 0) {
    EXPECT_NE(error_of([&] { tandem::mapped_file m("/proc/self/status"); }).find("reports a size of 0 but has content"),
              std::string::npos);
  }
  // A truly empty file maps as empty.
  write_file(d / "empty", "");
  EXPECT_EQ(tandem::mapped_file(d / "empty").size(), 0u);

  if (geteuid() != 0) {
    const std::string locked = d / "locked";
    write_file(locked, "secret");
    chmod(locked.c_str(), 0);
    EXPECT_EQ(error_of([&] { tandem::mapped_file m(locked); }), "cannot open '" + locked + "': Permission denied");
  }
}

// ---- records ----

struct split {
  std::vector<std::string> spans;  // each chunk's record span, in chunk order
  std::size_t lines = 0;           // lines found through line_range over every span
  std::vector<std::string> line_texts;
};

split split_text(const std::string& text, std::size_t chunk) {
  const auto* data = reinterpret_cast<const std::byte*>(text.data());
  const chunk_plan plan(text.size(), chunk);
  split out;
  std::size_t expected_begin = 0;
  for (std::size_t c = 0; c < plan.chunks(); ++c) {
    const chunk_range r = tandem::record_span(data, text.size(), plan.range(c));
    EXPECT_EQ(r.begin, expected_begin) << "chunk " << c << " of size " << chunk;
    EXPECT_LE(r.begin, r.end);
    expected_begin = r.end;
    out.spans.push_back(text.substr(r.begin, r.size()));
    for (std::string_view line : tandem::line_range(data, r)) {
      ++out.lines;
      out.line_texts.emplace_back(line);
    }
  }
  EXPECT_EQ(expected_begin, text.size());
  return out;
}

// What `grep -c ''` prints: newlines, plus one for a last line without its newline.
std::size_t grep_count(const std::string& text) {
  const auto n = std::size_t(std::count(text.begin(), text.end(), '\n'));
  return n + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

// The lines, written independently: split on '\n', drop one trailing '\r'.
std::vector<std::string> reference_lines(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      if (!cur.empty() && cur.back() == '\r') cur.pop_back();
      out.push_back(cur);
      cur.clear();
    } else {
      cur += text[i];
    }
  }
  if (!cur.empty()) {
    if (cur.back() == '\r') cur.pop_back();
    out.push_back(cur);
  }
  return out;
}

TEST(records, every_chunk_size_partitions_the_records) {
  const std::string huge(300, 'x');
  const std::vector<std::string> inputs = {
      "",
      "\n",
      "\n\n\n",
      "a",
      "a\n",
      "one\ntwo\nthree\n",
      "one\ntwo\nthree",
      "crlf\r\nlines\r\n\r\nend\r\n",
      "crlf without end\r\nlast\r",
      "\n\nempty lines\n\n\nbetween\n\n",
      "short\n" + huge + "\nshort again\n",
      huge,
      huge + "\n",
      "x\n" + huge,
      "a,b,c\n1,2,3\n4,5,6\n",
  };
  for (const std::string& text : inputs) {
    const std::vector<std::string> expected = reference_lines(text);
    ASSERT_EQ(expected.size(), grep_count(text));
    for (std::size_t chunk = 1; chunk <= text.size() + 2; ++chunk) {
      const split s = split_text(text, chunk);
      std::string joined;
      for (const std::string& span : s.spans) {
        joined += span;
        // A span holds whole records: empty, or ending at a delimiter or at the end of the input.
        if (!span.empty() && span.back() != '\n') {
          EXPECT_EQ(joined.size(), text.size()) << "chunk size " << chunk;  // only the input's last record
        }
      }
      ASSERT_EQ(joined, text) << "chunk size " << chunk;
      ASSERT_EQ(s.lines, grep_count(text)) << "chunk size " << chunk << " text " << text;
      ASSERT_EQ(s.line_texts, expected) << "chunk size " << chunk;
    }
  }
}

TEST(records, a_long_record_belongs_to_the_chunk_it_starts_in) {
  const std::string text = "ab\n" + std::string(20, 'L') + "\ncd\n";  // L.. starts at byte 3
  const auto* data = reinterpret_cast<const std::byte*>(text.data());
  const chunk_plan plan(text.size(), 4);
  std::vector<std::size_t> owners;
  for (std::size_t c = 0; c < plan.chunks(); ++c) {
    const chunk_range r = tandem::record_span(data, text.size(), plan.range(c));
    for (std::string_view line : tandem::line_range(data, r))
      if (line.front() == 'L') owners.push_back(c);
  }
  EXPECT_EQ(owners, std::vector<std::size_t>{0});
  // Chunks 1..5 lie inside the long line and own nothing (the last chunk owns "cd").
  for (std::size_t c = 1; c < 6; ++c) EXPECT_EQ(tandem::record_span(data, text.size(), plan.range(c)).size(), 0u);
}

TEST(records, other_delimiters_and_strings) {
  const std::string text = "a;bb;;c";
  const std::vector<std::string> want = {"a", "bb", "", "c"};
  std::vector<std::string> got;
  for (std::string_view f : tandem::line_range(text, ';')) got.emplace_back(f);
  EXPECT_EQ(got, want);
  const auto* data = reinterpret_cast<const std::byte*>(text.data());
  EXPECT_EQ(tandem::record_span(data, text.size(), {2, 4}, ';').begin, 2u);
  EXPECT_EQ(tandem::record_span(data, text.size(), {2, 4}, ';').end, 5u);
  EXPECT_EQ(std::distance(tandem::line_range("").begin(), tandem::line_range("").end()), 0);
}

TEST(records, chunks_of_a_mapped_file_count_like_grep) {
  temp_dir d;
  std::string text;
  for (int i = 0; i < 5000; ++i) text += (i % 7 == 0 ? "ERROR line " : "ok ") + std::to_string(i) + (i % 3 ? "\n" : "\r\n");
  text += "ERROR no final newline";
  write_file(d / "log", text);
  tandem::mapped_file m(d / "log");
  std::size_t lines = 0, errors = 0;
  const chunk_plan plan(m.size(), 4096);
  for (std::size_t c = 0; c < plan.chunks(); ++c)
    for (std::string_view line : tandem::line_range(m.data(), tandem::record_span(m.bytes(), plan.range(c)))) {
      ++lines;
      errors += line.find("ERROR") != std::string_view::npos;
    }
  EXPECT_EQ(lines, 5001u);
  EXPECT_EQ(errors, 5000u / 7 + 1 + 1);
}

// ---- ordered_file_sink ----

TEST(ordered_file_sink, commit_replaces_the_file_atomically) {
  temp_dir d;
  const std::string out = d / "pred.csv";
  write_file(out, "old contents\n");
  chmod(out.c_str(), 0640);
  {
    tandem::ordered_file_sink sink(out);
    EXPECT_FALSE(sink.direct());
    EXPECT_EQ(fs::path(sink.writing_to()).parent_path(), d.path);
    for (int g = 0; g < 1000; ++g) sink.write(std::to_string(g) + "\n");
    const std::vector<std::uint8_t> big(3u << 20, 7);  // larger than the buffer: written at once
    sink.write(std::span<const std::uint8_t>(big));
    EXPECT_EQ(read_file(out), "old contents\n");  // untouched until commit
    sink.commit();
  }
  const std::string got = read_file(out);
  std::string want;
  for (int g = 0; g < 1000; ++g) want += std::to_string(g) + "\n";
  EXPECT_EQ(got.substr(0, want.size()), want);
  EXPECT_EQ(got.size(), want.size() + (3u << 20));
  EXPECT_EQ(d.names(), std::vector<std::string>{"pred.csv"});
  struct stat st {};
  stat(out.c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(ordered_file_sink, without_commit_nothing_is_left) {
  temp_dir d;
  {
    tandem::ordered_file_sink sink(d / "new.bin");
    sink.write("partial");
  }
  EXPECT_TRUE(d.names().empty());
  write_file(d / "kept", "keep me");
  {
    tandem::ordered_file_sink sink(d / "kept");
    sink.write(std::string(2u << 20, 'z'));  // flushed to the temporary file
  }
  EXPECT_EQ(d.names(), std::vector<std::string>{"kept"});
  EXPECT_EQ(read_file(d / "kept"), "keep me");
}

// A signal that ends the process inside its handler (no pool waiting: the handler exits at once,
// without unwinding) must not leave the temporary file: the handler removes registered paths.
TEST(ordered_file_sink, a_signal_that_ends_the_process_leaves_no_temporary_file) {
  for (const int sig : {SIGINT, SIGTERM}) {
    temp_dir d;
    write_file(d / "kept", "keep me");
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, STDERR_FILENO);  // the handler's one line
      tandem::install_interrupt_handlers();
      tandem::ordered_file_sink fresh(d / "new.bin");
      fresh.write(std::string(2u << 20, 'x'));
      tandem::ordered_file_sink replacing(d / "kept");
      replacing.write("half");
      ::raise(sig);
      ::_exit(99);  // not reached: the handler exits with 128 + sig
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 128 + sig);
    EXPECT_EQ(d.names(), std::vector<std::string>{"kept"}) << "signal " << sig;
    EXPECT_EQ(read_file(d / "kept"), "keep me");
  }
}

// SIGKILL cannot be handled: a process killed before commit (an MPI rank ended by mpirun, the
// OOM killer) must still leave nothing, which an unnamed file (O_TMPFILE) gives.
TEST(ordered_file_sink, sigkill_before_commit_leaves_nothing) {
  temp_dir d;
  const int probe = ::open(d.path.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (probe < 0) GTEST_SKIP() << "this file system has no O_TMPFILE: " << std::strerror(errno);
  ::close(probe);
  write_file(d / "kept", "keep me");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    tandem::ordered_file_sink fresh(d / "new.bin");
    fresh.write(std::string(3u << 20, 'x'));
    tandem::ordered_file_sink replacing(d / "kept");
    replacing.write(std::string(3u << 20, 'y'));
    ::raise(SIGKILL);
    ::_exit(99);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(d.names(), std::vector<std::string>{"kept"});
  EXPECT_EQ(read_file(d / "kept"), "keep me");
  // And a commit still gives the file its name, with the right contents.
  {
    tandem::ordered_file_sink sink(d / "new.bin");
    sink.write("whole");
    sink.commit();
  }
  EXPECT_EQ(read_file(d / "new.bin"), "whole");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"kept", "new.bin"}));
}

TEST(ordered_file_sink, devices_are_written_directly) {
  tandem::ordered_file_sink sink("/dev/null");
  EXPECT_TRUE(sink.direct());
  sink.write("discarded");
  sink.commit();
  struct stat st {};
  ASSERT_EQ(stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));  // still the device

  tandem::ordered_file_sink err("/dev/stderr");
  EXPECT_TRUE(err.direct());
  err.commit();
}

TEST(ordered_file_sink, an_open_descriptor_is_written_at_its_offset) {
  // `tandem ... -o /dev/stdout >> log`: the shell's file must be appended to, not replaced.
  temp_dir d;
  const std::string log = d / "log";
  write_file(log, "before\n");
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  struct stat st0 {};
  fstat(fd, &st0);
  for (const std::string& name : {"/dev/fd/" + std::to_string(fd), "/proc/self/fd/" + std::to_string(fd)}) {
    tandem::ordered_file_sink sink(name);
    EXPECT_TRUE(sink.direct()) << name;
    sink.write("line\n");
    sink.commit();
  }
  ::close(fd);
  EXPECT_EQ(read_file(log), "before\nline\nline\n");
  struct stat st1 {};
  stat(log.c_str(), &st1);
  EXPECT_EQ(st0.st_ino, st1.st_ino);
  EXPECT_EQ(d.names(), std::vector<std::string>{"log"});
}

TEST(ordered_file_sink, a_fifo_is_written_not_replaced) {
  temp_dir d;
  const std::string fifo = d / "pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = read_file(fifo); });
  {
    tandem::ordered_file_sink sink(fifo);
    EXPECT_TRUE(sink.direct());
    sink.write("1\n2\n");
    sink.write("3\n");
    sink.commit();
  }
  reader.join();
  EXPECT_EQ(received, "1\n2\n3\n");
  struct stat st {};
  ASSERT_EQ(lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(d.names(), std::vector<std::string>{"pipe"});
}

TEST(ordered_file_sink, a_symlink_target_is_replaced) {
  temp_dir d;
  fs::create_directory(d.path / "real");
  write_file(d / "real/out.txt", "old");
  fs::create_symlink("real/out.txt", d.path / "link");
  {
    tandem::ordered_file_sink sink(d / "link");
    EXPECT_EQ(fs::path(sink.writing_to()).parent_path(), d.path / "real");
    sink.write("new");
    sink.commit();
  }
  EXPECT_TRUE(fs::is_symlink(d.path / "link"));
  EXPECT_EQ(read_file(d / "real/out.txt"), "new");
  EXPECT_EQ(read_file(d / "link"), "new");
  EXPECT_EQ(d.names(), (std::vector<std::string>{"link", "real"}));

  // A dangling link: its target is created.
  fs::create_symlink("real/fresh.txt", d.path / "dangling");
  tandem::ordered_file_sink sink(d / "dangling");
  sink.write("fresh");
  sink.commit();
  EXPECT_EQ(read_file(d / "real/fresh.txt"), "fresh");
}

TEST(ordered_file_sink, unusable_destinations_are_usage_errors) {
  temp_dir d;
  EXPECT_THROW(tandem::ordered_file_sink{d.path.string()}, tandem::usage_error);
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink s(d.path.string()); }),
            "cannot write '" + d.path.string() + "': Is a directory");
  const std::string nowhere = d / "no/such/folder/out.csv";
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink s(nowhere); }),
            "cannot write '" + nowhere + "': No such file or directory");
}

TEST(ordered_file_sink, a_read_only_folder_is_a_usage_error) {
  temp_dir d;
  if (geteuid() == 0) {
    GTEST_SKIP() << "running as root: permissions are not enforced, read-only folder case skipped";
  }
  fs::create_directory(d.path / "ro");
  chmod((d / "ro").c_str(), 0555);
  const std::string ro = d / "ro/out.csv";
  EXPECT_THROW(tandem::ordered_file_sink{ro}, tandem::usage_error);
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink s(ro); }), "cannot write '" + ro + "': Permission denied");
  EXPECT_TRUE(fs::is_empty(d.path / "ro"));
}

// check() answers before any work what the constructor would, and leaves nothing behind.
TEST(ordered_file_sink, check_finds_unusable_destinations_up_front) {
  temp_dir d;
  EXPECT_FALSE(tandem::ordered_file_sink::check(d / "new.json"));  // a temporary file and a rename
  write_file(d / "old.json", "old");
  EXPECT_FALSE(tandem::ordered_file_sink::check(d / "old.json"));
  EXPECT_EQ(read_file(d / "old.json"), "old");
  EXPECT_TRUE(tandem::ordered_file_sink::check("/dev/null"));  // written directly
  EXPECT_TRUE(tandem::ordered_file_sink::check("/dev/stderr"));
  // A FIFO without a reader: answered at once, not opened (which would wait for one).
  ASSERT_EQ(mkfifo((d / "pipe").c_str(), 0600), 0);
  EXPECT_TRUE(tandem::ordered_file_sink::check(d / "pipe"));
  fs::create_symlink("old.json", d.path / "link");
  EXPECT_FALSE(tandem::ordered_file_sink::check(d / "link"));
  EXPECT_EQ(d.names(), (std::vector<std::string>{"link", "old.json", "pipe"}));

  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink::check(d.path.string()); }),
            "cannot write '" + d.path.string() + "': Is a directory");
  fs::create_directory_symlink(d.path, d.path / "dirlink");
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink::check(d / "dirlink"); }),
            "cannot write '" + d / "dirlink" + "': Is a directory");
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink::check(d / "no/such/out.csv"); }),
            "cannot write '" + d / "no/such/out.csv" + "': No such file or directory");
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink::check(d / "old.json/x"); }),
            "cannot write '" + d / "old.json/x" + "': Not a directory");
  EXPECT_EQ(error_of([] { tandem::ordered_file_sink::check(""); }), "cannot write '': No such file or directory");
  EXPECT_THROW(tandem::ordered_file_sink::check(d.path.string()), tandem::usage_error);
  // A descriptor that is not open for writing.
  const int ro = ::open((d / "old.json").c_str(), O_RDONLY);
  ASSERT_GE(ro, 0);
  const std::string name = "/dev/fd/" + std::to_string(ro);
  EXPECT_EQ(error_of([&] { tandem::ordered_file_sink::check(name); }),
            "cannot write '" + name + "': Bad file descriptor");
  ::close(ro);
  EXPECT_EQ(d.names(), (std::vector<std::string>{"dirlink", "link", "old.json", "pipe"}));
}

TEST(ordered_file_sink, disk_full_is_a_runtime_error_naming_the_path) {
  if (access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full here";
  tandem::ordered_file_sink sink("/dev/full");
  sink.write("a few bytes stay in the buffer");
  try {
    sink.commit();
    FAIL() << "commit to /dev/full succeeded";
  } catch (const tandem::usage_error&) {
    FAIL() << "a failure mid-write is not a usage error";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot write '/dev/full': No space left on device");
  }
  tandem::ordered_file_sink big("/dev/full");
  EXPECT_THROW(big.write(std::string(2u << 20, 'x')), std::runtime_error);
  EXPECT_THROW(big.write("more"), std::logic_error);  // the sink is finished after a failure
}

TEST(ordered_file_sink, streams_run_groups_output_in_chunk_order) {
  temp_dir d;
  const std::string out = d / "squares.txt";
  // One value per item, written group by group from a windowed run; compare with seq's bytes.
  struct squares {
    using params_type = int;
    using partial_type = std::uint64_t;
    static std::uint64_t run(const int&, chunk_range r) { return r.begin * r.begin; }
  };
  tandem::job<squares> j;
  j.plan = chunk_plan(1000, 1);
  j.group_chunks = 7;
  for (const char* name : {"seq", "threads", "procs"}) {
    auto ex = tandem::make_executor(name, 2);
    tandem::run_context ctx;
    ctx.which = *tandem::parse_backend(name);
    ctx.cpu = ex.get();
    tandem::ordered_file_sink sink(out);
    tandem::run_groups(ctx, j, 3, [&](std::size_t, std::span<const std::uint64_t> p) {
      std::string s;
      for (std::uint64_t v : p) s += std::to_string(v) + "\n";
      sink.write(s);
    });
    sink.commit();
    std::string want;
    for (std::uint64_t i = 0; i < 1000; ++i) want += std::to_string(i * i) + "\n";
    EXPECT_EQ(read_file(out), want) << name;
  }
}

// ---- what procs workers can read ----

struct sum_params {
  const std::uint8_t* bytes = nullptr;
};

struct byte_sum {
  using params_type = sum_params;
  using partial_type = std::uint64_t;
  static std::uint64_t run(const sum_params& p, chunk_range r) {
    std::uint64_t s = 0;
    for (std::size_t i = r.begin; i < r.end; ++i) s += p.bytes[i] * (i + 1);
    return s;
  }
};

std::uint64_t reference_sum(const std::string& bytes) {
  std::uint64_t s = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) s += std::uint64_t(std::uint8_t(bytes[i])) * (i + 1);
  return s;
}

std::uint64_t run_sum(tandem::executor& ex, const std::uint8_t* bytes, std::size_t size,
                      const tandem::memory_region& region) {
  const std::vector<std::uint64_t> partials =
      tandem::run_chunks<byte_sum>(ex, chunk_plan(size, 4096), sum_params{bytes}, std::span(&region, 1));
  return std::accumulate(partials.begin(), partials.end(), std::uint64_t{0});
}

// Lines containing "ERROR" in one byte chunk of a mapped log.
struct grep_params {
  const std::byte* data = nullptr;
  std::size_t size = 0;
};

struct grep_count_kernel {
  using params_type = grep_params;
  struct partial_type {
    std::uint64_t lines = 0, matches = 0;
  };
  static partial_type run(const grep_params& p, chunk_range bytes) {
    partial_type out;
    for (std::string_view line : tandem::line_range(p.data, tandem::record_span(p.data, p.size, bytes))) {
      ++out.lines;
      out.matches += line.find("ERROR") != std::string_view::npos;
    }
    return out;
  }
};

std::string pattern_bytes(std::size_t n, unsigned salt) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = char((i * 131 + salt * 7 + (i >> 9)) & 0xff);
  return s;
}

TEST(procs_inputs, visibility_rule) {
  temp_dir d;
  write_file(d / "before", "abc");
  tandem::mapped_file before(d / "before");
  const std::uint64_t forked = tandem::mapping_registry::now();
  write_file(d / "after", "def");
  tandem::mapped_file after(d / "after");
  tandem::shared_buffer shared(100);
  std::vector<char> heap(100);
  using tandem::region_visibility;
  EXPECT_EQ(tandem::procs_visibility(before.region(), forked), region_visibility::visible);
  EXPECT_EQ(tandem::procs_visibility({before.data() + 1, 2, "part"}, forked), region_visibility::visible);
  EXPECT_EQ(tandem::procs_visibility({before.data() + 1, 3, "past the end"}, forked), region_visibility::not_shared);
  EXPECT_EQ(tandem::procs_visibility(after.region(), forked), region_visibility::mapped_after_fork);
  EXPECT_EQ(tandem::procs_visibility({shared.data(), 100, "s"}, 0), region_visibility::visible);
  EXPECT_EQ(tandem::procs_visibility({heap.data(), 100, "v"}, forked), region_visibility::not_shared);
  EXPECT_EQ(tandem::procs_visibility({heap.data(), 0, "empty"}, forked), region_visibility::visible);
  const void* gone = after.data();
  after = tandem::mapped_file();
  EXPECT_EQ(tandem::procs_visibility({gone, 3, "unmapped"}, forked), region_visibility::not_shared);
}

TEST(procs_inputs, inherited_buffers_follow_the_mapping_rule) {
  tandem::inherited_buffer before(1 << 20);
  const std::uint64_t forked = tandem::mapping_registry::now();
  tandem::inherited_buffer after(1 << 20);
  using tandem::region_visibility;
  EXPECT_EQ(tandem::procs_visibility(before.region(), forked), region_visibility::visible);
  EXPECT_EQ(tandem::procs_visibility(after.region(), forked), region_visibility::mapped_after_fork);
  // Zeroed, writable, and readable by a procs worker forked after it was filled.
  auto* words = static_cast<std::uint64_t*>(after.data());
  EXPECT_EQ(words[12345], 0u);
  for (std::size_t i = 0; i < after.size() / 8; ++i) words[i] = i * 3;
  tandem::process_pool pool({2, 0, 0});
  struct params {
    const std::uint64_t* w;
  };
  struct kernel {
    using params_type = params;
    using partial_type = std::uint64_t;
    static std::uint64_t run(const params& p, tandem::chunk_range r) {
      std::uint64_t s = 0;
      for (std::size_t i = r.begin; i < r.end; ++i) s += p.w[i];
      return s;
    }
  };
  const tandem::memory_region regions[] = {after.region()};
  const tandem::chunk_plan plan(after.size() / 8, 1000);
  const auto partials = tandem::run_chunks<kernel>(pool, plan, params{words}, regions);
  std::uint64_t total = 0;
  for (std::uint64_t p : partials) total += p;
  const std::uint64_t n = after.size() / 8;
  EXPECT_EQ(total, 3 * (n * (n - 1) / 2));
  const void* gone = after.data();
  after = tandem::inherited_buffer();
  EXPECT_EQ(tandem::procs_visibility({gone, 8, "unmapped"}, forked), region_visibility::not_shared);
}

TEST(procs_inputs, file_mapped_after_the_pool_is_seen_after_a_refork) {
  temp_dir d;
  tandem::process_pool pool({2, 0, 0});
  const std::vector<pid_t> first = pool.worker_pids();
  const std::string bytes = pattern_bytes(100'003, 1);
  write_file(d / "input.raw", bytes);
  tandem::mapped_file m(d / "input.raw");  // made after the workers were forked
  const auto* p = reinterpret_cast<const std::uint8_t*>(m.data());
  EXPECT_EQ(run_sum(pool, p, m.size(), m.region("input.raw")), reference_sum(bytes));
  const std::vector<pid_t> second = pool.worker_pids();
  EXPECT_NE(first, second) << "the workers were not forked again";
  // The pool now has the mapping: the next job runs on the same workers.
  EXPECT_EQ(run_sum(pool, p, m.size(), m.region("input.raw")), reference_sum(bytes));
  EXPECT_EQ(pool.worker_pids(), second);
}

TEST(procs_inputs, a_log_mapped_before_the_pool_is_read_in_place_on_every_backend) {
  temp_dir d;
  std::string text;
  std::uint64_t want_matches = 0;
  for (int i = 0; i < 20'000; ++i) {
    const bool hit = (i * 7919) % 13 == 0;
    want_matches += hit;
    text += std::string(std::size_t(i % 97), hit ? 'E' : 'o') + (hit ? " ERROR\n" : " fine\n");
  }
  write_file(d / "big.log", text);
  tandem::mapped_file log(d / "big.log");
  tandem::process_pool pool({2, 0, 0});
  const std::vector<pid_t> workers = pool.worker_pids();
  const tandem::memory_region region = log.region("big.log");
  for (std::size_t chunk : {std::size_t{1000}, std::size_t{4096}, std::size_t{65536}}) {
    std::vector<tandem::executor*> executors{&pool};
    auto seq = tandem::make_executor("seq", 1);
    auto threads = tandem::make_executor("threads", 2);
    executors.push_back(seq.get());
    executors.push_back(threads.get());
    for (tandem::executor* ex : executors) {
      const auto parts = tandem::run_chunks<grep_count_kernel>(*ex, chunk_plan(log.size(), chunk),
                                                               grep_params{log.data(), log.size()},
                                                               std::span(&region, 1));
      std::uint64_t lines = 0, matches = 0;
      for (const auto& p : parts) {
        lines += p.lines;
        matches += p.matches;
      }
      EXPECT_EQ(lines, 20'000u) << ex->name() << " chunk " << chunk;
      EXPECT_EQ(matches, want_matches) << ex->name() << " chunk " << chunk;
    }
  }
  EXPECT_EQ(pool.worker_pids(), workers);  // mapped before the fork: no refork needed
}

TEST(procs_inputs, shared_buffer_input_runs_in_place) {
  tandem::process_pool pool({2, 0, 0});
  const std::vector<pid_t> workers = pool.worker_pids();
  const std::string bytes = pattern_bytes(50'000, 2);
  tandem::shared_buffer buf(bytes.size());
  std::memcpy(buf.data(), bytes.data(), bytes.size());
  EXPECT_EQ(run_sum(pool, buf.as<std::uint8_t>().data(), bytes.size(), {buf.data(), buf.size(), "shared"}),
            reference_sum(bytes));
  EXPECT_EQ(pool.worker_pids(), workers);
}

TEST(procs_inputs, ordinary_memory_is_refused_with_a_clear_message) {
  tandem::process_pool pool({2, 0, 0});
  const std::string bytes = pattern_bytes(20'000, 3);
  const std::vector<std::uint8_t> heap(bytes.begin(), bytes.end());
  const tandem::memory_region region{heap.data(), heap.size(), "feature matrix"};
  try {
    run_sum(pool, heap.data(), heap.size(), region);
    FAIL() << "a std::vector input was accepted by procs";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "procs: feature matrix (20000 bytes) is ordinary process memory that worker processes cannot see; "
              "allocate it with tandem::shared_buffer or map it with tandem::mapped_file");
  }
  // The pool is fine afterwards, and seq/threads take the same job (their memory is the caller's).
  tandem::shared_buffer buf(bytes.size());
  std::memcpy(buf.data(), bytes.data(), bytes.size());
  EXPECT_EQ(run_sum(pool, buf.as<std::uint8_t>().data(), bytes.size(), {buf.data(), buf.size(), "s"}),
            reference_sum(bytes));
  auto threads = tandem::make_executor("threads", 2);
  EXPECT_EQ(run_sum(*threads, heap.data(), heap.size(), region), reference_sum(bytes));
}

}  // namespace
