// Feed-forward halves of the GPU layer (gpu_layer.h).
#include <cstring>
#include <string>
#include <vector>

#include "core/engine/gpu_layer.h"
#include "core/engine/moe_routing.h"
#include "core/experts/expert_cache.h"

namespace emoe::engine {
namespace {

using kernels::gpu::StreamId;

// Names a failing call's place ("GPU forward, layer 3, expert 5 gate"); built only on failure.
struct Where {
  int32_t layer;
  const char* part;
  int32_t expert = -1;
  std::string operator()(const char* step) const {
    std::string s = "GPU forward, layer ";
    s += std::to_string(layer);
    s += ", ";
    s += part;
    if (expert >= 0) {
      s += ' ';
      s += std::to_string(expert);
    }
    if (*step) {
      s += ' ';
      s += step;
    }
    return s;
  }
};

std::string where(int32_t layer, const char* what) { return Where{layer, what}(""); }

// down(silu(gate x) * up x) of m rows of x into y; gate/up/h are [m][ff] scratch.
Status swiglu(kernels::gpu::Device& dev, const kernels::MatrixView& gate,
              const kernels::MatrixView& up, const kernels::MatrixView& down, const float* x,
              int64_t m, int64_t d, const StepBuffers& b, float* y, const Where& at) {
  const int64_t ff = gate.rows;
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(gate, x, m, d, b.gate, ff), at("gate"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(up, x, m, d, b.up, ff), at("up"));
  EMOE_RETURN_IF_GPU_ERROR(dev.silu_mul(b.gate, b.up, m * ff, b.h), at("silu_mul"));
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(down, b.h, m, ff, y, d), at("down"));
  return Status::ok();
}

// The shared expert added to ffn_out after the routed sum (moe_layer.cpp's add_shared_expert):
// gated by sigmoid(gate_inp . x) for qwen2moe, plain for DeepSeek.
Status shared_expert(const GpuLayerContext& ctx, const DeviceLayer& lw, int32_t layer) {
  kernels::gpu::Device& dev = ctx.device;
  const StepBuffers& b = ctx.b;
  const int64_t n = static_cast<int64_t>(ctx.batch.size()), d = ctx.config.n_embd;
  if (ctx.config.shexp_gated) {
    EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.shexp_gate_inp, b.cur, n, d, b.sh_logit, 1),
                             where(layer, "ffn_gate_inp_shexp"));
  }
  EMOE_RETURN_IF_ERROR(swiglu(dev, lw.ffn_gate_shexp, lw.ffn_up_shexp, lw.ffn_down_shexp, b.cur, n,
                              d, b, b.down, Where{layer, "shared expert"}));
  if (ctx.config.shexp_gated) {
    EMOE_RETURN_IF_GPU_ERROR(dev.add_gated(b.ffn_out, b.down, b.sh_logit, n, d),
                             where(layer, "shared expert gate"));
  } else {
    EMOE_RETURN_IF_GPU_ERROR(dev.add(b.ffn_out, b.down, n * d, b.ffn_out),
                             where(layer, "shared expert add"));
  }
  return Status::ok();
}

