// Streaming-read loops per ISA for mem_bandwidth.cpp (internal to kernels/cpu). Each sums the
// 64-bit words of [p, p + bytes); bytes is a multiple of 256 and p is 64-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emoe::kernels {

uint64_t read_sum_avx2(const void* p, size_t bytes);
uint64_t read_sum_avx512(const void* p, size_t bytes);

}  // namespace emoe::kernels
