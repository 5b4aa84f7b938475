// Generates synthetic MoE GGUF models with seeded weights and the project's own vocabulary
// (tokenizer/vocab_builder.h): the engine behind `emoe mkmodel`. Architectures: Mixtral-style
// "llama" (default), "qwen2moe", "qwen3moe" and "olmoe" (architecture.h). The files load in
// this engine and in llama.cpp: every key llama.cpp's loader reads for the architecture is
// written with the GGUF type it expects, and the tensors carry llama.cpp's names and shapes; a
// llama file is named, shaped and ordered like the tiny-mixtral fixtures
// (tests/data/FIXTURES_README.md sections 2 and 6).
//
// Weights are reproducible from the seed alone, with no std:: distribution involved (their
// output is implementation-defined):
//   - uniform k (k = 0, 1, ...) is splitmix64's k-th output for the initial state `seed`:
//       z = seed + (k + 1) * 0x9E3779B97F4A7C15;
//       z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9; z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
//       out = z ^ (z >> 31)   (all arithmetic mod 2^64);
//   - normal n (n counts every weight of the file, tensors in file order, ne[0] fastest) comes
//     from Box-Muller on uniforms j = 2*floor(n/2) and j + 1, in double precision:
//       u1 = ((out_j >> 11) + 1) * 2^-53 (in (0, 1]),  u2 = (out_{j+1} >> 11) * 2^-53,
//       r = sqrt(-2 ln u1),  z = r * cos(2 pi u2) for even n, r * sin(2 pi u2) for odd n;
//   - the weight is float(mean + std * z), then stored as the tensor's type (quantized with the
//     reference quantizers).
// Distributions (fan-in scaling, as the fixtures): token_embd N(0, 1); norms 1 + 0.1 N(0, 1);
// attn_q/k/v/output and ffn_gate/up(_exps) N(0, 1/sqrt(n_embd)); ffn_down(_exps)
// N(0, 1/sqrt(n_ff)); router ffn_gate_inp N(0, 2/sqrt(n_embd)); output N(0, 2/sqrt(n_embd)).
// Architecture extras: attn_q/k/v.bias N(0, 0.5) (qwen2moe); attn_q_norm/attn_k_norm
// 1 + 0.1 N(0, 1) (qwen3moe per head, olmoe whole projection); shared expert (qwen2moe)
// ffn_gate_inp_shexp N(0, 2/sqrt(n_embd)), ffn_gate/up_shexp N(0, 1/sqrt(n_embd)),
// ffn_down_shexp N(0, 1/sqrt(n_ff_shexp)). Each layer's tensors are written in the order
// attn_norm, attn_q(.bias), attn_k(.bias), attn_v(.bias), attn_output, attn_q_norm, attn_k_norm,
// ffn_norm, ffn_gate_inp, ffn_gate/up/down_exps, ffn_gate_inp_shexp, ffn_gate/up/down_shexp.
// Norms, biases and the gates are always F32 (llama-quantize also leaves them unquantized).
// The stream is counter-based, so tensors are generated in parallel and the bytes do not
// depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/common/status.h"
#include "core/model/quant_mix.h"
#include "kernels/tensor_type.h"

