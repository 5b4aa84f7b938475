// Per-sequence key/value cache. Each sequence owns [n_layer][n_ctx][k_width] slots for K and
// [n_layer][n_ctx][v_width] for V, stored as F32 or F16 (F16 rounds values exactly as ggml's
// F16 cache does). Multi-head latent attention caches one row per token (the latent and its
// rope key) as K, with v_width 0.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/engine/sequence_slots.h"
#include "kernels/tensor_type.h"

namespace emoe::engine {

class KvCache {
 public:
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, kernels::TensorType type,
          int max_sequences)
      : KvCache(n_layer, n_ctx, n_embd_kv, n_embd_kv, type, max_sequences) {}
  KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width,
          kernels::TensorType type, int max_sequences);

  kernels::TensorType type() const { return type_; }
  int64_t n_ctx() const { return n_ctx_; }
  uint64_t bytes_per_sequence() const;
  uint64_t bytes_allocated() const;

  Result<int32_t> add_sequence();  // allocates its slots; OutOfMemory when all are in use
  void remove_sequence(int32_t seq);
  bool valid(int32_t seq) const;
  int32_t length(int32_t seq) const;
  void set_length(int32_t seq, int32_t length);

  // Writes one token's K and V rows ([k_width] and [v_width] floats) at `pos`; v may be null
  // when v_width is 0.
  void store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v);
  // K row of k_width elements in type(); element size 4 (F32) or 2 (F16); rows of consecutive
  // positions are row_stride() bytes apart.
  size_t row_stride() const { return static_cast<size_t>(k_width_) * elem_size_; }
  const void* k_row(int32_t seq, int64_t layer, int64_t pos) const;
  const void* v_row(int32_t seq, int64_t layer, int64_t pos) const;

 private:
  struct Rows {
    std::vector<uint8_t> k, v;
  };
  size_t offset(int64_t layer, int64_t pos, int64_t width) const;

  int64_t n_layer_, n_ctx_, k_width_, v_width_;
  kernels::TensorType type_;
  size_t elem_size_;
  SequenceSlots<Rows> seqs_;
};

}  // namespace emoe::engine
