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
      seqs_(static_cast<size_t>(max_sequences)) {}

uint64_t KvCache::bytes_per_sequence() const {
  return static_cast<uint64_t>(n_layer_ * n_ctx_ * (k_width_ + v_width_)) * elem_size_;
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
    const auto rows = static_cast<size_t>(n_layer_ * n_ctx_) * elem_size_;
    const size_t bytes = static_cast<size_t>(bytes_per_sequence());
    try {
      s.k.assign(rows * static_cast<size_t>(k_width_), 0);
      s.v.assign(rows * static_cast<size_t>(v_width_), 0);
    } catch (const std::bad_alloc&) {
      s.k = {};
      s.v = {};
      return out_of_memory("KV cache: cannot allocate " + std::to_string(bytes) +
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
  Sequence& s = seqs_[static_cast<size_t>(seq)];
  const bool f16 = type_ == kernels::TensorType::F16;
  put_row(k, k_width_, f16, s.k.data() + offset(layer, pos, k_width_));
  if (v_width_ > 0 && v) put_row(v, v_width_, f16, s.v.data() + offset(layer, pos, v_width_));
}

const void* KvCache::k_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_[static_cast<size_t>(seq)].k.data() + offset(layer, pos, k_width_);
}

const void* KvCache::v_row(int32_t seq, int64_t layer, int64_t pos) const {
  return seqs_[static_cast<size_t>(seq)].v.data() + offset(layer, pos, v_width_);
}

}  // namespace emoe::engine
