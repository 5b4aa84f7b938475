#include "core/predict/periodic_invoker.h"

#include "core/predict/baseline_predictors.h"

namespace emoe::predict {

ColdStartProfile ColdStartProfile::from_history(const RoutingHistory& history) {
  ColdStartProfile cold;
  if (history.empty()) return cold;
  std::map<std::string, bool> tasks;
  for (size_t i = 0; i < history.size(); ++i) tasks[history.at(i).task] = true;
  for (const auto& [task, unused] : tasks) cold.per_task[task] = popularity_profile(history, task);
  cold.global = popularity_profile(history);
  return cold;
}

namespace {
Status check_period(int32_t period) {
  if (period < PeriodicInvoker::kMinPeriod || period > PeriodicInvoker::kMaxPeriod) {
    return invalid_argument("predictor period p=" + std::to_string(period) + " is outside " +
                            std::to_string(PeriodicInvoker::kMinPeriod) + ".." +
                            std::to_string(PeriodicInvoker::kMaxPeriod) + " prompts");
  }
  return Status::ok();
}
}  // namespace

Result<PeriodicInvoker> PeriodicInvoker::create(Predictor* predictor, int32_t period,
                                                ColdStartProfile cold_start, InvokerMode mode) {
  if (predictor == nullptr) return invalid_argument("periodic invoker: no predictor given");
  EMOE_RETURN_IF_ERROR(check_period(period));
  const HistoryShape& s = predictor->shape();
  for (const auto& [task, profile] : cold_start.per_task) {
    if (!profile.same_shape(s.n_layer, s.n_expert)) {
      return invalid_argument("periodic invoker: cold-start profile of task \"" + task +
                              "\" has shape " + std::to_string(profile.n_layer) + " x " +
                              std::to_string(profile.n_expert) + ", the model has " +
                              std::to_string(s.n_layer) + " x " + std::to_string(s.n_expert));
    }
  }
  if (cold_start.global && !cold_start.global->same_shape(s.n_layer, s.n_expert)) {
    return invalid_argument("periodic invoker: global cold-start profile has shape " +
                            std::to_string(cold_start.global->n_layer) + " x " +
                            std::to_string(cold_start.global->n_expert) + ", the model has " +
                            std::to_string(s.n_layer) + " x " + std::to_string(s.n_expert));
  }
  for (auto& [task, profile] : cold_start.per_task) profile.normalize_rows();
  if (cold_start.global) cold_start.global->normalize_rows();
  PeriodicInvoker inv(predictor, period, std::move(cold_start), mode);
  inv.current_ = ExpertPrediction::unknown(s.n_layer, s.n_expert);
  return inv;
}

Status PeriodicInvoker::set_period(int32_t period) {
  EMOE_RETURN_IF_ERROR(check_period(period));
  period_ = period;
  return Status::ok();
}

const ExpertPrediction* PeriodicInvoker::latest_for_task(const std::string& task) const {
  auto it = per_task_latest_.find(task);
  return it == per_task_latest_.end() ? nullptr : &it->second;
}

bool PeriodicInvoker::fill_cold(ExpertPrediction& p, const RoutingHistory& history,
                                const std::string& task) {
  const ExpertPrediction* profile = nullptr;
  auto it = cold_.per_task.find(task);
  std::optional<ExpertPrediction> measured;
  if (it != cold_.per_task.end()) {
    profile = &it->second;
  } else if (cold_.global) {
    profile = &*cold_.global;
  }
  bool filled = false;
  for (int32_t l = 0; l < p.n_layer; ++l) {
    if (p.layer_known(l)) continue;
    const ExpertPrediction* src = profile;
    // A task profile without this layer still leaves the global fallback.
    if (src != nullptr && !src->layer_known(l) && cold_.global && src != &*cold_.global) {
      src = &*cold_.global;
    }
    if (src == nullptr || !src->layer_known(l)) {
      if (!measured && !history.empty() && history.shape().n_layer == p.n_layer &&
          history.shape().n_expert == p.n_expert) {
        measured = popularity_profile(history);
      }
      src = measured ? &*measured : nullptr;
    }
    if (src == nullptr || !src->layer_known(l)) continue;
    std::copy(src->row(l).begin(), src->row(l).end(), p.row(l).begin());
    filled = true;
  }
  return filled;
}

ExpertPrediction PeriodicInvoker::run(const RoutingHistory& history, const std::string& task,
                                      bool* cold) {
  ExpertPrediction p = predictor_->predict(history, task);
  ++calls_;
  if (fill_cold(p, history, task)) *cold = true;
  return p;
}

const ExpertPrediction& PeriodicInvoker::next_prompt(const RoutingHistory& history,
                                                     const std::string& task, Decision* decision) {
  Decision d;
  d.prompt_index = prompts_;
  if (last_invoked_ < 0 || prompts_ - last_invoked_ >= period_) {
    if (mode_ == InvokerMode::PerTask) {
      // Every task seen so far (history, profiles) plus this prompt's; sorted for determinism.
      std::map<std::string, bool> tasks;
      for (size_t i = 0; i < history.size(); ++i) tasks[history.at(i).task] = true;
      for (const auto& [t, profile] : cold_.per_task) tasks[t] = true;
      for (const auto& [t, pred] : per_task_latest_) tasks[t] = true;
      tasks[task] = true;
      for (const auto& [t, unused] : tasks) {
        bool cold = false;
        per_task_latest_[t] = run(history, t, &cold);
        if (t == task) d.cold_start = cold;
      }
      current_ = per_task_latest_[task];
    } else {
      current_ = run(history, task, &d.cold_start);
      per_task_latest_[task] = current_;
    }
    last_invoked_ = prompts_;
    ++invocations_;
    d.invoked = true;
  } else if (mode_ == InvokerMode::PerTask) {
    auto it = per_task_latest_.find(task);
    if (it != per_task_latest_.end()) {
      current_ = it->second;
    } else {
      // A task first seen between runs: its profile (or popularity) until the next run.
      ExpertPrediction p = ExpertPrediction::unknown(current_.n_layer, current_.n_expert);
      d.cold_start = fill_cold(p, history, task);
      current_ = std::move(p);
    }
  }
  ++prompts_;
  if (decision != nullptr) *decision = d;
  return current_;
}

}  // namespace emoe::predict
