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
  }
  if (c.is_moe() && c.n_ff_exp <= 0) {
    return t.expert_width == ExpertWidth::Ff
               ? missing_key(ff_key, "the width of each expert")
               : missing_key(exp_key, "and " + ff_key + " gives no width either");
  }
  if (!c.is_moe() && c.n_ff <= 0) return missing_key(ff_key, "the FFN width");
  if (t.shared_expert) {
    const std::string sh_key = p + "expert_shared_feed_forward_length";
    c.n_ff_shexp = c.n_ff;
    EMOE_RETURN_IF_ERROR(read_dim(f, sh_key, false, &c.n_ff_shexp));
    if (c.n_ff_shexp <= 0) return missing_key(sh_key, "and " + ff_key + " gives no width either");
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

  // Linear RoPE scaling: llama.cpp's freq_scale is the inverse of the file's factor.
  float factor = 0.0f;
  EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scaling.factor", &factor));
  if (factor == 0.0f) EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.scale_linear", &factor));
  if (factor < 0.0f) return corrupt("metadata '" + p + "rope.scaling.factor' is negative");
  if (factor > 0.0f) c.rope_freq_scale = 1.0f / factor;
  if (auto type = f.get_string(p + "rope.scaling.type");
      type.ok() && *type != "linear" && *type != "none" && factor > 0.0f) {
    return unsupported("rope scaling type '" + *type + "' is not supported (supported: linear)");
  }

  if (c.n_embd <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_head_kv <= 0) {
    return corrupt("embedding_length, block_count and head counts must be positive");
  }
  if (c.n_head % c.n_head_kv != 0) {
    return corrupt("attention.head_count (" + std::to_string(c.n_head) +
                   ") is not a multiple of head_count_kv (" + std::to_string(c.n_head_kv) + ")");
  }
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
}

}  // namespace emoe::model
