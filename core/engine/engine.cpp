#include "core/engine/engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <unordered_map>

#include "core/engine/attention.h"
#include "core/engine/kv_cache.h"
#include "core/engine/mla_attention.h"
#include "core/engine/moe_layer.h"
#include "core/experts/expert_cache.h"
#include "core/model/model.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

namespace emoe::engine {

using kernels::TensorType;

struct Engine::Impl {
  Impl(const model::Model& m, EngineOptions o)
      : model(m),
        config(m.config()),
        options(o),
        pool(o.n_threads),
        kv(config.n_layer, o.n_ctx,
           config.mla ? config.n_lora_kv + config.n_rot : config.n_embd_kv(),
           config.mla ? 0 : config.n_embd_kv(), o.kv_type, o.max_sequences) {}

  Status validate(std::span<const BatchToken> batch) const;
  Status run_layer(int32_t il, std::span<const BatchToken> batch);
  void standard_attention(const model::LayerWeights& lw, int32_t il,
                          std::span<const BatchToken> batch);
  void attention_inputs(const model::LayerWeights& lw, int64_t n);
  void dense_ffn(const model::LayerWeights& lw, int64_t n);
  uint64_t scratch_bytes() const;

  const model::Model& model;
  const model::ModelConfig& config;
  EngineOptions options;
  kernels::ThreadPool pool;
  KvCache kv;
  std::vector<ForwardObserver*> observers;
  MoeWorkspace moe_ws;
  MlaWorkspace mla_ws;
  // Step buffers, [n_tokens][width].
  std::vector<float> x, cur, q, k, v, attn, ffn_out, gate, up, h;
};

uint64_t Engine::Impl::scratch_bytes() const {
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

Status Engine::Impl::validate(std::span<const BatchToken> batch) const {
  if (batch.empty()) return invalid_argument("decode: empty batch");
  std::unordered_map<int32_t, int32_t> next;  // seq -> next expected position
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchToken& t = batch[i];
    if (t.token < 0 || t.token >= config.n_vocab) {
      return invalid_argument("decode: token id " + std::to_string(t.token) + " out of range [0, " +
                              std::to_string(config.n_vocab) + ")");
    }
    if (!kv.valid(t.seq)) {
      return invalid_argument("decode: sequence " + std::to_string(t.seq) + " does not exist");
    }
    auto it = next.try_emplace(t.seq, kv.length(t.seq)).first;
    if (t.pos != it->second) {
      return invalid_argument("decode: sequence " + std::to_string(t.seq) + " expects position " +
                              std::to_string(it->second) + ", got " + std::to_string(t.pos));
    }
    if (t.pos >= kv.n_ctx()) {
      return out_of_memory("decode: sequence " + std::to_string(t.seq) + " reached the context " +
                           "size of " + std::to_string(kv.n_ctx()) + " tokens");
    }
    ++it->second;
  }
  return Status::ok();
}

void Engine::Impl::dense_ffn(const model::LayerWeights& lw, int64_t n) {
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
void Engine::Impl::attention_inputs(const model::LayerWeights& lw, int64_t n) {
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

Status Engine::Impl::run_layer(int32_t il, std::span<const BatchToken> batch) {
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
                                     observers, options.experts, moe_ws));
  } else {
    dense_ffn(lw, n);
  }
  kernels::add(x.data(), ffn_out.data(), n * d, x.data());
  for (ForwardObserver* o : observers) o->on_layer_output(il, batch, x.data(), d);
  return Status::ok();
}

