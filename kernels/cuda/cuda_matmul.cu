// CudaDevice's weight products: y = W x (matmul) and per-head products (matmul_heads); their
// batch path and dequantization to F32 (dequantize) are in cuda_matmul_batch.cu.
//
// Unless W is F32, x is first rounded to the values the CPU engine's dot products see, x
// converted to vec_dot_type(W) and back (activation_round.h), into the device's activation
// scratch, packed token by token and head by head (cuda_activation_round.cu). The float kernels
// below then compute the CPU's block sums up to float summation order.
//
// Decode (n_tokens <= 8, quantized or half weights): mmv_kernel, which reads every weight byte
// once and dequantizes it in registers (quant_chunk.h). A block of four warps owns kRows rows
// per row group; its warps either split the row's 32-chunk tiles among themselves (long rows)
// or take separate row groups (short rows). A warp streams its tiles through a two-stage
// shared-memory buffer with cp.async, 16-byte copies that keep consecutive lanes on
// consecutive bytes (GGUF rows are only 2-byte aligned, so the few bytes before the first and
// after the last 16-byte boundary of a tile go through registers), while it decodes the
// previous tile. Lane l decodes chunk l of the tile; its 32 activations come from a per-warp
// shared copy of x laid out with an XOR swizzle, so the eight 16-byte reads of a chunk are
// conflict-free. Weight bytes bypass L1 (cp.async.cg); x is read through L1, where the other
// blocks on the SM find it.
//
// Larger batches, and F32 weights at any batch: cuBLAS SGEMM (cuda_matmul_batch.cu).
#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/activation_round.h"
#include "kernels/cuda/cuda_device.h"
#include "kernels/cuda/cuda_matmul_internal.h"
#include "kernels/cuda/quant_chunk.h"

namespace emoe::kernels::gpu {
namespace {

using namespace matmul_internal;

constexpr int kTileChunks = 32;      // one chunk per lane
constexpr int kMaxDecodeTokens = 8;  // mmv_kernel's largest batch; cuBLAS above
constexpr int kHeadTailPerRow = 14;  // at most 7 2-byte units before and 7 after the 16B body

template <TensorType T>
struct TileShape {
  static constexpr qchunk::Geometry kGeom = qchunk::geometry(T);
  static constexpr int kChunksPerBlock = kGeom.block_elems / qchunk::kChunk;
  static constexpr int kBytes = kTileChunks / kChunksPerBlock * kGeom.block_bytes;
  // Rows per warp: about 2.3 KiB of weights per stage, so two stages of four warps and the x
  // copies stay under the 48 KiB of static shared memory.
  static constexpr int kRows = std::clamp(2368 / kBytes, 1, 4);
  // A row's tile sits at its global address modulo 16, so the 16-byte body copies align.
  static constexpr int kSlot = (kBytes + 16 + 15) / 16 * 16;
  static_assert(kRows * kHeadTailPerRow <= 64, "two head/tail units per lane");
};

struct MmvArgs {
  const uint8_t* w = nullptr;
  int64_t row_stride = 0;  // bytes
  int64_t rows = 0;        // per head
  int64_t n_chunks = 0;    // cols / 32
  int64_t row_bytes = 0;   // bytes of one row's blocks
  const float* x = nullptr;
  int64_t x_tok = 0, x_head = 0;  // floats
  float* y = nullptr;
  int64_t y_tok = 0, y_head = 0;  // floats
  int ksplit = 1;                 // warps per row group (1, 2 or 4), splitting the row's tiles
  bool x_vec4 = false;            // every x row segment is 16-byte aligned
};

__device__ inline void cp_async16(void* smem, const void* gmem) {
  const auto s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem) : "memory");
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ inline void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Where tile k of a row lies: `mis` bytes past a 16-byte boundary, `head` bytes up to the
// next one, `n16` 16-byte units, then `tail` bytes.
struct TileSpan {
  const uint8_t* g;
  int mis, head, n16, tail;
};

template <int kBytes>
__device__ inline TileSpan tile_span(const uint8_t* row, int64_t k, int64_t row_bytes) {
  TileSpan s;
  s.g = row + k * kBytes;
  const int nbytes = static_cast<int>(min(static_cast<int64_t>(kBytes), row_bytes - k * kBytes));
  s.mis = static_cast<int>(reinterpret_cast<uintptr_t>(s.g) & 15);
  s.head = s.mis ? min(16 - s.mis, nbytes) : 0;
  s.n16 = (nbytes - s.head) / 16;
  s.tail = nbytes - s.head - 16 * s.n16;
  return s;
}

// The head/tail bytes a lane carries from its load to its shared-memory store.
struct HeadTail {
  uint32_t val[2] = {0, 0};
  int off[2] = {-1, -1};  // byte offset in the stage buffer; -1: none
};

template <TensorType T, int NT>
__global__ void __launch_bounds__(kThreads) mmv_kernel(MmvArgs a) {
  using S = TileShape<T>;
  constexpr int R = S::kRows;
  __shared__ __align__(16) uint8_t s_w[kWarps][2][R * S::kSlot];
  __shared__ __align__(16) float s_x[kWarps][kTileChunks * qchunk::kChunk];
  __shared__ float s_red[kWarps][R][NT];

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t head = blockIdx.y;
  const int groups = kWarps / a.ksplit;
  const int group = warp / a.ksplit;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * groups + group) * R;
  const int64_t n_tiles = (a.n_chunks + kTileChunks - 1) / kTileChunks;
  const uint8_t* wbase = a.w + head * a.rows * a.row_stride;
  const float* xh = a.x + head * a.x_head;

