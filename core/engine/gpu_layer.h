// The halves of one transformer layer on the GPU, each queued on the device's compute stream:
// attention (llama-style with the architectures' extras, or multi-head latent attention) and
// the feed-forward block (dense, or MoE with host routing between the router and the experts).
// They mirror the CPU backend (cpu_forward.cpp, mla_attention.cpp, moe_layer.cpp) operation by
// operation, so the two backends differ only by the kernels' float rounding.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/batch.h"
#include "core/engine/device_kv_cache.h"
#include "core/engine/device_weights.h"
#include "core/engine/forward_observer.h"
#include "core/engine/gpu_step.h"
#include "core/engine/moe_layer.h"
#include "core/model/model_config.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::engine {

// Consecutive batch tokens of one sequence: the unit of KV writes and attention calls, since
// each sequence's cache is its own allocation.
struct SeqRun {
  int64_t start = 0, count = 0;
  int32_t seq = 0;
};

// What a layer reads during one step. b.pos, b.zero, b.n_pos, b.k_off and b.v_off hold the
// step's arrays already.
struct GpuLayerContext {
  kernels::gpu::Device& device;
  const model::ModelConfig& config;
  const DeviceWeights& weights;
  DeviceKvCache& kv;
  const StepBuffers& b;
  std::span<const BatchToken> batch;
  std::span<const SeqRun> runs;
};

// b.cur (after attn_norm) -> b.ffn_out (after attn_output); stores each token's cache rows.
Status gpu_attention(const GpuLayerContext& ctx, int32_t layer);

// Scratch kept across steps so the MoE path does not allocate once warmed up.
struct GpuMoeScratch {
  MoeWorkspace ws;              // routing on the host (route_tokens)
  std::vector<uint8_t> arrays;  // the MoE index arrays as uploaded
};

// b.cur (after ffn_norm) -> b.ffn_out: the dense FFN, or the MoE block (router on the device,
// routing on the host, each used expert once over its group, the shared expert). Experts come
// from access.cache (on this device) or, without one, from the uploaded expert tensors.
Status gpu_ffn(const GpuLayerContext& ctx, const model::LayerWeights& host, int32_t layer,
               std::span<ForwardObserver* const> observers, const ExpertAccess& access,
               GpuMoeScratch& scratch);

}  // namespace emoe::engine
