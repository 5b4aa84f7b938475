#include "core/model/model_config.h"

#include <cmath>
#include <string>

#include "core/common/json_writer.h"
#include "core/gguf/gguf_file.h"

namespace emoe::model {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;  // far above any real model; catches garbage

Status read_dim(const gguf::GgufFile& f, const std::string& key, bool required, int64_t* out) {
  auto v = f.get_uint(key);
  if (!v.ok()) {
    if (!required && v.status().code() == StatusCode::NotFound) return Status::ok();
    return v.status();
  }
  if (*v > static_cast<uint64_t>(kMaxDim)) {
    return corrupt("metadata '" + key + "' = " + std::to_string(*v) + " is out of range");
  }
  *out = static_cast<int64_t>(*v);
  return Status::ok();
}

Status read_float(const gguf::GgufFile& f, const std::string& key, float* out) {
  auto v = f.get_float(key);
  if (!v.ok()) return v.status().code() == StatusCode::NotFound ? Status::ok() : v.status();
  if (!std::isfinite(*v)) return corrupt("metadata '" + key + "' is not a finite number");
  *out = static_cast<float>(*v);
  return Status::ok();
}

Status missing_key(const std::string& key, const std::string& why) {
  return not_found("metadata '" + key + "' is missing" + (why.empty() ? "" : " (" + why + ")"));
}

// Expert and shared-expert widths, after the common keys and the expert counts are known.
Status resolve_ffn_widths(const gguf::GgufFile& f, const ArchTraits& t, ModelConfig& c) {
  const std::string p = c.arch + ".";
  const std::string ff_key = p + "feed_forward_length";
  const std::string exp_key = p + "expert_feed_forward_length";
  switch (t.expert_width) {
    case ExpertWidth::ExpertKeyOrFf:
      c.n_ff_exp = c.n_ff;
      EMOE_RETURN_IF_ERROR(read_dim(f, exp_key, false, &c.n_ff_exp));
      break;
    case ExpertWidth::ExpertKeyOrFfPerUsed:
      c.n_ff_exp = 0;
      EMOE_RETURN_IF_ERROR(read_dim(f, exp_key, false, &c.n_ff_exp));
      if (c.n_ff_exp == 0 && c.n_expert_used > 0) c.n_ff_exp = c.n_ff / c.n_expert_used;
      break;
    case ExpertWidth::Ff:
      c.n_ff_exp = c.n_ff;
      break;
    case ExpertWidth::ExpertKey:
      c.n_ff_exp = 0;
      EMOE_RETURN_IF_ERROR(read_dim(f, exp_key, false, &c.n_ff_exp));
      if (c.is_moe() && c.n_ff_exp <= 0) return missing_key(exp_key, "the width of each expert");
      break;
  }
  if (c.is_moe() && c.n_ff_exp <= 0) {
    return t.expert_width == ExpertWidth::Ff
               ? missing_key(ff_key, "the width of each expert")
               : missing_key(exp_key, "and " + ff_key + " gives no width either");
  }
  if ((!c.is_moe() || c.n_layer_dense_lead > 0) && c.n_ff <= 0) {
    return missing_key(ff_key, "the dense FFN width");
  }
  if (t.shared_experts_ungated) {
    const std::string key = p + "expert_shared_count";
    if (!f.find(key)) return missing_key(key, "the number of shared experts");
    EMOE_RETURN_IF_ERROR(read_dim(f, key, true, &c.n_expert_shared));
    if (c.n_expert_shared < 1) {
      return corrupt("metadata '" + key + "' = 0: " + c.arch + " has at least one shared expert");
    }
    c.n_ff_shexp = c.n_ff_exp * c.n_expert_shared;
  }
  if (t.shared_expert) {
    const std::string sh_key = p + "expert_shared_feed_forward_length";
    c.n_ff_shexp = c.n_ff;
    EMOE_RETURN_IF_ERROR(read_dim(f, sh_key, false, &c.n_ff_shexp));
    if (c.n_ff_shexp <= 0) return missing_key(sh_key, "and " + ff_key + " gives no width either");
    c.shexp_gated = true;
  }
  return Status::ok();
}

// Head size and rotary width of the standard attention (attn_q/k/v).
Status read_attention_shape(const gguf::GgufFile& f, const ArchTraits& t, ModelConfig& c) {
  const std::string p = c.arch + ".";
  c.n_embd_head = c.n_embd / c.n_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.key_length", false, &c.n_embd_head));
  int64_t value_length = c.n_embd_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.value_length", false, &value_length));
  if (value_length != c.n_embd_head) {
    return unsupported("attention.value_length != key_length is not supported for " + c.arch);
  }
  if (!t.free_head_dim && c.n_head * c.n_embd_head != c.n_embd) {
    return unsupported(c.arch + ": head_count (" + std::to_string(c.n_head) + ") x key_length (" +
                       std::to_string(c.n_embd_head) + ") must equal embedding_length (" +
                       std::to_string(c.n_embd) + "), as llama.cpp shapes attn_q for it");
  }
  c.n_rot = c.n_embd_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "rope.dimension_count", false, &c.n_rot));
  if (c.n_embd_head <= 0 || c.n_rot <= 0 || c.n_rot > c.n_embd_head || c.n_rot % 2 != 0) {
    return corrupt("rope.dimension_count (" + std::to_string(c.n_rot) +
                   ") must be even and at most the head size (" + std::to_string(c.n_embd_head) +
                   ")");
  }
  if (t.full_rotary && c.n_rot != c.n_embd_head) {
    return unsupported(c.arch + ": rope.dimension_count (" + std::to_string(c.n_rot) +
                       ") must equal the head size (" + std::to_string(c.n_embd_head) +
                       "), as llama.cpp requires for this architecture");
  }
  c.n_embd_head_v = c.n_embd_head;
  return Status::ok();
}

