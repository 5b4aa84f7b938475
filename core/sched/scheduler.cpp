#include "core/sched/scheduler.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace emoe::sched {

OutputEstimate::OutputEstimate(double initial, double reset_fraction)
    : initial_(std::max(0.0, initial)),
      remaining_(initial_),
      reset_fraction_(std::clamp(reset_fraction, 0.0, 1.0)) {}

void OutputEstimate::on_token() {
  remaining_ -= 1.0;
  // Still running with nothing left expected: the request is longer than its task's mean, so
  // expect a little more rather than nothing (which would make it look free in Eq. 3).
  if (remaining_ <= 0.0) {
    remaining_ = reset_fraction_ * initial_;
    ++resets_;
  }
}

OutputEstimate SchedulerProfile::start_estimate(TaskType task, int32_t max_new_tokens) const {
  double g = mean_output_tokens[static_cast<size_t>(task_index(task))];
  if (g <= 0.0) g = static_cast<double>(std::max(0, max_new_tokens));
  if (max_new_tokens > 0) g = std::min(g, static_cast<double>(max_new_tokens));
  return OutputEstimate(g, reset_fraction);
}

ExpertLoadEstimator task_switch_load_estimator(std::array<double, kTaskCount> load_ms) {
  return [load_ms](const SchedRequest& c, std::span<const SchedRequest> running) {
    for (const SchedRequest& r : running) {
      if (r.task == c.task) return 0.0;
    }
    return load_ms[static_cast<size_t>(task_index(c.task))];
  };
}

ExpertLoadEstimator working_set_switch_estimator(double ms_per_load, int64_t layers,
                                                 int64_t experts_per_token) {
  std::array<double, kTaskCount> load{};
  load.fill(ms_per_load * static_cast<double>(layers) * static_cast<double>(experts_per_token));
  return task_switch_load_estimator(load);
}

const char* refusal_reason_name(RefusalReason r) {
  switch (r) {
    case RefusalReason::Sequences:
      return "sequences";
    case RefusalReason::Tokens:
      return "tokens";
    case RefusalReason::KvBudget:
      return "kv_budget";
    case RefusalReason::Slo:
      return "slo";
    case RefusalReason::Order:
      return "order";
  }
  return "unknown";
}

const char* scheduler_kind_name(SchedulerKind k) {
  switch (k) {
    case SchedulerKind::Fcfs:
      return "fcfs";
    case SchedulerKind::Sjf:
      return "sjf";
    case SchedulerKind::Emoe:
      return "emoe";
  }
  return "unknown";
}

std::optional<SchedulerKind> parse_scheduler_kind(std::string_view name) {
  std::string s(name);
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (s == "fcfs") return SchedulerKind::Fcfs;
  if (s == "sjf") return SchedulerKind::Sjf;
  if (s == "emoe") return SchedulerKind::Emoe;
  return std::nullopt;
}

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind, SchedulerProfile profile) {
  switch (kind) {
    case SchedulerKind::Fcfs:
      return std::make_unique<FcfsScheduler>(std::move(profile));
    case SchedulerKind::Sjf:
      return std::make_unique<SjfScheduler>(std::move(profile));
    case SchedulerKind::Emoe:
      return std::make_unique<EmoeScheduler>(std::move(profile));
  }
  return nullptr;
}

std::optional<RefusalReason> capacity_refusal(const SchedRequest& r,
                                              std::span<const SchedRequest> running,
                                              const EngineCapacity& cap) {
  if (cap.max_sequences > 0 && static_cast<int64_t>(running.size()) + 1 > cap.max_sequences) {
    return RefusalReason::Sequences;
  }
  int64_t tokens = r.input_tokens;
  int64_t kv = r.input_tokens + r.max_new_tokens;
  for (const SchedRequest& s : running) {
    tokens += s.input_tokens + s.generated;
    kv += s.input_tokens + s.max_new_tokens;
  }
  if (cap.max_tokens > 0 && tokens > cap.max_tokens) return RefusalReason::Tokens;
  if (cap.max_kv_tokens > 0 && kv > cap.max_kv_tokens) return RefusalReason::KvBudget;
  return std::nullopt;
}

int32_t later_finishers(const SchedRequest& i, std::span<const SchedRequest> set) {
  int32_t n = 0;
  for (const SchedRequest& j : set) {
    if (j.estimate.remaining() >= i.estimate.remaining()) ++n;
  }
  return n;
}

double expected_latency_ms(double de_ms, double w_tokens, int32_t n_i, double g_i,
                           double per_token_ms, double r_ms) {
  return de_ms + (w_tokens + static_cast<double>(n_i) * g_i) * per_token_ms + r_ms;
}

namespace {

// Admits in `order` while requests fit; the first that does not blocks everything behind it
// (the baselines keep their order strictly).
Admission admit_in_order(std::vector<const SchedRequest*> order, const SchedulerInput& in) {
  Admission a;
  std::vector<SchedRequest> running(in.running.begin(), in.running.end());
  bool blocked = false;
  for (const SchedRequest* r : order) {
    if (blocked) {
      a.refused.push_back({r->id, RefusalReason::Order, -1});
      continue;
    }
    if (auto why = capacity_refusal(*r, running, in.capacity)) {
      a.refused.push_back({r->id, *why, -1});
      blocked = true;
      continue;
    }
    running.push_back(*r);
    a.admitted.push_back(r->id);
  }
  return a;
}

std::vector<const SchedRequest*> pointers(std::span<const SchedRequest> v) {
  std::vector<const SchedRequest*> p;
  p.reserve(v.size());
  for (const SchedRequest& r : v) p.push_back(&r);
  return p;
}

bool earlier(const SchedRequest* a, const SchedRequest* b) {
  if (a->arrival_ms != b->arrival_ms) return a->arrival_ms < b->arrival_ms;
  return a->id < b->id;
}

}  // namespace

Admission FcfsScheduler::schedule(const SchedulerInput& in) {
  std::vector<const SchedRequest*> order = pointers(in.waiting);
  std::sort(order.begin(), order.end(), earlier);
  return admit_in_order(std::move(order), in);
}

Admission SjfScheduler::schedule(const SchedulerInput& in) {
  std::vector<const SchedRequest*> order = pointers(in.waiting);
  auto length = [this](const SchedRequest* r) {
    return profile_.start_estimate(r->task, r->max_new_tokens).initial();
  };
  std::sort(order.begin(), order.end(), [&](const SchedRequest* a, const SchedRequest* b) {
    const double la = length(a), lb = length(b);
    if (la != lb) return la < lb;
    return earlier(a, b);
  });
  return admit_in_order(std::move(order), in);
}

}  // namespace emoe::sched
