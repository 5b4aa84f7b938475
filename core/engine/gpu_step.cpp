#include "core/engine/gpu_step.h"

#include <algorithm>

namespace emoe::engine {

StepShape StepShape::of(const model::ModelConfig& c, const model::ModelWeights& w) {
  StepShape s;
  s.n_embd = c.n_embd;
  s.n_q = c.n_head * c.n_embd_head;
  s.n_kv = c.n_embd_kv();
  // The weights say how wide each FFN really is (deepseek's dense layers, shared experts).
  for (const model::LayerWeights& l : w.layers) {
    s.n_ff_max = std::max({s.n_ff_max, l.ffn_gate.rows, l.gate_exps.rows, l.ffn_gate_shexp.rows});
  }
  s.n_expert = c.n_expert;
  s.k = c.n_expert_used;
  s.n_vocab = c.n_vocab;
  if (c.mla) {
    const int64_t width = c.n_lora_kv + c.n_rot;
    s.mla_qa = c.n_lora_q;
    s.mla_q = c.n_head * c.n_embd_head;
    s.mla_kv = width;
    s.mla_qcat = c.n_head * width;
    s.mla_lat = c.n_head * c.n_lora_kv;
    s.mla_attn = c.n_head * c.n_embd_head_v;
  }
  return s;
}

Status StepArena::reserve(kernels::gpu::Device& device, const StepShape& s, int64_t n) {
  if (n <= capacity_) return Status::ok();
  const uint64_t cap = static_cast<uint64_t>(n);
  const uint64_t k = static_cast<uint64_t>(std::max<int64_t>(s.k, 1));
  uint64_t total = 0;
  auto take = [&](uint64_t bytes) {
    const uint64_t at = total;
    total += align_up(std::max<uint64_t>(bytes, 1));
    return at;
  };
  auto floats = [&](int64_t width) { return take(cap * static_cast<uint64_t>(width) * 4); };
  const uint64_t o_x = floats(s.n_embd), o_cur = floats(s.n_embd), o_ffn = floats(s.n_embd);
  // Standard attention and latent attention never run in one model: they share the space.
  const uint64_t o_q = floats(std::max(s.n_q, s.mla_q));
  const uint64_t o_k = floats(std::max(s.n_kv, s.mla_kv));
  const uint64_t o_v = floats(s.n_kv);
  const uint64_t o_attn = floats(std::max(s.n_q, s.mla_attn));
  const uint64_t o_qa = floats(s.mla_qa), o_qcat = floats(s.mla_qcat), o_lat = floats(s.mla_lat);
  const uint64_t o_gate = floats(s.n_ff_max), o_up = floats(s.n_ff_max), o_h = floats(s.n_ff_max);
  const uint64_t o_router = floats(s.n_expert);
  const uint64_t o_xs = floats(s.n_embd), o_down = floats(s.n_embd);
  const uint64_t o_slots = take(cap * k * static_cast<uint64_t>(s.n_embd) * 4);
  const uint64_t o_sh = floats(1);
  const uint64_t o_logits = floats(s.n_vocab);
  const uint64_t o_step = take(cap * 32);
  const uint64_t o_moe = take(cap * k * 12);

  buffer_.reset();
  capacity_ = 0;
  auto b = DeviceBuffer::allocate(device, total,
                                  "GPU forward: step buffers for " + std::to_string(n) + " tokens");
  if (!b.ok()) return b.status();
  buffer_ = std::move(b).value();
  const DeviceBuffer& m = buffer_;
  b_.x = m.at<float>(o_x);
  b_.cur = m.at<float>(o_cur);
  b_.ffn_out = m.at<float>(o_ffn);
  b_.q = m.at<float>(o_q);
  b_.k = m.at<float>(o_k);
  b_.v = m.at<float>(o_v);
  b_.attn = m.at<float>(o_attn);
  b_.qa = m.at<float>(o_qa);
  b_.qcat = m.at<float>(o_qcat);
  b_.kv = b_.k;  // the latent row [n][n_lora_kv + n_rot] uses the key buffer
  b_.lat = m.at<float>(o_lat);
  b_.gate = m.at<float>(o_gate);
  b_.up = m.at<float>(o_up);
  b_.h = m.at<float>(o_h);
  b_.router = m.at<float>(o_router);
  b_.xs = m.at<float>(o_xs);
  b_.down = m.at<float>(o_down);
  b_.slots = m.at<float>(o_slots);
  b_.sh_logit = m.at<float>(o_sh);
  b_.logits = m.at<float>(o_logits);
  b_.step_arrays = m.at<uint8_t>(o_step);
  b_.pos = m.at<int32_t>(o_step);
  b_.zero = m.at<int32_t>(o_step + cap * 4);
  b_.n_pos = m.at<int32_t>(o_step + cap * 8);
  b_.out_rows = m.at<int32_t>(o_step + cap * 12);
  b_.k_off = m.at<int64_t>(o_step + cap * 16);
  b_.v_off = m.at<int64_t>(o_step + cap * 24);
  b_.moe_arrays = m.at<uint8_t>(o_moe);
  b_.moe_tok = m.at<int32_t>(o_moe);
  b_.moe_slot = m.at<int32_t>(o_moe + cap * k * 4);
  b_.moe_w = m.at<float>(o_moe + cap * k * 8);
  capacity_ = n;
  b_.capacity = n;
  k_ = static_cast<int64_t>(k);
  return Status::ok();
}

}  // namespace emoe::engine