// deepseek2's router keys (build_moe_ffn's arguments as its graph passes them).
Status read_router_keys(const gguf::GgufFile& f, ModelConfig& c) {
  const std::string p = c.arch + ".";
  int64_t func = 0;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_gating_func", false, &func));
  if (func == 0 || func == 1) {
    c.gating = GatingFunc::Softmax;  // absent (0): llama.cpp's default for V2 / V2.5 files
  } else if (func == 2) {
    c.gating = GatingFunc::Sigmoid;
  } else {
    return unsupported("metadata '" + p + "expert_gating_func' = " + std::to_string(func) +
                       " is not supported (1: softmax, 2: sigmoid)");
  }
  c.expert_weights_norm = false;
  if (f.find(p + "expert_weights_norm")) {
    auto norm = f.get_bool(p + "expert_weights_norm");
    if (!norm.ok()) return norm.status();
    c.expert_weights_norm = *norm;
  }
  EMOE_RETURN_IF_ERROR(read_float(f, p + "expert_weights_scale", &c.expert_weights_scale));
  if (c.expert_weights_scale < 0.0f) {
    return corrupt("metadata '" + p + "expert_weights_scale' is negative");
  }
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_group_count", false, &c.n_expert_groups));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_group_used_count", false, &c.n_group_used));
  if (c.n_expert_groups > 1) {
    // Groups are scored by their two best experts, so each needs at least two.
    if (c.n_expert % c.n_expert_groups != 0 || c.n_expert / c.n_expert_groups < 2) {
      return corrupt("metadata '" + p + "expert_group_count' (" +
                     std::to_string(c.n_expert_groups) + ") must divide expert_count (" +
                     std::to_string(c.n_expert) + ") into groups of at least 2");
    }
    if (c.n_group_used < 1 || c.n_group_used > c.n_expert_groups ||
        c.n_group_used * (c.n_expert / c.n_expert_groups) < c.n_expert_used) {
      return corrupt("metadata '" + p + "expert_group_used_count' (" +
                     std::to_string(c.n_group_used) + ") must be in 1.." +
                     std::to_string(c.n_expert_groups) + " and leave expert_used_count (" +
                     std::to_string(c.n_expert_used) + ") experts to choose from");
    }
  }
  return Status::ok();
}

