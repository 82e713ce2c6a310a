// A deterministic mutation fuzzer for the forest loaders: "never a crash on a hostile model file".
//
// Every fixture model of each format (testdata/xgboost/*.json, testdata/lightgbm/*.txt,
// testdata/sklearn/*/*.json) is mutated: truncated at a random point, bytes flipped or set,
// a random span deleted or duplicated, a token from a dictionary inserted, an escape (\n, \u0000,
// ...) put into a JSON string, a number token replaced by an extreme value (-1, 0, 2^31, 2^32, 2^63, 1e308,
// -1e308, nan, inf, 99999999999999999999, ...) or nudged (n +- 1, a random small integer), two
// tokens swapped, or a child index pointed at an ancestor of its node (a cycle) or at another node
// of its tree; a third of the mutants stack two to four of these. Each mutant is written to a temp
// file and given to load_model, compile_forest, reference_margins and a forest_predictor (margin,
// proba and, for a classifier, label, from double and float rows). The contract: either it loads
// and predicts, or it throws tandem::usage_error whose what() is one line naming the file. Any
// other exception, a crash, a sanitizer report, a hang (30 s per mutant) or an allocation past
// the bound (the child's address space is limited to what it has plus 1 GiB, so a larger
// allocation throws bad_alloc) is a failure.
//
// The mutants run in a forked child (per format), so a crash is reported, with the mutant that
// caused it, and the run goes on with the next one. Mutant i of a format is a pure function of
// the seed, the format and i (its own std::mt19937_64), so a failure names the seed and the
// iteration, and the failing mutant is written to $TMPDIR/tandem_fuzz_failures/ to keep as a
// regression case (testdata/fuzz/, which forest_fuzz.regressions loads).
//
// TANDEM_FUZZ_VERBOSE=1 prints each mutant and what became of it (loaded, or the refusal) to stderr.
// The default run is 1200 mutants per format (5 to 10 s in all in a Release build). Longer runs:
//   TANDEM_FUZZ_ITERATIONS=100000 TANDEM_FUZZ_SEED=7 build/workloads/forest/test_forest --gtest_filter='forest_fuzz.*'
// (TANDEM_FUZZ_ITERATIONS is mutants per format; TANDEM_FUZZ_SEED replaces the fixed seed). Under
// AddressSanitizer and UndefinedBehaviorSanitizer, in scripts/sanitize.sh's style:
//   cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_CUDA=OFF
//     -DTANDEM_GPU_EMULATION=OFF -DTANDEM_SANITIZER=address,undefined -DTANDEM_BUILD_BENCH=OFF
//   cmake --build build-asan --target test_forest
//   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TANDEM_FUZZ_ITERATIONS=100000
//     build-asan/workloads/forest/test_forest --gtest_filter='forest_fuzz.*'
// (a sanitizer report ends the child with a non-zero status: the mutant is reported and kept).
// TANDEM_FUZZ_FILE=<model>[:<model>...] adds files to forest_fuzz.regressions (a kept mutant, say).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <typeinfo>
#include <vector>

#include "tandem/errors.hpp"
#include "tandem/workloads/forest.hpp"
#include "tandem/workloads/forest_model.hpp"
#include "temp_dir.hpp"

namespace tf = tandem::forest;
namespace fs = std::filesystem;

namespace {

const std::string testdata = std::string(TANDEM_FOREST_TESTDATA);

constexpr std::uint64_t default_seed = 20240611;
constexpr std::uint64_t default_iterations = 1200;  // per format
constexpr unsigned mutant_seconds = 30;              // a mutant taking longer is a hang
constexpr std::uint64_t memory_headroom = std::uint64_t{1} << 30;  // what a mutant may allocate
constexpr std::uint32_t max_predict_features = 1u << 16;           // wider models are compiled, not run

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  return std::strtoull(v, nullptr, 0);
}

using tandem::testing::slurp;

// A message as one printable line (for reports).
std::string printable(std::string_view s, std::size_t limit = 400) {
  std::string out;
  for (const char c : s.substr(0, limit)) {
    if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) out += '?';
    else out += c;
  }
  if (s.size() > limit) out += "...";
  return out;
}

