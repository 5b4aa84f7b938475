// Runs forward steps of one model over batches of tokens from several sequences, each with its
// own KV-cache slots. Owns no global state; several engines may share one Model.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/batch.h"
#include "core/engine/forward_observer.h"
#include "core/engine/moe_layer.h"
#include "kernels/tensor_type.h"

namespace emoe::model {
class Model;
}
namespace emoe::kernels::gpu {
class Device;
}

namespace emoe::engine {

struct EngineOptions {
  int n_threads = 1;
  int64_t n_ctx = 0;  // tokens per sequence; 0: the model's training context, at most 4096
  kernels::TensorType kv_type = kernels::TensorType::F32;  // F32 or F16
  int max_sequences = 1;
  // Routing mode and expert device tier (not owned; must outlive the engine). Default: all
  // experts straight from the mapped file.
  ExpertAccess experts;
  // The GPU to compute on (compute_device.h); null: the CPU. An expert tier used with a GPU
  // engine must keep its slots on the same device (ExpertCacheOptions::device).
  std::shared_ptr<kernels::gpu::Device> device;
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> create(const model::Model& model, EngineOptions options);
  ~Engine();

  const model::Model& model() const;
  const EngineOptions& options() const;
  const char* backend_name() const;  // "cpu", "cuda:0", ...

  Result<int32_t> new_sequence();  // OutOfMemory when max_sequences are in use
  void free_sequence(int32_t seq);
  int32_t sequence_length(int32_t seq) const;  // tokens already in its KV cache

  // One forward step. logits receives [n][n_vocab] rows, one per token with logits=true, in
  // batch order. Positions must continue each sequence; exceeding n_ctx is an error.
  Status decode(std::span<const BatchToken> batch, std::vector<float>* logits);

  // Switches routing mode or device tier between requests (not during decode()).
  Status set_expert_access(ExpertAccess access);
  const ExpertAccess& expert_access() const;

  void add_observer(ForwardObserver* observer);
  void remove_observer(ForwardObserver* observer);

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace emoe::engine
