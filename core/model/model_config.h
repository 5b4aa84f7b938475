// Hyperparameters as GGUF names them. Immutable after load; answers per-layer questions.
#pragma once

#include <cstdint>
#include <string>

#include "core/common/status.h"
#include "core/model/architecture.h"
#include "kernels/cpu/ops.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe {
class JsonWriter;
}

namespace emoe::model {

struct ModelConfig {
  std::string arch;  // general.architecture, one of supported_architectures()
  std::string name;  // general.name, may be empty
  int64_t n_vocab = 0;
  int64_t n_ctx_train = 0;    // {arch}.context_length
  int64_t n_embd = 0;         // {arch}.embedding_length
  int64_t n_layer = 0;        // {arch}.block_count
  int64_t n_head = 0;         // {arch}.attention.head_count
  int64_t n_head_kv = 0;      // {arch}.attention.head_count_kv (defaults to n_head)
  int64_t n_embd_head = 0;    // {arch}.attention.key_length, default n_embd / n_head
  int64_t n_ff = 0;           // {arch}.feed_forward_length (dense FFN, or per expert for llama)
  int64_t n_ff_exp = 0;       // width of one routed expert's FFN (ArchTraits::expert_width)
  int64_t n_ff_shexp = 0;     // width of the shared expert's FFN; 0: the model has none
  int64_t n_expert = 0;       // {arch}.expert_count; 0 for a dense model
  int64_t n_expert_used = 0;  // {arch}.expert_used_count (top-k)
  int64_t n_rot = 0;          // {arch}.rope.dimension_count, default n_embd_head
  float rope_freq_base = 10000.0f;
  float rope_freq_scale = 1.0f;  // 1 / {arch}.rope.scaling.factor for linear scaling
  float rms_eps = 1e-5f;         // {arch}.attention.layer_norm_rms_epsilon
  kernels::RopeMode rope_mode = kernels::RopeMode::Norm;
  bool expert_weights_norm = true;  // renormalise the top-k gate weights (Mixtral)
  QkNorm qk_norm = QkNorm::None;    // RMSNorm of Q and K before RoPE

  bool is_moe() const { return n_expert > 0; }
  bool has_shared_expert() const { return n_ff_shexp > 0; }
  int64_t n_embd_kv() const { return n_embd_head * n_head_kv; }  // K (or V) width per token
  bool layer_is_moe(int64_t /*layer*/) const { return is_moe(); }

  // Reads and validates; Unsupported lists the architectures this build supports.
  static Result<ModelConfig> from_gguf(const gguf::GgufFile& file);
};

// Writes the hyperparameters as members of an open JSON object (GGUF's names), the form the
// database's models.hparams and `emoe info --json` share.
void write_hparams_json(JsonWriter& j, const ModelConfig& c);

}  // namespace emoe::model
