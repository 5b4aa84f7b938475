#include "core/engine/device_kv_cache.h"

#include <string>

namespace emoe::engine {

DeviceKvCache::DeviceKvCache(kernels::gpu::Device& device, int64_t n_layer, int64_t n_ctx,
                             int64_t k_width, int64_t v_width, kernels::TensorType type,
                             int max_sequences)
    : device_(device),
      n_layer_(n_layer),
      n_ctx_(n_ctx),
      k_width_(k_width),
      v_width_(v_width),
      type_(type),
      elem_size_(type == kernels::TensorType::F16 ? 2 : 4),
      seqs_(static_cast<size_t>(max_sequences)) {}

uint64_t DeviceKvCache::bytes_per_sequence() const {
  return static_cast<uint64_t>(n_layer_ * n_ctx_ * (k_width_ + v_width_)) * elem_size_;
}

uint64_t DeviceKvCache::bytes_allocated() const {
  uint64_t n = 0;
  for (const Sequence& s : seqs_) n += s.k.bytes() + s.v.bytes();
  return n;
}

Result<int32_t> DeviceKvCache::add_sequence() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    Sequence& s = seqs_[i];
    if (s.used) continue;
    const uint64_t rows = static_cast<uint64_t>(n_layer_ * n_ctx_) * elem_size_;
    const std::string what = "GPU KV cache: a sequence of " + std::to_string(n_ctx_) + " tokens";
    EMOE_RETURN_IF_ERROR(check_device_memory(device_, bytes_per_sequence(), what));
    auto k = DeviceBuffer::allocate(device_, rows * static_cast<uint64_t>(k_width_), what);
    if (!k.ok()) return k.status();
    DeviceBuffer v;
    if (v_width_ > 0) {
      auto vb = DeviceBuffer::allocate(device_, rows * static_cast<uint64_t>(v_width_), what);
      if (!vb.ok()) return vb.status();
      v = std::move(vb).value();
    }
    // Attention reads only written positions; zeroing keeps stale bytes of an earlier
    // allocation out of any debugging dump.
    EMOE_RETURN_IF_GPU_ERROR(
        device_.memset_async(k->data(), 0, k->bytes(), kernels::gpu::StreamId::Compute),
        "GPU KV cache: clearing a new sequence");
    if (v.bytes() > 0) {
      EMOE_RETURN_IF_GPU_ERROR(
          device_.memset_async(v.data(), 0, v.bytes(), kernels::gpu::StreamId::Compute),
          "GPU KV cache: clearing a new sequence");
    }
    s.k = std::move(k).value();
    s.v = std::move(v);
    s.used = true;
    s.length = 0;
    return static_cast<int32_t>(i);
  }
  return out_of_memory("KV cache: all " + std::to_string(seqs_.size()) +
                       " sequence slots are in use");
}

void DeviceKvCache::remove_sequence(int32_t seq) {
  if (!valid(seq)) return;
  seqs_[static_cast<size_t>(seq)] = Sequence{};
}

bool DeviceKvCache::valid(int32_t seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() &&
         seqs_[static_cast<size_t>(seq)].used;
}

int32_t DeviceKvCache::length(int32_t seq) const {
  return valid(seq) ? seqs_[static_cast<size_t>(seq)].length : 0;
}

void DeviceKvCache::set_length(int32_t seq, int32_t length) {
  if (valid(seq)) seqs_[static_cast<size_t>(seq)].length = length;
}

void* DeviceKvCache::k_layer(int32_t seq, int64_t layer) const {
  const Sequence& s = seqs_[static_cast<size_t>(seq)];
  return s.k.data() + static_cast<uint64_t>(layer * n_ctx_ * k_width_) * elem_size_;
}

void* DeviceKvCache::v_layer(int32_t seq, int64_t layer) const {
  const Sequence& s = seqs_[static_cast<size_t>(seq)];
  if (v_width_ == 0) return nullptr;
  return s.v.data() + static_cast<uint64_t>(layer * n_ctx_ * v_width_) * elem_size_;
}

}  // namespace emoe::engine