// Multi-head latent attention's widths. Files converted since llama.cpp split attn_kv_b write
// the decompressed head sizes as key_length_mla / value_length_mla (key_length is then the
// latent MQA width); older files write them as key_length / value_length.
Status read_mla(const gguf::GgufFile& f, ModelConfig& c) {
  const std::string p = c.arch + ".";
  c.mla = true;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.q_lora_rank", false, &c.n_lora_q));
  const std::string kv_key = p + "attention.kv_lora_rank";
  if (!f.find(kv_key))
    return missing_key(kv_key, "the latent width of multi-head latent attention");
  EMOE_RETURN_IF_ERROR(read_dim(f, kv_key, true, &c.n_lora_kv));
  if (c.n_lora_kv <= 0) return corrupt("metadata '" + kv_key + "' must be positive, got 0");
  int64_t k_mla = 0, v_mla = 0;
  const std::string k_mla_key = p + "attention.key_length_mla";
  const std::string v_mla_key = p + "attention.value_length_mla";
  EMOE_RETURN_IF_ERROR(read_dim(f, k_mla_key, false, &k_mla));
  EMOE_RETURN_IF_ERROR(read_dim(f, v_mla_key, false, &v_mla));
  // Converters write both or neither; one alone would silently select the legacy layout.
  if ((k_mla > 0) != (v_mla > 0)) {
    return k_mla > 0 ? missing_key(v_mla_key, k_mla_key +
                                                  " is set: attn_k_b / attn_v_b files "
                                                  "write both")
                     : missing_key(k_mla_key, v_mla_key +
                                                  " is set: attn_k_b / attn_v_b files "
                                                  "write both");
  }
  c.mla_split_kv = k_mla > 0 && v_mla > 0;
  c.n_embd_head = c.n_embd / c.n_head;
  c.n_embd_head_v = c.n_embd_head;
  if (c.mla_split_kv) {
    c.n_embd_head = k_mla;
    c.n_embd_head_v = v_mla;
  } else {
    EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.key_length", false, &c.n_embd_head));
    EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.value_length", false, &c.n_embd_head_v));
  }
  const std::string rot_key = p + "rope.dimension_count";
  if (!f.find(rot_key)) return missing_key(rot_key, "the rope part of each head");
  EMOE_RETURN_IF_ERROR(read_dim(f, rot_key, true, &c.n_rot));
  if (c.n_rot <= 0 || c.n_rot % 2 != 0 || c.n_rot >= c.n_embd_head || c.n_embd_head_v <= 0) {
    return corrupt(c.arch + ": rope.dimension_count (" + std::to_string(c.n_rot) +
                   ") must be even and smaller than the key head size (" +
                   std::to_string(c.n_embd_head) + "), and the value head size (" +
                   std::to_string(c.n_embd_head_v) + ") positive");
  }
  c.n_head_kv = c.n_head;  // the latent is shared; head_count_kv is 1 in split files
  return Status::ok();
}

