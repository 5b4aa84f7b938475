#include "core/experts/memory_plan.h"

#include <algorithm>
#include <string>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"

namespace emoe::experts {
namespace {

std::string mib(uint64_t bytes) {
  return std::to_string(bytes) + " bytes (" + std::to_string((bytes + (1 << 20) - 1) >> 20) +
         " MiB)";
}

// Float buffers one forward step keeps per token: what engine.cpp, moe_layer.cpp and
// mla_attention.cpp resize for a batch (Engine::Impl::scratch_bytes adds them up), each at
// its widest layer.
uint64_t scratch_floats_per_token(const model::ModelConfig& c) {
  const auto u = [](int64_t v) { return static_cast<uint64_t>(std::max<int64_t>(v, 0)); };
  const uint64_t d = u(c.n_embd);
  const uint64_t n_q = u(c.n_head * c.n_embd_head);
  uint64_t f = 3 * d;  // x, cur, ffn_out
  if (c.mla) {
    // MlaWorkspace: qa, q, the kv_a_mqa rows [latent | rope key], the heads' values.
    f += u(c.n_lora_q) + n_q + u(c.n_lora_kv + c.n_rot) + u(c.n_head * c.n_embd_head_v);
  } else {
    f += 2 * n_q + 2 * u(c.n_embd_kv());  // q, attn, k, v
  }
  // Dense FFN (a dense model, or DeepSeek's leading dense layers): gate, up, h.
  if (!c.is_moe() || c.n_layer_dense_lead > 0) f += 3 * u(c.n_ff);
  if (c.is_moe()) {
    const uint64_t k = u(c.n_expert_used), e = u(c.n_expert);
    f += 2 * e + 3 * k;      // router logits, probs; w_raw, w, used_w
    f += k * d + 2 * d;      // slot_out; one expert's gathered xs and down
    f += 3 * u(c.n_ff_exp);  // that expert's gate, up, h
    if (c.has_shared_expert()) f += 3 * u(c.n_ff_shexp) + d + 1;  // sh_gate/up/h, out, logit
  }
  return f;
}

}  // namespace

Result<MemoryPlan> plan_memory(const model::ModelConfig& c, const model::ModelWeights& w,
                               const ExpertStore& store, const MemoryPlanOptions& o) {
  MemoryPlan p;
  p.dense_bytes = w.dense_bytes;
  p.all_expert_bytes = store.total_bytes();
  const uint64_t elem = o.kv_type == kernels::TensorType::F16 ? 2 : 4;
  // What the engine's KvCache allocates: K and V rows, or for multi-head latent attention
  // one latent + rope-key row per token and layer (engine/mla_attention.h).
  p.kv_bytes_per_token = static_cast<uint64_t>(c.n_layer * c.kv_elems_per_token_layer()) * elem;
  const uint64_t n_batch = static_cast<uint64_t>(std::max<int64_t>(o.n_batch, 1));
  // Step buffers for a full batch plus one row of logits per token.
  p.scratch_bytes = 4 * n_batch * (scratch_floats_per_token(c) + static_cast<uint64_t>(c.n_vocab));

  const uint64_t min_experts = c.is_moe() ? ExpertCache::minimum_budget(store) : 0;
  p.expert_bytes = o.expert_budget == 0 ? p.all_expert_bytes : o.expert_budget;
  if (c.is_moe() && p.expert_bytes < min_experts) {
    return out_of_memory("expert budget " + mib(p.expert_bytes) + " is below the minimum of " +
                         mib(min_experts) + " (" + std::to_string(c.n_expert_used) +
                         " experts per layer)");
  }
  p.expert_bytes = std::min(p.expert_bytes, std::max(p.all_expert_bytes, min_experts));
  p.device_bytes = o.device_bytes;
  if (p.device_bytes == 0) {
    p.device_bytes = p.dense_bytes + p.all_expert_bytes + p.scratch_bytes +
                     p.kv_bytes_per_token * static_cast<uint64_t>(c.n_ctx_train);
  }
  const uint64_t fixed = p.dense_bytes + p.expert_bytes + p.scratch_bytes;
  if (p.device_bytes < fixed + p.kv_bytes_per_token) {
    return out_of_memory("device budget " + mib(p.device_bytes) + " cannot hold the dense " +
                         "weights, the expert tier, scratch and one token of KV cache: the " +
                         "minimum is " + mib(fixed + p.kv_bytes_per_token));
  }
  p.kv_bytes = p.device_bytes - fixed;
  p.max_context = static_cast<int64_t>(p.kv_bytes / p.kv_bytes_per_token);
  return p;
}

}  // namespace emoe::experts
