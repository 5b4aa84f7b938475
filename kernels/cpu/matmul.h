// y = W x for a batch of activation rows: GEMV for one token (decode), blocked GEMM for many
// (prefill). Activations are converted to vec_dot_type(W.type) first, as ggml does, so results
// match llama.cpp's CPU backend up to float32 summation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/tensor_type.h"

namespace emoe::kernels {

class ThreadPool;

// A 2-D weight matrix: `rows` output neurons, each a row of `cols` inputs stored as `type`
// (blocks run along cols). Rows are `row_stride` bytes apart. Points into mmapped or
// device-tier memory; never owns it.
struct MatrixView {
  TensorType type = TensorType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  size_t row_stride = 0;  // bytes
  const void* data = nullptr;
};

// x: [n_tokens][cols] floats, rows x_stride floats apart.
// y: [n_tokens][rows] floats, rows y_stride floats apart; overwritten.
// pool may be null (single-threaded). No heap allocation per call in steady state.
void matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride, float* y,
            int64_t y_stride, ThreadPool* pool);

// Reads row `r` of w as floats (embedding lookups: exact dequantization, like ggml get_rows).
void get_row(const MatrixView& w, int64_t r, float* dst);

}  // namespace emoe::kernels
