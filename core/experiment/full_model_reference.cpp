#include "core/experiment/full_model_reference.h"

#include <algorithm>

#include "core/metrics/accuracy.h"
#include "core/model/model.h"
#include "core/predict/routing_history_recorder.h"
#include "kernels/gpu/gpu_device.h"

namespace emoe::experiment {
namespace {

// Teacher-forced steps are chunked like a prompt; the size only bounds the step buffers.
constexpr size_t kStepTokens = 512;

}  // namespace

Result<std::unique_ptr<FullModelReference>> FullModelReference::create(
    const model::Model& model, int n_threads, int64_t n_ctx,
    std::shared_ptr<kernels::gpu::Device> device, std::string* notice) {
  if (notice) notice->clear();
  engine::EngineOptions eo;
  eo.n_threads = n_threads;
  eo.n_ctx = n_ctx;
  eo.max_sequences = 1;
  eo.experts.mode = engine::RoutingMode::All;
  eo.device = device;
  auto e = engine::Engine::create(model, eo);
  if (!e.ok() && device && e.status().code() == StatusCode::OutOfMemory) {
    // Only the reference moves: the configurations under test stay on the GPU.
    const std::string gpu = "cuda:" + std::to_string(device->info().index);
    eo.device = nullptr;
    auto cpu = engine::Engine::create(model, eo);
    if (!cpu.ok()) {
      return cpu.status().with_context("the full-model reference engine (on the CPU: every " +
                                       std::string("expert does not fit on ") + gpu + ")");
    }
    if (notice) {
      *notice = "the full-model reference (every expert) does not fit on " + gpu + " (" +
                e.status().message() + "); computing it on the CPU";
    }
    e = std::move(cpu);
  }
  if (!e.ok()) return e.status().with_context("the full-model reference engine");
  return std::unique_ptr<FullModelReference>(new FullModelReference(std::move(e).value()));
}

Result<const ReferenceOutput*> FullModelReference::greedy(std::span<const int32_t> prompt,
                                                          int32_t max_new_tokens) {
  auto key = std::make_pair(std::vector<int32_t>(prompt.begin(), prompt.end()), max_new_tokens);
  if (auto it = cache_.find(key); it != cache_.end()) return &it->second;

  // Stops at EOS/EOT as the serving loop does.
  auto g = predict::generate_recorded(*engine_, prompt, max_new_tokens, true);
  if (!g.ok()) return g.status().with_context("full-model greedy run");
  ReferenceOutput out;
  out.generated = std::move(g->generated);
  out.record = std::move(g->record);
  auto it = cache_.emplace(std::move(key), std::move(out)).first;
  return &it->second;
}

Result<TokenAgreement> FullModelReference::agreement(std::span<const int32_t> prompt,
                                                     std::span<const int32_t> generated) {
  TokenAgreement a;
  if (generated.empty()) return a;
  if (prompt.empty()) return invalid_argument("accuracy: the prompt has no tokens");
  // The last generated token predicts nothing we compare, so it is not fed.
  std::vector<int32_t> tokens(prompt.begin(), prompt.end());
  tokens.insert(tokens.end(), generated.begin(), generated.end() - 1);
  if (static_cast<int64_t>(tokens.size()) > n_ctx()) {
    return invalid_argument("accuracy: " + std::to_string(tokens.size()) +
                            " tokens do not fit the reference context of " +
                            std::to_string(n_ctx()));
  }
  const size_t first_scored = prompt.size() - 1;  // its logits predict generated[0]
  const int64_t n_vocab = engine_->model().config().n_vocab;
  auto seq = engine_->new_sequence();
  if (!seq.ok()) return seq.status().with_context("full-model reference");
  engine::Batch batch;
  std::vector<float> logits;
  Status st;
  for (size_t i = 0; i < tokens.size() && st.is_ok(); i += kStepTokens) {
    const size_t end = std::min(tokens.size(), i + kStepTokens);
    batch.clear();
    for (size_t j = i; j < end; ++j) {
      batch.push_back(
          {tokens[j], *seq, static_cast<int32_t>(j), j >= first_scored, engine::Phase::Prefill});
    }
    st = engine_->decode(batch, &logits);
    if (!st.is_ok()) break;
    // Rows come back in batch order for the tokens that asked for logits.
    size_t row = 0;
    for (size_t j = std::max(i, first_scored); j < end; ++j, ++row) {
      const std::span<const float> r(logits.data() + row * static_cast<size_t>(n_vocab),
                                     static_cast<size_t>(n_vocab));
      const int32_t want = generated[j - first_scored];
      ++a.scored;
      a.agreeing += metrics::argmax(r) == want ? 1 : 0;
    }
  }
  engine_->free_sequence(*seq);
  if (!st.is_ok()) return st.with_context("teacher-forced accuracy pass");
  return a;
}

}  // namespace emoe::experiment
