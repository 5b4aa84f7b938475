#include "core/engine/kv_cache.h"

#include <cstring>
#include <new>

#include "kernels/cpu/fp16.h"

namespace emoe::engine {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t k_width, int64_t v_width,
                 kernels::TensorType type, int max_sequences)
    : n_layer_(n_layer),
      n_ctx_(n_ctx),
      k_width_(k_width),
      v_width_(v_width),
      type_(type),
      elem_size_(type == kernels::TensorType::F16 ? 2 : 4),
      seqs_(max_sequences) {}

uint64_t KvCache::bytes_per_sequence() const {
  return static_cast<uint64_t>(n_layer_ * n_ctx_ * (k_width_ + v_width_)) * elem_size_;
}

uint64_t KvCache::bytes_allocated() const {
  return seqs_.sum([](const Rows& r) { return r.k.size() + r.v.size(); });
}

Result<int32_t> KvCache::add_sequence() {
  const int32_t seq = seqs_.free_slot();
  if (seq < 0) {
    return out_of_memory("KV cache: all " + std::to_string(seqs_.size()) +
                         " sequence slots are in use");
  }
  const auto rows = static_cast<size_t>(n_layer_ * n_ctx_) * elem_size_;
  Rows r;
  try {
    r.k.assign(rows * static_cast<size_t>(k_width_), 0);
    r.v.assign(rows * static_cast<size_t>(v_width_), 0);
  } catch (const std::bad_alloc&) {
    return out_of_memory("KV cache: cannot allocate " + std::to_string(bytes_per_sequence()) +
                         " bytes for a sequence of " + std::to_string(n_ctx_) + " tokens");
  }
  seqs_.occupy(seq, std::move(r));
  return seq;
}

void KvCache::remove_sequence(int32_t seq) { seqs_.release(seq); }
bool KvCache::valid(int32_t seq) const { return seqs_.valid(seq); }
int32_t KvCache::length(int32_t seq) const { return seqs_.length(seq); }
void KvCache::set_length(int32_t seq, int32_t length) { seqs_.set_length(seq, length); }

size_t KvCache::offset(int64_t layer, int64_t pos, int64_t width) const {
  return static_cast<size_t>((layer * n_ctx_ + pos) * width) * elem_size_;
}

namespace {

void put_row(const float* src, int64_t n, bool f16, uint8_t* dst) {
  if (f16) {
    auto* d = reinterpret_cast<uint16_t*>(dst);
    for (int64_t i = 0; i < n; ++i) d[i] = kernels::fp32_to_fp16(src[i]);
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
  }
}

}  // namespace

void KvCache::store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v) {
  Rows& r = seqs_.storage(seq);
  const bool f16 = type_ == kernels::TensorType::F16;
  put_row(k, k_width_, f16, r.k.data() + offset(layer, pos, k_width_));
  if (v_width_ > 0 && v) put_row(v, v_width_, f16, r.v.data() + offset(layer, pos, v_width_));
}

const void* KvCache::k_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_.storage(seq).k.data() + offset(layer, pos, k_width_);
}

const void* KvCache::v_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_.storage(seq).v.data() + offset(layer, pos, v_width_);
}

}  // namespace emoe::engine
