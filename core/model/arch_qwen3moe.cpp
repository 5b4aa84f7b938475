// general.architecture "qwen3moe" (Qwen3-30B-A3B, Qwen3-235B-A22B) as llama.cpp runs it
// (src/models/qwen3moe.cpp):
// - per-head RMSNorm of Q and K (attn_q_norm / attn_k_norm, [head_dim] each) after the
//   projections and before RoPE; the head size may differ from n_embd / n_head
//   (attention.key_length), so attn_q is [n_embd, n_head * head_dim];
// - rope: LLAMA_ROPE_TYPE_NEOX, n_rot must equal the head size;
// - routed experts: softmax gating with norm_w = true hard-coded in the graph (no GGUF key
//   decides it), width expert_feed_forward_length, else feed_forward_length / top-k;
//   no shared expert;
// - attn_{q,k,v}.bias are optional (create_tensor_qkv, applied by build_qkv when present);
//   output.weight is optional (tied to token_embd); expert_count must be > 0.
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchQwen3Moe;
const ArchTraits kArchQwen3Moe = {
    .name = "qwen3moe",
    .rope_mode = kernels::RopeMode::Neox,
    .norm_topk = true,
    .moe_only = true,
    .full_rotary = true,
    .free_head_dim = true,
    .output_optional = true,
    .rms_eps_required = true,
    .qkv_bias = Need::Optional,
    .qk_norm = QkNorm::PerHead,
    .expert_width = ExpertWidth::ExpertKeyOrFfPerUsed,
    .shared_expert = false,
};

}  // namespace emoe::model
