// The GPU backend (forward_backend.h's make_gpu_forward): the CPU backend's layer flow on a
// kernels::gpu::Device. Dense weights (and, without an expert tier, every expert) are uploaded
// once; the KV cache lives in device memory; each step uploads its embedding rows and index
// arrays once, queues every layer on the compute stream, downloads the router logits of MoE
// layers for host routing, and downloads the requested logits at the end.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/device_kv_cache.h"
#include "core/engine/device_weights.h"
#include "core/engine/engine.h"
#include "core/engine/forward_backend.h"
#include "core/engine/gpu_layer.h"
#include "core/engine/gpu_step.h"

namespace emoe::engine {

class GpuForward final : public ForwardBackend {
 public:
  // Use make_gpu_forward(); options.device is set and options.n_ctx resolved.
  GpuForward(const model::Model& model, const EngineOptions& options, DeviceWeights weights);

  const char* name() const override { return name_.c_str(); }
  Result<int32_t> new_sequence() override { return kv_.add_sequence(); }
  void free_sequence(int32_t seq) override { kv_.remove_sequence(seq); }
  bool valid_sequence(int32_t seq) const override { return kv_.valid(seq); }
  int32_t sequence_length(int32_t seq) const override { return kv_.length(seq); }
  int64_t n_ctx() const override { return kv_.n_ctx(); }
  Status decode(std::span<const BatchToken> batch, std::vector<float>* logits,
                const ForwardContext& ctx) override;
  uint64_t dense_weight_bytes() const override { return weights_.dense_bytes(); }
  uint64_t kv_bytes() const override { return kv_.bytes_allocated(); }
  uint64_t scratch_bytes() const override { return step_.bytes(); }

 private:
  Status prepare_step(std::span<const BatchToken> batch, int64_t* n_out);
  Status output(int64_t n_out, std::vector<float>* logits);

  std::shared_ptr<kernels::gpu::Device> device_;  // declared first: destroyed last
  const model::Model& model_;
  const model::ModelConfig& config_;
  std::string name_;
  DeviceWeights weights_;
  DeviceKvCache kv_;
  StepShape shape_;
  StepArena step_;
  GpuMoeScratch moe_;
  std::vector<SeqRun> runs_;
  std::vector<uint8_t> step_arrays_;  // host image of StepBuffers::step_arrays
  std::vector<float> host_x_;         // embedding rows, then layer outputs for observers
};

}  // namespace emoe::engine
