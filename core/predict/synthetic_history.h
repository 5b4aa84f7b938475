// Synthetic routing histories with known structure, for benchmarks, demos and what-if runs
// before a real trace exists. Each task has a few routing "modes" (think topics); a mode fixes
// an expert set per layer; a prompt draws its task, keeps or changes its task's last mode, and
// perturbs the mode's sets; its tokens then route mostly into the prompt's sets. That gives the
// properties the paper observed (task dependence, prompt-to-prompt correlation, imperfect
// predictability) with knobs for each.
#pragma once

#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "core/predict/routing_history.h"

namespace emoe::predict {

struct SyntheticHistoryOptions {
  HistoryShape shape;  // layers, experts, k; phase is not used here
  int32_t n_prompts = 2000;
  int32_t n_tasks = 5;  // named "task0".."task{n-1}"
  int32_t modes_per_task = 3;
  double task_stay = 0.0;       // P(next task = last task); otherwise uniform (paper: uniform)
  double mode_stay = 0.8;       // P(a task's prompt keeps the task's last mode)
  double swap_fraction = 0.15;  // P(each expert of a mode's set is swapped out in a prompt)
  double token_noise = 0.25;    // P(a token's expert slot ignores the prompt's set)
  double zipf_s = 0.8;          // skew of global expert popularity (0 = uniform)
  int32_t min_tokens = 8;       // per phase, uniform in [min, max]
  int32_t max_tokens = 48;
  uint64_t seed = 7;

  Status validate() const;
};

// Records in arrival order, request ids 0..n-1.
Result<std::vector<PromptRecord>> make_synthetic_history(const SyntheticHistoryOptions& options);

}  // namespace emoe::predict
