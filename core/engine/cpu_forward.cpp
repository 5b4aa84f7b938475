// The CPU backend: the forward pass on host memory with the CPU kernels (SIMD, thread pool)
// and a host KV cache. Its results match llama.cpp's CPU backend (tests/engine fixtures).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/engine/attention.h"
#include "core/engine/engine.h"
#include "core/engine/forward_backend.h"
#include "core/engine/kv_cache.h"
#include "core/engine/mla_attention.h"
#include "core/engine/moe_layer.h"
#include "core/model/model.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

namespace emoe::engine {
namespace {

class CpuForward final : public ForwardBackend {
 public:
  CpuForward(const model::Model& m, const EngineOptions& o)
      : model(m),
        config(m.config()),
        options(o),
        pool(o.n_threads),
        kv(config.n_layer, o.n_ctx,
           config.mla ? config.n_lora_kv + config.n_rot : config.n_embd_kv(),
           config.mla ? 0 : config.n_embd_kv(), o.kv_type, o.max_sequences) {}

  const char* name() const override { return "cpu"; }
  Result<int32_t> new_sequence() override { return kv.add_sequence(); }
  void free_sequence(int32_t seq) override { kv.remove_sequence(seq); }
  bool valid_sequence(int32_t seq) const override { return kv.valid(seq); }
  int32_t sequence_length(int32_t seq) const override { return kv.length(seq); }
  int64_t n_ctx() const override { return kv.n_ctx(); }
  Status decode(std::span<const BatchToken> batch, std::vector<float>* logits,
                const ForwardContext& ctx) override;
  // The weights stay in the mapped file.
  uint64_t dense_weight_bytes() const override { return model.weights().dense_bytes; }
  uint64_t kv_bytes() const override { return kv.bytes_allocated(); }
  uint64_t scratch_bytes() const override;

 private:
  Status run_layer(int32_t il, std::span<const BatchToken> batch, const ForwardContext& ctx);
  void standard_attention(const model::LayerWeights& lw, int32_t il,
                          std::span<const BatchToken> batch);
  void attention_inputs(const model::LayerWeights& lw, int64_t n);
  void dense_ffn(const model::LayerWeights& lw, int64_t n);

