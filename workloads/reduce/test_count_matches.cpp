// count-matches against an independent reference (lines split by hand, std::string::find), against
// grep itself where it is installed, on every backend, chunk size, GPU piece size and SIMD level.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "backend_context.hpp"
#include "cli_runner.hpp"
#include "temp_dir.hpp"
#include "tandem/errors.hpp"
#include "tandem/kernels/count_matches.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace {

using namespace tandem;
using tandem::testing::temp_dir;
using tandem::testing::write_file;

struct reference_count {
  std::uint64_t count = 0, lines = 0;
};

// The reference: a line is the bytes up to a '\n' (or up to the end, when the file does not end
// with one and that last piece is not empty); it counts when it holds the pattern.
reference_count reference(const std::string& text, const std::string& pattern) {
  reference_count r;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t nl = text.find('\n', start);
    const std::size_t end = nl == std::string::npos ? text.size() : nl;
    ++r.lines;
    if (text.substr(start, end - start).find(pattern) != std::string::npos) ++r.count;
    start = end + 1;
  }
  return r;
}

count_matches_result run_on(backend b, unsigned workers, const count_matches_options& o) {
  // The workload maps the file before the backend's workers are forked, as the runner does.
  auto w = make_count_matches_workload(o);
  tandem::testing::backend_context ctx(b, workers);
  w->prepare(*ctx);
  auto r = w->run(*ctx);
  w->release(*ctx);
  return static_cast<typed_result<count_matches_result>&>(*r).value;
}

// Named texts for the edge cases.
struct named_text {
  std::string name, text;
};

std::vector<named_text> edge_texts() {
  std::vector<named_text> t = {
      {"empty", ""},
      {"one_newline", "\n"},
      {"only_newlines", std::string(37, '\n')},
      {"final_newline", "an ERROR here\nnothing\nERROR again\n"},
      {"no_final_newline", "an ERROR here\nnothing\nERROR at the end"},
      {"no_newline_at_all", "xxERRORxx"},
      {"crlf", "ERROR one\r\nfine\r\n\r\nERROR\r\nlast ERROR\r"},
      {"overlapping", "aaaaa\naa\naaa\nbaaab\n"},
      {"empty_lines_between", "\n\nERROR\n\n\nERROR\n"},
      {"pattern_is_line", "ERROR\nERROR\nERRO\nRROR\n"},
  };
  // The pattern at every offset across a boundary region, one line per offset.
  std::string boundaries;
  for (int k = 0; k < 70; ++k) boundaries += std::string(static_cast<std::size_t>(k), 'x') + "ERROR" + "\n";
  t.push_back({"every_offset", boundaries});
  // One huge line (longer than every chunk), with and without the pattern.
  std::string huge(3 << 20, 'E');
  t.push_back({"huge_line_without", huge});
  huge[huge.size() / 2 + 3] = 'R';
  huge.replace(huge.size() / 3, 5, "ERROR");
  t.push_back({"huge_line_with", huge + "\nERROR\n" + huge});
  return t;
}

const std::vector<std::string> patterns = {"ERROR", "a", "aaa", "", "\r", "R\r", "ERROR\r"};

class count_matches_backends : public ::testing::TestWithParam<const char*> {};

// Every edge text, every pattern, chunk sizes 1..7 (boundaries everywhere), a prime, and the
// default, on the backend: the count and the line count equal the reference.
TEST_P(count_matches_backends, edge_texts_equal_the_reference) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  temp_dir dir;
  for (const auto& t : edge_texts()) {
    const std::string path = dir / t.name;
    write_file(path, t.text);
    const bool huge = t.text.size() > (1 << 20);
    for (const std::string& pattern : patterns) {
      const reference_count want = reference(t.text, pattern);
      std::vector<std::size_t> chunks = {count_matches_chunk_bytes, 4099};
      if (!huge) chunks.insert(chunks.end(), {1, 2, 3, 4, 5, 6, 7, 64});
      for (std::size_t chunk : chunks) {
        count_matches_options o;
        o.path = path;
        o.pattern = pattern;
        o.chunk_bytes = chunk;
        // The GPU path: pieces smaller than, equal to and larger than the chunk; batches of one
        // chunk and of several.
        o.gpu_piece_bytes = chunk <= 7 ? 3 : 1000;
        o.gpu_batch_bytes = chunk <= 7 ? 5 : (std::size_t{8} << 20);
        const count_matches_result r = run_on(b, 2, o);
        ASSERT_EQ(r.count, want.count) << t.name << " pattern '" << pattern << "' chunk " << chunk;
        ASSERT_EQ(r.lines, want.lines) << t.name << " chunk " << chunk;
        ASSERT_EQ(r.bytes, t.text.size());
      }
    }
  }
}

