// One device-memory budget split between dense weights, the expert tier, scratch buffers and
// the KV cache: the KV cache gets what remains, so a smaller expert budget buys a longer
// context (or more concurrent sequences), the trade eMoE measures.
#pragma once

#include <cstdint>

#include "core/common/status.h"
#include "kernels/tensor_type.h"

namespace emoe::model {
struct ModelConfig;
struct ModelWeights;
}  // namespace emoe::model

namespace emoe::experts {

class ExpertStore;

struct MemoryPlan {
  uint64_t device_bytes = 0;        // the whole budget
  uint64_t dense_bytes = 0;         // every non-expert weight
  uint64_t expert_bytes = 0;        // the expert tier (slots x slot size)
  uint64_t all_expert_bytes = 0;    // what every expert would take
  uint64_t scratch_bytes = 0;       // step buffers for a batch of n_batch tokens
  uint64_t kv_bytes_per_token = 0;  // K and V of every layer for one token
  uint64_t kv_bytes = 0;            // what remains for the KV cache
  int64_t max_context = 0;          // tokens the KV cache holds (all sequences together)
};

struct MemoryPlanOptions {
  uint64_t device_bytes = 0;   // 0: dense + all experts + scratch + KV for n_ctx_train tokens
  uint64_t expert_budget = 0;  // 0: all experts
  kernels::TensorType kv_type = kernels::TensorType::F32;
  int64_t n_batch = 512;  // tokens per step the scratch buffers are sized for
};

// Fails with a message naming the minimum when the device budget cannot hold the dense
// weights, the minimum expert tier and scratch, or when the expert budget is below its minimum.
Result<MemoryPlan> plan_memory(const model::ModelConfig& config, const model::ModelWeights& weights,
                               const ExpertStore& store, const MemoryPlanOptions& options);

}  // namespace emoe::experts
