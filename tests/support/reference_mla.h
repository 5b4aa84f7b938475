// The float64 reference's multi-head latent attention (deepseek2), written from llama.cpp's
// deepseek2 graph in its decompressed (MHA) form: keys and values are rebuilt per head from
// each token's latent (attn_k_b / attn_v_b, or the legacy attn_kv_b), never through the
// engine's absorbed form, with YaRN RoPE on the rope parts in double precision. Shares no code
// with core/ or kernels/.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/common/status.h"
#include "tests/support/reference_decode.h"

namespace emoe::gguf {
class GgufFile;
}

namespace emoe::test::ref {

struct MlaHp {
  int64_t n_head = 0, head_k = 0, n_rot = 0, nope = 0, head_v = 0, kv_lora = 0, q_lora = 0;
  bool split = false;  // attn_k_b / attn_v_b (key_length_mla present), else attn_kv_b
  double rms_eps = 1e-6, rope_base = 10000.0, freq_scale = 1.0;
  double ext_factor = 0.0, beta_fast = 32.0, beta_slow = 1.0;
  int64_t n_ctx_orig = 0;
  double kq_scale = 0.0;
};

struct MlaLayer {
  Mat wq, wq_a, wq_b, wkv_a, wo;
  std::vector<double> q_a_norm, kv_a_norm;
  std::vector<Mat> k_dec;  // [n_head] rows nope, cols kv_lora: k_nope = k_dec[h] . latent
  std::vector<Mat> v_dec;  // [n_head] rows head_v, cols kv_lora
};

Status read_mla_hparams(const gguf::GgufFile& f, const std::string& arch, int64_t n_embd,
                        int64_t n_head, int64_t n_ctx_train, MlaHp* hp);
Status load_mla_layer(const gguf::GgufFile& f, const MlaHp& hp, int64_t n_embd, int64_t layer,
                      MlaLayer* out);
// normed: [n][n_embd] attention inputs (after attn_norm); out: [n][n_embd] attention outputs
// (after attn_output), causal over positions 0..n-1. With `emulate`, activations are rounded
// as ggml rounds them before each non-F32 weight (round_activation), at the points llama.cpp's
// graph has them: for attn_k_b / attn_v_b files that graph runs the absorbed form (q_nope
// through attn_k_b, the attention-weighted latent through attn_v_b), so the rounded vectors
// are those; legacy attn_kv_b files decompress the latent (rounded before attn_kv_b).
void mla_forward(const MlaHp& hp, const MlaLayer& l, const std::vector<double>& normed, int64_t n,
                 int64_t n_embd, std::vector<double>& out, bool emulate = false);

}  // namespace emoe::test::ref
