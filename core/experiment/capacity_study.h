// The capacity study (the paper's section 4.6, "what the saved memory buys"): one fixed device
// budget is split between dense weights, the expert tier, scratch buffers and the KV cache
// (experts::plan_memory). A smaller expert budget leaves more KV cache, so more requests fit
// at once (max batch at a given prompt length) and each of a given number of requests can be
// longer (max prompt). Both limits are computed from the plan and then confirmed by actually
// running them: an engine with exactly that many sequences and that context serves the batch
// through the serving loop, and the measured peak device memory (dense + resident experts +
// KV + scratch) must stay within the device budget.
#pragma once

#include <atomic>
#include <functional>
#include <vector>

#include "core/common/status.h"
#include "core/experiment/experiment_config.h"
#include "core/experiment/experiment_result.h"

namespace emoe::engine {
class InferenceSession;
}

namespace emoe::experiment {

// The device budget of CapacitySpec::device_bytes == 0: dense + all experts + scratch + KV for
// spec.batch requests of prompt_tokens + generate_tokens (the all-experts baseline exactly full).
Result<uint64_t> baseline_device_bytes(const engine::InferenceSession& session,
                                       const CapacitySpec& spec);

// The limits alone (no confirming runs; *_run_ok false): one outcome per spec.budgets entry.
// InvalidArgument naming the budget when it cannot be parsed, is below the minimum expert tier,
// or leaves the device budget too small for dense weights, experts, scratch and one KV token;
// also for spec values out of range. Cheap: run_experiment validates with it before any point.
Result<std::vector<CapacityOutcome>> plan_capacity(const engine::InferenceSession& session,
                                                   const CapacitySpec& spec);

// Tokens per forward step of the confirming runs, and the batch the plan's scratch buffers are
// sized for: max(512, max_batch_limit, batch), so every decode token of a run fits one step.
int64_t capacity_step_tokens(const CapacitySpec& spec);

// One outcome per spec.budgets entry, in order. `session` is reconfigured for the runs (its
// last configuration stays). progress(i, n) before budget i; cancel is checked between the
// serving steps of the runs: a cancelled study returns the budgets finished before it. A run
// that does not confirm its limit (a request fails, the engine allocates another amount of KV
// cache than planned, or the measured peak exceeds the device budget) is reported in the
// outcome (*_run_ok = false, *_run_error), not as an error.
Result<std::vector<CapacityOutcome>> run_capacity_study(
    engine::InferenceSession& session, const CapacitySpec& spec, int n_threads,
    const std::function<void(int32_t, int32_t)>& progress = {},
    const std::atomic<bool>* cancel = nullptr);

}  // namespace emoe::experiment