  int n_rows = 0;  // valid rows of this warp's group
  if (row0 < a.rows) n_rows = static_cast<int>(min(static_cast<int64_t>(R), a.rows - row0));

  // Queues tile k's copies into stage `st`; returns the head/tail units loaded into registers.
  auto issue = [&](int64_t k, int st) {
    HeadTail ht;
    for (int r = 0; r < R; ++r) {
      if (r >= n_rows) break;
      const TileSpan s = tile_span<S::kBytes>(wbase + (row0 + r) * a.row_stride, k, a.row_bytes);
      uint8_t* dst = s_w[warp][st] + r * S::kSlot + s.mis + s.head;
      for (int i = lane; i < s.n16; i += 32) cp_async16(dst + 16 * i, s.g + s.head + 16 * i);
    }
    for (int j = 0; j < 2; ++j) {
      const int q = lane + 32 * j;
      const int r = q / kHeadTailPerRow, i = q % kHeadTailPerRow;
      if (r >= n_rows) continue;
      const TileSpan s = tile_span<S::kBytes>(wbase + (row0 + r) * a.row_stride, k, a.row_bytes);
      int off;
      if (2 * i < s.head) {
        off = 2 * i;
      } else if (2 * i - s.head < s.tail) {
        off = s.head + 16 * s.n16 + (2 * i - s.head);
      } else {
        continue;
      }
      ht.val[j] = *reinterpret_cast<const uint16_t*>(s.g + off);
      ht.off[j] = r * S::kSlot + s.mis + off;
    }
    return ht;
  };

  // Tile k's x values of token t into this warp's x buffer: float4 k4 of chunk c at slot
  // c * 8 + (k4 ^ (c & 7)), so lane c's reads of slots k4 ^ (c & 7) hit distinct banks.
  auto stage_x = [&](int t, int64_t chunk0, int nch) {
    const float* src = xh + t * a.x_tok + chunk0 * qchunk::kChunk;
    float* sx = s_x[warp];
    if (a.x_vec4) {
      const auto* src4 = reinterpret_cast<const float4*>(src);
      for (int i = lane; i < nch * 8; i += 32) {
        const int c = i / 8, k4 = i % 8;
        reinterpret_cast<float4*>(sx)[c * 8 + (k4 ^ (c & 7))] = __ldg(src4 + i);
      }
    } else {
      for (int c = 0; c < nch; ++c) {
        const int k4 = lane / 4;
        sx[c * 32 + 4 * (k4 ^ (c & 7)) + lane % 4] = __ldg(src + c * 32 + lane);
      }
    }
  };

