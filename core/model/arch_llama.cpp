// general.architecture "llama" as llama.cpp runs it for Mixtral-style MoE (and dense) models:
// - rope: LLAMA_ROPE_TYPE_NORM, pairs (2i, 2i+1) (llama_model_rope_type, src/llama-model.cpp);
// - experts: build_moe_ffn with softmax gating and norm_w = true (the selected weights are
//   renormalised), no weight scale (src/models/llama.cpp);
// - attn_{q,k,v}.bias are optional and added when present; output.weight is optional (tied
//   to token_embd).
// Kept as this engine ran it before the other architectures arrived: the expert width may come
// from expert_feed_forward_length, a partial rotary width is accepted and the RMS epsilon
// defaults to 1e-5 (llama.cpp is stricter on the last two).
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchLlama;
const ArchTraits kArchLlama = {
    .name = "llama",
    .rope_mode = kernels::RopeMode::Norm,
    .norm_topk = true,
    .moe_only = false,
    .full_rotary = false,
    .free_head_dim = true,
    .output_optional = true,
    .rms_eps_required = false,
    .qkv_bias = Need::Optional,
    .qk_norm = QkNorm::None,
    .expert_width = ExpertWidth::ExpertKeyOrFf,
    .shared_expert = false,
};

}  // namespace emoe::model
