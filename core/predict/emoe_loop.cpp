#include "core/predict/emoe_loop.h"

#include <algorithm>
#include <chrono>

#include "core/experts/expert_cache.h"

namespace emoe::predict {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The planner's key of every task when loading is task-agnostic.
const std::string kAgnosticKey = "*";

}  // namespace

double mean_output_tokens(const RoutingHistory& h, const std::string& task, bool any_task) {
  double sum = 0;
  int64_t n = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    if (!any_task && h.at(i).task != task) continue;
    sum += static_cast<double>(h.at(i).decode_tokens);
    ++n;
  }
  return n > 0 ? sum / static_cast<double>(n) : -1.0;
}

Result<std::unique_ptr<EmoeLoop>> EmoeLoop::create(experts::ExpertCache& cache, HistoryShape shape,
                                                   EmoeLoopOptions options) {
  const auto& names = predictor_names();
  if (std::find(names.begin(), names.end(), options.predictor) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    return invalid_argument("emoe: unknown predictor '" + options.predictor + "' (known: " + list +
                            ")");
  }
  if (options.interval < PeriodicInvoker::kMinPeriod ||
      options.interval > PeriodicInvoker::kMaxPeriod) {
    return invalid_argument("emoe: the interval p must be in 1..200, got " +
                            std::to_string(options.interval));
  }
  if (options.mode != engine::RoutingMode::Fallback && options.mode != engine::RoutingMode::Exact) {
    return invalid_argument("emoe: routing must be fallback or exact, got '" +
                            std::string(engine::routing_mode_name(options.mode)) + "'");
  }
  for (const auto& [task, s] : options.sensitivity) {
    if (s.size() != static_cast<size_t>(shape.n_layer)) {
      return invalid_argument("emoe: the sensitivity of task '" + task + "' has " +
                              std::to_string(s.size()) + " layers, the model " +
                              std::to_string(shape.n_layer));
    }
  }
  auto history = RoutingHistory::create(shape, std::max<size_t>(options.history_capacity, 1));
  if (!history.ok()) return history.status();
  PredictorOptions po = options.predictor_options;
  po.shape = shape;
  po.seed = options.seed;
  auto p = make_predictor(options.predictor, po);
  if (!p.ok()) return p.status();
  std::unique_ptr<EmoeLoop> loop(
      new EmoeLoop(cache, shape, std::move(options), std::move(history).value()));
  loop->predictor_ = std::move(p).value();
  return loop;
}

Status EmoeLoop::start(ColdStartProfile cold) {
  const InvokerMode mode = options_.task_aware ? options_.invoker_mode : InvokerMode::Single;
  auto inv = PeriodicInvoker::create(predictor_.get(), options_.interval, std::move(cold), mode);
  if (!inv.ok()) return inv.status();
  auto ps = PlannerShape::from_cache(*cache_);
  if (!ps.ok()) return ps.status();
  if (options_.mode == engine::RoutingMode::Exact) {
    // Exact loads missing experts on demand, which with the Pinned policy may only evict
    // unplanned ones: leave k slots per layer unplanned.
    for (auto& c : ps->capacity) c = c > 0 ? std::max(0, c - shape_.k) : 0;
  }
  auto pl = ExpertPlanner::create(std::move(ps).value());
  if (!pl.ok()) return pl.status();
  invoker_.emplace(std::move(inv).value());
  planner_.emplace(std::move(pl).value());
  applier_.emplace(*cache_);
  return Status::ok();
}

Result<EmoeStep> EmoeLoop::plan(const std::string& task, int64_t prompt_tokens,
                                int32_t max_new_tokens) {
  if (!started()) EMOE_RETURN_IF_ERROR(start());
  EmoeStep step;
  PeriodicInvoker::Decision d;
  const Clock::time_point t0 = Clock::now();
  const ExpertPrediction& f = invoker_->next_prompt(history_, task, &d);
  step.predict_seconds = since(t0);
  step.invoked = d.invoked;
  step.cold_start = d.cold_start;
  const std::string key = options_.task_aware ? task : kAgnosticKey;
  EMOE_RETURN_IF_ERROR(planner_->set_frequency(key, f));
  std::vector<float> s;
  if (options_.task_aware) {
    auto it = options_.sensitivity.find(task);
    if (it != options_.sensitivity.end()) s = it->second;
  }
  EMOE_RETURN_IF_ERROR(planner_->set_sensitivity(key, std::move(s)));
  double wo = mean_output_tokens(history_, task, !options_.task_aware);
  if (wo < 0) {
    auto it = options_.default_output_tokens.find(task);
    wo = it != options_.default_output_tokens.end() ? it->second : max_new_tokens;
  }
  planner_->set_output_length(key, wo);
  const RunningRequest running{key, prompt_tokens};
  auto plan = planner_->plan(std::span<const RunningRequest>(&running, 1), residents_of(*cache_));
  if (!plan.ok()) return plan.status();
  step.changed_layers = static_cast<int32_t>(plan->changed_layers.size());
  if (step.changed_layers > 0) ++plan_changes_;
  const Clock::time_point t1 = Clock::now();
  auto applied = applier_->apply(*plan, true);
  if (!applied.ok()) return applied.status();
  step.load_seconds = since(t1);
  step.bytes_requested = applied->bytes_requested;
  step.planned.reserve(plan->layers.size());
  for (LayerPlan& l : plan->layers) step.planned.push_back(std::move(l.experts));
  return step;
}

Result<double> EmoeLoop::observe(const PromptRecord& record) {
  EMOE_RETURN_IF_ERROR(history_.add(record));
  const Clock::time_point t0 = Clock::now();
  EMOE_RETURN_IF_ERROR(predictor_->observe(record));
  return since(t0);
}

}  // namespace emoe::predict
