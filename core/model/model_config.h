// Hyperparameters as GGUF names them. Immutable after load; answers per-layer questions.
#pragma once

#include <cstdint>
#include <string>

#include "core/common/status.h"
#include "core/model/architecture.h"
#include "kernels/cpu/ops.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe {
class JsonWriter;
}

namespace emoe::model {

// The router's gating function (expert_gating_func: 1 softmax, 2 sigmoid).
enum class GatingFunc : uint8_t { Softmax, Sigmoid };

struct ModelConfig {
  std::string arch;  // general.architecture, one of supported_architectures()
  std::string name;  // general.name, may be empty
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;    // {arch}.context_length
  int64_t n_embd = 0;         // {arch}.embedding_length
  int64_t n_layer = 0;        // {arch}.block_count
  int64_t n_head = 0;         // {arch}.attention.head_count
  int64_t n_head_kv = 0;      // {arch}.attention.head_count_kv (defaults to n_head)
  int64_t n_embd_head = 0;    // {arch}.attention.key_length, default n_embd / n_head
  int64_t n_ff = 0;           // {arch}.feed_forward_length (dense FFN, or per expert for llama)
  int64_t n_ff_exp = 0;       // width of one routed expert's FFN (ArchTraits::expert_width)
  int64_t n_ff_shexp = 0;     // width of the shared expert's FFN; 0: the model has none
  int64_t n_expert = 0;       // {arch}.expert_count; 0 for a dense model
  int64_t n_expert_used = 0;  // {arch}.expert_used_count (top-k)
  int64_t n_rot = 0;          // {arch}.rope.dimension_count, default n_embd_head
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / {arch}.rope.scaling.factor for linear scaling
  float rms_eps = 1e-5f;         // {arch}.attention.layer_norm_rms_epsilon
  kernels::RopeMode rope_mode = kernels::RopeMode::Norm;
  bool expert_weights_norm = true;  // renormalise the top-k gate weights (Mixtral)
  QkNorm qk_norm = QkNorm::None;    // RMSNorm of Q and K before RoPE

  // DeepSeek extras (ArchTraits::leading_dense, shared_experts_ungated, router).
  int64_t n_layer_dense_lead = 0;  // {arch}.leading_dense_block_count: dense FFN layers first
  int64_t n_expert_shared = 0;     // {arch}.expert_shared_count (n_ff_shexp = n_ff_exp x it)
  bool shexp_gated = false;        // sigmoid(ffn_gate_inp_shexp . x) scales the shared expert
  GatingFunc gating = GatingFunc::Softmax;
  float expert_weights_scale = 0.0f;  // multiplies the top-k weights; 0 or 1: none
  int64_t n_expert_groups = 0;        // {arch}.expert_group_count; > 1: grouped top-k
  int64_t n_group_used = 0;           // {arch}.expert_group_used_count

  // Multi-head latent attention (deepseek2; core/engine/mla_attention.h). n_rot is the rope
  // part of each head, n_embd_head the whole query/key head (nope + rope).
  bool mla = false;
  int64_t n_lora_q = 0;       // {arch}.attention.q_lora_rank; 0: attn_q directly
  int64_t n_lora_kv = 0;      // {arch}.attention.kv_lora_rank: the cached latent's width
  int64_t n_embd_head_v = 0;  // value head size
  bool mla_split_kv = false;  // attn_k_b / attn_v_b (key_length_mla set), else attn_kv_b
  float kq_scale = 0.0f;      // attention's q.k scale; set for every architecture
  // YaRN RoPE ({arch}.rope.scaling.type = yarn); ext_factor 0 otherwise.
  float yarn_ext_factor = 0.0f;
  float yarn_attn_factor = 1.0f;  // cos/sin factor passed to the rope (after llama.cpp's cancel)
  float yarn_beta_fast = 32.0f, yarn_beta_slow = 1.0f;
  int64_t n_ctx_orig_yarn = 0;

  bool is_moe() const { return n_expert > 0; }
  bool has_shared_expert() const { return n_ff_shexp > 0; }
  int64_t n_embd_kv() const { return n_embd_head * n_head_kv; }  // K (or V) width per token
  bool layer_is_moe(int64_t layer) const { return is_moe() && layer >= n_layer_dense_lead; }
  int64_t n_nope() const { return n_embd_head - n_rot; }  // MLA: the non-rotated part
  // KV cache elements per token and layer: K and V rows, or MLA's latent plus its rope key.
  int64_t kv_elems_per_token_layer() const { return mla ? n_lora_kv + n_rot : 2 * n_embd_kv(); }

  // Reads and validates; Unsupported lists the architectures this build supports.
  static Result<ModelConfig> from_gguf(const gguf::GgufFile& file);
};

// Writes the hyperparameters as members of an open JSON object (GGUF's names), the form the
// database's models.hparams and `emoe info --json` share.
void write_hparams_json(JsonWriter& j, const ModelConfig& c);

}  // namespace emoe::model
