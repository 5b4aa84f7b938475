// The full model an experiment measures against: one engine over the session's model with
// every expert (RoutingMode::All, no device tier), used for three things that do not depend on
// the configuration under test:
//  - the warm-up pass (greedy runs whose routing seeds the history and trains the predictors),
//  - each request's own greedy output and routing (matches_reference, and the oracle's
//    "future"), computed once per distinct (prompt, max_new_tokens) and cached across points,
//  - teacher-forced agreement: the full model's argmax at every generated position of a
//    request's own output, compared with the token the configuration generated there.
// Its engine is separate from the session's, so the session's observers (counters, memory,
// routing recorders of a point) never see these passes. It computes on the experiment's device;
// where every expert does not fit there, on the CPU (the notice says so). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/common/status.h"
#include "core/engine/engine.h"
#include "core/predict/routing_history.h"

namespace emoe::model {
class Model;
}
namespace emoe::kernels::gpu {
class Device;
}

namespace emoe::experiment {

struct ReferenceOutput {
  std::vector<int32_t> generated;  // greedy, stopping at EOS/EOT or max_new_tokens
  predict::PromptRecord record;    // its routing (router top-k); the task is left empty
};

struct TokenAgreement {
  int64_t scored = 0;    // generated tokens compared
  int64_t agreeing = 0;  // of them, equal to the full model's argmax (ties: lower id)
};

class FullModelReference {
 public:
  // n_ctx: tokens per sequence (prompt + output must fit). `device`: the GPU to compute on
  // (null: the CPU). The reference holds every expert on that GPU, so when they do not fit
  // (OutOfMemory) it computes on the CPU instead and, when `notice` is given, *notice says so
  // (else it is cleared); a model bigger than the GPU still gets its reference. Other errors
  // are returned.
  static Result<std::unique_ptr<FullModelReference>> create(
      const model::Model& model, int n_threads, int64_t n_ctx,
      std::shared_ptr<kernels::gpu::Device> device = nullptr, std::string* notice = nullptr);

  // The full model's greedy continuation of `prompt` (cached by prompt and max_new_tokens).
  // The pointer stays valid for the reference's lifetime.
  Result<const ReferenceOutput*> greedy(std::span<const int32_t> prompt, int32_t max_new_tokens);

  // Teacher forcing over prompt + generated: for each generated token j, whether the full
  // model's argmax after prompt + generated[0..j) is generated[j].
  Result<TokenAgreement> agreement(std::span<const int32_t> prompt,
                                   std::span<const int32_t> generated);

  int64_t n_ctx() const { return engine_->options().n_ctx; }
  const char* backend_name() const { return engine_->backend_name(); }  // "cpu", "cuda:0", ...
  engine::Engine& engine() { return *engine_; }

 private:
  explicit FullModelReference(std::unique_ptr<engine::Engine> engine)
      : engine_(std::move(engine)) {}

  std::unique_ptr<engine::Engine> engine_;
  std::map<std::pair<std::vector<int32_t>, int32_t>, ReferenceOutput> cache_;
};

}  // namespace emoe::experiment
