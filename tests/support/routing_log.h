// What the routing-mode and paging tests need from an engine run: every routing event copied
// (router top-k, the experts used, their weights, which were resident) and every memory sample,
// and the logits of a batched prompt followed by greedy single-token steps on a fresh engine.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/common/status.h"
#include "core/engine/engine.h"
#include "core/engine/forward_observer.h"

namespace emoe::model {
class Model;
}

namespace emoe::test {

struct RoutingLog : engine::ForwardObserver {
  struct Entry {
    int32_t layer = 0;
    std::vector<int32_t> topk, used;
    std::vector<float> probs, weights, used_w;
    std::vector<uint8_t> resident;
  };
  void on_routing(const engine::RoutingEvent& ev) override;
  void on_memory_sample(const engine::MemorySample& m) override { samples.push_back(m); }
  std::vector<Entry> entries;
  std::vector<engine::MemorySample> samples;
};

// Logits [prompt + steps][n_vocab]: the prompt in one batch (every row), then `steps` greedy
// decode steps, on a fresh engine with n_ctx 64 over `access`; `log` (optional) observes it.
Result<std::vector<float>> run_prompt_then_greedy(const model::Model& m,
                                                  engine::ExpertAccess access,
                                                  std::span<const int32_t> prompt,
                                                  RoutingLog* log = nullptr, int steps = 4);

bool bit_equal(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace emoe::test
