// The GPU forward pass's per-step device buffers: activations, attention and expert scratch
// and the small index arrays a step uploads, carved out of one device allocation sized for a
// token count and regrown when a larger batch arrives.
#pragma once

#include <cstdint>

#include "core/common/status.h"
#include "core/engine/device_buffer.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::engine {

// Widths the buffers need (floats per token unless noted), fixed per model.
struct StepShape {
  int64_t n_embd = 0;
  int64_t n_q = 0, n_kv = 0;    // standard attention: query and key/value widths
  int64_t n_ff_max = 0;         // widest FFN: dense, routed expert or shared expert
  int64_t n_expert = 0, k = 0;  // experts per layer, used per token
  int64_t n_vocab = 0;
  // Latent attention (0 without): [qa | q | kv | qcat | lat | attn] widths.
  int64_t mla_qa = 0, mla_q = 0, mla_kv = 0, mla_qcat = 0, mla_lat = 0, mla_attn = 0;

  static StepShape of(const model::ModelConfig& c, const model::ModelWeights& w);
};

// Device pointers for a step of at most capacity() tokens. Index arrays are laid out so one
// upload fills each group: the step arrays (StepArrays in the .cpp) and the MoE arrays.
struct StepBuffers {
  int64_t capacity = 0;  // tokens; the index regions are laid out for this many
  float *x = nullptr, *cur = nullptr, *ffn_out = nullptr;               // [n][n_embd]
  float *q = nullptr, *k = nullptr, *v = nullptr, *attn = nullptr;      // standard attention
  float *qa = nullptr, *qcat = nullptr, *kv = nullptr, *lat = nullptr;  // latent attention
  float *gate = nullptr, *up = nullptr, *h = nullptr;                   // [n][n_ff_max]
  float* router = nullptr;                                              // [n][n_expert]
  float *xs = nullptr, *down = nullptr;                                 // [n][n_embd], one group
  float* slots = nullptr;                                               // [n][k][n_embd]
  float* sh_logit = nullptr;                                            // [n]
  float* logits = nullptr;                                              // [n][n_vocab]
  // Step arrays, one region: int32 pos, zero, n_pos, out_rows [cap] then int64 k_off, v_off.
  uint8_t* step_arrays = nullptr;
  int32_t *pos = nullptr, *zero = nullptr, *n_pos = nullptr, *out_rows = nullptr;
  int64_t *k_off = nullptr, *v_off = nullptr;
  // MoE arrays, one region: int32 tok, int32 slot, float w, [cap * k] each.
  uint8_t* moe_arrays = nullptr;
  int32_t *moe_tok = nullptr, *moe_slot = nullptr;
  float* moe_w = nullptr;
};

class StepArena {
 public:
  // Grows the allocation (and repoints buffers()) when n_tokens exceeds the capacity.
  Status reserve(kernels::gpu::Device& device, const StepShape& shape, int64_t n_tokens);
  int64_t capacity() const { return capacity_; }
  const StepBuffers& buffers() const { return b_; }
  uint64_t bytes() const { return buffer_.bytes(); }

  // Byte sizes and offsets of the two index regions for the current capacity.
  uint64_t step_array_bytes() const { return static_cast<uint64_t>(capacity_) * 32; }
  uint64_t moe_array_bytes() const { return static_cast<uint64_t>(capacity_ * k_) * 12; }

 private:
  DeviceBuffer buffer_;
  StepBuffers b_;
  int64_t capacity_ = 0;
  int64_t k_ = 0;
};

}  // namespace emoe::engine
