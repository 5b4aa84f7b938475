// The model's weights as the GPU backend computes with them: every non-expert matrix copied to
// device memory byte for byte as in the file (legacy MLA files: the F32 rearrangements that
// LayerWeights::mla_kb / mla_vb own), norms and biases as floats, and, when no expert tier pages
// them, every expert tensor. The token embedding stays on the host (rows are looked up per step).
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/engine/device_buffer.h"
#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::engine {

// Device twins of model::LayerWeights; a pointer or MatrixView::data is null where the layer
// has no such weight.
struct DeviceLayer {
  const float* attn_norm = nullptr;  // [n_embd]
  kernels::MatrixView wq, wk, wv, wo;
  const float *bq = nullptr, *bk = nullptr, *bv = nullptr;
  const float *attn_q_norm = nullptr, *attn_k_norm = nullptr;
  const float* ffn_norm = nullptr;  // [n_embd]

  kernels::MatrixView wq_a, wq_b, wkv_a_mqa, wk_b, wv_b;
  const float *attn_q_a_norm = nullptr, *attn_kv_a_norm = nullptr;

  kernels::MatrixView router;
  // Expert tensors (data: device base of expert 0) once uploaded; else data is null.
  model::ExpertTensor gate_exps, up_exps, down_exps;
  kernels::MatrixView shexp_gate_inp;  // [1][n_embd] F32: the shared expert's gate logit
  kernels::MatrixView ffn_gate_shexp, ffn_up_shexp, ffn_down_shexp;
  kernels::MatrixView ffn_gate, ffn_up, ffn_down;
};

class DeviceWeights {
 public:
  // Uploads the dense weights; with `with_experts`, every expert tensor as well. OutOfMemory
  // naming the bytes needed and free when they do not fit.
  static Result<DeviceWeights> upload(kernels::gpu::Device& device,
                                      const model::ModelConfig& config,
                                      const model::ModelWeights& weights, bool with_experts);
  // Uploads every expert tensor (a no-op when they are already there).
  Status upload_experts(kernels::gpu::Device& device, const model::ModelWeights& weights);
  bool has_experts() const { return experts_.bytes() > 0 || !expert_tensors_; }

  const DeviceLayer& layer(int64_t il) const { return layers_[static_cast<size_t>(il)]; }
  const float* output_norm() const { return output_norm_; }
  const kernels::MatrixView& output() const { return output_; }
  // [n_head * n_rot][n_rot] F32: n_head stacked identities. matmul_heads with it copies each
  // head's rope part into the latent query exactly (x * 1 + 0 * ... is exact in float).
  const kernels::MatrixView& mla_rope_copy() const { return rope_copy_; }

  uint64_t dense_bytes() const { return dense_.bytes(); }
  uint64_t expert_bytes() const { return experts_.bytes(); }

 private:
  std::vector<DeviceLayer> layers_;
  const float* output_norm_ = nullptr;
  kernels::MatrixView output_;
  kernels::MatrixView rope_copy_;
  bool expert_tensors_ = false;  // the model has expert tensors at all
  std::vector<float> rope_copy_host_;
  DeviceBuffer dense_;
  DeviceBuffer experts_;
};

}  // namespace emoe::engine
