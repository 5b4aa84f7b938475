// Byte layouts of ggml's K-quant super-blocks (ggml-common.h, QK_K = 256) and of Q8_K, the
// activation format every K-quant dot product takes. Internal to kernels/cpu; sizes match
// tensor_type.cpp's type_size. Weight blocks are 2-byte aligned like GGUF rows; Q8_K (float d)
// is 4-byte aligned and only ever lives in this engine's own buffers.
#pragma once

#include <cstdint>
#include <cstring>

namespace emoe::kernels {

inline constexpr int kQK_K = 256;

struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];  // per 16 elements: low nibble scale, high nibble min
  uint8_t qs[kQK_K / 4];       // element 128h + 32j + l: bits 2j..2j+1 of qs[32h + l]
  uint16_t d;                  // fp16 super-block scale of the scales
  uint16_t dmin;               // fp16 super-block scale of the mins
};
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];  // element 32c + l (c < 8): bit c of hmask[l]; clear means -4
  uint8_t qs[kQK_K / 4];     // low two bits, laid out as Q2_K's
  uint8_t scales[12];        // sixteen 6-bit scales (offset 32), see q3k_scales
  uint16_t d;
};
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];     // eight 6-bit scales and eight 6-bit mins, see k4_scale_min
  uint8_t qs[kQK_K / 2];  // element 64p + l: low nibble of qs[32p + l]; 64p + 32 + l: high
};
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];  // element 32c + l: bit c of qh[l] is bit 4
  uint8_t qs[kQK_K / 2];  // as Q4_K
};
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];      // low four bits: element 128h + 32k + l in ql[64h + 32(k&1) + l],
                              // low nibble for k < 2, high nibble for k >= 2
  uint8_t qh[kQK_K / 4];      // high two bits: bits 2k..2k+1 of qh[32h + l]
  int8_t scales[kQK_K / 16];  // per 16 elements
  uint16_t d;
};
struct BlockQ8_K {
  float d;  // float32, not fp16
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];  // sums of qs per 16
};

static_assert(sizeof(BlockQ2_K) == 84);
static_assert(sizeof(BlockQ3_K) == 110);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

// Scale and min of sub-block j (0..7, 32 elements each) of Q4_K/Q5_K: ggml's get_scale_min_k4.
inline void k4_scale_min(int j, const uint8_t* q, int& sc, int& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// The sixteen Q3_K scales with the offset of 32 removed (-32..31).
inline void q3k_scales(const uint8_t* s, int* out) {
  for (int k = 0; k < 16; ++k) {
    const int lo = k < 8 ? (s[k] & 0xF) : (s[k - 8] >> 4);
    const int hi = (s[8 + (k % 4)] >> (2 * (k / 4))) & 3;
    out[k] = (lo | (hi << 4)) - 32;
  }
}

}  // namespace emoe::kernels
