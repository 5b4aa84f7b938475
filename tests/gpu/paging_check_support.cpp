// The paging checks' model, caches and device-byte comparisons (paging_check_support.h).
#include "tests/gpu/paging_check_support.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "core/model/model_builder.h"

namespace emoe::gpucheck {

using experts::EvictionPolicy;
using experts::ExpertCache;
using experts::ExpertCacheOptions;
using experts::ExpertHandle;
using experts::ExpertMatrices;
using experts::ExpertStore;
using kernels::MatrixView;
using kernels::TensorType;

Result<PagingModel> open_model(const CheckContext& ctx, TensorType type) {
  model::SyntheticModelSpec s;
  s.arch = "llama";
  s.n_layer = kLayers;
  s.n_embd = 64;  // Q8_0 blocks tile every row of gate/up (64) and down (96)
  s.n_head = 4;
  s.n_head_kv = 2;
  s.n_ff = 96;
  s.n_expert = kExperts;
  s.n_expert_used = 2;
  s.n_vocab = 300;
  s.n_ctx = 64;
  s.weight_type = type;
  s.seed = 11;
  s.n_threads = 2;
  const std::string name = "paging_" + std::string(kernels::type_name(type));
  s.name = name;
  const std::string path = (std::filesystem::path(ctx.scratch_dir) / (name + ".gguf")).string();
  if (!std::filesystem::exists(path)) {
    EMOE_RETURN_IF_ERROR(model::write_synthetic_model(s, path));
  }
  auto m = model::Model::load(path);
  if (!m.ok()) return m.status();
  PagingModel pm;
  pm.model = std::move(m).value();
  pm.store = std::make_unique<ExpertStore>(pm.model->config(), pm.model->weights());
  return pm;
}

Result<std::unique_ptr<ExpertCache>> make_cache(const ExpertStore& store,
                                                std::shared_ptr<gpu::Device> device, uint64_t slots,
                                                EvictionPolicy policy, bool async, bool poison) {
  ExpertCacheOptions o;
  // The minimum is n_expert_used slots in each of the model's kLayers MoE layers.
  o.budget_bytes = slots * ExpertCache::minimum_budget(store) /
                   static_cast<uint64_t>(store.n_expert_used() * kLayers);
  o.policy = policy;
  o.async_loader = async;
  o.poison_freed_slots = poison;
  o.device = std::move(device);
  return ExpertCache::create(store, o);
}

std::string where(int32_t layer, int32_t expert) {
  return "layer " + std::to_string(layer) + " expert " + std::to_string(expert);
}

bool same_matrix(gpu::Device& d, CheckResult& r, const MatrixView& dev, const MatrixView& host,
                 const std::string& what) {
  if (!r.expect(dev.type == host.type && dev.rows == host.rows && dev.cols == host.cols &&
                    dev.row_stride == host.row_stride,
                what + ": the device view's shape differs from the file's")) {
    return false;
  }
  const uint64_t bytes = static_cast<uint64_t>(host.rows) * host.row_stride;
  std::vector<uint8_t> got(bytes);
  const gpu::GpuStatus s = d.download(got.data(), dev.data, bytes);
  if (!r.expect(s.ok(), what + ": download: " + s.message())) return false;
  const auto* want = static_cast<const uint8_t*>(host.data);
  const auto diff = std::mismatch(got.begin(), got.end(), want);
  return r.expect(diff.first == got.end(),
                  what + ": byte " + std::to_string(diff.first - got.begin()) + " of " +
                      std::to_string(bytes) + " differs from the model file");
}

bool expert_on_device(gpu::Device& d, CheckResult& r, ExpertCache& cache, const ExpertHandle& h,
                      int32_t layer, int32_t expert, const std::string& what) {
  const std::string at = what + ", " + where(layer, expert);
  Status st = cache.make_layer_ready(layer);
  if (!r.expect(st.is_ok(), at + ": make_layer_ready: " + st.message())) return false;
  const gpu::GpuStatus s = d.sync_stream(gpu::StreamId::Compute);
  if (!r.expect(s.ok(), at + ": sync_stream(Compute): " + s.message())) return false;
  const ExpertMatrices host = cache.store().host(layer, expert);
  const ExpertMatrices& dev = h.matrices();
  return same_matrix(d, r, dev.gate, host.gate, at + " gate") &&
         same_matrix(d, r, dev.up, host.up, at + " up") &&
         same_matrix(d, r, dev.down, host.down, at + " down");
}

NamedCheck for_types(const std::string& name, ModelBody body) {
  return {"paging." + name, [body](const CheckContext& ctx, CheckResult& r) {
            for (TensorType t : {TensorType::F32, TensorType::Q8_0}) {
              auto m = open_model(ctx, t);
              if (!r.expect(m.ok(), "building the model: " + m.status().message())) return;
              body(ctx, r, *m->store, t);
            }
          }};
}

std::string type_label(TensorType t) { return std::string(kernels::type_name(t)); }

}  // namespace emoe::gpucheck
