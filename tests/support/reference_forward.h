// An independent float64 forward pass for checking the engine, of the architectures
// llama / Mixtral (FIXTURES_README.md section 2), qwen2moe, qwen3moe, olmoe, deepseek and
// deepseek2 (latent attention in reference_mla.h), each as
// llama.cpp's graph for it computes (src/models/<arch>.cpp, build_moe_ffn in
// src/llama-graph.cpp). It shares no code with core/ (model, engine) or kernels/: weights are
// read straight from the GGUF tensors and dequantized here (reference_decode.h), the
// hyperparameters and the per-architecture rules are read and written here, and attention is
// recomputed over the whole sequence without a KV cache. Slow on purpose; meant for tiny models.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "tests/support/reference_decode.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe::test {

struct RefHparams {
  std::string arch;
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, head_dim = 0;
  int64_t n_ff = 0;        // dense FFN width, or one expert's width
  int64_t n_ff_shexp = 0;  // shared expert width (qwen2moe); 0: none
  int64_t n_expert = 0, n_expert_used = 0;
  int64_t n_rot = 0;  // rotated dimensions per head
  double rope_base = 10000.0, rope_scale = 1.0, rms_eps = 1e-5;
  bool rope_neox = false;    // pairs (i, i + n_rot/2) instead of (2i, 2i+1)
  bool norm_topk = true;     // renormalise the selected gate weights (Mixtral)
  bool tied_output = false;  // output.weight absent: token_embd is the output matrix
  bool qkv_bias = false;     // attn_{q,k,v}.bias added after the projections
  enum class QkNorm { None, PerHead, Whole } qk_norm = QkNorm::None;  // before RoPE
  // deepseek / deepseek2
  int64_t n_dense_lead = 0;                // leading layers with a dense FFN and no router
  bool shexp_ungated = false;              // shared experts added without a gate
  bool sigmoid = false;                    // sigmoid gating instead of softmax
  double w_scale = 0.0;                    // multiplies the top-k weights unless 0 or 1
  int64_t n_groups = 0, n_group_used = 0;  // grouped top-k when n_groups > 1
  bool mla = false;                        // multi-head latent attention (reference_mla.h)
};

struct RefOptions {
  std::optional<bool> rope_neox;  // override what the architecture implies
  std::optional<bool> norm_topk;  // override the architecture's rule
  // Round activations the way ggml's CPU backend does before a non-F32 weight: to F16 before
  // an F16 matrix, to Q8_0 blocks before a Q8_0/Q4_0 matrix (README section 5). The rest of the
  // arithmetic stays float64. Off: plain dequantized weights.
  bool emulate_ggml_activation_rounding = false;
  // Round K and V to F16 when "storing" them, as a F16 KV cache does.
  bool kv_f16 = false;
  // With kv_f16: also round what meets the F16 cache in llama.cpp's (non-flash) attention,
  // as its matmuls convert the other operand to F16: Q before K·Q, and the softmax
  // probabilities before V·P.
  bool kv_f16_round_q_p = false;
};

struct RefRoute {
  std::vector<int32_t> topk;          // [n_expert_used], descending probability
  std::vector<double> router_logits;  // [n_expert]
  std::vector<double> probs;          // [n_expert]
  std::vector<double> weights;        // [n_expert_used], after optional renormalisation
  double margin = 0.0;                // min selected logit - max unselected logit
};

struct RefOutput {
  int64_t n_tokens = 0;
  std::vector<double> logits;               // [n_tokens][n_vocab]
  std::vector<std::vector<double>> hidden;  // [n_layer][n_tokens * n_embd], after layer
  // [n_layer][n_tokens] for MoE models (a dense layer's entry is empty); empty for dense models
  std::vector<std::vector<RefRoute>> routing;
};

class ReferenceForward {
 public:
  // Reads the hyperparameters and dequantizes every weight to double. The file must outlive
  // nothing: weights are copied.
  static Result<std::unique_ptr<ReferenceForward>> create(const gguf::GgufFile& file,
                                                          RefOptions options = {});
  ~ReferenceForward();

  const RefHparams& hparams() const { return hp_; }

  // Causal forward pass over `tokens` at positions 0..n-1.
  Result<RefOutput> run(std::span<const int32_t> tokens) const;

 private:
  struct Weights;
  ReferenceForward() = default;
  RefHparams hp_;
  RefOptions opt_;
  std::unique_ptr<Weights> w_;
};

}  // namespace emoe::test
