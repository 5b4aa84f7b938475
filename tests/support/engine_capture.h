// Runs the engine over one prompt the way the fixture dumper ran llama.cpp, and records what a
// comparison needs: logits of every prompt position and decode step, and (through a
// ForwardObserver) every routing decision and every layer's output.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <utility>
#include <vector>

#include "core/common/status.h"
#include "core/engine/forward_observer.h"
#include "kernels/tensor_type.h"

namespace emoe::model {
class Model;
}

namespace emoe::test {

struct CapturedRoute {
  int32_t token = 0;
  engine::Phase phase = engine::Phase::Prefill;
  std::vector<float> router_logits, probs, weights_raw, weights;  // copies of the event's spans
  std::vector<int32_t> topk;
};

// Keeps the last routing event and layer output per (layer, position) of every sequence seen
// (the runs below use one sequence). Counts events that arrive twice for the same key, which
// would mean the engine reports a token twice.
class CaptureObserver : public engine::ForwardObserver {
 public:
  void on_routing(const engine::RoutingEvent& ev) override;
  void on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                       const float* hidden, int64_t n_embd) override;

  const CapturedRoute* route(int32_t layer, int64_t pos) const;
  const std::vector<float>* hidden(int32_t layer, int64_t pos) const;
  int64_t duplicate_routes() const { return duplicate_routes_; }
  int64_t duplicate_hidden() const { return duplicate_hidden_; }
  int64_t route_count() const { return static_cast<int64_t>(routes_.size()); }

 private:
  std::map<std::pair<int32_t, int64_t>, CapturedRoute> routes_;       // (layer, pos)
  std::map<std::pair<int32_t, int64_t>, std::vector<float>> hidden_;  // (layer, pos)
  int64_t duplicate_routes_ = 0;
  int64_t duplicate_hidden_ = 0;
};

enum class PrefillMode { Batched, TokenByToken };

struct RunOptions {
  int n_threads = 1;
  int64_t n_ctx = 512;
  kernels::TensorType kv_type = kernels::TensorType::F32;
  PrefillMode prefill = PrefillMode::Batched;
  // Tokens fed one decode call each at positions n, n+1, ... after the prompt (teacher forcing
  // with the reference's greedy tokens, so the comparison does not stop at a fragile step).
  std::vector<int32_t> forced;
};

struct EngineRun {
  int64_t n_vocab = 0;
  std::vector<int32_t> prompt;
  std::vector<float> prompt_logits;  // [n_prompt][n_vocab]
  // Row j is the row that chooses generated token j: row 0 = last prompt row, row j >= 1 =
  // the output after feeding forced[j-1]. [1 + forced.size()][n_vocab].
  std::vector<float> step_logits;
  CaptureObserver capture;

  const float* prompt_row(int64_t pos) const { return prompt_logits.data() + pos * n_vocab; }
  const float* step_row(int64_t j) const { return step_logits.data() + j * n_vocab; }
  int64_t n_steps() const {
    return n_vocab ? static_cast<int64_t>(step_logits.size()) / n_vocab : 0;
  }
};

// A fresh engine per call, so runs cannot influence each other through cache state.
Result<EngineRun> run_prompt(const model::Model& model, std::span<const int32_t> prompt,
                             const RunOptions& options);

// Index of the largest value, the lowest index on ties (llama.cpp's greedy sampler).
int32_t argmax_row(const float* row, int64_t n);
// log(sum(exp(row))) in float64.
double logsumexp_row(const float* row, int64_t n);

}  // namespace emoe::test
