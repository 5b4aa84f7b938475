#include "core/engine/device_weights.h"

#include <functional>
#include <string>
#include <utility>

namespace emoe::engine {
namespace {

using kernels::MatrixView;
using kernels::TensorType;

// Collects host ranges with their place in one device allocation, then uploads them and points
// the device views at their copies.
class UploadPlan {
 public:
  void matrix(const MatrixView& host, MatrixView* dev) {
    *dev = host;
    dev->data = nullptr;
    if (!host.data || host.rows <= 0) return;
    add(host.data, static_cast<uint64_t>(host.rows) * host.row_stride,
        [dev](const uint8_t* p) { dev->data = p; });
  }
  void floats(const std::vector<float>& v, const float** dev) {
    *dev = nullptr;
    if (v.empty()) return;
    add(v.data(), v.size() * sizeof(float),
        [dev](const uint8_t* p) { *dev = reinterpret_cast<const float*>(p); });
  }
  void experts(const model::ExpertTensor& host, model::ExpertTensor* dev) {
    *dev = host;
    dev->data = nullptr;
    if (!host.data || host.n_expert <= 0) return;
    add(host.data, static_cast<uint64_t>(host.n_expert) * host.expert_stride,
        [dev](const uint8_t* p) { dev->data = p; });
  }
  uint64_t bytes() const { return total_; }

  Status run(kernels::gpu::Device& device, DeviceBuffer& buffer, const std::string& what) {
    if (total_ == 0) return Status::ok();
    auto b = DeviceBuffer::allocate(device, total_, what);
    if (!b.ok()) return b.status();
    buffer = std::move(b).value();
    for (const Item& item : items_) {
      uint8_t* dst = buffer.data() + item.offset;
      EMOE_RETURN_IF_GPU_ERROR(device.upload(dst, item.src, item.bytes),
                               what + ": uploading " + std::to_string(item.bytes) + " bytes");
      item.patch(dst);
    }
    return Status::ok();
  }

 private:
  struct Item {
    const void* src;
    uint64_t bytes, offset;
    std::function<void(const uint8_t*)> patch;
  };
  void add(const void* src, uint64_t bytes, std::function<void(const uint8_t*)> patch) {
    items_.push_back({src, bytes, total_, std::move(patch)});
    total_ += align_up(bytes);
  }

  std::vector<Item> items_;
  uint64_t total_ = 0;
};

void plan_layer(const model::LayerWeights& h, int64_t n_embd, UploadPlan& plan, DeviceLayer& d) {
  plan.floats(h.attn_norm, &d.attn_norm);
  plan.matrix(h.wq, &d.wq);
  plan.matrix(h.wk, &d.wk);
  plan.matrix(h.wv, &d.wv);
  plan.matrix(h.wo, &d.wo);
  plan.floats(h.bq, &d.bq);
  plan.floats(h.bk, &d.bk);
  plan.floats(h.bv, &d.bv);
  plan.floats(h.attn_q_norm, &d.attn_q_norm);
  plan.floats(h.attn_k_norm, &d.attn_k_norm);
  plan.floats(h.ffn_norm, &d.ffn_norm);
  plan.matrix(h.wq_a, &d.wq_a);
  plan.floats(h.attn_q_a_norm, &d.attn_q_a_norm);
  plan.matrix(h.wq_b, &d.wq_b);
  plan.matrix(h.wkv_a_mqa, &d.wkv_a_mqa);
  plan.floats(h.attn_kv_a_norm, &d.attn_kv_a_norm);
  // Legacy attn_kv_b files: these views point at the F32 copies in mla_kb / mla_vb.
  plan.matrix(h.wk_b, &d.wk_b);
  plan.matrix(h.wv_b, &d.wv_b);
  plan.matrix(h.router, &d.router);
  if (!h.shexp_gate_inp.empty()) {
    const MatrixView gate{TensorType::F32, 1, n_embd, static_cast<size_t>(n_embd) * sizeof(float),
                          h.shexp_gate_inp.data()};
    plan.matrix(gate, &d.shexp_gate_inp);
  }
  plan.matrix(h.ffn_gate_shexp, &d.ffn_gate_shexp);
  plan.matrix(h.ffn_up_shexp, &d.ffn_up_shexp);
  plan.matrix(h.ffn_down_shexp, &d.ffn_down_shexp);
  plan.matrix(h.ffn_gate, &d.ffn_gate);
  plan.matrix(h.ffn_up, &d.ffn_up);
  plan.matrix(h.ffn_down, &d.ffn_down);
  // Expert views keep their shape; their data is set by upload_experts.
  d.gate_exps = h.gate_exps;
  d.up_exps = h.up_exps;
  d.down_exps = h.down_exps;
  d.gate_exps.data = d.up_exps.data = d.down_exps.data = nullptr;
}

}  // namespace

Result<DeviceWeights> DeviceWeights::upload(kernels::gpu::Device& device,
                                            const model::ModelConfig& c,
                                            const model::ModelWeights& w, bool with_experts) {
  DeviceWeights out;
  out.layers_.resize(w.layers.size());
  UploadPlan plan;
  for (size_t il = 0; il < w.layers.size(); ++il) {
    plan_layer(w.layers[il], c.n_embd, plan, out.layers_[il]);
    const model::LayerWeights& h = w.layers[il];
    out.expert_tensors_ = out.expert_tensors_ || h.gate_exps.data != nullptr;
  }
  plan.floats(w.output_norm, &out.output_norm_);
  plan.matrix(w.output, &out.output_);
  std::vector<float> identity;
  if (c.mla) {
    const int64_t n = c.n_rot;
    identity.assign(static_cast<size_t>(c.n_head * n * n), 0.0f);
    for (int64_t h = 0; h < c.n_head; ++h) {
      for (int64_t i = 0; i < n; ++i) identity[static_cast<size_t>((h * n + i) * n + i)] = 1.0f;
    }
    const MatrixView host{TensorType::F32, c.n_head * n, n, static_cast<size_t>(n) * sizeof(float),
                          identity.data()};
    plan.matrix(host, &out.rope_copy_);
  }
  EMOE_RETURN_IF_ERROR(plan.run(device, out.dense_, "GPU forward: the dense weights"));
  if (with_experts) EMOE_RETURN_IF_ERROR(out.upload_experts(device, w));
  return out;
}

Status DeviceWeights::upload_experts(kernels::gpu::Device& device, const model::ModelWeights& w) {
  if (has_experts()) return Status::ok();
  UploadPlan plan;
  for (size_t il = 0; il < w.layers.size(); ++il) {
    const model::LayerWeights& h = w.layers[il];
    DeviceLayer& d = layers_[il];
    plan.experts(h.gate_exps, &d.gate_exps);
    plan.experts(h.up_exps, &d.up_exps);
    plan.experts(h.down_exps, &d.down_exps);
  }
  return plan.run(device, experts_, "GPU forward: the expert weights (no expert tier)");
}

}  // namespace emoe::engine
