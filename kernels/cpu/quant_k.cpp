// K-quant dequantizers, quantizers, the Q8_K activation quantizer and the scalar reference dot
// products. Compiled without ISA flags, so no float operation here is contracted into an FMA
// unless written as std::fma.
#include "kernels/cpu/quant_k.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/fp16.h"
#include "kernels/cpu/quant_k_blocks.h"

namespace emoe::kernels {
namespace {

inline float h2f(uint16_t h) { return fp16_to_fp32(h); }

// --- dequantization (ggml dequantize_row_*_K) ---------------------------------------------
// `d * q - m` is contracted to one FMA, as an FMA build of ggml compiles it (the same build
// contracts quantize_row_q8_K_ref, see below); products without a subtraction stay plain.

void dequant_q2_k(const BlockQ2_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, j = (e % 128) / 32, l = e % 32;
      const uint8_t sc = b[i].scales[e / 16];
      const float dl = d * static_cast<float>(sc & 0xF);
      const float ml = dmin * static_cast<float>(sc >> 4);
      const int q = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
      *y++ = std::fma(dl, static_cast<float>(q), -ml);
    }
  }
}

void dequant_q3_k(const BlockQ3_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d);
    int sc[16];
    q3k_scales(b[i].scales, sc);
    for (int e = 0; e < kQK_K; ++e) {
      const int h = e / 128, j = (e % 128) / 32, l = e % 32, c = e / 32;
      const int lo = (b[i].qs[32 * h + l] >> (2 * j)) & 3;
      const int q = lo - ((b[i].hmask[l] >> c) & 1 ? 0 : 4);
      *y++ = (d * static_cast<float>(sc[e / 16])) * static_cast<float>(q);
    }
  }
}

template <typename Block, bool kFive>
void dequant_q45_k(const Block* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    for (int c = 0; c < 8; ++c) {
      int sc, m;
      k4_scale_min(c, b[i].scales, sc, m);
      const float d1 = d * static_cast<float>(sc);
      const float m1 = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        int q = (b[i].qs[32 * (c / 2) + l] >> (4 * (c & 1))) & 0xF;
        if constexpr (kFive) {
          q += ((b[i].qh[l] >> c) & 1) << 4;
        }
        *y++ = std::fma(d1, static_cast<float>(q), -m1);
      }
    }
  }
}

inline int q6_value(const BlockQ6_K& b, int e) {
  const int h = e / 128, k = (e % 128) / 32, l = e % 32;
  const int lo = (b.ql[64 * h + 32 * (k & 1) + l] >> (k >= 2 ? 4 : 0)) & 0xF;
  const int hi = (b.qh[32 * h + l] >> (2 * k)) & 3;
  return (lo | (hi << 4)) - 32;
}

void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = h2f(b[i].d);
    for (int e = 0; e < kQK_K; ++e) {
      *y++ = d * static_cast<float>(b[i].scales[e / 16]) * static_cast<float>(q6_value(b[i], e));
    }
  }
}

// --- weight quantizers --------------------------------------------------------------------

// Smallest fp16 not below v (v >= 0 and finite), so a scale derived from it never clips.
uint16_t fp16_at_least(float v) {
  uint16_t h = fp32_to_fp16(v);
  if (h2f(h) < v) ++h;
  return h;
}

// Smallest k in [0, kmax] with k * unit >= need (kmax when none is).
int steps_at_least(float need, float unit, int kmax) {
  if (need <= 0.0f || unit <= 0.0f) return 0;
  int k = std::min(kmax, static_cast<int>(std::ceil(need / unit)));
  while (k < kmax && static_cast<float>(k) * unit < need) ++k;
  return k;
}

// Unsigned quants with a minimum per sub-block: value = (d*sc) * q - (dmin*m), q in [0, qmax],
// sc and m in [0, smax]. The minimum is rounded up first, then the step is chosen to reach the
// sub-block's maximum from it, so no element needs clipping.
struct Unsigned {
  uint16_t d = 0, dmin = 0;
  int sc[16] = {}, m[16] = {};
  int q[kQK_K] = {};
};

