// eMoE's admission (the paper's Algorithm 1 with Eq. 3, corrected as DESIGN.md section 6 and
// docs/SCHEDULING.md say).
#include <algorithm>
#include <limits>

#include "core/sched/scheduler.h"

namespace emoe::sched {
namespace {

// How soon the request's first token is due: its absolute TTFT deadline; without a TTFT SLO
// its end-to-end deadline; without either, never.
double stringency_deadline(const SchedRequest& r) {
  if (r.slo_ttft_ms > 0) return r.arrival_ms + r.slo_ttft_ms;
  if (r.slo_e2e_ms > 0) return r.arrival_ms + r.slo_e2e_ms;
  return std::numeric_limits<double>::infinity();
}

struct Model {
  double now_ms;
  double c;  // per-token compute time (ms)
};

// The first request of `qs` whose SLO it currently meets (with the round's loads de_ms and the
// prompt tokens still pending) but would miss once `cand` is admitted (adding its load de_r and
// its prompt). -1: none. Both SLOs count: the end-to-end bound through Eq. 3, and, for a
// request without its first token, the TTFT bound through Eq. 3 without the decode term.
int64_t find_victim(const Model& m, std::span<const SchedRequest> qs, const SchedRequest& cand,
                    double de_ms, double de_r) {
  double pending = 0.0;
  for (const SchedRequest& s : qs) pending += static_cast<double>(s.prefill_remaining);
  std::vector<SchedRequest> with(qs.begin(), qs.end());
  with.push_back(cand);
  const double w_after = pending + static_cast<double>(cand.input_tokens);
  for (const SchedRequest& s : qs) {
    const double r_s = m.now_ms - s.arrival_ms;
    const double g = s.estimate.remaining();
    if (s.slo_e2e_ms > 0) {
      const double before =
          expected_latency_ms(de_ms, pending, later_finishers(s, qs), g, m.c, r_s);
      const double after =
          expected_latency_ms(de_ms + de_r, w_after, later_finishers(s, with), g, m.c, r_s);
      if (before <= s.slo_e2e_ms && after > s.slo_e2e_ms) return s.id;
    }
    if (s.slo_ttft_ms > 0 && s.generated == 0) {
      const double before = expected_latency_ms(de_ms, pending, 0, 0.0, m.c, r_s);
      const double after = expected_latency_ms(de_ms + de_r, w_after, 0, 0.0, m.c, r_s);
      if (before <= s.slo_ttft_ms && after > s.slo_ttft_ms) return s.id;
    }
  }
  return -1;
}

}  // namespace

Admission EmoeScheduler::schedule(const SchedulerInput& in) {
  std::vector<const SchedRequest*> order;
  order.reserve(in.waiting.size());
  for (const SchedRequest& r : in.waiting) order.push_back(&r);
  std::sort(order.begin(), order.end(), [](const SchedRequest* a, const SchedRequest* b) {
    const double da = stringency_deadline(*a), db = stringency_deadline(*b);
    if (da != db) return da < db;
    if (a->arrival_ms != b->arrival_ms) return a->arrival_ms < b->arrival_ms;
    return a->id < b->id;
  });

  const Model m{in.now_ms, profile_.per_token_ms};
  Admission a;
  std::vector<SchedRequest> qs(in.running.begin(), in.running.end());
  double de_round = 0.0;  // loads the admissions of this call cause; every running one waits
  for (const SchedRequest* w : order) {
    if (auto why = capacity_refusal(*w, qs, in.capacity)) {
      a.refused.push_back({w->id, *why, -1});
      continue;  // greedy: a smaller request further down may still fit
    }
    SchedRequest r = *w;
    r.generated = 0;
    r.prefill_remaining = r.input_tokens;
    r.estimate = profile_.start_estimate(r.task, r.max_new_tokens);
    const double de_r = profile_.expert_load ? std::max(0.0, profile_.expert_load(r, qs)) : 0.0;
    const bool starving =
        profile_.starvation_ms > 0 && in.now_ms - r.arrival_ms > profile_.starvation_ms;
    if (!starving) {
      const int64_t victim = find_victim(m, qs, r, de_round, de_r);
      if (victim >= 0) {
        a.refused.push_back({r.id, RefusalReason::Slo, victim});
        continue;
      }
    }
    de_round += de_r;
    qs.push_back(r);
    a.admitted.push_back(r.id);
  }
  return a;
}

}  // namespace emoe::sched
