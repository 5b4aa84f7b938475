// Multi-head latent attention (deepseek2), as llama.cpp's deepseek2 graph computes it with the
// absorption optimisation: the KV cache holds, per token and layer, the RMS-normed latent
// [n_lora_kv] followed by the RoPE'd shared key [n_rot] (llama.cpp's MLA cache: K only, V is a
// view of K), so a token costs (n_lora_kv + n_rot) elements per layer instead of
// 2 x n_head x head size. Each query head is absorbed into the latent space
// (q_abs = wk_b_h^T q_nope), scored against [latent | rope key] with kq_scale, and the
// attention-weighted latent is expanded by wv_b_h into the value head. Legacy files with one
// attn_kv_b are rearranged at load (model_weights.cpp), so both tensor forms share this path;
// the result equals llama.cpp's decompressed (MHA) form of those files up to rounding.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/engine/batch.h"
#include "core/engine/kv_cache.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace emoe::kernels {
class ThreadPool;
}

namespace emoe::engine {

struct MlaWorkspace {
  std::vector<float> qa;    // [n][n_lora_q]
  std::vector<float> q;     // [n][n_head * n_embd_head], each head [nope | rope]
  std::vector<float> kv;    // [n][n_lora_kv + n_rot]
  std::vector<float> attn;  // [n][n_head * n_embd_head_v]
};

// cur: [batch.size()][n_embd] after attn_norm; out: [batch.size()][n_embd], the attention
// block's output after attn_output (before the residual add). Stores each token's cache row.
void mla_attention(const model::ModelConfig& c, const model::LayerWeights& lw, KvCache& kv,
                   int64_t layer, std::span<const BatchToken> batch, const float* cur, float* out,
                   kernels::ThreadPool* pool, MlaWorkspace& ws);

// Floats the workspace holds, for the engine's scratch accounting.
uint64_t mla_scratch_floats(const MlaWorkspace& ws);

}  // namespace emoe::engine
