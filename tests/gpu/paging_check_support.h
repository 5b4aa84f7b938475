// Helpers shared by the paging checks (paging_checks.cpp): the generated model and its host
// tier, caches over it on a device, and the comparison of an acquired expert's device bytes
// with the mapped model file's.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "core/experts/expert_cache.h"
#include "core/experts/expert_store.h"
#include "core/model/model.h"
#include "tests/gpu/check_support.h"

namespace emoe::gpucheck {

inline constexpr int32_t kLayers = 3;
inline constexpr int32_t kExperts = 8;

// splitmix64: the same sequence on every platform.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  int32_t below(int32_t n) { return static_cast<int32_t>(next() % static_cast<uint64_t>(n)); }
};

// A generated llama MoE model (3 layers, 8 experts, top-2) and its host tier.
struct PagingModel {
  std::unique_ptr<model::Model> model;
  std::unique_ptr<experts::ExpertStore> store;
};

Result<PagingModel> open_model(const CheckContext& ctx, kernels::TensorType type);

// A cache of `slots` expert slots (on `device`, or in host RAM when it is null).
Result<std::unique_ptr<experts::ExpertCache>> make_cache(const experts::ExpertStore& store,
                                                         std::shared_ptr<gpu::Device> device,
                                                         uint64_t slots,
                                                         experts::EvictionPolicy policy, bool async,
                                                         bool poison = false);

std::string where(int32_t layer, int32_t expert);

// Downloads one matrix of a device handle and compares it with the mapped file's bytes.
bool same_matrix(gpu::Device& d, CheckResult& r, const kernels::MatrixView& dev,
                 const kernels::MatrixView& host, const std::string& what);

// Orders compute after the layer's loads, waits for it, and compares the expert's gate, up and
// down bytes in device memory with the file's.
bool expert_on_device(gpu::Device& d, CheckResult& r, experts::ExpertCache& cache,
                      const experts::ExpertHandle& h, int32_t layer, int32_t expert,
                      const std::string& what);

// Runs `body` for the F32 and the Q8_0 model, each failure naming the type.
using ModelBody = void (*)(const CheckContext&, CheckResult&, const experts::ExpertStore&,
                           kernels::TensorType);
NamedCheck for_types(const std::string& name, ModelBody body);

std::string type_label(kernels::TensorType t);

}  // namespace emoe::gpucheck
