#include "kernels/cpu/matmul.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <vector>

#include "kernels/cpu/quantize.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cpu/vec_dot.h"

namespace emoe::kernels {
namespace {

// Work sizes. A GEMV chunk should carry enough weight bytes to amortise the thread wake-up
// (~1-3 us); GEMM tiles keep kRowTileBytes of weights in L2 while kTokenTile activation rows
// are swept over them.
constexpr size_t kGemvMinChunkBytes = 64 * 1024;
constexpr size_t kRowTileBytes = 128 * 1024;
constexpr int64_t kTokenTile = 16;
constexpr int64_t kGemvRowGroup = 8;  // rows per group of the Blockwise tile kernels

// Activations in vec_dot_type; grows to the largest call and is then reused (one per calling
// thread, so concurrent matmuls from different threads do not share it).
std::vector<unsigned char>& scratch() {
  thread_local std::vector<unsigned char> buf;
  return buf;
}

void run(ThreadPool* pool, int64_t n, int64_t grain,
         const std::function<void(int64_t, int64_t, int)>& fn) {
  if (pool && pool->size() > 1) {
    pool->parallel_for(n, grain, fn);
  } else if (n > 0) {
    fn(0, n, 0);
  }
}

// Everything a worker needs, so the lambdas handed to parallel_for capture one pointer and
// fit std::function's small-object buffer (no heap allocation per call).
struct MatmulJob {
  const MatrixView* w;
  VecDotFn dot;
  VecDotTileFn tile;  // may be null
  const float* x;
  int64_t x_stride;
  float* y;
  int64_t y_stride;
  int64_t n_tokens;
  const unsigned char* xq;  // activations in vec_dot_type, xq_stride bytes apart
  unsigned char* xq_out;    // where conversion writes (null when x is used as is)
  size_t xq_stride;
  int64_t row_tile, n_tt;

  void convert(int64_t b, int64_t e) const {
    for (int64_t t = b; t < e; ++t) {
      quantize_activation_row(w->type, x + t * x_stride,
                              xq_out + static_cast<size_t>(t) * xq_stride, w->cols);
    }
  }
  const unsigned char* wrow(int64_t r) const {
    return static_cast<const unsigned char*>(w->data) + static_cast<size_t>(r) * w->row_stride;
  }
  // b, e: in groups of kGemvRowGroup rows, so multi-row kernels see whole groups.
  void gemv(int64_t b, int64_t e) const {
    const int64_t r0 = b * kGemvRowGroup;
    const int64_t r1 = std::min(w->rows, e * kGemvRowGroup);
    if (tile) {
      tile(w->cols, wrow(r0), w->row_stride, r1 - r0, xq, 0, 1, y + r0, 0);
      return;
    }
    for (int64_t r = r0; r < r1; ++r) y[r] = dot(w->cols, wrow(r), xq);
  }
  // Work items are (row tile, token tile) pairs, row-tile major, so consecutive items reuse
  // the same weight tile from L2.
  void gemm(int64_t b, int64_t e) const {
    for (int64_t item = b; item < e; ++item) {
      const int64_t r0 = (item / n_tt) * row_tile;
      const int64_t r1 = std::min(w->rows, r0 + row_tile);
      const int64_t t0 = (item % n_tt) * kTokenTile;
      const int64_t t1 = std::min(n_tokens, t0 + kTokenTile);
      const unsigned char* xt = xq + static_cast<size_t>(t0) * xq_stride;
      float* yt = y + t0 * y_stride + r0;
      if (tile) {
        tile(w->cols, wrow(r0), w->row_stride, r1 - r0, xt, xq_stride, t1 - t0, yt, y_stride);
        continue;
      }
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t t = t0; t < t1; ++t) {
          y[t * y_stride + r] = dot(w->cols, wrow(r), xq + static_cast<size_t>(t) * xq_stride);
        }
      }
    }
  }
};

}  // namespace

QuantOrder quant_order(const MatrixView& w) {
  return w.type == TensorType::Q4_0 && w.rows % 8 == 0 ? QuantOrder::Blockwise : QuantOrder::Lanes8;
}

void matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride, float* y,
            int64_t y_stride, ThreadPool* pool) {
  if (n_tokens <= 0 || w.rows <= 0) return;
  const TensorType vt = vec_dot_type(w.type);
  const QuantOrder order = quant_order(w);
  const VecDotFn dot = vec_dot_fn(active_isa(), w.type, order);
  assert(dot && "matmul: weight type has no CPU dot product");
  if (!dot) return;

  const VecDotTileFn tile = vec_dot_tile_fn(active_isa(), w.type, order);
  MatmulJob job{&w, dot, tile, x, x_stride, y, y_stride, n_tokens, nullptr, nullptr, 0, 1, 1};
  const MatmulJob* jp = &job;
  // Convert activations once per call (ggml does the same into wdata).
  if (vt == TensorType::F32) {
    job.xq = reinterpret_cast<const unsigned char*>(x);
    job.xq_stride = static_cast<size_t>(x_stride) * sizeof(float);
  } else {
    job.xq_stride = static_cast<size_t>(row_bytes(vt, w.cols).value_or(0));
    std::vector<unsigned char>& buf = scratch();
    const size_t need = job.xq_stride * static_cast<size_t>(n_tokens);
    if (buf.size() < need) buf.resize(need);
    job.xq_out = buf.data();
    job.xq = buf.data();
    run(n_tokens > 1 ? pool : nullptr, n_tokens, 4,
        [jp](int64_t b, int64_t e, int) { jp->convert(b, e); });
  }

  const size_t row_bytes_w = std::max<size_t>(1, w.row_stride);
  if (n_tokens == 1) {
    const int64_t groups = (w.rows + kGemvRowGroup - 1) / kGemvRowGroup;
    const int64_t grain = std::max<int64_t>(
        1, static_cast<int64_t>(kGemvMinChunkBytes / (row_bytes_w * kGemvRowGroup)));
    run(pool, groups, grain, [jp](int64_t b, int64_t e, int) { jp->gemv(b, e); });
    return;
  }
  job.row_tile = std::clamp<int64_t>(static_cast<int64_t>(kRowTileBytes / row_bytes_w), 1, w.rows);
  // Whole groups of the multi-row kernels (eight rows for Blockwise) where the tile allows.
  if (job.row_tile > kGemvRowGroup) job.row_tile -= job.row_tile % kGemvRowGroup;
  const int64_t n_rt = (w.rows + job.row_tile - 1) / job.row_tile;
  job.n_tt = (n_tokens + kTokenTile - 1) / kTokenTile;
  run(pool, n_rt * job.n_tt, 1, [jp](int64_t b, int64_t e, int) { jp->gemm(b, e); });
}

void get_row(const MatrixView& w, int64_t r, float* dst) {
  dequantize_row(w.type,
                 static_cast<const unsigned char*>(w.data) + static_cast<size_t>(r) * w.row_stride,
                 dst, w.cols);
}

}  // namespace emoe::kernels
