// general.architecture "deepseek2" (DeepSeek-V2, V2-Lite; V3-style routing keys) as llama.cpp
// runs it (src/models/deepseek2.cpp: load_arch_hparams, load_arch_tensors and the graph;
// build_moe_ffn in src/llama-graph.cpp; llama_model_rope_type):
// - multi-head latent attention (core/engine/mla_attention.h): Q from attn_q, or the low-rank
//   attn_q_a -> RMSNorm attn_q_a_norm -> attn_q_b when attention.q_lora_rank > 0; each head
//   is [nope | rope]; attn_kv_a_mqa gives the latent [kv_lora_rank] (RMSNorm attn_kv_a_norm)
//   and one shared rope key [n_rot]; keys and values come from the latent through attn_k_b /
//   attn_v_b (files with attention.key_length_mla / value_length_mla) or the legacy attn_kv_b;
// - RoPE: LLAMA_ROPE_TYPE_NORM on the rope parts only; YaRN as the file says, with llama.cpp's
//   mscale folded into the attention scale (kq_scale = mscale^2 / sqrt(nope + rope));
// - leading_dense_block_count dense layers; the rest MoE with ungated shared experts of
//   width expert_feed_forward_length x expert_shared_count;
// - router from the file: expert_gating_func (1 softmax, 2 sigmoid; absent: softmax),
//   exp_probs_b.bias added for selection only, expert_group_count / expert_group_used_count
//   grouped top-k, expert_weights_norm, expert_weights_scale;
// - output.weight optional (tied to token_embd), as the current loader allows.
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchDeepseek2;
const ArchTraits kArchDeepseek2 = {
    .name = "deepseek2",
    .rope_mode = kernels::RopeMode::Norm,
    .norm_topk = false,
    .moe_only = true,
    .full_rotary = false,
    .free_head_dim = true,
    .output_optional = true,
    .rms_eps_required = true,
    .qkv_bias = Need::Unused,
    .qk_norm = QkNorm::None,
    .expert_width = ExpertWidth::ExpertKey,
    .shared_expert = false,
    .shared_experts_ungated = true,
    .leading_dense = true,
    .router = RouterRule::FromFile,
    .mla = true,
};

}  // namespace emoe::model
