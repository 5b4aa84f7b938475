// y = W x for a batch of activation rows: GEMV for one token (decode), blocked GEMM for many
// (prefill). Activations are converted to vec_dot_type(W.type) first, as ggml does; quantized
// weights then follow ggml's float32 summation order exactly (quant_order), so results match
// llama.cpp's CPU backend bit for bit given the same activations. Float weights match it up to
// float32 summation order.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/vec_dot.h"
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

// The float32 summation order matmul uses for w (see QuantOrder): what llama.cpp's x86 CPU
// backend does for the same matrix. Q4_0 matrices with a multiple of 8 rows are repacked to
// Q4_0x8 there (ggml_gemv/gemm_q4_0_8x8_q8_0): Blockwise. Everything else goes through
// ggml_vec_dot / tinyBLAS: Lanes8.
QuantOrder quant_order(const MatrixView& w);

// x: [n_tokens][cols] floats, rows x_stride floats apart.
// y: [n_tokens][rows] floats, rows y_stride floats apart; overwritten.
// pool may be null (single-threaded). No heap allocation per call in steady state.
void matmul(const MatrixView& w, const float* x, int64_t n_tokens, int64_t x_stride, float* y,
            int64_t y_stride, ThreadPool* pool);

// Reads row `r` of w as floats (embedding lookups: exact dequantization, like ggml get_rows).
void get_row(const MatrixView& w, int64_t r, float* dst);

}  // namespace emoe::kernels
