# How a workload joins the build: one folder under workloads/ whose CMakeLists.txt calls
# tandem_add_workload(), and one tandem_workload(<name>) line in workloads/CMakeLists.txt.
# See docs/adding-a-workload.md.

# A test executable of ours: GoogleTest, discovered by ctest. A test that calls GTEST_SKIP (a GPU
# test without a device) is reported by ctest as skipped, by name, never as passed. Tests that run
# the CLI get its path as TANDEM_CLI_PATH.
function(tandem_add_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tandem GTest::gtest GTest::gtest_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests ${CMAKE_BINARY_DIR}/generated/tests)
  target_compile_definitions(${name} PRIVATE TANDEM_CLI_PATH="$<TARGET_FILE:tandem_cli>")
  add_dependencies(${name} tandem_cli)
  tandem_compile_options(${name})
  gtest_discover_tests(${name}
    PROPERTIES SKIP_REGULAR_EXPRESSION "\\[  SKIPPED \\]"
    DISCOVERY_TIMEOUT 60)
endfunction()

# A benchmark program: Google Benchmark, built with TANDEM_BUILD_BENCH. Benchmarks are not tests.
function(tandem_add_bench name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE tandem benchmark::benchmark)
  tandem_compile_options(${name})
endfunction()

# One line of the workload list: builds workloads/<name>/ and puts the workload on the list that
# the CLI, `tandem bench`, `tandem --help` and the CLI tests iterate, in the order of the lines.
macro(tandem_workload name)
  add_subdirectory(${name})
  get_property(_tandem_done GLOBAL PROPERTY TANDEM_WORKLOAD_${name}_ADDED)
  if(NOT _tandem_done)
    message(FATAL_ERROR "workloads/${name}/CMakeLists.txt must call tandem_add_workload(NAME ${name} ...)")
  endif()
  set_property(GLOBAL APPEND PROPERTY TANDEM_WORKLOADS ${name})
endmacro()

# tandem_add_workload(NAME <name>
#   SOURCES <files>        library code, built into Tandem::tandem
#   CUDA <files>           CUDA sources: built by nvcc into the library when GPU support is on, and
#                          as C++ against Thrust's host system in a TANDEM_GPU_EMULATION build
#   CLI <files>            the command's flags, its `tandem bench` entry; built into the tandem CLI
#   TESTS <files>          GoogleTest sources: one executable, test_<name>
#   BENCH <files>          Google Benchmark programs, one executable per file
#   SMOKE_ARGS "<flags>"   a small problem, for the generic CLI tests
#   VERB <word>            the run is `tandem <name> <word>` (e.g. forest predict); the workload's
#                          command then also has other subcommands (e.g. forest info)
#   COMPILE_OPTIONS_<file> none; use set_source_files_properties in the folder)
# The folder's include/ holds its public headers (tandem/workloads/<name>.hpp and the host/device
# per-item header tandem/kernels/<name>.hpp); they are installed with the library.
function(tandem_add_workload)
  cmake_parse_arguments(W "" "NAME;SMOKE_ARGS;VERB" "SOURCES;CUDA;CLI;TESTS;BENCH" ${ARGN})
  if(NOT W_NAME)
    message(FATAL_ERROR "tandem_add_workload: NAME is required")
  endif()
  set(dir ${CMAKE_CURRENT_SOURCE_DIR})
  list(TRANSFORM W_SOURCES PREPEND ${dir}/)
  list(TRANSFORM W_CUDA PREPEND ${dir}/)
  list(TRANSFORM W_CLI PREPEND ${dir}/)
  list(TRANSFORM W_TESTS PREPEND ${dir}/)
  target_sources(tandem PRIVATE ${W_SOURCES})
  if(EXISTS ${dir}/include)
    target_include_directories(tandem PUBLIC $<BUILD_INTERFACE:${dir}/include>)
    install(DIRECTORY ${dir}/include/tandem DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
  if(W_CUDA)
    if(TANDEM_HAVE_CUDA)
      target_sources(tandem PRIVATE ${W_CUDA})
    elseif(TANDEM_GPU_EMULATION)
      # The same source, as C++, against Thrust's host (CPP) system: tests then run the GPU path's
      # orchestration on the CPU (docs/gpu.md, "GPU code without a GPU").
      set_source_files_properties(${W_CUDA} TARGET_DIRECTORY tandem PROPERTIES LANGUAGE CXX
                                  COMPILE_OPTIONS "-xc++;-DTANDEM_GPU_EMULATED=1")
      target_sources(tandem PRIVATE ${W_CUDA})
    endif()
  endif()
  target_sources(tandem_cli PRIVATE ${W_CLI})
  if(TANDEM_BUILD_TESTS AND W_TESTS)
    tandem_add_test(test_${W_NAME} ${W_TESTS})
    target_include_directories(test_${W_NAME} PRIVATE ${dir})
  endif()
  if(TANDEM_BUILD_BENCH)
    foreach(b ${W_BENCH})
      get_filename_component(bn ${b} NAME_WE)
      tandem_add_bench(${bn} ${dir}/${b})
      target_include_directories(${bn} PRIVATE ${dir})
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY TANDEM_WORKLOAD_${W_NAME}_ADDED TRUE)
  set_property(GLOBAL PROPERTY TANDEM_WORKLOAD_${W_NAME}_SMOKE_ARGS "${W_SMOKE_ARGS}")
  set_property(GLOBAL PROPERTY TANDEM_WORKLOAD_${W_NAME}_VERB "${W_VERB}")
