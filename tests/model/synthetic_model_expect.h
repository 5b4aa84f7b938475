// The test's own expectations for write_synthetic_model's files, written from
// model_builder.h's documentation and FIXTURES_README.md, sharing no code with the builder or
// kernels/: the weight stream (splitmix64 + Box-Muller), F16/Q8_0 decoders, and the tensor list
// of a spec in file order.
#pragma once

#include <QtGlobal>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <string>
#include <vector>

#include "core/model/model_builder.h"
#include "kernels/tensor_type.h"

namespace emoe::test {

using kernels::TensorType;
using model::SyntheticModelSpec;

// ---- The test's own copy of the documented weight stream (model_builder.h) ----

inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// splitmix64's k-th output (k from 0) for the initial state `seed`.
inline uint64_t uniform_bits(uint64_t seed, uint64_t k) {
  return mix64(seed + (k + 1) * 0x9E3779B97F4A7C15ull);
}
// Normal number n of the stream.
inline double normal_at(uint64_t seed, uint64_t n) {
  const uint64_t j = n - (n % 2);
  const double u1 = std::ldexp(static_cast<double>((uniform_bits(seed, j) >> 11) + 1), -53);
  const double u2 = std::ldexp(static_cast<double>(uniform_bits(seed, j + 1) >> 11), -53);
  const double r = std::sqrt(-2.0 * std::log(u1));
  const double a = 2.0 * std::numbers::pi * u2;
  return n % 2 == 0 ? r * std::cos(a) : r * std::sin(a);
}
inline float weight_at(uint64_t seed, uint64_t n, double mean, double sd) {
  return static_cast<float>(mean + sd * normal_at(seed, n));
}

// ---- Decoders written here, independent of kernels/ ----

inline double half_to_double(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (e == 0) return sign * std::ldexp(m, -24);
  if (e == 31) return m ? NAN : sign * INFINITY;
  return sign * std::ldexp(1024 + m, e - 25);
}
inline uint16_t read_u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

// What the README and the builder's header promise for one tensor.
struct Expected {
  std::string name;
  TensorType type;
  std::vector<int64_t> ne;
  double mean, sd;
  int64_t n() const {
    int64_t k = 1;
    for (int64_t d : ne) k *= d;
    return k;
  }
};

inline std::vector<Expected> expected_tensors(const SyntheticModelSpec& s) {
  const double a = 1.0 / std::sqrt(double(s.n_embd)), f = 1.0 / std::sqrt(double(s.n_ff));
  const int64_t kv = s.n_embd / s.n_head * s.n_head_kv;
  const TensorType w = s.weight_type, f32 = TensorType::F32;
  std::vector<Expected> t = {{"token_embd.weight", s.embd_type, {s.n_embd, s.n_vocab}, 0, 1}};
  for (int64_t l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    t.push_back({p + "attn_norm.weight", f32, {s.n_embd}, 1, 0.1});
    t.push_back({p + "attn_q.weight", w, {s.n_embd, s.n_embd}, 0, a});
    t.push_back({p + "attn_k.weight", w, {s.n_embd, kv}, 0, a});
    t.push_back({p + "attn_v.weight", w, {s.n_embd, kv}, 0, a});
    t.push_back({p + "attn_output.weight", w, {s.n_embd, s.n_embd}, 0, a});
    t.push_back({p + "ffn_norm.weight", f32, {s.n_embd}, 1, 0.1});
    if (s.n_expert > 0) {
      t.push_back({p + "ffn_gate_inp.weight", f32, {s.n_embd, s.n_expert}, 0, 2 * a});
      t.push_back({p + "ffn_gate_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0, a});
      t.push_back({p + "ffn_up_exps.weight", w, {s.n_embd, s.n_ff, s.n_expert}, 0, a});
      t.push_back({p + "ffn_down_exps.weight", w, {s.n_ff, s.n_embd, s.n_expert}, 0, f});
    } else {
      t.push_back({p + "ffn_gate.weight", w, {s.n_embd, s.n_ff}, 0, a});
      t.push_back({p + "ffn_up.weight", w, {s.n_embd, s.n_ff}, 0, a});
      t.push_back({p + "ffn_down.weight", w, {s.n_ff, s.n_embd}, 0, f});
    }
  }
  t.push_back({"output_norm.weight", f32, {s.n_embd}, 1, 0.1});
  t.push_back({"output.weight", s.output_type, {s.n_embd, s.n_vocab}, 0, 2 * a});
  return t;
}

inline uint64_t row_size(TensorType t, int64_t n) {
  switch (t) {
    case TensorType::F32:
      return 4 * n;
    case TensorType::F16:
      return 2 * n;
    case TensorType::Q8_0:
      return n / 32 * 34;
    default:
      qFatal("row_size: type not used by this test");
      return 0;
  }
}
inline uint64_t align32(uint64_t x) { return (x + 31) / 32 * 32; }

inline SyntheticModelSpec small_moe() {
  SyntheticModelSpec s;
  s.n_layer = 2;
  s.n_embd = 64;
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 96;
  s.n_expert = 4;
  s.n_expert_used = 2;
  s.n_vocab = 512;
  s.n_ctx = 256;
  s.seed = 7;
  s.name = "test-moe";
  s.n_threads = 2;
  return s;
}

}  // namespace emoe::test