  float acc[R][NT];
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < NT; ++t) acc[r][t] = 0.0f;
  }

  int64_t k = warp % a.ksplit;
  int st = 0;
  HeadTail ht_cur{};
  if (k < n_tiles && n_rows > 0) ht_cur = issue(k, st);
  cp_async_commit();
  for (; k < n_tiles && n_rows > 0; k += a.ksplit) {
    const int64_t kn = k + a.ksplit;
    HeadTail ht_next{};
    if (kn < n_tiles) ht_next = issue(kn, st ^ 1);
    cp_async_commit();
    for (int j = 0; j < 2; ++j) {
      if (ht_cur.off[j] >= 0) {
        *reinterpret_cast<uint16_t*>(s_w[warp][st] + ht_cur.off[j]) =
            static_cast<uint16_t>(ht_cur.val[j]);
      }
    }
    cp_async_wait<1>();
    __syncwarp();

    const int64_t chunk0 = k * kTileChunks;
    const int nch = static_cast<int>(min(static_cast<int64_t>(kTileChunks), a.n_chunks - chunk0));
    const bool active = lane < nch;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      stage_x(t, chunk0, nch);
      __syncwarp();
      if (active) {
        float xr[qchunk::kChunk];
        const auto* sx4 = reinterpret_cast<const float4*>(s_x[warp]);
#pragma unroll
        for (int k4 = 0; k4 < 8; ++k4) {
          const float4 v = sx4[lane * 8 + (k4 ^ (lane & 7))];
          xr[4 * k4] = v.x;
          xr[4 * k4 + 1] = v.y;
          xr[4 * k4 + 2] = v.z;
          xr[4 * k4 + 3] = v.w;
        }
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (r < n_rows) {
            const TileSpan s =
                tile_span<S::kBytes>(wbase + (row0 + r) * a.row_stride, k, a.row_bytes);
            const uint8_t* blk = s_w[warp][st] + r * S::kSlot + s.mis +
                                 (lane / S::kChunksPerBlock) * S::kGeom.block_bytes;
            float wv[qchunk::kChunk];
            qchunk::decode_block_chunk<T>(blk, lane % S::kChunksPerBlock, wv);
            float p[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
            for (int j = 0; j < qchunk::kChunk; ++j) p[j % 4] = fmaf(wv[j], xr[j], p[j % 4]);
            acc[r][t] += (p[0] + p[1]) + (p[2] + p[3]);
          }
        }
      }
      __syncwarp();  // the x buffer is refilled for the next token
    }
    ht_cur = ht_next;
    st ^= 1;
  }
  cp_async_wait<0>();

#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int t = 0; t < NT; ++t) {
      float v = acc[r][t];
#pragma unroll
      for (int off = 16; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
      if (lane == 0) s_red[warp][r][t] = v;
    }
  }
  __syncthreads();
  // The row group's ksplit warps hold partial sums of disjoint tiles; add them in warp order.
  for (int idx = threadIdx.x; idx < groups * R * NT; idx += kThreads) {
    const int g = idx / (R * NT), r = (idx / NT) % R, t = idx % NT;
    const int64_t row = (static_cast<int64_t>(blockIdx.x) * groups + g) * R + r;
    if (row >= a.rows) continue;
    float sum = 0.0f;
    for (int w = g * a.ksplit; w < (g + 1) * a.ksplit; ++w) sum += s_red[w][r][t];
    a.y[t * a.y_tok + head * a.y_head + row] = sum;
  }
}

// One decode launch: n_tokens (1..8) tokens of n_heads heads.
struct DecodeCall {
  const MatrixView* w;
  int64_t rows_per_head, n_heads;
  const float* x;
  int64_t n_tokens, xts, xhs;
  float* y;
  int64_t yts, yhs;
};

template <TensorType T, int NT>
GpuStatus launch_mmv(const DecodeCall& c, cudaStream_t stream) {
  using S = TileShape<T>;
  MmvArgs a;
  a.w = static_cast<const uint8_t*>(c.w->data);
  a.row_stride = static_cast<int64_t>(c.w->row_stride);
  a.rows = c.rows_per_head;
  a.n_chunks = c.w->cols / qchunk::kChunk;
  a.row_bytes = static_cast<int64_t>(*row_bytes(T, c.w->cols));
  a.x = c.x;
  a.x_tok = c.xts;
  a.x_head = c.xhs;
  a.y = c.y;
  a.y_tok = c.yts;
  a.y_head = c.yhs;
  const int64_t n_tiles = (a.n_chunks + kTileChunks - 1) / kTileChunks;
  a.ksplit = n_tiles >= 4 ? 4 : (n_tiles >= 2 ? 2 : 1);
  a.x_vec4 = aligned16(c.x) && (NT == 1 || c.xts % 4 == 0) && (c.n_heads == 1 || c.xhs % 4 == 0);
  const int64_t rows_per_block = static_cast<int64_t>(kWarps / a.ksplit) * S::kRows;
  const int64_t blocks = (c.rows_per_head + rows_per_block - 1) / rows_per_block;
  if (blocks > 0x7fffffff || c.n_heads > 65535) {
    return GpuStatus::error("matmul: too many rows or heads for one launch");
  }
  mmv_kernel<T, NT><<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(c.n_heads)),
                      kThreads, 0, stream>>>(a);
  return launch_status(("mmv_kernel<" + tname(T) + ", " + std::to_string(NT) + ">").c_str());
}

