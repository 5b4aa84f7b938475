#include "core/engine/gpu_forward.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/experts/expert_cache.h"
#include "core/model/model.h"
#include "kernels/cpu/matmul.h"

namespace emoe::engine {
namespace {

// "cuda:N" for a CUDA device; devices without a compute capability (the host reference device
// of the GPU checks) go by their name.
std::string backend_name(const kernels::gpu::Device& device) {
  const kernels::gpu::DeviceInfo& info = device.info();
  if (info.cc_major > 0) return "cuda:" + std::to_string(info.index);
  return info.name.empty() ? std::string("gpu") : info.name;
}

Status check_tier(const ExpertAccess& access, const kernels::gpu::Device* device) {
  if (!access.cache || access.cache->device() == device) return Status::ok();
  return invalid_argument(
      std::string("GPU forward: the expert device tier keeps its slots in ") +
      (access.cache->device() ? "another GPU's memory" : "host RAM") +
      ", but this engine computes on " + device->info().name +
      "; create the tier with ExpertCacheOptions::device set to the engine's device");
}

}  // namespace

GpuForward::GpuForward(const model::Model& model, const EngineOptions& options,
                       DeviceWeights weights)
    : device_(options.device),
      model_(model),
      config_(model.config()),
      name_(backend_name(*options.device)),
      weights_(std::move(weights)),
      kv_(*options.device, config_.n_layer, options.n_ctx,
          config_.mla ? config_.n_lora_kv + config_.n_rot : config_.n_embd_kv(),
          config_.mla ? 0 : config_.n_embd_kv(), options.kv_type, options.max_sequences),
      shape_(StepShape::of(config_, model.weights())) {}

// Uploads the step's embedding rows into b.x and its index arrays (positions, a zero sequence
// index per token, attended lengths, cache row offsets, the rows whose logits were asked for)
// in one upload; splits the batch into runs of one sequence.
Status GpuForward::prepare_step(std::span<const BatchToken> batch, int64_t* n_out) {
  kernels::gpu::Device& dev = *device_;
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = config_.n_embd;
  EMOE_RETURN_IF_ERROR(step_.reserve(dev, shape_, n));
  const StepBuffers& b = step_.buffers();
  const auto cap = static_cast<size_t>(step_.capacity());

  host_x_.resize(static_cast<size_t>(n * d));
  const kernels::MatrixView& embd = model_.weights().token_embd;
  for (int64_t t = 0; t < n; ++t) {
    kernels::get_row(embd, batch[static_cast<size_t>(t)].token, host_x_.data() + t * d);
  }
  EMOE_RETURN_IF_GPU_ERROR(dev.upload(b.x, host_x_.data(), host_x_.size() * sizeof(float)),
                           "GPU forward: uploading the token embeddings");

  step_arrays_.assign(step_.step_array_bytes(), 0);
  auto* pos = reinterpret_cast<int32_t*>(step_arrays_.data());
  auto* n_pos = reinterpret_cast<int32_t*>(step_arrays_.data() + cap * 8);
  auto* out_rows = reinterpret_cast<int32_t*>(step_arrays_.data() + cap * 12);
  auto* k_off = reinterpret_cast<int64_t*>(step_arrays_.data() + cap * 16);
  auto* v_off = reinterpret_cast<int64_t*>(step_arrays_.data() + cap * 24);
  runs_.clear();
  *n_out = 0;
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& bt = batch[static_cast<size_t>(t)];
    pos[t] = bt.pos;
    n_pos[t] = bt.pos + 1;
    k_off[t] = static_cast<int64_t>(bt.pos) * kv_.k_width();
    v_off[t] = static_cast<int64_t>(bt.pos) * kv_.v_width();
    if (bt.logits) out_rows[(*n_out)++] = static_cast<int32_t>(t);
    if (runs_.empty() || runs_.back().seq != bt.seq) {
      runs_.push_back({t, 0, bt.seq});
    }
    ++runs_.back().count;
  }
  EMOE_RETURN_IF_GPU_ERROR(dev.upload(b.step_arrays, step_arrays_.data(), step_arrays_.size()),
                           "GPU forward: uploading the step's positions and offsets");
  return Status::ok();
}

