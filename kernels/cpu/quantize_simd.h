// Activation quantizers per ISA (internal to kernels/cpu). All produce identical bytes; the
// dispatcher in quantize.cpp picks one. n is a multiple of 32.
#pragma once

#include <cstdint>

namespace emoe::kernels {

void quantize_activation_q8_0_scalar(const float* x, void* dst, int64_t n);
void quantize_activation_q8_1_scalar(const float* x, void* dst, int64_t n);
void quantize_activation_q8_0_avx2(const float* x, void* dst, int64_t n);
void quantize_activation_q8_1_avx2(const float* x, void* dst, int64_t n);
void convert_fp16_avx2(const float* x, uint16_t* dst, int64_t n);  // any n

}  // namespace emoe::kernels