// ---------------------------------------------------------------------------------------------
// The check of one model file.

std::vector<double> fuzz_rows(std::uint32_t features, std::size_t n) {
  std::mt19937_64 rng(features);
  std::vector<double> rows(n * features);
  for (std::size_t r = 0; r < n; ++r)
    for (std::uint32_t f = 0; f < features; ++f) {
      double& x = rows[r * features + f];
      switch (r % 5) {
        case 0: x = 0; break;
        case 1: x = std::numeric_limits<double>::quiet_NaN(); break;
        case 2: x = std::normal_distribution<double>(0, 10)(rng); break;
        case 3: x = double(std::int64_t(rng() % 50) - 5); break;  // categories, negative ones too
        default: x = (f % 2 ? 1 : -1) * 1e300; break;
      }
    }
  return rows;
}

// Empty when the file loads and predicts, or is refused with a proper usage_error; otherwise what
// went wrong.
std::string check_model_file(const std::string& path, bool* loaded = nullptr, std::string* refusal = nullptr) {
  try {
    tf::forest_model m = tf::load_model(path);
    const tf::compiled_forest c = tf::compile_forest(m);
    if (c.features() <= max_predict_features) {
      constexpr std::size_t n = 5;
      const std::vector<double> rows = fuzz_rows(c.features(), n);
      (void)tf::reference_margins(m, c, rows.data(), n);
      const std::vector<float> frows(rows.begin(), rows.end());
      const bool classifier = !m.classes.empty();
      tandem::forest_predictor p(std::move(m));
      std::vector<double> out(n * std::max(p.model().outputs, p.model().proba_columns));
      p.predict(rows.data(), n, tandem::forest_output::proba, out.data());
      p.predict(frows.data(), n, tandem::forest_output::margin, out.data());
      if (classifier) p.predict(rows.data(), n, tandem::forest_output::label, out.data());
    }
    if (loaded) *loaded = true;
    return {};
  } catch (const tandem::usage_error& e) {
    const std::string_view w = e.what();
    if (refusal) *refusal = w;
    if (w.find('\n') != w.npos || w.find('\r') != w.npos)
      return "usage_error of more than one line: " + printable(w);
    if (w.find(path) == w.npos) return "usage_error not naming the file: " + printable(w);
    return {};
  } catch (const std::bad_alloc& e) {
    return std::string("std::bad_alloc (an allocation past the 1 GiB bound): ") + e.what();
  } catch (const std::exception& e) {
    return std::string("an exception other than usage_error (") + typeid(e).name() + "): " + printable(e.what());
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// ---------------------------------------------------------------------------------------------
// Mutations.

enum class format { xgboost, lightgbm, tandem };

struct token {
  std::size_t pos, len;
};

bool is_delimiter(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == ',' || c == ':' || c == '[' || c == ']' ||
         c == '{' || c == '}' || c == '=' || c == '"';
}

std::vector<token> tokens_of(const std::string& s) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_delimiter(s[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && !is_delimiter(s[j])) ++j;
    out.push_back({i, j - i});
    i = j;
  }
  return out;
}

bool is_number(std::string_view t) {
  std::size_t i = 0;
  if (i < t.size() && (t[i] == '-' || t[i] == '+')) ++i;
  if (i < t.size() && t[i] == '.') ++i;
  return i < t.size() && t[i] >= '0' && t[i] <= '9';
}

const char* const extreme_values[] = {
    "-1", "0", "1", "2147483647", "2147483648", "4294967295", "4294967296", "9223372036854775807",
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e308", "-1e308", "1e309", "nan",
    "NaN", "inf", "-inf", "Infinity", "99999999999999999999", "-2147483649", "65536", "65537", "268435455",
    "268435456", "16777215", "16777216", "1e-320", "-0", "0.5", "-2", "4e9", "1.7976931348623157e308",
};

const char* const dictionary[] = {
    "{", "}", "[", "]", ",", ":", "\"", "\\", "\\n", "\\u0000", "\\r\\n", "\\\"", "\n", "\r\n", " ", "=",
    "-1", "1e308", "nan", "null", "true", "[]", "{}", "\"inf\"", "\"-inf\"", "\"x\":1,", "Tree=", "\nTree=1\n",
    "end of trees", "\n\n", "num_leaves=", "num_cat=1", "decision_type=1", "\"categories\":[1],", "\xff", "\x00",
};

struct mutator {
  std::mt19937_64& rng;
  format fmt;
  std::string desc;

  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : rng() % n; }
  // A span length: usually short, sometimes long.
  std::size_t span(std::size_t avail) {
    if (avail == 0) return 0;
    const std::size_t cap = below(4) == 0 ? avail : std::min<std::size_t>(avail, 64);
    return 1 + below(cap);
  }
  void note(const std::string& s) { desc += (desc.empty() ? "" : "; ") + s; }

  void truncate(std::string& s) {
    const std::size_t at = below(s.size() + 1);
    note("truncated at " + std::to_string(at));
    s.resize(at);
  }
  void flip(std::string& s) {
    if (s.empty()) return;
    const std::size_t k = 1 + below(4);
    for (std::size_t j = 0; j < k; ++j) {
      const std::size_t at = below(s.size());
      if (below(2)) {
        s[at] = char(s[at] ^ (1 << below(8)));
        note("bit flip at " + std::to_string(at));
      } else {
        static const char interesting[] = "{}[],:\"\\\n =-0123456789.eE";
        s[at] = below(4) == 0 ? char(below(256)) : interesting[below(sizeof interesting - 1)];
        note("byte set at " + std::to_string(at));
      }
    }
  }
  void erase(std::string& s) {
    if (s.empty()) return;
    const std::size_t at = below(s.size()), n = span(s.size() - at);
    note("deleted [" + std::to_string(at) + ", +" + std::to_string(n) + ")");
    s.erase(at, n);
  }
  void duplicate(std::string& s) {
    if (s.empty()) return;
    const std::size_t at = below(s.size()), n = span(s.size() - at);
    const std::size_t to = below(2) ? at + n : below(s.size() + 1);
    note("duplicated [" + std::to_string(at) + ", +" + std::to_string(n) + ") at " + std::to_string(to));
    s.insert(to, s.substr(at, n));
  }
  void insert(std::string& s) {
    const std::size_t at = below(s.size() + 1);
    const std::size_t k = below(sizeof dictionary / sizeof dictionary[0]);
    const std::string word = k + 1 == sizeof dictionary / sizeof dictionary[0] ? std::string(1, '\0') : dictionary[k];
    note("inserted '" + printable(word) + "' at " + std::to_string(at));
    s.insert(at, word);
  }
  // Replaces one token: returns false when there is none of the kind.
  bool replace_number(std::string& s, bool extreme) {
    std::vector<token> numbers;
    for (const token& t : tokens_of(s))
      if (is_number(std::string_view(s).substr(t.pos, t.len))) numbers.push_back(t);
    if (numbers.empty()) return false;
    const token t = numbers[below(numbers.size())];
    std::string by;
    if (extreme) {
      by = extreme_values[below(sizeof extreme_values / sizeof extreme_values[0])];
    } else {
      const long long v = std::strtoll(s.c_str() + t.pos, nullptr, 10);
      switch (below(3)) {
        case 0: by = std::to_string(v + 1); break;
        case 1: by = std::to_string(v - 1); break;
        default: by = std::to_string(std::int64_t(below(std::uint64_t(std::llabs(v)) * 2 + 8)) - 3); break;
      }
    }
    note("number '" + printable(s.substr(t.pos, t.len), 40) + "' at " + std::to_string(t.pos) + " -> " + by);
    s.replace(t.pos, t.len, by);
    return true;
  }
  bool swap_tokens(std::string& s) {
    const std::vector<token> ts = tokens_of(s);
    if (ts.size() < 2) return false;
    const std::size_t a = below(ts.size());
    std::size_t b = below(2) ? below(ts.size()) : std::min(ts.size() - 1, a + 1 + below(20));
    if (a == b) b = a + 1 < ts.size() ? a + 1 : a - 1;
    const token x = ts[std::min(a, b)], y = ts[std::max(a, b)];
    note("swapped tokens at " + std::to_string(x.pos) + " and " + std::to_string(y.pos));
    const std::string tx = s.substr(x.pos, x.len), ty = s.substr(y.pos, y.len);
    s.replace(y.pos, y.len, tx);  // the later one first, so x's position holds
    s.replace(x.pos, x.len, ty);
    return true;
  }

  // An escape sequence inside a JSON string (a key or a value: the loaders may echo it).
  bool escape_in_string(std::string& s) {
    std::vector<std::size_t> quotes;
    for (std::size_t i = 0; i < s.size(); ++i)
      if (s[i] == '"' && (i == 0 || s[i - 1] != '\\')) quotes.push_back(i);
    if (quotes.size() < 2) return false;
    static const char* const escapes[] = {"\\n", "\\r", "\\t", "\\u0000", "\\u001b", "\\u2028", "\\\"", "\\\\",
                                          "\\ud800", "\\/"};
    const std::size_t q = below(quotes.size() / 2) * 2;  // an opening quote (strings pair up in order)
    const std::size_t at = quotes[q] + 1 + below(quotes[q + 1] - quotes[q]);
    const char* e = escapes[below(sizeof escapes / sizeof escapes[0])];
    note("escape '" + std::string(e) + "' in a string at " + std::to_string(at));
    s.insert(at, e);
    return true;
  }

  // The number tokens of one child array: after `key`, up to the end of the line (LightGBM) or ']'.
  std::vector<token> array_numbers(const std::string& s, std::size_t from) const {
    std::vector<token> out;
    const char stop = fmt == format::lightgbm ? '\n' : ']';
    std::size_t i = from;
    while (i < s.size() && s[i] != stop) {
      if (is_delimiter(s[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < s.size() && !is_delimiter(s[j])) ++j;
      out.push_back({i, j - i});
      i = j;
    }
    return out;
  }
  std::vector<std::size_t> starts(const std::string& s, const std::string& key) const {
    std::vector<std::size_t> out;
    for (std::size_t at = s.find(key); at != std::string::npos; at = s.find(key, at + 1)) out.push_back(at + key.size());
    return out;
  }
  // Points a child of a split at one of its ancestors (itself included: a self-loop), at another
  // node of the tree, or just out of range.
  bool child_mutation(std::string& s) {
    const bool lgb = fmt == format::lightgbm;
    const std::string lk = fmt == format::xgboost ? "\"left_children\":" : lgb ? "\nleft_child=" : "\"left\": ";
    const std::string rk = fmt == format::xgboost ? "\"right_children\":" : lgb ? "\nright_child=" : "\"right\": ";
    const std::vector<std::size_t> ls = starts(s, lk), rs = starts(s, rk);
    const std::size_t trees = std::min(ls.size(), rs.size());
    if (trees == 0) return false;
    const std::size_t k = below(trees);
    std::vector<token> side[2] = {array_numbers(s, ls[k]), array_numbers(s, rs[k])};
    const std::size_t n = std::min(side[0].size(), side[1].size());
    if (n == 0) return false;
    std::vector<std::int64_t> child[2];
    for (int d = 0; d < 2; ++d)
      for (std::size_t i = 0; i < n; ++i) child[d].push_back(std::strtoll(s.c_str() + side[d][i].pos, nullptr, 10));
    // Splits and parents: in XGBoost and Tandem JSON a leaf has left -1; in LightGBM every listed
    // node is a split and a child >= 0 is a split.
    std::vector<std::int64_t> parent(n, -1);
    std::vector<std::size_t> splits;
    for (std::size_t i = 0; i < n; ++i) {
      if (!lgb && child[0][i] < 0) continue;
      splits.push_back(i);
      for (int d = 0; d < 2; ++d)
        if (child[d][i] >= 0 && std::uint64_t(child[d][i]) < n) parent[std::size_t(child[d][i])] = std::int64_t(i);
    }
    if (splits.empty()) return false;
    const std::size_t node = splits[below(splits.size())];
    const int d = int(below(2));
    std::int64_t to = 0;
    std::string what;
    switch (below(4)) {
      case 0:
      case 1: {  // an ancestor (a cycle)
        std::vector<std::size_t> chain{node};
        for (std::int64_t p = parent[node]; p >= 0 && chain.size() <= n; p = parent[std::size_t(p)])
          chain.push_back(std::size_t(p));
        to = std::int64_t(chain[below(chain.size())]);
        what = "ancestor";
        break;
      }
      case 2:
        to = std::int64_t(below(n));
        what = "node";
        break;
      default:
        to = below(2) ? std::int64_t(n) + std::int64_t(below(3)) : -2 - std::int64_t(below(lgb ? n + 3 : 3));
        what = "out-of-range node";
        break;
    }
    const token t = side[d][node];
    note("tree " + std::to_string(k) + ": node " + std::to_string(node) + "'s " + (d ? "right" : "left") +
         " child " + printable(s.substr(t.pos, t.len), 40) + " -> " + what + " " + std::to_string(to));
    s.replace(t.pos, t.len, std::to_string(to));
    return true;
  }

  void one(std::string& s) {
    for (int attempt = 0; attempt < 4; ++attempt) {
      switch (below(13)) {
        case 0: truncate(s); return;
        case 1: flip(s); return;
        case 2: erase(s); return;
        case 3: duplicate(s); return;
        case 4: insert(s); return;
        case 5:
        case 6: if (replace_number(s, true)) return; break;
        case 7: if (replace_number(s, false)) return; break;
        case 8: if (swap_tokens(s)) return; break;
        case 9: if (fmt != format::lightgbm && escape_in_string(s)) return; break;
        default: if (child_mutation(s)) return; break;
      }
    }
    flip(s);
  }
};

// ---------------------------------------------------------------------------------------------
// The run: fixtures, mutants, a forked child per format.

struct fixture {
  std::string name, text;
};

std::vector<fixture> fixtures_of(format f) {
  std::vector<std::string> paths;
  const auto add = [&](const std::string& dir, const std::string& ext) {
    if (!fs::is_directory(dir)) return;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ext) paths.push_back(e.path().string());
  };
  switch (f) {
    case format::xgboost: add(testdata + "/xgboost", ".json"); break;
    case format::lightgbm: add(testdata + "/lightgbm", ".txt"); break;
    case format::tandem:
      add(testdata + "/sklearn/debian", ".json");
      add(testdata + "/sklearn/recent", ".json");
      break;
  }
  std::sort(paths.begin(), paths.end());
  std::vector<fixture> out;
  for (const std::string& p : paths) {
    const fs::path rel = fs::relative(p, testdata);
    std::string name = rel.string();
    std::replace(name.begin(), name.end(), '/', '-');
    out.push_back({name, slurp(p)});
  }
  return out;
}

const char* format_name(format f) {
  switch (f) {
    case format::xgboost: return "xgboost";
    case format::lightgbm: return "lightgbm";
    case format::tandem: return "sklearn";
  }
  return "?";
}

struct mutant {
  std::string name, text, desc;
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

mutant make_mutant(format f, const std::vector<fixture>& fx, std::uint64_t seed, std::uint64_t i) {
  const fixture& base = fx[i % fx.size()];
  std::mt19937_64 rng(mix(seed ^ mix(std::uint64_t(f) + 1) ^ mix(i + 0x1000)));
  mutator m{rng, f, {}};
  std::string s = base.text;
  const std::size_t rounds = m.below(3) == 0 ? 2 + m.below(3) : 1;
  for (std::size_t r = 0; r < rounds; ++r) m.one(s);
  return {base.name, std::move(s), m.desc};
}

// Shared with the child: how far it got.
constexpr const char* loaded_marker = "\x01loaded";

struct progress {
  std::atomic<std::uint64_t> current{0};
  std::atomic<std::uint64_t> loaded{0};
};

void limit_address_space() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0;
  statm >> pages;
  const std::uint64_t have = pages * std::uint64_t(::sysconf(_SC_PAGESIZE));
  struct rlimit r {};
  if (have > 0 && ::getrlimit(RLIMIT_AS, &r) == 0) {
    const rlim_t want = rlim_t(have + memory_headroom);
    if (r.rlim_max == RLIM_INFINITY || r.rlim_max > want) r.rlim_cur = want;
    ::setrlimit(RLIMIT_AS, &r);
  }
}

void write_all(int fd, const std::string& s) {
  std::size_t done = 0;
  while (done < s.size()) {
    const ssize_t w = ::write(fd, s.data() + done, s.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    done += std::size_t(w);
  }
}

// Runs check(i) for i in [0, count) in forked children whose address space is bounded: check
// returns a failure or "". A child that dies (a crash, a sanitizer report, a hang) is reported as
// the failure of the i it was at, and a fresh child goes on from i + 1. report(i, what) is called
// in this process for each failure.
void run_forked(std::uint64_t count, const std::function<std::string(std::uint64_t)>& check,
                const std::function<void(std::uint64_t, const std::string&)>& report, std::uint64_t* passed_loaded) {
  void* shared = ::mmap(nullptr, sizeof(progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(shared, MAP_FAILED);
  auto* prog = new (shared) progress;
  std::uint64_t next = 0;
  while (next < count) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    prog->current.store(next);
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child: one failure line ("i\tmessage\n") each on the pipe; no gtest here.
      ::close(fds[0]);
      limit_address_space();
      for (std::uint64_t i = next; i < count; ++i) {
        prog->current.store(i);
        ::alarm(mutant_seconds);
        std::string failure = check(i);
        ::alarm(0);
        if (failure == loaded_marker) {
          prog->loaded.fetch_add(1);
          failure.clear();
        }
        if (!failure.empty()) write_all(fds[1], std::to_string(i) + "\t" + printable(failure, 2000) + "\n");
      }
      ::_exit(0);
    }
    ::close(fds[1]);
    std::string lines;
    char buf[4096];
    for (;;) {
      const ssize_t r = ::read(fds[0], buf, sizeof buf);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      lines.append(buf, std::size_t(r));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::istringstream in(lines);
    for (std::string line; std::getline(in, line);) {
      const std::size_t tab = line.find('\t');
      report(std::strtoull(line.c_str(), nullptr, 10), line.substr(tab + 1));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) break;
    const std::uint64_t at = prog->current.load();
    std::string how;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
      how = "a hang (more than " + std::to_string(mutant_seconds) + " s)";
    else if (WIFSIGNALED(status))
      how = "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    else
      how = "exit status " + std::to_string(WEXITSTATUS(status)) + " (a sanitizer report? see stderr)";
    report(at, "the process died: " + how);
    next = at + 1;
  }
  if (passed_loaded) *passed_loaded = prog->loaded.load();
  prog->~progress();
  ::munmap(shared, sizeof(progress));
}

std::string keep_mutant(const mutant& m, format f, std::uint64_t seed, std::uint64_t i) {
  const fs::path dir = fs::temp_directory_path() / "tandem_fuzz_failures";
  std::error_code ec;
  fs::create_directories(dir, ec);
  const fs::path p = dir / (std::string(format_name(f)) + "-seed" + std::to_string(seed) + "-" + std::to_string(i) +
                            "-" + m.name);
  tandem::testing::write_file(p.string(), m.text);
  return p.string();
}

void fuzz(format f) {
  const std::vector<fixture> fx = fixtures_of(f);
  ASSERT_FALSE(fx.empty()) << "no fixtures for " << format_name(f) << " under " << testdata;
  const std::uint64_t seed = env_u64("TANDEM_FUZZ_SEED", default_seed);
  const std::uint64_t iterations = env_u64("TANDEM_FUZZ_ITERATIONS", default_iterations);
  tandem::testing::temp_dir dir("tandem_fuzz_");
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t loaded = 0, failures = 0;
  const bool verbose = env_u64("TANDEM_FUZZ_VERBOSE", 0) != 0;
  std::string outcome;
  const auto check = [&](std::uint64_t i) {
    const mutant m = make_mutant(f, fx, seed, i);
    const std::string path = dir / m.name;
    tandem::testing::write_file(path, m.text);
    bool ok = false;
    std::string failure = check_model_file(path, &ok, verbose ? &outcome : nullptr);
    if (verbose) std::fprintf(stderr, "%llu %s [%s]: %s\n", static_cast<unsigned long long>(i), m.name.c_str(),
                              m.desc.c_str(), ok ? "loaded" : printable(outcome, 300).c_str());
    return failure.empty() && ok ? std::string(loaded_marker) : failure;
  };
  const auto report = [&](std::uint64_t i, const std::string& what) {
    if (++failures > 25) return;
    const mutant m = make_mutant(f, fx, seed, i);
    ADD_FAILURE() << format_name(f) << " mutant " << i << " (TANDEM_FUZZ_SEED=" << seed << ") of " << m.name
                  << " [" << m.desc << "]: " << what << "\n  kept as " << keep_mutant(m, f, seed, i);
  };
  run_forked(iterations, check, report, &loaded);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[ fuzz     ] %s: %llu mutants of %zu fixtures, seed %llu: %llu loaded, %llu failures, %.1f s\n",
              format_name(f), static_cast<unsigned long long>(iterations), fx.size(),
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(loaded),
              static_cast<unsigned long long>(failures), seconds);
}

}  // namespace

TEST(forest_fuzz, fixtures_load) {
  // The harness's own check: every unmutated fixture loads and predicts.
  for (const format f : {format::xgboost, format::lightgbm, format::tandem})
    for (const fixture& x : fixtures_of(f)) {
      tandem::testing::temp_dir dir("tandem_fuzz_");
      const std::string path = dir / x.name;
      tandem::testing::write_file(path, x.text);
      bool loaded = false;
      EXPECT_EQ(check_model_file(path, &loaded), "") << x.name;
      EXPECT_TRUE(loaded) << x.name;
    }
}

TEST(forest_fuzz, xgboost_json) { fuzz(format::xgboost); }
TEST(forest_fuzz, lightgbm_text) { fuzz(format::lightgbm); }
TEST(forest_fuzz, tandem_json) { fuzz(format::tandem); }

// The mutants that found bugs (testdata/fuzz/), and TANDEM_FUZZ_FILE (a path, or several separated
// by ':') when set: each must load or be refused with a one-line usage_error.
TEST(forest_fuzz, regressions) {
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(testdata + "/fuzz"))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.' && e.path().extension() != ".md")
      paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  if (const char* extra = std::getenv("TANDEM_FUZZ_FILE")) {
    std::stringstream s(extra);
    for (std::string p; std::getline(s, p, ':');)
      if (!p.empty()) paths.push_back(p);
  }
  ASSERT_FALSE(paths.empty());
  run_forked(
      paths.size(), [&](std::uint64_t i) { return check_model_file(paths[i]); },
      [&](std::uint64_t i, const std::string& what) { ADD_FAILURE() << paths[i] << ": " << what; }, nullptr);
}

// Found reading the label path the fuzzer runs: a one-class model has one probability column that
// is not P(class 1), and its label was read from past the end of its one-class list.
TEST(forest_fuzz, one_class_labels) {
  for (const char* name : {"sklearn-recent-decision_tree_regressor-one-class.json",
                           "lightgbm-sigmoid-multiclassova-one-class.txt"}) {
    tandem::forest_predictor p(tf::load_model(testdata + "/fuzz/" + name));
    ASSERT_EQ(p.model().classes.size(), 1u) << name;
    const std::uint32_t features = p.model().features;
    std::vector<double> rows(64 * features);
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = double(i % 37) * 0.75 - 9;
    std::vector<double> labels(64, -1);
    p.predict(rows.data(), 64, tandem::forest_output::label, labels.data());
    for (const double l : labels) EXPECT_EQ(l, p.model().classes[0]) << name;
  }
}
