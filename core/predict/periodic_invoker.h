// Periodic invocation (paper section 2.3): the predictor runs on prompt 0 and then once every
// p prompts; the prompts in between reuse the last prediction, which is what keeps eMoE's
// predictor overhead at a fraction of a percent. Cold start respects the memory budget instead
// of the paper's "load everything" (DESIGN.md section 5): layers the predictor knows nothing
// about come from the prompt's task profile if one is given, else from a global popularity
// profile (given, or measured on the history so far).
#pragma once

#include <map>
#include <optional>

#include "core/predict/predictor.h"

namespace emoe::predict {

// Single: the paper's scheme, one prediction (for the invoking prompt's task) serves every
// prompt until the next run. PerTask: each run predicts for every task seen so far (PAPER.md
// section 5 item 2), and each prompt in between gets its own task's prediction, which is what
// the task-aware loader (Eq. 2) needs when tasks are mixed.
enum class InvokerMode { Single = 0, PerTask = 1 };

struct ColdStartProfile {
  std::map<std::string, ExpertPrediction> per_task;  // profiled frequency per task
  std::optional<ExpertPrediction> global;            // absent: popularity of the history

  // The popularity of a profiling pass's history: per task seen, and over all (none when the
  // history is empty).
  static ColdStartProfile from_history(const RoutingHistory& history);
};

class PeriodicInvoker {
 public:
  static constexpr int32_t kMinPeriod = 1;
  static constexpr int32_t kMaxPeriod = 200;

  // predictor must outlive the invoker. period p in 1..200 (the paper uses 40).
  static Result<PeriodicInvoker> create(Predictor* predictor, int32_t period,
                                        ColdStartProfile cold_start = {},
                                        InvokerMode mode = InvokerMode::Single);

  struct Decision {
    int64_t prompt_index = 0;  // 0-based count of prompts seen
    bool invoked = false;      // the predictor ran for this prompt
    bool cold_start = false;   // some layer came from the cold-start profile
  };

  // Once per prompt, before it is served; `history` holds the prompts before it. Returns the
  // prediction to plan with (valid until the next call).
  const ExpertPrediction& next_prompt(const RoutingHistory& history, const std::string& task,
                                      Decision* decision = nullptr);

  // A new period applies from the next prompt: the predictor runs again once `period` prompts
  // have passed since its last run (so a constant p runs on 0, p, 2p, ...).
  Status set_period(int32_t period);
  int32_t period() const { return period_; }
  int64_t prompts() const { return prompts_; }
  int64_t invocations() const { return invocations_; }  // prompts on which the predictor ran
  int64_t predictor_calls() const { return calls_; }    // predict() calls (PerTask: several)
  InvokerMode mode() const { return mode_; }
  const ExpertPrediction& current() const { return current_; }
  // The prediction last made for a task's prompt, if the predictor ever ran for that task.
  const ExpertPrediction* latest_for_task(const std::string& task) const;

 private:
  PeriodicInvoker(Predictor* predictor, int32_t period, ColdStartProfile cold, InvokerMode mode)
      : predictor_(predictor), period_(period), cold_(std::move(cold)), mode_(mode) {}
  // Fills unknown rows of `p`; true if any row was filled.
  bool fill_cold(ExpertPrediction& p, const RoutingHistory& history, const std::string& task);
  // predict() plus cold-start filling; sets *cold when a row came from the profile.
  ExpertPrediction run(const RoutingHistory& history, const std::string& task, bool* cold);

  Predictor* predictor_;
  int32_t period_;
  ColdStartProfile cold_;
  InvokerMode mode_;
  int64_t prompts_ = 0;
  int64_t invocations_ = 0;
  int64_t calls_ = 0;
  int64_t last_invoked_ = -1;  // prompt index of the last run
  ExpertPrediction current_;
  std::map<std::string, ExpertPrediction> per_task_latest_;
};

}  // namespace emoe::predict
