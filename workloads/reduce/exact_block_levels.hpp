// The per-level entry points of exact_add (exact_block.cpp dispatches between them).
#pragma once

#include <cstddef>

#include "tandem/kernels/exact_sum.hpp"

namespace tandem::exact_detail {

void add_scalar(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);
void add_scalar(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);
void add_avx2(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);
void add_avx2(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);
void add_avx512(const double* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);
void add_avx512(const float* x, std::size_t n, kernels::exact_accumulator& s, kernels::exact_square_accumulator* q);

}  // namespace tandem::exact_detail
