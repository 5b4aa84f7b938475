// Helpers shared by the engine checks (engine_checks.cpp): a traced engine run on either
// backend (every logit row, layer output and routing decision) and the comparison of a GPU
// trace with a reference trace, the tolerances it uses, and the generated models.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/forward_backend.h"
#include "core/model/model.h"
#include "core/model/model_builder.h"
#include "tests/gpu/check_support.h"

namespace emoe::gpucheck {

inline constexpr double kTolF32 = 1e-5;
// Non-F32 weights: the CPU sums integer block products in its own order and multiplies Q8_1
// blocks' minimum term by an fp16 block sum, which no per-element activation reproduces.
inline constexpr double kTolQuant = 1e-3;
// An F16 cache: both backends round K, V, the query and the probabilities to F16, but a value
// on either side of a rounding boundary can still round apart.
inline constexpr double kTolF16Cache = 1e-3;
inline const std::vector<int32_t> kPrompt = {1, 17, 230, 45, 301, 99, 7, 150};

// What one run produced: every requested logit row, every layer output and every routing
// decision, in the order the engine reported them.
struct Trace : engine::ForwardObserver {
  struct Route {
    int32_t seq = 0, pos = 0, layer = 0;
    std::vector<int32_t> used;  // sorted: the set of experts computed with
  };
  void on_routing(const engine::RoutingEvent& ev) override {
    Route r{ev.seq, ev.pos, ev.layer, {ev.used.begin(), ev.used.end()}};
    std::sort(r.used.begin(), r.used.end());
    routes.push_back(std::move(r));
  }
  void on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                       const float* hidden, int64_t n_embd) override {
    hidden_.insert(hidden_.end(), hidden, hidden + static_cast<int64_t>(batch.size()) * n_embd);
    for (size_t i = 0; i < batch.size(); ++i) {
      const float* h = hidden + static_cast<int64_t>(i) * n_embd;
      cells[{batch[i].seq, batch[i].pos, layer}].assign(h, h + n_embd);
    }
  }
  std::vector<float> logits;
  std::vector<float> hidden_;
  std::map<std::array<int32_t, 3>, std::vector<float>> cells;  // (seq, pos, layer) -> output
  std::vector<Route> routes;
  std::vector<int32_t> fed;  // the continuation tokens
};

struct RunSpec {
  std::shared_ptr<gpu::Device> device;  // null: the CPU backend
  engine::ExpertAccess experts;
  kernels::TensorType kv_type = kernels::TensorType::F32;
};

RunSpec on(std::shared_ptr<gpu::Device> device, engine::ExpertAccess experts = {});

// The prompt in one batch, then kSteps single-token steps: greedy from the last row, or the
// tokens of `feed` when given (the GPU follows the CPU's continuation, so a near tie cannot
// make the two runs diverge).
Result<std::unique_ptr<Trace>> run_prompt(const model::Model& m, const RunSpec& spec,
                                          const std::vector<int32_t>& prompt,
                                          const std::vector<int32_t>* feed);

// The largest normalised error of any logit row (rows of n_vocab).
double max_row_error(const std::vector<float>& got, const std::vector<float>& want,
                     int64_t n_vocab);

// The GPU trace against a reference trace: identical routing sets, logits within `tol`, layer
// outputs reported for every layer. With `flips`, logits past `tol` are accepted when they come
// from at most kMaxFlips rounding-boundary flips (flip_origins in engine_check_support.cpp).
void compare(CheckResult& r, const std::string& what, const Trace& got, const Trace& want,
             int64_t n_vocab, double tol, bool flips = false);

// Whether every matrix the engine multiplies with is F32 (the token embedding is only read).
bool all_f32(const model::Model& m);

// The architectures' synthetic shapes (tests/engine/test_arch_paging.cpp), small enough for
// the reference device. deepseek2: direct attn_q with a legacy attn_kv_b (the F32 copies);
// deepseek2_qlora: low-rank Q, sigmoid gating with selection bias, groups, scale and YaRN.
model::SyntheticModelSpec arch_spec(const std::string& arch, kernels::TensorType type);

// The model of `spec`, written to ctx.scratch_dir as <name>.gguf unless it is there already.
Result<std::unique_ptr<model::Model>> build(const CheckContext& ctx,
                                            const model::SyntheticModelSpec& spec,
                                            const std::string& name);

}  // namespace emoe::gpucheck