// Rope scaling: linear for every architecture, YaRN for MLA (deepseek2) as llama.cpp applies
// it there: the rope's own YaRN factor is cancelled (yarn_attn_factor_adjust, undone in the
// deepseek2 graph) and mscale = 1 + 0.1 * yarn_log_multiplier' * ln(factor) enters the
// attention scale squared, where yarn_log_multiplier' is the file's value / 0.1.
Status read_rope_scaling(const gguf::GgufFile& f, ModelConfig& c) {
  const std::string p = c.arch + ".";
  float factor = 0.0f;
  EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scaling.factor", &factor));
  if (factor == 0.0f) EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scale_linear", &factor));
  if (factor < 0.0f) return corrupt("metadata '" + p + "rope.scaling.factor' is negative");
  if (factor > 0.0f) c.rope_freq_scale = 1.0f / factor;
  std::string type = "linear";
  if (auto t = f.get_string(p + "rope.scaling.type"); t.ok()) type = *t;
  const float inv_scale = std::log(1.0f / c.rope_freq_scale);
  float log_mul = 0.0f;
  if (type == "yarn" && c.mla && factor > 0.0f) {
    c.yarn_ext_factor = 1.0f;
    c.n_ctx_orig_yarn = c.n_ctx_train;
    EMOE_RETURN_IF_ERROR(
        read_dim(f, p + "rope.scaling.original_context_length", false, &c.n_ctx_orig_yarn));
    EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scaling.yarn_beta_fast", &c.yarn_beta_fast));
    EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scaling.yarn_beta_slow", &c.yarn_beta_slow));
    EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scaling.yarn_log_multiplier", &log_mul));
    log_mul /= 0.1f;
    if (c.n_ctx_orig_yarn <= 0) {
      return corrupt("metadata '" + p + "rope.scaling.original_context_length' must be positive");
    }
    c.yarn_attn_factor = 1.0f / (1.0f + 0.1f * inv_scale);
  } else if (type != "linear" && type != "none" && factor > 0.0f) {
    return unsupported("rope scaling type '" + type + "' is not supported for " + c.arch +
                       " (supported: linear" + (c.mla ? ", yarn" : "") + ")");
  }
  if (c.mla) {
    const float mscale = 1.0f + 0.1f * log_mul * inv_scale;
    c.kq_scale = mscale * mscale / std::sqrt(static_cast<float>(c.n_embd_head));
  }
  return Status::ok();
}

}  // namespace

Result<ModelConfig> ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch.ok()) return arch.status();
  c.arch = *arch;
  const ArchTraits* traits = find_architecture(c.arch);
  if (!traits) {
    return unsupported("architecture '" + c.arch +
                       "' is not supported (supported: " + supported_architectures() + ")");
  }
  const ArchTraits& t = *traits;
  c.rope_mode = t.rope_mode;
  c.expert_weights_norm = t.norm_topk;
  c.qk_norm = t.qk_norm;
  if (auto name = f.get_string("general.name"); name.ok()) c.name = *name;
  const std::string p = c.arch + ".";

  EMOE_RETURN_IF_ERROR(read_dim(f, p + "context_length", true, &c.n_ctx_train));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "embedding_length", true, &c.n_embd));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "block_count", true, &c.n_layer));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "feed_forward_length", false, &c.n_ff));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.head_count", true, &c.n_head));
  c.n_head_kv = c.n_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.head_count_kv", false, &c.n_head_kv));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_count", false, &c.n_expert));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_used_count", false, &c.n_expert_used));
  EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.freq_base", &c.rope_freq_base));
  const std::string eps_key = p + "attention.layer_norm_rms_epsilon";
  if (t.rms_eps_required && !f.find(eps_key)) return missing_key(eps_key, "");
  EMOE_RETURN_IF_ERROR(read_float(f, eps_key, &c.rms_eps));

  if (c.n_embd <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_head_kv <= 0) {
    return corrupt("embedding_length, block_count and head counts must be positive");
  }
  if (c.n_head % c.n_head_kv != 0) {
    return corrupt("attention.head_count (" + std::to_string(c.n_head) +
                   ") is not a multiple of head_count_kv (" + std::to_string(c.n_head_kv) + ")");
  }
  if (t.mla) {
    EMOE_RETURN_IF_ERROR(read_mla(f, c));
  } else {
    EMOE_RETURN_IF_ERROR(read_attention_shape(f, t, c));
  }
  EMOE_RETURN_IF_ERROR(read_rope_scaling(f, c));
  if (!t.mla) c.kq_scale = 1.0f / std::sqrt(static_cast<float>(c.n_embd_head));
  if (c.n_expert > 0) {
    if (c.n_expert_used <= 0 || c.n_expert_used > c.n_expert) {
      return corrupt("expert_used_count (" + std::to_string(c.n_expert_used) + ") must be in 1.." +
                     std::to_string(c.n_expert));
    }
  } else if (t.moe_only) {
    return corrupt(c.arch + " is a mixture-of-experts architecture but metadata '" + p +
                   "expert_count' is missing or 0");
  } else {
    c.n_expert_used = 0;
  }
  if (t.leading_dense) {
    const std::string key = p + "leading_dense_block_count";
    EMOE_RETURN_IF_ERROR(read_dim(f, key, false, &c.n_layer_dense_lead));
    if (c.n_layer_dense_lead > c.n_layer) {
      return corrupt("metadata '" + key + "' (" + std::to_string(c.n_layer_dense_lead) +
                     ") exceeds block_count (" + std::to_string(c.n_layer) + ")");
    }
  }
  if (t.router == RouterRule::FromFile && c.is_moe()) EMOE_RETURN_IF_ERROR(read_router_keys(f, c));
  if (!(c.rms_eps > 0.0f) || !(c.rope_freq_base > 0.0f)) {
    return corrupt("layer_norm_rms_epsilon and rope.freq_base must be positive");
  }
  EMOE_RETURN_IF_ERROR(resolve_ffn_widths(f, t, c));

  // n_vocab comes from the tokenizer; Model cross-checks it against token_embd.
  if (auto tokens = f.find("tokenizer.ggml.tokens"); tokens && tokens->as_array()) {
    c.n_vocab = static_cast<int64_t>(tokens->as_array()->size());
  } else {
    EMOE_RETURN_IF_ERROR(read_dim(f, p + "vocab_size", false, &c.n_vocab));
  }
  return c;
}

