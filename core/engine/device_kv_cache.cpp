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
      seqs_(max_sequences) {}

uint64_t DeviceKvCache::bytes_per_sequence() const {
  return static_cast<uint64_t>(n_layer_ * n_ctx_ * (k_width_ + v_width_)) * elem_size_;
}

uint64_t DeviceKvCache::bytes_allocated() const {
  return seqs_.sum([](const Rows& r) { return r.k.bytes() + r.v.bytes(); });
}

Result<int32_t> DeviceKvCache::add_sequence() {
  const int32_t seq = seqs_.free_slot();
  if (seq < 0) {
    return out_of_memory("KV cache: all " + std::to_string(seqs_.size()) +
                         " sequence slots are in use");
  }
  const uint64_t rows = static_cast<uint64_t>(n_layer_ * n_ctx_) * elem_size_;
  const std::string what = "GPU KV cache: a sequence of " + std::to_string(n_ctx_) + " tokens";
  EMOE_RETURN_IF_ERROR(check_device_memory(device_, bytes_per_sequence(), what));
  auto k = DeviceBuffer::allocate(device_, rows * static_cast<uint64_t>(k_width_), what);
  if (!k.ok()) return k.status();
  Rows r;
  r.k = std::move(k).value();
  if (v_width_ > 0) {
    auto v = DeviceBuffer::allocate(device_, rows * static_cast<uint64_t>(v_width_), what);
    if (!v.ok()) return v.status();
    r.v = std::move(v).value();
  }
  // Attention reads only written positions; zeroing keeps stale bytes of an earlier
  // allocation out of any debugging dump.
  for (const DeviceBuffer* b : {&r.k, &r.v}) {
    if (b->bytes() == 0) continue;
    EMOE_RETURN_IF_GPU_ERROR(
        device_.memset_async(b->data(), 0, b->bytes(), kernels::gpu::StreamId::Compute),
        "GPU KV cache: clearing a new sequence");
  }
  seqs_.occupy(seq, std::move(r));
  return seq;
}

void DeviceKvCache::remove_sequence(int32_t seq) { seqs_.release(seq); }
bool DeviceKvCache::valid(int32_t seq) const { return seqs_.valid(seq); }
int32_t DeviceKvCache::length(int32_t seq) const { return seqs_.length(seq); }
void DeviceKvCache::set_length(int32_t seq, int32_t length) { seqs_.set_length(seq, length); }

void* DeviceKvCache::k_layer(int32_t seq, int64_t layer) const {
  const Rows& r = seqs_.storage(seq);
  return r.k.data() + static_cast<uint64_t>(layer * n_ctx_ * k_width_) * elem_size_;
}

void* DeviceKvCache::v_layer(int32_t seq, int64_t layer) const {
  const Rows& r = seqs_.storage(seq);
  if (v_width_ == 0) return nullptr;
  return r.v.data() + static_cast<uint64_t>(layer * n_ctx_ * v_width_) * elem_size_;
}

}  // namespace emoe::engine
