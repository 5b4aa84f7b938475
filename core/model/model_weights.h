// Views of a model's weights, bound by name from the GGUF file and validated against the
// config. Matrices point into the mmapped file; small vectors (norms) are dequantized copies.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/model/model_config.h"
#include "kernels/cpu/matmul.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe::model {

// A 3-D `*_exps` tensor: n_expert matrices of rows x cols, the expert index slowest, so each
// expert's matrix is one contiguous range of expert_stride bytes.
struct ExpertTensor {
  kernels::TensorType type = kernels::TensorType::F32;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t n_expert = 0;
  size_t row_stride = 0;     // bytes
  size_t expert_stride = 0;  // bytes = rows * row_stride
  const uint8_t* data = nullptr;

  kernels::MatrixView expert(int64_t e) const {
    return {type, rows, cols, row_stride, data + static_cast<size_t>(e) * expert_stride};
  }
};

struct LayerWeights {
  std::vector<float> attn_norm;  // [n_embd]
  kernels::MatrixView wq;        // [n_head * n_embd_head][n_embd]
  kernels::MatrixView wk;        // [n_embd_kv][n_embd]
  kernels::MatrixView wv;        // [n_embd_kv][n_embd]
  kernels::MatrixView wo;        // [n_embd][n_head * n_embd_head]
  // Attention biases, empty when the file has none (ArchTraits::qkv_bias).
  std::vector<float> bq;  // [n_head * n_embd_head]
  std::vector<float> bk;  // [n_embd_kv]
  std::vector<float> bv;  // [n_embd_kv]
  // Q/K RMSNorm scales (ModelConfig::qk_norm), empty without: [n_embd_head] per head, or the
  // whole projection's width [n_head * n_embd_head] / [n_embd_kv].
  std::vector<float> attn_q_norm;
  std::vector<float> attn_k_norm;
  std::vector<float> ffn_norm;  // [n_embd]

  // Multi-head latent attention (ModelConfig::mla); wq above when q_lora_rank is 0.
  kernels::MatrixView wq_a;           // attn_q_a: [n_lora_q][n_embd]
  std::vector<float> attn_q_a_norm;   // [n_lora_q]
  kernels::MatrixView wq_b;           // attn_q_b: [n_head * n_embd_head][n_lora_q]
  kernels::MatrixView wkv_a_mqa;      // attn_kv_a_mqa: [n_lora_kv + n_rot][n_embd]
  std::vector<float> attn_kv_a_norm;  // [n_lora_kv]
  // Per head h, rows [h * n_lora_kv, (h + 1) * n_lora_kv) of wk_b map a query's nope part to
  // the latent ([n_head * n_lora_kv][n_nope]); rows [h * n_embd_head_v, ...) of wv_b map the
  // latent to the value head ([n_head * n_embd_head_v][n_lora_kv]). From attn_k_b / attn_v_b,
  // or rearranged to F32 from a legacy attn_kv_b (mla_kb / mla_vb own those copies).
  kernels::MatrixView wk_b;
  kernels::MatrixView wv_b;
  std::vector<float> mla_kb, mla_vb;

  // MoE layers
  kernels::MatrixView router;      // ffn_gate_inp: [n_expert][n_embd]
  std::vector<float> exp_probs_b;  // exp_probs_b.bias [n_expert], selection bias; may be empty
  ExpertTensor gate_exps;          // per expert [n_ff_exp][n_embd]
  ExpertTensor up_exps;            // per expert [n_ff_exp][n_embd]
  ExpertTensor down_exps;          // per expert [n_embd][n_ff_exp]

  // Shared expert (ModelConfig::has_shared_expert): dense weights every token uses, so they
  // stay with the dense tier and never enter the expert store or cache.
  std::vector<float> shexp_gate_inp;   // ffn_gate_inp_shexp: [n_embd], sigmoid gate logit
  kernels::MatrixView ffn_gate_shexp;  // [n_ff_shexp][n_embd]
  kernels::MatrixView ffn_up_shexp;    // [n_ff_shexp][n_embd]
  kernels::MatrixView ffn_down_shexp;  // [n_embd][n_ff_shexp]

  // Dense layers
  kernels::MatrixView ffn_gate;  // [n_ff][n_embd]
  kernels::MatrixView ffn_up;    // [n_ff][n_embd]
  kernels::MatrixView ffn_down;  // [n_embd][n_ff]
};

struct ModelWeights {
  kernels::MatrixView token_embd;  // [n_vocab][n_embd]
  std::vector<LayerWeights> layers;
  std::vector<float> output_norm;  // [n_embd]
  kernels::MatrixView output;      // [n_vocab][n_embd]; token_embd when the file ties them

  // Every weight that is not an expert matrix, as the engine holds it: a legacy attn_kv_b
  // counts as its F32 rearrangement (mla_kb / mla_vb), not as the file's tensor.
  uint64_t dense_bytes = 0;
  uint64_t expert_bytes = 0;                       // all experts of all layers
  uint64_t bytes_per_expert(int64_t layer) const;  // gate + up + down of one expert

  // Binds every tensor the architecture needs; a missing tensor, wrong shape or a type the
  // kernels cannot compute gives a Status naming the tensor.
  static Result<ModelWeights> bind(const gguf::GgufFile& file, const ModelConfig& config);
};

}  // namespace emoe::model
