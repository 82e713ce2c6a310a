// The forest workload across MPI ranks, without mpirun: each rank's rows (whole fold groups), the
// two-level fold of the checksum with ranks simulated, each rank reaching its own CSV rows and
// generating its own rows, and the output file assembled from rank 0's rows and the others'
// encoded, spooled rows, all equal to what one process makes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "forest_io.hpp"
#include "temp_dir.hpp"
#include "tandem/ranks.hpp"
#include "tandem/workloads/forest.hpp"

namespace {

using tandem::forest_chunk_rows;
using tandem::forest_digest;
using tandem::forest_group_chunks;

constexpr std::uint64_t group_rows = std::uint64_t{forest_chunk_rows} * forest_group_chunks;

// Row counts at the edges of chunks and groups, a prime, and several groups.
const std::uint64_t edge_rows[] = {0,          1,          forest_chunk_rows - 1, forest_chunk_rows, forest_chunk_rows + 1,
                                   group_rows - 1, group_rows, group_rows + 1, 3 * group_rows + 4097, 300007};

// Outputs whose bits vary from row to row (some negative, some NaN-free fractions).
std::vector<double> outputs_for(std::uint64_t rows, std::uint32_t columns) {
  std::vector<double> v(rows * columns);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(double(i) * 0.37) * double(1 + i % 7);
  return v;
}

forest_digest chunk_digest(const std::vector<double>& out, std::uint64_t rows, std::uint32_t columns, std::uint64_t c) {
  const std::uint64_t r0 = c * forest_chunk_rows, r1 = std::min<std::uint64_t>(rows, r0 + forest_chunk_rows);
  return tandem::digest_outputs(out.data() + r0 * columns, r1 - r0, columns);
}

// The definition, written out: chunk digests fold into fixed groups of forest_group_chunks in
// chunk order, group digests fold in group order.
forest_digest reference_fold(const std::vector<double>& out, std::uint64_t rows, std::uint32_t columns) {
  const std::uint64_t chunks = (rows + forest_chunk_rows - 1) / forest_chunk_rows;
  forest_digest total = tandem::empty_digest();
  for (std::uint64_t g0 = 0; g0 < chunks; g0 += forest_group_chunks) {
    forest_digest group = tandem::empty_digest();
    for (std::uint64_t c = g0; c < std::min<std::uint64_t>(chunks, g0 + forest_group_chunks); ++c)
      tandem::fold_digest(group, chunk_digest(out, rows, columns, c));
    tandem::fold_digest(total, group);
  }
  return total;
}

// What `size` ranks make: each its own rows' group digests (forest_group_fold), rank 0 folding
// every rank's in rank order.
forest_digest ranks_fold(const std::vector<double>& out, std::uint64_t rows, std::uint32_t columns, int size) {
  const std::uint64_t chunks = (rows + forest_chunk_rows - 1) / forest_chunk_rows;
  forest_digest total = tandem::empty_digest();
  for (int r = 0; r < size; ++r) {
    const tandem::forest_row_share s = tandem::forest_rows_of(rows, r, size);
    tandem::forest_group_fold fold(chunks);
    std::vector<forest_digest> sent;
    for (std::uint64_t c = s.first / forest_chunk_rows; s.first < s.last && c * forest_chunk_rows < s.last; ++c)
      if (fold.add(c, chunk_digest(out, rows, columns, c))) sent.push_back(fold.group());
    EXPECT_EQ(sent.size(), tandem::ranks::share_of(s.groups, r, size).size()) << "rank " << r;
    for (const forest_digest& d : sent) tandem::fold_digest(total, d);
  }
  return total;
}

bool same_bits(const forest_digest& a, const forest_digest& b) {
  return a.rows == b.rows && a.hash == b.hash && std::memcmp(a.sums, b.sums, sizeof a.sums) == 0;
}

}  // namespace

TEST(forest_ranks, shares_are_contiguous_blocks_of_whole_groups_covering_every_row) {
  for (std::uint64_t rows : edge_rows)
    for (int size = 1; size <= 7; ++size) {
      std::uint64_t next = 0;
      for (int r = 0; r < size; ++r) {
        const tandem::forest_row_share s = tandem::forest_rows_of(rows, r, size);
        EXPECT_EQ(s.first, next) << rows << " rows, rank " << r << " of " << size;
        EXPECT_LE(s.first, s.last);
        EXPECT_TRUE(s.first % group_rows == 0 || s.first == rows);
        EXPECT_TRUE(s.last % group_rows == 0 || s.last == rows);
        EXPECT_EQ(s.groups, (rows + group_rows - 1) / group_rows);
        next = s.last;
      }
      EXPECT_EQ(next, rows);
    }
}