void quantize_unsigned(const float* x, int nsub, int qmax, int smax, Unsigned& u) {
  const int len = kQK_K / nsub;
  float need_min[16], hi[16], need_step[16];
  float max_min = 0.0f;
  for (int j = 0; j < nsub; ++j) {
    float lo = 0.0f, h = 0.0f;
    for (int l = 0; l < len; ++l) {
      lo = std::min(lo, x[j * len + l]);
      h = std::max(h, x[j * len + l]);
    }
    need_min[j] = -lo;
    hi[j] = h;
    max_min = std::max(max_min, need_min[j]);
  }
  u.dmin = fp16_at_least(max_min / static_cast<float>(smax));
  const float dmin = h2f(u.dmin);
  float max_step = 0.0f;
  for (int j = 0; j < nsub; ++j) {
    u.m[j] = steps_at_least(need_min[j], dmin, smax);
    const float mact = dmin * static_cast<float>(u.m[j]);
    need_step[j] = (hi[j] + mact) / static_cast<float>(qmax);
    max_step = std::max(max_step, need_step[j]);
  }
  u.d = fp16_at_least(max_step / static_cast<float>(smax));
  const float d = h2f(u.d);
  for (int j = 0; j < nsub; ++j) {
    u.sc[j] = steps_at_least(need_step[j], d, smax);
    const float step = d * static_cast<float>(u.sc[j]);
    const float mact = dmin * static_cast<float>(u.m[j]);
    for (int l = 0; l < len; ++l) {
      const float v = step > 0.0f ? std::round((x[j * len + l] + mact) / step) : 0.0f;
      u.q[j * len + l] = std::clamp(static_cast<int>(v), 0, qmax);
    }
  }
}

// Signed quants per 16: value = (d*sc) * q, q in [-qneg, qneg-1], |sc| <= smax. The value of
// largest magnitude maps to -qneg exactly as far as the rounded scales allow.
struct Signed {
  uint16_t d = 0;
  int sc[16] = {};
  int q[kQK_K] = {};
};

void quantize_signed(const float* x, int qneg, int smax, Signed& s) {
  float step[16];
  float max_step = 0.0f;
  for (int j = 0; j < 16; ++j) {
    float amax = 0.0f, mx = 0.0f;
    for (int l = 0; l < 16; ++l) {
      if (std::fabs(x[16 * j + l]) > amax) {
        amax = std::fabs(x[16 * j + l]);
        mx = x[16 * j + l];
      }
    }
    step[j] = -mx / static_cast<float>(qneg);
    max_step = std::max(max_step, std::fabs(step[j]));
  }
  s.d = fp16_at_least(max_step / static_cast<float>(smax));
  const float d = h2f(s.d);
  for (int j = 0; j < 16; ++j) {
    const int mag = steps_at_least(std::fabs(step[j]), d, smax);
    s.sc[j] = step[j] < 0.0f ? -mag : mag;
    const float st = d * static_cast<float>(s.sc[j]);
    for (int l = 0; l < 16; ++l) {
      const float v = st != 0.0f ? std::round(x[16 * j + l] / st) : 0.0f;
      s.q[16 * j + l] = std::clamp(static_cast<int>(v), -qneg, qneg - 1);
    }
  }
}

void quant_q2_k(const float* x, BlockQ2_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    Unsigned u;
    quantize_unsigned(x, 16, 3, 15, u);
    std::memset(&b[i], 0, sizeof(BlockQ2_K));
    b[i].d = u.d;
    b[i].dmin = u.dmin;
    for (int k = 0; k < 16; ++k) b[i].scales[k] = static_cast<uint8_t>(u.sc[k] | (u.m[k] << 4));
    for (int e = 0; e < kQK_K; ++e) {
      b[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>(u.q[e] << (2 * ((e % 128) / 32)));
    }
  }
}