// llama-style attention: Q/K/V projections, the architecture's extras, RoPE, the KV cache and
// attn_output into ffn_out.
void Engine::Impl::standard_attention(const model::LayerWeights& lw, int32_t il,
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

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(const model::Model& model, EngineOptions options) {
  const model::ModelConfig& c = model.config();
  if (options.n_threads < 1 || options.n_threads > 512) {
    return invalid_argument("engine: thread count must be in 1..512, got " +
                            std::to_string(options.n_threads));
  }
  if (options.kv_type != TensorType::F32 && options.kv_type != TensorType::F16) {
    return invalid_argument("engine: KV cache type must be f32 or f16");
  }
  if (options.max_sequences < 1) return invalid_argument("engine: max_sequences must be >= 1");
  if (options.n_ctx <= 0) {
    options.n_ctx = c.n_ctx_train > 0 ? std::min<int64_t>(c.n_ctx_train, 4096) : 4096;
  }
  if (options.n_ctx > (int64_t{1} << 22)) {
    return invalid_argument("engine: context size " + std::to_string(options.n_ctx) +
                            " is too large");
  }
  if (options.experts.mode != RoutingMode::All && !options.experts.cache) {
    return invalid_argument("engine: routing mode '" +
                            std::string(routing_mode_name(options.experts.mode)) +
                            "' needs an expert device tier (a budget)");
  }
  return std::unique_ptr<Engine>(new Engine(std::make_unique<Impl>(model, options)));
}

Status Engine::set_expert_access(ExpertAccess access) {
  if (access.mode != RoutingMode::All && !access.cache) {
    return invalid_argument("routing mode '" + std::string(routing_mode_name(access.mode)) +
                            "' needs an expert device tier (a budget)");
  }
  impl_->options.experts = access;
  return Status::ok();
}

const ExpertAccess& Engine::expert_access() const { return impl_->options.experts; }

const model::Model& Engine::model() const { return impl_->model; }
const EngineOptions& Engine::options() const { return impl_->options; }
Result<int32_t> Engine::new_sequence() { return impl_->kv.add_sequence(); }
void Engine::free_sequence(int32_t seq) { impl_->kv.remove_sequence(seq); }
int32_t Engine::sequence_length(int32_t seq) const { return impl_->kv.length(seq); }

void Engine::add_observer(ForwardObserver* observer) {
  if (observer && std::find(impl_->observers.begin(), impl_->observers.end(), observer) ==
                      impl_->observers.end()) {
    impl_->observers.push_back(observer);
  }
}

void Engine::remove_observer(ForwardObserver* observer) { std::erase(impl_->observers, observer); }

Status Engine::decode(std::span<const BatchToken> batch, std::vector<float>* logits) {
  Impl& m = *impl_;
  EMOE_RETURN_IF_ERROR(m.validate(batch));
  const model::ModelConfig& c = m.config;
  const model::ModelWeights& w = m.model.weights();
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = c.n_embd;
  const int64_t n_q = c.n_head * c.n_embd_head;
  m.x.resize(static_cast<size_t>(n * d));
  m.cur.resize(m.x.size());
  m.ffn_out.resize(m.x.size());
  if (!c.mla) {  // latent attention keeps its own buffers (MlaWorkspace)
    m.q.resize(static_cast<size_t>(n * n_q));
    m.attn.resize(m.q.size());
    m.k.resize(static_cast<size_t>(n * c.n_embd_kv()));
    m.v.resize(m.k.size());
  }

  for (int64_t t = 0; t < n; ++t) {
    kernels::get_row(w.token_embd, batch[static_cast<size_t>(t)].token, m.x.data() + t * d);
  }
  for (int32_t il = 0; il < c.n_layer; ++il) {
    // A failed step leaves the sequences' lengths unchanged, so it can be retried.
    EMOE_RETURN_IF_ERROR(m.run_layer(il, batch));
  }
  for (const BatchToken& t : batch) m.kv.set_length(t.seq, t.pos + 1);

  if (!m.observers.empty()) {
    MemorySample ms;
    ms.dense_bytes = w.dense_bytes;
    ms.expert_bytes = w.expert_bytes;
    if (experts::ExpertCache* cache = m.options.experts.cache) {
      ms.expert_bytes = cache->stats().resident_bytes;
      ms.expert_budget = cache->budget_bytes();
    }
    ms.kv_bytes = m.kv.bytes_allocated();
    ms.scratch_bytes = m.scratch_bytes();
    for (ForwardObserver* o : m.observers) o->on_memory_sample(ms);
  }

  // Only rows whose logits were asked for go through the output head.
  int64_t n_out = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!batch[static_cast<size_t>(t)].logits) continue;
    kernels::rms_norm(m.x.data() + t * d, w.output_norm.data(), c.rms_eps, d,
                      m.cur.data() + n_out * d);
    ++n_out;
  }
  if (logits) {
    logits->resize(static_cast<size_t>(n_out * c.n_vocab));
    if (n_out > 0) {
      kernels::matmul(w.output, m.cur.data(), n_out, d, logits->data(), c.n_vocab, &m.pool);
    }
  }
  return Status::ok();
}

}  // namespace emoe::engine