namespace emoe::model {

struct SyntheticModelSpec {
  std::string arch = "llama";  // general.architecture: supported_architectures()
  int64_t n_layer = 4;
  int64_t n_embd = 128;
  int64_t n_head = 4;
  int64_t n_head_kv = 2;
  int64_t n_ff = 256;  // FFN width of one expert, or of the dense FFN when n_expert = 0
  // qwen2moe's shared expert width; 0: n_ff * n_expert_used (llama.cpp's fallback, and the
  // ratio of Qwen1.5-MoE-A2.7B). Must be 0 for architectures without a shared expert.
  int64_t n_ff_shexp = 0;
  // Head size (attention.key_length = value_length); 0: n_embd / n_head. Other values only for
  // architectures whose attn_q llama.cpp shapes [n_embd, n_head * head size] (llama, qwen3moe).
  int64_t head_dim = 0;
  int64_t n_expert = 8;       // 0: a dense model (blk.L.ffn_gate/ffn_up/ffn_down)
  int64_t n_expert_used = 2;  // top-k; ignored when n_expert = 0
  int64_t n_vocab = 4096;     // tokenizer::kMinBuiltVocabSize .. kMaxBuiltVocabSize
  int64_t n_ctx = 2048;       // llama.context_length (tokens)
  // RoPE dimensions; 0: the head size. llama.cpp's llama loader refuses any other value
  // ("invalid n_rot"), so a partial rotary width loads only in this engine, and only for llama.
  int64_t n_rot = 0;
  float rope_freq_base = 10000.0f;
  float rms_eps = 1e-5f;
  // DeepSeek (deepseek, deepseek2); must stay 0 / false for the other architectures.
  int64_t n_layer_dense_lead = 0;  // leading dense-FFN layers (leading_dense_block_count)
  int64_t n_ff_dense = 0;          // their width (feed_forward_length); 0: 2 x n_ff
  int64_t n_expert_shared = 0;     // shared experts fused into ffn_*_shexp; 0: 1
  // deepseek2's multi-head latent attention. head_dim is the query/key head (nope + rope) and
  // n_rot its rope part (0: head_dim / 2); v_head_dim 0: head_dim.
  int64_t q_lora_rank = 0;   // 0: attn_q
  int64_t kv_lora_rank = 0;  // 0: 2 x head_dim
  int64_t v_head_dim = 0;
  bool mla_legacy_kv_b = false;  // write attn_kv_b (pre-split files) instead of attn_k_b/v_b
  // deepseek2's router keys.
  bool gating_sigmoid = false;  // expert_gating_func 2 (else 1, softmax)
  bool exp_probs_b = false;     // write blk.N.exp_probs_b.bias
  bool expert_weights_norm = false;
  float expert_weights_scale = 1.0f;
  int64_t n_expert_groups = 0, n_group_used = 0;  // grouped top-k when > 1
  // YaRN (deepseek2): rope.scaling.type yarn with this factor when > 0.
  float yarn_factor = 0.0f;
  float yarn_log_multiplier = 0.0f;  // as converters write it (0.1 x mscale_all_dim)
  int64_t yarn_orig_ctx = 0;         // 0: n_ctx
  kernels::TensorType weight_type = kernels::TensorType::F32;  // attention, FFNs, experts
  kernels::TensorType embd_type = kernels::TensorType::F32;    // token_embd
  kernels::TensorType output_type = kernels::TensorType::F32;  // output
  // Q4_K_M: llama-quantize's per-tensor choice (quant_mix.h) replaces the three types above.
  QuantMix mix = QuantMix::Uniform;
  uint64_t seed = 1;
  std::string name;   // general.name; empty: a name made from the shape and seed
  int n_threads = 0;  // worker threads for generation; 0: the hardware's count (at most 16)
};

// The largest file write_synthetic_model accepts: it holds the whole file in memory first.
inline constexpr uint64_t kMaxSyntheticModelBytes = 16ull << 30;

// InvalidArgument naming the field and the rule when the spec cannot make a valid model;
// Unsupported when a tensor type has no writer.
Status validate_synthetic_spec(const SyntheticModelSpec& spec);

// The file size write_synthetic_model will produce: tensor data exactly, metadata estimated
// (the vocabulary's text is not built), so the estimate is within a few KB plus ~1%.
Result<uint64_t> estimate_synthetic_model_size(const SyntheticModelSpec& spec);

// Writes the model to `path` (atomically: a temporary file renamed into place). `progress`
// receives fractions in [0, 1] from the calling thread; returning false cancels, yielding
// StatusCode::Cancelled and leaving no file behind (an existing file at `path` is untouched).
// Memory beyond the finished file's bytes is about one tensor plus one slab per thread.
Status write_synthetic_model(const SyntheticModelSpec& spec, const std::string& path,
                             const std::function<bool(double fraction)>& progress = {});

}  // namespace emoe::model
