#include "core/model/synthetic_deepseek.h"

#include <cmath>

#include "core/gguf/gguf_value.h"
#include "core/gguf/gguf_writer.h"
#include "core/model/architecture.h"

namespace emoe::model::synth {
namespace {

using kernels::TensorType;

bool is_mla(const SyntheticModelSpec& s) {
  const ArchTraits* a = find_architecture(s.arch);
  return a && a->mla;
}

Status range(const char* field, int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi) {
    return invalid_argument(std::string(field) + " = " + std::to_string(v) + " is out of range " +
                            std::to_string(lo) + ".." + std::to_string(hi));
  }
  return Status::ok();
}

}  // namespace

DeepseekShape deepseek_shape(const SyntheticModelSpec& s) {
  DeepseekShape d{};
  d.n_shared = s.n_expert_shared > 0 ? s.n_expert_shared : 1;
  d.ff_dense = s.n_ff_dense > 0 ? s.n_ff_dense : 2 * s.n_ff;
  d.head_k = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_head;
  if (is_mla(s)) {
    d.n_rot = s.n_rot > 0 ? s.n_rot : d.head_k / 2;
    d.nope = d.head_k - d.n_rot;
    d.head_v = s.v_head_dim > 0 ? s.v_head_dim : d.head_k;
    d.kv_lora = s.kv_lora_rank > 0 ? s.kv_lora_rank : 2 * d.head_k;
  } else {
    d.n_rot = d.head_k;
    d.head_v = d.head_k;
  }
  return d;
}

