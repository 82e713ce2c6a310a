// Settings from the environment: a value is taken whole and in range, or refused with one line
// that names the variable.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "tandem/env.hpp"
#include "tandem/errors.hpp"

namespace {

using tandem::parse_bytes;
using tandem::parse_switch;
using tandem::usage_error;

constexpr std::uint64_t any = ~std::uint64_t{0};

std::string error_of(std::string_view value, std::uint64_t min = 0, std::uint64_t max = any) {
  try {
    parse_bytes("TANDEM_X", value, min, max);
  } catch (const usage_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(env, byte_counts_are_digits_and_an_optional_binary_suffix) {
  EXPECT_EQ(parse_bytes("X", "0", 0, any), 0u);
  EXPECT_EQ(parse_bytes("X", "4096", 0, any), 4096u);
  EXPECT_EQ(parse_bytes("X", "1000000000", 0, any), 1000000000u);
  EXPECT_EQ(parse_bytes("X", "64K", 0, any), 64u << 10);
  EXPECT_EQ(parse_bytes("X", "512m", 0, any), 512u << 20);
  EXPECT_EQ(parse_bytes("X", "2G", 0, any), std::uint64_t{2} << 30);
  EXPECT_EQ(parse_bytes("X", "3T", 0, any), std::uint64_t{3} << 40);
  EXPECT_EQ(parse_bytes("X", "18446744073709551615", 0, any), any);
}

TEST(env, anything_else_names_the_variable_and_the_value) {
  // std::stoull read "1e9" as 1, " 5" as 5 and "-1" as 2^64 - 1, and reported "abc" as "stoull".
  for (const char* bad : {"abc", "1e9", "-1", "+5", " 5", "5 ", "0x10", "1.5G", "K", "", "12KB", "18446744073709551616",
                          "17179869184G"}) {
    const std::string e = error_of(bad);
    EXPECT_EQ(e.rfind(std::string("TANDEM_X: '") + bad + "' is not a byte count", 0), 0u) << bad << ": " << e;
  }
  EXPECT_NE(error_of("1K", 4096, 8192).find("from 4096 to 8192"), std::string::npos);
  EXPECT_NE(error_of("9000", 4096, 8192), "(no error)");
  EXPECT_EQ(error_of("8K", 4096, 8192), "(no error)");
}

TEST(env, switches_are_0_or_1) {
  EXPECT_FALSE(parse_switch("X", ""));
  EXPECT_FALSE(parse_switch("X", "0"));
  EXPECT_TRUE(parse_switch("X", "1"));
  for (const char* bad : {"yes", "true", "2", " 1", "01"}) EXPECT_THROW(parse_switch("X", bad), usage_error) << bad;
}

TEST(env, reads_the_variable) {
  ::unsetenv("TANDEM_TEST_BYTES");
  EXPECT_FALSE(tandem::env_bytes("TANDEM_TEST_BYTES", 0, any));
  ::setenv("TANDEM_TEST_BYTES", "", 1);
  EXPECT_FALSE(tandem::env_bytes("TANDEM_TEST_BYTES", 0, any));  // empty is unset, as in the shell idiom X= cmd
  ::setenv("TANDEM_TEST_BYTES", "2M", 1);
  EXPECT_EQ(tandem::env_bytes("TANDEM_TEST_BYTES", 0, any), std::uint64_t{2} << 20);
  ::setenv("TANDEM_TEST_BYTES", "2 M", 1);
  EXPECT_THROW(tandem::env_bytes("TANDEM_TEST_BYTES", 0, any), usage_error);
  ::unsetenv("TANDEM_TEST_BYTES");
}

TEST(env, a_malformed_gpu_switch_hides_the_gpu_and_says_why) {
  const char* saved = std::getenv("TANDEM_DISABLE_GPU");
  const std::string keep = saved ? saved : "";
  ::setenv("TANDEM_DISABLE_GPU", "1", 1);
  EXPECT_EQ(tandem::gpu_disabled_by_environment(), "disabled by TANDEM_DISABLE_GPU");
  ::setenv("TANDEM_DISABLE_GPU", "yes", 1);
  EXPECT_EQ(tandem::gpu_disabled_by_environment(), "TANDEM_DISABLE_GPU: 'yes' is not 0 or 1");
  EXPECT_THROW(tandem::check_environment(), usage_error);
  ::setenv("TANDEM_DISABLE_GPU", "0", 1);
  EXPECT_EQ(tandem::gpu_disabled_by_environment(), "");
  ::setenv("TANDEM_SHARED_ARENA_BYTES", "1e9", 1);
  try {
    tandem::check_environment();
    ADD_FAILURE() << "TANDEM_SHARED_ARENA_BYTES=1e9 accepted";
  } catch (const usage_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("TANDEM_SHARED_ARENA_BYTES: '1e9' is not a byte count", 0), 0u) << e.what();
  }
  ::unsetenv("TANDEM_SHARED_ARENA_BYTES");
  if (saved) ::setenv("TANDEM_DISABLE_GPU", keep.c_str(), 1);
  else ::unsetenv("TANDEM_DISABLE_GPU");
}

}  // namespace
