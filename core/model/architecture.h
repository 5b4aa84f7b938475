// What distinguishes the GGUF architectures (general.architecture) this engine runs, with the
// semantics llama.cpp implements for them. Each architecture's traits live in their own
// arch_<name>.cpp together with the llama.cpp sources they follow; ModelConfig, the weight
// binder, the engine and the model builder read these traits instead of comparing names, so an
// architecture that only recombines existing features is one new file and one table entry.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kernels/cpu/ops.h"

namespace emoe::model {

// Whether a family of tensors is read: Optional ones are used when the file has them.
enum class Need : uint8_t { Unused, Optional, Required };

// RMSNorm of the query and key projections, before RoPE, eps = layer_norm_rms_epsilon.
enum class QkNorm : uint8_t {
  None,
  PerHead,  // attn_q_norm / attn_k_norm [head_dim], applied to every head separately
  Whole,    // attn_q_norm [n_head * head_dim], attn_k_norm [n_head_kv * head_dim], over the
            // whole projection of a token
};

// Where the width of one routed expert's FFN comes from.
enum class ExpertWidth : uint8_t {
  ExpertKeyOrFf,         // {arch}.expert_feed_forward_length, else feed_forward_length
  ExpertKeyOrFfPerUsed,  // {arch}.expert_feed_forward_length, else feed_forward_length / top-k
  Ff,                    // feed_forward_length; the expert key is not read
  ExpertKey,             // {arch}.expert_feed_forward_length, required
};

// How the router's top-k weights are formed beyond the softmax (build_moe_ffn's arguments).
enum class RouterRule : uint8_t {
  Fixed,     // softmax, ArchTraits::norm_topk, no scale (llama, qwen*, olmoe, deepseek)
  FromFile,  // expert_gating_func (softmax or sigmoid), expert_weights_norm,
             // expert_weights_scale, the exp_probs_b selection bias and the grouped top-k
             // (expert_group_count / expert_group_used_count) as the file says (deepseek2)
};

struct ArchTraits {
  std::string_view name;  // general.architecture
  kernels::RopeMode rope_mode = kernels::RopeMode::Norm;
  // Renormalise the selected experts' softmax probabilities to sum to 1 (build_moe_ffn's
  // norm_w). llama.cpp hard-codes it per architecture; no GGUF key is read for these.
  bool norm_topk = true;
  bool moe_only = false;     // expert_count must be > 0
  bool full_rotary = false;  // rope.dimension_count must equal the head size
  // attn_q may be n_head * key_length wide; false: llama.cpp shapes it [n_embd, n_embd], so
  // n_head * head size must equal embedding_length.
  bool free_head_dim = true;
  bool output_optional = true;    // without output.weight, token_embd is the output matrix
  bool rms_eps_required = false;  // attention.layer_norm_rms_epsilon must be present
  Need qkv_bias = Need::Unused;   // blk.N.attn_{q,k,v}.bias, added after the projections
  QkNorm qk_norm = QkNorm::None;
  ExpertWidth expert_width = ExpertWidth::ExpertKeyOrFf;
  // A shared expert on every token: silu-gated FFN ffn_{gate,up,down}_shexp (width
  // {arch}.expert_shared_feed_forward_length, else feed_forward_length) scaled by
  // sigmoid(ffn_gate_inp_shexp . x) and added to the routed experts' sum.
  bool shared_expert = false;
  // DeepSeek's shared experts: {arch}.expert_shared_count experts of the routed width fused
  // into one FFN ffn_{gate,up,down}_shexp of width n_ff_exp x count, added without a gate.
  bool shared_experts_ungated = false;
  // {arch}.leading_dense_block_count: the first layers have a dense FFN (ffn_gate/up/down)
  // and no router.
  bool leading_dense = false;
  RouterRule router = RouterRule::Fixed;
  // Multi-head latent attention (deepseek2, mla_attention.h) instead of attn_q/k/v.
  bool mla = false;
};

// nullptr when this build does not run `name`.
const ArchTraits* find_architecture(std::string_view name);
// Every supported architecture, ordered by name.
std::span<const ArchTraits* const> architectures();
// "llama, olmoe, qwen2moe, qwen3moe": for messages and help texts.
std::string supported_architectures();

}  // namespace emoe::model
