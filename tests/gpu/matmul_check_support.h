// Helpers shared by the weight-product checks (matmul_checks.cpp says how they check): the
// weight types, weights on the device with their host dequantization, the activations the CPU
// engine's dot products see, and a product's layout. The activation-rounding check
// (rounding_checks.cpp) is one entry of matmul_checks().
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tests/gpu/check_support.h"

namespace emoe::gpucheck {

inline const kernels::TensorType kTypes[] = {
    kernels::TensorType::F32,  kernels::TensorType::F16,  kernels::TensorType::BF16,
    kernels::TensorType::Q4_0, kernels::TensorType::Q4_1, kernels::TensorType::Q5_0,
    kernels::TensorType::Q5_1, kernels::TensorType::Q8_0, kernels::TensorType::Q2_K,
    kernels::TensorType::Q3_K, kernels::TensorType::Q4_K, kernels::TensorType::Q5_K,
    kernels::TensorType::Q6_K};

std::string tname(kernels::TensorType t);

bool is_k_quant(kernels::TensorType t);

// The error bound of a float32 dot product of n terms, relative to sum |w||x| (see the top of
// matmul_checks.cpp).
double dot_bound(int64_t n);

// A weight matrix on the device and its host dequantization (the reference).
struct Weights {
  std::unique_ptr<DevBuf> buf;
  kernels::MatrixView view;   // device view
  std::vector<float> deq;     // rows x cols, from kernels::dequantize_row
  std::vector<uint8_t> host;  // the uploaded bytes
  size_t offset = 0;          // of row 0 in host / the allocation
};

// Rows of N(0, s_r) values with a per-row scale s_r, every 41st value an outlier, quantized
// with kernels::quantize_row. `padded`: row_stride = row bytes + 6 (12 for f32, which cuBLAS
// reads with 4-byte alignment), random bytes in the padding, and row 0 at byte 2 (4 for f32)
// of the allocation.
bool make_weights(Run& run, kernels::TensorType t, int64_t rows, int64_t cols, bool padded,
                  uint32_t seed, Weights& w);

// x[0..n) as a weight row of type w sees it in the CPU engine: converted to vec_dot_type(w)
// by the engine's own quantizer and decoded again.
std::vector<float> cpu_activations(kernels::TensorType w, const float* x, int64_t n);

std::vector<float> gaussian(std::mt19937& rng, size_t n);

// One product's layout: token t, head h of x at x_off + t * xts + h * xhs (floats), of y at
// y_off + t * yts + h * yhs.
struct Layout {
  int64_t n_tokens = 1, n_heads = 1, rows_per_head = 0;
  int64_t x_off = 0, xts = 0, xhs = 0;
  int64_t y_off = 0, yts = 0, yhs = 0;
};

// Uploads x (host floats, indexed by the layout's offsets and strides), runs matmul, or
// matmul_heads when `heads_call`, into a y of y_len sentinels, and downloads all of y into
// *got; false (failure recorded) when a device call fails.
bool run_product(Run& run, const Weights& w, const Layout& l, const std::vector<float>& xh,
                 int64_t y_len, bool heads_call, const std::string& what, std::vector<float>* got);

// The activation-rounding cases (rounding_checks.cpp), one entry of matmul_checks().
void check_rounding(const CheckContext& ctx, CheckResult& res);

}  // namespace emoe::gpucheck
