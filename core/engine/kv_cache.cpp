#include "core/engine/kv_cache.h"

#include <cstring>
#include <new>

#include "kernels/cpu/fp16.h"

namespace emoe::engine {

KvCache::KvCache(int64_t n_layer, int64_t n_ctx, int64_t n_embd_kv, kernels::TensorType type,
                 int max_sequences)
    : n_layer_(n_layer),
      n_ctx_(n_ctx),
      n_embd_kv_(n_embd_kv),
      type_(type),
      elem_size_(type == kernels::TensorType::F16 ? 2 : 4),
      seqs_(static_cast<size_t>(max_sequences)) {}

uint64_t KvCache::bytes_per_sequence() const {
  return 2ull * static_cast<uint64_t>(n_layer_ * n_ctx_ * n_embd_kv_) * elem_size_;
}

uint64_t KvCache::bytes_allocated() const {
  uint64_t n = 0;
  for (const Sequence& s : seqs_) n += s.k.size() + s.v.size();
  return n;
}

Result<int32_t> KvCache::add_sequence() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    Sequence& s = seqs_[i];
    if (s.used) continue;
    const size_t bytes = static_cast<size_t>(bytes_per_sequence() / 2);
    try {
      s.k.assign(bytes, 0);
      s.v.assign(bytes, 0);
    } catch (const std::bad_alloc&) {
      s.k = {};
      s.v = {};
      return out_of_memory("KV cache: cannot allocate " + std::to_string(2 * bytes) +
                           " bytes for a sequence of " + std::to_string(n_ctx_) + " tokens");
    }
    s.used = true;
    s.length = 0;
    return static_cast<int32_t>(i);
  }
  return out_of_memory("KV cache: all " + std::to_string(seqs_.size()) +
                       " sequence slots are in use");
}

void KvCache::remove_sequence(int32_t seq) {
  if (!valid(seq)) return;
  Sequence& s = seqs_[static_cast<size_t>(seq)];
  s = Sequence{};
}

bool KvCache::valid(int32_t seq) const {
  return seq >= 0 && static_cast<size_t>(seq) < seqs_.size() &&
         seqs_[static_cast<size_t>(seq)].used;
}

int32_t KvCache::length(int32_t seq) const {
  return valid(seq) ? seqs_[static_cast<size_t>(seq)].length : 0;
}

void KvCache::set_length(int32_t seq, int32_t length) {
  if (valid(seq)) seqs_[static_cast<size_t>(seq)].length = length;
}

size_t KvCache::offset(int64_t layer, int64_t pos) const {
  return static_cast<size_t>((layer * n_ctx_ + pos) * n_embd_kv_) * elem_size_;
}

void KvCache::store(int32_t seq, int64_t layer, int64_t pos, const float* k, const float* v) {
  Sequence& s = seqs_[static_cast<size_t>(seq)];
  const size_t off = offset(layer, pos);
  if (type_ == kernels::TensorType::F16) {
    auto* kd = reinterpret_cast<uint16_t*>(s.k.data() + off);
    auto* vd = reinterpret_cast<uint16_t*>(s.v.data() + off);
    for (int64_t i = 0; i < n_embd_kv_; ++i) {
      kd[i] = kernels::fp32_to_fp16(k[i]);
      vd[i] = kernels::fp32_to_fp16(v[i]);
    }
  } else {
    std::memcpy(s.k.data() + off, k, static_cast<size_t>(n_embd_kv_) * 4);
    std::memcpy(s.v.data() + off, v, static_cast<size_t>(n_embd_kv_) * 4);
  }
}

const void* KvCache::k_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_[static_cast<size_t>(seq)].k.data() + offset(layer, pos);
}

const void* KvCache::v_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_[static_cast<size_t>(seq)].v.data() + offset(layer, pos);
}

}  // namespace emoe::engine
