// Attention halves of the GPU layer (gpu_layer.h).
#include <cmath>
#include <string>

#include "core/engine/gpu_layer.h"

namespace emoe::engine {
namespace {

using kernels::gpu::AttentionArgs;

std::string where(int32_t layer, const char* what) {
  return "GPU forward, layer " + std::to_string(layer) + ", " + what;
}

// Writes rows [n][width] (src_stride apart) of every run into its sequence's cache at the
// tokens' positions (offsets: the step's k_off or v_off, position * width).
Status store_runs(const GpuLayerContext& ctx, int32_t layer, const float* src, int64_t width,
                  int64_t src_stride, bool values, const int64_t* offsets) {
  for (const SeqRun& r : ctx.runs) {
    void* cache = values ? ctx.kv.v_layer(r.seq, layer) : ctx.kv.k_layer(r.seq, layer);
    EMOE_RETURN_IF_GPU_ERROR(
        ctx.device.store_rows(src + r.start * src_stride, r.count, width, src_stride, cache,
                              ctx.kv.type(), offsets + r.start),
        where(layer, values ? "storing V rows" : "storing K rows"));
  }
  return Status::ok();
}

// One attention call per run: every token of a run reads the same sequence's cache, which
// AttentionArgs addresses as sequence 0 of a one-sequence cache.
Status attend_runs(const GpuLayerContext& ctx, int32_t layer, AttentionArgs a, bool latent) {
  const float* q = a.q;
  float* out = a.out;
  for (const SeqRun& r : ctx.runs) {
    a.q = q + r.start * a.q_token_stride;
    a.out = out + r.start * a.out_token_stride;
    a.n_tokens = r.count;
    a.k = ctx.kv.k_layer(r.seq, layer);
    a.v = latent ? a.k : ctx.kv.v_layer(r.seq, layer);
    a.seq = ctx.b.zero + r.start;
    a.n_pos = ctx.b.n_pos + r.start;
    EMOE_RETURN_IF_GPU_ERROR(ctx.device.attention(a), where(layer, "attention"));
  }
  return Status::ok();
}

// llama-style: Q/K/V projections, biases (qwen2moe), Q/K norms per head (qwen3moe) or over the
// projection (olmoe), RoPE, the cache, attention and attn_output.
Status standard_attention(const GpuLayerContext& ctx, const DeviceLayer& lw, int32_t layer) {
  const model::ModelConfig& c = ctx.config;
  kernels::gpu::Device& dev = ctx.device;
  const StepBuffers& b = ctx.b;
  const int64_t n = static_cast<int64_t>(ctx.batch.size());
  const int64_t d = c.n_embd, hd = c.n_embd_head;
  const int64_t n_q = c.n_head * hd, n_kv = c.n_embd_kv();
  const float eps = c.rms_eps;
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wq, b.cur, n, d, b.q, n_q), where(layer, "attn_q"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wk, b.cur, n, d, b.k, n_kv), where(layer, "attn_k"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wv, b.cur, n, d, b.v, n_kv), where(layer, "attn_v"));
  if (lw.bq) EMOE_RETURN_IF_GPU_ERROR(dev.add_bias(b.q, lw.bq, n, n_q, n_q), where(layer, "bq"));
  if (lw.bk) EMOE_RETURN_IF_GPU_ERROR(dev.add_bias(b.k, lw.bk, n, n_kv, n_kv), where(layer, "bk"));
  if (lw.bv) EMOE_RETURN_IF_GPU_ERROR(dev.add_bias(b.v, lw.bv, n, n_kv, n_kv), where(layer, "bv"));
  switch (c.qk_norm) {
    case model::QkNorm::None:
      break;
    case model::QkNorm::PerHead:  // heads are contiguous rows of hd floats
      EMOE_RETURN_IF_GPU_ERROR(
          dev.rms_norm(b.q, hd, lw.attn_q_norm, eps, n * c.n_head, hd, b.q, hd),
          where(layer, "attn_q_norm"));
      EMOE_RETURN_IF_GPU_ERROR(
          dev.rms_norm(b.k, hd, lw.attn_k_norm, eps, n * c.n_head_kv, hd, b.k, hd),
          where(layer, "attn_k_norm"));
      break;
    case model::QkNorm::Whole:
      EMOE_RETURN_IF_GPU_ERROR(dev.rms_norm(b.q, n_q, lw.attn_q_norm, eps, n, n_q, b.q, n_q),
                               where(layer, "attn_q_norm"));
      EMOE_RETURN_IF_GPU_ERROR(dev.rms_norm(b.k, n_kv, lw.attn_k_norm, eps, n, n_kv, b.k, n_kv),
                               where(layer, "attn_k_norm"));
      break;
  }
  const kernels::RopeYarn plain;  // ext_factor 0: kernels::rope's formulas
  EMOE_RETURN_IF_GPU_ERROR(dev.rope(b.q, n, n_q, c.n_head, hd, c.n_rot, b.pos, c.rope_freq_base,
                                    c.rope_freq_scale, c.rope_mode, plain),
                           where(layer, "rope of Q"));
  EMOE_RETURN_IF_GPU_ERROR(dev.rope(b.k, n, n_kv, c.n_head_kv, hd, c.n_rot, b.pos, c.rope_freq_base,
                                    c.rope_freq_scale, c.rope_mode, plain),
                           where(layer, "rope of K"));
  EMOE_RETURN_IF_ERROR(store_runs(ctx, layer, b.k, n_kv, n_kv, false, b.k_off));
  EMOE_RETURN_IF_ERROR(store_runs(ctx, layer, b.v, n_kv, n_kv, true, b.v_off));

