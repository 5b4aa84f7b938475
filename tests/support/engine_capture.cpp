#include "tests/support/engine_capture.h"

#include <algorithm>
#include <cmath>

#include "core/engine/engine.h"
#include "core/model/model.h"

namespace emoe::test {

void CaptureObserver::on_routing(const engine::RoutingEvent& ev) {
  CapturedRoute r;
  r.token = ev.token;
  r.phase = ev.phase;
  r.router_logits.assign(ev.router_logits.begin(), ev.router_logits.end());
  r.probs.assign(ev.probs.begin(), ev.probs.end());
  r.topk.assign(ev.topk.begin(), ev.topk.end());
  r.weights_raw.assign(ev.weights_raw.begin(), ev.weights_raw.end());
  r.weights.assign(ev.weights.begin(), ev.weights.end());
  auto [it, inserted] = routes_.insert_or_assign({ev.layer, ev.pos}, std::move(r));
  (void)it;
  if (!inserted) ++duplicate_routes_;
}

void CaptureObserver::on_layer_output(int32_t layer, std::span<const engine::BatchToken> batch,
                                      const float* hidden, int64_t n_embd) {
  for (size_t i = 0; i < batch.size(); ++i) {
    const float* row = hidden + static_cast<int64_t>(i) * n_embd;
    auto [it, inserted] =
        hidden_.insert_or_assign({layer, batch[i].pos}, std::vector<float>(row, row + n_embd));
    (void)it;
    if (!inserted) ++duplicate_hidden_;
  }
}

const CapturedRoute* CaptureObserver::route(int32_t layer, int64_t pos) const {
  auto it = routes_.find({layer, pos});
  return it == routes_.end() ? nullptr : &it->second;
}

const std::vector<float>* CaptureObserver::hidden(int32_t layer, int64_t pos) const {
  auto it = hidden_.find({layer, pos});
  return it == hidden_.end() ? nullptr : &it->second;
}

int32_t argmax_row(const float* row, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return static_cast<int32_t>(best);
}

double logsumexp_row(const float* row, int64_t n) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(row[i]));
  double s = 0.0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(row[i]) - mx);
  return mx + std::log(s);
}

Result<EngineRun> run_prompt(const model::Model& model, std::span<const int32_t> prompt,
                             const RunOptions& options) {
  engine::EngineOptions eo;
  eo.n_threads = options.n_threads;
  eo.n_ctx = options.n_ctx;
  eo.kv_type = options.kv_type;
  auto created = engine::Engine::create(model, eo);
  if (!created.ok()) return created.status().with_context("Engine::create");
  engine::Engine& eng = *created.value();

  EngineRun run;
  run.prompt.assign(prompt.begin(), prompt.end());
  eng.add_observer(&run.capture);
  auto seq = eng.new_sequence();
  if (!seq.ok()) return seq.status().with_context("new_sequence");
  const int32_t s = seq.value();
  const auto n = static_cast<int32_t>(prompt.size());

  std::vector<float> logits;
  if (options.prefill == PrefillMode::Batched) {
    engine::Batch batch;
    for (int32_t i = 0; i < n; ++i) {
      batch.push_back({prompt[static_cast<size_t>(i)], s, i, true, engine::Phase::Prefill});
    }
    EMOE_RETURN_IF_ERROR(eng.decode(batch, &logits).with_context("batched prompt decode"));
    run.prompt_logits = logits;
  } else {
    for (int32_t i = 0; i < n; ++i) {
      const engine::BatchToken t{prompt[static_cast<size_t>(i)], s, i, true,
                                 engine::Phase::Prefill};
      EMOE_RETURN_IF_ERROR(eng.decode(std::span<const engine::BatchToken>(&t, 1), &logits)
                               .with_context("prompt token " + std::to_string(i)));
      run.prompt_logits.insert(run.prompt_logits.end(), logits.begin(), logits.end());
    }
  }
  if (n == 0 || run.prompt_logits.size() % static_cast<size_t>(n) != 0) {
    return internal_error("engine returned " + std::to_string(run.prompt_logits.size()) +
                          " logits for " + std::to_string(n) + " prompt tokens");
  }
  run.n_vocab = static_cast<int64_t>(run.prompt_logits.size()) / n;
  run.step_logits.assign(run.prompt_row(n - 1), run.prompt_row(n - 1) + run.n_vocab);

  for (size_t j = 0; j < options.forced.size(); ++j) {
    const engine::BatchToken t{options.forced[j], s, n + static_cast<int32_t>(j), true,
                               engine::Phase::Decode};
    EMOE_RETURN_IF_ERROR(eng.decode(std::span<const engine::BatchToken>(&t, 1), &logits)
                             .with_context("decode step " + std::to_string(j)));
    if (static_cast<int64_t>(logits.size()) != run.n_vocab) {
      return internal_error("decode step " + std::to_string(j) + " returned " +
                            std::to_string(logits.size()) + " logits");
    }
    run.step_logits.insert(run.step_logits.end(), logits.begin(), logits.end());
  }
  if (eng.sequence_length(s) != n + static_cast<int32_t>(options.forced.size())) {
    return internal_error("sequence_length is " + std::to_string(eng.sequence_length(s)) +
                          " after " + std::to_string(n + options.forced.size()) + " tokens");
  }
  eng.remove_observer(&run.capture);
  return run;
}

}  // namespace emoe::test
