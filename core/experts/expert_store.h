// The host tier: every (layer, expert)'s gate/up/down matrices as views into the mmapped model
// file, and how one expert is laid out when copied into a device-tier slot.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/model_config.h"
#include "core/model/model_weights.h"
#include "kernels/cpu/matmul.h"

namespace emoe::experts {

// The three matrices of one expert, wherever they live (host file or a device-tier slot).
struct ExpertMatrices {
  kernels::MatrixView gate;  // [n_ff_exp][n_embd]
  kernels::MatrixView up;    // [n_ff_exp][n_embd]
  kernels::MatrixView down;  // [n_embd][n_ff_exp]
};

// Byte ranges of gate, up and down inside one expert's contiguous copy.
struct ExpertLayout {
  size_t gate_offset = 0, gate_bytes = 0;
  size_t up_offset = 0, up_bytes = 0;
  size_t down_offset = 0, down_bytes = 0;
  size_t total = 0;  // bytes of one expert of this layer
};

class ExpertStore {
 public:
  ExpertStore(const model::ModelConfig& config, const model::ModelWeights& weights);

  int32_t n_layer() const { return static_cast<int32_t>(layouts_.size()); }
  int32_t n_expert() const { return n_expert_; }
  int32_t n_expert_used() const { return n_expert_used_; }
  const ExpertLayout& layout(int32_t layer) const { return layouts_[static_cast<size_t>(layer)]; }
  uint64_t total_bytes() const { return total_bytes_; }     // all experts of all layers
  uint64_t max_expert_bytes() const { return max_bytes_; }  // the largest single expert

  // Views into the mapped file (the host tier).
  ExpertMatrices host(int32_t layer, int32_t expert) const;
  // Views into a copy at `base` laid out as layout(layer).
  ExpertMatrices at(int32_t layer, const uint8_t* base) const;
  // Copies the expert's gate, up and down bytes to dst (layout(layer).total bytes).
  void copy_to(int32_t layer, int32_t expert, uint8_t* dst) const;

 private:
  const model::ModelWeights& weights_;
  int32_t n_expert_ = 0;
  int32_t n_expert_used_ = 0;
  std::vector<ExpertLayout> layouts_;
  uint64_t total_bytes_ = 0;
  uint64_t max_bytes_ = 0;
};

}  // namespace emoe::experts
