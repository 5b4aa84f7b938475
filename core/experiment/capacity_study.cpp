#include "core/experiment/capacity_study.h"

#include <algorithm>
#include <string>

#include "core/engine/inference_session.h"
#include "core/experiment/capacity_run.h"
#include "core/experts/cache_model.h"
#include "core/experts/expert_store.h"
#include "core/experts/memory_plan.h"
#include "core/model/model.h"
#include "core/sched/builtin_workloads.h"

namespace emoe::experiment {
namespace {

// Large enough that plan_memory never refuses it, small enough that no sum overflows: used to
// read the plan's fixed parts (dense, scratch, KV per token) without a real device budget.
constexpr uint64_t kUnboundedDevice = uint64_t{1} << 60;
constexpr int32_t kMaxSequencesLimit = 4096;  // InferenceSession's limit

Status check_spec(const CapacitySpec& spec) {
  if (spec.prompt_tokens < 1) return invalid_argument("capacity: prompt_tokens must be >= 1");
  if (spec.batch < 1) return invalid_argument("capacity: batch must be >= 1");
  if (spec.generate_tokens < 1) return invalid_argument("capacity: generate_tokens must be >= 1");
  if (spec.max_batch_limit < 1 || spec.max_batch_limit > kMaxSequencesLimit) {
    return invalid_argument("capacity: max_batch_limit must be in 1.." +
                            std::to_string(kMaxSequencesLimit));
  }
  if (spec.batch > kMaxSequencesLimit) {
    return invalid_argument("capacity: batch must be at most " +
                            std::to_string(kMaxSequencesLimit));
  }
  if (spec.budgets.empty()) return invalid_argument("capacity: no expert budgets to compare");
  return Status::ok();
}

Result<const experts::ExpertStore*> store_of(const engine::InferenceSession& session) {
  if (session.store() == nullptr) {
    return invalid_argument("capacity: the model has no experts, so there is nothing to trade");
  }
  return session.store();
}

// The built-in prompts as one token stream (real text to cut the runs' prompts from).
Result<std::vector<int32_t>> prompt_stream(const model::Model& model) {
  auto prompts = sched::builtin_task_prompts();
  if (!prompts.ok()) return prompts.status();
  std::string text;
  for (const auto& task : *prompts) {
    for (const std::string& p : task) text += p + "\n";
  }
  std::vector<int32_t> s = model.tokenizer().encode(text, true, false);
  if (s.size() < 2) return internal_error("capacity: the built-in prompts give no tokens");
  return s;
}

}  // namespace

int64_t capacity_step_tokens(const CapacitySpec& spec) {
  return std::max<int64_t>({512, spec.max_batch_limit, spec.batch});
}

Result<uint64_t> baseline_device_bytes(const engine::InferenceSession& session,
                                       const CapacitySpec& spec) {
  EMOE_RETURN_IF_ERROR(check_spec(spec));
  auto store = store_of(session);
  if (!store.ok()) return store.status();
  const model::Model& m = session.model();
  experts::MemoryPlanOptions o;
  o.device_bytes = kUnboundedDevice;
  o.n_batch = capacity_step_tokens(spec);
  auto p = experts::plan_memory(m.config(), m.weights(), **store, o);
  if (!p.ok()) return p.status().with_context("capacity baseline");
  const uint64_t tokens = static_cast<uint64_t>(spec.batch) *
                          static_cast<uint64_t>(spec.prompt_tokens + spec.generate_tokens);
  return p->dense_bytes + p->all_expert_bytes + p->scratch_bytes + tokens * p->kv_bytes_per_token;
}

Result<std::vector<CapacityOutcome>> plan_capacity(const engine::InferenceSession& session,
                                                   const CapacitySpec& spec) {
  EMOE_RETURN_IF_ERROR(check_spec(spec));
  auto store = store_of(session);
  if (!store.ok()) return store.status();
  uint64_t device = spec.device_bytes;
  if (device == 0) {
    auto b = baseline_device_bytes(session, spec);
    if (!b.ok()) return b.status();
    device = *b;
  }
  const model::Model& m = session.model();
  const experts::CacheShape shape = experts::CacheShape::from_store(**store);
  const uint64_t minimum = experts::ExpertCache::minimum_budget(**store);
  const int64_t per_request = spec.prompt_tokens + spec.generate_tokens;
  std::vector<CapacityOutcome> out;
  for (const std::string& budget : spec.budgets) {
    const std::string who = "capacity budget '" + budget + "'";
    auto bytes = experts::parse_budget_text(budget, shape);
    if (!bytes.ok()) return bytes.status().with_context(who);
    if (*bytes < minimum) {
      return invalid_argument(who + ": " + std::to_string(*bytes) +
                              " bytes is below the minimum expert tier of " +
                              std::to_string(minimum) + " bytes (" +
                              std::to_string(m.config().n_expert_used) + " experts per layer)");
    }
    experts::MemoryPlanOptions o;
    o.device_bytes = device;
    o.expert_budget = *bytes;
    o.n_batch = capacity_step_tokens(spec);
    auto p = experts::plan_memory(m.config(), m.weights(), **store, o);
    if (!p.ok()) return invalid_argument(who + ": " + p.status().message());
    CapacityOutcome c;
    c.budget = budget;
    c.device_bytes = p->device_bytes;
    c.dense_bytes = p->dense_bytes;
    c.expert_bytes = p->expert_bytes;
    c.scratch_bytes = p->scratch_bytes;
    c.kv_bytes = p->kv_bytes;
    c.kv_bytes_per_token = p->kv_bytes_per_token;
    c.max_context_tokens = p->max_context;
    // The tier's slots, as ExpertCache counts them (every expert: no tier at all).
    const uint64_t slot = shape.slot_bytes();
    const uint64_t all_slots =
        static_cast<uint64_t>(shape.moe_layers()) * static_cast<uint64_t>(shape.n_expert);
    c.expert_fraction = c.expert_bytes >= p->all_expert_bytes || all_slots == 0
                            ? 1.0
                            : static_cast<double>(std::min(c.expert_bytes / slot, all_slots)) /
                                  static_cast<double>(all_slots);
    c.max_batch =
        static_cast<int32_t>(std::min<int64_t>(p->max_context / per_request, spec.max_batch_limit));
    c.max_prompt = std::max<int64_t>(0, p->max_context / spec.batch - spec.generate_tokens);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<CapacityOutcome>> run_capacity_study(
    engine::InferenceSession& session, const CapacitySpec& spec, int n_threads,
    const std::function<void(int32_t, int32_t)>& progress, const std::atomic<bool>* cancel) {
  auto planned = plan_capacity(session, spec);
  if (!planned.ok()) return planned.status();
  auto stream = prompt_stream(session.model());
  if (!stream.ok()) return stream.status();
  const auto n = static_cast<int32_t>(planned->size());
  std::vector<CapacityOutcome> out;
  for (int32_t i = 0; i < n; ++i) {
    if (cancel && cancel->load(std::memory_order_relaxed)) break;
    if (progress) progress(i, n);
    CapacityOutcome c = (*planned)[static_cast<size_t>(i)];
    const std::string who = "capacity budget '" + c.budget + "'";
    CapacityRunSpec rs;
    rs.step_tokens = capacity_step_tokens(spec);
    rs.n_threads = n_threads;
    rs.generate_tokens = spec.generate_tokens;

    rs.requests = c.max_batch;
    rs.prompt_tokens = spec.prompt_tokens;
    auto batch = run_capacity_check(session, c, rs, *stream, cancel);
    if (!batch.ok()) return batch.status().with_context(who + ", max-batch run");
    if (batch->cancelled) break;
    c.batch_run_ok = batch->ok;
    c.batch_run_error = batch->error;
    c.batch_run_peak_bytes = batch->peak_bytes;
    c.batch_run_tokens_per_s = batch->tokens_per_s;

    rs.requests = spec.batch;
    rs.prompt_tokens = c.max_prompt;
    auto prompt = run_capacity_check(session, c, rs, *stream, cancel);
    if (!prompt.ok()) return prompt.status().with_context(who + ", max-prompt run");
    if (prompt->cancelled) break;
    c.prompt_run_ok = prompt->ok;
    c.prompt_run_error = prompt->error;
    c.prompt_run_peak_bytes = prompt->peak_bytes;
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace emoe::experiment