// The rows whose logits were asked for, gathered, through output_norm and the output matrix.
Status GpuForward::output(int64_t n_out, std::vector<float>* logits) {
  logits->resize(static_cast<size_t>(n_out * config_.n_vocab));
  if (n_out == 0) return Status::ok();
  kernels::gpu::Device& dev = *device_;
  const StepBuffers& b = step_.buffers();
  const int64_t d = config_.n_embd;
  EMOE_RETURN_IF_GPU_ERROR(dev.gather_rows(b.x, d, b.out_rows, n_out, b.cur),
                           "GPU forward: gathering the output rows");
  EMOE_RETURN_IF_GPU_ERROR(
      dev.rms_norm(b.cur, d, weights_.output_norm(), config_.rms_eps, n_out, d, b.cur, d),
      "GPU forward: output_norm");
  EMOE_RETURN_IF_GPU_ERROR(
      dev.matmul(weights_.output(), b.cur, n_out, d, b.logits, config_.n_vocab),
      "GPU forward: output");
  EMOE_RETURN_IF_GPU_ERROR(dev.download(logits->data(), b.logits, logits->size() * sizeof(float)),
                           "GPU forward: downloading the logits");
  return Status::ok();
}

Status GpuForward::decode(std::span<const BatchToken> batch, std::vector<float>* logits,
                          const ForwardContext& ctx) {
  kernels::gpu::Device& dev = *device_;
  EMOE_RETURN_IF_ERROR(check_tier(ctx.experts, device_.get()));
  // An engine created with a tier and switched to "all" without one computes with every
  // expert, which then has to be on the device.
  if (!ctx.experts.cache) EMOE_RETURN_IF_ERROR(weights_.upload_experts(dev, model_.weights()));
  const int64_t n = static_cast<int64_t>(batch.size());
  const int64_t d = config_.n_embd;
  int64_t n_out = 0;
  EMOE_RETURN_IF_ERROR(prepare_step(batch, &n_out));
  const StepBuffers& b = step_.buffers();
  const GpuLayerContext lc{dev, config_, weights_, kv_, b, batch, runs_};

  for (int32_t il = 0; il < config_.n_layer; ++il) {
    const DeviceLayer& lw = weights_.layer(il);
    // Built only when a call fails.
    auto layer = [il] { return "GPU forward, layer " + std::to_string(il); };
    EMOE_RETURN_IF_GPU_ERROR(dev.rms_norm(b.x, d, lw.attn_norm, config_.rms_eps, n, d, b.cur, d),
                             layer() + ", attn_norm");
    EMOE_RETURN_IF_ERROR(gpu_attention(lc, il));
    EMOE_RETURN_IF_GPU_ERROR(dev.add(b.x, b.ffn_out, n * d, b.x), layer() + ", attention residual");
    EMOE_RETURN_IF_GPU_ERROR(dev.rms_norm(b.x, d, lw.ffn_norm, config_.rms_eps, n, d, b.cur, d),
                             layer() + ", ffn_norm");
    EMOE_RETURN_IF_ERROR(gpu_ffn(lc, model_.weights().layers[static_cast<size_t>(il)], il,
                                 ctx.observers, ctx.experts, moe_));
    EMOE_RETURN_IF_GPU_ERROR(dev.add(b.x, b.ffn_out, n * d, b.x), layer() + ", ffn residual");
    if (!ctx.observers.empty()) {
      host_x_.resize(static_cast<size_t>(n * d));
      EMOE_RETURN_IF_GPU_ERROR(dev.download(host_x_.data(), b.x, host_x_.size() * sizeof(float)),
                               layer() + ", downloading the layer output");
      for (ForwardObserver* o : ctx.observers) o->on_layer_output(il, batch, host_x_.data(), d);
    }
  }
  if (logits) EMOE_RETURN_IF_ERROR(output(n_out, logits));
  // Only a step that ran to the end advances its sequences, so a failed one can be retried.
  for (const BatchToken& t : batch) kv_.set_length(t.seq, t.pos + 1);
  return Status::ok();
}

Result<std::unique_ptr<ForwardBackend>> make_gpu_forward(const model::Model& model,
                                                         const EngineOptions& options) {
  if (!options.device) return invalid_argument("GPU forward: no device given");
  if (options.n_ctx <= 0) {
    return invalid_argument("GPU forward: context size " + std::to_string(options.n_ctx) +
                            " must be positive");
  }
  if (options.n_ctx > kernels::gpu::kMaxAttentionContext) {
    return invalid_argument("GPU forward: context size " + std::to_string(options.n_ctx) +
                            " exceeds the GPU attention kernel's limit of " +
                            std::to_string(kernels::gpu::kMaxAttentionContext) + " tokens");
  }
  if (options.kv_type != kernels::TensorType::F32 && options.kv_type != kernels::TensorType::F16) {
    return invalid_argument("GPU forward: KV cache type must be f32 or f16");
  }
  EMOE_RETURN_IF_ERROR(check_tier(options.experts, options.device.get()));
  auto weights = DeviceWeights::upload(*options.device, model.config(), model.weights(),
                                       /*with_experts=*/options.experts.cache == nullptr);
  if (!weights.ok()) return weights.status();
  return std::unique_ptr<ForwardBackend>(
      new GpuForward(model, options, std::move(weights).value()));
}

}  // namespace emoe::engine
