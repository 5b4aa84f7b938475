#include "core/experts/expert_store.h"

#include <cstring>

namespace emoe::experts {
namespace {

constexpr size_t kAlign = 64;  // cache line; also what SIMD loads and GPU copies like
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

bool has_experts(const model::LayerWeights& l) {
  return l.gate_exps.data != nullptr && l.up_exps.data != nullptr && l.down_exps.data != nullptr &&
         l.gate_exps.n_expert > 0;
}

kernels::MatrixView view_at(const model::ExpertTensor& t, const uint8_t* data) {
  return {t.type, t.rows, t.cols, t.row_stride, data};
}

}  // namespace

ExpertStore::ExpertStore(const model::ModelConfig& config, const model::ModelWeights& weights)
    : weights_(weights) {
  const size_t n_layer = config.n_layer > 0 ? static_cast<size_t>(config.n_layer) : 0;
  layouts_.resize(n_layer);
  if (!config.is_moe()) return;  // a dense model: n_layer() layers, none with experts
  n_expert_ = static_cast<int32_t>(config.n_expert);
  n_expert_used_ = static_cast<int32_t>(config.n_expert_used);
  for (size_t l = 0; l < n_layer && l < weights.layers.size(); ++l) {
    const model::LayerWeights& w = weights.layers[l];
    if (!has_experts(w)) continue;  // a dense layer inside an MoE model: zero layout
    ExpertLayout& x = layouts_[l];
    x.gate_offset = 0;
    x.gate_bytes = w.gate_exps.expert_stride;
    x.up_offset = align_up(x.gate_offset + x.gate_bytes);
    x.up_bytes = w.up_exps.expert_stride;
    x.down_offset = align_up(x.up_offset + x.up_bytes);
    x.down_bytes = w.down_exps.expert_stride;
    x.total = x.down_offset + x.down_bytes;
    total_bytes_ += static_cast<uint64_t>(x.total) * static_cast<uint64_t>(n_expert_);
    if (x.total > max_bytes_) max_bytes_ = x.total;
  }
}

ExpertMatrices ExpertStore::host(int32_t layer, int32_t expert) const {
  if (layer < 0 || layer >= n_layer() || expert < 0 || expert >= n_expert_ ||
      layout(layer).total == 0) {
    return {};
  }
  const model::LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  return {w.gate_exps.expert(expert), w.up_exps.expert(expert), w.down_exps.expert(expert)};
}

ExpertMatrices ExpertStore::at(int32_t layer, const uint8_t* base) const {
  if (layer < 0 || layer >= n_layer() || base == nullptr || layout(layer).total == 0) return {};
  const model::LayerWeights& w = weights_.layers[static_cast<size_t>(layer)];
  const ExpertLayout& x = layout(layer);
  return {view_at(w.gate_exps, base + x.gate_offset), view_at(w.up_exps, base + x.up_offset),
          view_at(w.down_exps, base + x.down_offset)};
}

void ExpertStore::copy_to(int32_t layer, int32_t expert, uint8_t* dst) const {
  const ExpertMatrices h = host(layer, expert);
  if (h.gate.data == nullptr || dst == nullptr) return;
  const ExpertLayout& x = layout(layer);
  std::memcpy(dst + x.gate_offset, h.gate.data, x.gate_bytes);
  std::memcpy(dst + x.up_offset, h.up.data, x.up_bytes);
  std::memcpy(dst + x.down_offset, h.down.data, x.down_bytes);
  // Alignment padding is zeroed so two copies of the same expert are byte-identical.
  std::memset(dst + x.gate_bytes, 0, x.up_offset - x.gate_bytes);
  std::memset(dst + x.up_offset + x.up_bytes, 0, x.down_offset - (x.up_offset + x.up_bytes));
}

}  // namespace emoe::experts
