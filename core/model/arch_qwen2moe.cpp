// general.architecture "qwen2moe" (Qwen1.5-MoE, Qwen2-57B-A14B) as llama.cpp runs it
// (src/models/qwen2moe.cpp: load_arch_hparams, load_arch_tensors and the graph):
// - attn_{q,k,v}.bias are required and added to the projections (llama.cpp releases before the
//   create_tensor_qkv refactor create them without TENSOR_NOT_REQUIRED);
// - rope: LLAMA_ROPE_TYPE_NEOX, pairs (i, i + n_rot/2), and n_rot must equal the head size
//   (GGML_ASSERT in the graph);
// - routed experts: build_moe_ffn with softmax gating, norm_w = false (the top-k softmax
//   probabilities are used as they are), width expert_feed_forward_length, else
//   feed_forward_length / expert_used_count;
// - shared expert on every token: build_ffn(SILU, PAR) with ffn_{gate,up,down}_shexp of width
//   expert_shared_feed_forward_length (else feed_forward_length), multiplied by
//   sigmoid(ffn_gate_inp_shexp . x) (llama.cpp writes it silu(g)/g), added to the MoE output;
// - output.weight is required; expert_count must be > 0.
#include "core/model/architecture.h"

namespace emoe::model {

extern const ArchTraits kArchQwen2Moe;
const ArchTraits kArchQwen2Moe = {
    .name = "qwen2moe",
    .rope_mode = kernels::RopeMode::Neox,
    .norm_topk = false,
    .moe_only = true,
    .full_rotary = true,
    .free_head_dim = false,
    .output_optional = false,
    .rms_eps_required = true,
    .qkv_bias = Need::Required,
    .qk_norm = QkNorm::None,
    .expert_width = ExpertWidth::ExpertKeyOrFfPerUsed,
    .shared_expert = true,
};

}  // namespace emoe::model