void quant_q3_k(const float* x, BlockQ3_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    Signed s;
    quantize_signed(x, 4, 31, s);
    std::memset(&b[i], 0, sizeof(BlockQ3_K));
    b[i].d = s.d;
    for (int k = 0; k < 16; ++k) {
      const int v = s.sc[k] + 32;
      if (k < 8) {
        b[i].scales[k] |= static_cast<uint8_t>(v & 0xF);
      } else {
        b[i].scales[k - 8] |= static_cast<uint8_t>((v & 0xF) << 4);
      }
      b[i].scales[8 + k % 4] |= static_cast<uint8_t>((v >> 4) << (2 * (k / 4)));
    }
    for (int e = 0; e < kQK_K; ++e) {
      const int v = s.q[e] + 4;
      b[i].qs[32 * (e / 128) + e % 32] |= static_cast<uint8_t>((v & 3) << (2 * ((e % 128) / 32)));
      b[i].hmask[e % 32] |= static_cast<uint8_t>((v >> 2) << (e / 32));
    }
  }
}

template <typename Block, bool kFive>
void quant_q45_k(const float* x, Block* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    Unsigned u;
    quantize_unsigned(x, 8, kFive ? 31 : 15, 63, u);
    std::memset(&b[i], 0, sizeof(Block));
    b[i].d = u.d;
    b[i].dmin = u.dmin;
    for (int j = 0; j < 4; ++j) {
      b[i].scales[j] = static_cast<uint8_t>((u.sc[j] & 63) | ((u.sc[j + 4] >> 4) << 6));
      b[i].scales[j + 4] = static_cast<uint8_t>((u.m[j] & 63) | ((u.m[j + 4] >> 4) << 6));
      b[i].scales[j + 8] = static_cast<uint8_t>((u.sc[j + 4] & 0xF) | ((u.m[j + 4] & 0xF) << 4));
    }
    for (int e = 0; e < kQK_K; ++e) {
      const int c = e / 32, l = e % 32;
      b[i].qs[32 * (c / 2) + l] |= static_cast<uint8_t>((u.q[e] & 0xF) << (4 * (c & 1)));
      if constexpr (kFive) {
        b[i].qh[l] |= static_cast<uint8_t>(((u.q[e] >> 4) & 1) << c);
      }
    }
  }
}

void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    Signed s;
    quantize_signed(x, 32, 127, s);
    std::memset(&b[i], 0, sizeof(BlockQ6_K));
    b[i].d = s.d;
    for (int k = 0; k < 16; ++k) b[i].scales[k] = static_cast<int8_t>(s.sc[k]);
    for (int e = 0; e < kQK_K; ++e) {
      const int v = s.q[e] + 32;
      const int h = e / 128, k = (e % 128) / 32, l = e % 32;
      b[i].ql[64 * h + 32 * (k & 1) + l] |= static_cast<uint8_t>((v & 0xF) << (k >= 2 ? 4 : 0));
      b[i].qh[32 * h + l] |= static_cast<uint8_t>((v >> 4) << (2 * k));
    }
  }
}

// --- scalar dot products in the order of ggml's AVX2 kernels ------------------------------
// Every kernel there forms eight int32 lanes per super-block, lane k holding
//   sum over elements e with (e mod 32) / 4 == k of scale(e) * q_w(e) * q_x(e)
// (q_w with the format's offset removed), which is exact whatever the grouping. The float32
// work is then, with d = d_x * fp16(d_w) and dmin = -d_x * fp16(dmin_w):
//   Q2_K: acc_k = fma(dmin, float(m_2k b_2k + m_2k+1 b_2k+1), acc_k), then
//         acc_k = fma(d, float(lane_k), acc_k); result hsum8(acc)
//   Q3_K, Q6_K: acc_k = fma(d, float(lane_k), acc_k); result hsum8(acc)
//   Q4_K: four more lanes a_j = fma(dmin, float(m_2j (b_4j + b_4j+1) + m_2j+1 (b_4j+2 +
//         b_4j+3)), a_j); result hsum8(acc) + ((a_0 + a_2) + (a_1 + a_3))
//   Q5_K: summs = fma(dmin, float(sum_j m_j (b_2j + b_2j+1)), summs) (ggml's `summs += dmin *
//         isum`, contracted by an FMA build); result hsum8(acc) + summs
// where m are the weight block's mins, b the activation block's bsums and hsum8 is ggml's
// hsum_float_8: ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)).

