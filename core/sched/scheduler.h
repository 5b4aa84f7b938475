// Request admission (DESIGN.md section 6, docs/SCHEDULING.md): on every arrival and every
// completion the serving loop hands a Scheduler the waiting queue, the running set and the
// engine's capacity; the scheduler says which waiting requests to admit now. Three policies:
// - eMoE (the paper's Algorithm 1 with Eq. 3, corrected as DESIGN.md section 6 says): waiting
//   requests by SLO stringency; admit R when it fits the capacity and no running request that
//   currently meets its SLO would miss it with R admitted;
// - FCFS: arrival order, stopping at the first request that does not fit;
// - SJF: shortest expected output first (ties by arrival), stopping likewise.
// Schedulers are pure functions of their input (no clock, no engine), so they are tested on
// hand-computed cases. Times are milliseconds on the serving loop's clock.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/sched/task_classifier.h"

namespace emoe::sched {

// G_i, the tokens a request is still expected to generate: starts at its task's profiled mean
// output length, counts down by one per generated token, and when it reaches 0 while the
// request still runs it is reset to reset_fraction (5%) of the start value.
class OutputEstimate {
 public:
  static constexpr double kDefaultResetFraction = 0.05;
  OutputEstimate() = default;
  explicit OutputEstimate(double initial, double reset_fraction = kDefaultResetFraction);

  void on_token();
  double initial() const { return initial_; }
  double remaining() const { return remaining_; }
  int32_t resets() const { return resets_; }

 private:
  double initial_ = 0.0;
  double remaining_ = 0.0;
  double reset_fraction_ = kDefaultResetFraction;
  int32_t resets_ = 0;
};

// The scheduler's view of one request (waiting or running).
struct SchedRequest {
  int64_t id = 0;
  TaskType task = TaskType::Conversation;
  double arrival_ms = 0.0;
  double slo_ttft_ms = 0.0;  // 0: none
  double slo_e2e_ms = 0.0;   // 0: none
  int64_t input_tokens = 0;  // W: prompt tokens
  int32_t max_new_tokens = 0;
  // Running requests only (waiting ones: 0, input_tokens, default).
  int64_t generated = 0;          // output tokens so far
  int64_t prefill_remaining = 0;  // prompt tokens not yet through the engine
  OutputEstimate estimate;        // G_i
};

// What the engine can hold. 0 in any field: no limit of that kind.
struct EngineCapacity {
  // T_max: tokens held by admitted requests, each counting its prompt plus the tokens it has
  // generated (its KV-cache context). A waiting request adds its prompt.
  int64_t max_tokens = 0;
  int32_t max_sequences = 0;  // concurrent requests (engine sequences)
  // KV reservation: each admitted request reserves prompt + max_new_tokens cache slots.
  int64_t max_kv_tokens = 0;
};

// dE: the expert-loading time (ms) admitting `candidate` would cause, given the requests that
// are (or are about to be) running. Zero when it changes no resident set.
using ExpertLoadEstimator =
    std::function<double(const SchedRequest& candidate, std::span<const SchedRequest> running)>;

// A simple dE: load_ms[task] when no running request has the candidate's task (its experts
// are then assumed not resident), else 0. Give insensitive tasks 0: they never force a load.
ExpertLoadEstimator task_switch_load_estimator(std::array<double, kTaskCount> load_ms);
// The same for every task, charging a switch the working set of a new task: one load of
// ms_per_load for each expert a token uses in every layer (an upper bound).
ExpertLoadEstimator working_set_switch_estimator(double ms_per_load, int64_t layers,
                                                 int64_t experts_per_token);

// c when nothing was profiled: the virtual clock's default token cost (StepCostModel).
inline constexpr double kDefaultPerTokenMs = 0.1;

// Profiled inputs of the schedulers (measured on the machine; see docs/SCHEDULING.md).
struct SchedulerProfile {
  // W_o per task (by task_index): the mean output length that starts G_i. <= 0: unknown, the
  // request's max_new_tokens is used.
  std::array<double, kTaskCount> mean_output_tokens = {0, 0, 0, 0, 0};
  double per_token_ms = 0.0;  // c: compute time of one token in one forward step
  double reset_fraction = OutputEstimate::kDefaultResetFraction;
  ExpertLoadEstimator expert_load;  // dE; empty: 0
  // eMoE only: a request waiting longer than this is admitted on capacity alone (no SLO
  // protection), so loose-SLO requests cannot starve. 0: off (the paper's behaviour).
  double starvation_ms = 0.0;

