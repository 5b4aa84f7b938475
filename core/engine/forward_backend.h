// The engine's backend interface: where a forward step runs and where the KV cache lives. The
// CPU backend (cpu_forward) and the GPU backend (gpu_forward, over kernels/gpu's Device) both
// implement it; Engine validates a step, then hands it to its backend, so nothing above the
// engine knows which one runs.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/batch.h"
#include "core/engine/forward_observer.h"
#include "core/engine/moe_layer.h"

namespace emoe::model {
class Model;
}

namespace emoe::engine {

struct EngineOptions;

// What one step may use besides its tokens; valid for the duration of decode().
struct ForwardContext {
  std::span<ForwardObserver* const> observers;
  const ExpertAccess& experts;
};

class ForwardBackend {
 public:
  virtual ~ForwardBackend() = default;

  virtual const char* name() const = 0;  // "cpu", "cuda:0", ...
  // Sequences and their KV cache (the cache lives with the backend: host or device memory).
  virtual Result<int32_t> new_sequence() = 0;  // OutOfMemory when max_sequences are in use
  virtual void free_sequence(int32_t seq) = 0;
  virtual bool valid_sequence(int32_t seq) const = 0;
  virtual int32_t sequence_length(int32_t seq) const = 0;
  virtual int64_t n_ctx() const = 0;

  // One step whose tokens, sequences and positions Engine has validated. Runs every layer,
  // reports routing and layer outputs to ctx.observers, advances the sequences' lengths only
  // on success, and fills logits as Engine::decode documents.
  virtual Status decode(std::span<const BatchToken> batch, std::vector<float>* logits,
                        const ForwardContext& ctx) = 0;

  // For memory samples: bytes of weights held by the backend (0 when they stay in the mapped
  // file), of the KV cache of live sequences, and of step buffers.
  virtual uint64_t dense_weight_bytes() const = 0;
  virtual uint64_t kv_bytes() const = 0;
  virtual uint64_t scratch_bytes() const = 0;
};

Result<std::unique_ptr<ForwardBackend>> make_cpu_forward(const model::Model& model,
                                                         const EngineOptions& options);
// options.device must be set. Uploads the dense weights (and, without an expert tier, every
// expert) to the device; OutOfMemory naming the sizes when they do not fit.
Result<std::unique_ptr<ForwardBackend>> make_gpu_forward(const model::Model& model,
                                                         const EngineOptions& options);

}  // namespace emoe::engine
