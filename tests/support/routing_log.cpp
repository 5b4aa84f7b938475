#include "tests/support/routing_log.h"

#include <algorithm>
#include <cstring>

#include "core/model/model.h"

namespace emoe::test {

void RoutingLog::on_routing(const engine::RoutingEvent& ev) {
  Entry e;
  e.layer = ev.layer;
  e.topk.assign(ev.topk.begin(), ev.topk.end());
  e.used.assign(ev.used.begin(), ev.used.end());
  e.probs.assign(ev.probs.begin(), ev.probs.end());
  e.weights.assign(ev.weights.begin(), ev.weights.end());
  e.used_w.assign(ev.used_weights.begin(), ev.used_weights.end());
  e.resident.assign(ev.resident.begin(), ev.resident.end());
  entries.push_back(std::move(e));
}

Result<std::vector<float>> run_prompt_then_greedy(const model::Model& m,
                                                  engine::ExpertAccess access,
                                                  std::span<const int32_t> prompt, RoutingLog* log,
                                                  int steps) {
  engine::EngineOptions o;
  o.n_ctx = 64;
  o.experts = access;
  auto e = engine::Engine::create(m, o);
  if (!e.ok()) return e.status();
  if (log) (*e)->add_observer(log);
  auto seq = (*e)->new_sequence();
  if (!seq.ok()) return seq.status();
  engine::Batch b;
  for (size_t i = 0; i < prompt.size(); ++i) {
    b.push_back({prompt[i], *seq, static_cast<int32_t>(i), true, engine::Phase::Prefill});
  }
  std::vector<float> all, logits;
  EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
  all = logits;
  const int64_t n_vocab = m.config().n_vocab;
  for (int step = 0; step < steps; ++step) {
    const float* last = logits.data() + logits.size() - n_vocab;
    const auto next = static_cast<int32_t>(std::max_element(last, last + n_vocab) - last);
    b.assign(1,
             {next, *seq, static_cast<int32_t>(prompt.size()) + step, true, engine::Phase::Decode});
    EMOE_RETURN_IF_ERROR((*e)->decode(b, &logits));
    all.insert(all.end(), logits.begin(), logits.end());
  }
  return all;
}

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace emoe::test