Status moe(const GpuLayerContext& ctx, const model::LayerWeights& host, int32_t layer,
           std::span<ForwardObserver* const> observers, const ExpertAccess& access,
           GpuMoeScratch& scratch) {
  kernels::gpu::Device& dev = ctx.device;
  const model::ModelConfig& c = ctx.config;
  const DeviceLayer& lw = ctx.weights.layer(layer);
  const StepBuffers& b = ctx.b;
  const int64_t n = static_cast<int64_t>(ctx.batch.size());
  const int64_t n_exp = c.n_expert, k = c.n_expert_used, d = c.n_embd;
  MoeWorkspace& ws = scratch.ws;
  experts::ExpertCache* cache = access.cache;

  // The router runs on the device; routing decisions (and the observers) are the host's.
  EMOE_RETURN_IF_GPU_ERROR(dev.matmul(lw.router, b.cur, n, d, b.router, n_exp),
                           where(layer, "ffn_gate_inp"));
  ws.logits.resize(static_cast<size_t>(n * n_exp));
  EMOE_RETURN_IF_GPU_ERROR(dev.download(ws.logits.data(), b.router, ws.logits.size() * 4),
                           where(layer, "downloading router logits"));
  EMOE_RETURN_IF_ERROR(route_tokens(c, host, layer, ctx.batch, observers, access, ws));

  // Every group's rows in expert order: token index (gather), slot t * k + j (scatter) and the
  // slot's weight, one upload for the layer.
  const size_t cap = static_cast<size_t>(b.capacity * k);  // the device region's layout
  scratch.arrays.assign(cap * 12, 0);
  auto* tok = reinterpret_cast<int32_t*>(scratch.arrays.data());
  auto* slot = reinterpret_cast<int32_t*>(scratch.arrays.data() + cap * 4);
  auto* wt = reinterpret_cast<float*>(scratch.arrays.data() + cap * 8);
  struct Group {
    int32_t expert;
    int64_t offset, count;
  };
  std::vector<Group> groups;
  int64_t at = 0;
  for (int32_t e = 0; e < n_exp; ++e) {
    const std::vector<int32_t>& g = ws.groups[static_cast<size_t>(e)];
    if (g.empty()) continue;
    groups.push_back({e, at, static_cast<int64_t>(g.size())});
    for (int32_t s : g) {
      tok[at] = static_cast<int32_t>(s / k);
      slot[at] = s;
      wt[at] = ws.used_w[static_cast<size_t>(s)];
      ++at;
    }
  }
  if (!cache && !groups.empty() && !lw.gate_exps.data) {
    return internal_error(where(layer, "the expert weights are not on the device"));
  }
  EMOE_RETURN_IF_GPU_ERROR(dev.upload(b.moe_arrays, scratch.arrays.data(), scratch.arrays.size()),
                           where(layer, "uploading expert groups"));
  // Slots no expert fills (fallback with fewer resident experts) must add zero.
  EMOE_RETURN_IF_GPU_ERROR(
      dev.memset_async(b.slots, 0, static_cast<uint64_t>(n * k * d) * 4, StreamId::Compute),
      where(layer, "clearing expert slots"));
  for (const Group& g : groups) {
    const Where at{layer, "expert", g.expert};
    experts::ExpertMatrices mats;
    // Held until this expert's kernels are queued: dropping it then lets the tier reuse the
    // slot only after those kernels have run. One expert at a time, as the CPU backend, so a
    // batch may use more experts than the tier has slots.
    experts::ExpertHandle handle;
    if (cache) {
      // Fallback only chose resident experts; exact and all load what is missing.
      auto h = cache->acquire(layer, g.expert, access.mode != RoutingMode::Fallback);
      if (!h.ok()) return h.status();
      if (!*h) {
        return internal_error("expert " + std::to_string(g.expert) + " of layer " +
                              std::to_string(layer) + " left the device tier during its step");
      }
      handle = std::move(h).value();
      mats = handle.matrices();
      // The compute stream waits for the layer's copies so far (no host block).
      EMOE_RETURN_IF_ERROR(cache->make_layer_ready(layer));
    } else {
      mats = {lw.gate_exps.expert(g.expert), lw.up_exps.expert(g.expert),
              lw.down_exps.expert(g.expert)};
    }
    EMOE_RETURN_IF_GPU_ERROR(dev.gather_rows(b.cur, d, b.moe_tok + g.offset, g.count, b.xs),
                             at("gather"));
    EMOE_RETURN_IF_ERROR(
        swiglu(dev, mats.gate, mats.up, mats.down, b.xs, g.count, d, b, b.down, at));
    EMOE_RETURN_IF_GPU_ERROR(dev.scatter_scaled_rows(b.down, d, b.moe_slot + g.offset,
                                                     b.moe_w + g.offset, g.count, b.slots),
                             at("scatter"));
  }
  // The weighted outputs summed in top-k slot order, as ggml adds its views.
  EMOE_RETURN_IF_GPU_ERROR(dev.sum_slots(b.slots, n, k, d, b.ffn_out),
                           where(layer, "summing expert slots"));
  if (c.has_shared_expert()) EMOE_RETURN_IF_ERROR(shared_expert(ctx, lw, layer));
  return Status::ok();
}

}  // namespace

Status gpu_ffn(const GpuLayerContext& ctx, const model::LayerWeights& host, int32_t layer,
               std::span<ForwardObserver* const> observers, const ExpertAccess& access,
               GpuMoeScratch& scratch) {
  if (ctx.config.layer_is_moe(layer)) {
    return moe(ctx, host, layer, observers, access, scratch);
  }
  const DeviceLayer& lw = ctx.weights.layer(layer);
  return swiglu(ctx.device, lw.ffn_gate, lw.ffn_up, lw.ffn_down, ctx.b.cur,
                static_cast<int64_t>(ctx.batch.size()), ctx.config.n_embd, ctx.b, ctx.b.ffn_out,
                Where{layer, "ffn"});
}

}  // namespace emoe::engine