// Random texts over a small alphabet (many partial and overlapping matches, empty lines, CR):
// every backend, random chunk and piece sizes, against the reference.
TEST_P(count_matches_backends, random_texts_equal_the_reference) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  temp_dir dir;
  std::mt19937_64 rng(2024);
  const char alphabet[] = {'a', 'a', 'a', 'b', '\n', '\r'};
  for (int trial = 0; trial < 12; ++trial) {
    std::string text(rng() % 5000, 'a');
    for (char& c : text) c = alphabet[rng() % sizeof alphabet];
    const std::string path = dir / ("fuzz" + std::to_string(trial));
    write_file(path, text);
    for (const std::string pattern : {"a", "ab", "aba", "aaaa", "b\r", ""}) {
      count_matches_options o;
      o.path = path;
      o.pattern = pattern;
      o.chunk_bytes = 1 + rng() % 300;
      o.gpu_piece_bytes = 1 + rng() % 100;
      o.gpu_batch_bytes = 1 + rng() % 2000;
      const unsigned workers = 1 + static_cast<unsigned>(rng() % 3);
      // Each SIMD level through the workload (the level is read when it is made).
      for (const char* level : {"scalar", "avx2", "avx512"}) {
        ::setenv("TANDEM_COUNT_MATCHES_SIMD", level, 1);
        ASSERT_EQ(run_on(b, workers, o).count, reference(text, pattern).count)
            << level << " trial " << trial << " pattern '" << pattern << "' chunk " << o.chunk_bytes << " piece "
            << o.gpu_piece_bytes << " batch " << o.gpu_batch_bytes;
      }
      ::unsetenv("TANDEM_COUNT_MATCHES_SIMD");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(every_backend, count_matches_backends, ::testing::ValuesIn(tandem::testing::every_backend),
                         [](const auto& p) { return std::string(p.param); });

// Text placed so that its last byte is the last byte before an unreadable page: a search that
// reads one byte past what it may faults instead of passing.
class guarded_text {
 public:
  explicit guarded_text(const std::string& text) {
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    bytes_ = (text.size() / page + 2) * page;
    base_ = static_cast<unsigned char*>(::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap");
    ::mprotect(base_ + bytes_ - page, page, PROT_NONE);
    data_ = base_ + bytes_ - page - text.size();
    std::copy(text.begin(), text.end(), data_);
  }
  ~guarded_text() { ::munmap(base_, bytes_); }
  const unsigned char* data() const { return data_; }

 private:
  unsigned char* base_ = nullptr;
  unsigned char* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// The CPU search at every SIMD level equals the byte loop (the GPU's piece function) on every
// sub-range [begin, end) of texts longer than two vectors plus the pattern, so every edge of the
// vector loops and the masked tails is crossed; nothing past the text is read.
TEST(count_matches_search, every_level_equals_the_byte_loop_on_every_range) {
  std::mt19937_64 rng(7);
  const char alphabet[] = {'a', 'a', 'b', '\n', '\r', 'x', 'x', 'x'};
  for (const std::string& pattern : std::vector<std::string>{"a", "ab", "aab", "xxxa", "", std::string(70, 'x')}) {
    std::string text(260, 'x');
    for (char& c : text) c = alphabet[rng() % sizeof alphabet];
    const guarded_text g(text);
    const count_matches_params p = count_matches_params_of(g.data(), text.size(), pattern, count_matches_options{});
    for (std::size_t begin = 0; begin <= text.size(); begin += (begin < 70 ? 1 : 7)) {
      for (std::size_t end = begin; end <= text.size(); ++end) {
        const std::size_t m = pattern.size();
        const std::size_t avail = m == 0 ? end - begin : std::min(text.size(), end + m - 1) - begin;
        const kernels::line_match_partial want =
            kernels::piece_partial(g.data() + begin, end - begin, avail, p.pattern, p.pattern_length);
        for (const count_matches_simd level :
             {count_matches_simd::scalar, count_matches_simd::avx2, count_matches_simd::avx512}) {
          if (level > count_matches_simd_best()) continue;
          const kernels::line_match_partial got = count_matches_search(p, begin, end, level);
          ASSERT_TRUE(got.middle == want.middle && got.newlines == want.newlines && got.has_newline == want.has_newline &&
                      got.head == want.head && got.tail == want.tail)
              << to_string(level) << " pattern '" << pattern << "' [" << begin << ", " << end << ")";
        }
      }
    }
  }
  if (count_matches_simd_best() < count_matches_simd::avx512)
    GTEST_SKIP() << "this CPU lacks AVX-512BW: only " << to_string(count_matches_simd_best()) << " and below were tested";
}

// Text built against the first-and-last-byte filter (every byte a candidate that memcmp rejects
// half-way): the vector levels hand the piece to memmem and still give the byte loop's partial.
TEST(count_matches_search, adversarial_candidates_fall_back_and_stay_exact) {
  const std::string pattern = std::string(50, 'a') + "b" + std::string(50, 'a');
  std::string text;
  for (int line = 0; line < 200; ++line) text += std::string(999, 'a') + "\n";
  text.replace(150'000, pattern.size(), pattern);
  text.replace(7'010, pattern.size(), pattern);  // a match across a 64-byte block edge, too
  const guarded_text g(text);
  const count_matches_params p = count_matches_params_of(g.data(), text.size(), pattern, count_matches_options{});
  const kernels::line_match_partial want =
      kernels::piece_partial(g.data(), text.size(), text.size(), p.pattern, p.pattern_length);
  EXPECT_EQ(kernels::matching_lines(want), reference(text, pattern).count);
  EXPECT_EQ(kernels::matching_lines(want), 2u);
  for (const count_matches_simd level : {count_matches_simd::scalar, count_matches_simd::avx2, count_matches_simd::avx512}) {
    const kernels::line_match_partial got = count_matches_search(p, 0, text.size(), level);
    EXPECT_TRUE(got.middle == want.middle && got.newlines == want.newlines && got.head == want.head &&
                got.tail == want.tail && got.has_newline == want.has_newline)
        << to_string(level);
  }
}

// The combine joins fragments in order: any split of a text into three pieces, combined either way
// round, gives the reference count (associativity on real partials).
TEST(count_matches_monoid, every_three_way_split_combines_to_the_reference) {
  const std::string text = "ab\naab\r\n\nxab\nab";
  const auto* t = reinterpret_cast<const unsigned char*>(text.data());
  for (const std::string pattern : {"ab", "a", ""}) {
    const auto* pat = reinterpret_cast<const unsigned char*>(pattern.data());
    const auto m = static_cast<std::uint32_t>(pattern.size());
    auto piece = [&](std::size_t b, std::size_t e) {
      const std::size_t avail = m == 0 ? e - b : std::min(text.size(), e + m - 1) - b;
      return kernels::piece_partial(t + b, e - b, avail, pat, m);
    };
    const std::uint64_t want = reference(text, pattern).count;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      for (std::size_t j = i; j <= text.size(); ++j) {
        const auto a = piece(0, i), b = piece(i, j), c = piece(j, text.size());
        EXPECT_EQ(kernels::matching_lines(kernels::combine(kernels::combine(a, b), c)), want) << i << " " << j;
        EXPECT_EQ(kernels::matching_lines(kernels::combine(a, kernels::combine(b, c))), want) << i << " " << j;
      }
    }
  }
}

// Against grep itself, where it is installed: LC_ALL=C grep -c -F on the edge texts and a
// generated log.
TEST(count_matches_grep, equals_grep_c_F) {
  if (std::system("grep --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "grep is not installed";
  temp_dir dir;
  std::vector<named_text> texts = edge_texts();
  const std::string log = dir / "app.log";
  write_count_matches_log(log, 20000, 1);
  for (auto& t : texts) write_file(dir / t.name, t.text);
  texts.push_back({"app.log", ""});
  for (const auto& t : texts) {
    for (const std::string pattern : {"ERROR", "a", "aaa", "", "R\r", "upstream ERROR", "Z 2023"}) {
      const std::string path = dir / t.name;
      const std::string cmd = "LC_ALL=C grep -c -F -e '" + pattern + "' '" + path + "'";
      std::FILE* f = ::popen(cmd.c_str(), "r");
      ASSERT_NE(f, nullptr);
      unsigned long long grep_count = 0;
      ASSERT_EQ(std::fscanf(f, "%llu", &grep_count), 1) << cmd;
      ::pclose(f);
      count_matches_options o;
      o.path = path;
      o.pattern = pattern;
      o.chunk_bytes = 4096;
      EXPECT_EQ(run_on(backend::threads, 2, o).count, grep_count) << cmd;
    }
  }
}

TEST(count_matches_errors, bad_inputs_are_usage_errors) {
  temp_dir dir;
  write_file(dir / "f", "x\n");
  count_matches_options o;
  o.pattern = "x";
  o.path = dir / "missing";
  EXPECT_THROW(make_count_matches_workload(o), usage_error);
  o.path = dir.path.string();
  EXPECT_THROW(make_count_matches_workload(o), usage_error);
  o.path = dir / "f";
  o.pattern = "a\nb";
  EXPECT_THROW(make_count_matches_workload(o), usage_error);
  o.pattern = std::string(kernels::count_matches_max_pattern + 1, 'a');
  EXPECT_THROW(make_count_matches_workload(o), usage_error);
  o.pattern = std::string(kernels::count_matches_max_pattern, 'a');
  EXPECT_NO_THROW(make_count_matches_workload(o));
  ::setenv("TANDEM_COUNT_MATCHES_SIMD", "avx3", 1);
  EXPECT_THROW(make_count_matches_workload(o), usage_error);
  ::setenv("TANDEM_COUNT_MATCHES_SIMD", "scalar", 1);
  EXPECT_EQ(count_matches_simd_from_environment(), count_matches_simd::scalar);
  ::unsetenv("TANDEM_COUNT_MATCHES_SIMD");
  EXPECT_EQ(count_matches_simd_from_environment(), count_matches_simd_best());
}

TEST(count_matches_cli, answers_and_refuses_with_one_line) {
  temp_dir dir;
  write_file(dir / "log", "ERROR a\nb\nERROR\r\nc ERROR");
  const auto ok = tandem::testing::run_cli("reduce --op count-matches --pattern ERROR --input " + (dir / "log") +
                                           " --backend seq,threads,procs --workers 2 --repeat 1 --json");
  ASSERT_EQ(ok.status, 0) << ok.err;
  const auto j = nlohmann::json::parse(ok.out);
  for (const auto& rec : j.at("results")) {
    EXPECT_EQ(rec.at("result").at("value"), 3) << rec;
    EXPECT_EQ(rec.at("result").at("n"), 4) << rec;
    EXPECT_EQ(rec.at("result").at("dtype"), "text") << rec;
  }
  for (const std::string& bad : std::vector<std::string>{"--pattern x --input " + (dir / "missing"), "--pattern x --input " + dir.path.string(),
                                "--pattern \"$(printf 'a\\nb')\" --input " + (dir / "log"), std::string("--pattern x"),
                                // Flags a count does not use: reported, not ignored.
                                "--pattern x --n 5 --input " + (dir / "log"), "--pattern x --dtype f32 --input " + (dir / "log")}) {
    const auto r = tandem::testing::run_cli("reduce --op count-matches " + bad);
    EXPECT_EQ(r.status, 2) << bad << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << bad << ":\n" << r.err;
  }
  // The numeric ops: --n and --dist describe a generated array, so with --input they are mistakes.
  write_file(dir / "x.f64", std::string(16, '\0'));
  for (const std::string flag : {"--n 5", "--dist uniform"}) {
    const auto r = tandem::testing::run_cli("reduce --op sum --input " + (dir / "x.f64") + " " + flag);
    EXPECT_EQ(r.status, 2) << flag << "\n" << r.err;
    EXPECT_NE(r.err.find("describes a generated array"), std::string::npos) << r.err;
  }
  EXPECT_EQ(tandem::testing::run_cli("reduce --op sum --repeat 1 --input " + (dir / "x.f64")).status, 0);
}

}  // namespace