inline float hsum8(const float* a) {
  const float a0 = a[0] + a[4], a1 = a[1] + a[5], a2 = a[2] + a[6], a3 = a[3] + a[7];
  return (a0 + a2) + (a1 + a3);
}

// q[256] signed quants, sc[16] scale of each 16 elements; mins[16] per 16 (Q2_K) or per 32
// (Q4_K/Q5_K, first 8) where the format has them.
struct Unpacked {
  int q[kQK_K];
  int sc[16];
  int mins[16];
};

void unpack(const BlockQ2_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e)
    u.q[e] = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
  for (int k = 0; k < 16; ++k) {
    u.sc[k] = b.scales[k] & 0xF;
    u.mins[k] = b.scales[k] >> 4;
  }
}
void unpack(const BlockQ3_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) {
    const int lo = (b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
    u.q[e] = lo - ((b.hmask[e % 32] >> (e / 32)) & 1 ? 0 : 4);
  }
  q3k_scales(b.scales, u.sc);
}
template <typename Block, bool kFive>
void unpack45(const Block& b, Unpacked& u) {
  for (int c = 0; c < 8; ++c) {
    int sc, m;
    k4_scale_min(c, b.scales, sc, m);
    u.sc[2 * c] = u.sc[2 * c + 1] = sc;
    u.mins[c] = m;
    for (int l = 0; l < 32; ++l) {
      int q = (b.qs[32 * (c / 2) + l] >> (4 * (c & 1))) & 0xF;
      if constexpr (kFive) q += ((b.qh[l] >> c) & 1) << 4;
      u.q[32 * c + l] = q;
    }
  }
}
void unpack(const BlockQ4_K& b, Unpacked& u) { unpack45<BlockQ4_K, false>(b, u); }
void unpack(const BlockQ5_K& b, Unpacked& u) { unpack45<BlockQ5_K, true>(b, u); }
void unpack(const BlockQ6_K& b, Unpacked& u) {
  for (int e = 0; e < kQK_K; ++e) u.q[e] = q6_value(b, e);
  for (int k = 0; k < 16; ++k) u.sc[k] = b.scales[k];
}

void lanes(const Unpacked& u, const BlockQ8_K& x, int* lane) {
  for (int k = 0; k < 8; ++k) lane[k] = 0;
  for (int e = 0; e < kQK_K; ++e) lane[(e % 32) / 4] += u.sc[e / 16] * u.q[e] * x.qs[e];
}

template <typename Block>
float dot_k(int64_t n, const void* w, const void* xv) {
  const auto* wb = static_cast<const Block*>(w);
  const auto* xb = static_cast<const BlockQ8_K*>(xv);
  float acc[8] = {}, acc_m[4] = {}, summs = 0.0f;
  Unpacked u;
  int lane[8];
  for (int64_t i = 0; i < n / kQK_K; ++i) {
    const BlockQ8_K& x = xb[i];
    unpack(wb[i], u);
    lanes(u, x, lane);
    const float d = x.d * h2f(wb[i].d);
    if constexpr (std::is_same_v<Block, BlockQ2_K>) {
      const float dmin = -x.d * h2f(wb[i].dmin);
      for (int k = 0; k < 8; ++k) {
        const int p = u.mins[2 * k] * x.bsums[2 * k] + u.mins[2 * k + 1] * x.bsums[2 * k + 1];
        acc[k] = std::fma(dmin, static_cast<float>(p), acc[k]);
      }
    }
    if constexpr (std::is_same_v<Block, BlockQ4_K> || std::is_same_v<Block, BlockQ5_K>) {
      const float dmin = -x.d * h2f(wb[i].dmin);
      int p[4];
      for (int j = 0; j < 4; ++j) {
        p[j] = u.mins[2 * j] * (x.bsums[4 * j] + x.bsums[4 * j + 1]) +
               u.mins[2 * j + 1] * (x.bsums[4 * j + 2] + x.bsums[4 * j + 3]);
      }
      if constexpr (std::is_same_v<Block, BlockQ4_K>) {
        for (int j = 0; j < 4; ++j) acc_m[j] = std::fma(dmin, static_cast<float>(p[j]), acc_m[j]);
      } else {
        summs = std::fma(dmin, static_cast<float>((p[0] + p[1]) + (p[2] + p[3])), summs);
      }
    }
    for (int k = 0; k < 8; ++k) acc[k] = std::fma(d, static_cast<float>(lane[k]), acc[k]);
  }
  const float sum = hsum8(acc);
  if constexpr (std::is_same_v<Block, BlockQ4_K>) {
    return sum + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
  }
  if constexpr (std::is_same_v<Block, BlockQ5_K>) return sum + summs;
  return sum;
}

}  // namespace

