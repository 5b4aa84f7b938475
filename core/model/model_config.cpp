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

}  // namespace

Result<ModelConfig> ModelConfig::from_gguf(const gguf::GgufFile& f) {
  ModelConfig c;
  auto arch = f.get_string("general.architecture");
  if (!arch.ok()) return arch.status();
  c.arch = *arch;
  if (c.arch != "llama") {
    return unsupported("architecture '" + c.arch + "' is not supported (supported: llama)");
  }
  if (auto name = f.get_string("general.name"); name.ok()) c.name = *name;
  const std::string p = c.arch + ".";

  EMOE_RETURN_IF_ERROR(read_dim(f, p + "context_length", true, &c.n_ctx_train));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "embedding_length", true, &c.n_embd));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "block_count", true, &c.n_layer));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "feed_forward_length", true, &c.n_ff));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.head_count", true, &c.n_head));
  c.n_head_kv = c.n_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "attention.head_count_kv", false, &c.n_head_kv));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_count", false, &c.n_expert));
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_used_count", false, &c.n_expert_used));
  c.n_ff_exp = c.n_ff;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "expert_feed_forward_length", false, &c.n_ff_exp));
  EMOE_RETURN_IF_ERROR(read_float(f, p + "rope.freq_base", &c.rope_freq_base));
  EMOE_RETURN_IF_ERROR(read_float(f, p + "attention.layer_norm_rms_epsilon", &c.rms_eps));

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
    return unsupported("attention.value_length != key_length is not supported for llama");
  }
  c.n_rot = c.n_embd_head;
  EMOE_RETURN_IF_ERROR(read_dim(f, p + "rope.dimension_count", false, &c.n_rot));
  if (c.n_embd_head <= 0 || c.n_rot <= 0 || c.n_rot > c.n_embd_head || c.n_rot % 2 != 0) {
    return corrupt("rope.dimension_count (" + std::to_string(c.n_rot) +
                   ") must be even and at most the head size (" + std::to_string(c.n_embd_head) +
                   ")");
  }
  if (c.n_expert > 0) {
    if (c.n_expert_used <= 0 || c.n_expert_used > c.n_expert) {
      return corrupt("expert_used_count (" + std::to_string(c.n_expert_used) + ") must be in 1.." +
                     std::to_string(c.n_expert));
    }
  } else {
    c.n_expert_used = 0;
  }
  if (!(c.rms_eps > 0.0f) || !(c.rope_freq_base > 0.0f)) {
    return corrupt("layer_norm_rms_epsilon and rope.freq_base must be positive");
  }

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
}

}  // namespace emoe::model
