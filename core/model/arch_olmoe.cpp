// general.architecture "olmoe" (OLMoE-1B-7B) as llama.cpp runs it (src/models/olmoe.cpp):
// - RMSNorm over the whole Q and K projections of a token (attn_q_norm [n_embd],
//   attn_k_norm [n_head_kv * head_dim]) before they are split into heads and rotated.
//   llama.cpp creates attn_k_norm as [n_embd], so it only loads files without grouped-query
//   attention, where the two widths agree; this engine takes the width K actually has;
// - rope: LLAMA_ROPE_TYPE_NEOX (llama_model_rope_type), n_rot must equal the head size;
// - routed experts: softmax gating, norm_w = false (no renormalisation), each expert
//   feed_forward_length wide (expert_feed_forward_length is not read); no shared expert;
// - no attention biases (the graph multiplies by wq/wk/wv only); output.weight is required;
//   expert_count must be > 0.
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchOlmoe;
const ArchTraits kArchOlmoe = {
    .name = "olmoe",
    .rope_mode = kernels::RopeMode::Neox,
    .norm_topk = false,
    .moe_only = true,
    .full_rotary = true,
    .free_head_dim = false,
    .output_optional = false,
    .rms_eps_required = true,
    .qkv_bias = Need::Unused,
    .qk_norm = QkNorm::Whole,
    .expert_width = ExpertWidth::Ff,
    .shared_expert = false,
};

}  // namespace emoe::model
