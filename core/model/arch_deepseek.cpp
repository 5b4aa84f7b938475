// general.architecture "deepseek" (DeepSeek-MoE-16B) as llama.cpp runs it
// (src/models/deepseek.cpp for the graph; load_hparams / load_tensors for LLM_ARCH_DEEPSEEK in
// src/llama-model.cpp; llama_model_rope_type):
// - llama-style attention: attn_q/k/v/output, optional biases, LLAMA_ROPE_TYPE_NORM (pairs
//   (2i, 2i+1)), and the graph asserts rope.dimension_count == head size;
// - the first leading_dense_block_count layers run a dense SwiGLU FFN (ffn_gate/up/down of
//   feed_forward_length); the others are MoE;
// - routed experts: build_moe_ffn with softmax gating, norm_w = false and scale_w = false: the
//   top-k softmax probabilities are used as they are; expert_weights_scale is read by the
//   loader but never applied; width expert_feed_forward_length (required);
// - shared experts on every token: build_ffn(SILU, PAR) with ffn_{gate,up,down}_shexp of
//   width expert_feed_forward_length x expert_shared_count, no gate, added to the MoE output;
// - output.weight is required; expert_count must be > 0 (moe_mandatory).
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchDeepseek;
const ArchTraits kArchDeepseek = {
    .name = "deepseek",
    .rope_mode = kernels::RopeMode::Norm,
    .norm_topk = false,
    .moe_only = true,
    .full_rotary = true,
    .free_head_dim = false,
    .output_optional = false,
    .rms_eps_required = true,
    .qkv_bias = Need::Optional,
    .qk_norm = QkNorm::None,
    .expert_width = ExpertWidth::ExpertKey,
    .shared_expert = false,
    .shared_experts_ungated = true,
    .leading_dense = true,
    .router = RouterRule::Fixed,
    .mla = false,
};

}  // namespace emoe::model
