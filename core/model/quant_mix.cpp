#include "core/model/quant_mix.h"

namespace emoe::model {
namespace {

using kernels::TensorType;

bool contains(std::string_view s, std::string_view what) {
  return s.find(what) != std::string_view::npos;
}

// llama-quantize's use_more_bits: the first and last eighth of the layers and every third
// layer in between get the larger type.
bool use_more_bits(int64_t layer, int64_t n_layer) {
  return layer < n_layer / 8 || layer >= 7 * n_layer / 8 || (layer - n_layer / 8) % 3 == 2;
}

// The block index in "blk.N.", or -1 for tensors outside the blocks.
int64_t layer_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return -1;
  int64_t l = 0;
  size_t i = 4;
  if (i >= name.size() || name[i] < '0' || name[i] > '9') return -1;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9') l = l * 10 + (name[i++] - '0');
  return l;
}

TensorType fallback(TensorType t, int64_t ncols) {
  const int64_t block = kernels::type_traits(t)->block_size;
  if (ncols % block == 0) return t;
  TensorType r = t;
  switch (t) {
    case TensorType::Q4_K:
      r = TensorType::Q5_0;
      break;
    case TensorType::Q5_K:
      r = TensorType::Q5_1;
      break;
    case TensorType::Q6_K:
      r = TensorType::Q8_0;
      break;
    default:
      break;
  }
  return ncols % kernels::type_traits(r)->block_size == 0 ? r : TensorType::F16;
}

}  // namespace

uint32_t quant_mix_file_type(QuantMix mix) { return mix == QuantMix::Q4_K_M ? 15 : 0; }

TensorType q4_k_m_type(std::string_view name, std::span<const int64_t> ne, int64_t n_layer,
                       int64_t n_expert) {
  const int64_t ncols = ne.empty() ? 0 : ne[0];
  TensorType t = TensorType::Q4_K;
  const int64_t layer = layer_of(name);
  if (name == "output.weight") {
    t = ncols % 256 != 0 ? TensorType::Q8_0 : TensorType::Q6_K;
  } else if (contains(name, "attn_v.weight") || contains(name, "attn_kv_b.weight")) {
    if (layer >= 0 && use_more_bits(layer, n_layer)) t = TensorType::Q6_K;
    if (n_expert == 8) t = TensorType::Q8_0;
  } else if (contains(name, "attn_k.weight")) {
    if (n_expert == 8) t = TensorType::Q8_0;
  } else if (contains(name, "attn_output.weight")) {
    if (n_expert == 8) t = TensorType::Q5_K;
  } else if (contains(name, "ffn_down")) {
    if (layer >= 0 && use_more_bits(layer, n_layer)) t = TensorType::Q6_K;
  }
  return fallback(t, ncols);
}

}  // namespace emoe::model
