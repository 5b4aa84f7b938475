// Float arithmetic that rounds exactly where the CPU code rounds, for headers shared by CUDA
// kernels and host code (quant_chunk.h, rope_math.h, activation_round.h): each product, sum
// and quotient is rounded on its own on the device (__f*_rn), where nvcc would otherwise
// contract a multiply-add into an FMA or use an approximate division, and bit conversions
// avoid cuda_fp16 so the host compiler builds the same code for the CPU tests.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#ifndef EMOE_HD
#ifdef __CUDACC__
#define EMOE_HD __host__ __device__
#else
#define EMOE_HD
#endif
#endif

// Fully unrolled loops keep small arrays in registers on the device.
#ifndef EMOE_UNROLL
#ifdef __CUDACC__
#define EMOE_UNROLL _Pragma("unroll")
#else
#define EMOE_UNROLL
#endif
#endif

namespace emoe::kernels::exact {

EMOE_HD inline float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, 4);
  return f;
#endif
}

EMOE_HD inline uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
#endif
}

EMOE_HD inline float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}

EMOE_HD inline float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

EMOE_HD inline float sub_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

EMOE_HD inline float div_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

EMOE_HD inline float fma_rn(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return __fmaf_rn(a, b, c);
#else
  return std::fma(a, b, c);
#endif
}

// IEEE half -> float, exact; a NaN keeps its payload and comes back quiet, as the x86
// conversion kernels::fp16_to_fp32 (ggml's) produces it.
EMOE_HD inline float fp16_to_float(uint32_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  const uint32_t man = h & 0x3FFu;
  if (exp == 0x1Fu) return bits_to_float(sign | 0x7F800000u | (man << 13) | (man ? 0x400000u : 0));
  if (exp != 0) return bits_to_float(sign | ((exp + 112u) << 23) | (man << 13));
  // Zero or subnormal: man * 2^-24 is a normal (or zero) float32, so the product is exact.
  const float mag = mul_rn(static_cast<float>(man), 5.9604644775390625e-8f);
  return sign ? -mag : mag;
}

EMOE_HD inline float bf16_to_float(uint32_t h) { return bits_to_float(h << 16); }

}  // namespace emoe::kernels::exact
