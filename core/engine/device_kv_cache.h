// The GPU backend's KV cache: the CPU KvCache's layout (kv_cache.h) in device memory. Each
// sequence owns one device allocation per K and V, [n_layer][n_ctx][k_width] and
// [n_layer][n_ctx][v_width] elements of F32 or F16, made at add_sequence and freed at
// remove_sequence. Multi-head latent attention caches [latent | rope key] as K, with v_width 0.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/engine/device_buffer.h"
#include "core/engine/sequence_slots.h"
#include "kernels/gpu/gpu_device.h"
#include "kernels/tensor_type.h"

namespace emoe::engine {

class DeviceKvCache {
 public:
  // `device` must outlive the cache. type: F32 or F16.
  DeviceKvCache(kernels::gpu::Device& device, int64_t n_layer, int64_t n_ctx, int64_t k_width,
                int64_t v_width, kernels::TensorType type, int max_sequences);

  kernels::TensorType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  uint64_t bytes_per_sequence() const;
  uint64_t bytes_allocated() const;

  // Allocates (and zeroes) the sequence's rows; OutOfMemory when every slot is in use or the
  // device lacks the memory.
  Result<int32_t> add_sequence();
  void remove_sequence(int32_t seq);
  bool valid(int32_t seq) const;
  int32_t length(int32_t seq) const;
  void set_length(int32_t seq, int32_t length);

  // Device address of (seq, layer, position 0); positions follow k_width (v_width) elements
  // apart.
  void* k_layer(int32_t seq, int64_t layer) const;
  void* v_layer(int32_t seq, int64_t layer) const;

 private:
  struct Rows {
    DeviceBuffer k, v;
  };

  kernels::gpu::Device& device_;
  int64_t n_layer_, n_ctx_, k_width_, v_width_;
  kernels::TensorType type_;
  uint64_t elem_size_;
  SequenceSlots<Rows> seqs_;
};

}  // namespace emoe::engine