endfunction()

# Writes the C++ side of the list: the CLI's table of workload commands and the tests' list of
# names and smoke arguments. Called once, after workloads/.
function(tandem_write_workload_list)
  get_property(names GLOBAL PROPERTY TANDEM_WORKLOADS)
  set(decls "")
  set(entries "")
  set(test_names "")
  set(test_smoke "")
  foreach(n ${names})
    string(APPEND decls "const workload_command& ${n}_command();\n")
    string(APPEND entries "      &${n}_command(),\n")
    get_property(smoke GLOBAL PROPERTY TANDEM_WORKLOAD_${n}_SMOKE_ARGS)
    get_property(verb GLOBAL PROPERTY TANDEM_WORKLOAD_${n}_VERB)
    set(run_command "${n}")
    if(verb)
      set(run_command "${n} ${verb}")
    endif()
    string(APPEND test_names "    \"${n}\",\n")
    string(REPLACE "\"" "\\\"" smoke "${smoke}")
    string(APPEND test_smoke "    {\"${n}\", \"${run_command}\", \"${smoke}\"},\n")
  endforeach()
  file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/generated/cli/workload_list.cpp CONTENT
"// Generated by CMake from workloads/CMakeLists.txt: the workload list, in its order.
#include \"workload_command.hpp\"

namespace tandem::cli {
${decls}
std::span<const workload_command* const> workload_commands() {
  static const workload_command* const list[] = {
${entries}  };
  return list;
}
}  // namespace tandem::cli
" @ONLY)
  file(CONFIGURE OUTPUT ${CMAKE_BINARY_DIR}/generated/tests/workload_list.hpp CONTENT
"// Generated by CMake from workloads/CMakeLists.txt: the workload list, for the CLI tests.
#pragma once
#include <string_view>

namespace tandem::testing {
inline constexpr std::string_view workload_names[] = {
${test_names}};
// Per workload: its name, the command that runs it (`forest predict`), and flags for a small problem.
struct workload_smoke {
  std::string_view name, command, args;
};
inline constexpr workload_smoke workload_smoke_args[] = {
${test_smoke}};
}  // namespace tandem::testing
" @ONLY)
  target_sources(tandem_cli PRIVATE ${CMAKE_BINARY_DIR}/generated/cli/workload_list.cpp)
endfunction()