  AttentionArgs a;
  a.q = b.q;
  a.q_token_stride = n_q;
  a.n_head = c.n_head;
  a.n_head_kv = c.n_head_kv;
  a.head_dim_k = a.head_dim_v = hd;
  a.scale = 1.0f / std::sqrt(static_cast<float>(hd));  // as the CPU backend
  a.kv_type = ctx.kv.type();
  a.k_row_stride = a.v_row_stride = n_kv;
  a.out = b.attn;
  a.out_token_stride = n_q;
  EMOE_RETURN_IF_ERROR(attend_runs(ctx, layer, a, false));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wo, b.attn, n, n_q, b.ffn_out, d),
                           where(layer, "attn_output"));
  return Status::ok();
}

// Multi-head latent attention in the absorbed form of mla_attention.cpp: the query (low-rank
// or direct), the cache row [rms_norm(latent) | rope(k_pe)], each head's query mapped into the
// cache's space by wk_b, latent attention with the value as the latent part of the key row,
// wv_b per head and attn_output.
Status mla_attention(const GpuLayerContext& ctx, const DeviceLayer& lw, int32_t layer) {
  const model::ModelConfig& c = ctx.config;
  kernels::gpu::Device& dev = ctx.device;
  const StepBuffers& b = ctx.b;
  const int64_t n = static_cast<int64_t>(ctx.batch.size());
  const int64_t d = c.n_embd, hk = c.n_embd_head, nope = c.n_nope(), r = c.n_lora_kv;
  const int64_t n_q = c.n_head * hk, width = r + c.n_rot, hv = c.n_embd_head_v;
  const int64_t qcat = c.n_head * width, lat = c.n_head * r, n_attn = c.n_head * hv;
  const float eps = c.rms_eps;
  if (c.n_lora_q > 0) {
    EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wq_a, b.cur, n, d, b.qa, c.n_lora_q),
                             where(layer, "attn_q_a"));
    EMOE_RETURN_IF_GPU_ERROR(
        dev.rms_norm(b.qa, c.n_lora_q, lw.attn_q_a_norm, eps, n, c.n_lora_q, b.qa, c.n_lora_q),
        where(layer, "attn_q_a_norm"));
    EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wq_b, b.qa, n, c.n_lora_q, b.q, n_q),
                             where(layer, "attn_q_b"));
  } else {
    EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wq, b.cur, n, d, b.q, n_q), where(layer, "attn_q"));
  }
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wkv_a_mqa, b.cur, n, d, b.kv, width),
                           where(layer, "attn_kv_a_mqa"));

  const kernels::RopeYarn yarn{c.yarn_ext_factor, c.yarn_attn_factor, c.yarn_beta_fast,
                               c.yarn_beta_slow, c.n_ctx_orig_yarn};
  EMOE_RETURN_IF_GPU_ERROR(dev.rope(b.q + nope, n, n_q, c.n_head, hk, c.n_rot, b.pos,
                                    c.rope_freq_base, c.rope_freq_scale, c.rope_mode, yarn),
                           where(layer, "rope of q_pe"));
  EMOE_RETURN_IF_GPU_ERROR(dev.rms_norm(b.kv, width, lw.attn_kv_a_norm, eps, n, r, b.kv, width),
                           where(layer, "attn_kv_a_norm"));
  EMOE_RETURN_IF_GPU_ERROR(dev.rope(b.kv + r, n, width, 1, width, c.n_rot, b.pos, c.rope_freq_base,
                                    c.rope_freq_scale, c.rope_mode, yarn),
                           where(layer, "rope of k_pe"));
  EMOE_RETURN_IF_ERROR(store_runs(ctx, layer, b.kv, width, width, false, b.k_off));

  // qcat head h = [wk_b_h q_nope | q_pe]: the query in the cache's [latent | rope key] space.
  EMOE_RETURN_IF_GPU_ERROR(
      dev.matmul_heads(lw.wk_b, r, c.n_head, b.q, n, n_q, hk, b.qcat, qcat, width),
      where(layer, "attn_k_b"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul_heads(ctx.weights.mla_rope_copy(), c.n_rot, c.n_head,
                                            b.q + nope, n, n_q, hk, b.qcat + r, qcat, width),
                           where(layer, "copying q_pe"));

  AttentionArgs a;
  a.q = b.qcat;
  a.q_token_stride = qcat;
  a.n_head = c.n_head;
  a.n_head_kv = 1;
  a.head_dim_k = width;
  a.head_dim_v = r;  // the value is the latent part of the key row
  a.scale = c.kq_scale;
  a.kv_type = ctx.kv.type();
  a.k_row_stride = a.v_row_stride = width;
  a.out = b.lat;
  a.out_token_stride = lat;
  EMOE_RETURN_IF_ERROR(attend_runs(ctx, layer, a, true));

  EMOE_RETURN_IF_GPU_ERROR(
      dev.matmul_heads(lw.wv_b, hv, c.n_head, b.lat, n, lat, r, b.attn, n_attn, hv),
      where(layer, "attn_v_b"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.wo, b.attn, n, n_attn, b.ffn_out, d),
                           where(layer, "attn_output"));
  return Status::ok();
}

}  // namespace

Status gpu_attention(const GpuLayerContext& ctx, int32_t layer) {
  const DeviceLayer& lw = ctx.weights.layer(layer);
  return ctx.config.mla ? mla_attention(ctx, lw, layer) : standard_attention(ctx, lw, layer);
}

}  // namespace emoe::engine