template <TensorType T>
GpuStatus launch_mmv_tokens(const DecodeCall& c, cudaStream_t stream) {
  switch (c.n_tokens) {
    case 1:
      return launch_mmv<T, 1>(c, stream);
    case 2:
      return launch_mmv<T, 2>(c, stream);
    case 3:
      return launch_mmv<T, 3>(c, stream);
    case 4:
      return launch_mmv<T, 4>(c, stream);
    case 5:
      return launch_mmv<T, 5>(c, stream);
    case 6:
      return launch_mmv<T, 6>(c, stream);
    case 7:
      return launch_mmv<T, 7>(c, stream);
    case 8:
      return launch_mmv<T, 8>(c, stream);
    default:
      return GpuStatus::error("matmul: internal error: decode batch of " +
                              std::to_string(c.n_tokens));
  }
}

// Decode launches for any token count, kMaxDecodeTokens at a time (the path for strides cuBLAS
// cannot take as well as for small batches).
GpuStatus decode_products(const DecodeCall& c, cudaStream_t stream) {
  for (int64_t t0 = 0; t0 < c.n_tokens; t0 += kMaxDecodeTokens) {
    DecodeCall part = c;
    part.n_tokens = std::min<int64_t>(kMaxDecodeTokens, c.n_tokens - t0);
    part.x = c.x + t0 * c.xts;
    part.y = c.y + t0 * c.yts;
    GpuStatus s = with_type(c.w->type, [&]<TensorType T>() -> GpuStatus {
      if constexpr (T == TensorType::F32) {
        return GpuStatus::error("matmul: internal error: f32 weights reached the decode kernel");
      } else {
        return launch_mmv_tokens<T>(part, stream);
      }
    });
    if (!s.ok()) return s;
  }
  return {};
}