void plan_deepseek_layer(const SyntheticModelSpec& s, int64_t l, std::vector<TensorPlan>& t) {
  const DeepseekShape d = deepseek_shape(s);
  const TensorType w = s.weight_type, f32 = TensorType::F32;
  const auto inv_sqrt = [](int64_t n) { return 1.0 / std::sqrt(static_cast<double>(n)); };
  const double in_embd = inv_sqrt(s.n_embd);
  const std::string p = "blk." + std::to_string(l) + ".";
  const int64_t n_q = s.n_head * d.head_k;
  t.push_back({p + "attn_norm.weight", f32, {s.n_embd}, 1.0, 0.1});
  if (is_mla(s)) {
    if (s.q_lora_rank > 0) {
      t.push_back({p + "attn_q_a_norm.weight", f32, {s.q_lora_rank}, 1.0, 0.1});
      t.push_back({p + "attn_q_a.weight", w, {s.n_embd, s.q_lora_rank}, 0.0, in_embd});
      t.push_back({p + "attn_q_b.weight", w, {s.q_lora_rank, n_q}, 0.0, inv_sqrt(s.q_lora_rank)});
    } else {
      t.push_back({p + "attn_q.weight", w, {s.n_embd, n_q}, 0.0, in_embd});
    }
    t.push_back({p + "attn_kv_a_norm.weight", f32, {d.kv_lora}, 1.0, 0.1});
    t.push_back({p + "attn_kv_a_mqa.weight", w, {s.n_embd, d.kv_lora + d.n_rot}, 0.0, in_embd});
    if (s.mla_legacy_kv_b) {
      t.push_back({p + "attn_kv_b.weight",
                   w,
                   {d.kv_lora, s.n_head * (d.nope + d.head_v)},
                   0.0,
                   inv_sqrt(d.kv_lora)});
    } else {
      t.push_back({p + "attn_k_b.weight", w, {d.nope, d.kv_lora, s.n_head}, 0.0, inv_sqrt(d.nope)});
      t.push_back(
          {p + "attn_v_b.weight", w, {d.kv_lora, d.head_v, s.n_head}, 0.0, inv_sqrt(d.kv_lora)});
    }
    t.push_back({p + "attn_output.weight", w, {s.n_head * d.head_v, s.n_embd}, 0.0, in_embd});
  } else {
    const int64_t n_kv = s.n_head_kv * d.head_k;
    t.push_back({p + "attn_q.weight", w, {s.n_embd, n_q}, 0.0, in_embd});
    t.push_back({p + "attn_k.weight", w, {s.n_embd, n_kv}, 0.0, in_embd});
    t.push_back({p + "attn_v.weight", w, {s.n_embd, n_kv}, 0.0, in_embd});
    t.push_back({p + "attn_output.weight", w, {n_q, s.n_embd}, 0.0, in_embd});
  }
  t.push_back({p + "ffn_norm.weight", f32, {s.n_embd}, 1.0, 0.1});
  if (l < s.n_layer_dense_lead) {
    t.push_back({p + "ffn_gate.weight", w, {s.n_embd, d.ff_dense}, 0.0, in_embd});
    t.push_back({p + "ffn_up.weight", w, {s.n_embd, d.ff_dense}, 0.0, in_embd});
    t.push_back({p + "ffn_down.weight", w, {d.ff_dense, s.n_embd}, 0.0, inv_sqrt(d.ff_dense)});
    return;
  }
  const int64_t ff_sh = s.n_ff * d.n_shared;
  t.push_back({p + "ffn_gate_inp.weight", f32, {s.n_embd, s.n_expert}, 0.0, 2.0 * in_embd});
  if (s.exp_probs_b) t.push_back({p + "exp_probs_b.bias", f32, {s.n_expert}, 0.0, 0.1});
  t.push_back({p + "ffn_gate_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0.0, in_embd});
  t.push_back({p + "ffn_up_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0.0, in_embd});
  t.push_back(
      {p + "ffn_down_exps.weight", w, {s.n_ff, s.n_embd, s.n_expert}, 0.0, inv_sqrt(s.n_ff)});
  t.push_back({p + "ffn_gate_shexp.weight", w, {s.n_embd, ff_sh}, 0.0, in_embd});
  t.push_back({p + "ffn_up_shexp.weight", w, {s.n_embd, ff_sh}, 0.0, in_embd});
  t.push_back({p + "ffn_down_shexp.weight", w, {ff_sh, s.n_embd}, 0.0, inv_sqrt(ff_sh)});
}

void set_deepseek_hparams(gguf::GgufWriter& w, const SyntheticModelSpec& s) {
  using gguf::Value;
  const DeepseekShape d = deepseek_shape(s);
  auto u32 = [](int64_t v) { return Value::u32(static_cast<uint32_t>(v)); };
  const std::string p = s.arch + ".";
  w.set(p + "feed_forward_length", u32(d.ff_dense));
  w.set(p + "leading_dense_block_count", u32(s.n_layer_dense_lead));
  w.set(p + "expert_feed_forward_length", u32(s.n_ff));
  w.set(p + "expert_shared_count", u32(d.n_shared));
  w.set(p + "expert_weights_scale", Value::f32(s.expert_weights_scale));
  w.set(p + "rope.dimension_count", u32(d.n_rot));
  if (!is_mla(s)) {
    w.set(p + "attention.head_count_kv", u32(s.n_head_kv));
    if (d.head_k != s.n_embd / s.n_head) {
      w.set(p + "attention.key_length", u32(d.head_k));
      w.set(p + "attention.value_length", u32(d.head_k));
    }
    return;
  }
  w.set(p + "attention.q_lora_rank", u32(s.q_lora_rank));
  w.set(p + "attention.kv_lora_rank", u32(d.kv_lora));
  if (s.mla_legacy_kv_b) {
    w.set(p + "attention.head_count_kv", u32(s.n_head));
    w.set(p + "attention.key_length", u32(d.head_k));
    w.set(p + "attention.value_length", u32(d.head_v));
  } else {
    // The converter's MQA view of the latent, then the decompressed head sizes.
    w.set(p + "attention.head_count_kv", u32(1));
    w.set(p + "attention.key_length", u32(d.kv_lora + d.n_rot));
    w.set(p + "attention.value_length", u32(d.kv_lora));
    w.set(p + "attention.key_length_mla", u32(d.head_k));
    w.set(p + "attention.value_length_mla", u32(d.head_v));
  }
  w.set(p + "expert_weights_norm", Value::boolean(s.expert_weights_norm));
  w.set(p + "expert_gating_func", u32(s.gating_sigmoid ? 2 : 1));
  if (s.n_expert_groups > 1) {
    w.set(p + "expert_group_count", u32(s.n_expert_groups));
    w.set(p + "expert_group_used_count", u32(s.n_group_used));
  }
  if (s.yarn_factor > 0.0f) {
    w.set(p + "rope.scaling.type", Value::string("yarn"));
    w.set(p + "rope.scaling.factor", Value::f32(s.yarn_factor));
    w.set(p + "rope.scaling.original_context_length",
          u32(s.yarn_orig_ctx > 0 ? s.yarn_orig_ctx : s.n_ctx));
    w.set(p + "rope.scaling.yarn_log_multiplier", Value::f32(s.yarn_log_multiplier));
  }
}

Status validate_deepseek_spec(const SyntheticModelSpec& s) {
  const DeepseekShape d = deepseek_shape(s);
  EMOE_RETURN_IF_ERROR(range("n_layer_dense_lead", s.n_layer_dense_lead, 0, s.n_layer));
  EMOE_RETURN_IF_ERROR(range("n_expert_shared", s.n_expert_shared, 0, 64));
  EMOE_RETURN_IF_ERROR(range("n_ff_dense", s.n_ff_dense, 0, 1 << 20));
  if (!(s.expert_weights_scale >= 0.0f) || !std::isfinite(s.expert_weights_scale)) {
    return invalid_argument("expert_weights_scale must be a finite number >= 0");
  }
  const bool mla = is_mla(s);
  if (!mla &&
      (s.q_lora_rank || s.kv_lora_rank || s.v_head_dim || s.mla_legacy_kv_b || s.gating_sigmoid ||
       s.exp_probs_b || s.expert_weights_norm || s.n_expert_groups || s.yarn_factor > 0.0f)) {
    return invalid_argument("arch " + s.arch +
                            ": latent attention, router and YaRN options are deepseek2's");
  }
  if (!mla) return Status::ok();
  EMOE_RETURN_IF_ERROR(range("head_dim", d.head_k, 4, 1 << 12));
  if (d.n_rot % 2 != 0 || d.n_rot < 2 || d.n_rot >= d.head_k) {
    return invalid_argument("n_rot = " + std::to_string(d.n_rot) +
                            " must be even and smaller than head_dim " + std::to_string(d.head_k) +
                            " (deepseek2 rotates only the rope part of a head)");
  }
  EMOE_RETURN_IF_ERROR(range("q_lora_rank", s.q_lora_rank, 0, 1 << 14));
  EMOE_RETURN_IF_ERROR(range("kv_lora_rank", d.kv_lora, 1, 1 << 14));
  EMOE_RETURN_IF_ERROR(range("v_head_dim", d.head_v, 1, 1 << 12));
  if (s.n_expert_groups > 1) {
    if (s.n_expert % s.n_expert_groups != 0 || s.n_expert / s.n_expert_groups < 2) {
      return invalid_argument("n_expert_groups must split n_expert into groups of at least 2");
    }
    EMOE_RETURN_IF_ERROR(range("n_group_used", s.n_group_used, 1, s.n_expert_groups));
    if (s.n_group_used * (s.n_expert / s.n_expert_groups) < s.n_expert_used) {
      return invalid_argument("n_group_used leaves fewer experts than n_expert_used");
    }
  }
  if (s.yarn_factor < 0.0f || !std::isfinite(s.yarn_factor)) {
    return invalid_argument("yarn_factor must be >= 0");
  }
  return Status::ok();
}

std::vector<std::pair<const char*, int64_t>> deepseek_row_widths(const SyntheticModelSpec& s) {
  const DeepseekShape d = deepseek_shape(s);
  std::vector<std::pair<const char*, int64_t>> w = {{"n_ff_dense", d.ff_dense}};
  if (is_mla(s)) {
    w.push_back({"n_head * v_head_dim", s.n_head * d.head_v});
    w.push_back({"kv_lora_rank", d.kv_lora});
    w.push_back({"the nope part of a head", d.nope});
    if (s.q_lora_rank > 0) w.push_back({"q_lora_rank", s.q_lora_rank});
  }
  return w;
}

}  // namespace emoe::model::synth