bool dequantize_row_k(TensorType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / kQK_K;
  switch (t) {
    case TensorType::Q2_K:
      dequant_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb);
      return true;
    case TensorType::Q3_K:
      dequant_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb);
      return true;
    case TensorType::Q4_K:
      dequant_q45_k<BlockQ4_K, false>(static_cast<const BlockQ4_K*>(src), dst, nb);
      return true;
    case TensorType::Q5_K:
      dequant_q45_k<BlockQ5_K, true>(static_cast<const BlockQ5_K*>(src), dst, nb);
      return true;
    case TensorType::Q6_K:
      dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
      return true;
    case TensorType::Q8_K: {
      const auto* b = static_cast<const BlockQ8_K*>(src);
      for (int64_t i = 0; i < nb; ++i) {
        for (int e = 0; e < kQK_K; ++e) *dst++ = b[i].d * static_cast<float>(b[i].qs[e]);
      }
      return true;
    }
    default:
      return false;
  }
}

bool quantize_row_k(TensorType t, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / kQK_K;
  switch (t) {
    case TensorType::Q2_K:
      quant_q2_k(src, static_cast<BlockQ2_K*>(dst), nb);
      return true;
    case TensorType::Q3_K:
      quant_q3_k(src, static_cast<BlockQ3_K*>(dst), nb);
      return true;
    case TensorType::Q4_K:
      quant_q45_k<BlockQ4_K, false>(src, static_cast<BlockQ4_K*>(dst), nb);
      return true;
    case TensorType::Q5_K:
      quant_q45_k<BlockQ5_K, true>(src, static_cast<BlockQ5_K*>(dst), nb);
      return true;
    case TensorType::Q6_K:
      quant_q6_k(src, static_cast<BlockQ6_K*>(dst), nb);
      return true;
    default:
      return false;
  }
}

void quantize_activation_q8_K(const float* x, void* dst, int64_t n) {
  auto* b = static_cast<BlockQ8_K*>(dst);
  for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < kQK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    std::memset(&b[i], 0, sizeof(BlockQ8_K));
    if (amax == 0.0f) continue;
    const float iscale = -127.0f / max;
    for (int j = 0; j < kQK_K; ++j) {
      // ggml's nearest_int: adding 1.5 * 2^23 leaves round_half_even(v) in the low mantissa
      // bits, independent of the floating-point environment (|v| <= 127 here). An FMA build of
      // ggml contracts the product into that addition, so the exact product is rounded once;
      // rounding it to float32 first moves A3 prompt 4 off llama.cpp (tiny-mixtral-q4km).
      const float biased = std::fma(iscale, x[j], 12582912.0f);
      int32_t bits;
      std::memcpy(&bits, &biased, 4);
      b[i].qs[j] = static_cast<int8_t>(std::min(127, (bits & 0x007fffff) - 0x00400000));
    }
    for (int k = 0; k < kQK_K / 16; ++k) {
      int sum = 0;
      for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * k + l];
      b[i].bsums[k] = static_cast<int16_t>(sum);
    }
    b[i].d = 1.0f / iscale;
  }
}

VecDotFn vec_dot_k_fn_scalar(TensorType w) {
  switch (w) {
    case TensorType::Q2_K:
      return dot_k<BlockQ2_K>;
    case TensorType::Q3_K:
      return dot_k<BlockQ3_K>;
    case TensorType::Q4_K:
      return dot_k<BlockQ4_K>;
    case TensorType::Q5_K:
      return dot_k<BlockQ5_K>;
    case TensorType::Q6_K:
      return dot_k<BlockQ6_K>;
    default:
      return nullptr;
  }
}

}  // namespace emoe::kernels