void write_hparams_json(JsonWriter& j, const ModelConfig& c) {
  j.key("n_vocab").value(c.n_vocab).key("n_ctx_train").value(c.n_ctx_train);
  j.key("n_embd").value(c.n_embd).key("n_layer").value(c.n_layer);
  j.key("n_head").value(c.n_head).key("n_head_kv").value(c.n_head_kv);
  j.key("n_embd_head").value(c.n_embd_head).key("n_rot").value(c.n_rot);
  j.key("n_ff").value(c.n_ff).key("n_ff_exp").value(c.n_ff_exp);
  j.key("n_expert").value(c.n_expert).key("n_expert_used").value(c.n_expert_used);
  j.key("rope_freq_base").value(double{c.rope_freq_base});
  j.key("rope_freq_scale").value(double{c.rope_freq_scale});
  j.key("rms_eps").value(double{c.rms_eps});
  j.key("expert_weights_norm").value(c.expert_weights_norm);
  j.key("n_ff_shexp").value(c.n_ff_shexp);
  j.key("rope_neox").value(c.rope_mode == kernels::RopeMode::Neox);
  j.key("qk_norm").value(c.qk_norm == QkNorm::PerHead ? "per_head"
                         : c.qk_norm == QkNorm::Whole ? "whole"
                                                      : "none");
  // DeepSeek's extras, only where a model has them, so other models' JSON is unchanged.
  if (c.n_layer_dense_lead > 0) j.key("n_layer_dense_lead").value(c.n_layer_dense_lead);
  if (c.n_expert_shared > 0) j.key("n_expert_shared").value(c.n_expert_shared);
  if (c.gating == GatingFunc::Sigmoid) j.key("gating").value("sigmoid");
  if (c.expert_weights_scale != 0.0f) {
    j.key("expert_weights_scale").value(double{c.expert_weights_scale});
  }
  if (c.n_expert_groups > 1) {
    j.key("n_expert_groups").value(c.n_expert_groups).key("n_group_used").value(c.n_group_used);
  }
  if (c.mla) {
    j.key("mla").value(true).key("n_lora_q").value(c.n_lora_q).key("n_lora_kv").value(c.n_lora_kv);
    j.key("n_embd_head_v").value(c.n_embd_head_v).key("mla_split_kv").value(c.mla_split_kv);
    j.key("kv_elems_per_token_layer").value(c.kv_elems_per_token_layer());
    j.key("kq_scale").value(double{c.kq_scale});
  }
  if (c.yarn_ext_factor != 0.0f) {
    j.key("rope_scaling").value("yarn").key("n_ctx_orig_yarn").value(c.n_ctx_orig_yarn);
    j.key("yarn_beta_fast").value(double{c.yarn_beta_fast});
    j.key("yarn_beta_slow").value(double{c.yarn_beta_slow});
  }
}

}  // namespace emoe::model
