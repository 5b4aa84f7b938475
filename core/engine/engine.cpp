#include "core/engine/engine.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "core/engine/forward_backend.h"
#include "core/experts/expert_cache.h"
#include "core/model/model.h"

namespace emoe::engine {

using kernels::TensorType;

struct Engine::Impl {
  Impl(const model::Model& m, EngineOptions o) : model(m), options(std::move(o)) {}

  Status validate(std::span<const BatchToken> batch) const;

  const model::Model& model;
  EngineOptions options;
  std::unique_ptr<ForwardBackend> backend;
  std::vector<ForwardObserver*> observers;
};

Status Engine::Impl::validate(std::span<const BatchToken> batch) const {
  if (batch.empty()) return invalid_argument("decode: empty batch");
  std::unordered_map<int32_t, int32_t> next;  // seq -> next expected position
  for (size_t i = 0; i < batch.size(); ++i) {
    const BatchToken& t = batch[i];
    if (t.token < 0 || t.token >= model.config().n_vocab) {
      return invalid_argument("decode: token id " + std::to_string(t.token) + " out of range [0, " +
                              std::to_string(model.config().n_vocab) + ")");
    }
    if (!backend->valid_sequence(t.seq)) {
      return invalid_argument("decode: sequence " + std::to_string(t.seq) + " does not exist");
    }
    auto it = next.try_emplace(t.seq, backend->sequence_length(t.seq)).first;
    if (t.pos != it->second) {
      return invalid_argument("decode: sequence " + std::to_string(t.seq) + " expects position " +
                              std::to_string(it->second) + ", got " + std::to_string(t.pos));
    }
    if (t.pos >= backend->n_ctx()) {
      return out_of_memory("decode: sequence " + std::to_string(t.seq) + " reached the context " +
                           "size of " + std::to_string(backend->n_ctx()) + " tokens");
    }
    ++it->second;
  }
  return Status::ok();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::create(const model::Model& model, EngineOptions options) {
  const model::ModelConfig& c = model.config();
  if (options.n_threads < 1 || options.n_threads > 512) {
    return invalid_argument("engine: thread count must be in 1..512, got " +
                            std::to_string(options.n_threads));
  }
  if (options.kv_type != TensorType::F32 && options.kv_type != TensorType::F16) {
    return invalid_argument("engine: KV cache type must be f32 or f16");
  }
  if (options.max_sequences < 1) return invalid_argument("engine: max_sequences must be >= 1");
  if (options.n_ctx <= 0) {
    options.n_ctx = c.n_ctx_train > 0 ? std::min<int64_t>(c.n_ctx_train, 4096) : 4096;
  }
  if (options.n_ctx > (int64_t{1} << 22)) {
    return invalid_argument("engine: context size " + std::to_string(options.n_ctx) +
                            " is too large");
  }
  if (options.experts.mode != RoutingMode::All && !options.experts.cache) {
    return invalid_argument("engine: routing mode '" +
                            std::string(routing_mode_name(options.experts.mode)) +
                            "' needs an expert device tier (a budget)");
  }
  if (options.device && options.experts.cache &&
      options.experts.cache->device() != options.device.get()) {
    return invalid_argument(
        "engine: the expert device tier keeps its slots in " +
        std::string(options.experts.cache->device() ? "another GPU's memory" : "host RAM") +
        " but the engine computes on the GPU; create the tier on the engine's device");
  }
  if (!options.device && options.experts.cache && options.experts.cache->device()) {
    return invalid_argument(
        "engine: the expert device tier keeps its slots in GPU memory but the engine computes "
        "on the CPU");
  }
  auto impl = std::make_unique<Impl>(model, options);
  auto backend = options.device ? make_gpu_forward(model, impl->options)
                                : make_cpu_forward(model, impl->options);
  if (!backend.ok()) return backend.status();
  impl->backend = std::move(backend).value();
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Status Engine::set_expert_access(ExpertAccess access) {
  if (access.mode != RoutingMode::All && !access.cache) {
    return invalid_argument("routing mode '" + std::string(routing_mode_name(access.mode)) +
                            "' needs an expert device tier (a budget)");
  }
  const kernels::gpu::Device* tier = access.cache ? access.cache->device() : nullptr;
  if (access.cache && tier != impl_->options.device.get()) {
    return invalid_argument(impl_->options.device
                                ? "the expert device tier must keep its slots on the engine's GPU"
                                : "the expert device tier keeps its slots in GPU memory but the "
                                  "engine computes on the CPU");
  }
  impl_->options.experts = access;
  return Status::ok();
}

const ExpertAccess& Engine::expert_access() const { return impl_->options.experts; }

const model::Model& Engine::model() const { return impl_->model; }
const EngineOptions& Engine::options() const { return impl_->options; }
const char* Engine::backend_name() const { return impl_->backend->name(); }
Result<int32_t> Engine::new_sequence() { return impl_->backend->new_sequence(); }
void Engine::free_sequence(int32_t seq) { impl_->backend->free_sequence(seq); }
int32_t Engine::sequence_length(int32_t seq) const { return impl_->backend->sequence_length(seq); }

void Engine::add_observer(ForwardObserver* observer) {
  if (observer && std::find(impl_->observers.begin(), impl_->observers.end(), observer) ==
                      impl_->observers.end()) {
    impl_->observers.push_back(observer);
  }
}

void Engine::remove_observer(ForwardObserver* observer) { std::erase(impl_->observers, observer); }

Status Engine::decode(std::span<const BatchToken> batch, std::vector<float>* logits) {
  Impl& m = *impl_;
  EMOE_RETURN_IF_ERROR(m.validate(batch));
  const ForwardContext ctx{m.observers, m.options.experts};
  EMOE_RETURN_IF_ERROR(m.backend->decode(batch, logits, ctx));
  if (!m.observers.empty()) {
    MemorySample ms;
    ms.dense_bytes = m.backend->dense_weight_bytes();
    ms.expert_bytes = m.model.weights().expert_bytes;
    if (experts::ExpertCache* cache = m.options.experts.cache) {
      ms.expert_bytes = cache->stats().resident_bytes;
      ms.expert_budget = cache->budget_bytes();
    }
    ms.kv_bytes = m.backend->kv_bytes();
    ms.scratch_bytes = m.backend->scratch_bytes();
    for (ForwardObserver* o : m.observers) o->on_memory_sample(ms);
  }
  return Status::ok();
}

}  // namespace emoe::engine
