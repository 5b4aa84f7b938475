// Per-tensor type mixes for generated models, following llama-quantize's choices
// (src/llama-quant.cpp, llama_tensor_get_type_impl and tensor_type_fallback), so a synthetic
// file has the tensor types a real quantized release of the same shape would have.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "kernels/tensor_type.h"

namespace emoe::model {

enum class QuantMix : uint8_t {
  Uniform,  // every quantizable weight takes SyntheticModelSpec::weight_type
  Q4_K_M,   // llama.cpp's LLAMA_FTYPE_MOSTLY_Q4_K_M
};

// llama.cpp's general.file_type for the mix (15 for Q4_K_M).
uint32_t quant_mix_file_type(QuantMix mix);

// The type llama-quantize gives tensor `name` of shape `ne` under Q4_K_M in a model of
// `n_layer` blocks and `n_expert` experts per layer. Only called for weights it quantizes
// (two or more dimensions, not a norm, not a router). Rules, in llama.cpp's order:
//   - output.weight: Q6_K (Q8_0 when ne[0] is not a multiple of 256);
//   - attn_v / attn_kv_b of layer L: Q6_K when use_more_bits(L, n_layer), i.e. L < n/8,
//     L >= 7n/8 or (L - n/8) % 3 == 2; Q8_0 instead whenever n_expert == 8;
//   - attn_k: Q8_0 when n_expert == 8; attn_output: Q5_K when n_expert == 8;
//   - ffn_down, ffn_down_exps, ffn_down_shexp of layer L: Q6_K when use_more_bits(L, n_layer),
//     so about half the layers (the first and last eighth and every third in between);
//   - everything else, token_embd included: Q4_K;
//   - then the shape fallback: a row not a multiple of 256 takes Q4_K -> Q5_0, Q5_K -> Q5_1,
//     Q6_K -> Q8_0, and F16 when even that block size does not divide it.
// llama.cpp counts attn_v tensors in layer order; this engine's files have one per layer, so
// the count is the layer index.
kernels::TensorType q4_k_m_type(std::string_view name, std::span<const int64_t> ne, int64_t n_layer,
                                int64_t n_expert);

}  // namespace emoe::model