TEST(forest_ranks, every_rank_count_folds_the_checksum_of_one_process) {
  for (std::uint32_t columns : {1u, 3u, 9u})
    for (std::uint64_t rows : edge_rows) {
      const std::vector<double> out = outputs_for(rows, columns);
      const forest_digest whole = reference_fold(out, rows, columns);
      EXPECT_EQ(whole.rows, rows);
      for (int size = 1; size <= 5; ++size)
        EXPECT_TRUE(same_bits(ranks_fold(out, rows, columns, size), whole)) << rows << " rows x " << columns << ", " << size << " ranks";
    }
}

TEST(forest_ranks, the_checksum_still_sees_every_value_and_its_place) {
  const std::uint64_t rows = 2 * group_rows + 5;
  const std::vector<double> out = outputs_for(rows, 2);
  const forest_digest whole = reference_fold(out, rows, 2);
  // One bit of one value, anywhere (first, inside a later group, the last), changes it.
  for (std::size_t i : {std::size_t(0), std::size_t(group_rows * 2 + 17), out.size() - 1}) {
    std::vector<double> changed = out;
    changed[i] = std::bit_cast<double>(std::bit_cast<std::uint64_t>(changed[i]) ^ 1);
    EXPECT_NE(ranks_fold(changed, rows, 2, 3).hash, whole.hash) << "value " << i;
  }
  // Two sign flips in one chunk, or in two groups, do not cancel out; nor does any one bit of the
  // 64 of a value.
  for (std::size_t second : {std::size_t(3), std::size_t(group_rows * 2 + 1)}) {
    std::vector<double> changed = out;
    changed[1] = -changed[1];
    changed[second] = -changed[second];
    EXPECT_NE(ranks_fold(changed, rows, 2, 1).hash, whole.hash) << "signs of values 1 and " << second;
  }
  for (int bit = 0; bit < 64; ++bit) {
    std::vector<double> changed = out;
    changed[5] = std::bit_cast<double>(std::bit_cast<std::uint64_t>(changed[5]) ^ (std::uint64_t{1} << bit));
    const forest_digest d = ranks_fold(changed, rows, 2, 1);
    EXPECT_NE(d.hash, whole.hash) << "bit " << bit;
    // The change reaches the checksum's low half too, whichever bit it was.
    EXPECT_NE(d.hash & 0xffffffffu, whole.hash & 0xffffffffu) << "bit " << bit;
  }
  // Two rows swapped across a group edge change it too (the fold is ordered).
  std::vector<double> swapped = out;
  std::swap(swapped[(group_rows - 1) * 2], swapped[group_rows * 2]);
  EXPECT_NE(ranks_fold(swapped, rows, 2, 2).hash, whole.hash);
}

TEST(forest_ranks, generated_rows_of_a_rank_are_its_rows_of_the_whole) {
  const std::uint64_t rows = 1000;
  const std::uint32_t F = 7;
  std::vector<float> whole(rows * F), part;
  tandem::forest_io::generate_rows(whole.data(), 0, rows, F, 42);
  for (std::uint64_t first : {0u, 1u, 333u, 999u}) {
    part.assign((rows - first) * F, 0.f);
    tandem::forest_io::generate_rows(part.data(), first, rows - first, F, 42);
    EXPECT_EQ(std::memcmp(part.data(), whole.data() + first * F, part.size() * sizeof(float)), 0) << first;
  }
  std::vector<double> d(3 * F), dwhole(rows * F);
  tandem::forest_io::generate_rows(dwhole.data(), 0, rows, F, 42);
  tandem::forest_io::generate_rows(d.data(), 500, 3, F, 42);
  EXPECT_EQ(std::memcmp(d.data(), dwhole.data() + 500 * F, d.size() * sizeof(double)), 0);
}