  const model::Model& model;
  const model::ModelConfig& config;
  EngineOptions options;
  kernels::ThreadPool pool;
  KvCache kv;
  MoeWorkspace moe_ws;
  MlaWorkspace mla_ws;
  // Step buffers, [n_tokens][width].
  std::vector<float> x, cur, q, k, v, attn, ffn_out, gate, up, h;
};

uint64_t CpuForward::scratch_bytes() const {
  uint64_t floats = 0;
  for (const auto* buf : {&x, &cur, &q, &k, &v, &attn, &ffn_out, &gate, &up, &h}) {
    floats += buf->capacity();
  }
  for (const auto* buf :
       {&moe_ws.logits, &moe_ws.probs, &moe_ws.w_raw, &moe_ws.w, &moe_ws.used_w, &moe_ws.slot_out,
        &moe_ws.xs, &moe_ws.gate, &moe_ws.up, &moe_ws.h, &moe_ws.down, &moe_ws.sh_logit,
        &moe_ws.sh_gate, &moe_ws.sh_up, &moe_ws.sh_h, &moe_ws.sh_out}) {
    floats += buf->capacity();
  }
  floats += mla_scratch_floats(mla_ws);
  return floats * sizeof(float);
}

void CpuForward::dense_ffn(const model::LayerWeights& lw, int64_t n) {
  const int64_t d = config.n_embd, ff = config.n_ff;
  gate.resize(static_cast<size_t>(n * ff));
  up.resize(gate.size());
  h.resize(gate.size());
  kernels::matmul(lw.ffn_gate, cur.data(), n, d, gate.data(), ff, &pool);
  kernels::matmul(lw.ffn_up, cur.data(), n, d, up.data(), ff, &pool);
  kernels::silu_mul(gate.data(), up.data(), n * ff, h.data());
  kernels::matmul(lw.ffn_down, h.data(), n, ff, ffn_out.data(), d, &pool);
}

// What some architectures apply between the Q/K/V projections and RoPE: biases (qwen2moe),
// RMSNorm of Q and K per head (qwen3moe) or over the whole projection (olmoe). The weights
// decide: a layer without biases or norms passes through unchanged (llama).
void CpuForward::attention_inputs(const model::LayerWeights& lw, int64_t n) {
  const int64_t hd = config.n_embd_head;
  const int64_t n_q = config.n_head * hd;
  const int64_t n_kv = config.n_embd_kv();
  const float eps = config.rms_eps;
  for (int64_t t = 0; t < n; ++t) {
    float* qt = q.data() + t * n_q;
    float* kt = k.data() + t * n_kv;
    float* vt = v.data() + t * n_kv;
    if (!lw.bq.empty()) kernels::add(qt, lw.bq.data(), n_q, qt);
    if (!lw.bk.empty()) kernels::add(kt, lw.bk.data(), n_kv, kt);
    if (!lw.bv.empty()) kernels::add(vt, lw.bv.data(), n_kv, vt);
    switch (config.qk_norm) {
      case model::QkNorm::None:
        break;
      case model::QkNorm::PerHead:
        for (int64_t h = 0; h < config.n_head; ++h) {
          kernels::rms_norm(qt + h * hd, lw.attn_q_norm.data(), eps, hd, qt + h * hd);
        }
        for (int64_t h = 0; h < config.n_head_kv; ++h) {
          kernels::rms_norm(kt + h * hd, lw.attn_k_norm.data(), eps, hd, kt + h * hd);
        }
        break;
      case model::QkNorm::Whole:
        kernels::rms_norm(qt, lw.attn_q_norm.data(), eps, n_q, qt);
        kernels::rms_norm(kt, lw.attn_k_norm.data(), eps, n_kv, kt);
        break;
    }
  }
}

Status CpuForward::run_layer(int32_t il, std::span<const BatchToken> batch,
                             const ForwardContext& ctx) {
  const model::LayerWeights& lw = model.weights().layers[static_cast<size_t>(il)];
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = config.n_embd;

  for (int64_t t = 0; t < n; ++t) {
    kernels::rms_norm(x.data() + t * d, lw.attn_norm.data(), config.rms_eps, d, cur.data() + t * d);
  }
  if (config.mla) {
    mla_attention(config, lw, kv, il, batch, cur.data(), ffn_out.data(), &pool, mla_ws);
  } else {
    standard_attention(lw, il, batch);
  }
  kernels::add(x.data(), ffn_out.data(), n * d, x.data());

  for (int64_t t = 0; t < n; ++t) {
    kernels::rms_norm(x.data() + t * d, lw.ffn_norm.data(), config.rms_eps, d, cur.data() + t * d);
  }
  if (config.layer_is_moe(il)) {
    EMOE_RETURN_IF_ERROR(moe_forward(config, lw, il, batch, cur.data(), ffn_out.data(), &pool,
                                     ctx.observers, ctx.experts, moe_ws));
  } else {
    dense_ffn(lw, n);
  }
  kernels::add(x.data(), ffn_out.data(), n * d, x.data());
  for (ForwardObserver* o : ctx.observers) o->on_layer_output(il, batch, x.data(), d);
  return Status::ok();
}

// llama-style attention: Q/K/V projections, the architecture's extras, RoPE, the KV cache and
// attn_output into ffn_out.
void CpuForward::standard_attention(const model::LayerWeights& lw, int32_t il,
                                    std::span<const BatchToken> batch) {
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = config.n_embd;
  const int64_t hd = config.n_embd_head;
  const int64_t n_q = config.n_head * hd;
  const int64_t n_kv = config.n_embd_kv();
  kernels::matmul(lw.wq, cur.data(), n, d, q.data(), n_q, &pool);
  kernels::matmul(lw.wk, cur.data(), n, d, k.data(), n_kv, &pool);
  kernels::matmul(lw.wv, cur.data(), n, d, v.data(), n_kv, &pool);
  attention_inputs(lw, n);
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[static_cast<size_t>(t)];
    kernels::rope(q.data() + t * n_q, config.n_head, hd, config.n_rot, bt.pos,
                  config.rope_freq_base, config.rope_freq_scale, config.rope_mode);
    kernels::rope(k.data() + t * n_kv, config.n_head_kv, hd, config.n_rot, bt.pos,
                  config.rope_freq_base, config.rope_freq_scale, config.rope_mode);
    kv.store(bt.seq, il, bt.pos, k.data() + t * n_kv, v.data() + t * n_kv);
  }
  const AttentionShape shape{config.n_head, config.n_head_kv, hd,
                             1.0f / std::sqrt(static_cast<float>(hd))};
  attention(shape, kv, il, batch, q.data(), attn.data(), &pool);
  kernels::matmul(lw.wo, attn.data(), n, n_q, ffn_out.data(), d, &pool);
}

Status CpuForward::decode(std::span<const BatchToken> batch, std::vector<float>* logits,
                          const ForwardContext& ctx) {
  const model::ModelConfig& c = config;
  const model::ModelWeights& w = model.weights();
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = c.n_embd;
  const int64_t n_q = c.n_head * c.n_embd_head;
  x.resize(static_cast<size_t>(n * d));
  cur.resize(x.size());
  ffn_out.resize(x.size());
  if (!c.mla) {  // latent attention keeps its own buffers (MlaWorkspace)
    q.resize(static_cast<size_t>(n * n_q));
    attn.resize(q.size());
    k.resize(static_cast<size_t>(n * c.n_embd_kv()));
    v.resize(k.size());
  }

  for (int64_t t = 0; t < n; ++t) {
    kernels::get_row(w.token_embd, batch[static_cast<size_t>(t)].token, x.data() + t * d);
  }
  for (int32_t il = 0; il < c.n_layer; ++il) {
    // A failed step leaves the sequences' lengths unchanged, so it can be retried.
    EMOE_RETURN_IF_ERROR(run_layer(il, batch, ctx));
  }
  for (const BatchToken& t : batch) kv.set_length(t.seq, t.pos + 1);

  // Only rows whose logits were asked for go through the output head.
  int64_t n_out = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!batch[static_cast<size_t>(t)].logits) continue;
    kernels::rms_norm(x.data() + t * d, w.output_norm.data(), c.rms_eps, d, cur.data() + n_out * d);
    ++n_out;
  }
  if (logits) {
    logits->resize(static_cast<size_t>(n_out * c.n_vocab));
    if (n_out > 0) {
      kernels::matmul(w.output, cur.data(), n_out, d, logits->data(), c.n_vocab, &pool);
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<ForwardBackend>> make_cpu_forward(const model::Model& model,
                                                         const EngineOptions& options) {
  return std::unique_ptr<ForwardBackend>(new CpuForward(model, options));
}

}  // namespace emoe::engine
