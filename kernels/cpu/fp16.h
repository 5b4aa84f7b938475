// IEEE half and bfloat16 conversions, bit-exact with ggml (round to nearest even).
#pragma once

#include <cstdint>

namespace emoe::kernels {

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

}  // namespace emoe::kernels