TEST(forest_ranks, a_rank_reaches_its_first_csv_row_past_blank_lines_and_marks) {
  tandem::testing::temp_dir dir;
  const std::uint64_t rows = 2 * forest_chunk_rows + 3;
  {
    std::ofstream csv(dir / "x.csv", std::ios::binary);
    csv << "a,b\n";
    for (std::uint64_t r = 0; r < rows; ++r) {
      if (r % 1000 == 7) csv << "\n";      // blank lines are not rows
      csv << r << "," << -std::int64_t(r) * 3 << (r % 3 == 0 ? "\r\n" : "\n");
    }
  }
  tandem::forest_io::csv_input in(dir / "x.csv", 2, {});
  ASSERT_EQ(in.rows(), rows);
  for (std::uint64_t first : {std::uint64_t(0), std::uint64_t(1), forest_chunk_rows - 1, forest_chunk_rows,
                              forest_chunk_rows + 1, 2 * forest_chunk_rows, rows - 1, rows}) {
    in.rewind(first);
    const std::uint64_t n = std::min<std::uint64_t>(rows - first, 5);
    std::vector<double> v(n * 2);
    in.read(n, v.data());
    for (std::uint64_t r = 0; r < n; ++r) {
      EXPECT_EQ(v[r * 2], double(first + r)) << "from row " << first;
      EXPECT_EQ(v[r * 2 + 1], -3 * double(first + r));
    }
  }
  // A bad field after a rewind is named by its real line number.
  {
    std::ofstream csv(dir / "bad.csv", std::ios::binary);
    csv << "a,b\n";
    for (std::uint64_t r = 0; r < rows; ++r) csv << (r == forest_chunk_rows + 2 ? "1,x\n" : "1,2\n");
  }
  tandem::forest_io::csv_input bad(dir / "bad.csv", 2, {});
  bad.rewind(forest_chunk_rows + 1);
  std::vector<double> v(4);
  try {
    bad.read(2, v.data());
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("line " + std::to_string(forest_chunk_rows + 4) + ", column 2"), std::string::npos)
        << e.what();
  }
}

TEST(forest_ranks, rank_zero_writing_the_others_spooled_rows_makes_the_one_process_file) {
  tandem::testing::temp_dir dir;
  const std::uint32_t columns = 3;
  const std::uint64_t rows = 5000;
  std::vector<double> out = outputs_for(rows, columns);
  out[7] = std::numeric_limits<double>::quiet_NaN();
  for (const char* name : {"p.csv", "p.npy"})
    for (bool float_values : {false, true}) {
      {
        tandem::forest_io::prediction_writer one(dir / (std::string("one_") + name), tandem::forest_output::margin,
                                                 columns, rows, float_values);
        one.begin();
        one.write(out.data(), rows);
        one.commit();
      }
      // Rank 0 writes rows [0, 1234); rank 1 spools [1234, 4000) in windows of 700 rows, rank 2
      // [4000, rows); rank 0 appends their spools read back in pieces of 1000 bytes.
      tandem::forest_io::prediction_writer root(dir / name, tandem::forest_output::margin, columns, rows, float_values);
      tandem::forest_io::prediction_format format(dir / name, tandem::forest_output::margin, columns, float_values);
      root.begin();
      root.write(out.data(), 1234);
      std::string text;
      for (auto [first, last] : {std::pair<std::uint64_t, std::uint64_t>{1234, 4000}, {4000, rows}}) {
        tandem::forest_io::spool s;
        s.clear();
        for (std::uint64_t r = first; r < last; r += 700)
          s.append(format.encode(out.data() + r * columns, std::min<std::uint64_t>(700, last - r), text));
        std::vector<char> piece(1000);
        for (std::uint64_t at = 0; at < s.size(); at += piece.size()) {
          const std::size_t n = std::size_t(std::min<std::uint64_t>(piece.size(), s.size() - at));
          s.read(at, piece.data(), n);
          root.write_encoded(piece.data(), n);
        }
      }
      root.commit();
      const std::string a = tandem::testing::slurp(dir / name), b = tandem::testing::slurp(dir / (std::string("one_") + name));
      EXPECT_FALSE(a.empty());
      EXPECT_EQ(a, b) << name << (float_values ? " float" : " double");
    }
}

TEST(forest_ranks, a_spool_leaves_no_file_and_holds_more_than_its_buffer) {
  tandem::testing::temp_dir dir;
  const char* was = std::getenv("TMPDIR");
  const std::string old = was ? was : "";
  ::setenv("TMPDIR", dir.path.c_str(), 1);
  {
    tandem::forest_io::spool s;
    EXPECT_TRUE(dir.names().empty());  // unlinked as soon as it is made
    std::string big(3u << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = char(i * 131 % 251);
    s.append("abc");
    s.append(big);
    s.append("xyz");
    ASSERT_EQ(s.size(), big.size() + 6);
    std::string back(std::size_t(s.size()), '\0');
    s.read(0, back.data(), back.size());
    EXPECT_EQ(back, "abc" + big + "xyz");
    s.clear();
    s.append("q");
    char c = 0;
    s.read(0, &c, 1);
    EXPECT_EQ(c, 'q');
    EXPECT_EQ(s.size(), 1u);
  }
  if (was) ::setenv("TMPDIR", old.c_str(), 1);
  else ::unsetenv("TMPDIR");
  EXPECT_TRUE(dir.names().empty());
}