  // G_i at admission: the task's mean output length, at most max_new_tokens (a request cannot
  // generate more); max_new_tokens when the mean is unknown.
  OutputEstimate start_estimate(TaskType task, int32_t max_new_tokens) const;
};

struct SchedulerInput {
  double now_ms = 0.0;
  std::span<const SchedRequest> waiting;  // any order; the scheduler sorts
  std::span<const SchedRequest> running;
  EngineCapacity capacity;
};

enum class RefusalReason {
  Sequences,  // max_sequences reached
  Tokens,     // max_tokens (T_max) would be exceeded
  KvBudget,   // max_kv_tokens would be exceeded
  Slo,        // eMoE: a running request that meets its SLO would miss it
  Order,      // FCFS/SJF: behind a request that did not fit
};
const char* refusal_reason_name(RefusalReason r);

struct Refusal {
  int64_t id = 0;
  RefusalReason reason = RefusalReason::Order;
  int64_t victim = -1;  // Slo: the running request that would miss its SLO
};

struct Admission {
  std::vector<int64_t> admitted;  // ids, in admission order
  std::vector<Refusal> refused;   // every waiting request not admitted, in the order considered
};

enum class SchedulerKind { Fcfs, Sjf, Emoe };
const char* scheduler_kind_name(SchedulerKind k);  // "fcfs", "sjf", "emoe"
std::optional<SchedulerKind> parse_scheduler_kind(std::string_view name);

class Scheduler {
 public:
  explicit Scheduler(SchedulerProfile profile) : profile_(std::move(profile)) {}
  virtual ~Scheduler() = default;
  virtual SchedulerKind kind() const = 0;
  virtual Admission schedule(const SchedulerInput& in) = 0;
  const SchedulerProfile& profile() const { return profile_; }

 protected:
  SchedulerProfile profile_;
};

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind, SchedulerProfile profile);

// Why `r` cannot join `running` within `cap` (nullopt: it fits). Shared by every policy.
std::optional<RefusalReason> capacity_refusal(const SchedRequest& r,
                                              std::span<const SchedRequest> running,
                                              const EngineCapacity& cap);

// ---- eMoE's latency model (Eq. 3), exposed for tests and the GUI ----

// n_i: how many requests of `set` will, by their expected remaining output, still be running
// for all of request i's remaining steps: those with G_j >= G_i (i itself included).
int32_t later_finishers(const SchedRequest& i, std::span<const SchedRequest> set);

// Eq. 3: t_i = dE + (W + n_i * G_i) * c + r_i, with r_i = now - arrival (the SLO is measured
// from arrival) and W the prompt tokens still to go through the engine.
double expected_latency_ms(double de_ms, double w_tokens, int32_t n_i, double g_i,
                           double per_token_ms, double r_ms);

class FcfsScheduler : public Scheduler {
 public:
  using Scheduler::Scheduler;
  SchedulerKind kind() const override { return SchedulerKind::Fcfs; }
  Admission schedule(const SchedulerInput& in) override;
};

class SjfScheduler : public Scheduler {
 public:
  using Scheduler::Scheduler;
  SchedulerKind kind() const override { return SchedulerKind::Sjf; }
  Admission schedule(const SchedulerInput& in) override;
};

class EmoeScheduler : public Scheduler {
 public:
  using Scheduler::Scheduler;
  SchedulerKind kind() const override { return SchedulerKind::Emoe; }
  Admission schedule(const SchedulerInput& in) override;
};

}  // namespace emoe::sched