// matmul and matmul_heads; `call` names the entry point in messages.
GpuStatus products(CudaDevice& d, const char* call, const MatrixView& w, int64_t rows_per_head,
                   int64_t n_heads, const float* x, int64_t n_tokens, int64_t xts, int64_t xhs,
                   float* y, int64_t yts, int64_t yhs) {
  if (n_tokens < 0 || n_heads < 0 || rows_per_head < 0 ||
      (n_heads > 0 && rows_per_head > w.rows / n_heads)) {
    return fail(call, "bad shape (" + std::to_string(n_heads) + " heads of " +
                          std::to_string(rows_per_head) + " rows, matrix has " +
                          std::to_string(w.rows) + ")");
  }
  if (GpuStatus s = check_weights(call, w); !s.ok()) return s;
  if (n_tokens == 0 || n_heads == 0 || rows_per_head == 0) return {};
  if (!x || !y) return fail(call, "null x or y");
  if (GpuStatus s = d.activate(); !s.ok()) return s;
  cudaStream_t stream = d.compute_stream();

  // The CPU engine converts x to vec_dot_type(w) before its dot products; so do these.
  const actround::Rounding rounding = actround::rounding(w.type);
  if (rounding != actround::Rounding::None) {
    const int64_t seg = n_heads * w.cols;
    float* xr = nullptr;
    if (GpuStatus s = d.activation_scratch(static_cast<uint64_t>(n_tokens * seg), &xr); !s.ok()) {
      return s;
    }
    if (GpuStatus s =
            round_activations(rounding, x, n_tokens, xts, xhs, n_heads, w.cols, xr, stream);
        !s.ok()) {
      return s;
    }
    x = xr;
    xts = seg;
    xhs = w.cols;
  }

  const DecodeCall dc{&w, rows_per_head, n_heads, x, n_tokens, xts, xhs, y, yts, yhs};
  if (w.type != TensorType::F32 && n_tokens <= kMaxDecodeTokens) {
    return decode_products(dc, stream);
  }

  // cuBLAS wants leading dimensions of at least the rows they hold; a single token's stride
  // is never used, so any value stands in for it.
  const int64_t ldb = n_tokens == 1 ? std::max(xts, w.cols) : xts;
  const int64_t ldc = n_tokens == 1 ? std::max(yts, rows_per_head) : yts;
  const bool blas_ok = ldb >= w.cols && ldc >= rows_per_head && ldb <= INT32_MAX &&
                       ldc <= INT32_MAX && w.cols <= INT32_MAX && rows_per_head <= INT32_MAX &&
                       n_tokens <= INT32_MAX && n_heads <= INT32_MAX &&
                       static_cast<int64_t>(w.row_stride / 4) <= INT32_MAX;
  if (!blas_ok) {
    if (w.type != TensorType::F32) return decode_products(dc, stream);
    // F32 with strides cuBLAS refuses (overlapping token rows): one token at a time.
    for (int64_t t = 0; t < n_tokens; ++t) {
      if (GpuStatus s = products(d, call, w, rows_per_head, n_heads, x + t * xts, 1, 0, xhs,
                                 y + t * yts, 0, yhs);
          !s.ok()) {
        return s;
      }
    }
    return {};
  }

  return blas_products(d, w, rows_per_head, n_heads, x, n_tokens, ldb, xhs, y, ldc, yhs, stream);
}

}  // namespace

// The weight checks every entry point shares: a supported type, whole blocks per row, rows
// that fit their stride, and F32 strides cuBLAS can take.
GpuStatus matmul_internal::check_weights(const char* call, const MatrixView& w) {
  if (!qchunk::supported(w.type)) {
    return fail(call, "unsupported weight type " + tname(w.type) +
                          " (supported: f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_K, "
                          "q3_K, q4_K, q5_K, q6_K)");
  }
  if (w.rows < 0 || w.cols <= 0) {
    return fail(call, "bad matrix shape " + std::to_string(w.rows) + "x" + std::to_string(w.cols) +
                          " for " + tname(w.type));
  }
  const std::optional<uint64_t> rb = row_bytes(w.type, w.cols);
  if (!rb) {
    return fail(call, "cols " + std::to_string(w.cols) + " is not a multiple of " + tname(w.type) +
                          "'s block size " + std::to_string(qchunk::geometry(w.type).block_elems));
  }
  if (w.row_stride < *rb) {
    return fail(call, "row_stride " + std::to_string(w.row_stride) + " is shorter than a " +
                          tname(w.type) + " row of " + std::to_string(*rb) + " bytes");
  }
  if (w.row_stride % 2 != 0 || reinterpret_cast<uintptr_t>(w.data) % 2 != 0) {
    return fail(call, tname(w.type) + " rows must be 2-byte aligned");
  }
  if (w.type == TensorType::F32 &&
      (w.row_stride % 4 != 0 || reinterpret_cast<uintptr_t>(w.data) % 4 != 0)) {
    return fail(call, "f32 rows must be 4-byte aligned");
  }
  if (w.rows > 0 && !w.data) return fail(call, "null weights");
  return {};
}

GpuStatus CudaDevice::matmul(const MatrixView& w, const float* x, int64_t n_tokens,
                             int64_t x_stride, float* y, int64_t y_stride) {
  return products(*this, "matmul", w, w.rows, 1, x, n_tokens, x_stride, 0, y, y_stride, 0);
}

GpuStatus CudaDevice::matmul_heads(const MatrixView& w, int64_t rows_per_head, int64_t n_heads,
                                   const float* x, int64_t n_tokens, int64_t x_token_stride,
                                   int64_t x_head_stride, float* y, int64_t y_token_stride,
                                   int64_t y_head_stride) {
  return products(*this, "matmul_heads", w, rows_per_head, n_heads, x, n_tokens, x_token_stride,
                  x_head_stride, y, y_token_stride, y_head_stride);
}

}  // namespace emoe::kernels::gpu
